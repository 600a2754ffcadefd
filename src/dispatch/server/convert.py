"""Protobuf <-> domain converters: pure functions, the only code that knows both sides.

Parsing also does the *shape* checks (a required message missing, an enum value
out of range) and returns them as field violations; ``dispatch.validate`` checks
meaning. Timestamps become integer seconds from the plan epoch (``start_time``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable

import numpy as np
from google.protobuf import duration_pb2, timestamp_pb2

from dispatch.domain import (
    Assign,
    Balance,
    Break,
    CancelJob,
    ChangeScope,
    Customer,
    Delay,
    Event,
    ExplicitMatrix,
    Invoice,
    Job,
    Location,
    LockRoute,
    NewJob,
    Overtime,
    Plan,
    PlanStats,
    Priority,
    Problem,
    ProgressKind,
    Release,
    Replan,
    Route,
    ScheduledBreak,
    Shift,
    SolveOptions,
    Technician,
    TechnicianAdded,
    TechnicianProgress,
    TechnicianUnavailable,
    TimeWindow,
    TravelModel,
    Unassign,
    Unassigned,
    UnassignedReason,
    Visit,
    VisitStatus,
    group_of,
    is_member,
    known_zone,
    person_of,
    shift_of,
    vehicle_id,
    workload,
)
from dispatch.errors import FieldViolation
from dispatch.eta import EtaEvent, EtaKind
from dispatch.notify.health import Health
from dispatch.notify.replies import CustomerReply
from dispatch.reopt.diff import PlanDiff
from dispatch.reopt.slots import DEFAULT_SLOT, MAX_SLOTS, SlotsRequest, SlotSuggestions
from dispatch.reopt.suggest import Suggestions, SuggestRequest
from dispatch.service import CustomerText
from dispatch.v1 import dispatch_pb2 as pb

DEFAULT_TIME_LIMIT = 10.0

_PRIORITY = {
    pb.PRIORITY_UNSPECIFIED: Priority.NORMAL,
    pb.LOW: Priority.LOW,
    pb.NORMAL: Priority.NORMAL,
    pb.HIGH: Priority.HIGH,
    pb.EMERGENCY: Priority.EMERGENCY,
}
_TRAVEL = {pb.TravelModel.Value(m.value): m for m in TravelModel}
_STATUS_TO_PB = {st: pb.VisitStatus.Value(f"VISIT_{st.value}") for st in VisitStatus}
_STATUS_FROM_PB = {v: k for k, v in _STATUS_TO_PB.items()}
_PROGRESS = {pb.ProgressKind.Value(k.value): k for k in ProgressKind}
_REASON_TO_PB = {r: pb.UnassignedReason.Value(r.value) for r in UnassignedReason}
_REASON_FROM_PB = {v: k for k, v in _REASON_TO_PB.items()}
_BALANCE = {pb.Balance.Value(b.value): b for b in Balance}
_SCOPE = {pb.CHANGE_SCOPE_UNSPECIFIED: ChangeScope.REASSIGN, **{pb.ChangeScope.Value(c.value): c for c in ChangeScope}}
_EVENT_KINDS = ", ".join(f.name for f in pb.Event.DESCRIPTOR.oneofs_by_name["event"].fields)


class _Parser:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.violations: list[FieldViolation] = []

    def bad(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def moment(self, msg: object, field: str, path: str) -> int:
        if not msg.HasField(field):  # type: ignore[attr-defined]
            self.bad(f"{path}.{field}", "required")
            return 0
        ts = getattr(msg, field)
        return ts.seconds + (1 if ts.nanos >= 500_000_000 else 0) - self.epoch

    def window(self, msg: object, field: str, path: str) -> TimeWindow:
        if not msg.HasField(field):  # type: ignore[attr-defined]
            self.bad(f"{path}.{field}", "required")
            return TimeWindow(start=0, end=0)
        w = getattr(msg, field)
        return TimeWindow(
            start=self.moment(w, "start", f"{path}.{field}"), end=self.moment(w, "end", f"{path}.{field}")
        )

    def location(self, msg: object, field: str, path: str, default: Location | None = None) -> Location:
        if not msg.HasField(field):  # type: ignore[attr-defined]
            if default is not None:
                return default
            self.bad(f"{path}.{field}", "required")
            return Location(lat=0.0, lng=0.0, matrix_index=0)
        loc = getattr(msg, field)
        return Location(
            lat=loc.lat if loc.HasField("lat") else None,
            lng=loc.lng if loc.HasField("lng") else None,
            matrix_index=loc.matrix_index if loc.HasField("matrix_index") else None,
            address=loc.address,
        )

    def breaks(self, breaks: Iterable[pb.Break], path: str) -> tuple[Break, ...]:
        return tuple(
            Break(window=self.window(b, "window", f"{path}[{k}]"), duration=duration_seconds(b.duration))
            for k, b in enumerate(breaks)
        )

    def shift(self, s: pb.Shift, path: str) -> Shift:
        return Shift(
            id=s.id,
            window=self.window(s, "window", path),
            start_location=self.location(s, "start_location", path) if s.HasField("start_location") else None,
            end_location=self.location(s, "end_location", path) if s.HasField("end_location") else None,
            breaks=self.breaks(s.breaks, f"{path}.breaks"),
            parts=tuple(sorted(s.parts.items())) if s.parts else None,
        )

    def technician(self, path: str, t: pb.Technician) -> Technician:
        start = self.location(t, "start_location", path)
        shifts = tuple(self.shift(s, f"{path}.shifts[{k}]") for k, s in enumerate(t.shifts))
        if shifts:
            for name in ("shift", "breaks"):
                if name == "shift" and t.HasField("shift") or name == "breaks" and t.breaks:
                    self.bad(f"{path}.{name}", "give shift and breaks, or shifts (each with its breaks), not both")
        return Technician(
            id=t.id,
            name=t.name,
            phone=t.phone,
            start_location=start,
            end_location=self.location(t, "end_location", path, default=start),
            shift=shifts[0].window if shifts else self.window(t, "shift", path),
            breaks=self.breaks(t.breaks, f"{path}.breaks"),
            shifts=shifts,
            skills=frozenset(t.skills),
            tools=frozenset(t.tools),
            parts=tuple(sorted(t.parts.items())),
            overtime=Overtime(max_extra=duration_seconds(t.overtime.max_extra), cost_per_hour=t.overtime.cost_per_hour)
            if t.HasField("overtime")
            else None,
        )

    def job(self, path: str, j: pb.Job) -> Job:
        if j.priority not in _PRIORITY:
            self.bad(f"{path}.priority", f"unknown value {j.priority}")
        return Job(
            id=j.id,
            location=self.location(j, "location", path),
            service_duration=duration_seconds(j.service_duration),
            time_windows=tuple(
                TimeWindow(
                    start=self.moment(w, "start", f"{path}.time_windows[{k}]"),
                    end=self.moment(w, "end", f"{path}.time_windows[{k}]"),
                )
                for k, w in enumerate(j.time_windows)
            ),
            required_skills=frozenset(j.required_skills),
            required_tools=frozenset(j.required_tools),
            required_parts=tuple(sorted(j.required_parts.items())),
            priority=_PRIORITY.get(j.priority, Priority.NORMAL),
            pinned_technician_id=j.pinned_technician_id,
            customer=Customer(name=j.customer.name, phone=j.customer.phone),
            service_type=j.service_type,
            respond_within=duration_seconds(j.respond_within) if j.HasField("respond_within") else None,
            earliest_day=j.earliest_day,
            latest_day=j.latest_day,
            preferred_technician_ids=frozenset(j.preferred_technician_ids),
            technicians_required=j.technicians_required or 1,
            required_skills_any_member=frozenset(j.required_skills_any_member),
        )


def duration_seconds(d: duration_pb2.Duration) -> int:
    """Whole seconds, rounded to nearest."""
    return int(round(d.seconds + d.nanos / 1e9))


def request_epoch(request: pb.SolveRequest) -> int:
    """The plan's time 0: ``start_time``, else the earliest shift start, else now."""
    if request.HasField("start_time"):
        return request.start_time.seconds
    starts = [t.shift.start.seconds for t in request.technicians if t.HasField("shift") and t.shift.HasField("start")]
    return min(starts) if starts else int(time.time())


#: Longest invoice field (number, total, payment link) a text may carry.
MAX_TEXT_VALUE = 1_024


def problem_from_proto(request: pb.SolveRequest) -> tuple[Problem, list[FieldViolation]]:
    """Parse a request; return the problem and the shape violations found (validate the rest)."""
    epoch = request_epoch(request)
    parser = _Parser(epoch)
    if not -62_135_596_800 <= epoch <= 253_402_300_799:
        parser.bad("start_time", "outside the years 0001-9999")
        parser.epoch = epoch = 0
    options = request.options
    if options.travel_model not in _TRAVEL:
        parser.bad("options.travel_model", f"unknown value {options.travel_model}")
    time_limit = DEFAULT_TIME_LIMIT
    if options.HasField("time_limit"):
        time_limit = options.time_limit.seconds + options.time_limit.nanos / 1e9
        if time_limit == 0:
            time_limit = DEFAULT_TIME_LIMIT
    if options.balance not in _BALANCE:
        parser.bad("options.balance", f"unknown value {options.balance}")
    matrix = None
    if request.HasField("travel_matrix"):
        m = request.travel_matrix
        matrix = ExplicitMatrix(
            size=m.size,
            durations=np.fromiter(m.durations_seconds, dtype=np.int64, count=len(m.durations_seconds)),
            distances=np.fromiter(m.distances_meters, dtype=np.int64, count=len(m.distances_meters)),
        )
    defaults = SolveOptions()
    problem = Problem(
        plan_id=request.plan_id,
        epoch=epoch,
        technicians=tuple(parser.technician(f"technicians[{i}]", t) for i, t in enumerate(request.technicians)),
        jobs=tuple(parser.job(f"jobs[{i}]", j) for i, j in enumerate(request.jobs)),
        options=SolveOptions(
            time_limit=time_limit if math.isfinite(time_limit) else -1.0,
            travel_model=_TRAVEL.get(options.travel_model, TravelModel.GREAT_CIRCLE),
            traffic=options.traffic,
            emergency_weight=options.emergency_weight
            if options.HasField("emergency_weight")
            else defaults.emergency_weight,
            balance=_BALANCE.get(options.balance, Balance.NONE),
            balance_weight=options.balance_weight if options.HasField("balance_weight") else defaults.balance_weight,
            travel_cost_per_hour=options.travel_cost_per_hour
            if options.HasField("travel_cost_per_hour")
            else defaults.travel_cost_per_hour,
        ),
        travel_matrix=matrix,
        time_zone=request.time_zone,
    )
    if options.change_scope not in _SCOPE:
        parser.bad("options.change_scope", f"unknown value {options.change_scope}")
    elif _SCOPE[options.change_scope] is not ChangeScope.REASSIGN:
        parser.bad("options.change_scope", "applies to re-plans (Reoptimize) only: a Solve plans the whole day")
    return problem, parser.violations


def _live_header(request: pb.ReoptimizeRequest | pb.SuggestTechniciansRequest) -> _Parser:
    """The parser of a request about the live day, its epoch the request's ``time`` (unset: now), with
    the header's violations (``plan_id``, ``expected_version``): one reading for re-plans and
    suggestions, which name the same stored plan the same way."""
    parser = _Parser(request.time.seconds if request.HasField("time") else int(time.time()))
    if not request.plan_id:
        parser.bad("plan_id", "required")
    if request.expected_version < 0:
        parser.bad("expected_version", "must not be negative")
    return parser


def replan_from_proto(request: pb.ReoptimizeRequest) -> tuple[Replan, list[FieldViolation]]:
    """Parse a ``ReoptimizeRequest``: every time in seconds from ``time`` (unset: now)."""
    parser = _live_header(request)
    events: list[Event] = []
    event_indices: list[int] = []
    for i, e in enumerate(request.events):
        event = _event(parser, f"events[{i}]", e)
        if event is not None:
            events.append(event)
            event_indices.append(i)
    options = request.options
    time_limit = None
    if options.HasField("time_limit"):
        time_limit = options.time_limit.seconds + options.time_limit.nanos / 1e9
        if not math.isfinite(time_limit) or time_limit <= 0:
            parser.bad("options.time_limit", "must be positive")
    if options.change_scope not in _SCOPE:
        parser.bad("options.change_scope", f"unknown value {options.change_scope}")
    return (
        Replan(
            plan_id=request.plan_id,
            time=parser.epoch,
            events=tuple(events),
            event_indices=tuple(event_indices),
            expected_version=request.expected_version or None,
            time_limit=time_limit,
            reassign_penalty=duration_seconds(options.reassign_penalty)
            if options.HasField("reassign_penalty")
            else None,
            promise_weight=options.promise_weight if options.HasField("promise_weight") else None,
            emergency_weight=options.emergency_weight if options.HasField("emergency_weight") else None,
            change_scope=_SCOPE.get(options.change_scope, ChangeScope.REASSIGN),
            traffic=True if options.traffic else None,  # false is unset in proto3: as the plan was made
        ),
        parser.violations,
    )


def suggest_from_proto(request: pb.SuggestTechniciansRequest) -> tuple[SuggestRequest, list[FieldViolation]]:
    """Parse a ``SuggestTechniciansRequest``: times in seconds from ``time`` (unset: now)."""
    parser = _live_header(request)
    if not request.HasField("job"):
        parser.bad("job", "required: the job to place")
    job = parser.job("job", request.job)
    ask = SuggestRequest(
        plan_id=request.plan_id,
        time=parser.epoch,
        job=job,
        expected_version=request.expected_version or None,
        max_options=request.max_options,
    )
    return ask, parser.violations


def slots_from_proto(request: pb.SuggestSlotsRequest) -> tuple[SlotsRequest, list[FieldViolation]]:
    """Parse a ``SuggestSlotsRequest``: times in seconds from ``time`` (unset: now)."""
    parser = _live_header(request)
    if not request.HasField("job"):
        parser.bad("job", "required: the job to book")
    job = parser.job("job", request.job)
    windows = tuple(
        TimeWindow(start=parser.moment(w, "start", f"slots[{i}]"), end=parser.moment(w, "end", f"slots[{i}]"))
        for i, w in enumerate(request.slots[: MAX_SLOTS + 1])  # one over the limit is enough to refuse
    )
    length = duration_seconds(request.slot_length) if request.HasField("slot_length") else DEFAULT_SLOT
    ask = SlotsRequest(
        plan_id=request.plan_id,
        time=parser.epoch,
        job=job,
        slots=windows,
        slot_length=length,
        days=request.days or 1,
        max_options=request.max_options,
        expected_version=request.expected_version or None,
    )
    return ask, parser.violations


def slot_suggestions_to_proto(found: SlotSuggestions) -> pb.SuggestSlotsResponse:
    epoch = found.epoch
    return pb.SuggestSlotsResponse(
        plan_id=found.plan_id,
        plan_version=found.plan_version,
        time_zone=found.time_zone,
        options=[
            pb.SlotOption(
                window=pb.TimeWindow(start=timestamp(epoch, o.window.start), end=timestamp(epoch, o.window.end)),
                technician_id=person_of(o.technician_id),
                added_travel=duration(o.added_travel),
                displaced=o.displaced,
                score=o.score,
                start=timestamp(epoch, o.start),
            )
            for o in found.options
        ],
    )


def suggestions_to_proto(found: Suggestions) -> pb.SuggestTechniciansResponse:
    epoch = found.epoch
    return pb.SuggestTechniciansResponse(
        plan_id=found.plan_id,
        plan_version=found.plan_version,
        time_zone=found.time_zone,
        options=[
            pb.TechnicianOption(
                technician_id=person_of(o.technician_id),
                feasible=o.feasible,
                arrival=timestamp(epoch, o.arrival) if o.feasible else None,
                start=timestamp(epoch, o.start) if o.feasible else None,
                added_travel=duration(o.added_travel) if o.feasible else None,
                displaced=[
                    pb.DisplacedVisit(
                        job_id=d.job_id,
                        old_start=timestamp(epoch, d.old_start),
                        new_start=timestamp(epoch, d.new_start),
                    )
                    for d in o.displaced
                ],
                newly_unassigned=[
                    pb.Unassigned(job_id=u.job_id, reason=_REASON_TO_PB[u.reason], detail=u.detail)
                    for u in o.newly_unassigned
                ],
                promises_broken=o.promises_broken,
                note=o.note,
            )
            for o in found.options
        ],
    )


def _event(parser: _Parser, path: str, e: pb.Event) -> Event | None:
    kind = e.WhichOneof("event")
    if kind is None:
        parser.bad(path, f"empty event: set one of {_EVENT_KINDS}")
        return None
    path = f"{path}.{kind}"
    if kind == "new_job":
        return NewJob(job=parser.job(path, e.new_job))
    if kind == "cancel_job":
        return CancelJob(job_id=e.cancel_job.job_id)
    if kind == "progress":
        p = e.progress
        if p.kind not in _PROGRESS:
            parser.bad(f"{path}.kind", "required: DEPARTED, ARRIVED, COMPLETED or POSITION")
            return None
        if _PROGRESS[p.kind] is not ProgressKind.POSITION and not p.job_id:
            parser.bad(f"{path}.job_id", f"required for {_PROGRESS[p.kind].value}")
        return TechnicianProgress(
            technician_id=p.technician_id,
            kind=_PROGRESS[p.kind],
            time=parser.moment(p, "time", path) if p.HasField("time") else 0,
            job_id=p.job_id,
            location=parser.location(p, "location", path) if p.HasField("location") else None,
            invoice=_invoice(parser, p, path),
        )
    if kind == "delay":
        return Delay(job_id=e.delay.job_id, extra=duration_seconds(e.delay.extra))
    if kind == "technician_unavailable":
        u = e.technician_unavailable
        return TechnicianUnavailable(
            technician_id=u.technician_id, start=parser.moment(u, "from", path) if u.HasField("from") else 0
        )
    if kind == "assign":
        return Assign(job_id=e.assign.job_id, technician_id=e.assign.technician_id)
    if kind == "unassign":
        return Unassign(job_id=e.unassign.job_id)
    if kind == "release":
        return Release(job_id=e.release.job_id)
    if kind == "lock_route":
        lock = e.lock_route
        until = parser.moment(lock, "until", path) if lock.HasField("until") else None
        return LockRoute(technician_id=lock.technician_id, until=until)
    return TechnicianAdded(technician=parser.technician(path, e.technician_added))


def diff_to_proto(d: PlanDiff, epoch: int) -> pb.PlanDiff:
    return pb.PlanDiff(
        from_version=d.from_version,
        to_version=d.to_version,
        reassigned=[
            pb.Reassignment(
                job_id=group_of(r.job_id),
                from_technician_id=person_of(r.from_technician_id),
                to_technician_id=person_of(r.to_technician_id),
            )
            for r in d.reassigned
        ],
        resequenced=[
            pb.Resequence(
                job_id=group_of(r.job_id),
                technician_id=person_of(r.technician_id),
                old_position=r.old_position,
                new_position=r.new_position,
            )
            for r in d.resequenced
        ],
        newly_unassigned=[
            pb.Unassigned(job_id=u.job_id, reason=_REASON_TO_PB[u.reason], detail=u.detail)
            for u in _one_per_job(d.newly_unassigned)
        ],
        eta_changes=[
            pb.EtaChange(
                job_id=group_of(c.job_id),
                technician_id=person_of(c.technician_id),
                old_start=timestamp(epoch, c.old_start),
                new_start=timestamp(epoch, c.new_start),
                change=duration(c.new_start - c.old_start),
            )
            for c in d.eta_changes
        ],
        newly_assigned=[
            pb.Assignment(
                job_id=group_of(a.job_id), technician_id=person_of(a.technician_id), start=timestamp(epoch, a.start)
            )
            for a in d.newly_assigned
        ],
        broken_promises=list(d.broken_promises),
    )


# ---------------------------------------------------------------------------- plan out


def timestamp(epoch: int, t: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=epoch + t)


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round(seconds * 1e9)))
    return d


def _invoice(parser: _Parser, p: pb.Progress, path: str) -> Invoice | None:
    if not p.HasField("invoice"):
        return None
    if _PROGRESS[p.kind] is not ProgressKind.COMPLETED:
        parser.bad(f"{path}.invoice", "only with COMPLETED")
    for name in ("number", "total", "payment_link"):
        if len(getattr(p.invoice, name)) > MAX_TEXT_VALUE:
            parser.bad(f"{path}.invoice.{name}", f"longer than {MAX_TEXT_VALUE} characters")
    return Invoice(number=p.invoice.number, total=p.invoice.total, payment_link=p.invoice.payment_link)


def _one_per_job(unassigned: Iterable[Unassigned]) -> list[Unassigned]:
    """Unassigned entries by the console's job ids: a job for several technicians once."""
    seen: set[str] = set()
    out = []
    for u in unassigned:
        job_id = group_of(u.job_id)
        if job_id not in seen:
            seen.add(job_id)
            out.append(dataclasses.replace(u, job_id=job_id))
    return out


def plan_to_proto(plan: Plan) -> pb.Plan:
    e = plan.epoch
    load = workload(plan.routes)
    return pb.Plan(
        plan_id=plan.plan_id,
        version=plan.version,
        start_time=timestamp(e, 0),
        time_zone=plan.time_zone,
        routes=[
            pb.Route(
                technician_id=person_of(r.technician_id),
                shift_id=shift_of(r.technician_id),
                start=timestamp(e, r.start),
                end=timestamp(e, r.end),
                travel_duration=duration(r.travel_duration),
                distance_meters=r.distance,
                return_travel_duration=duration(r.return_travel_duration),
                return_distance_meters=r.return_distance,
                return_travel_source=r.return_travel_source,
                visits=[
                    pb.Visit(
                        job_id=group_of(v.job_id),
                        visit_group_id=group_of(v.job_id) if is_member(v.job_id) else "",
                        arrival=timestamp(e, v.arrival),
                        start=timestamp(e, v.start),
                        end=timestamp(e, v.end),
                        travel_duration=duration(v.travel_duration),
                        travel_distance_meters=v.travel_distance,
                        status=_STATUS_TO_PB[v.status],
                        travel_source=v.travel_source,
                    )
                    for v in r.visits
                ],
                breaks=[pb.ScheduledBreak(start=timestamp(e, b.start), end=timestamp(e, b.end)) for b in r.breaks],
            )
            for r in plan.routes
        ],
        unassigned=[
            pb.Unassigned(job_id=u.job_id, reason=_REASON_TO_PB[u.reason], detail=u.detail)
            for u in _one_per_job(plan.unassigned)
        ],
        stats=pb.PlanStats(
            total_travel_duration=duration(plan.stats.total_travel_duration),
            total_distance_meters=plan.stats.total_distance,
            objective=plan.stats.objective,
            solver_status=plan.stats.solver_status,
            solve_time=duration(plan.stats.solve_time),
            jobs_assigned=len({group_of(j) for j in plan.assigned_job_ids}),
            jobs_unassigned=len(_one_per_job(plan.unassigned)),
            warnings=list(plan.stats.warnings),
            travel_source=plan.stats.travel_source,
            travel_requests=plan.stats.travel_requests,
            travel_estimated_pairs=plan.stats.travel_estimated_pairs,
            travel_unreachable_pairs=plan.stats.travel_unreachable_pairs,
            technicians=[
                pb.TechnicianStats(
                    technician_id=person_of(r.technician_id),
                    shift_id=shift_of(r.technician_id),
                    work=duration(r.work),
                    drive=duration(r.travel_duration),
                    overtime=duration(r.overtime),
                    jobs=len(r.visits),
                )
                for r in plan.routes
                if r.visits
            ],
            work_time_spread=duration(load.work_time_spread),
            work_time_stddev=duration(round(load.work_time_stddev)),
            job_count_spread=load.job_count_spread,
            job_count_stddev=load.job_count_stddev,
            total_overtime=duration(load.total_overtime),
        ),
    )


# ---------------------------------------------------------------------------- plan in


def plan_from_proto(msg: pb.Plan, epoch: int) -> tuple[Plan, list[FieldViolation]]:
    """Parse a plan (for ``Validate``) against the request's epoch."""
    parser = _Parser(epoch)
    routes = []
    for i, r in enumerate(msg.routes):
        path = f"plan.routes[{i}]"
        routes.append(
            Route(
                technician_id=vehicle_id(r.technician_id, r.shift_id) if r.shift_id else r.technician_id,
                start=parser.moment(r, "start", path),
                end=parser.moment(r, "end", path),
                visits=tuple(
                    Visit(
                        job_id=v.job_id,
                        arrival=parser.moment(v, "arrival", f"{path}.visits[{k}]"),
                        start=parser.moment(v, "start", f"{path}.visits[{k}]"),
                        end=parser.moment(v, "end", f"{path}.visits[{k}]"),
                        travel_duration=duration_seconds(v.travel_duration),
                        travel_distance=v.travel_distance_meters,
                        status=_STATUS_FROM_PB.get(v.status, VisitStatus.PLANNED),
                    )
                    for k, v in enumerate(r.visits)
                ),
                breaks=tuple(
                    ScheduledBreak(
                        start=parser.moment(b, "start", f"{path}.breaks[{k}]"),
                        end=parser.moment(b, "end", f"{path}.breaks[{k}]"),
                    )
                    for k, b in enumerate(r.breaks)
                ),
                return_travel_duration=duration_seconds(r.return_travel_duration),
                return_distance=r.return_distance_meters,
            )
        )
    unassigned = []
    for i, u in enumerate(msg.unassigned):
        if u.reason not in _REASON_FROM_PB:
            parser.bad(f"plan.unassigned[{i}].reason", f"unknown value {u.reason}")
            continue
        unassigned.append(Unassigned(job_id=u.job_id, reason=_REASON_FROM_PB[u.reason], detail=u.detail))
    if msg.time_zone and not known_zone(msg.time_zone):
        parser.bad("plan.time_zone", f"unknown time zone {msg.time_zone[:64]!r}")
    plan = Plan(
        plan_id=msg.plan_id,
        epoch=epoch,
        version=msg.version,
        time_zone=msg.time_zone if known_zone(msg.time_zone) else "",
        routes=tuple(routes),
        unassigned=tuple(unassigned),
        stats=PlanStats(
            total_travel_duration=duration_seconds(msg.stats.total_travel_duration),
            total_distance=msg.stats.total_distance_meters,
            objective=msg.stats.objective,
            solver_status=msg.stats.solver_status,
        ),
    )
    return plan, parser.violations


def field_violations_to_pairs(violations: Iterable[FieldViolation]) -> list[tuple[str, str]]:
    return [(v.field, v.description) for v in violations]


_ETA_KIND_TO_PB = {k: pb.EtaKind.Value(f"ETA_{k.value}") for k in EtaKind}


def eta_to_proto(e: EtaEvent) -> pb.EtaUpdate:
    def at(unix: int) -> timestamp_pb2.Timestamp:
        return timestamp_pb2.Timestamp(seconds=unix)

    return pb.EtaUpdate(
        plan_id=e.plan_id,
        version=e.version,
        kind=_ETA_KIND_TO_PB[e.kind],
        job_id=group_of(e.job_id),
        technician_id=person_of(e.technician_id),
        eta=at(e.eta),
        window_start=at(e.window_start),
        window_end=at(e.window_end),
        previous_eta=at(e.previous_eta) if e.previous_eta else None,
        at=at(e.at),
        priority=pb.Priority.Value(e.priority.name),
        service_type=e.service_type,
        technician_name=e.technician_name,
        time_zone=e.time_zone,
        variables=e.variables,
    )


def health_to_proto(health: Health, configured: bool) -> pb.IntegrationHealth:
    last = timestamp_pb2.Timestamp()
    last.FromNanoseconds(int(health.last_activity * 1e9))
    latency = duration_pb2.Duration()
    latency.FromNanoseconds(int(health.mean_latency * 1e9))
    return pb.IntegrationHealth(
        integration=health.integration,
        status=health.status,
        configured=configured,
        attempts=health.attempts,
        errors=health.errors,
        success_rate=health.success_rate,
        last_activity=last if health.last_activity else None,
        last_error=health.last_error,
        mean_latency=latency,
        window=duration_pb2.Duration(seconds=health.window),
        notes=list(health.notes),
    )


def reply_to_proto(reply_id: str, reply: CustomerReply) -> pb.CustomerReply:
    """A customer's reply, ``reply_id`` its id on the replies stream."""
    received = timestamp_pb2.Timestamp()
    received.FromNanoseconds(int(reply.received_at * 1e9))
    return pb.CustomerReply(
        id=reply_id,
        phone=reply.phone,
        body=reply.body,
        received_at=received,
        message_sid=reply.message_sid,
        plan_id=reply.plan_id,
        job_id=reply.job_id,
        forwarded=reply.forwarded,
    )


def customer_text_from_proto(request: pb.NotifyCustomerRequest, request_id: str) -> CustomerText:
    """A ``NotifyCustomer`` request (its ``request_id`` checked by the caller)."""
    return CustomerText(
        kind=request.kind,
        plan_id=request.plan_id,
        job_id=request.job_id,
        phone=request.phone,
        variables=dict(request.variables),
        request_id=request_id,
    )
