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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dispatch import metrics
from dispatch.budget import Budget
from dispatch.check import PlanViolation, check_plan, checked
from dispatch.config import Settings
from dispatch.cost import Admission, Cost, estimate
from dispatch.domain import (
    GOOGLE_MODELS,
    Announced,
    Answered,
    Commitment,
    Plan,
    Priority,
    Problem,
    Replan,
    TimeWindow,
    TravelModel,
)
from dispatch.errors import (
    DeadlineError,
    DispatchError,
    FieldViolation,
    NotConfiguredError,
    PlanExistsError,
    PlanNotFoundError,
    ProblemError,
    VersionConflictError,
)
from dispatch.eta import EtaEvent, EtaKind, eta_events
from dispatch.horizon import expand, with_members
from dispatch.matrix import DayMatrix, ExplicitProvider, GreatCircleProvider, MatrixProvider, day_matrix
from dispatch.matrix.cached_provider import CachedProvider
from dispatch.matrix.geocode import place
from dispatch.notify.health import Health, IntegrationLog
from dispatch.notify.templates import REQUESTED_KINDS, VARIABLES
from dispatch.reopt.day import initial_state, promises
from dispatch.reopt.replan import ReplanResult, reoptimize
from dispatch.reopt.slots import SlotsRequest, SlotSuggestions, suggest_slots
from dispatch.reopt.suggest import Suggestions, SuggestRequest, suggest
from dispatch.solver.retime import departures, label, retime
from dispatch.solver.runner import Runner, SearchCall
from dispatch.store import MemoryPlanStore, PlanStore, StoredPlan, plan_id_for, replayed, stored_answer
from dispatch.stream import EtaStream, MemoryEtaStream
from dispatch.validate import e164_phone, validate

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
        routes: CachedProvider | None = None,
        etas: EtaStream | None = None,
        integrations: IntegrationLog | None = None,
        time_zone: str = "UTC",
    ) -> None:
        self.runner = runner
        #: The time zone of plans whose request names none (the messages file's, else UTC).
        self.time_zone = time_zone
        self.settings = settings
        self.store = store or MemoryPlanStore()
        self.great_circle = GreatCircleProvider(circuity=settings.circuity, speed_kmh=settings.speed_kmh)
        self.google = google
        #: travel_model ROUTES (the Routes API): configured with the same key as GOOGLE.
        self.routes = routes
        self.etas: EtaStream = etas or MemoryEtaStream()
        self.integrations = integrations or IntegrationLog(window=settings.health_window)
        self._outbox: list[EtaEvent] = []
        self._outbox_lock = threading.Lock()
        self.admission = Admission(
            memory=settings.memory_budget,
            solves=settings.workers + settings.max_waiting,
            max_request=settings.max_request_memory,
        )

    def health(self) -> list[tuple[Health, bool]]:
        """The integrations' health reports, each with whether it is configured in this process."""
        configured = {
            "google": self.google is not None,
            "google_routes": self.routes is not None,
            "twilio": self.settings.twilio is not None,
        }
        return [(h, configured.get(h.integration, False)) for h in self.integrations.reports()]

    @property
    def travel_models(self) -> frozenset[TravelModel]:
        offered = {TravelModel.GREAT_CIRCLE, TravelModel.EXPLICIT}
        if self.google is not None:
            offered.add(TravelModel.GOOGLE)
        if self.routes is not None:
            offered.add(TravelModel.ROUTES)
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
        if model is TravelModel.ROUTES and self.routes is not None:
            return self.routes
        raise NotConfiguredError(f"travel_model {model.value} is not configured on this server")

    def admit(self) -> None:
        """Raise ``OverloadedError`` if a solve would be refused for want of a solver worker now:
        called before the request is even converted, so a full server answers ``RESOURCE_EXHAUSTED``
        in microseconds instead of validating a day it cannot plan. (``admission.reserve`` then
        holds the request's place and memory while it runs.)"""
        self.admission.check(solve=True)
        self.runner.admit()

    def cost(self, problem: Problem) -> Cost:
        """What planning ``problem`` (validated) will take (``dispatch.cost``)."""
        return estimate(
            problem,
            bucket=self.settings.cache.traffic_bucket,
            traffic_known=problem.options.travel_model in GOOGLE_MODELS,
        )

    def can_take_work(self) -> bool:
        """Whether a request would be admitted now (readiness): the memory budget not spent. (A
        full solver queue refuses solves only: re-plans, plans and ETAs are still served.)"""
        return self.admission.has_room()

    def prepare(
        self, problem: Problem, shape: list[FieldViolation] | None = None, *, deadline: float | None = None
    ) -> tuple[Problem, DayMatrix]:
        """Validate (raising ``ProblemError``), name the plan, geocode its addresses and build its
        travel matrix: what ``solve`` does before its search, for scripts that run their own
        (benchmarks, tests). Not admitted: the caller holds the matrix."""
        validate(problem, limits=self.settings.limits, travel_models=self.travel_models, violations=shape)
        problem = dataclasses.replace(problem, plan_id=problem.plan_id or plan_id_for(""))
        return self._travel(
            expand(dataclasses.replace(problem, time_zone=problem.time_zone or self.time_zone)), deadline=deadline
        )

    def _travel(self, problem: Problem, *, deadline: float | None = None) -> tuple[Problem, DayMatrix]:
        """Geocode ``problem``'s addresses and build its travel matrix, by ``deadline``
        (``time.monotonic()``) at the latest: the expensive steps, run once admitted."""
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
        request_id: str = "",
        fingerprint: str = "",
        replace: bool = False,
    ) -> Plan:
        """Plan ``problem`` within its time limit and ``deadline`` (``time.monotonic()`` seconds).

        The time limit covers the whole call: validation and the travel matrix come out of it
        (but the search keeps at least a tenth of it). Counted in ``dispatch_solve_duration_seconds``.

        ``request_id`` (with ``fingerprint``, a hash of the request) makes a retry return the
        plan the first call stored; a plan id that already has a live day is refused
        (``PlanExistsError``) unless ``replace``: then the new plan is its next version and
        customers are texted only where it changes what they were told.
        """
        budget = Budget.start(problem.options.time_limit, deadline, self.settings.deadline_margin)
        validate(problem, limits=self.settings.limits, travel_models=self.travel_models, violations=shape)
        problem = expand(
            dataclasses.replace(
                problem,
                plan_id=problem.plan_id or plan_id_for(request_id),
                time_zone=problem.time_zone or self.time_zone,
            )
        )
        previous = self.store.get(problem.plan_id)
        if previous is not None:
            done = previous.state.answered(request_id) if request_id else None
            if done is not None:
                return replayed(previous, done, fingerprint)
            if not replace:
                raise PlanExistsError(problem.plan_id, previous.version)
        cost = self.cost(problem)
        self.admission.refuse_if_too_big(cost)
        if cost.setup_seconds > problem.options.time_limit:
            raise ProblemError(
                [
                    FieldViolation(
                        "options.time_limit",
                        f"{problem.options.time_limit:g} s cannot plan this day: {cost.describe()}, and its set-up "
                        f"alone takes about {cost.setup_seconds:.0f} s: ask for at least {2 * cost.setup_seconds:.0f} s",
                    )
                ]
            )
        with self.admission.reserve(cost, solve=True):
            problem, matrix = self._travel(problem, deadline=self.travel_deadline(budget))
            return self._search_and_store(
                problem, matrix, budget, previous, on_progress, cancelled, request_id, fingerprint
            )

    def _search_and_store(
        self,
        problem: Problem,
        matrix: DayMatrix,
        budget: Budget,
        previous: StoredPlan | None,
        on_progress: Callable[[object], None] | None,
        cancelled: Callable[[], bool] | None,
        request_id: str,
        fingerprint: str,
    ) -> Plan:
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
        told_before: tuple[Announced, ...] = ()
        if previous is not None:
            # A replaced day: what its customers were told (announced ETAs, promised windows)
            # stands, so only real changes are texted; it is counted from this plan's start.
            told_before, kept = rebased(previous, problem.epoch)
            state = dataclasses.replace(state, promises=promises(plan, kept, self.settings.promise_slack))
        events, told = eta_events(
            problem,
            plan,
            now=0,
            announced=told_before,
            threshold=self.settings.eta_threshold,
            earlier_jobs=previous.problem.jobs if previous is not None else (),
        )
        expected = previous.version if previous is not None else 0
        state = dataclasses.replace(
            state, announced=told, requests=previous.state.requests if previous is not None else ()
        )
        if request_id:
            state = state.with_answer(Answered(request_id, fingerprint, expected + 1))
        try:
            plan = self.store_version(
                StoredPlan(problem=problem, plan=plan, state=state), expected_version=expected, events=events
            ).plan
        except (PlanExistsError, VersionConflictError):
            stored = stored_answer(self.store, problem.plan_id, request_id)
            if stored is None:
                raise
            return replayed(*stored, fingerprint)
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

    def store_version(self, record: StoredPlan, *, expected_version: int, events: list[EtaEvent]) -> StoredPlan:
        """Store ``record`` as the version after ``expected_version`` (0: a new plan) with its ETA
        events: in the same write when the store writes them (Redis, or this process's own
        stream), else published right after it (``publish``)."""
        events = [dataclasses.replace(e, version=expected_version + 1) for e in events]
        record = dataclasses.replace(record, plan=dataclasses.replace(record.plan, time_zone=record.problem.time_zone))
        if self.store.writes_events:
            stored = self.store.put(record, expected_version=expected_version, events=events)
            for event in events:
                metrics.ETA_EVENTS.labels(event.kind.value).inc()
            return stored
        stored = self.store.put(record, expected_version=expected_version)
        self.publish(events, stored.version)
        return stored

    def publish(self, events: list[EtaEvent], version: int) -> None:
        """Put a stored version's ETA events on the stream (a store that does not write them
        itself). The version is stored already, so a stream that fails keeps the events in an
        outbox, sent first with the next ones: late, never lost while this process lives (logged,
        and counted in ``eta_outbox``)."""
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

    def travel_deadline(self, budget: Budget) -> float:
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
        validate(problem, limits=self.settings.limits, travel_models=self.travel_models, violations=shape)
        problem = expand(dataclasses.replace(problem, time_zone=problem.time_zone or self.time_zone))
        plan = with_members(problem, plan)
        with self.admission.reserve(self.cost(problem)):
            problem, matrix = self._travel(problem, deadline=by)
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

    def notify_customer(self, text: CustomerText, shape: list[FieldViolation] | None = None) -> str:
        """Queue ``text`` for the notifier (the ETA stream: one gateway for every customer text,
        with its opt-outs, dedupe, retries and health); its reference (the same request, the same
        reference: texted once).

        Raises
        ------
        ProblemError
            Every bad field of ``text`` (and ``shape``).
        """
        record = self.store.get(text.plan_id) if text.plan_id else None
        event, bad = customer_message(text, record, now=int(time.time()), default_zone=self.time_zone)
        if shape or bad:
            raise ProblemError([*(shape or []), *bad])
        self.publish([event], 0)
        return event.reference

    def suggest(
        self, ask: SuggestRequest, shape: list[FieldViolation] | None = None, *, deadline: float | None = None
    ) -> Suggestions:
        """Who can take ``ask``'s job, best first (``dispatch.reopt.suggest``); nothing is stored."""
        return suggest(self, ask, shape, deadline=deadline)

    def suggest_slots(
        self, ask: SlotsRequest, shape: list[FieldViolation] | None = None, *, deadline: float | None = None
    ) -> SlotSuggestions:
        """The slots that fit ``ask``'s job, best first (``dispatch.reopt.slots``); nothing is stored."""
        return suggest_slots(self, ask, shape, deadline=deadline)


#: At most this many variables, each at most this long, in one ``CustomerText``.
MAX_VARIABLES, MAX_VALUE = 20, 1_024


@dataclass(frozen=True, kw_only=True)
class CustomerText:
    """A text the console asks for: ``kind`` (one of ``REQUESTED_KINDS``) to the customer of
    ``job_id`` in plan ``plan_id``, or to ``phone``, with the template's ``variables``."""

    kind: str
    plan_id: str = ""
    job_id: str = ""
    phone: str = ""
    variables: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Checked idempotency key: the same one texts once. "": once per customer, kind, invoice and day.
    request_id: str = ""


def customer_message(
    text: CustomerText, record: StoredPlan | None, *, now: int, default_zone: str
) -> tuple[EtaEvent, list[FieldViolation]]:
    """The ``CUSTOMER_MESSAGE`` event of ``text`` (``record``: its plan when it names one) and
    what is wrong with it (every bad field; the event is not to be sent then)."""
    bad: list[FieldViolation] = []
    if text.kind not in REQUESTED_KINDS:
        bad.append(FieldViolation("kind", f"one of {', '.join(REQUESTED_KINDS)}, not {text.kind[:40]!r}"))
    allowed = VARIABLES.get(text.kind, frozenset())
    if len(text.variables) > MAX_VARIABLES:
        bad.append(FieldViolation("variables", f"at most {MAX_VARIABLES}"))
    for name, value in sorted(text.variables.items())[:MAX_VARIABLES]:
        if allowed and name not in allowed:
            bad.append(
                FieldViolation(
                    f"variables[{name[:40]!r}]", f"not a variable of {text.kind}: {', '.join(sorted(allowed))}"
                )
            )
        elif len(value) > MAX_VALUE:
            bad.append(FieldViolation(f"variables[{name[:40]!r}]", f"longer than {MAX_VALUE} characters"))
    job = None
    if text.job_id or text.plan_id:
        if text.phone:
            bad.append(FieldViolation("phone", "give the customer as plan_id and job_id, or as phone, not both"))
        if record is None:
            bad.append(FieldViolation("plan_id", f"no plan {text.plan_id[:128]!r} (never solved here, or expired)"))
        else:
            job = next((j for j in record.problem.jobs if j.id == text.job_id), None)
            if job is None:
                bad.append(FieldViolation("job_id", f"no job {text.job_id[:128]!r} in plan {text.plan_id[:128]!r}"))
            elif not job.customer.phone:
                bad.append(FieldViolation("job_id", "its customer has no phone number"))
    elif e164_phone(text.phone) is None:
        bad.append(FieldViolation("phone", "required (or plan_id and job_id): E.164, e.g. +13035550100"))
    zone = record.problem.time_zone if record is not None and record.problem.time_zone else default_zone
    values = {k: v for k, v in text.variables.items() if v}
    day = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(zone)).date().isoformat()
    reference = text.request_id or f"{values.get('invoice_number', '')}:{day}"
    event = EtaEvent(
        plan_id=text.plan_id,
        version=0,
        kind=EtaKind.CUSTOMER_MESSAGE,
        job_id=text.job_id,
        technician_id="",
        eta=now,
        window_start=now,
        window_end=now,
        at=now,
        service_type=values.pop("service_type", job.service_type if job else ""),
        customer_name=values.pop("customer_name", job.customer.name if job else ""),
        customer_phone=job.customer.phone if job else text.phone,
        priority=job.priority if job else Priority.NORMAL,
        time_zone=zone,
        variables={**values, "kind": text.kind},
        reference=reference,
    )
    return event, bad


def rebased(previous: StoredPlan, epoch: int) -> tuple[tuple[Announced, ...], tuple[Commitment, ...]]:
    """What ``previous``'s customers were told (announced ETAs, promised windows), in seconds from
    ``epoch`` (a replacing plan may start at another time)."""
    delta = previous.problem.epoch - epoch
    announced = tuple(dataclasses.replace(a, eta=a.eta + delta) for a in previous.state.announced)
    kept = tuple(
        c
        if c.window is None
        else dataclasses.replace(c, window=TimeWindow(start=c.window.start + delta, end=c.window.end + delta))
        for c in previous.state.promises
    )
    return announced, kept
