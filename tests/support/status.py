"""The google.rpc details a refused gRPC call carries in its ``grpc-status-details-bin`` trailer, in
one place, so that every test reads them the same way."""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

M = TypeVar("M", bound=Message)


def details(err: grpc.RpcError, message_type: type[M]) -> M | None:
    """The first detail of ``message_type`` in ``err``'s status, or None (no such detail, no status)."""
    for key, value in err.trailing_metadata():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                out = message_type()
                if detail.Unpack(out):
                    return out
    return None


def field_violations(err: grpc.RpcError) -> dict[str, str]:
    """Each field the ``BadRequest`` detail names, with its description (``"…"`` included: the entry
    saying there were more than the details hold); empty without one."""
    bad = details(err, error_details_pb2.BadRequest)
    return {v.field: v.description for v in bad.field_violations} if bad is not None else {}
