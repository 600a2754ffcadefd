"""Cheapest insertion, and a lower-priority visit's place for a job that fits nowhere.

``Insertion.fill`` places jobs into routes, most urgent first (priority, then the earliest
deadline): each where it costs least (``dispatch.solver.objective``); a job that fits
nowhere takes the place of one visit of lower priority (the lowest first, then the
cheapest), which goes back to the jobs to place. Passes repeat until one changes nothing,
so every job left over was tried against the routes as they end up: it fits into no
qualified technician's route, and no lower-priority visit can give it its place.

The re-planner's quick answer is ``fill`` on the previous routes; every plan the search
returns has been through ``fill`` last, which is what makes its ``CAPACITY_EXHAUSTED``
reasons true and keeps priorities in order (the checker's ``PRIORITY_INVERSION``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from dispatch.domain import Priority, Problem
from dispatch.matrix import DayMatrix
from dispatch.solver.groups import synchronise
from dispatch.solver.objective import Objective
from dispatch.solver.schedule import RouteTimer
from dispatch.solver.screen import Screening

Routes = dict[int, list[int]]

#: A pool of at most this many (job x technician) pairs is tried whole, deadline or not: it takes
#: milliseconds, and a job of a small day left "not tried" because a busy machine made the search
#: run a few milliseconds over would be a plan worse than it needs to be.
ALWAYS_TRIED = 500


class _Costs(dict[int, int]):
    """The cost of each route of ``routes``, worked out when first asked for: an insertion looks at
    the routes of the job's qualified technicians only (SuggestSlots tries one job against 25 routes
    twenty times a request; costing every route each time was nine tenths of its time)."""

    def __init__(self, insertion: Insertion, routes: Routes) -> None:
        super().__init__()
        self.insertion = insertion
        self.routes = routes

    def __missing__(self, v: int) -> int:
        cost = self[v] = self.insertion.cost(v, self.routes[v]) or 0
        return cost


class Insertion:
    """Insertions into routes of ``problem`` (job indices per technician index)."""

    def __init__(
        self, problem: Problem, matrix: DayMatrix, screening: Screening, objective: Objective, timer: RouteTimer
    ) -> None:
        self.problem = problem
        self.matrix = matrix
        self.screening = screening
        self.objective = objective
        self.timer = timer
        self.eligible = [set(e) for e in screening.eligible]
        #: Per technician, the leading visits nothing is inserted among (a locked route's).
        self.closed: dict[int, int] = {}
        #: Jobs that keep their place: never displaced for another (a locked or times-only route's).
        self.fixed: set[int] = set()
        #: Crews' service starts ``fill`` pinned in the timer: job index -> its windows before.
        self.pinned: dict[int, list[tuple[int, int]]] = {}
        self._earliest: dict[tuple[int, tuple[int, ...]], list[int]] = {}  # earliest service starts
        self._latest: dict[tuple[int, tuple[int, ...]], list[int]] = {}

    def cost(self, v: int, route: list[int]) -> int | None:
        """What technician ``v`` serving ``route`` costs (``None``: infeasible)."""
        timing = self.timer.timing(v, route)
        return None if timing is None else self.objective.route_cost(v, route, timing)

    def fill(
        self, routes: Routes, pool: Iterable[int], *, deadline: float | None = None, whole_if_small: bool = False
    ) -> set[int]:
        """``_fill``; then, on a day with jobs for several technicians, each crew is started together
        (``groups.synchronise``) or taken off, and the jobs left over are tried again in the room that
        made. The crews' starts stay pinned in the timer (the plan is built with them; ``unpin``)."""
        pool = set(pool)
        tried = self._fill(routes, pool, deadline=deadline, whole_if_small=whole_if_small)
        if not self.timer.crew:
            return tried
        synced, apart, pinned = synchronise(self.problem, self.timer, routes, self.screening.eligible)
        for j, windows in pinned.items():
            self.pinned.setdefault(j, windows)
        routes.update(synced)
        served = {j for r in routes.values() for j in r}
        again = [j for j in tried | (pool - served) if j not in self.timer.crew and j not in served]
        if apart and again:
            tried = self._fill(routes, again, deadline=deadline, whole_if_small=whole_if_small)
        return (tried | set(apart)) - {j for r in routes.values() for j in r}

    def unpin(self) -> None:
        """Undo the crews' starts ``fill`` pinned in the timer (a caller trying one change after
        another from the same routes: ``SuggestTechnicians``)."""
        for j, windows in self.pinned.items():
            self.timer.windows[j] = windows
        self.pinned.clear()

    def _fill(
        self, routes: Routes, pool: Iterable[int], *, deadline: float | None = None, whole_if_small: bool = False
    ) -> set[int]:
        """Place the jobs of ``pool`` into ``routes`` (changed in place) until ``deadline``
        (``time.monotonic()``; with ``whole_if_small``, the search's last pass, a small pool,
        ``ALWAYS_TRIED``, is placed whole; never the quick re-plan's); return the jobs
        left over that were tried against the routes as they stand at the end (the rest of the
        pool was not reached in time)."""
        costs = _Costs(self, routes)
        pending = sorted(set(pool), key=self._urgency)
        if whole_if_small and len(pending) * max(len(routes), 1) <= ALWAYS_TRIED:
            deadline = None
        tried: set[int] = set()  # failed since the routes last changed
        changed = True
        while changed and pending:
            changed = False
            for j in list(pending):
                if deadline is not None and time.monotonic() > deadline:
                    return tried & set(pending)
                best = self.best_insertion(j, routes, costs)
                if best is None and self.problem.jobs[j].priority > Priority.LOW:
                    best = self._best_displacement(j, routes, costs)
                if best is None:
                    tried.add(j)
                    continue
                v, route, cost, displaced = best
                routes[v], costs[v] = route, cost
                pending.remove(j)
                tried.clear()
                changed = True
                if displaced is not None:
                    pending.append(displaced)
                    pending.sort(key=self._urgency)
                    break  # the displaced job may go anywhere: start the pass again, most urgent first
        return tried & set(pending)

    def _urgency(self, j: int) -> tuple[int, int, int]:
        windows = self.timer.windows[j]
        deadline = windows[-1][1] if windows else 1 << 62
        return (-int(self.problem.jobs[j].priority), deadline, j)

    def _starts(self, v: int, route: list[int]) -> list[int]:
        key = (v, tuple(route))
        if key not in self._earliest:
            timing = self.timer.earliest_timing(v, route)
            self._earliest[key] = [] if timing is None else timing.starts
        return self._earliest[key]

    def _latest_starts(self, v: int, route: list[int]) -> list[int]:
        key = (v, tuple(route))
        if key not in self._latest:
            self._latest[key] = self.timer.latest_starts(v, route)
        return self._latest[key]

    def _positions(self, j: int, v: int, route: list[int]) -> list[tuple[int, int]]:
        """``(added travel, position)`` of each position of ``route`` where job ``j`` might fit:
        reachable in a window from the stop before, and the stop after (or the shift end)
        reached from it no later than the rest of the route allows. Necessary, not sufficient."""
        m, jobs, timer = self.matrix, self.problem.jobs, self.timer
        bounds = timer.bounds[v]
        if bounds is None:
            return []
        starts = self._starts(v, route)
        if route and not starts:
            return []  # the route itself has no timing
        latest = self._latest_starts(v, route)
        point = m.job_point(j)
        service = jobs[j].service_duration
        stops = [m.start_point(v), *(m.job_point(k) for k in route), m.end_point(v)]
        out = []
        for pos in range(min(self.closed.get(v, 0), len(route)), len(stops) - 1):
            a, b = stops[pos], stops[pos + 1]
            leave = bounds[0] if pos == 0 else starts[pos - 1] + jobs[route[pos - 1]].service_duration
            start = timer.first_start(j, leave + m.duration(a, point))
            if start is None:
                break  # later positions leave later still
            due = bounds[1] if pos == len(route) else latest[pos]
            if start + service + m.duration(point, b) > due:
                continue
            base = 0 if not route else m.duration(a, b)
            out.append((m.duration(a, point) + m.duration(point, b) - base, pos))
        return out

    def best_insertion(
        self, j: int, routes: Routes, costs: dict[int, int]
    ) -> tuple[int, list[int], int, int | None] | None:
        """Cheapest feasible (technician, position) for job ``j``: candidates in order of their
        added travel, a lower bound of their added cost, so the search stops early."""
        candidates = []
        for v in self.eligible[j]:
            extra = self.objective.reassign_penalty if self.objective.owner.get(j, v) != v else 0
            candidates += [(added + extra, v, pos) for added, pos in self._positions(j, v, routes[v])]
        candidates.sort()
        best: tuple[int, list[int], int, None] | None = None
        best_delta = None
        for bound, v, pos in candidates:
            if best_delta is not None and bound >= best_delta:
                break
            route = [*routes[v][:pos], j, *routes[v][pos:]]
            cost = self.cost(v, route)
            if cost is None:
                continue
            delta = cost - costs[v]
            if best_delta is None or delta < best_delta:
                best, best_delta = (v, route, cost, None), delta
        return best

    def _best_displacement(
        self, j: int, routes: Routes, costs: dict[int, int]
    ) -> tuple[int, list[int], int, int] | None:
        """Job ``j`` in place of one visit of lower priority (anywhere in that visit's route):
        the lowest priority first, then the cheapest."""
        jobs = self.problem.jobs
        best, best_key = None, None
        for v in self.eligible[j]:
            for k in routes[v]:
                if jobs[k].priority >= jobs[j].priority or k in self.fixed:
                    continue
                if best_key is not None and int(jobs[k].priority) > best_key[0]:
                    continue
                rest = [x for x in routes[v] if x != k]
                for _, pos in self._positions(j, v, rest):
                    route = [*rest[:pos], j, *rest[pos:]]
                    cost = self.cost(v, route)
                    if cost is None:
                        continue
                    key = (int(jobs[k].priority), cost - costs[v])
                    if best_key is None or key < best_key:
                        best, best_key = (v, route, cost, k), key
        return best
