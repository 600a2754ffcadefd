"""The solver: ``solve(problem, matrix) -> Plan``, the one way in for the service, CLI and benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ortools.constraint_solver import routing_enums_pb2

from dispatch.domain import Plan, PlanStats, Problem
from dispatch.errors import DeadlineError
from dispatch.matrix import DayMatrix
from dispatch.solver import search
from dispatch.solver.extract import extract
from dispatch.solver.model import build
from dispatch.solver.screen import screen


@dataclass(frozen=True)
class Progress:
    """An improving solution found during the search."""

    objective: int
    elapsed: float


ProgressCallback = Callable[[Progress], None]


def solve(
    problem: Problem,
    matrix: DayMatrix,
    *,
    time_limit: float | None = None,
    on_progress: ProgressCallback | None = None,
    start: dict[int, list[int]] | None = None,
) -> Plan:
    """Plan the day: assign and time every job that can be served.

    Parameters
    ----------
    problem
        A validated problem.
    matrix
        Travel between the day's points (``dispatch.matrix.day_matrix``).
    time_limit
        Seconds for the whole call (screening, model build and search); default the
        problem's ``options.time_limit``.
    on_progress
        Called in the solving process with each improving solution.
    start
        Routes to start from (job indices per technician index), e.g. a re-plan's quick answer.

    Returns
    -------
    Plan
        Routes with timed visits and breaks, and every job not served with a reason.
    """
    began = time.monotonic()
    budget = problem.options.time_limit if time_limit is None else time_limit
    screening = screen(problem, matrix)
    if len(screening.unassigned) == len(problem.jobs):
        return _no_search(problem, screening, began)
    model = build(problem, matrix, screening)
    routing = model.routing
    best: list[int] = []

    def at_solution() -> None:
        objective = routing.CostVar().Max()
        if on_progress is not None and (not best or objective < best[-1]):
            best.append(objective)
            on_progress(Progress(objective=objective, elapsed=time.monotonic() - began))

    routing.AddAtSolutionCallback(at_solution)
    solution, _ = search.run(model, deadline=began + budget, start=start)
    status = status_name(routing.status())
    if solution is None:
        # Every job is droppable, so only a budget too short for the first solution gets here.
        raise DeadlineError(f"no plan found within {budget:.2f} s (routing status {status})")
    return extract(model, solution, status=status, solve_time=time.monotonic() - began)


def status_name(status: object) -> str:
    """``ROUTING_SUCCESS`` etc.: ``routing.status()`` is a bare int since OR-Tools 9.12."""
    try:
        return str(routing_enums_pb2.RoutingSearchStatus.Value.Name(int(status)))  # type: ignore[call-overload]
    except (ValueError, TypeError):
        return str(status)


def _no_search(problem: Problem, screening, began: float) -> Plan:  # type: ignore[no-untyped-def]
    return Plan(
        plan_id=problem.plan_id,
        epoch=problem.epoch,
        unassigned=tuple(screening.unassigned[j] for j in sorted(screening.unassigned)),
        stats=PlanStats(solver_status="NO_SEARCH_NEEDED", solve_time=time.monotonic() - began),
    )


__all__ = ["Progress", "ProgressCallback", "solve"]
