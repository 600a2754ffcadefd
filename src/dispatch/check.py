"""The independent checker: does a plan keep every rule of its request?

It recomputes each route's schedule from the request and the day's matrix and
reports every broken rule as a ``PlanViolation``. It shares no code with the
model builder (``dispatch.solver``) on purpose: a bug there must not be able to
hide itself here. ``Validate`` and every test that produces a plan use it.

Rules (``code``: meaning):

- ``UNKNOWN_TECHNICIAN`` / ``DUPLICATE_ROUTE``: a route for a technician not in
  the request, or two routes for one technician.
- ``UNKNOWN_JOB`` / ``DUPLICATE_JOB`` / ``MISSING_JOB``: every job of the request
  appears exactly once, in a route or in ``unassigned``.
- ``SKILLS`` / ``TOOLS`` / ``PINNED``: the technician holds every required skill
  and tool; a pinned job goes to its technician.
- ``PARTS``: a route uses no more of a part than the van carries.
- ``SERVICE``: a visit lasts its service duration.
- ``TIME_WINDOW``: service starts inside one of the job's arrival windows.
- ``RESPOND_WITHIN``: service starts no later than ``respond_within``.
- ``SHIFT``: leave no earlier than the shift start (nor before now), be back at
  the end location no later than the shift end.
- ``TRAVEL``: reported travel figures are the matrix's.
- ``SCHEDULE``: between two stops there is time to drive and to take every
  break scheduled in between; arrivals are possible and not after service start.
- ``BREAK``: each break that can still be taken is scheduled once, inside its
  window, for its duration, not during a service or another break.
- ``REASON``: an unassigned reason that the request contradicts.
- ``EMERGENCY_DROPPED``: an emergency left unassigned although it fits into a
  route (or an idle technician's day) without moving anything else.
- ``PRIORITY_INVERSION``: a job left unassigned that could take the place of a
  lower-priority visit in the same route (same position, every other visit kept in order,
  some timing of the route keeping every rule): never a LOW job served while a NORMAL one
  that could take its place is dropped, and so on up. A job the search says it had no time
  to try (``TIME_LIMIT_REACHED``) is not held to it.
- ``TOTALS``: the plan's totals are the sums of its routes.
- ``CREW``: a job for several technicians is served by all of them (different technicians) or by
  none, and their services start together (within ``CREW_SLACK`` seconds) unless one has begun.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from dataclasses import dataclass

from dispatch.domain import (
    Break,
    Job,
    Plan,
    Priority,
    Problem,
    Route,
    ScheduledBreak,
    Technician,
    TimeWindow,
    UnassignedReason,
    VisitStatus,
    group_of,
    is_member,
    may_serve,
    person_of,
    with_warnings,
)
from dispatch.matrix import DayMatrix

#: How far apart (s) the technicians of one job may start it.
CREW_SLACK = 60


@dataclass(frozen=True, kw_only=True)
class PlanViolation:
    """One broken rule: a ``code`` from the module docstring and a readable message."""

    code: str
    message: str
    technician_id: str = ""
    job_id: str = ""


log = logging.getLogger("dispatch")


def checked(problem: Problem, matrix: DayMatrix, plan: Plan) -> tuple[Plan, bool]:
    """Run the checker on a plan just made; anything it finds is a solver bug, logged as an error
    and reported in the plan's warnings rather than hidden. Returns the plan and whether it passed."""
    violations = check_plan(problem, matrix, plan)
    if not violations:
        return plan, True
    for v in violations:
        log.error(
            "checker: plan %s: %s %s (technician %r, job %r)",
            plan.plan_id,
            v.code,
            v.message,
            v.technician_id,
            v.job_id,
        )
    return with_warnings(plan, *(f"checker {v.code}: {v.message}" for v in violations)), False


def check_plan(problem: Problem, matrix: DayMatrix, plan: Plan) -> list[PlanViolation]:
    """Return every rule ``plan`` breaks for ``problem`` (an empty list: the plan is feasible).

    ``matrix`` is the day's matrix in the canonical point order of ``dispatch.matrix``.
    """
    return _Checker(problem, matrix, plan).run()


def _fmt(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    s = abs(seconds)
    return f"{sign}{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _Checker:
    def __init__(self, problem: Problem, matrix: DayMatrix, plan: Plan) -> None:
        self.problem = problem
        self.matrix = matrix
        self.plan = plan
        self.tech_index = problem.technician_index
        self.job_index = problem.job_index
        self.found: list[PlanViolation] = []
        self.orders: list[tuple[int, list[int], int]] = []

    def add(self, code: str, message: str, *, technician_id: str = "", job_id: str = "") -> None:
        self.found.append(PlanViolation(code=code, message=message, technician_id=technician_id, job_id=job_id))

    def run(self) -> list[PlanViolation]:
        self.check_coverage()
        seen: set[str] = set()
        for route in self.plan.routes:
            if route.technician_id not in self.tech_index:
                self.add(
                    "UNKNOWN_TECHNICIAN", "route for a technician not in the request", technician_id=route.technician_id
                )
                continue
            if route.technician_id in seen:
                self.add("DUPLICATE_ROUTE", "technician has more than one route", technician_id=route.technician_id)
                continue
            seen.add(route.technician_id)
            self.check_route(route)
        self.check_unassigned()
        self.check_totals()
        self.check_crews()
        return self.found

    def check_crews(self) -> None:
        crews: dict[str, list[str]] = {}
        for job in self.problem.jobs:
            if is_member(job.id):
                crews.setdefault(group_of(job.id), []).append(job.id)
        served = {v.job_id: (r.technician_id, v) for r in self.plan.routes for v in r.visits}
        for gid, ids in crews.items():
            visits = [served[j] for j in ids if j in served]
            if not visits:
                continue
            if len(visits) < len(ids):
                self.add("CREW", f"needs {len(ids)} technicians, {len(visits)} assigned", job_id=gid)
                continue
            if len({person_of(t) for t, _ in visits}) < len(visits):
                self.add("CREW", "one technician holds two of its places", job_id=gid)
            starts = [v.start for _, v in visits]
            planned = all(v.status is VisitStatus.PLANNED for _, v in visits)
            if planned and max(starts) - min(starts) > CREW_SLACK:
                self.add("CREW", f"its technicians start {(max(starts) - min(starts)) // 60} min apart", job_id=gid)

    # ------------------------------------------------------------------ coverage

    def check_coverage(self) -> None:
        listed = [v.job_id for r in self.plan.routes for v in r.visits] + [u.job_id for u in self.plan.unassigned]
        for job_id, count in Counter(listed).items():
            if job_id not in self.job_index:
                self.add("UNKNOWN_JOB", "job is not in the request", job_id=job_id)
            elif count > 1:
                self.add("DUPLICATE_JOB", f"job appears {count} times in the plan", job_id=job_id)
        present = set(listed)
        for job in self.problem.jobs:
            if job.id not in present:
                self.add("MISSING_JOB", "job is neither in a route nor unassigned", job_id=job.id)

    # ------------------------------------------------------------------ routes

    def check_route(self, route: Route) -> None:
        v = self.tech_index[route.technician_id]
        tech = self.problem.technicians[v]
        tid = tech.id
        m = self.matrix
        if route.start < max(0, tech.shift.start):
            self.add("SHIFT", f"leaves at {_fmt(route.start)}, before the shift start or now", technician_id=tid)
        if route.end > tech.latest_return:
            extra = " and the overtime allowed" if tech.overtime is not None else ""
            self.add(
                "SHIFT",
                f"back at {_fmt(route.end)}, after the shift end {_fmt(tech.shift.end)}{extra}",
                technician_id=tid,
            )
        breaks = sorted(route.breaks, key=lambda b: b.start)
        self.check_breaks(tech, route, breaks)

        used: Counter[str] = Counter()
        prev_point, prev_end = m.start_point(v), route.start
        for visit in route.visits:
            k = self.job_index.get(visit.job_id)
            if k is None:
                continue  # reported by check_coverage
            job = self.problem.jobs[k]
            point = m.job_point(k)
            self.check_qualified(tech, job)
            used.update(dict(job.required_parts))
            leg, dist = m.duration(prev_point, point), m.distance(prev_point, point)
            if visit.travel_duration != leg or visit.travel_distance != dist:
                self.add(
                    "TRAVEL",
                    f"reports {visit.travel_duration} s / {visit.travel_distance} m from the previous "
                    f"stop, the matrix says {leg} s / {dist} m",
                    technician_id=tid,
                    job_id=job.id,
                )
            self.check_gap(tid, job.id, prev_end, leg, visit.start, breaks)
            if not prev_end + leg <= visit.arrival <= visit.start:
                self.add(
                    "SCHEDULE",
                    f"arrival {_fmt(visit.arrival)} is not between the earliest possible arrival "
                    f"{_fmt(prev_end + leg)} and the service start {_fmt(visit.start)}",
                    technician_id=tid,
                    job_id=job.id,
                )
            if visit.end - visit.start != job.service_duration:
                self.add(
                    "SERVICE",
                    f"lasts {visit.end - visit.start} s, the job needs {job.service_duration} s",
                    technician_id=tid,
                    job_id=job.id,
                )
            if job.time_windows and not any(w.start <= visit.start <= w.end for w in job.time_windows):
                self.add(
                    "TIME_WINDOW",
                    f"service starts at {_fmt(visit.start)}, outside every arrival window",
                    technician_id=tid,
                    job_id=job.id,
                )
            if job.respond_within is not None and visit.start > job.respond_within:
                self.add(
                    "RESPOND_WITHIN",
                    f"service starts at {_fmt(visit.start)}, later than the required "
                    f"response by {_fmt(job.respond_within)}",
                    technician_id=tid,
                    job_id=job.id,
                )
            prev_point, prev_end = point, visit.start + job.service_duration
        end_point = m.end_point(v)
        leg, dist = m.duration(prev_point, end_point), m.distance(prev_point, end_point)
        if route.return_travel_duration != leg or route.return_distance != dist:
            self.add(
                "TRAVEL",
                f"reports {route.return_travel_duration} s / {route.return_distance} m for the way "
                f"back, the matrix says {leg} s / {dist} m",
                technician_id=tid,
            )
        self.check_gap(tid, "", prev_end, leg, route.end, breaks)
        stock = dict(tech.parts)
        for part, qty in sorted(used.items()):
            if qty > stock.get(part, 0):
                self.add("PARTS", f"route uses {qty} x {part}, the van carries {stock.get(part, 0)}", technician_id=tid)

    def check_qualified(self, tech: Technician, job: Job) -> None:
        if missing := job.required_skills - tech.skills:
            self.add("SKILLS", f"technician lacks {', '.join(sorted(missing))}", technician_id=tech.id, job_id=job.id)
        if missing := job.required_tools - tech.tools:
            self.add("TOOLS", f"technician lacks {', '.join(sorted(missing))}", technician_id=tech.id, job_id=job.id)
        if job.pinned_technician_id and not may_serve(job.pinned_technician_id, tech.id):
            self.add("PINNED", f"job is pinned to {job.pinned_technician_id!r}", technician_id=tech.id, job_id=job.id)

    def check_gap(self, tid: str, job_id: str, leave: int, leg: int, due: int, breaks: list[ScheduledBreak]) -> None:
        """From ``leave`` to ``due`` there must be time for ``leg`` of driving and every break in between."""
        resting = sum(b.end - b.start for b in breaks if leave <= b.start and b.end <= due)
        if leave + leg + resting > due:
            where = f"job {job_id!r}" if job_id else "the end location"
            self.add(
                "SCHEDULE",
                f"leaves at {_fmt(leave)}, drives {leg} s and rests {resting} s, "
                f"so cannot reach {where} by {_fmt(due)}",
                technician_id=tid,
                job_id=job_id,
            )

    def check_breaks(self, tech: Technician, route: Route, breaks: list[ScheduledBreak]) -> None:
        tid = tech.id
        busy = [(v.start, v.end, v.job_id) for v in route.visits]
        for k, b in enumerate(breaks):
            if b.end < b.start:
                self.add("BREAK", f"break ends before it starts ({_fmt(b.start)})", technician_id=tid)
            for start, end, job_id in busy:
                if b.start < end and start < b.end:
                    self.add(
                        "BREAK",
                        f"break {_fmt(b.start)}–{_fmt(b.end)} overlaps the service",
                        technician_id=tid,
                        job_id=job_id,
                    )
            if k and b.start < breaks[k - 1].end:
                self.add(
                    "BREAK", f"breaks at {_fmt(breaks[k - 1].start)} and {_fmt(b.start)} overlap", technician_id=tid
                )
        due = [brk for brk in tech.breaks if brk.window.end - brk.duration >= 0]
        match = _match_breaks(due, breaks)
        for i, brk in enumerate(due):
            if i not in match.values():
                self.add(
                    "BREAK",
                    f"no {brk.duration} s break inside {_fmt(brk.window.start)}–{_fmt(brk.window.end)}",
                    technician_id=tid,
                )
        for k, b in enumerate(breaks):
            if k not in match:
                self.add(
                    "BREAK",
                    f"break {_fmt(b.start)}–{_fmt(b.end)} matches none of the technician's breaks",
                    technician_id=tid,
                )

    # ------------------------------------------------------------------ unassigned

    def check_unassigned(self) -> None:
        self.orders = self._orders()
        for u in self.plan.unassigned:
            k = self.job_index.get(u.job_id)
            if k is None:
                continue
            job = self.problem.jobs[k]
            candidates = [
                t
                for t in self.problem.technicians
                if not job.pinned_technician_id or may_serve(job.pinned_technician_id, t.id)
            ]
            qualified = [t for t in candidates if job.required_skills <= t.skills and job.required_tools <= t.tools]
            stocked = [t for t in qualified if all(t.stock(p) >= q for p, q in job.required_parts)]
            if u.reason is UnassignedReason.NO_QUALIFIED_TECHNICIAN and qualified:
                self.add("REASON", f"reason is {u.reason.value} but {qualified[0].id!r} is qualified", job_id=job.id)
            if u.reason is UnassignedReason.PARTS_UNAVAILABLE and stocked:
                self.add("REASON", f"reason is {u.reason.value} but {stocked[0].id!r} carries the parts", job_id=job.id)
            if is_member(job.id):
                continue  # a job for several technicians goes in whole or not at all: the rules below are a visit's
            if u.reason is not UnassignedReason.TIME_LIMIT_REACHED:
                self.check_inversion(job, k)
            if job.priority is Priority.EMERGENCY:
                for tech in stocked:
                    if slot := self.free_slot(tech, job, k):
                        self.add(
                            "EMERGENCY_DROPPED",
                            f"emergency left unassigned but fits {slot}",
                            technician_id=tech.id,
                            job_id=job.id,
                        )
                        break

    def free_slot(self, tech: Technician, job: Job, k: int) -> str:
        """Describe a place where ``job`` fits into ``tech``'s day without moving anything ('' if none found).

        A sufficient test only: gaps that hold a break, and idle technicians who have breaks
        to take, are not tried.
        """
        m, v = self.matrix, self.tech_index[tech.id]
        route = next((r for r in self.plan.routes if r.technician_id == tech.id), None)
        # legs (from point, leave at, after job, to point, due by) where the job could go
        legs: list[tuple[int, int, str, int, int]] = []
        if route is None:
            if any(b.window.end - b.duration >= 0 for b in tech.breaks):
                return ""
            legs.append((m.start_point(v), max(0, tech.shift.start), "", m.end_point(v), tech.latest_return))
        else:
            used: Counter[str] = Counter()
            for visit in route.visits:
                used.update(dict(self._parts_of(visit.job_id)))
            if any(tech.stock(p) - used[p] < q for p, q in job.required_parts):
                return ""
            point, leave, after = m.start_point(v), route.start, ""
            for visit in route.visits:
                nxt = m.job_point(self.job_index[visit.job_id])
                legs.append((point, leave, after, nxt, visit.start))
                point, leave, after = nxt, visit.end, visit.job_id
            legs.append((point, leave, after, m.end_point(v), tech.latest_return))
        here = m.job_point(k)
        breaks = route.breaks if route else ()
        for a, leave, after, b, by in legs:
            if any(leave < brk.end and brk.start < by for brk in breaks):
                continue
            earliest = leave + m.duration(a, here)
            for lo, hi in [(w.start, w.end) for w in job.time_windows] or [(earliest, earliest)]:
                s = max(earliest, lo)
                if s > hi or (job.respond_within is not None and s > job.respond_within):
                    continue
                if s + job.service_duration + m.duration(here, b) <= by:
                    return f"after {after!r}" if after else "as the first stop"
        return ""

    def check_inversion(self, job: Job, k: int) -> None:
        """Flag the first route where unassigned ``job`` could replace a lower-priority visit in place."""
        for v, order, lowest in self.orders:
            if lowest >= job.priority:
                continue
            tech = self.problem.technicians[v]
            if not (job.required_skills <= tech.skills and job.required_tools <= tech.tools):
                continue
            if job.pinned_technician_id and not may_serve(job.pinned_technician_id, tech.id):
                continue
            for pos, other in enumerate(order):
                if self.problem.jobs[other].priority >= job.priority or is_member(self.problem.jobs[other].id):
                    continue  # (a crew's visit goes with its crew: its place is not one visit's)
                swapped = [*order[:pos], k, *order[pos + 1 :]]
                if route_fits(self.problem, self.matrix, v, swapped):
                    self.add(
                        "PRIORITY_INVERSION",
                        f"left unassigned, but could take the place of {self.problem.jobs[other].priority.name} "
                        f"visit {self.problem.jobs[other].id!r}",
                        technician_id=tech.id,
                        job_id=job.id,
                    )
                    return

    def _orders(self) -> list[tuple[int, list[int], int]]:
        """Each route of a known technician whose jobs are all known: the technician's index, the
        job indices in order, and the lowest priority among them (the routes ``check_inversion`` reads)."""
        out: list[tuple[int, list[int], int]] = []
        for route in self.plan.routes:
            v = self.tech_index.get(route.technician_id)
            order = [self.job_index.get(visit.job_id) for visit in route.visits]
            if v is None or not order or None in order:
                continue
            known = [k for k in order if k is not None]
            out.append((v, known, min(self.problem.jobs[k].priority for k in known)))
        return out

    def _parts_of(self, job_id: str) -> tuple[tuple[str, int], ...]:
        k = self.job_index.get(job_id)
        return () if k is None else self.problem.jobs[k].required_parts

    # ------------------------------------------------------------------ totals

    def check_totals(self) -> None:
        stats = self.plan.stats
        travel = sum(r.travel_duration for r in self.plan.routes)
        distance = sum(r.distance for r in self.plan.routes)
        if stats.total_travel_duration != travel:
            self.add("TOTALS", f"total travel {stats.total_travel_duration} s, the routes sum to {travel} s")
        if stats.total_distance != distance:
            self.add("TOTALS", f"total distance {stats.total_distance} m, the routes sum to {distance} m")


def route_fits(problem: Problem, matrix: DayMatrix, v: int, order: list[int]) -> bool:
    """Whether technician ``v`` can serve jobs ``order`` (indices) in that order keeping every rule
    (stock, windows, ``respond_within``, shift, breaks): each way of putting the breaks still to
    take, in order, into the gaps between stops (or after the return) is tried, with each
    service as early as it can be and a break as early as its window and the drive allow."""
    tech = problem.technicians[v]
    jobs = [problem.jobs[k] for k in order]
    stock = dict(tech.parts)
    for job in jobs:
        for part, qty in job.required_parts:
            stock[part] = stock.get(part, 0) - qty
    if any(q < 0 for q in stock.values()):
        return False
    breaks = sorted(
        (b for b in tech.breaks if b.window.end - b.duration >= 0), key=lambda b: (b.window.start, b.window.end)
    )
    points = [matrix.start_point(v), *(matrix.job_point(k) for k in order), matrix.end_point(v)]
    gaps = len(points)  # before each drive (the last one: home), and after the return
    for placement in itertools.combinations_with_replacement(range(gaps), len(breaks)):
        if _timed(tech, jobs, breaks, placement, points, matrix):
            return True
    return False


def _timed(
    tech: Technician,
    jobs: list[Job],
    breaks: list[Break],
    placement: tuple[int, ...],
    points: list[int],
    matrix: DayMatrix,
) -> bool:
    """One placement of the breaks (gap index per break) gives a timing that keeps every rule."""
    t = max(0, tech.shift.start)
    b = 0
    for g in range(len(points) - 1):
        drive = matrix.duration(points[g], points[g + 1])
        while b < len(breaks) and placement[b] == g:  # breaks in this gap, the drive split around them
            start = max(t, breaks[b].window.start)
            if start + breaks[b].duration > breaks[b].window.end:
                return False
            drive -= min(drive, start - t)
            t = start + breaks[b].duration
            b += 1
        t += drive
        if g < len(jobs):
            job = jobs[g]
            latest = job.respond_within
            starts = [
                max(t, w.start)
                for w in (job.time_windows or [TimeWindow(start=t, end=t)])
                if max(t, w.start) <= w.end and (latest is None or max(t, w.start) <= latest)
            ]
            if not starts:
                return False
            t = min(starts) + job.service_duration
    if t > tech.latest_return:
        return False
    for brk in breaks[b:]:  # after the return
        start = max(t, brk.window.start)
        if start + brk.duration > brk.window.end:
            return False
        t = start + brk.duration
    return True


def _match_breaks(due: list[Break], scheduled: list[ScheduledBreak]) -> dict[int, int]:
    """Pair scheduled breaks with the technician's breaks (bipartite matching); ``{scheduled: due}``."""
    fits = [
        [
            i
            for i, brk in enumerate(due)
            if b.end - b.start == brk.duration and brk.window.start <= b.start and b.end <= brk.window.end
        ]
        for b in scheduled
    ]
    owner: dict[int, int] = {}  # due index -> scheduled index

    def augment(k: int, tried: set[int]) -> bool:
        for i in fits[k]:
            if i in tried:
                continue
            tried.add(i)
            if i not in owner or augment(owner[i], tried):
                owner[i] = k
                return True
        return False

    for k in range(len(scheduled)):
        augment(k, set())
    return {k: i for i, k in owner.items()}
