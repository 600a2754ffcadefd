"""The first answer to a re-plan, in milliseconds: the previous plan, repaired, plus insertions.

Each technician keeps the previous order of their remaining visits, minus those that no
longer fit (a delay pushed them out of their window, say). Then every job not placed —
new ones, the dropped, the ones left over before — is inserted where it costs least,
most urgent first (priority, then the earliest deadline); a job that fits nowhere may take
the place of one lower-priority visit, which is then re-inserted or left unassigned
(``dispatch.solver.insertion``). Costs are the solver's (``dispatch.solver.objective``):
travel, the emergency term, and the stability costs of moving a committed job to another
technician or outside its promised window.

Routes the dispatcher fixed (``dispatch.reopt.controls``: a locked route, ``TIMES_ONLY``) keep
their order: nothing is displaced from them, nothing goes among a locked route's visits, and a
visit that no longer fits in its order is left unassigned with the rule named.

The answer is feasible by construction (``dispatch.solver.schedule``) and re-checked by
the independent checker before anyone sees it; the search then improves on it.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Collection, Sequence

from dispatch.domain import Plan, Problem
from dispatch.matrix import DayMatrix
from dispatch.reopt.controls import Controls
from dispatch.solver.extract import routes_plan
from dispatch.solver.insertion import Insertion
from dispatch.solver.objective import Objective
from dispatch.solver.schedule import RouteTimer
from dispatch.solver.screen import Screening, screen


class QuickPlanner:
    """Builds the quick answer for a re-plan problem (time 0: now)."""

    def __init__(self, problem: Problem, matrix: DayMatrix, screening: Screening | None = None) -> None:
        self.problem = problem
        self.matrix = matrix
        self.screening = screening or screen(problem, matrix)
        self.objective = Objective.of(problem, self.screening)
        promised = {j: w[0] for j, w in self.objective.window.items() if w[0] > 0}
        self.timer = RouteTimer(problem, matrix, self.screening.horizon, not_before=promised)
        self.insertion = Insertion(problem, matrix, self.screening, self.objective, self.timer)
        #: Jobs out of a fixed order that no longer fit in it: left unassigned, not searched.
        self.left_out: set[int] = set()
        self._dropped: dict[int, int] = {}

    def plan(self, previous: dict[int, list[int]], fixed: Controls | None = None) -> tuple[Plan, dict[int, list[int]]]:
        """The quick plan from ``previous`` routes (job indices per technician index), keeping the
        orders ``fixed`` holds, and its routes."""
        began = time.monotonic()
        fixed = fixed or Controls()
        routes, pool = self.repaired(previous, fixed)
        tried = self.insertion.fill(routes, pool)
        cost = sum(self.insertion.cost(v, r) or 0 for v, r in routes.items())
        plan = routes_plan(
            self.problem,
            self.screening,
            self.timer,
            routes,
            tried=tried,
            objective=cost,
            status="QUICK",
            solve_time=time.monotonic() - began,
        )
        if self.left_out:
            out = {j: fixed.dropped(self.problem, j, v) for j, v in self._dropped.items()}
            plan = dataclasses.replace(
                plan, unassigned=tuple(out.get(self.problem.job_index[u.job_id], u) for u in plan.unassigned)
            )
        return plan, {v: r for v, r in routes.items() if r}

    def repaired(self, previous: dict[int, list[int]], fixed: Controls) -> tuple[dict[int, list[int]], list[int]]:
        """``previous`` routes less the visits that no longer fit (each technician's order kept), and
        the jobs to insert into them (``plan`` inserts them; ``SuggestTechnicians`` too)."""
        eligible = self.insertion.eligible
        routes: dict[int, list[int]] = {v: [] for v in range(len(self.problem.technicians))}
        dropped: dict[int, int] = {}  # job -> technician: out of a fixed order that no longer fits
        for v, route in previous.items():
            routes[v] = self.timer.fit(v, route, functools.partial(_eligible, eligible, v))
            kept = fixed.kept.get(v, [])
            dropped.update((j, v) for j in kept if j not in routes[v] and eligible[j])
        self.insertion.fixed = {j for v, kept in fixed.kept.items() for j in kept if j in routes[v]}
        self.insertion.closed = {
            v: sum(1 for j in fixed.kept[v][:n] if j in routes[v]) for v, n in fixed.closed.items()
        }
        placed = {j for r in routes.values() for j in r}
        self._dropped = dropped
        self.left_out = set(dropped)
        return routes, [
            j for j in range(len(self.problem.jobs)) if eligible[j] and j not in placed and j not in dropped
        ]


def _eligible(eligible: Sequence[Collection[int]], v: int, j: int) -> bool:
    return v in eligible[j]
