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
from dispatch.solver.warm_start import exact, pyvrp_routes

log = logging.getLogger("dispatch")

#: Share of the budget PyVRP gets when it can express the day.
WARM_START_SHARE = 0.9
#: Below this many seconds of budget the warm start is not worth its set-up.
WARM_START_MIN_BUDGET = 0.3


def search_parameters(time_limit: float) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    limit = Duration()
    limit.FromNanoseconds(int(max(time_limit, 0.01) * 1e9))
    params.time_limit.CopyFrom(limit)
    return params


def run(model: Model, *, deadline: float) -> tuple[pywrapcp.Assignment | None, str]:
    """Search until ``deadline`` (``time.monotonic()``); return the best assignment and how it started."""
    routing = model.routing
    remaining = deadline - time.monotonic()
    if remaining >= WARM_START_MIN_BUDGET and exact(model.problem):
        routes = pyvrp_routes(model.problem, model.matrix, model.screening, time_limit=WARM_START_SHARE * remaining)
        if routes is not None:
            routing.CloseModelWithParameters(search_parameters(deadline - time.monotonic()))
            indices = [[model.job_index(j) for j in routes.by_technician.get(v, [])] for v in range(routing.vehicles())]
            initial = routing.ReadAssignmentFromRoutes(indices, True)
            if initial is not None:
                params = search_parameters(deadline - time.monotonic())
                return routing.SolveFromAssignmentWithParameters(initial, params), "pyvrp"
            log.warning("warm start: OR-Tools rejected PyVRP's routes; searching from scratch")
    return routing.SolveWithParameters(search_parameters(deadline - time.monotonic())), "or-tools"
