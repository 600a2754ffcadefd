"""What the dispatcher fixed for one re-plan: the change scope, locked routes and pins, in the
re-plan problem's indices (``controls``), and the sub-day the search may still change
(``searchable``, ``merged``).

- ``REASSIGN`` (default): anything may change, at the reassign and promise costs.
- ``RESEQUENCE``: every planned visit is pinned to its technician for this re-plan.
- ``TIMES_ONLY``: every planned visit keeps its technician and its place in the order; new and
  left-over work may go between them. Only the quick answer's insertion changes such a route.
- ``LockRoute``: the technician's planned visits starting before ``until`` keep their order and
  technician and nothing goes among them; new work may follow them.

A visit whose route must keep its order and that no longer fits in it (a delay before it, say) is
left unassigned, the rule named: the dispatcher fixed that order, the optimizer does not undo it.
The search runs on the technicians whose routes are free to change, with the jobs not on the
fixed routes; the fixed routes stay as the quick answer made them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from dispatch.domain import (
    ChangeScope,
    DayState,
    Plan,
    Problem,
    Unassigned,
    UnassignedReason,
    evolve,
    with_routes,
)
from dispatch.matrix import DayMatrix
from dispatch.reopt.day import Situation


@dataclass(frozen=True)
class Controls:
    """The re-plan's fixed orders (re-plan problem indices)."""

    #: Technician -> the visits that keep this technician and this order.
    kept: dict[int, list[int]] = field(default_factory=dict)
    #: Technician -> how many leading visits nothing is inserted among (a locked route).
    closed: dict[int, int] = field(default_factory=dict)
    #: Technician -> why their order is fixed ("locked until 14:00", "change_scope TIMES_ONLY").
    why: dict[int, str] = field(default_factory=dict)

    @property
    def frozen(self) -> frozenset[int]:
        """Technicians whose routes the search leaves as the quick answer made them."""
        return frozenset(v for v, route in self.kept.items() if route)

    def dropped(self, problem: Problem, j: int, v: int) -> Unassigned:
        """Job ``j`` of technician ``v``'s fixed order, which no longer fits in it."""
        tech = problem.technicians[v].id
        return Unassigned(
            job_id=problem.jobs[j].id,
            reason=UnassignedReason.CAPACITY_EXHAUSTED,
            detail=f"no longer fits technician {tech[:40]!r}'s route in its order ({self.why.get(v, 'fixed')}); "
            "release the lock or re-plan with a wider change_scope to place it elsewhere",
        )


def controls(here: Situation, state: DayState, scope: ChangeScope) -> tuple[Problem, Controls]:
    """The re-plan problem with this re-plan's pins, and its fixed orders."""
    part = here.replan
    techs = part.technician_index
    pins: dict[int, str] = {}
    kept: dict[int, list[int]] = {}
    closed: dict[int, int] = {}
    why: dict[int, str] = {}
    if scope is not ChangeScope.REASSIGN:
        for v, route in here.previous.items():
            for j in route:
                pins[j] = part.technicians[v].id
            if scope is ChangeScope.TIMES_ONLY and route:
                kept[v] = list(route)
                why[v] = "change_scope TIMES_ONLY"
    routes = {r.technician_id: r for r in here.plan.routes}
    for tech_id, until in state.locks:
        w = techs.get(tech_id)
        locked = routes.get(tech_id)
        if w is None or locked is None:
            continue
        v = w
        starts = {x.job_id: x.start for x in locked.visits}
        prefix: list[int] = []
        for j in here.previous.get(v, []):
            if starts.get(part.jobs[j].id, until) >= until:
                break
            prefix.append(j)
        if prefix:
            kept[v] = [*prefix, *kept.get(v, [])[len(prefix) :]]
            closed[v] = len(prefix)
            why[v] = "route locked by the dispatcher"
            for j in prefix:
                pins[j] = tech_id
    jobs = list(part.jobs)
    for j, tech_id in pins.items():
        if jobs[j].pinned_technician_id != tech_id:
            jobs[j] = evolve(jobs[j], pinned_technician_id=tech_id)
    pinned = dataclasses.replace(part, jobs=tuple(jobs)) if jobs != list(part.jobs) else part
    return pinned, Controls(kept=kept, closed=closed, why=why)


def searchable(
    problem: Problem, matrix: DayMatrix, quick: dict[int, list[int]], fixed: Controls, left_out: set[int]
) -> tuple[Problem, DayMatrix, dict[int, list[int]]]:
    """The part of the day the search may change: the technicians not ``frozen``, the jobs not on
    their fixed routes nor ``left_out``; its matrix; and ``quick``'s routes in its indices."""
    frozen = fixed.frozen
    techs = [v for v in range(len(problem.technicians)) if v not in frozen]
    on_frozen = {j for v in frozen for j in quick.get(v, [])}
    jobs = [j for j in range(len(problem.jobs)) if j not in on_frozen and j not in left_out]
    points = [p for v in techs for p in (matrix.start_point(v), matrix.end_point(v))]
    points += [matrix.job_point(j) for j in jobs]
    grid = np.ix_(points, points)
    where = {p: k for k, p in enumerate(points)}
    sub = dataclasses.replace(
        matrix,
        durations=matrix.durations[grid],
        distances=matrix.distances[grid],
        num_technicians=len(techs),
        estimated=None if matrix.estimated is None else matrix.estimated[grid],
        unplaced={where[p]: why for p, why in matrix.unplaced.items() if p in where},
        traffic=None,
    )
    job_ids = {problem.jobs[j].id for j in jobs}
    part = dataclasses.replace(
        problem,
        technicians=tuple(problem.technicians[v] for v in techs),
        jobs=tuple(problem.jobs[j] for j in jobs),
        commitments=tuple(c for c in problem.commitments if c.job_id in job_ids),
        travel_matrix=None,
    )
    new_tech = {v: k for k, v in enumerate(techs)}
    new_job = {j: k for k, j in enumerate(jobs)}
    start = {new_tech[v]: [new_job[j] for j in route] for v, route in quick.items() if v in new_tech and route}
    return part, sub, start


def merged(quick: Plan, searched: Plan, problem: Problem, fixed: Controls) -> Plan:
    """The day's re-plan: the fixed routes as ``quick`` has them, the rest as ``searched`` (a plan of
    ``searchable``'s part), the jobs either leaves out."""
    frozen_ids = {problem.technicians[v].id for v in fixed.frozen}
    routes = [r for r in quick.routes if r.technician_id in frozen_ids]
    routes += [r for r in searched.routes if r.technician_id not in frozen_ids]
    served = {x.job_id for r in routes for x in r.visits}
    unassigned = {u.job_id: u for u in quick.unassigned}
    unassigned.update({u.job_id: u for u in searched.unassigned})
    left = tuple(u for job_id, u in unassigned.items() if job_id not in served)
    order = problem.job_index
    left = tuple(sorted(left, key=lambda u: order.get(u.job_id, 0)))
    return with_routes(
        dataclasses.replace(quick, routes=(), unassigned=()), routes, unassigned=left, stats=searched.stats
    )
