""" "Who can go": each qualified technician's best way to take one more job into the live day.

For a job (usually a new EMERGENCY) and the stored plan at "now", every technician who holds
its skills and tools gets one option: the plan as it stands now (the quick answer's repair of
the stored plan: ``dispatch.reopt.quick``), with the job pinned to that technician and placed
by the quick answer's own insertion (``dispatch.solver.insertion``: the cheapest place, or the
place of a lower-priority visit, which is then re-inserted elsewhere or left unassigned).
``Reoptimize`` with ``new_job`` + ``assign`` to that technician builds its quick answer the same
way, so an option is what that re-plan then does; its search afterwards may still improve the
other routes. Nothing is stored.

Each option says when the technician arrives and starts, the travel it adds, every other visit
whose start moves by a minute or more against the stored plan (what the dispatcher sees; a visit
the day re-timed anyway, whoever goes, is in every option), the jobs it leaves unassigned, and how
many customers it pushes outside the window they were told. Options are
ranked (``rank``): feasible before not, fewer promises broken, fewer jobs left unassigned, the
earlier start for an EMERGENCY or HIGH job, less added travel, the earlier start.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from dispatch.budget import Budget
from dispatch.domain import (
    Job,
    NewJob,
    Priority,
    Replan,
    Technician,
    Unassigned,
    UnassignedReason,
    VisitStatus,
    may_serve,
)
from dispatch.errors import FieldViolation, ProblemError
from dispatch.reopt.replan import Host, Prepared, day_after, prepare, requested_plan
from dispatch.solver.screen import capacity_exhausted, shift_bounds

#: Options returned when the request does not say.
DEFAULT_OPTIONS = 5
#: At most this many options a request may ask for.
MAX_OPTIONS = 200
#: A visit whose start moves by this much (s) or more is displaced.
MOVED = 60


@dataclass(frozen=True, kw_only=True)
class SuggestRequest:
    """A ``SuggestTechnicians`` request in domain terms (``time``: Unix seconds)."""

    plan_id: str
    time: int
    job: Job
    expected_version: int | None = None
    max_options: int = DEFAULT_OPTIONS


@dataclass(frozen=True)
class Displaced:
    """A visit whose service start moves (plan seconds)."""

    job_id: str
    old_start: int
    new_start: int


@dataclass(frozen=True, kw_only=True)
class TechnicianOption:
    """One technician taking the job (times in plan seconds)."""

    technician_id: str
    feasible: bool
    arrival: int = 0
    start: int = 0
    added_travel: int = 0
    displaced: tuple[Displaced, ...] = ()
    newly_unassigned: tuple[Unassigned, ...] = ()
    promises_broken: int = 0
    note: str = ""


@dataclass(frozen=True)
class Suggestions:
    plan_id: str
    plan_version: int
    epoch: int
    options: tuple[TechnicianOption, ...]
    #: The plan's time zone (IANA name).
    time_zone: str = ""


def one_technician(job: Job) -> list[FieldViolation]:
    """Suggestions are for a job one technician does (a crew's places are chosen together by a re-plan)."""
    if job.technicians_required > 1:
        return [
            FieldViolation(
                "job.technicians_required", "suggestions are for a job of one technician: book a crew with Reoptimize"
            )
        ]
    return []


def suggest(
    host: Host, ask: SuggestRequest, shape: list[FieldViolation] | None = None, *, deadline: float | None = None
) -> Suggestions:
    """The options for ``ask`` against its stored plan (see the module docstring)."""
    began = time.monotonic()
    as_replan = Replan(
        plan_id=ask.plan_id, time=ask.time, events=(NewJob(job=ask.job),), expected_version=ask.expected_version
    )
    record, _ = requested_plan(host, as_replan, shape)  # no request id: never a retry
    problem = record.problem
    bad = list(shape or [])
    if not 0 <= ask.max_options <= MAX_OPTIONS:
        bad.append(FieldViolation("max_options", f"must be between 0 and {MAX_OPTIONS}"))
    bad += one_technician(ask.job)
    try:
        options, day, state = day_after(host, as_replan, record, None)
    except ProblemError as exc:  # bad options or a bad job: said with the rest of the request's faults
        raise ProblemError([*bad, *map(as_job_field, exc.violations)]) from None
    if bad:
        raise ProblemError(bad)
    now = max(ask.time - problem.epoch, record.state.now)
    with host.admission.reserve(host.cost(day)):
        budget = Budget(began, options.time_limit, deadline, host.settings.deadline_margin)
        ready = prepare(host, record, day, state, options, now, budget, [], path=lambda _, field: f"job.{field}")
        found = options_for(ready, ask.job.id)
    count = ask.max_options or DEFAULT_OPTIONS
    return Suggestions(
        plan_id=ask.plan_id,
        plan_version=record.version,
        epoch=problem.epoch,
        options=found[:count],
        time_zone=problem.time_zone,
    )


def as_job_field(v: FieldViolation) -> FieldViolation:
    """A violation of the event the request became, named as the request's ``job`` field."""
    for prefix in ("events[0].new_job", "events.new_job"):
        if v.field == prefix or v.field.startswith(prefix + "."):
            return FieldViolation("job" + v.field[len(prefix) :], v.description)
    return v


@dataclass(frozen=True)
class Baseline:
    """The plan as it stands now, without the job: the quick answer's repair of the stored routes
    with left-over work inserted (``routes``; ``repaired`` before, ``rest`` that work), and each
    route's travel and each visit's start. It does not depend on the job's windows: slots share it."""

    repaired: dict[int, list[int]]
    rest: list[int]
    routes: dict[int, list[int]]
    travel: dict[int, int]
    start: dict[int, int]


def baseline(ready: Prepared, job_id: str) -> Baseline:
    """``ready``'s day as it stands now, ``job_id`` left out (see ``Baseline``)."""
    planner = ready.planner
    j = ready.part.job_index[job_id]
    insertion, timer = planner.insertion, planner.timer
    eligible = insertion.eligible[j]
    insertion.eligible[j] = set()
    try:
        repaired, pool = planner.repaired(ready.here.previous, ready.fixed)
        rest = [k for k in pool if k != j]
        routes = {w: list(r) for w, r in repaired.items()}
        insertion.fill(routes, rest)
    finally:
        insertion.eligible[j] = eligible
    timing = {v: timer.timing(v, r) for v, r in routes.items() if r}
    travel = {v: t.travel for v, t in timing.items() if t is not None}
    start = {
        k: x.start
        for v, t in timing.items()
        for x, k in zip(timer.route(v, routes[v], t).visits, routes[v], strict=True)
    }
    return Baseline(repaired, rest, routes, travel, start)


def options_for(ready: Prepared, job_id: str, base: Baseline | None = None) -> tuple[TechnicianOption, ...]:
    """Each qualified technician's option for ``job_id`` (a job of ``ready``'s day), best first,
    against ``base`` (``baseline``: computed here when not given)."""
    here, part, planner = ready.here, ready.part, ready.planner
    j = part.job_index[job_id]
    job = part.jobs[j]
    insertion, timer, objective = planner.insertion, planner.timer, planner.objective
    # The plan as it stands now. Should the repair have placed left-over work, each option
    # inserts the job with it (most urgent first), as the re-plan's quick answer does.
    base = base or baseline(ready, job_id)
    repaired, rest, routes = base.repaired, base.rest, base.routes
    redo = routes != repaired
    index = part.job_index
    base_travel, base_start = base.travel, base.start
    eligible = set(insertion.eligible[j])
    insertion.eligible[j] = set()
    # What the dispatcher sees now: the stored plan's visits still to come (plan seconds).
    shown = {x.job_id: x.start for r in here.plan.routes for x in r.visits if x.status is VisitStatus.PLANNED}
    promised = objective.window
    now = here.now

    def outside(k: int, start: int) -> bool:
        w = promised.get(k)
        return w is not None and not (w[0] <= start <= w[1])

    out: list[TechnicianOption] = []
    urgent = job.priority >= Priority.HIGH
    qualified = [
        v
        for v, tech in enumerate(part.technicians)
        if job.required_skills <= tech.skills and job.required_tools <= tech.tools
    ]
    for v in qualified:
        tech_id = part.technicians[v].id
        if job.pinned_technician_id and not may_serve(job.pinned_technician_id, tech_id):
            continue
        if v not in eligible:
            out.append(TechnicianOption(technician_id=tech_id, feasible=False, note=_why_not(part.technicians[v], job)))
            continue
        insertion.eligible[j] = {v}
        trial = {w: list(r) for w, r in (repaired if redo else routes).items()}
        insertion.unpin()  # each technician is tried from the same routes: no crew start of the last one held
        insertion.fill(trial, [j, *rest] if redo else [j])
        if j not in trial[v]:
            out.append(
                TechnicianOption(
                    technician_id=tech_id,
                    feasible=False,
                    note="no room: the job fits nowhere in this route, and no lower-priority visit can give it its place",
                )
            )
            continue
        changed = [w for w in trial if trial[w] != routes[w]]
        starts = dict(base_start)
        travel = 0
        broken = 0
        arrival = start = 0
        for w in changed:
            timing = timer.timing(w, trial[w])
            assert timing is not None  # fill keeps every route feasible
            travel += timing.travel - base_travel.get(w, 0)
            for visit, k in zip(timer.route(w, trial[w], timing).visits, trial[w], strict=True):
                starts[k] = visit.start
                if k == j:
                    arrival, start = visit.arrival, visit.start
                elif outside(k, visit.start) and (k not in base_start or not outside(k, base_start[k])):
                    broken += 1
        served = {k for r in trial.values() for k in r}
        moved = [
            Displaced(part.jobs[k].id, shown[part.jobs[k].id], t + now)
            for k, t in starts.items()
            if k in served and k != j and abs(t + now - shown.get(part.jobs[k].id, t + now)) >= MOVED
        ]
        lost = [k for r in routes.values() for k in r if k not in served]
        broken += sum(1 for k in lost if k in promised or k in objective.owner)
        gone = [index[x] for x in shown if x in index and index[x] not in served]
        dropped = tuple(
            u
            for u in here.unassigned(tuple(capacity_exhausted(part.jobs[k]) for k in gone))
            if u.reason is not UnassignedReason.HELD_BY_DISPATCHER  # held before, whoever goes
        )
        out.append(
            TechnicianOption(
                technician_id=tech_id,
                feasible=True,
                arrival=arrival + now,
                start=start + now,
                added_travel=travel,
                displaced=tuple(sorted(moved, key=lambda d: d.new_start)),
                newly_unassigned=dropped,
                promises_broken=broken,
            )
        )
    insertion.eligible[j] = eligible
    insertion.unpin()
    return _noted(rank(out, urgent))


def rank(options: list[TechnicianOption], urgent: bool) -> list[TechnicianOption]:
    """Best first: feasible before not, fewer promises broken, fewer jobs left unassigned, the
    earlier start when ``urgent`` (EMERGENCY, HIGH), less added travel, the earlier start."""
    return sorted(
        options,
        key=lambda o: (
            not o.feasible,
            o.promises_broken,
            len(o.newly_unassigned),
            o.start if urgent else 0,
            o.added_travel,
            o.start,
            o.technician_id,
        ),
    )


def _noted(options: list[TechnicianOption]) -> tuple[TechnicianOption, ...]:
    """Each feasible option with its one line for the dispatcher."""
    feasible = [o for o in options if o.feasible]
    if not feasible:
        return tuple(options)
    earliest = min(o.start for o in feasible)
    cheapest = min(o.added_travel for o in feasible)
    out = []
    for o in options:
        if not o.feasible:
            out.append(o)
            continue
        parts = []
        if o.start == earliest:
            parts.append("earliest")
        if o.added_travel == cheapest:
            parts.append("least added driving")
        parts.append(f"+{_minutes(o.added_travel)} driving")
        if o.displaced:
            later = [d.new_start - d.old_start for d in o.displaced if d.new_start > d.old_start]
            earlier = len(o.displaced) - len(later)
            if later:
                parts.append(f"pushes {len(later)} visit{'s' * (len(later) > 1)} by up to {_minutes(max(later))}")
            if earlier:
                parts.append(f"moves {earlier} visit{'s' * (earlier > 1)} earlier")
        else:
            parts.append("no other visit moves")
        if o.promises_broken:
            parts.append(f"breaks {o.promises_broken} promise{'s' * (o.promises_broken > 1)}")
        if o.newly_unassigned:
            ids = ", ".join(u.job_id[:20] for u in o.newly_unassigned[:3])
            parts.append(f"leaves {len(o.newly_unassigned)} unassigned ({ids})")
        out.append(dataclasses.replace(o, note="; ".join(parts)))
    return tuple(out)


def _minutes(seconds: int) -> str:
    return f"{round(seconds / 60)} min"


def _why_not(tech: Technician, job: Job) -> str:
    """Why ``tech`` (qualified) cannot take ``job`` even with nothing else to do."""
    if shift_bounds(tech) is None:
        return "cannot take it: the shift is over"
    stock = dict(tech.parts)
    short = [part for part, qty in job.required_parts if stock.get(part, 0) < qty]
    if short:
        return f"cannot take it: the van lacks {', '.join(short[:3])}"
    return "cannot take it even alone: its window (or respond_within) is out of reach before the shift ends"
