"""The ``dispatch.v1.Dispatch`` servicer: convert, delegate to the ``PlanningService``, convert."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import queue
import re
import threading
import time
from collections.abc import Iterator

import grpc

from dispatch import logs
from dispatch.domain import Replan, person_of
from dispatch.errors import FieldViolation, NotConfiguredError, OverloadedError, ProblemError
from dispatch.notify.replies import ReplyStream
from dispatch.reopt.replan import ReplanResult
from dispatch.server.convert import (
    customer_text_from_proto,
    diff_to_proto,
    duration,
    eta_to_proto,
    health_to_proto,
    plan_from_proto,
    plan_to_proto,
    problem_from_proto,
    replan_from_proto,
    reply_to_proto,
    slot_suggestions_to_proto,
    slots_from_proto,
    suggest_from_proto,
    suggestions_to_proto,
)
from dispatch.server.errors import grpc_errors
from dispatch.service import PlanningService
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc as pb_grpc

#: gRPC reports a call without a deadline as ~9.2e18 s remaining: anything past this is no deadline.
NO_DEADLINE = 10 * 365 * 86_400.0


def _deadline(context: grpc.ServicerContext) -> float | None:
    """When the caller stops listening (``time.monotonic()``), or None when it set no deadline
    (consoles and grpcurl often do not): the call then has its time limit, as any other."""
    remaining = context.time_remaining()
    return None if remaining is None or remaining > NO_DEADLINE else time.monotonic() + remaining


class DispatchServicer(pb_grpc.DispatchServicer):
    def __init__(self, service: PlanningService, *, max_watchers: int = 32, replies: ReplyStream | None = None) -> None:
        self.service = service
        #: Each WatchEtas or WatchCustomerReplies holds an RPC thread while it lasts: the server adds this many threads.
        self.max_watchers = max_watchers
        self._watchers = 0
        self._watch_lock = threading.Lock()
        #: The customers' replies ``WatchCustomerReplies`` follows: the stream the webhook records them
        #: on (``dispatch.bootstrap.reply_stream``); None: not followed here (FAILED_PRECONDITION).
        self.replies = replies

    @contextlib.contextmanager
    def _watching(self) -> Iterator[None]:
        """A watcher's place (``OverloadedError`` when ``max_watchers`` hold one), for as long as it follows."""
        with self._watch_lock:
            if self._watchers >= self.max_watchers:
                raise OverloadedError(f"{self.max_watchers} watchers already: try again later")
            self._watchers += 1
        try:
            yield
        finally:
            with self._watch_lock:
                self._watchers -= 1

    @grpc_errors
    def Solve(self, request: pb.SolveRequest, context: grpc.ServicerContext) -> pb.SolveResponse:  # noqa: N802
        self.service.admit()
        problem, shape = problem_from_proto(request)
        request_id, fingerprint = idempotency(request, shape)
        plan = self.service.solve(
            problem,
            shape,
            deadline=_deadline(context),
            cancelled=lambda: not context.is_active(),
            request_id=request_id,
            fingerprint=fingerprint,
            replace=request.replace,
        )
        return pb.SolveResponse(plan=plan_to_proto(plan))

    @grpc_errors
    def SolveStream(self, request: pb.SolveRequest, context: grpc.ServicerContext):  # noqa: N802, ANN201
        self.service.admit()
        problem, shape = problem_from_proto(request)
        request_id, fingerprint = idempotency(request, shape)
        updates: queue.Queue[object] = queue.Queue()
        done = object()
        result: dict[str, object] = {}

        def progress(p: object) -> None:
            updates.put(
                pb.SolveUpdate(
                    progress=pb.SolveProgress(objective=p.objective, elapsed=duration(p.elapsed))  # type: ignore[attr-defined]
                )
            )

        def run() -> None:
            try:
                result["plan"] = self.service.solve(
                    problem,
                    shape,
                    deadline=_deadline(context),
                    on_progress=progress,
                    cancelled=lambda: not context.is_active(),
                    request_id=request_id,
                    fingerprint=fingerprint,
                    replace=request.replace,
                )
            except Exception as exc:  # noqa: BLE001 (re-raised in the RPC thread)
                result["error"] = exc
            finally:
                updates.put(done)

        threading.Thread(target=logs.in_context(run), name="dispatch-solve-stream", daemon=True).start()
        while (item := updates.get()) is not done:
            yield item
        if "error" in result:
            raise result["error"]  # type: ignore[misc]
        yield pb.SolveUpdate(plan=plan_to_proto(result["plan"]))  # type: ignore[arg-type]

    @grpc_errors
    def Validate(self, request: pb.ValidateRequest, context: grpc.ServicerContext) -> pb.ValidateResponse:  # noqa: N802
        problem, shape = problem_from_proto(request.request)
        plan, plan_shape = plan_from_proto(request.plan, problem.epoch)
        try:
            violations = self.service.check(problem, plan, shape + plan_shape, deadline=_deadline(context))
        except ProblemError as exc:  # name request fields by their path in ValidateRequest
            raise ProblemError(
                [
                    v if v.field.startswith("plan.") else FieldViolation(f"request.{v.field}", v.description)
                    for v in exc.violations
                ]
            ) from None
        return pb.ValidateResponse(
            feasible=not violations,
            violations=[
                pb.Violation(code=v.code, message=v.message, technician_id=person_of(v.technician_id), job_id=v.job_id)
                for v in violations
            ],
        )

    @grpc_errors
    def GetPlan(self, request: pb.GetPlanRequest, context: grpc.ServicerContext) -> pb.GetPlanResponse:  # noqa: N802
        if not request.plan_id:
            raise ProblemError([FieldViolation("plan_id", "required")])
        return pb.GetPlanResponse(plan=plan_to_proto(self.service.get_plan(request.plan_id).plan))

    @grpc_errors
    def WatchEtas(self, request: pb.WatchEtasRequest, context: grpc.ServicerContext):  # noqa: N802, ANN201
        if not request.plan_id and not request.technician_id:
            raise ProblemError([FieldViolation("plan_id", "plan_id or technician_id is required")])
        if request.plan_id:
            self.service.get_plan(request.plan_id)  # NOT_FOUND for a plan never solved here
        with self._watching():
            stream = self.service.etas
            after = stream.last_id()
            while context.is_active():
                for event_id, event in stream.read(after, block=0.5):
                    after = event_id
                    if request.plan_id and event.plan_id != request.plan_id:
                        continue
                    if request.technician_id and person_of(event.technician_id) != request.technician_id:
                        continue
                    yield eta_to_proto(event)

    @grpc_errors
    def WatchCustomerReplies(  # noqa: N802
        self, request: pb.WatchCustomerRepliesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.CustomerReply]:
        """Customers' replies as they come (``after`` ""), every one kept (``after`` "0") or those
        after a reply's id. Counts against the same ``max_watchers`` as ``WatchEtas``: each holds
        an RPC thread until the client cancels or the server stops."""
        stream = self.replies
        if stream is None:
            raise NotConfiguredError("this server does not follow customers' replies")
        after = request.after
        if after and not stream.valid_id(after):
            raise ProblemError(
                [FieldViolation("after", 'a reply id from this stream, "0" (every reply kept) or empty (new ones)')]
            )
        with self._watching():
            after = after or stream.last_id()
            while context.is_active():
                for reply_id, reply in stream.read(after, block=0.5):
                    after = reply_id
                    yield reply_to_proto(reply_id, reply)

    @grpc_errors
    def NotifyCustomer(  # noqa: N802
        self, request: pb.NotifyCustomerRequest, context: grpc.ServicerContext
    ) -> pb.NotifyCustomerResponse:
        shape: list[FieldViolation] = []
        request_id, _ = idempotency(request, shape)
        text = customer_text_from_proto(request, request_id)
        return pb.NotifyCustomerResponse(message_key=self.service.notify_customer(text, shape))

    @grpc_errors
    def GetIntegrationHealth(  # noqa: N802
        self, request: pb.GetIntegrationHealthRequest, context: grpc.ServicerContext
    ) -> pb.GetIntegrationHealthResponse:
        return pb.GetIntegrationHealthResponse(
            integrations=[health_to_proto(h, configured) for h, configured in self.service.health()]
        )

    @grpc_errors
    def Reoptimize(self, request: pb.ReoptimizeRequest, context: grpc.ServicerContext) -> pb.ReoptimizeResponse:  # noqa: N802
        replan, shape = _keyed(request)
        result = self.service.reoptimize(
            replan, shape, deadline=_deadline(context), cancelled=lambda: not context.is_active()
        )
        return _response(result)

    @grpc_errors
    def SuggestTechnicians(  # noqa: N802
        self, request: pb.SuggestTechniciansRequest, context: grpc.ServicerContext
    ) -> pb.SuggestTechniciansResponse:
        ask, shape = suggest_from_proto(request)
        return suggestions_to_proto(self.service.suggest(ask, shape, deadline=_deadline(context)))

    @grpc_errors
    def SuggestSlots(  # noqa: N802
        self, request: pb.SuggestSlotsRequest, context: grpc.ServicerContext
    ) -> pb.SuggestSlotsResponse:
        ask, shape = slots_from_proto(request)
        return slot_suggestions_to_proto(self.service.suggest_slots(ask, shape, deadline=_deadline(context)))

    @grpc_errors
    def ReoptimizeStream(self, request: pb.ReoptimizeRequest, context: grpc.ServicerContext):  # noqa: N802, ANN201
        replan, shape = _keyed(request)
        updates: queue.Queue[object] = queue.Queue()
        done = object()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                self.service.reoptimize(
                    replan,
                    shape,
                    deadline=_deadline(context),
                    on_result=lambda r: updates.put(pb.ReoptimizeUpdate(result=_response(r), final=r.final)),
                    cancelled=lambda: not context.is_active(),
                )
            except Exception as exc:  # noqa: BLE001 (re-raised in the RPC thread)
                failed.append(exc)
            finally:
                updates.put(done)

        threading.Thread(target=logs.in_context(run), name="dispatch-reopt-stream", daemon=True).start()
        while (item := updates.get()) is not done:
            yield item
        if failed:
            raise failed[0]


#: An idempotency key: what ``x-request-id`` allows, longer.
_REQUEST_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def idempotency(
    request: pb.SolveRequest | pb.ReoptimizeRequest | pb.NotifyCustomerRequest, shape: list[FieldViolation]
) -> tuple[str, str]:
    """The request's ``request_id`` (checked; a bad one is added to ``shape``) and a hash of the
    whole request, so the same key with a different request is recognised."""
    key = request.request_id
    if key and not _REQUEST_KEY.fullmatch(key):
        shape.append(FieldViolation("request_id", "at most 128 of A-Z a-z 0-9 . _ : -"))
        return "", ""
    if not key:
        return "", ""
    return key, hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()[:32]


def _keyed(request: pb.ReoptimizeRequest) -> tuple[Replan, list[FieldViolation]]:
    replan, shape = replan_from_proto(request)
    request_id, fingerprint = idempotency(request, shape)
    return dataclasses.replace(replan, request_id=request_id, fingerprint=fingerprint), shape


def _response(result: ReplanResult) -> pb.ReoptimizeResponse:
    return pb.ReoptimizeResponse(plan=plan_to_proto(result.plan), diff=diff_to_proto(result.diff, result.plan.epoch))
