"""Where a search runs: the ``Runner`` port the planning service calls with one ``SearchCall``,
and the in-process runner (the CLI's default); the server's is the worker pool
(``dispatch.solver.pool``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dispatch.budget import Budget
from dispatch.domain import Plan, Problem
from dispatch.matrix import DayMatrix


@dataclass(frozen=True, kw_only=True)
class SearchCall:
    """One search: of ``problem`` on ``matrix`` (the solver's, without traffic buckets), for at
    most ``time_limit`` seconds, and over by the time the answer to the call it serves is due
    (``budget.answer_by()``: its caller's deadline less the margin for the answer)."""

    problem: Problem
    matrix: DayMatrix
    time_limit: float
    #: The budget of the call the search serves (None: no deadline but ``time_limit``).
    budget: Budget | None = None
    #: Routes to start from (job indices per technician index), e.g. a re-plan's quick answer.
    start: dict[int, list[int]] | None = None
    #: Called with each better solution (``dispatch.solver.Progress``).
    on_progress: Callable[[object], None] | None = None
    #: Polled while the search runs: True stops it (the caller went away).
    cancelled: Callable[[], bool] | None = None


class Runner(Protocol):
    """Runs a search: the worker pool in the server, the calling process in the CLI."""

    def solve(self, call: SearchCall) -> Plan:
        """The plan of the search ``call`` describes."""
        ...

    def admit(self) -> None:
        """Raise ``OverloadedError`` if a search would be refused now (no room to wait)."""
        ...


class InProcessRunner:
    """Solve in the calling process (the CLI's default: one request, nothing to isolate)."""

    def solve(self, call: SearchCall) -> Plan:
        from dispatch.solver import solve  # noqa: PLC0415 (OR-Tools only where a search runs)

        return solve(
            call.problem, call.matrix, time_limit=call.time_limit, on_progress=call.on_progress, start=call.start
        )

    def admit(self) -> None:
        """Always room: the caller's own process searches."""
