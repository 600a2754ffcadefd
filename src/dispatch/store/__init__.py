"""Plans by ``plan_id`` with a version: in process by default, in Redis when configured.

A stored plan is the whole live day: the problem as known now, the current plan and the
facts of the day (``DayState``). Writes are optimistic: ``put(..., expected_version=n)``
succeeds only while version ``n`` is the current one, so two re-plans of the same version
never both land (the loser gets ``VersionConflictError``, never a lost update).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from dispatch.domain import DayState, Plan, Problem
from dispatch.errors import PlanNotFoundError, VersionConflictError


@dataclass(frozen=True, kw_only=True)
class StoredPlan:
    """One live day: ``plan.version`` is its version."""

    problem: Problem
    plan: Plan
    state: DayState = field(default_factory=DayState)

    @property
    def version(self) -> int:
        return self.plan.version


class PlanStore(Protocol):
    def get(self, plan_id: str) -> StoredPlan | None:
        """The current version of the plan, or ``None``."""
        ...

    def put(self, record: StoredPlan, *, expected_version: int | None = None) -> StoredPlan:
        """Store ``record`` as the next version of its plan id and return it with that version.

        With ``expected_version``, the write succeeds only if that is the current version
        (``PlanNotFoundError`` if there is none, ``VersionConflictError`` if another one is).
        Without it (a new ``Solve``), the plan is replaced whatever its version.
        """
        ...


def next_version(record: StoredPlan, plan_id: str, current: int | None, expected: int | None) -> StoredPlan:
    """``record`` at the version after ``current``, or the error ``expected`` calls for."""
    if expected is not None:
        if current is None:
            raise PlanNotFoundError(f"no plan {plan_id!r}")
        if current != expected:
            raise VersionConflictError(plan_id, expected, current)
    return dataclasses.replace(record, plan=dataclasses.replace(record.plan, version=(current or 0) + 1))


class MemoryPlanStore:
    """The embedded default: the newest ``max_plans`` plans in this process (least recently used go first)."""

    def __init__(self, max_plans: int = 10_000) -> None:
        self._plans: OrderedDict[str, StoredPlan] = OrderedDict()
        self._lock = threading.Lock()
        self.max_plans = max_plans

    def get(self, plan_id: str) -> StoredPlan | None:
        with self._lock:
            record = self._plans.get(plan_id)
            if record is not None:
                self._plans.move_to_end(plan_id)
            return record

    def put(self, record: StoredPlan, *, expected_version: int | None = None) -> StoredPlan:
        plan_id = record.plan.plan_id
        with self._lock:
            previous = self._plans.get(plan_id)
            stored = next_version(record, plan_id, previous.version if previous else None, expected_version)
            self._plans[plan_id] = stored
            self._plans.move_to_end(plan_id)
            while len(self._plans) > self.max_plans:
                self._plans.popitem(last=False)
            return stored
