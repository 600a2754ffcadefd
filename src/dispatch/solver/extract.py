"""The plan of the search's routes: timed visits and breaks, and a true reason for every job left out."""

from __future__ import annotations

from collections.abc import Collection

from dispatch.domain import Plan, PlanStats, Problem, Unassigned, with_routes
from dispatch.solver.groups import synchronise
from dispatch.solver.schedule import RouteTimer
from dispatch.solver.screen import Screening, capacity_exhausted, time_limit_reached


def routes_plan(
    problem: Problem,
    screening: Screening,
    timer: RouteTimer,
    routes: dict[int, list[int]],
    *,
    tried: Collection[int],
    objective: int,
    status: str,
    solve_time: float,
) -> Plan:
    """The plan of ``routes`` (feasible job indices per technician index), each timed by ``timer``.

    A job that passed screening and is not served is ``CAPACITY_EXHAUSTED`` if it is in ``tried``
    (it was tried against these routes and fits nowhere), else ``TIME_LIMIT_REACHED``.
    """
    # Jobs for several technicians start together (``groups``): the routes as synchronised.
    routes, apart, pinned = synchronise(problem, timer, routes, screening.eligible)
    try:
        out = [timer.route(v, route) for v, route in sorted(routes.items()) if route]
    finally:
        for j, windows in pinned.items():
            timer.windows[j] = windows
    served = {j for r in routes.values() for j in r}
    unassigned = [
        apart.get(j) or _left_out(problem, screening, j, tried) for j in range(len(problem.jobs)) if j not in served
    ]
    stats = PlanStats(objective=objective, solver_status=status, solve_time=solve_time)
    return with_routes(
        Plan(plan_id=problem.plan_id, epoch=problem.epoch), out, unassigned=tuple(unassigned), stats=stats
    )


def _left_out(problem: Problem, screening: Screening, j: int, tried: Collection[int]) -> Unassigned:
    if j in screening.unassigned:
        return screening.unassigned[j]
    return capacity_exhausted(problem.jobs[j]) if j in tried else time_limit_reached(problem.jobs[j])
