"""The planning service: validate -> travel matrix -> search -> checker -> plan store -> ETAs.

Transport-agnostic: the gRPC servicer and the CLI both call ``PlanningService``; nothing here
knows protobuf, Redis or Twilio (they come in as the ports it is given: ``PlanStore``,
``EtaStream``, ``Runner``, the matrix providers). ``dispatch.bootstrap`` builds it from the
settings, so nothing connects at import.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable

from dispatch import metrics
from dispatch.budget import Budget
from dispatch.check import PlanViolation, check_plan, checked
from dispatch.config import Settings
from dispatch.domain import Plan, Problem, Replan, TravelModel
from dispatch.errors import DeadlineError, DispatchError, FieldViolation, NotConfiguredError, PlanNotFoundError
from dispatch.eta import EtaEvent, eta_events
from dispatch.matrix import DayMatrix, ExplicitProvider, GreatCircleProvider, MatrixProvider, day_matrix
from dispatch.matrix.cached_provider import CachedProvider
from dispatch.matrix.geocode import place
from dispatch.notify.health import Health, IntegrationLog
from dispatch.reopt.day import initial_state
from dispatch.reopt.replan import ReplanResult, reoptimize
from dispatch.solver.retime import departures, label, retime
from dispatch.solver.runner import Runner, SearchCall
from dispatch.store import MemoryPlanStore, PlanStore, StoredPlan
from dispatch.stream import EtaStream, MemoryEtaStream
from dispatch.validate import validate

log = logging.getLogger("dispatch")

#: ETA events held while the stream is down (the newest kept).
OUTBOX_MAX = 100_000


class PlanningService:
    """Plans days and re-plans them: validate -> travel matrix -> search -> checker -> plan store
    -> ETA events. One instance per process, built by ``dispatch.bootstrap``."""

    def __init__(
        self,
        *,
        runner: Runner,
        settings: Settings,
        store: PlanStore | None = None,
        google: CachedProvider | None = None,
        etas: EtaStream | None = None,
        integrations: IntegrationLog | None = None,
    ) -> None:
        self.runner = runner
        self.settings = settings
        self.store = store or MemoryPlanStore()
        self.great_circle = GreatCircleProvider(circuity=settings.circuity, speed_kmh=settings.speed_kmh)
        self.google = google
        self.etas: EtaStream = etas or MemoryEtaStream()
        self.integrations = integrations or IntegrationLog(window=settings.health_window)
        self._outbox: list[EtaEvent] = []
        self._outbox_lock = threading.Lock()

    def health(self) -> list[tuple[Health, bool]]:
        """The integrations' health reports, each with whether it is configured in this process."""
        configured = {"google": self.google is not None, "twilio": self.settings.twilio is not None}
        return [(h, configured.get(h.integration, False)) for h in self.integrations.reports()]

    @property
    def travel_models(self) -> frozenset[TravelModel]:
        offered = {TravelModel.GREAT_CIRCLE, TravelModel.EXPLICIT}
        if self.google is not None:
            offered.add(TravelModel.GOOGLE)
        return frozenset(offered)

    def provider(self, problem: Problem) -> MatrixProvider:
        model = problem.options.travel_model
        if model is TravelModel.EXPLICIT:
            assert problem.travel_matrix is not None  # validated
            return ExplicitProvider(problem.travel_matrix)
        if model is TravelModel.GREAT_CIRCLE:
            return self.great_circle
        if model is TravelModel.GOOGLE and self.google is not None:
            return self.google
        raise NotConfiguredError(f"travel_model {model.value} is not configured on this server")

    def admit(self) -> None:
        """Raise ``OverloadedError`` if a solve would be refused for want of a solver worker now:
        called before the request is even converted, so a full server answers ``RESOURCE_EXHAUSTED``
        in microseconds instead of validating a day it cannot plan."""
        self.runner.admit()

    def prepare(
        self, problem: Problem, shape: list[FieldViolation] | None = None, *, deadline: float | None = None
    ) -> tuple[Problem, DayMatrix]:
        """Validate (raising ``ProblemError``), name the plan, geocode its addresses and build its
        travel matrix, by ``deadline`` (``time.monotonic()``) at the latest."""
        validate(problem, limits=self.settings.limits, travel_models=self.travel_models, violations=shape)
        if not problem.plan_id:
            problem = dataclasses.replace(problem, plan_id=uuid.uuid4().hex)
        problem, unplaced = self.place(problem, deadline=deadline)
        matrix = day_matrix(
            problem,
            self.provider(problem),
            deadline=deadline,
            unplaced=unplaced,
            bucket=self.settings.cache.traffic_bucket,
        )
        return problem, matrix

    def place(self, problem: Problem, *, deadline: float | None = None) -> tuple[Problem, dict[int, str]]:
        """Geocode the locations given only as an address (``dispatch.matrix.geocode.place``)."""
        return place(problem, self.google, deadline=deadline)

    @metrics.timed(metrics.SOLVE_DURATION)
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
        (but the search keeps at least a tenth of it). Counted in ``dispatch_solve_duration_seconds``.
        """
        budget = Budget.start(problem.options.time_limit, deadline, self.settings.deadline_margin)
        problem, matrix = self.prepare(problem, shape, deadline=self._travel_deadline(budget))
        seconds = budget.seconds_left(floor=0.1 * problem.options.time_limit)
        if seconds <= 0:
            raise DeadlineError("the request's deadline leaves no time to solve")
        plan = self.runner.solve(
            SearchCall(
                problem=problem,
                matrix=matrix.for_solver(),
                time_limit=seconds,
                budget=budget,
                on_progress=on_progress,
                cancelled=cancelled,
            )
        )
        plan, matrix = retime(problem, matrix, plan)
        plan = label(problem, matrix, plan)
        plan, _ = checked(problem, matrix, plan)
        state = initial_state(plan, promise_slack=self.settings.promise_slack)
        events, told = eta_events(problem, plan, now=0, threshold=self.settings.eta_threshold)
        state = dataclasses.replace(state, announced=told)
        plan = self.store.put(StoredPlan(problem=problem, plan=plan, state=state)).plan
        self.publish(events, plan.version)
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

    def publish(self, events: list[EtaEvent], version: int) -> None:
        """Put a stored version's ETA events on the stream. The version is stored already, so a
        stream that fails keeps the events in an outbox, sent first with the next ones: late,
        never lost while this process lives (logged, and counted in ``eta_outbox``)."""
        events = [dataclasses.replace(e, version=version) for e in events]
        for event in events:
            metrics.ETA_EVENTS.labels(event.kind.value).inc()
        with self._outbox_lock:
            pending = [*self._outbox, *events]
            self._outbox.clear()
            if not pending:
                return
            try:
                self.etas.publish(pending)
            except DispatchError as exc:
                self._outbox.extend(pending[-OUTBOX_MAX:])
                log.error("ETA stream: %s; %d event(s) held to publish later", exc, len(self._outbox))

    @property
    def eta_outbox(self) -> int:
        return len(self._outbox)

    def flush_etas(self) -> None:
        """Publish what the outbox holds (the server calls this every second): an emergency held
        through a short Redis outage goes out when Redis is back, not with the next plan."""
        if self._outbox:
            self.publish([], 0)

    def _travel_deadline(self, budget: Budget) -> float:
        """When the travel matrix must be ready: half the time limit (at least 2 s, at most the
        provider's retry time), and a second before the answer is due."""
        retry = self.settings.google.retry_timeout if self.settings.google else 10.0
        return budget.by(min(retry, max(2.0, 0.5 * budget.limit)), before_answer=1.0)

    def check(
        self,
        problem: Problem,
        plan: Plan,
        shape: list[FieldViolation] | None = None,
        *,
        deadline: float | None = None,
    ) -> list[PlanViolation]:
        """Every constraint ``plan`` violates for ``problem`` (empty: feasible). With traffic, each
        leg is timed with the bucket of the plan's own departure from its origin."""
        by = Budget.start(0.0, deadline, self.settings.deadline_margin).answer_by()
        problem, matrix = self.prepare(problem, shape, deadline=by)
        return check_plan(problem, matrix.departing(departures(problem, matrix, plan)), plan)

    # ------------------------------------------------------------------ the live day

    def get_plan(self, plan_id: str) -> StoredPlan:
        record = self.store.get(plan_id)
        if record is None:
            raise PlanNotFoundError(f"no plan {plan_id!r} (never solved here, or expired)")
        return record

    def reoptimize(
        self,
        replan: Replan,
        shape: list[FieldViolation] | None = None,
        *,
        deadline: float | None = None,
        on_result: Callable[[ReplanResult], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ReplanResult:
        """Re-plan the rest of the day after ``replan``'s events (``dispatch.reopt.replan.reoptimize``)."""
        return reoptimize(self, replan, shape, deadline=deadline, on_result=on_result, cancelled=cancelled)
