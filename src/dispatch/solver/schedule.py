"""Timing a technician's route in plain Python, for routes built outside OR-Tools.

The warm start repairs PyVRP's routes with it and the re-planner's quick answer inserts
jobs with it. The rule is greedy and always feasible when it answers: each service
starts as early as its windows allow; a break still to take goes into the first wait
(before a drive or on site) long enough to hold it, or, when it cannot wait until after
the next service, right before the drive to it; else after the last stop. A route it rejects may still be feasible with breaks
placed otherwise; OR-Tools, which places breaks exactly, decides those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dispatch.domain import Problem, Route, ScheduledBreak, Visit
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
    it (a re-plan keeps a customer's promised time rather than arriving early).
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
        """Times of technician ``v`` serving ``route`` in order, or ``None`` if a window, the shift
        end, a break or the van's stock cannot be kept."""
        bounds = self.bounds[v]
        if bounds is None:
            return None if route else Timing(0, [], [], 0, [], 0)
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
        b = 0  # next break to take
        taken: list[tuple[int, int]] = []
        t, here, travel = lo, m.start_point(v), 0
        depart = lo
        arrivals: list[int] = []
        starts: list[int] = []
        for k, j in enumerate(route):
            point = m.job_point(j)
            leg = m.duration(here, point)
            service = jobs[j].service_duration
            ready = t  # free to drive on (after any break taken before the drive)
            rested = len(taken)
            while b < len(breaks):
                opens, last_start, length = breaks[b]
                start = self.earliest(j, ready + leg)
                if start is None:
                    return None
                if max(ready, opens) + length + leg <= start and max(ready, opens) <= last_start:
                    began = max(ready, opens)  # fits in the wait before the drive: costs nothing
                    taken.append((began, began + length))
                    ready = began + length
                elif max(ready + leg, opens) + length <= start and max(ready + leg, opens) <= last_start:
                    began = max(ready + leg, opens)  # fits in the wait on site: costs nothing
                    taken.append((began, began + length))
                    b += 1
                    break
                elif start + service > last_start:
                    began = max(ready, opens)  # cannot wait until after this job: take it now
                    if began > last_start:
                        return None
                    taken.append((began, began + length))
                    ready = began + length
                else:
                    break  # after this job, or later
                b += 1
            start = self.earliest(j, ready + leg)
            if start is None:
                return None
            if k == 0:
                if len(taken) == rested:  # leave as late as the first service start allows
                    ready = max(ready, start - leg)
                depart = ready
            arrivals.append(ready + leg)
            starts.append(start)
            travel += leg
            t, here = start + service, point
        for opens, last_start, length in breaks[b:]:
            began = max(t, opens)
            if began > last_start:
                return None
            taken.append((began, began + length))
            t = began + length
        home = m.duration(here, m.end_point(v))
        if t + home > hi:
            return None
        return Timing(depart, arrivals, starts, t + home, taken, travel + home)

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
        )
