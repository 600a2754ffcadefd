"""Shared fixtures: a real gRPC server on loopback with real solver worker processes, and a real
redis-server on loopback."""

from __future__ import annotations

import logging
import shutil

import grpc
import pytest
import redis

from dispatch.config import Settings
from dispatch.server.app import DispatchServer
from dispatch.v1 import dispatch_pb2_grpc
from tests.support.redis_server import RedisServer


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """The root logger as it was before each test: a CLI test's ``logs.configure`` binds a handler
    to the stderr pytest captured for that test, which is closed once the test ends; a thread of a
    later test logging through it printed "--- Logging error ---" tracebacks."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def server():
    """A dispatch server on a free loopback port with two solver workers."""
    srv = DispatchServer(Settings(worker_niceness=0, workers=2, max_waiting=4), host="127.0.0.1", port=0)
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


@pytest.fixture(scope="session")
def redis_server():
    """A redis-server on a free loopback port, without persistence, for the whole session.

    Fails (does not skip) when redis-server is not installed: the test command installs it.
    """
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not on PATH: install it (apt-get install -y redis-server; scripts/test does)")
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server):
    """The session redis-server's URL, emptied (FLUSHALL) for this test."""
    redis_server.start()  # in case a test stopped it
    with redis.Redis.from_url(redis_server.url, socket_timeout=2) as client:
        client.flushall()
    return redis_server.url
