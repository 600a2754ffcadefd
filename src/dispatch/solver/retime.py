"""Time the chosen routes with traffic at their planned departures, and label every leg's source.

The search sees one matrix whose rows come from the traffic bucket of each point's *expected*
departure (``dispatch.matrix.base.expected_departures``). Once the routes are chosen, each point's
planned departure is known: ``retime`` takes every row from the bucket of that departure and
re-times the same routes, repeating until no row changes bucket (at most ``ROUNDS`` times). A
visit that no longer fits (traffic made a window unreachable) is dropped from its route and
reported unassigned, never kept late. ``label`` writes which model timed each leg into the plan.
"""

from __future__ import annotations

import dataclasses

from dispatch.domain import Plan, Problem, Route, Unassigned, UnassignedReason, with_routes
from dispatch.matrix import DayMatrix
from dispatch.matrix.base import UNREACHABLE
from dispatch.solver.schedule import RouteTimer
from dispatch.solver.screen import horizon

ROUNDS = 4


def departures(problem: Problem, matrix: DayMatrix, plan: Plan) -> dict[int, int]:
    """Point -> plan second it is left, for every point the plan drives from (ids the problem does
    not know are skipped: a plan sent to ``Validate`` may name them, the checker reports them)."""
    tech, job = problem.technician_index, problem.job_index
    out: dict[int, int] = {}
    for route in plan.routes:
        if route.technician_id in tech:
            out[matrix.start_point(tech[route.technician_id])] = route.start
        for visit in route.visits:
            if visit.job_id in job:
                out[matrix.job_point(job[visit.job_id])] = visit.end
    return out


def retime(problem: Problem, matrix: DayMatrix, plan: Plan) -> tuple[Plan, DayMatrix]:
    """``plan`` timed with the traffic of its own departures, and the matrix that times it exactly."""
    if matrix.traffic is None:
        return plan, matrix
    tech, job = problem.technician_index, problem.job_index
    end = horizon(problem)
    for _ in range(ROUNDS):
        moved = matrix.departing(departures(problem, matrix, plan))
        if moved is matrix:
            break
        matrix = moved
        timer = RouteTimer(problem, matrix, end)
        routes: list[Route] = []
        dropped: list[Unassigned] = []
        for route in plan.routes:
            v = tech[route.technician_id]
            order = [job[visit.job_id] for visit in route.visits]
            if _same_legs(matrix, v, order, route):
                routes.append(route)  # its times stand: re-timing could only lose to greedy break placement
                continue
            kept = timer.fit(v, order)
            for k in order:
                if k not in kept:
                    dropped.append(
                        Unassigned(
                            job_id=problem.jobs[k].id,
                            reason=UnassignedReason.CAPACITY_EXHAUSTED,
                            detail="planned, but no longer fits once the traffic at the planned departure "
                            "times is counted",
                        )
                    )
            if kept:
                routes.append(timer.route(v, kept))
        plan = with_routes(plan, routes, unassigned=(*plan.unassigned, *dropped))
    return plan, matrix


def _same_legs(matrix: DayMatrix, v: int, order: list[int], route: Route) -> bool:
    """Every leg of ``route`` takes as long under ``matrix`` as the route says."""
    here = matrix.start_point(v)
    for k, visit in zip(order, route.visits, strict=True):
        point = matrix.job_point(k)
        if (
            matrix.duration(here, point) != visit.travel_duration
            or matrix.distance(here, point) != visit.travel_distance
        ):
            return False
        here = point
    end = matrix.end_point(v)
    return (
        matrix.duration(here, end) == route.return_travel_duration
        and matrix.distance(here, end) == route.return_distance
    )


def label(problem: Problem, matrix: DayMatrix, plan: Plan) -> Plan:
    """Each leg's travel source, and the matrix's own figures and warnings, on ``plan``."""
    tech, job = problem.technician_index, problem.job_index
    routes = []
    for route in plan.routes:
        v = tech[route.technician_id]
        here = matrix.start_point(v)
        visits = []
        for visit in route.visits:
            point = matrix.job_point(job[visit.job_id])
            visits.append(dataclasses.replace(visit, travel_source=matrix.leg_source(here, point)))
            here = point
        routes.append(
            dataclasses.replace(
                route, visits=tuple(visits), return_travel_source=matrix.leg_source(here, matrix.end_point(v))
            )
        )
    estimated = 0 if matrix.estimated is None else int(matrix.estimated.sum())
    stats = dataclasses.replace(
        plan.stats,
        travel_source=f"{matrix.source} traffic" if matrix.traffic is not None else matrix.source,
        travel_requests=matrix.requests,
        travel_estimated_pairs=estimated,
        travel_unreachable_pairs=int((matrix.durations >= UNREACHABLE).sum()),
        warnings=(*plan.stats.warnings, *matrix.warnings),
    )
    return dataclasses.replace(plan, routes=tuple(routes), stats=stats)
