"""Search parameters: one place, used alike by the service and the benchmarks."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from ortools.constraint_solver import pywrapcp, routing_enums_pb2


def search_parameters(time_limit: float) -> object:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    limit = Duration()
    limit.FromNanoseconds(int(max(time_limit, 0.01) * 1e9))
    params.time_limit.CopyFrom(limit)
    return params
