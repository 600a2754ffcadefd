"""The first answer to a re-plan, in milliseconds: the previous plan, repaired, plus insertions.

Each technician keeps the previous order of their remaining visits, minus those that no
longer fit (a delay pushed them out of their window, say). Then every job not placed —
new ones, the dropped, the ones left over before — is inserted where it costs least,
most urgent first (priority, then the earliest deadline). An EMERGENCY or HIGH job that
fits nowhere may take the place of one lower-priority visit, which is then re-inserted
or left unassigned. Costs are the solver's: travel, plus the stability costs of moving
a committed job to another technician or outside its promised window.

The answer is feasible by construction (``dispatch.solver.schedule``) and re-checked by
the independent checker before anyone sees it; OR-Tools then improves on it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from dispatch.domain import Plan, PlanStats, Priority, Problem
from dispatch.matrix import DayMatrix
from dispatch.solver.schedule import RouteTimer, Timing
from dispatch.solver.screen import Screening, capacity_exhausted, screen


@dataclass(frozen=True)
class Stability:
    """What moving committed jobs costs in ``problem`` (see ``SolveOptions``)."""

    owner: dict[int, int]  # job index -> committed technician index
    window: dict[int, tuple[int, int]]  # job index -> promised service-start window
    reassign_penalty: int
    promise_weight: int

    @classmethod
    def of(cls, problem: Problem) -> Stability:
        techs = {t.id: v for v, t in enumerate(problem.technicians)}
        jobs = {j.id: k for k, j in enumerate(problem.jobs)}
        owner, window = {}, {}
        for c in problem.commitments:
            j = jobs.get(c.job_id)
            if j is None:
                continue
            if c.technician_id in techs:
                owner[j] = techs[c.technician_id]
            if c.window is not None:
                window[j] = (c.window.start, c.window.end)
        return cls(owner, window, problem.options.reassign_penalty, problem.options.promise_weight)

    def visit_cost(self, v: int, j: int, start: int) -> int:
        cost = 0
        owner = self.owner.get(j)
        if owner is not None and owner != v:
            cost += self.reassign_penalty
        w = self.window.get(j)
        if w is not None:
            cost += self.promise_weight * (max(0, start - max(w[1], 0)) + max(0, w[0] - start) * (w[0] > 0))
        return cost


def route_cost(stability: Stability, v: int, route: Sequence[int], timing: Timing) -> int:
    """Travel (the way back included) plus stability costs; an idle technician costs nothing."""
    if not route:
        return 0
    return timing.travel + sum(stability.visit_cost(v, j, s) for j, s in zip(route, timing.starts, strict=True))


def plan_score(problem: Problem, plan: Plan) -> tuple[int, ...]:
    """Lower is better, compared lexicographically: unassigned jobs by priority (EMERGENCY first),
    then travel plus stability costs — the solver's objective, for plans from any source."""
    prio = {j.id: j.priority for j in problem.jobs}
    index = {j.id: k for k, j in enumerate(problem.jobs)}
    techs = {t.id: v for v, t in enumerate(problem.technicians)}
    stability = Stability.of(problem)
    cost = plan.stats.total_travel_duration
    for route in plan.routes:
        for visit in route.visits:
            cost += stability.visit_cost(techs[route.technician_id], index[visit.job_id], visit.start)
    dropped = [sum(1 for u in plan.unassigned if prio.get(u.job_id) is p) for p in sorted(Priority, reverse=True)]
    return (*dropped, cost)


class QuickPlanner:
    """Builds the quick answer for a re-plan problem (time 0: now)."""

    def __init__(self, problem: Problem, matrix: DayMatrix, screening: Screening | None = None) -> None:
        self.problem = problem
        self.matrix = matrix
        self.screening = screening or screen(problem, matrix)
        self.stability = Stability.of(problem)
        self.timer = RouteTimer(problem, matrix, self.screening.horizon)
        promised = {j: w[0] for j, w in self.stability.window.items() if w[0] > 0}
        self.patient = RouteTimer(problem, matrix, self.screening.horizon, not_before=promised)
        self.eligible = [set(e) for e in self.screening.eligible]
        self._timed: dict[tuple[int, tuple[int, ...]], list[int]] = {}  # service starts of routes costed
        self._latest_of: dict[tuple[int, tuple[int, ...]], list[int]] = {}

    def timing(self, v: int, route: list[int]) -> Timing | None:
        """Keeping promised times where the route allows it, else as early as possible."""
        return self.patient.timing(v, route) or self.timer.timing(v, route)

    def cost(self, v: int, route: list[int]) -> int | None:
        timing = self.timing(v, route)
        if timing is None:
            return None
        self._timed[v, tuple(route)] = timing.starts
        return route_cost(self.stability, v, route, timing)

    def _starts(self, v: int, route: list[int]) -> list[int]:
        key = (v, tuple(route))
        if key not in self._timed:
            self.cost(v, route)
        return self._timed.get(key, [])

    def _latest(self, v: int, route: list[int]) -> list[int]:
        key = (v, tuple(route))
        if key not in self._latest_of:
            self._latest_of[key] = self.timer.latest_starts(v, route)
        return self._latest_of[key]

    def plan(self, previous: dict[int, list[int]]) -> tuple[Plan, dict[int, list[int]]]:
        """The quick plan from ``previous`` routes (job indices per technician index), and its routes."""
        began = time.monotonic()
        jobs = self.problem.jobs
        routes: dict[int, list[int]] = {v: [] for v in range(len(self.problem.technicians))}
        for v, route in previous.items():
            routes[v] = self.timer.fit(v, route, lambda j, v=v: v in self.eligible[j])
        costs = {v: self.cost(v, r) or 0 for v, r in routes.items()}
        placed = {j for r in routes.values() for j in r}
        pool = [j for j in range(len(jobs)) if self.eligible[j] and j not in placed]
        pool.sort(key=self._urgency)
        while pool:
            j = pool.pop(0)
            best = self._best_insertion(j, routes, costs)
            if best is None and jobs[j].priority >= Priority.HIGH:
                best = self._best_displacement(j, routes, costs)
            if best is None:
                continue
            v, route, cost, displaced = best
            routes[v], costs[v] = route, cost
            if displaced is not None:
                pool.append(displaced)
                pool.sort(key=self._urgency)
        return self._as_plan(routes, time.monotonic() - began), {v: r for v, r in routes.items() if r}

    def _urgency(self, j: int) -> tuple[int, int, int]:
        windows = self.timer.windows[j]
        deadline = windows[-1][1] if windows else 1 << 62
        return (-int(self.problem.jobs[j].priority), deadline, j)

    def _best_insertion(
        self, j: int, routes: dict[int, list[int]], costs: dict[int, int]
    ) -> tuple[int, list[int], int, None] | None:
        """Cheapest feasible (technician, position) for job ``j``: candidates in order of their
        added travel, a lower bound of their added cost, so the search stops early."""
        m, jobs, timer = self.matrix, self.problem.jobs, self.timer
        point = m.job_point(j)
        service = jobs[j].service_duration
        candidates = []
        for v in self.eligible[j]:
            bounds = timer.bounds[v]
            if bounds is None:
                continue
            route = routes[v]
            starts = self._starts(v, route)
            latest = self._latest(v, route)
            stops = [m.start_point(v), *(m.job_point(k) for k in route), m.end_point(v)]
            extra = self.stability.reassign_penalty if self.stability.owner.get(j, v) != v else 0
            for pos in range(len(stops) - 1):
                a, b = stops[pos], stops[pos + 1]
                # Necessary: j reachable in a window from the stop before, and the stop after
                # (or the shift end) reached from j no later than the rest of the route allows.
                leave = bounds[0] if pos == 0 else starts[pos - 1] + jobs[route[pos - 1]].service_duration
                start = timer.first_start(j, leave + m.duration(a, point))
                if start is None:
                    break  # later positions leave later still
                due = bounds[1] if pos == len(route) else latest[pos]
                if start + service + m.duration(point, b) > due:
                    continue
                base = 0 if not route else m.duration(a, b)
                candidates.append((m.duration(a, point) + m.duration(point, b) - base + extra, v, pos))
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
        self, j: int, routes: dict[int, list[int]], costs: dict[int, int]
    ) -> tuple[int, list[int], int, int] | None:
        """Job ``j`` in place of one visit of lower priority: the lowest priority first, then the cheapest."""
        jobs = self.problem.jobs
        best, best_key = None, None
        for v in self.eligible[j]:
            for k in routes[v]:
                if jobs[k].priority >= jobs[j].priority:
                    continue
                rest = [x for x in routes[v] if x != k]
                for pos in range(len(rest) + 1):
                    route = [*rest[:pos], j, *rest[pos:]]
                    cost = self.cost(v, route)
                    if cost is None:
                        continue
                    key = (int(jobs[k].priority), cost - costs[v])
                    if best_key is None or key < best_key:
                        best, best_key = (v, route, cost, k), key
        return best

    def _as_plan(self, routes: dict[int, list[int]], elapsed: float) -> Plan:
        problem = self.problem
        out = [self.timer.route(v, r, self.timing(v, r)) for v, r in sorted(routes.items()) if r]
        served = {j for r in routes.values() for j in r}
        unassigned = []
        for j, job in enumerate(problem.jobs):
            if j in self.screening.unassigned:
                unassigned.append(self.screening.unassigned[j])
            elif j not in served:
                unassigned.append(capacity_exhausted(job))
        plan = Plan(
            plan_id=problem.plan_id,
            epoch=problem.epoch,
            routes=tuple(out),
            unassigned=tuple(unassigned),
            stats=PlanStats(
                total_travel_duration=sum(r.travel_duration for r in out),
                total_distance=sum(r.distance for r in out),
                solver_status="QUICK",
                solve_time=elapsed,
            ),
        )
        return plan
