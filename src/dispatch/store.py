"""Plans by ``plan_id`` with a version (in process; Redis comes with the plan-store issue)."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from dispatch.domain import Plan, Problem


@dataclass(frozen=True)
class StoredPlan:
    problem: Problem
    plan: Plan


class MemoryPlanStore:
    """Keeps the latest version of each plan; every save of a plan id bumps its version."""

    def __init__(self, max_plans: int = 10_000) -> None:
        self._plans: dict[str, StoredPlan] = {}
        self._lock = threading.Lock()
        self.max_plans = max_plans

    def save(self, problem: Problem, plan: Plan) -> Plan:
        """Store ``plan`` as the next version of its id and return it with that version."""
        with self._lock:
            previous = self._plans.get(plan.plan_id)
            versioned = dataclasses.replace(plan, version=previous.plan.version + 1 if previous else 1)
            self._plans.pop(plan.plan_id, None)
            self._plans[plan.plan_id] = StoredPlan(problem=problem, plan=versioned)
            while len(self._plans) > self.max_plans:  # oldest first (dicts keep insertion order)
                self._plans.pop(next(iter(self._plans)))
            return versioned

    def get(self, plan_id: str) -> StoredPlan | None:
        with self._lock:
            return self._plans.get(plan_id)
