"""Timing a technician's route in plain Python, for routes built outside OR-Tools.

Every route the search builds (VROOM's, PyVRP's, the re-planner's insertions) is timed
here, and so is the plan it returns. Each service starts as early as its windows allow;
the breaks still to take go where the earliest schedule puts them (before a drive, on site
before a service, or after the return), found exactly by a small dynamic programme, so a
route it rejects has no feasible timing with the breaks taken in their order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dispatch.domain import Problem, Route, ScheduledBreak, Visit, group_of, is_member
from dispatch.matrix import DayMatrix
from dispatch.solver.screen import pending_breaks, service_windows, shift_bounds


@dataclass(frozen=True)
class Timing:
    """When each visit of a route happens (plan seconds), and the breaks in between."""

    depart: int
    arrivals: list[int]
    starts: list[int]
    end: int
    breaks: list[tuple[int, int]]
    travel: int  # seconds of driving, the way back included


class RouteTimer:
    """Times routes of ``problem``'s technicians (indices) through ``jobs`` (indices).

    ``not_before`` (job index -> time) makes a visit wait for that time when a window allows
    it (a re-plan keeps a customer's promised time rather than arriving early): a route is
    timed so where it can be, else as early as possible.
    """

    def __init__(
        self, problem: Problem, matrix: DayMatrix, horizon: int, not_before: dict[int, int] | None = None
    ) -> None:
        self.problem = problem
        self.not_before = not_before or {}
        self.matrix = matrix
        self.windows = [service_windows(job, horizon) for job in problem.jobs]
        self.bounds = [shift_bounds(t) for t in problem.technicians]
        self.breaks = [
            sorted((b.window.start, b.window.end - b.duration, b.duration) for b in pending_breaks(t))
            for t in problem.technicians
        ]
        #: Jobs for several technicians: each member's job (``domain.group_of``), so that no route
        #: holds two members of one (``apart``); empty when the day has none.
        self.crew = {j: group_of(job.id) for j, job in enumerate(problem.jobs) if is_member(job.id)}

    def apart(self, route: Sequence[int]) -> list[int]:
        """``route`` with at most one member of each job for several technicians (the first kept)."""
        if not self.crew:
            return list(route)
        seen: set[str] = set()
        out = []
        for j in route:
            gid = self.crew.get(j)
            if gid is not None:
                if gid in seen:
                    continue
                seen.add(gid)
            out.append(j)
        return out

    def earliest(self, j: int, t: int) -> int | None:
        """The first service start of job ``j`` at or after ``t`` (``None``: every window has passed)."""
        wait = self.not_before.get(j)
        if wait is not None and wait > t:
            start = self._first(j, wait)
            if start is not None:
                return start
        return self._first(j, t)

    def last_start(self, j: int) -> int:
        """The latest service start job ``j``'s windows allow."""
        return self.windows[j][-1][1] if self.windows[j] else -1

    def first_start(self, j: int, t: int) -> int | None:
        """The first service start of job ``j`` at or after ``t``, regardless of ``not_before``."""
        return self._first(j, t)

    def _first(self, j: int, t: int) -> int | None:
        for a, b in self.windows[j]:
            if t <= b:
                return max(t, a)
        return None

    def latest_starts(self, v: int, route: Sequence[int]) -> list[int]:
        """For each visit of ``route``, a time its service cannot start after if technician ``v`` is
        to finish the rest of the route in its windows and be home by the shift end.

        Worked backwards from the shift end over drives, services and windows alone; breaks
        and promised times only make a schedule later, so every feasible timing of the route
        starts each visit at or before this bound (-1: no time works).
        """
        bounds = self.bounds[v]
        out = [-1] * len(route)
        if bounds is None:
            return out
        m, jobs = self.matrix, self.problem.jobs
        t, after = bounds[1], m.end_point(v)
        for k in range(len(route) - 1, -1, -1):
            j = route[k]
            point = m.job_point(j)
            by = t - m.duration(point, after) - jobs[j].service_duration
            t = next((min(b, by) for a, b in reversed(self.windows[j]) if a <= by), -1)
            if t < 0:
                return out
            out[k], after = t, point
        return out

    def timing(self, v: int, route: Sequence[int]) -> Timing | None:
        """Times of technician ``v`` serving ``route`` in order, or ``None`` if no timing keeps every
        window, the shift end, every break still to take and the van's stock; keeping the
        ``not_before`` times where the route allows it."""
        if self.not_before and any(j in self.not_before for j in route):
            patient = self._timing(v, route, self.earliest)
            if patient is not None:
                return patient
        return self._timing(v, route, self._first)

    def earliest_timing(self, v: int, route: Sequence[int]) -> Timing | None:
        """``timing`` with every service as early as its windows allow, ``not_before`` aside."""
        return self._timing(v, route, self._first)

    def _timing(self, v: int, route: Sequence[int], earliest: Callable[[int, int], int | None]) -> Timing | None:
        """``timing`` with ``earliest(j, t)`` as the first service start of job ``j`` at or after ``t``.

        Exact for the breaks, taken in their order: a dynamic programme over (stops served, breaks
        taken) keeps the earliest moment each state can be reached, and arriving earlier never
        hurts (waiting is allowed everywhere). A break goes where the earliest schedule puts it:
        before a drive, on site before the service, or after the return home.
        """
        bounds = self.bounds[v]
        if bounds is None:
            return None if route else Timing(0, [], [], 0, [], 0)
        if self.crew and len(self.apart(route)) < len(route):
            return None  # one technician cannot be two of a job's crew
        lo, hi = bounds
        m, jobs = self.matrix, self.problem.jobs
        tech = self.problem.technicians[v]
        if tech.parts or any(jobs[j].required_parts for j in route):
            stock = dict(tech.parts)
            for j in route:
                for part, qty in jobs[j].required_parts:
                    stock[part] = stock.get(part, 0) - qty
            if any(q < 0 for q in stock.values()):
                return None
        breaks = self.breaks[v]
        nb = len(breaks)
        points = [m.start_point(v), *(m.job_point(j) for j in route)]
        # free[b]: earliest time free at the current stop (after its service) with b breaks taken,
        # and how it was reached; None where unreachable.
        free: list[_Step | None] = [_Step(lo, None, "start", 0)] + [None] * nb
        _rest(free, breaks)
        for k, j in enumerate(route):
            leg = m.duration(points[k], points[k + 1])
            service = jobs[j].service_duration
            here: list[_Step | None] = [
                None if f is None else _Step(f.t + leg, f, "drive", b) for b, f in enumerate(free)
            ]
            _rest(here, breaks)
            free = [None] * (nb + 1)
            for b, arrived in enumerate(here):
                if arrived is None:
                    continue
                start = earliest(j, arrived.t)
                if start is not None:
                    free[b] = _Step(start + service, arrived, "serve", b, start)
            _rest(free, breaks)
            if all(f is None for f in free):
                return None
        home = m.duration(points[-1], m.end_point(v))
        best: tuple[int, _Step, list[tuple[int, int]]] | None = None
        for b, f in enumerate(free):
            if f is None:
                continue
            back = f.t + home
            after, t = [], back
            for opens, last_start, length in breaks[b:]:  # the rest after the return
                began = max(t, opens)
                if began > last_start:
                    break
                after.append((began, began + length))
                t = began + length
            else:
                if back <= hi and (best is None or back < best[0]):
                    best = (back, f, after)
        if best is None:
            return None
        back, last, after = best
        travel = sum(m.duration(a, b) for a, b in itertools.pairwise(points)) + home
        first_leg = m.duration(points[0], points[1]) if route else 0
        return _timing(last, bool(route), after, back, travel, first_leg, lo)

    def fit(self, v: int, route: Sequence[int], allowed: Callable[[int], bool] = lambda j: True) -> list[int]:
        """The visits of ``route`` technician ``v`` can make in order, skipping each that does not fit
        (or is not ``allowed``) after the ones kept."""
        if all(allowed(j) for j in route) and self.timing(v, route) is not None:
            return list(route)
        kept: list[int] = []
        for j in route:
            if allowed(j) and self.timing(v, [*kept, j]) is not None:
                kept.append(j)
        return kept

    def route(self, v: int, route: Sequence[int], timing: Timing | None = None) -> Route:
        """The domain ``Route`` of a feasible ``route`` (``timing`` if already computed)."""
        timing = timing or self.timing(v, route)
        if timing is None:
            raise ValueError(f"route of technician {v} is not feasible")
        m, jobs = self.matrix, self.problem.jobs
        visits = []
        here = m.start_point(v)
        for j, arrival, start in zip(route, timing.arrivals, timing.starts, strict=True):
            point = m.job_point(j)
            visits.append(
                Visit(
                    job_id=jobs[j].id,
                    arrival=arrival,
                    start=start,
                    end=start + jobs[j].service_duration,
                    travel_duration=m.duration(here, point),
                    travel_distance=m.distance(here, point),
                )
            )
            here = point
        end = m.end_point(v)
        return Route(
            technician_id=self.problem.technicians[v].id,
            start=timing.depart,
            end=timing.end,
            visits=tuple(visits),
            breaks=tuple(ScheduledBreak(start=a, end=b) for a, b in timing.breaks),
            return_travel_duration=m.duration(here, end),
            return_distance=m.distance(here, end),
            overtime=max(0, timing.end - self.problem.technicians[v].shift.end),
        )


@dataclass(frozen=True)
class _Step:
    """A state of ``RouteTimer.timing``'s programme: reached at ``t`` from ``came`` by ``how``."""

    t: int
    came: _Step | None
    how: str  # "start", "drive", "serve", "break"
    breaks: int  # breaks taken so far
    start: int = 0  # "serve": the service start; "break": the break start


def _rest(layer: list[_Step | None], breaks: list[tuple[int, int, int]]) -> None:
    """Let ``layer[b + 1]`` be reached by taking break ``b`` from ``layer[b]``, where that is earlier."""
    for b, (opens, last_start, length) in enumerate(breaks):
        s = layer[b]
        if s is None:
            continue
        began = max(s.t, opens)
        if began > last_start:
            continue
        nxt = layer[b + 1]
        if nxt is None or began + length < nxt.t:
            layer[b + 1] = _Step(began + length, s, "break", b + 1, began)


def _timing(
    last: _Step, any_stop: bool, after: list[tuple[int, int]], back: int, travel: int, leg: int, lo: int
) -> Timing:
    """The ``Timing`` the programme's path to ``last`` describes, leaving as late as the first stop allows."""
    path: list[_Step] = []
    s: _Step | None = last
    while s is not None:
        path.append(s)
        s = s.came
    path.reverse()
    starts: list[int] = []
    arrivals: list[int] = []
    taken: list[tuple[int, int]] = []
    for step in path[1:]:
        if step.how == "drive":
            arrivals.append(step.t)
        elif step.how == "serve":
            starts.append(step.start)
        elif step.how == "break":
            taken.append((step.start, step.t))
    depart = lo
    if any_stop and path[1].how == "drive":  # no break before leaving: leave as late as the first stop allows
        first = taken[0][0] if taken and taken[0][0] < starts[0] else starts[0]
        depart = max(lo, first - leg)
        arrivals[0] = depart + leg
    return Timing(depart, arrivals, starts, back, taken + after, travel)
