"""Read a solved OR-Tools assignment back into a ``Plan``."""

from __future__ import annotations

from ortools.constraint_solver import pywrapcp

from dispatch.domain import Plan, PlanStats, Route, ScheduledBreak, Visit
from dispatch.solver.model import Model
from dispatch.solver.screen import capacity_exhausted


def extract(model: Model, solution: pywrapcp.Assignment, *, status: str, solve_time: float) -> Plan:
    problem, matrix, routing = model.problem, model.matrix, model.routing
    time = model.time
    routes: list[Route] = []
    served: set[int] = set()
    for v, tech in enumerate(problem.technicians):
        index = routing.Start(v)
        if routing.IsEnd(solution.Value(routing.NextVar(index))):
            continue  # idle technician: no route
        depart = solution.Value(time.CumulVar(index))
        prev_point = matrix.start_point(v)
        visits = []
        index = solution.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            j = model.job_of_node[model.manager.IndexToNode(index)]
            job = problem.jobs[j]
            point = matrix.job_point(j)
            start = solution.Value(time.CumulVar(index))
            leg = matrix.duration(prev_point, point)
            prev_end = visits[-1].end if visits else depart
            visits.append(
                Visit(
                    job_id=job.id,
                    arrival=_arrival(prev_end, leg, start, _breaks_of(model, solution, v)),
                    start=start,
                    end=start + job.service_duration,
                    travel_duration=leg,
                    travel_distance=matrix.distance(prev_point, point),
                )
            )
            served.add(j)
            prev_point = point
            index = solution.Value(routing.NextVar(index))
        end_point = matrix.end_point(v)
        routes.append(
            Route(
                technician_id=tech.id,
                start=depart,
                end=solution.Value(time.CumulVar(index)),
                visits=tuple(visits),
                breaks=tuple(_breaks_of(model, solution, v)),
                return_travel_duration=matrix.duration(prev_point, end_point),
                return_distance=matrix.distance(prev_point, end_point),
            )
        )
    unassigned = [model.screening.unassigned[j] for j in sorted(model.screening.unassigned)]
    for j in sorted(set(model.job_of_node.values()) - served):
        unassigned.append(capacity_exhausted(problem.jobs[j]))
    order = {job.id: k for k, job in enumerate(problem.jobs)}
    unassigned.sort(key=lambda u: order[u.job_id])
    return Plan(
        plan_id=problem.plan_id,
        epoch=problem.epoch,
        routes=tuple(routes),
        unassigned=tuple(unassigned),
        stats=PlanStats(
            total_travel_duration=sum(r.travel_duration for r in routes),
            total_distance=sum(r.distance for r in routes),
            objective=solution.ObjectiveValue(),
            solver_status=status,
            solve_time=solve_time,
        ),
    )


def _breaks_of(model: Model, solution: pywrapcp.Assignment, v: int) -> list[ScheduledBreak]:
    out = []
    for interval in model.breaks.get(v, []):
        start = solution.StartValue(interval)
        out.append(ScheduledBreak(start=start, end=start + interval.DurationMin()))
    return sorted(out, key=lambda b: b.start)


def _arrival(prev_end: int, leg: int, start: int, breaks: list[ScheduledBreak]) -> int:
    """Arrival on site: leave at the previous stop's end, drive, taking any break scheduled
    in between on the way; never later than the service start."""
    t = prev_end
    for brk in breaks:
        if prev_end <= brk.start and brk.end <= start:
            t += brk.end - brk.start
    return min(t + leg, start)
