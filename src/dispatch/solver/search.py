"""The search: one place, used alike by the service and the benchmarks.

A day PyVRP can express exactly (no breaks left to take; see ``warm_start``) is first
solved by PyVRP for most of the budget; OR-Tools loads those routes, which re-checks every
constraint of the full model, and improves on them with guided local search for the rest.
Any other day, a budget too short for that, or routes the model refuses go straight to
OR-Tools: parallel cheapest insertion, then guided local search.
"""

from __future__ import annotations

import logging
import time

from google.protobuf.duration_pb2 import Duration
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.solver.model import Model
from dispatch.solver.warm_start import Routes, exact, pyvrp_routes

log = logging.getLogger("dispatch")

#: Share of the budget PyVRP gets when it can express the day.
WARM_START_SHARE = 0.9
#: Below this many seconds of budget the warm start is not worth its set-up.
WARM_START_MIN_BUDGET = 0.3
#: Routes checked one by one when the full model refuses a warm start.
MAX_ROUTE_CHECKS = 50


def search_parameters(time_limit: float) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    limit = Duration()
    limit.FromNanoseconds(int(max(time_limit, 0.01) * 1e9))
    params.time_limit.CopyFrom(limit)
    return params


def run(
    model: Model, *, deadline: float, start: dict[int, list[int]] | None = None
) -> tuple[pywrapcp.Assignment | None, str]:
    """Search until ``deadline`` (``time.monotonic()``); return the best assignment and how it started.

    ``start`` (job indices per technician index, e.g. a re-plan's quick answer) is loaded and
    improved on; without it a day PyVRP can express is warm-started from PyVRP's routes.
    """
    routing = model.routing
    remaining = deadline - time.monotonic()
    if start is not None:
        routing.CloseModelWithParameters(search_parameters(remaining))
        in_model = set(model.job_of_node.values())
        initial = _load(model, Routes(by_technician={v: [j for j in r if j in in_model] for v, r in start.items()}))
        if initial is not None:
            params = search_parameters(deadline - time.monotonic())
            return routing.SolveFromAssignmentWithParameters(initial, params) or initial, "given"
        log.warning("start routes rejected by the model; searching from scratch")
    elif remaining >= WARM_START_MIN_BUDGET and exact(model.problem) and not model.stable:
        routes = pyvrp_routes(model.problem, model.matrix, model.screening, time_limit=WARM_START_SHARE * remaining)
        if routes is not None:
            routing.CloseModelWithParameters(search_parameters(deadline - time.monotonic()))
            initial = _load(model, routes)
            if initial is not None:
                params = search_parameters(deadline - time.monotonic())
                # With the budget spent (a slow machine, a tight deadline) OR-Tools may return
                # nothing; the loaded warm start is itself a complete, checked assignment.
                return routing.SolveFromAssignmentWithParameters(initial, params) or initial, "pyvrp"
            log.warning("warm start: OR-Tools rejected PyVRP's routes; searching from scratch")
    return routing.SolveWithParameters(search_parameters(deadline - time.monotonic())), "or-tools"


def _load(model: Model, routes: Routes) -> pywrapcp.Assignment | None:
    """Load ``routes`` into the closed model. If the full model refuses them (it should not: they
    are rebuilt to keep every rule), drop the refused technicians' routes, testing each alone,
    a bounded number of times, rather than lose the whole warm start."""
    routing = model.routing
    indices = [[model.job_index(j) for j in routes.by_technician.get(v, [])] for v in range(routing.vehicles())]
    initial = routing.ReadAssignmentFromRoutes(indices, True)
    if initial is not None:
        return initial
    for v in [v for v, route in enumerate(indices) if route][:MAX_ROUTE_CHECKS]:
        alone = [route if k == v else [] for k, route in enumerate(indices)]
        if routing.ReadAssignmentFromRoutes(alone, True) is None:
            log.info("warm start: technician %d's route refused; left to OR-Tools", v)
            indices[v] = []
    return routing.ReadAssignmentFromRoutes(indices, True)
