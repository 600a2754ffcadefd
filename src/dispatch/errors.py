"""One error hierarchy. Transport codes for these live in one table each:
``dispatch.server.errors`` (gRPC) and ``dispatch.cli`` (exit codes).

Infeasibility is not an error: an unserved job is ``Unassigned`` data in the plan.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: ``field`` is a path such as ``jobs[3].time_windows[0]``."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class DispatchError(Exception):
    """Base of every error the service raises on purpose."""


class ProblemError(DispatchError):
    """The request is malformed; ``violations`` lists every bad field."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = list(violations)
        shown = "; ".join(str(v) for v in self.violations[:5])
        more = f" (and {len(self.violations) - 5} more)" if len(self.violations) > 5 else ""
        super().__init__(f"invalid request: {shown}{more}")


class OverloadedError(DispatchError):
    """Every solver worker is busy and the wait queue is full."""


class DeadlineError(DispatchError):
    """The request's deadline passed before a plan was ready."""


class WorkerCrashedError(DispatchError):
    """The solver worker process died while solving this request."""


class NotConfiguredError(DispatchError):
    """The request needs something this server is not configured for."""


class PlanNotFoundError(DispatchError):
    """No plan is stored under the id (never solved here, or expired)."""


class VersionConflictError(DispatchError):
    """A write named a version of the plan that is no longer the current one."""

    def __init__(self, plan_id: str, expected: int, current: int) -> None:
        self.plan_id, self.expected, self.current = plan_id, expected, current
        super().__init__(
            f"plan {plan_id!r} is at version {current}, not {expected}: fetch it (GetPlan) and re-apply the events"
        )


class PlanExistsError(DispatchError):
    """A ``Solve`` named a plan that already has a live day (and did not ask to replace it)."""

    def __init__(self, plan_id: str, current: int) -> None:
        self.plan_id, self.current = plan_id, current
        super().__init__(
            f"plan {plan_id!r} already has a live day at version {current}: re-plan it (Reoptimize), "
            "or Solve with replace: true to plan it anew"
        )


class OverrideError(DispatchError):
    """A dispatcher's override (``assign``) that the day cannot honour: nothing is stored.

    ``violations`` name the event (``events[2].assign``) and the rule that rules it out."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = violations
        super().__init__("; ".join(str(v) for v in violations))


class ProviderUnavailableError(DispatchError):
    """A travel provider (Google) did not answer for something the request cannot do without
    (a technician's address to geocode). Travel times themselves fall back instead."""


class StoreUnavailableError(DispatchError):
    """The plan store (Redis) cannot be reached in time. A write that timed out may still have
    landed: read the plan (``GetPlan``) before re-sending events."""


class ConfigError(DispatchError):
    """The service's own configuration (an environment variable, a file it names) is unusable:
    raised at start-up, naming the variable and never its secret value."""
