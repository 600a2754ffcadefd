"""The application service: validate -> travel matrix -> solver -> plan store.

Transport-agnostic: the gRPC servicer and the CLI both call ``Dispatcher``; nothing
here knows protobuf. ``bootstrap()`` is the one place that builds clients and pools
from settings, so nothing connects at import.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from dispatch.check import PlanViolation, check_plan
from dispatch.domain import Plan, Problem, TravelModel
from dispatch.errors import DeadlineError, FieldViolation, NotConfiguredError
from dispatch.matrix import DayMatrix, ExplicitProvider, GreatCircleProvider, MatrixProvider, day_matrix
from dispatch.store import MemoryPlanStore
from dispatch.validate import DEFAULT_LIMITS, Limits, validate

log = logging.getLogger("dispatch")


class Runner(Protocol):
    """Runs a search: the worker pool in the server, the calling process in the CLI."""

    def solve(
        self,
        problem: Problem,
        matrix: DayMatrix,
        *,
        time_limit: float,
        deadline: float | None = None,
        on_progress: Callable[[object], None] | None = None,
        on_worker: Callable[[int | None], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Plan: ...


class InProcessRunner:
    """Solve in the calling process (the CLI's default: one request, nothing to isolate)."""

    def solve(
        self,
        problem: Problem,
        matrix: DayMatrix,
        *,
        time_limit: float,
        deadline: float | None = None,
        on_progress: Callable[[object], None] | None = None,
        on_worker: Callable[[int | None], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Plan:
        from dispatch.solver import solve  # noqa: PLC0415 (OR-Tools only where a search runs)

        return solve(problem, matrix, time_limit=time_limit, on_progress=on_progress)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything configurable, read once from the environment (``from_env``)."""

    workers: int = 2
    max_waiting: int = 8
    limits: Limits = field(default_factory=Limits)
    circuity: float = 1.35
    speed_kmh: float = 35.0
    #: Seconds kept back from the RPC deadline to build the answer and send it.
    deadline_margin: float = 0.5

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if "DISPATCH_WORKERS" in env:
            values["workers"] = int(env["DISPATCH_WORKERS"])
        if "DISPATCH_MAX_WAITING" in env:
            values["max_waiting"] = int(env["DISPATCH_MAX_WAITING"])
        if "DISPATCH_GC_CIRCUITY" in env:
            values["circuity"] = float(env["DISPATCH_GC_CIRCUITY"])
        if "DISPATCH_GC_SPEED_KMH" in env:
            values["speed_kmh"] = float(env["DISPATCH_GC_SPEED_KMH"])
        limits = {}
        for name in ("max_jobs", "max_technicians"):
            key = f"DISPATCH_{name.upper()}"
            if key in env:
                limits[name] = int(env[key])
        if "DISPATCH_MAX_TIME_LIMIT" in env:
            limits["max_time_limit"] = float(env["DISPATCH_MAX_TIME_LIMIT"])
        if limits:
            values["limits"] = dataclasses.replace(DEFAULT_LIMITS, **limits)  # type: ignore[arg-type]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


class Dispatcher:
    """Plans days. One instance per process, built by ``bootstrap``."""

    def __init__(self, *, runner: Runner, settings: Settings, store: MemoryPlanStore | None = None) -> None:
        self.runner = runner
        self.settings = settings
        self.store = store or MemoryPlanStore()
        self.great_circle = GreatCircleProvider(circuity=settings.circuity, speed_kmh=settings.speed_kmh)

    @property
    def travel_models(self) -> frozenset[TravelModel]:
        return frozenset({TravelModel.GREAT_CIRCLE, TravelModel.EXPLICIT})

    def provider(self, problem: Problem) -> MatrixProvider:
        model = problem.options.travel_model
        if model is TravelModel.EXPLICIT:
            assert problem.travel_matrix is not None  # validated
            return ExplicitProvider(problem.travel_matrix)
        if model is TravelModel.GREAT_CIRCLE:
            return self.great_circle
        raise NotConfiguredError(f"travel_model {model.value} is not configured on this server")

    def prepare(self, problem: Problem, shape: list[FieldViolation] | None = None) -> tuple[Problem, DayMatrix]:
        """Validate (raising ``ProblemError``), name the plan, and build its travel matrix."""
        validate(problem, limits=self.settings.limits, travel_models=self.travel_models, violations=shape)
        if not problem.plan_id:
            problem = dataclasses.replace(problem, plan_id=uuid.uuid4().hex)
        return problem, day_matrix(problem, self.provider(problem))

    def solve(
        self,
        problem: Problem,
        shape: list[FieldViolation] | None = None,
        *,
        deadline: float | None = None,
        on_progress: Callable[[object], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Plan:
        """Plan ``problem`` within its time limit and ``deadline`` (``time.monotonic()`` seconds).

        The time limit covers the whole call: validation and the travel matrix come out of it
        (but the search keeps at least a tenth of it).
        """
        began = time.monotonic()
        problem, matrix = self.prepare(problem, shape)
        limit = problem.options.time_limit
        budget = max(limit - (time.monotonic() - began), 0.1 * limit)
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic() - self.settings.deadline_margin)
            if budget <= 0:
                raise DeadlineError("the request's deadline leaves no time to solve")
        plan = self.runner.solve(
            problem, matrix, time_limit=budget, deadline=deadline, on_progress=on_progress, cancelled=cancelled
        )
        plan = self._checked(problem, matrix, plan)
        plan = self.store.save(problem, plan)
        log.info(
            "solved plan %s v%d: %d assigned, %d unassigned, travel %d s in %.2f s",
            plan.plan_id,
            plan.version,
            len(plan.assigned_job_ids),
            len(plan.unassigned),
            plan.stats.total_travel_duration,
            plan.stats.solve_time,
        )
        return plan

    @staticmethod
    def _checked(problem: Problem, matrix: DayMatrix, plan: Plan) -> Plan:
        """Run the independent checker on a fresh plan; anything it finds is a solver bug,
        logged as an error and reported in the plan's warnings rather than hidden."""
        violations = check_plan(problem, matrix, plan)
        if not violations:
            return plan
        for v in violations:
            log.error(
                "checker: plan %s: %s %s (technician %r, job %r)",
                plan.plan_id,
                v.code,
                v.message,
                v.technician_id,
                v.job_id,
            )
        warnings = [f"checker {v.code}: {v.message}" for v in violations]
        return dataclasses.replace(
            plan, stats=dataclasses.replace(plan.stats, warnings=(*plan.stats.warnings, *warnings))
        )

    def check(self, problem: Problem, plan: Plan, shape: list[FieldViolation] | None = None) -> list[PlanViolation]:
        """Every constraint ``plan`` violates for ``problem`` (empty: feasible)."""
        problem, matrix = self.prepare(problem, shape)
        return check_plan(problem, matrix, plan)


def bootstrap(settings: Settings | None = None, *, pool: bool = True) -> Dispatcher:
    """Build the dispatcher: a started solver pool (or in-process solving) and the stores."""
    settings = settings or Settings.from_env()
    if pool:
        from dispatch.solver.pool import SolverPool  # noqa: PLC0415

        runner: Runner = SolverPool(settings.workers, max_waiting=settings.max_waiting)
        runner.start()  # type: ignore[attr-defined]
    else:
        runner = InProcessRunner()
    return Dispatcher(runner=runner, settings=settings)
