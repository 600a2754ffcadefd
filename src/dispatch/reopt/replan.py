"""A re-plan: apply the events to the stored plan, answer at once with the quick plan, then
improve on it within the time limit (``reoptimize``, called by the planning service)."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dispatch import metrics
from dispatch.budget import Budget
from dispatch.check import checked
from dispatch.config import Settings
from dispatch.cost import Admission, Cost
from dispatch.domain import (
    Announced,
    Answered,
    Assign,
    ChangeScope,
    DayState,
    LockRoute,
    NewJob,
    Plan,
    Problem,
    ProgressKind,
    Release,
    Replan,
    SolveOptions,
    TechnicianProgress,
    TravelModel,
    Unassign,
    with_warnings,
)
from dispatch.errors import (
    DeadlineError,
    DispatchError,
    FieldViolation,
    OverrideError,
    ProblemError,
    VersionConflictError,
)
from dispatch.eta import EtaEvent, eta_events
from dispatch.matrix import DayMatrix, MatrixProvider, day_matrix
from dispatch.matrix.base import job_point
from dispatch.matrix.cached_provider import CachedProvider
from dispatch.matrix.geocode import place, unplaced_points
from dispatch.reopt.controls import Controls, controls, merged, searchable
from dispatch.reopt.day import Situation, situation
from dispatch.reopt.diff import PlanDiff, diff
from dispatch.reopt.events import apply_events
from dispatch.reopt.quick import QuickPlanner
from dispatch.solver.objective import plan_score
from dispatch.solver.retime import label, retime
from dispatch.solver.runner import Runner, SearchCall
from dispatch.store import PlanStore, StoredPlan, replayed, stored_answer
from dispatch.validate import MAX_WEIGHT

log = logging.getLogger("dispatch")

#: Seconds of a re-plan's time limit kept back after the search to check, store and send the plan
#: (with 0.1 s, 1 in 20 improved plans of a 25 x 250 day reached the client after 2.01 s of 2).
REPLAN_FINISH = 0.15


class Host(Protocol):
    """What a re-plan uses of the planning service."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> PlanStore: ...

    @property
    def runner(self) -> Runner: ...

    @property
    def google(self) -> CachedProvider | None: ...

    @property
    def great_circle(self) -> MatrixProvider: ...

    @property
    def travel_models(self) -> frozenset[TravelModel]: ...

    def get_plan(self, plan_id: str) -> StoredPlan: ...

    @property
    def admission(self) -> Admission: ...

    def provider(self, problem: Problem) -> MatrixProvider: ...

    def cost(self, problem: Problem) -> Cost: ...

    def travel_deadline(self, budget: Budget) -> float: ...

    def store_version(self, record: StoredPlan, *, expected_version: int, events: list[EtaEvent]) -> StoredPlan: ...


@dataclass(frozen=True)
class ReplanResult:
    """A re-plan's answer: the stored plan, what changed since the version the request named,
    and whether more (an improved plan) may follow."""

    plan: Plan
    diff: PlanDiff
    final: bool


def reoptimize(
    host: Host,
    replan: Replan,
    shape: list[FieldViolation] | None = None,
    *,
    deadline: float | None = None,
    on_result: Callable[[ReplanResult], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ReplanResult:
    """Apply ``replan``'s events to its stored plan and re-plan the rest of the day.

    The quick answer (the previous plan repaired, new work inserted) is checked, stored as
    the next version and passed to ``on_result`` at once; the solver then improves on it
    within the time limit, and a better plan is stored as the version after. Position reports
    alone, and the dispatcher's overrides alone, get the quick answer only: no search
    (``_quick_is_final``). An ``assign`` the day cannot honour is refused (``OverrideError``),
    nothing stored. Returns the
    last stored answer. A failed improvement (deadline, crashed worker, busy pool) leaves
    the quick answer standing, with a warning.
    """
    began = time.monotonic()
    record, done = requested_plan(host, replan, shape)
    if done is not None:  # a retry of a re-plan that was stored: its events are not applied again
        return _again(record, done, replan, on_result)
    options, day, state = day_after(host, replan, record, shape)
    asked = replan.time - record.problem.epoch
    now, warnings = asked, []
    if asked < record.state.now:
        now = record.state.now
        warnings.append(
            f"request time is {record.state.now - asked} s before the previous re-plan's; planned from that time"
        )
    try:
        with host.admission.reserve(host.cost(day)):
            return _replan(
                host, replan, record, day, state, options, now, warnings, began, deadline, on_result, cancelled
            )
    except VersionConflictError:
        stored = stored_answer(host.store, replan.plan_id, replan.request_id)
        if stored is None:
            raise
        return _again(*stored, replan, on_result)


#: The fields of a live-day request that name its stored plan: a bad one is refused before the plan is read.
_NAMING = ("plan_id", "expected_version", "request_id")


def requested_plan(
    host: Host, replan: Replan, shape: list[FieldViolation] | None
) -> tuple[StoredPlan, Answered | None]:
    """The stored plan a live-day request (a re-plan, or a suggestion as one) is about, and the
    answer it holds when ``replan`` retries a re-plan already stored. One order of refusals for
    both: ``shape`` (the parse's violations) naming the plan or version wrong (``ProblemError``),
    no such plan, then a version other than the one expected (``VersionConflictError``; not for a
    retry: its own answer moved the plan on)."""
    if shape and any(v.field in _NAMING for v in shape):
        raise ProblemError(shape)
    record = host.get_plan(replan.plan_id)
    done = record.state.answered(replan.request_id) if replan.request_id else None
    if done is None and replan.expected_version is not None and replan.expected_version != record.version:
        raise VersionConflictError(replan.plan_id, replan.expected_version, record.version)
    return record, done


def day_after(
    host: Host, replan: Replan, record: StoredPlan, violations: list[FieldViolation] | None
) -> tuple[SolveOptions, Problem, DayState]:
    """``replan``'s options, and ``record``'s day and its facts after ``replan``'s events at the
    request time: what a re-plan and a suggestion start from. ``ProblemError`` names the bad
    options first, else ``violations`` (found while parsing) with every bad event field."""
    options = replan_options(host.settings, replan, record.problem)
    day, state = apply_events(
        record.problem,
        record.state,
        replan.events,
        now=replan.time - record.problem.epoch,
        limits=host.settings.limits,
        travel_models=host.travel_models,
        violations=violations,
        event_indices=replan.event_indices or None,
    )
    return options, day, state


def timed(part: Problem, matrix: DayMatrix, plan: Plan) -> tuple[Plan, bool]:
    """``plan`` for the rest of the day timed as driven: with traffic, each leg at the traffic of
    its own planned departure (``retime``, as a Solve's plan), labelled with its source and checked.
    Should that re-timing leave a plan the checker refuses (a visit traffic pushed out, whose place a
    lower-priority one holds), the plan stands as the search timed it (each leg at the traffic of
    its expected departure), so a re-plan still answers."""
    if matrix.traffic is not None:
        retimed, exact = retime(part, matrix, plan)
        out, sound = checked(part, exact, label(part, exact, retimed))
        if sound:
            return out, sound
    return checked(part, matrix, label(part, matrix, plan))


def _again(
    record: StoredPlan, done: Answered, replan: Replan, on_result: Callable[[ReplanResult], None] | None
) -> ReplanResult:
    """The answer to a re-plan ``record`` already holds (``done``): that plan again, final, with
    an empty diff (the first answer's is not kept)."""
    again = ReplanResult(
        plan=replayed(record, done, replan.fingerprint),
        diff=PlanDiff(from_version=done.version, to_version=record.version),
        final=True,
    )
    if on_result is not None:
        on_result(again)
    return again


def _replan(
    host: Host,
    replan: Replan,
    record: StoredPlan,
    day: Problem,
    state: DayState,
    options: SolveOptions,
    now: int,
    warnings: list[str],
    began: float,
    deadline: float | None,
    on_result: Callable[[ReplanResult], None] | None,
    cancelled: Callable[[], bool] | None,
) -> ReplanResult:
    """The admitted part of ``reoptimize``: travel, the quick answer, the improvement."""
    base = record.version
    budget = Budget(began, options.time_limit, deadline, host.settings.deadline_margin)
    path = functools.partial(_event_path, replan)
    ready = prepare(host, record, day, state, options, now, budget, warnings, path=path, scope=replan.change_scope)
    here, part, fixed, matrix, planner = ready.here, ready.part, ready.fixed, ready.matrix, ready.planner
    quick, start = planner.plan(here.previous, fixed)
    quick, sound = timed(part, matrix, quick)
    if sound:
        _honour_overrides(replan, day, here.assemble(quick))
    current = None
    announced = state.announced
    reports = tuple(e for e in replan.events if isinstance(e, TechnicianProgress))
    if sound:
        current, announced = _commit(host, replan, here, quick, state, record, base, base, warnings, announced, reports)
        reports = ()  # told with the quick answer
        metrics.REPLAN_DURATION.labels("quick").observe(time.monotonic() - began)
        if on_result is not None and not _quick_is_final(replan):
            on_result(dataclasses.replace(current, final=False))
    if current is not None and _quick_is_final(replan):
        current = dataclasses.replace(current, final=True)
        metrics.REPLAN_DURATION.labels("final").observe(time.monotonic() - began)
        if on_result is not None:
            on_result(current)
        return current
    try:
        return _improve(
            host, replan, here, part, matrix, planner, fixed, quick, start, sound, state, record, current,
            announced, reports, warnings, budget, began, on_result, cancelled,
        )  # fmt: skip
    except Exception as exc:
        if current is None:
            raise
        # The quick answer is stored (and its texts with it): answer it rather than an error
        # that would invite re-sending the events.
        log.exception("re-plan of %s: failed after version %d was stored", replan.plan_id, current.plan.version)
        stood = dataclasses.replace(
            current,
            plan=with_warnings(current.plan, f"improvement failed ({type(exc).__name__}): the quick answer stands"),
            final=True,
        )
        if on_result is not None:
            on_result(stood)
        return stood


@dataclass(frozen=True)
class Prepared:
    """A re-plan ready for its quick answer: the day at "now", the re-plan problem with this
    re-plan's pins and fixed orders, its matrix and the quick planner."""

    here: Situation
    part: Problem
    fixed: Controls
    matrix: DayMatrix
    planner: QuickPlanner


def prepare(
    host: Host,
    record: StoredPlan,
    day: Problem,
    state: DayState,
    options: SolveOptions,
    now: int,
    budget: Budget,
    warnings: list[str],
    *,
    path: Callable[[str, str], str],
    scope: ChangeScope = ChangeScope.REASSIGN,
) -> Prepared:
    """Travel and the day at ``now`` for ``day`` (``record``'s problem after the events, ``state``
    its facts). ``path(job_id, field)`` names the request field of a new job whose address cannot
    be placed (``ProblemError``); ``warnings`` gets what the answer should say."""
    # Bounded like a Solve's, deadline or none: a provider out of quota must not hold a re-plan for minutes.
    travel_by = host.travel_deadline(budget)
    day, unplaced = place(day, host.google, deadline=travel_by)
    known = {j.id for j in record.problem.jobs}
    bad = [
        FieldViolation(path(job.id, "location.address"), unplaced[job_point(day, i)])
        for i, job in enumerate(day.jobs)
        if job_point(day, i) in unplaced and job.id not in known
    ]
    if bad:  # an address an event brings that Google cannot place: the sender can fix it
        raise ProblemError(bad)
    provider = host.provider(day)
    here = situation(
        day,
        record.plan,
        state,
        now=now,
        provider=provider,
        options=options,
        deadline=travel_by,
        estimate=host.great_circle,
    )
    if here.legs.estimated:
        warnings.append(
            f"{len(here.legs.estimated)} leg(s) of the day's history have no road route in {provider.name} "
            "(a position off the road network?): great-circle estimates used"
        )
    part, fixed = controls(here, state, scope)
    matrix = day_matrix(
        part,
        provider,
        traffic=options.traffic,
        deadline=travel_by,
        unplaced=unplaced_points(part),
        bucket=host.settings.cache.traffic_bucket,
    )
    return Prepared(here=here, part=part, fixed=fixed, matrix=matrix, planner=QuickPlanner(part, matrix))


def _improve(
    host: Host,
    replan: Replan,
    here: Situation,
    part: Problem,
    matrix: DayMatrix,
    planner: QuickPlanner,
    fixed: Controls,
    quick: Plan,
    start: dict[int, list[int]],
    sound: bool,
    state: DayState,
    record: StoredPlan,
    current: ReplanResult | None,
    announced: tuple[Announced, ...],
    reports: tuple[TechnicianProgress, ...],
    warnings: list[str],
    budget: Budget,
    began: float,
    on_result: Callable[[ReplanResult], None] | None,
    cancelled: Callable[[], bool] | None,
) -> ReplanResult:
    """Search from the quick answer within what is left of the time limit; store a better plan."""
    base = record.version
    # The time limit covers the whole call: keep back what checking, storing and answering take.
    seconds = budget.seconds_left(keep=min(REPLAN_FINISH, 0.1 * budget.limit))
    better = None
    try:
        if seconds <= 0:
            raise DeadlineError("no time left to improve on the quick answer")
        # Routes the dispatcher fixed stay as the quick answer made them: search the rest, merge it back.
        split = bool(fixed.frozen) and sound
        problem, space, begin = (
            searchable(part, matrix, start, fixed, planner.left_out)
            if split
            else (part, matrix, start if sound else None)
        )
        if not split or (problem.technicians and problem.jobs):
            call = SearchCall(
                problem=problem, matrix=space, time_limit=seconds, budget=budget, start=begin, cancelled=cancelled
            )
            searched = host.runner.solve(call)
            better = merged(quick, searched, part, fixed) if split else searched
    except DispatchError as exc:
        if current is None:
            raise
        log.warning("re-plan of %s: improvement failed (%s); the quick answer stands", replan.plan_id, exc)
        current = dataclasses.replace(current, plan=with_warnings(current.plan, f"improvement not run: {exc}"))
    if better is not None:
        better, ok = timed(part, matrix, better)
        score = functools.partial(plan_score, part, objective=planner.objective)
        if current is None or (ok and score(better) < score(quick) and _keeps_pins(part, quick, better)):
            try:
                current, announced = _commit(
                    host,
                    replan,
                    here,
                    better,
                    state,
                    record,
                    base,
                    current.plan.version if current else base,
                    warnings,
                    announced,
                    reports,
                )
            except VersionConflictError as exc:
                if current is None:
                    raise
                log.info("re-plan of %s: improved plan dropped, the plan moved on (%s)", replan.plan_id, exc)
            except DispatchError as exc:
                if current is None:
                    raise
                # e.g. the store timed out: the improved version may still land (with its texts);
                # the quick one is stored for sure, so it is the answer.
                log.warning(
                    "re-plan of %s: improved plan not stored (%s); the quick answer stands", replan.plan_id, exc
                )
                current = dataclasses.replace(
                    current, plan=with_warnings(current.plan, f"improved plan not confirmed stored: {exc}")
                )
    assert current is not None
    current = dataclasses.replace(current, final=True)
    metrics.REPLAN_DURATION.labels("final").observe(time.monotonic() - began)
    if on_result is not None:
        on_result(current)
    log.info(
        "re-planned %s v%d -> v%d in %.2f s: %d events, %d assigned, %d unassigned",
        replan.plan_id,
        base,
        current.plan.version,
        time.monotonic() - began,
        len(replan.events),
        len(current.plan.assigned_job_ids),
        len(current.plan.unassigned),
    )
    return current


def _keeps_pins(problem: Problem, quick: Plan, better: Plan) -> bool:
    """Whether ``better`` serves every pinned job (a dispatcher's assignment) ``quick`` serves: the
    search does not trade one away for an equal job elsewhere."""
    pinned = {j.id for j in problem.jobs if j.pinned_technician_id}
    served = set(better.assigned_job_ids)
    return all(job_id in served for job_id in pinned.intersection(quick.assigned_job_ids))


def _honour_overrides(replan: Replan, day: Problem, plan: Plan) -> None:
    """Raise ``OverrideError`` naming each ``assign`` of ``replan`` that ``plan`` (the day) cannot
    honour: the job is not on that technician's route, and why."""
    on = {x.job_id: r.technician_id for r in plan.routes for x in r.visits}
    left = {u.job_id: u for u in plan.unassigned}
    pins = {j.id: j.pinned_technician_id for j in day.jobs}
    bad = []
    for event, i in zip(replan.events, replan.event_indices or range(len(replan.events)), strict=False):
        if not isinstance(event, Assign) or pins.get(event.job_id) != event.technician_id:
            continue  # released or re-assigned later in the same request
        if on.get(event.job_id) == event.technician_id:
            continue
        u = left.get(event.job_id)
        elsewhere = on.get(event.job_id)
        if u is not None:
            why = f"{u.reason.value}: {u.detail}"
        elif elsewhere is not None:
            why = f"it is under way with (or done by) technician {elsewhere[:40]!r}"
        else:
            why = "it is not on that technician's route"
        bad.append(
            FieldViolation(
                f"events[{i}].assign",
                f"job {event.job_id[:40]!r} cannot go to technician {event.technician_id[:40]!r}: {why}",
            )
        )
    if bad:
        raise OverrideError(bad)


def _quick_is_final(replan: Replan) -> bool:
    """Whether the quick answer is the re-plan's answer, no search run after it: the re-plan brings
    only position reports (the reporting technician's route is re-timed from there; nothing else
    changed that a search could improve on) or only the dispatcher's own decisions -- overrides,
    and new jobs it assigns in the same request. Those are applied as ``SuggestTechnicians``
    showed them (its options are the quick answer's insertion), and nothing else moves; the next
    event's re-plan searches again."""
    if not replan.events:
        return False
    assigned = {e.job_id for e in replan.events if isinstance(e, Assign)}
    return all(
        (isinstance(e, TechnicianProgress) and e.kind is ProgressKind.POSITION)
        or isinstance(e, Assign | Unassign | Release | LockRoute)
        or (isinstance(e, NewJob) and e.job.id in assigned)
        for e in replan.events
    )


def replan_options(settings: Settings, replan: Replan, problem: Problem) -> SolveOptions:
    limit = settings.reopt_time_limit if replan.time_limit is None else replan.time_limit
    bad = []
    if not 0 < limit <= settings.limits.max_time_limit:
        bad.append(FieldViolation("options.time_limit", f"must be between 0 and {settings.limits.max_time_limit:g} s"))
    penalty = problem.options.reassign_penalty if replan.reassign_penalty is None else replan.reassign_penalty
    weight = problem.options.promise_weight if replan.promise_weight is None else replan.promise_weight
    if not 0 <= penalty <= 7 * 86_400:
        bad.append(FieldViolation("options.reassign_penalty", "must be between 0 and 7 days"))
    if not 0 <= weight <= MAX_WEIGHT:
        bad.append(FieldViolation("options.promise_weight", f"must be between 0 and {MAX_WEIGHT}"))
    urgency = problem.options.emergency_weight if replan.emergency_weight is None else replan.emergency_weight
    if not 0 <= urgency <= MAX_WEIGHT:
        bad.append(FieldViolation("options.emergency_weight", f"must be between 0 and {MAX_WEIGHT}"))
    if abs(replan.time - problem.epoch) > settings.limits.max_future:
        bad.append(FieldViolation("time", "more than 31 days from the plan's start"))
    if bad:
        raise ProblemError(bad)
    return SolveOptions(
        time_limit=limit,
        travel_model=problem.options.travel_model,
        traffic=problem.options.traffic if replan.traffic is None else replan.traffic,
        reassign_penalty=penalty,
        promise_weight=weight,
        emergency_weight=urgency,
        # Fairness and the price of overtime are the plan's: a re-plan keeps them.
        balance=problem.options.balance,
        balance_weight=problem.options.balance_weight,
        travel_cost_per_hour=problem.options.travel_cost_per_hour,
    )


def _commit(
    host: Host,
    replan: Replan,
    here: Situation,
    part: Plan,
    state: DayState,
    record: StoredPlan,
    base: int,
    expected: int,
    warnings: list[str],
    announced: tuple[Announced, ...],
    reports: tuple[TechnicianProgress, ...] = (),
) -> tuple[ReplanResult, tuple[Announced, ...]]:
    """Store the day with ``part`` as its re-planned rest, as the version after ``expected``,
    and publish the ETA events it calls for (against ``announced``, what customers were told)."""
    full = with_warnings(here.assemble(part), *warnings)
    after = here.state_after(full, state, promise_slack=host.settings.promise_slack)
    events, told = eta_events(
        here.problem,
        full,
        now=here.now,
        announced=announced,
        reports=reports,
        threshold=host.settings.eta_threshold,
    )
    after = dataclasses.replace(after, announced=told)
    if replan.request_id:
        after = after.with_answer(Answered(replan.request_id, replan.fingerprint, expected + 1))
    stored = host.store_version(
        StoredPlan(problem=here.problem, plan=full, state=after), expected_version=expected, events=events
    )
    result = ReplanResult(plan=stored.plan, diff=diff(record.plan, stored.plan, record.state.promises), final=False)
    return result, told


def _event_path(replan: Replan, job_id: str, field: str) -> str:
    """The request path of the ``new_job`` event that brought ``job_id``."""
    for event, position in zip(replan.events, replan.event_indices or range(len(replan.events)), strict=False):
        if isinstance(event, NewJob) and event.job.id == job_id:
            return f"events[{position}].new_job.{field}"
    return f"events.new_job.{field}"
