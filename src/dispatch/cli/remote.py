"""Calls to a running server (``--server HOST:PORT``), its errors as exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dispatch.cli.exits import EXIT_FAILURE, EXIT_INVALID, CliError


def call(
    server: str, method: str, request: object, *, timeout: float, each: Callable[[Any], None] | None = None
) -> object:
    """The reply of ``method``; for a streaming method, ``each`` gets every message as it comes."""
    import grpc  # noqa: PLC0415

    from dispatch.server.client import channel as connect  # noqa: PLC0415
    from dispatch.v1 import dispatch_pb2_grpc  # noqa: PLC0415

    with connect(server) as channel:
        stub = dispatch_pb2_grpc.DispatchStub(channel)
        try:
            reply = getattr(stub, method)(request, timeout=timeout)
            if each is None:
                return reply
            for message in reply:
                each(message)
            return None
        except grpc.RpcError as exc:
            raise status_error(exc.code(), exc.details(), exc.trailing_metadata()) from None


def status_error(code: object, details: str, metadata: Iterable[tuple[str, Any]] | None) -> CliError:
    import grpc  # noqa: PLC0415
    from google.rpc import error_details_pb2, status_pb2  # noqa: PLC0415

    lines = [f"{getattr(code, 'name', code)}: {details}"]
    for key, value in metadata or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    lines = ["invalid request:", *(f"  {v.field}: {v.description}" for v in bad.field_violations)]
    invalid = code in (grpc.StatusCode.INVALID_ARGUMENT,)
    return CliError(EXIT_INVALID if invalid else EXIT_FAILURE, lines)
