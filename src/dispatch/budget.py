"""The time one call may take, in one place: its own limit and its caller's deadline.

A ``Solve`` or a re-plan has a time limit (``options.time_limit``: the whole call, travel
matrix and checks included) and, over gRPC, a caller who stops listening at a deadline; the
answer must leave ``margin`` seconds before that deadline to reach it. Each step (the travel
matrix, the search, the worker's kill time) asks the ``Budget`` when it must end instead of
doing the arithmetic itself. Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    #: When the call began.
    began: float
    #: Seconds the call may take.
    limit: float
    #: When the caller stops listening (None: it waits as long as it takes).
    deadline: float | None = None
    #: Seconds kept before ``deadline`` for the answer to reach the caller.
    margin: float = 0.0

    @classmethod
    def start(cls, limit: float, deadline: float | None = None, margin: float = 0.0) -> Budget:
        """A budget beginning now."""
        return cls(began=time.monotonic(), limit=limit, deadline=deadline, margin=margin)

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def answer_by(self) -> float | None:
        """When the answer must be on its way to the caller (None: no deadline)."""
        return None if self.deadline is None else self.deadline - self.margin

    def by(self, seconds: float, *, before_answer: float = 0.0) -> float:
        """When a step given at most ``seconds`` from the call's beginning must end: then, or
        ``before_answer`` seconds before the answer is due, whichever comes first."""
        end = self.began + seconds
        due = self.answer_by()
        return end if due is None else min(end, due - before_answer)

    def seconds_left(self, *, keep: float = 0.0, floor: float = 0.0) -> float:
        """Seconds left of the limit less ``keep`` (for what follows), at least ``floor``, and
        never past the moment the answer is due (so possibly zero or less: no time left)."""
        left = max(self.limit - self.elapsed() - keep, floor)
        due = self.answer_by()
        return left if due is None else min(left, due - time.monotonic())
