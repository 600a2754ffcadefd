"""Shared fixtures: a real gRPC server on loopback with real solver worker processes."""

from __future__ import annotations

import grpc
import pytest

from dispatch.server.app import DispatchServer
from dispatch.service import Settings
from dispatch.v1 import dispatch_pb2_grpc


@pytest.fixture(scope="session")
def server():
    """A dispatch server on a free loopback port with two solver workers."""
    srv = DispatchServer(Settings(workers=2, max_waiting=4), host="127.0.0.1", port=0)
    srv.start()
    yield srv
    srv.stop(grace=1)


@pytest.fixture(scope="session")
def channel(server):
    with grpc.insecure_channel(
        f"127.0.0.1:{server.port}",
        options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)],
    ) as ch:
        yield ch


@pytest.fixture(scope="session")
def stub(channel):
    return dispatch_pb2_grpc.DispatchStub(channel)
