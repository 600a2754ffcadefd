"""The day at "now": what is history, what each technician is doing, and what is left to plan.

Rules (a dispatcher's, in order):

- A completed visit is history and never moves. A visit a technician is driving to or
  working on stays with them; they are free when it ends (its arrival estimated from
  their last report: the departure plus the drive, or a newer position plus the drive).
- Reports win over the plan. Where a technician has not reported, the plan is assumed
  followed: a planned visit whose departure time has passed (and comes after their last
  report) is under way, and one whose end has passed is done. Breaks the plan started
  before now are taken.
- A technician unavailable from a time at or before now drops the visit under way (it
  goes back to be planned) and plans nothing more; their history stays.
- A job the dispatcher holds (``Unassign``) is off the board: unassigned, ``HELD_BY_DISPATCHER``.
- A job whose customer was told an ETA and that the re-plan leaves unassigned is
  ``PROMISE_BROKEN``, with the cause in its detail.
- Everything else — new jobs, planned visits not yet begun, jobs left unassigned before —
  is re-planned from each technician's current place and free time, as a ``Problem``
  whose time 0 is now (the re-plan problem), with what customers were told as
  ``commitments``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from dispatch.domain import (
    Break,
    Commitment,
    DayState,
    Job,
    Location,
    Plan,
    Problem,
    Route,
    ScheduledBreak,
    SolveOptions,
    Technician,
    TimeWindow,
    Unassigned,
    UnassignedReason,
    Visit,
    VisitFact,
    VisitStatus,
    evolve,
    with_routes,
)
from dispatch.matrix import GreatCircleProvider, MatrixProvider
from dispatch.matrix.base import UNREACHABLE
from dispatch.reopt.events import shift_job, shift_technician, shift_window


def _placed(p: Location) -> bool:
    return p.lat is not None and p.lng is not None


class Legs:
    """Travel between two places through the day's provider, each pair asked once."""

    def __init__(
        self,
        provider: MatrixProvider,
        departure: int | None,
        deadline: float | None = None,
        *,
        estimate: MatrixProvider | None = None,
    ) -> None:
        self.provider = provider
        #: The estimate for a leg the provider has no route for (see ``estimated``): the service's
        #: great-circle model (its ``DISPATCH_GC_*`` settings), else the default one.
        self.estimate = estimate or GreatCircleProvider()
        self.departure = departure
        self.deadline = deadline
        self._known: dict[tuple[Location, Location], tuple[int, int]] = {}
        #: Legs the provider found no route for (a GPS fix off the road network, say): these are
        #: great-circle estimates, never the ``UNREACHABLE`` sentinel, and the re-plan says so.
        self.estimated: list[tuple[Location, Location]] = []

    def learn(self, problem: Problem, plan: Plan) -> None:
        """Take the job-to-job legs ``plan`` already drove or planned as known (the same provider
        timed them; a technician's start may have changed since, so first legs are asked again)."""
        jobs = {j.id: j.location for j in problem.jobs}
        for route in plan.routes:
            for before, visit in zip(route.visits, route.visits[1:], strict=False):
                a, b = jobs.get(before.job_id), jobs.get(visit.job_id)
                if a is not None and b is not None:
                    self._known.setdefault((a, b), (visit.travel_duration, visit.travel_distance))

    def prefetch(self, pairs: Iterable[tuple[Location, Location]]) -> None:
        """Ask the provider, in one call, for every leg of ``pairs`` not known yet."""
        wanted = list(dict.fromkeys((a, b) for a, b in pairs if a != b and (a, b) not in self._known))
        if not wanted:
            return
        origins = {a: i for i, a in enumerate(dict.fromkeys(a for a, _ in wanted))}
        destinations = {b: k for k, b in enumerate(dict.fromkeys(b for _, b in wanted))}
        durations, distances = self._ask(list(origins), list(destinations))
        rows = [origins[a] for a, _ in wanted]
        cols = [destinations[b] for _, b in wanted]
        seconds, metres = durations[rows, cols].tolist(), distances[rows, cols].tolist()
        self._known.update(zip(wanted, zip(seconds, metres, strict=True), strict=True))

    def _ask(self, origins: list[Location], destinations: list[Location]) -> tuple[np.ndarray, np.ndarray]:
        durations, distances = self.provider.matrix(
            origins, destinations, departure=self.departure, deadline=self.deadline
        )
        cut = np.argwhere(durations >= UNREACHABLE)
        if len(cut):
            durations, distances = durations.copy(), distances.copy()
            for i, k in cut.tolist():
                a, b = origins[i], destinations[k]
                d, m = self.estimate.matrix([a], [b]) if _placed(a) and _placed(b) else (np.zeros((1, 1)),) * 2
                durations[i, k], distances[i, k] = int(d[0, 0]), int(m[0, 0])
                self.estimated.append((a, b))
        return durations, distances

    def __call__(self, a: Location, b: Location) -> tuple[int, int]:
        """``(seconds, metres)`` from ``a`` to ``b``."""
        if a == b:
            return 0, 0
        key = (a, b)
        if key not in self._known:
            durations, distances = self._ask([a], [b])
            self._known[key] = (int(durations[0, 0]), int(distances[0, 0]))
        return self._known[key]


@dataclass
class TechnicianDay:
    """One technician at "now" (plan seconds of the day)."""

    technician: Technician
    history: list[Visit] = field(default_factory=list)
    current: Visit | None = None
    taken: list[ScheduledBreak] = field(default_factory=list)
    here: Location | None = None  # where they are free (None: not left home)
    free_at: int = 0
    available: bool = True
    route_start: int | None = None  # departure of the day, once under way

    @property
    def fixed(self) -> list[Visit]:
        return [*self.history, *([self.current] if self.current else [])]


@dataclass
class Situation:
    """The day at ``now`` and its re-plan problem (``replan``: time 0 is ``now``)."""

    problem: Problem
    plan: Plan
    now: int
    technicians: list[TechnicianDay]
    facts: dict[str, VisitFact]
    replan: Problem
    #: Previous routes of the re-plan problem: its job indices per its technician index.
    previous: dict[int, list[int]]
    legs: Legs
    #: Jobs the dispatcher holds off the board.
    held: tuple[str, ...] = ()

    # ------------------------------------------------------------------ back to the day

    def assemble(self, part: Plan) -> Plan:
        """The whole day: history and visits under way, then ``part`` (a plan of the re-plan problem)."""
        now = self.now
        planned = {r.technician_id: r for r in part.routes}
        routes = []
        for day in self.technicians:
            tech = day.technician
            later = planned.get(tech.id)
            visits = [*day.fixed, *(_shift_visit(v, now) for v in (later.visits if later else ()))]
            if not visits:
                continue
            breaks = (
                [*day.taken, *(ScheduledBreak(start=b.start + now, end=b.end + now) for b in later.breaks)]
                if later
                else list(day.taken)
            )
            if later is not None:
                end, back, back_m = later.end + now, later.return_travel_duration, later.return_distance
            else:
                # Nothing more for them: they drive home from the last visit once it (and any
                # break taken after it) is over, not from "now", which may be long after.
                last = self.problem.job(visits[-1].job_id).location
                back, back_m = self.legs(last, tech.end_location)
                end = max([visits[-1].end, *(b.end for b in day.taken)]) + back
            if day.route_start is not None:
                start = day.route_start
            elif later is not None:
                start = later.start + now
            else:
                start = visits[0].arrival - visits[0].travel_duration
            routes.append(
                Route(
                    technician_id=tech.id,
                    start=start,
                    end=end,
                    visits=tuple(visits),
                    breaks=tuple(sorted(breaks, key=lambda b: b.start)),
                    return_travel_duration=back,
                    return_distance=back_m,
                    overtime=max(0, end - tech.shift.end),
                )
            )
        blank = Plan(plan_id=self.problem.plan_id, epoch=self.problem.epoch, version=self.plan.version)
        return with_routes(blank, routes, unassigned=self.unassigned(part.unassigned), stats=part.stats)

    def unassigned(self, left: tuple[Unassigned, ...]) -> tuple[Unassigned, ...]:
        """The day's unassigned jobs: ``left`` by the re-plan (a customer who was told an ETA:
        ``PROMISE_BROKEN``, the cause kept in the detail), then the held ones."""
        told = {c.job_id for c in self.replan.commitments}
        out = []
        for u in left:
            if u.job_id in told and u.reason is not UnassignedReason.PROMISE_BROKEN:
                cause = f"{u.reason.value}: {u.detail}" if u.detail else u.reason.value
                u = Unassigned(
                    job_id=u.job_id,
                    reason=UnassignedReason.PROMISE_BROKEN,
                    detail=f"its customer was told an ETA; no feasible plan keeps it ({cause})",
                )
            out.append(u)
        out += [
            Unassigned(
                job_id=job_id,
                reason=UnassignedReason.HELD_BY_DISPATCHER,
                detail="held by the dispatcher: assign it to a technician or release it to the optimizer",
            )
            for job_id in self.held
        ]
        return tuple(out)

    def state_after(self, plan: Plan, previous: DayState, *, promise_slack: int) -> DayState:
        """The day's facts once ``plan`` (from ``assemble``) is the current plan.

        A customer keeps the window they were promised while their visit starts inside
        it; otherwise (and for a first assignment) the promise becomes the new start
        ± ``promise_slack``.
        """
        return dataclasses.replace(
            previous,
            now=self.now,
            facts=tuple(self.facts.values()),
            taken_breaks=tuple((d.technician.id, b) for d in self.technicians for b in d.taken),
            promises=promises(plan, previous.promises, promise_slack),
        )


def promises(plan: Plan, before: tuple[Commitment, ...], slack: int) -> tuple[Commitment, ...]:
    """What each customer with a visit still to come has been told once ``plan`` is sent out:
    the window promised before while the visit still starts inside it, else its start ± ``slack``."""
    promised = {c.job_id: c for c in before}
    out = []
    for route in plan.routes:
        for visit in route.visits:
            if visit.status is VisitStatus.COMPLETED:
                continue
            old = promised.get(visit.job_id)
            window = old.window if old is not None else None
            if window is None or not window.contains(visit.start):
                window = TimeWindow(start=visit.start - slack, end=visit.start + slack)
            out.append(Commitment(job_id=visit.job_id, technician_id=route.technician_id, window=window))
    return tuple(out)


def initial_state(plan: Plan, *, promise_slack: int) -> DayState:
    """The facts of a freshly solved day: nothing happened yet; every assigned visit is promised."""
    return DayState(promises=promises(plan, (), promise_slack))


def _shift_visit(v: Visit, delta: int) -> Visit:
    return evolve(v, arrival=v.arrival + delta, start=v.start + delta, end=v.end + delta)


def service_start(job: Job, arrival: int) -> int:
    """When service of a visit under way starts: the arrival, or the opening of the next window
    (a window already missed does not stop a visit under way)."""
    for w in sorted(job.time_windows, key=lambda w: w.start):
        if arrival <= w.end:
            return max(arrival, w.start)
    return arrival


def situation(
    problem: Problem,
    plan: Plan,
    state: DayState,
    *,
    now: int,
    provider: MatrixProvider,
    options: SolveOptions,
    deadline: float | None = None,
    estimate: MatrixProvider | None = None,
) -> Situation:
    """The day at ``now`` (plan seconds) after its events: history, visits under way, and the
    re-plan problem for the rest. ``estimate`` times a leg ``provider`` has no route for."""
    legs = Legs(
        provider, departure=None, deadline=deadline, estimate=estimate
    )  # the day so far: static times (the rest of the day: traffic when asked, replan.prepare)
    jobs = {j.id: j for j in problem.jobs}
    legs.learn(problem, plan)
    facts = {f.job_id: f for f in state.facts if f.job_id in jobs}
    held = frozenset(state.held)
    positions = {p.technician_id: p for p in state.positions}
    unavailable = dict(state.unavailable)
    routes = {r.technician_id: r for r in plan.routes}
    taken_before: dict[str, list[ScheduledBreak]] = defaultdict(list)
    for tech_id, b in state.taken_breaks:
        taken_before[tech_id].append(b)

    # First who is where (no travel needed), then every leg the day's history asks for in one
    # provider call, then the history itself.
    where: list[tuple[Technician, Route | None, VisitFact | None, bool, list[VisitFact]]] = []
    pairs: list[tuple[Location, Location]] = []
    for tech in problem.technicians:
        route = routes.get(tech.id)
        mine = [f for f in facts.values() if f.technician_id == tech.id]
        reports = [t for f in mine if f.reported for t in (f.departed, f.arrived, f.completed) if t is not None]
        if tech.id in positions:
            reports.append(positions[tech.id].time)
        last_report = max(reports, default=None)
        current = next((f for f in mine if f.completed is None and f.reported), None)
        for f in mine:
            if f.completed is None and not f.reported:
                del facts[f.job_id]  # implied last time: implied afresh below
        if current is None and route is not None:
            current = _infer(route, tech.id, facts, jobs, now, last_report, held)
        gone = tech.id in unavailable and unavailable[tech.id] <= now
        if gone and current is not None:
            del facts[current.job_id]
            current = None
        done = sorted(
            (f for f in facts.values() if f.technician_id == tech.id and f.completed is not None),
            key=lambda f: f.completed,  # type: ignore[arg-type, return-value]
        )
        where.append((tech, route, current, gone, done))
        here = tech.start_location
        for f in [*done, *([current] if current else [])]:
            pairs.append((here, jobs[f.job_id].location))
            here = jobs[f.job_id].location
        pairs.append((here, tech.end_location))  # home, if nothing more is planned
        if current is not None and tech.id in positions:
            pairs.append((positions[tech.id].location, jobs[current.job_id].location))
    legs.prefetch(pairs)

    days: list[TechnicianDay] = []
    for tech, route, current, gone, done in where:
        day = TechnicianDay(technician=tech, available=not gone)
        here, free = tech.start_location, None
        for f in done:
            job = jobs[f.job_id]
            travel, metres = legs(here, job.location)
            end = f.completed
            assert end is not None
            start = end - job.service_duration if f.arrived is None else max(f.arrived, end - job.service_duration)
            arrival = start if f.arrived is None else min(f.arrived, start)
            day.history.append(
                Visit(
                    job_id=job.id,
                    arrival=arrival,
                    start=start,
                    end=end,
                    travel_duration=travel,
                    travel_distance=metres,
                    status=VisitStatus.COMPLETED,
                )
            )
            here, free = job.location, end
        position = positions.get(tech.id)
        if current is not None:
            job = jobs[current.job_id]
            travel, metres = legs(here, job.location)
            if current.arrived is not None:
                arrival = current.arrived
            elif position is not None and current.departed is not None and position.time >= current.departed:
                arrival = position.time + legs(position.location, job.location)[0]
            else:
                arrival = (current.departed if current.departed is not None else now) + travel
            start = service_start(job, arrival)
            day.current = Visit(
                job_id=job.id,
                arrival=arrival,
                start=start,
                end=start + job.service_duration,
                travel_duration=travel,
                travel_distance=metres,
                status=VisitStatus.ON_SITE if current.arrived is not None else VisitStatus.EN_ROUTE,
            )
            here, free = job.location, day.current.end
        elif position is not None and (free is None or position.time >= free):
            here, free = position.location, position.time
        day.taken = list(taken_before[tech.id])
        if route is not None:
            day.taken += [b for b in route.breaks if b.start <= now and b not in day.taken]
        resting = max((b.end for b in day.taken), default=None)
        if free is not None:
            day.here = here
            day.free_at = max(now, free, resting or now)
            first = day.fixed[0] if day.fixed else None
            if route is not None and route.start <= now:
                day.route_start = route.start
            elif first is not None:
                day.route_start = first.arrival - first.travel_duration
        else:
            day.free_at = max(now, tech.shift.start, resting or now)
        days.append(day)

    busy = {v.job_id for d in days for v in d.fixed}
    replan = _replan_problem(problem, state, days, busy | held, now, options)
    q_jobs = replan.job_index
    q_techs = replan.technician_index
    previous: dict[int, list[int]] = {}
    for tech_id, v in q_techs.items():
        route = routes.get(tech_id)
        if route is not None:
            previous[v] = [
                q_jobs[x.job_id] for x in route.visits if x.status is VisitStatus.PLANNED and x.job_id in q_jobs
            ]
    return Situation(
        problem=problem,
        plan=plan,
        now=now,
        technicians=days,
        facts=facts,
        replan=replan,
        previous=previous,
        legs=legs,
        held=tuple(j for j in state.held if j in jobs),
    )


def _infer(
    route: Route,
    tech_id: str,
    facts: dict[str, VisitFact],
    jobs: dict[str, Job],
    now: int,
    last_report: int | None,
    held: frozenset[str] = frozenset(),
) -> VisitFact | None:
    """Follow the plan where the technician has not reported: planned visits that should be done
    by now become history (``facts``); the one that should be under way is returned. A visit
    the dispatcher holds (``held``) is not followed: the technician was told not to go."""
    for visit in route.visits:
        if visit.status is VisitStatus.COMPLETED or visit.job_id not in jobs or visit.job_id in held:
            continue
        fact = facts.get(visit.job_id)
        if fact is not None:
            if fact.technician_id != tech_id or fact.completed is not None:
                continue  # reported elsewhere or done: not this plan's to follow
        depart = visit.arrival - visit.travel_duration
        if depart > now or (last_report is not None and depart < last_report):
            return None
        if visit.end <= now:
            facts[visit.job_id] = VisitFact(
                job_id=visit.job_id,
                technician_id=tech_id,
                departed=depart,
                arrived=visit.arrival,
                completed=visit.end,
                reported=False,
            )
            continue
        fact = VisitFact(
            job_id=visit.job_id,
            technician_id=tech_id,
            departed=depart,
            arrived=visit.arrival if visit.arrival <= now else None,
            reported=False,
        )
        facts[visit.job_id] = fact
        return fact
    return None


def _replan_problem(
    problem: Problem, state: DayState, days: list[TechnicianDay], busy: set[str], now: int, options: SolveOptions
) -> Problem:
    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    jobs = {j.id: j for j in problem.jobs}
    technicians = []
    for day in days:
        tech = day.technician
        for v in day.fixed:
            for part, qty in jobs[v.job_id].required_parts:
                used[tech.id][part] += qty
        if not day.available:
            continue
        start = day.here or tech.start_location
        shift = TimeWindow(
            start=day.free_at if day.here is not None else max(tech.shift.start, day.free_at), end=tech.shift.end
        )
        technicians.append(
            shift_technician(
                dataclasses.replace(
                    tech,
                    start_location=start,
                    shift=shift,
                    breaks=_pending(tech.breaks, day.taken),
                    parts=tuple((p, max(q - used[tech.id][p], 0)) for p, q in tech.parts),
                ),
                -now,
            )
        )
    promised = {c.job_id: c for c in state.promises}
    replan_jobs = [shift_job(j, -now) for j in problem.jobs if j.id not in busy]
    commitments = tuple(
        evolve(c, window=None if c.window is None else shift_window(c.window, -now))
        for j in replan_jobs
        if (c := promised.get(j.id)) is not None
    )
    return dataclasses.replace(
        problem,
        epoch=problem.epoch + now,
        technicians=tuple(technicians),
        jobs=tuple(replan_jobs),
        options=options,
        commitments=commitments,
    )


def _pending(breaks: tuple[Break, ...], taken: list[ScheduledBreak]) -> tuple[Break, ...]:
    """The technician's breaks not yet taken: each taken break uses up the break it fits
    (same length, inside the window), else the first of its length, else the first one."""
    left = list(breaks)
    for b in taken:
        length = b.end - b.start
        match = (
            next(
                (x for x in left if x.duration == length and x.window.start <= b.start and b.end <= x.window.end), None
            )
            or next((x for x in left if x.duration == length), None)
            or (left[0] if left else None)
        )
        if match is not None:
            left.remove(match)
    return tuple(left)
