"""The search: one place, used alike by the service and the benchmarks.

Two ways in, one way out:

- A textbook day -- no breaks left to take, no commitments, small enough for PyVRP's dense
  matrices (``warm_start``) -- is solved by PyVRP for the budget; OR-Tools loads those routes,
  which re-checks every constraint of the full model (the state of the art on the Solomon and
  Homberger sets).
- Every other day -- lunch breaks, re-plans, days too large for PyVRP -- goes to ``lns``:
  VROOM builds it part by part and re-solves neighbourhoods of routes for the rest of the
  budget; a re-plan starts from its quick answer instead.

Either way the routes then go through the last insertion pass (``insertion.fill``: nothing
left out that fits, priorities in order, reasons that are true), are timed by ``RouteTimer``,
and -- where the budget allows -- the search's routes are loaded with their schedule into
OR-Tools' model (``model_refuses``), the model every plan is checked against.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from google.protobuf.duration_pb2 import Duration
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.domain import Plan, Priority, Problem, is_member
from dispatch.matrix import DayMatrix
from dispatch.solver.extract import routes_plan
from dispatch.solver.insertion import Insertion
from dispatch.solver.lns import CONSTRUCTION_SHARE, CREW_ROUND_SHARE, Search
from dispatch.solver.model import Model, build
from dispatch.solver.objective import Objective, drop_penalties
from dispatch.solver.schedule import RouteTimer, Timing
from dispatch.solver.screen import Screening, pending_breaks
from dispatch.solver.warm_start import Routes, exact, fits, pyvrp_routes

log = logging.getLogger("dispatch")

#: Seconds OR-Tools takes to read routes in, per (job x technician), on a day without breaks
#: (2026 EPYC: 125 x 1,000, 0.3 s).
LOAD_COST = 2.5e-6
#: Below this many seconds of budget the warm start is not worth its set-up.
WARM_START_MIN_BUDGET = 0.3
#: Routes checked one by one when the full model refuses a set of routes.
MAX_ROUTE_CHECKS = 50
#: Seconds kept for the last insertion pass per (job x technician), at least ``FINISH_MIN`` and at
#: most ``FINISH_MAX`` (2026 EPYC: 125 x 1,000 with 80 jobs left over, 0.2 s; with 660, 0.5 s).
FINISH_COST = 2e-6
FINISH_MIN = 0.02
FINISH_MAX = 2.0
#: The OR-Tools check runs when its estimated time is at most this share of the budget.
MODEL_CHECK_SHARE = 0.15
#: Seconds the OR-Tools check takes per (job x technician) (2026 EPYC, 500 jobs a model:
#: 125 x 1,000, 0.7 s; 200 x 2,000, 2.1 s).
MODEL_CHECK_COST = 6e-6
#: Jobs per OR-Tools model in the check (``model_refuses``; 200 x 2,000: 250 a model 2.5 s,
#: 500 2.1 s, 1,000 2.7 s, all 24 s).
MODEL_CHECK_CHUNK = 500
#: OR-Tools' own time limit for the check (it fails, rather than stops, when reading routes in
#: takes longer).
MODEL_CHECK_LIMIT = 60.0

ProgressCallback = Callable[[int], None]


def search_parameters(time_limit: float) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    limit = Duration()
    limit.FromNanoseconds(int(max(time_limit, 0.01) * 1e9))
    params.time_limit.CopyFrom(limit)
    return params


def run(
    problem: Problem,
    matrix: DayMatrix,
    screening: Screening,
    *,
    began: float,
    deadline: float,
    start: dict[int, list[int]] | None = None,
    on_progress: ProgressCallback | None = None,
) -> Plan:
    """Search until ``deadline`` (``time.monotonic()``) and return the finished plan.

    ``start`` (job indices per technician index, e.g. a re-plan's quick answer) is where the
    search starts; ``on_progress`` gets the objective (travel and costs plus drop penalties) of
    each better plan found.
    """
    objective = Objective.of(problem, screening)
    promised = {j: w[0] for j, w in objective.window.items() if w[0] > 0}
    timer = RouteTimer(problem, matrix, screening.horizon, not_before=promised)
    score = _Score(problem, matrix, screening, objective)
    size = len(screening.eligible) * len(problem.technicians)
    finish_by = deadline - min(FINISH_MAX, max(FINISH_MIN, FINISH_COST * size))
    routes, status = None, "VROOM_LNS"
    crews_left: set[int] = set()  # members of crews the search tried to place together, in vain
    if start is None and textbook(problem, screening, deadline - time.monotonic()):
        routes, status = _textbook(problem, matrix, screening, deadline=finish_by)
    # The search's own routes are loaded into OR-Tools' model when that fits the budget's share.
    check_time = MODEL_CHECK_COST * size
    check = routes is None and check_time <= MODEL_CHECK_SHARE * max(deadline - began, 0.0)
    if check:
        finish_by -= check_time
    if routes is None:
        search = Search(problem, matrix, screening, objective, timer)
        if on_progress is not None:
            search.on_improvement = lambda: on_progress(score.value(search.routes, search.cost()))
        if start is not None:
            search.load(start)
            status = "VROOM_LNS_FROM_START"
        else:
            search.construct(began + CONSTRUCTION_SHARE * (finish_by - began))
        search.crews(until=time.monotonic() + CREW_ROUND_SHARE * max(0.0, finish_by - time.monotonic()))
        search.improve(finish_by)
        log.info("search: %s", search.stats)
        routes, crews_left = search.routes, search.crews_left
    routes = {v: routes.get(v, []) for v in range(len(problem.technicians))}
    insertion = Insertion(problem, matrix, screening, objective, timer)
    served = {j for r in routes.values() for j in r}
    left = [j for j in range(len(problem.jobs)) if screening.eligible[j] and j not in served]
    tried = insertion.fill(routes, left, deadline=deadline - (check_time if check else 0.0), whole_if_small=True)
    tried |= crews_left - {j for r in routes.values() for j in r}  # the routes only filled up since
    timings = {v: timer.timing(v, r) for v, r in routes.items() if r}
    cost = sum(objective.route_cost(v, r, t) for v, r in routes.items() if r and (t := timings[v]) is not None)
    if on_progress is not None:
        on_progress(score.value(routes, cost))  # the finished plan
    warnings: list[str] = []
    if status != "PYVRP_ORTOOLS":
        if check:
            refused = model_refuses(problem, matrix, screening, routes, timings)  # type: ignore[arg-type]
            for v in refused:
                log.error("OR-Tools' model refuses technician %s's route", problem.technicians[v].id)
                warnings.append(f"OR-Tools' model refuses technician {problem.technicians[v].id}'s route")
        else:
            warnings.append(
                f"plan not loaded into OR-Tools' model: {check_time:.1f} s estimated, over the budget's share"
            )
    plan = routes_plan(
        problem,
        screening,
        timer,
        routes,
        tried=tried,
        objective=score.value(routes, cost),
        status=status,
        solve_time=time.monotonic() - began,
    )
    if warnings:
        plan = dataclasses.replace(plan, stats=dataclasses.replace(plan.stats, warnings=tuple(warnings)))
    return plan


def textbook(problem: Problem, screening: Screening, seconds: float) -> bool:
    """Whether the day goes to PyVRP: it can express the day exactly (no breaks to take, no
    commitments, no emergency to bring forward, no overtime, balance or preferred technicians: its
    objective has no such costs; no jobs for several technicians together), the budget is
    worth its set-up, and its dense matrices stay small enough."""
    emergency = problem.options.emergency_weight > 0 and any(j.priority is Priority.EMERGENCY for j in problem.jobs)
    return (
        seconds >= WARM_START_MIN_BUDGET
        and exact(problem)
        and not problem.commitments
        and not emergency
        and not Objective.of(problem, screening).priced_days
        and not any(j.preferred_technician_ids for j in problem.jobs)
        and not any(is_member(j.id) for j in problem.jobs)
        and fits(problem, screening)
    )


def _textbook(
    problem: Problem, matrix: DayMatrix, screening: Screening, *, deadline: float
) -> tuple[dict[int, list[int]] | None, str]:
    """PyVRP until ``deadline`` (less the time to read its routes in), then OR-Tools' model reads
    its routes in: what the model refuses (it should refuse nothing) is left to the last insertion
    pass. A guided local search from PyVRP's routes found nothing in 3-10 % of the time on the
    Solomon and Homberger sets that PyVRP would not have found in it (benchmarks/RESULTS.md)."""
    model = build(problem, matrix, screening)
    load = LOAD_COST * len(screening.eligible) * len(problem.technicians)
    routes = pyvrp_routes(problem, matrix, screening, time_limit=deadline - load - time.monotonic())
    if routes is None:
        return None, ""
    model.routing.CloseModelWithParameters(search_parameters(max(1.0, deadline - time.monotonic())))
    loaded = _load(model, routes)
    if loaded is None:
        log.warning("warm start: OR-Tools refused PyVRP's routes; searching with VROOM")
        return None, ""
    return routes_of(model, loaded), "PYVRP_ORTOOLS"


def routes_of(model: Model, solution: pywrapcp.Assignment) -> dict[int, list[int]]:
    """Job indices per technician index of an OR-Tools assignment."""
    routing, out = model.routing, {}
    for v in range(routing.vehicles()):
        index = solution.Value(routing.NextVar(routing.Start(v)))
        route = []
        while not routing.IsEnd(index):
            route.append(model.job_of_node[model.manager.IndexToNode(index)])
            index = solution.Value(routing.NextVar(index))
        out[v] = route
    return out


def model_refuses(
    problem: Problem,
    matrix: DayMatrix,
    screening: Screening,
    routes: dict[int, list[int]],
    timings: dict[int, Timing],
    *,
    chunk: int | None = None,
) -> list[int]:
    """Technicians whose route, with its service starts and breaks as timed, OR-Tools' model refuses.

    Every time is fixed before the routes are read in (``ReadAssignmentFromRoutes``), so the
    model only checks; left to place the breaks itself it takes seconds on a large day. Routes
    are checked ``chunk`` jobs (``MODEL_CHECK_CHUNK``) at a time, each chunk in the full model
    (every technician, every rule) holding only that chunk's jobs: no rule binds two routes, and
    OR-Tools' break constraints take time superlinear in the jobs on the model (200 vans with
    breaks: empty read 0.25 s with 177 jobs, 1.1 s with 864, 24 s with 2,000).
    """
    refused: list[int] = []
    for part in _chunks(routes, chunk or MODEL_CHECK_CHUNK):
        only = _holding(screening, [j for v in part for j in routes[v]])
        refused += _refused(
            problem, matrix, only, {v: routes[v] for v in part}, timings, MAX_ROUTE_CHECKS - len(refused)
        )
    return refused


def _chunks(routes: dict[int, list[int]], size: int) -> list[list[int]]:
    """Technicians with a route, in groups of about ``size`` jobs (a longer route alone)."""
    out: list[list[int]] = []
    jobs = size
    for v in sorted(v for v, route in routes.items() if route):
        if jobs + len(routes[v]) > size:
            out.append([])
            jobs = 0
        out[-1].append(v)
        jobs += len(routes[v])
    return out


def _refused(
    problem: Problem,
    matrix: DayMatrix,
    screening: Screening,
    routes: dict[int, list[int]],
    timings: dict[int, Timing],
    checks: int,
) -> list[int]:
    """``model_refuses`` for routes whose jobs are all the model holds. A time outside what the
    model allows refuses its route at once; when the model refuses the rest together, at most
    ``checks`` routes are tried alone."""
    model = build(problem, matrix, screening)
    # The limit bounds reading the routes in too.
    model.routing.CloseModelWithParameters(search_parameters(MODEL_CHECK_LIMIT))
    fixed: dict[int, list[tuple[Any, int]]] = {}  # OR-Tools expressions (no stubs), and their time
    for v, route in routes.items():
        tech = problem.technicians[v]
        intervals = sorted(
            zip(
                [(b.window.start, b.window.end - b.duration, b.duration) for b in pending_breaks(tech)],
                model.breaks.get(v, []),
                strict=True,
            ),
            key=lambda pair: pair[0],
        )
        starts = [(interval.StartExpr(), a) for (_, interval), (a, _) in zip(intervals, timings[v].breaks, strict=True)]
        visits = [(model.time.CumulVar(model.job_index(j)), s) for j, s in zip(route, timings[v].starts, strict=True)]
        fixed[v] = [*starts, *visits]
    refused = sorted(v for v, pairs in fixed.items() if not all(x.Min() <= at <= x.Max() for x, at in pairs))
    try:
        for v in set(fixed) - set(refused):
            for x, at in fixed[v]:
                x.SetRange(at, at)
    except Exception:  # noqa: BLE001 (OR-Tools' "CP Solver fail": a time the model cannot take)
        if len(routes) == 1:
            return list(routes)
        out: list[int] = []
        for v in routes:  # each alone, in a model of its own
            out += _refused(problem, matrix, _holding(screening, routes[v]), {v: routes[v]}, timings, 1)
        return out
    indices = [
        [model.job_index(j) for j in routes[v]] if v in routes and v not in refused else []
        for v in range(model.routing.vehicles())
    ]
    if model.routing.ReadAssignmentFromRoutes(indices, True) is not None:
        return refused
    return sorted(refused + _refused_alone(model.routing, indices, max(checks - len(refused), 0)))


def _refused_alone(routing: pywrapcp.RoutingModel, indices: list[list[int]], limit: int) -> list[int]:
    """The technicians, among the first ``limit`` with a route in ``indices`` (node indices per
    vehicle), whose route the closed model refuses when it is read in alone."""
    refused = []
    for v in [v for v, route in enumerate(indices) if route][:limit]:
        alone = [route if k == v else [] for k, route in enumerate(indices)]
        if routing.ReadAssignmentFromRoutes(alone, True) is None:
            refused.append(v)
    return refused


def _holding(screening: Screening, jobs: list[int]) -> Screening:
    """``screening`` with only ``jobs`` left eligible: the jobs an OR-Tools check's model holds."""
    held = set(jobs)
    return dataclasses.replace(screening, eligible=[e if j in held else [] for j, e in enumerate(screening.eligible)])


def _load(model: Model, routes: Routes) -> pywrapcp.Assignment | None:
    """Load ``routes`` into the closed model. If the full model refuses them (it should not: they
    are rebuilt to keep every rule), drop the refused technicians' routes, testing each alone,
    a bounded number of times, rather than lose the whole warm start."""
    routing = model.routing
    indices = [[model.job_index(j) for j in routes.by_technician.get(v, [])] for v in range(routing.vehicles())]
    initial = routing.ReadAssignmentFromRoutes(indices, True)
    if initial is not None:
        return initial
    for v in _refused_alone(routing, indices, MAX_ROUTE_CHECKS):
        log.info("warm start: technician %d's route refused; left to OR-Tools", v)
        indices[v] = []
    return routing.ReadAssignmentFromRoutes(indices, True)


class _Score:
    """The objective as one number (cost plus the drop penalties of the jobs not served), as
    OR-Tools would report it: for progress reports and the plan's stats."""

    def __init__(self, problem: Problem, matrix: DayMatrix, screening: Screening, objective: Objective) -> None:
        points = [p for v in range(len(problem.technicians)) for p in (matrix.start_point(v), matrix.end_point(v))]
        points += [matrix.job_point(j) for j in range(len(problem.jobs)) if screening.eligible[j]]
        idx = np.asarray(points, dtype=np.int64)
        longest = int(np.minimum(matrix.durations[np.ix_(idx, idx)], screening.horizon + 1).max(initial=0))
        self.penalties = drop_penalties(problem, screening, longest, stable=objective.stable)
        self.problem = problem
        self.eligible = [j for j in range(len(problem.jobs)) if screening.eligible[j]]

    def value(self, routes: dict[int, list[int]], cost: int) -> int:
        served = {j for r in routes.values() for j in r}
        return cost + sum(self.penalties[self.problem.jobs[j].priority] for j in self.eligible if j not in served)
