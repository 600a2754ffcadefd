"""The solver: ``solve(problem, matrix) -> Plan``, the one way in for the service, CLI and benchmarks.

The searches (OR-Tools, PyVRP, VROOM) are imported where a search runs (``solve``), so a process
that only uses the solver's plain-Python parts (the server's quick re-plans) does not load them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dispatch.domain import Plan, PlanStats, Problem
from dispatch.matrix import DayMatrix
from dispatch.solver.screen import Screening, screen


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
        Seconds for the whole call (screening, search and finishing); default the problem's
        ``options.time_limit``. Whatever it is, the answer is the best plan found in it.
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

    from dispatch.solver import search  # noqa: PLC0415 (the searches' libraries only where one runs)

    def report(objective: int) -> None:
        if on_progress is not None:
            on_progress(Progress(objective=objective, elapsed=time.monotonic() - began))

    return search.run(
        problem,
        matrix,
        screening,
        began=began,
        deadline=began + budget,
        start=start,
        on_progress=report if on_progress is not None else None,
    )


def _no_search(problem: Problem, screening: Screening, began: float) -> Plan:
    return Plan(
        plan_id=problem.plan_id,
        epoch=problem.epoch,
        unassigned=tuple(screening.unassigned[j] for j in sorted(screening.unassigned)),
        stats=PlanStats(solver_status="NO_SEARCH_NEEDED", solve_time=time.monotonic() - began),
    )


__all__ = ["Progress", "ProgressCallback", "solve"]
