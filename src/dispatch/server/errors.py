"""The one table from dispatch errors to gRPC status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from dispatch.errors import (
    DeadlineError,
    DispatchError,
    NotConfiguredError,
    OverloadedError,
    OverrideError,
    PlanExistsError,
    PlanNotFoundError,
    ProblemError,
    ProviderUnavailableError,
    StoreUnavailableError,
    VersionConflictError,
    WorkerCrashedError,
)
from dispatch.stream import StreamUnavailableError

log = logging.getLogger("dispatch")

#: dispatch error -> (gRPC code, google.rpc code)
STATUS: dict[type[DispatchError], tuple[grpc.StatusCode, int]] = {
    ProblemError: (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT),
    OverloadedError: (grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED),
    DeadlineError: (grpc.StatusCode.DEADLINE_EXCEEDED, code_pb2.DEADLINE_EXCEEDED),
    WorkerCrashedError: (grpc.StatusCode.INTERNAL, code_pb2.INTERNAL),
    NotConfiguredError: (grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
    OverrideError: (grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
    PlanNotFoundError: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
    VersionConflictError: (grpc.StatusCode.ABORTED, code_pb2.ABORTED),
    PlanExistsError: (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
    StoreUnavailableError: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
    ProviderUnavailableError: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
    StreamUnavailableError: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
}

F = TypeVar("F", bound=Callable[..., Any])


#: Bytes of field violations sent back at most: gRPC clients refuse trailers over 16 KiB (the
#: message and the binary details, base64-encoded, both count), and a request with an id of
#: 100,000 characters must still get its INVALID_ARGUMENT, not a RESOURCE_EXHAUSTED.
DETAILS_BUDGET = 6_000
MESSAGE_MAX = 500
TEXT_MAX = 160


def _short(text: str, limit: int = TEXT_MAX) -> str:
    return text if len(text) <= limit else f"{text[: limit - 30]}… ({len(text) - limit + 30} more characters)"


def to_status(exc: DispatchError) -> grpc.Status:
    code = STATUS.get(type(exc), (grpc.StatusCode.INTERNAL, code_pb2.INTERNAL))[1]
    status = status_pb2.Status(code=code, message=_short(str(exc), MESSAGE_MAX))
    if isinstance(exc, ProblemError):
        bad = error_details_pb2.BadRequest()
        for k, v in enumerate(exc.violations):
            violation = bad.field_violations.add(field=_short(v.field), description=_short(v.description))
            if bad.ByteSize() > DETAILS_BUDGET:
                bad.field_violations.remove(violation)
                bad.field_violations.add(field="…", description=f"{len(exc.violations) - k} more violation(s)")
                break
        detail = any_pb2.Any()
        detail.Pack(bad)
        status.details.append(detail)
    if isinstance(exc, VersionConflictError):
        _error_info(
            status,
            "VERSION_CONFLICT",
            plan_id=exc.plan_id,
            expected_version=str(exc.expected),
            current_version=str(exc.current),
        )
    if isinstance(exc, OverrideError):
        failure = error_details_pb2.PreconditionFailure()
        for v in exc.violations[:20]:
            failure.violations.add(type="OVERRIDE", subject=_short(v.field), description=_short(v.description))
        detail = any_pb2.Any()
        detail.Pack(failure)
        status.details.append(detail)
    if isinstance(exc, PlanExistsError):
        _error_info(status, "PLAN_EXISTS", plan_id=exc.plan_id, current_version=str(exc.current))
    return rpc_status.to_status(status)


def _error_info(status: status_pb2.Status, reason: str, **metadata: str) -> None:
    """Add a ``google.rpc.ErrorInfo`` (domain ``dispatch.v1``) to ``status``'s details."""
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="dispatch.v1", metadata=metadata))
    status.details.append(detail)


def grpc_errors(method: F) -> F:
    """Map dispatch errors raised by a servicer method to gRPC statuses (unary and streaming)."""

    def abort(context: grpc.ServicerContext, exc: Exception) -> None:
        if isinstance(exc, DispatchError):
            context.abort_with_status(to_status(exc))
        log.exception("internal error in %s", method.__name__)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log")

    if _is_generator(method):

        @functools.wraps(method)
        def stream(self: object, request: object, context: grpc.ServicerContext) -> Any:
            try:
                yield from method(self, request, context)
            except Exception as exc:  # noqa: BLE001
                abort(context, exc)

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    def unary(self: object, request: object, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:  # noqa: BLE001
            abort(context, exc)

    return unary  # type: ignore[return-value]


def _is_generator(fn: Callable[..., Any]) -> bool:
    import inspect  # noqa: PLC0415

    return inspect.isgeneratorfunction(fn)
