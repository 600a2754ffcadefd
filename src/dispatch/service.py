"""The application service: validate -> travel matrix -> solver -> plan store.

Transport-agnostic: the gRPC servicer and the CLI both call ``Dispatcher``; nothing
here knows protobuf. ``bootstrap()`` is the one place that builds clients and pools
from settings, so nothing connects at import.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dispatch import metrics
from dispatch.check import PlanViolation, check_plan
from dispatch.domain import (
    Announced,
    Location,
    NewJob,
    Plan,
    Problem,
    ProgressKind,
    Replan,
    SolveOptions,
    TechnicianProgress,
    TravelModel,
)
from dispatch.errors import (
    ConfigError,
    DeadlineError,
    DispatchError,
    FieldViolation,
    NotConfiguredError,
    PlanNotFoundError,
    ProblemError,
    ProviderUnavailableError,
    VersionConflictError,
)
from dispatch.eta import DEFAULT_THRESHOLD, EtaEvent, eta_events
from dispatch.matrix import DayMatrix, ExplicitProvider, GreatCircleProvider, MatrixProvider, day_matrix
from dispatch.matrix.cache import Counters, TravelCache
from dispatch.matrix.cached import CachedProvider, CachePolicy, GoogleUnavailable
from dispatch.matrix.google import GoogleMaps, GoogleSettings
from dispatch.notify.health import Health, IntegrationLog, RedisIntegrationLog
from dispatch.reopt import PlanDiff, QuickPlanner, apply_events, diff, initial_state, situation
from dispatch.secrets import read_file, read_number, read_secret
from dispatch.solver.objective import plan_score
from dispatch.solver.retime import departures, label, retime
from dispatch.store import MemoryPlanStore, PlanStore, StoredPlan
from dispatch.stream import EtaStream, MemoryEtaStream, RedisEtaStream
from dispatch.validate import DEFAULT_LIMITS, MAX_WEIGHT, Limits, validate

if TYPE_CHECKING:
    from dispatch.notify.notifier import Notifier
    from dispatch.notify.sms import TwilioSettings

log = logging.getLogger("dispatch")

#: Seconds of a re-plan's time limit kept back after the search to check, store and send the plan
#: (with 0.1 s, 1 in 20 improved plans of a 25 x 250 day reached the client after 2.01 s of 2).
REPLAN_FINISH = 0.15
#: ETA events held while the stream is down (the newest kept).
OUTBOX_MAX = 100_000


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
        start: dict[int, list[int]] | None = None,
        reserve: float = 0.0,
    ) -> Plan:
        """The plan of a search of at most ``time_limit`` seconds that ends ``reserve`` seconds
        before ``deadline`` (``time.monotonic()``) at the latest, for the caller to finish in."""
        ...

    def admit(self) -> None:
        """Raise ``OverloadedError`` if a search would be refused now (no room to wait)."""
        ...


@dataclass(frozen=True)
class ReplanResult:
    """A re-plan's answer: the stored plan, what changed since the version the request named,
    and whether more (an improved plan) may follow."""

    plan: Plan
    diff: PlanDiff
    final: bool


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
        start: dict[int, list[int]] | None = None,
        reserve: float = 0.0,
    ) -> Plan:
        from dispatch.solver import solve  # noqa: PLC0415 (OR-Tools only where a search runs)

        return solve(problem, matrix, time_limit=time_limit, on_progress=on_progress, start=start)

    def admit(self) -> None:
        """Always room: the caller's own process searches."""


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
    #: Re-plan search budget when the request sets none (the quick answer comes first regardless).
    reopt_time_limit: float = 2.0
    #: A customer's promised window: their visit's planned start ± this many seconds.
    promise_slack: int = 1800
    #: Plans, the travel cache (and later the ETA stream) in Redis, shared by replicas; None: in process.
    redis_url: str | None = None
    #: travel_model GOOGLE (from GOOGLE_MAPS_API_KEY and DISPATCH_GOOGLE_*); None: not offered.
    google: GoogleSettings | None = None
    cache: CachePolicy = field(default_factory=CachePolicy)
    #: Pairs the in-process travel cache holds (without Redis).
    cache_max_entries: int = 2_000_000
    #: An ETA that moves this many seconds from the one announced is announced again.
    eta_threshold: int = DEFAULT_THRESHOLD
    #: Texts through Twilio (TWILIO_* and DISPATCH_TWILIO_*); None: the notifier logs them.
    twilio: TwilioSettings | None = None
    #: The business's texts and values (DISPATCH_MESSAGES_FILE); None: the defaults.
    messages_path: str | None = None
    #: Texts sent at once by a notifier (DISPATCH_NOTIFIER_SENDERS).
    notifier_senders: int = 8
    #: The in-process notifier's name in the consumer group (``DISPATCH_NOTIFIER_CONSUMER``); a
    #: restarted server under the same name resumes its unfinished events at once and settles a text
    #: it was sending after the Twilio timeout + 5 s (another name: after 60 s and the 45 s lease).
    #: Default: ``serve-<host name>-<pid>`` (a container's host name and pid 1 repeat).
    notifier_consumer: str | None = None
    #: Seconds before the ETA an appointment is confirmed (DISPATCH_APPOINTMENT_LEAD).
    appointment_lead: int = 86_400
    #: Seconds a moved ETA must hold before it is texted (DISPATCH_ETA_SETTLE).
    eta_settle: float = 30.0
    #: Seconds the integration health report looks back (DISPATCH_HEALTH_WINDOW; the seed's 24 h).
    health_window: int = 86_400

    #: Bearer tokens a call may present (``DISPATCH_AUTH_TOKEN`` or ``DISPATCH_AUTH_TOKEN_FILE``,
    #: several separated by commas or new lines while one is rotated out); empty: none asked for.
    auth_tokens: tuple[str, ...] = field(default=(), repr=False)
    #: The server's TLS certificate and key, and the CA of client certificates (mTLS); None: plaintext.
    tls: Tls | None = None
    #: The largest request the server reads (``DISPATCH_MAX_REQUEST_BYTES``); larger: RESOURCE_EXHAUSTED.
    max_request_bytes: int = 64 * 1024 * 1024
    #: The Prometheus metrics port (``DISPATCH_METRICS_PORT``; 0 or None: no endpoint). A port set
    #: explicitly must be free at start-up; the default one (``metrics_required`` False) is skipped
    #: with a warning when another process holds it (two servers on one host).
    metrics_port: int | None = None
    metrics_required: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """The settings the environment gives, ``overrides`` (not None) on top.

        Raises
        ------
        ConfigError
            Every variable that cannot be used, by name (a secret's value is never shown).
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        bad: list[str] = []

        def number(var: str, name: str, kind: type, *, low: float = 0, into: dict[str, object] = values) -> None:
            try:
                value = read_number(env, var, kind, low=low)
            except ConfigError as exc:
                bad.append(str(exc))
                return
            if value is not None:
                into[name] = value

        number("DISPATCH_WORKERS", "workers", int, low=1)
        number("DISPATCH_MAX_WAITING", "max_waiting", int)
        number("DISPATCH_GC_CIRCUITY", "circuity", float, low=1)
        number("DISPATCH_GC_SPEED_KMH", "speed_kmh", float, low=1)
        number("DISPATCH_REOPT_TIME_LIMIT", "reopt_time_limit", float, low=0.1)
        number("DISPATCH_PROMISE_SLACK", "promise_slack", int)
        number("DISPATCH_NOTIFIER_SENDERS", "notifier_senders", int, low=1)
        number("DISPATCH_ETA_SETTLE", "eta_settle", float)
        number("DISPATCH_APPOINTMENT_LEAD", "appointment_lead", int)
        number("DISPATCH_HEALTH_WINDOW", "health_window", int, low=60)
        number("DISPATCH_ETA_THRESHOLD", "eta_threshold", int, low=1)
        number("DISPATCH_CACHE_MAX_ENTRIES", "cache_max_entries", int, low=1)
        number("DISPATCH_MAX_REQUEST_BYTES", "max_request_bytes", int, low=1024)
        number("DISPATCH_METRICS_PORT", "metrics_port", int)
        policy: dict[str, object] = {}
        for name in ("static_ttl", "traffic_ttl", "traffic_bucket", "place_ttl", "place_missing_ttl"):
            number(f"DISPATCH_CACHE_{name.upper()}", name, int, low=1, into=policy)
        limits: dict[str, object] = {}
        number("DISPATCH_MAX_JOBS", "max_jobs", int, low=1, into=limits)
        number("DISPATCH_MAX_TECHNICIANS", "max_technicians", int, low=1, into=limits)
        number("DISPATCH_MAX_TIME_LIMIT", "max_time_limit", float, low=0.1, into=limits)

        def twilio() -> object:
            from dispatch.notify.sms import TwilioSettings  # noqa: PLC0415 (twilio only loads when asked for)

            return TwilioSettings.from_env(env)

        for name, read in (
            ("redis_url", lambda: read_secret(env, "DISPATCH_REDIS_URL") or None),
            ("auth_tokens", lambda: _tokens(read_secret(env, "DISPATCH_AUTH_TOKEN"))),
            ("tls", lambda: Tls.from_env(env)),
            ("google", lambda: GoogleSettings.from_env(env)),
            ("twilio", twilio),
        ):
            try:
                values[name] = read()
            except (ConfigError, ValueError) as exc:
                bad.append(str(exc))
        if bad:
            raise ConfigError("configuration: " + "; ".join(bad))
        if policy:
            values["cache"] = CachePolicy(**policy)  # type: ignore[arg-type]
        if limits:
            values["limits"] = dataclasses.replace(DEFAULT_LIMITS, **limits)  # type: ignore[arg-type]
        if env.get("DISPATCH_MESSAGES_FILE"):
            values["messages_path"] = env["DISPATCH_MESSAGES_FILE"]
        if env.get("DISPATCH_NOTIFIER_CONSUMER"):
            values["notifier_consumer"] = env["DISPATCH_NOTIFIER_CONSUMER"]
        if values.get("metrics_port") == 0:
            values["metrics_port"] = None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class Tls:
    """The server's TLS material (PEM): its certificate chain and key and, for mutual TLS, the CA
    that signs client certificates."""

    cert_chain: bytes
    private_key: bytes = field(repr=False)
    client_ca: bytes | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Tls | None:
        """From ``DISPATCH_TLS_CERT_FILE`` and ``DISPATCH_TLS_KEY_FILE`` (both or neither) and
        ``DISPATCH_TLS_CLIENT_CA_FILE`` (optional: client certificates then required)."""
        cert, key = read_file(env, "DISPATCH_TLS_CERT_FILE"), read_file(env, "DISPATCH_TLS_KEY_FILE")
        ca = read_file(env, "DISPATCH_TLS_CLIENT_CA_FILE")
        if cert is None and key is None:
            if ca is not None:
                raise ConfigError("DISPATCH_TLS_CLIENT_CA_FILE needs DISPATCH_TLS_CERT_FILE and DISPATCH_TLS_KEY_FILE")
            return None
        if cert is None or key is None:
            raise ConfigError("DISPATCH_TLS_CERT_FILE and DISPATCH_TLS_KEY_FILE go together")
        return cls(cert_chain=cert, private_key=key, client_ca=ca)


#: What a bearer token may hold (RFC 6750's b64token).
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _tokens(raw: str) -> tuple[str, ...]:
    """The tokens in ``raw`` (separated by commas or white space).

    Raises
    ------
    ConfigError
        A token with characters a bearer token cannot carry, or one shorter than 16 characters.
    """
    tokens = tuple(t for t in re.split(r"[\s,]+", raw) if t)
    for k, token in enumerate(tokens):
        if not _TOKEN.fullmatch(token):
            raise ConfigError(f"DISPATCH_AUTH_TOKEN: token {k + 1} has characters a bearer token cannot hold")
        if len(token) < 16:
            raise ConfigError(f"DISPATCH_AUTH_TOKEN: token {k + 1} is shorter than 16 characters")
    return tokens


class Dispatcher:
    """Plans days. One instance per process, built by ``bootstrap``."""

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
        """Geocode the locations given only as an address (travel_model GOOGLE).

        Returns the problem with coordinates filled in, and the job points that could not be
        placed (point -> why; those jobs end unassigned, ``ADDRESS_NOT_FOUND``).

        Raises
        ------
        ProblemError
            A technician's address that Google cannot find.
        ProviderUnavailableError
            A technician's address could not be geocoded because Google did not answer.
        """
        if problem.options.travel_model is not TravelModel.GOOGLE or self.google is None:
            return problem, {}
        google = self.google
        bad: list[FieldViolation] = []
        unplaced: dict[int, str] = {}

        wanted = [
            loc.address
            for loc in (
                *(t.start_location for t in problem.technicians),
                *(t.end_location for t in problem.technicians),
                *(j.location for j in problem.jobs),
            )
            if loc.lat is None or loc.lng is None
        ]
        found = google.geocode_many(wanted, deadline=deadline) if wanted else {}

        def where(loc: Location) -> tuple[Location, str | None]:
            """The located place, or why not: "" (Google does not know it) or Google's failure."""
            if loc.lat is not None and loc.lng is not None:
                return loc, None
            point = found[loc.address]
            if isinstance(point, GoogleUnavailable):
                return loc, f"{point} for {loc.address!r}"
            if point is None:
                return loc, ""
            return dataclasses.replace(loc, lat=point[0], lng=point[1]), None

        techs = list(problem.technicians)
        for v, tech in enumerate(techs):
            places: dict[str, Location] = {}
            for name in ("start_location", "end_location"):
                if name == "end_location" and tech.end_location == tech.start_location:
                    places[name] = places["start_location"]  # one place: asked and reported once
                    continue
                loc, why = where(getattr(tech, name))
                if why == "":
                    bad.append(FieldViolation(f"technicians[{v}].{name}.address", "Google cannot find this address"))
                elif why is not None:
                    raise ProviderUnavailableError(f"technicians[{v}].{name}: {why}")
                places[name] = loc
            techs[v] = dataclasses.replace(tech, **places)
        if bad:
            raise ProblemError(bad)
        jobs = list(problem.jobs)
        for k, job in enumerate(jobs):
            loc, why = where(job.location)
            if why is not None:
                unplaced[2 * len(techs) + k] = why or f"Google cannot find the address {loc.address!r}"
            elif loc is not job.location:
                jobs[k] = dataclasses.replace(job, location=loc)
        return dataclasses.replace(problem, technicians=tuple(techs), jobs=tuple(jobs)), unplaced

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
        began = time.monotonic()
        problem, matrix = self.prepare(problem, shape, deadline=self._travel_deadline(began, problem, deadline))
        limit = problem.options.time_limit
        budget = max(limit - (time.monotonic() - began), 0.1 * limit)
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic() - self.settings.deadline_margin)
            if budget <= 0:
                raise DeadlineError("the request's deadline leaves no time to solve")
        plan = self.runner.solve(
            problem,
            matrix.for_solver(),
            time_limit=budget,
            deadline=deadline,
            on_progress=on_progress,
            cancelled=cancelled,
            reserve=self.settings.deadline_margin,
        )
        plan, matrix = retime(problem, matrix, plan)
        plan = label(problem, matrix, plan)
        plan, _ = self._checked(problem, matrix, plan)
        state = initial_state(plan, promise_slack=self.settings.promise_slack)
        events, told = eta_events(problem, plan, now=0, threshold=self.settings.eta_threshold)
        state = dataclasses.replace(state, announced=told)
        plan = self.store.put(StoredPlan(problem=problem, plan=plan, state=state)).plan
        self._publish(events, plan.version)
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

    def _publish(self, events: list[EtaEvent], version: int) -> None:
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
            self._publish([], 0)

    def _travel_deadline(self, began: float, problem: Problem, deadline: float | None) -> float:
        """When the travel matrix must be ready: half the time limit (at least 2 s, at most the
        provider's retry time), and a second before the RPC deadline's margin."""
        retry = self.settings.google.retry_timeout if self.settings.google else 10.0
        by = began + min(retry, max(2.0, 0.5 * problem.options.time_limit))
        if deadline is not None:
            by = min(by, deadline - self.settings.deadline_margin - 1.0)
        return by

    @staticmethod
    def _checked(problem: Problem, matrix: DayMatrix, plan: Plan) -> tuple[Plan, bool]:
        """Run the independent checker on a fresh plan; anything it finds is a solver bug,
        logged as an error and reported in the plan's warnings rather than hidden.
        Returns the plan and whether it passed."""
        violations = check_plan(problem, matrix, plan)
        if not violations:
            return plan, True
        for v in violations:
            log.error(
                "checker: plan %s: %s %s (technician %r, job %r)",
                plan.plan_id,
                v.code,
                v.message,
                v.technician_id,
                v.job_id,
            )
        return _warn(plan, *(f"checker {v.code}: {v.message}" for v in violations)), False

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
        by = None if deadline is None else deadline - self.settings.deadline_margin
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
        """Apply ``replan``'s events to its stored plan and re-plan the rest of the day.

        The quick answer (the previous plan repaired, new work inserted) is checked, stored as
        the next version and passed to ``on_result`` at once; the solver then improves on it
        within the time limit, and a better plan is stored as the version after. Returns the
        last stored answer. A failed improvement (deadline, crashed worker, busy pool) leaves
        the quick answer standing, with a warning.
        """
        began = time.monotonic()
        if shape and any(v.field in ("plan_id", "expected_version") for v in shape):
            raise ProblemError(shape)
        record = self.get_plan(replan.plan_id)
        if replan.expected_version is not None and replan.expected_version != record.version:
            raise VersionConflictError(replan.plan_id, replan.expected_version, record.version)
        base = record.version
        problem = record.problem
        options = self._replan_options(replan, problem)
        asked = replan.time - problem.epoch
        now, warnings = asked, []
        if asked < record.state.now:
            now = record.state.now
            warnings.append(
                f"request time is {record.state.now - asked} s before the previous re-plan's; planned from that time"
            )
        day, state = apply_events(
            problem,
            record.state,
            replan.events,
            now=asked,
            limits=self.settings.limits,
            travel_models=self.travel_models,
            violations=shape,
            positions=replan.positions or None,
        )
        travel_by = None if deadline is None else deadline - self.settings.deadline_margin
        day, unplaced = self.place(day, deadline=travel_by)
        known = {j.id for j in problem.jobs}
        bad = [
            FieldViolation(_event_path(replan, job.id, "location.address"), unplaced[2 * len(day.technicians) + i])
            for i, job in enumerate(day.jobs)
            if 2 * len(day.technicians) + i in unplaced and job.id not in known
        ]
        if bad:  # an address an event brings that Google cannot place: the sender can fix it
            raise ProblemError(bad)
        provider = self.provider(day)
        here = situation(day, record.plan, state, now=now, provider=provider, options=options, deadline=travel_by)
        if here.legs.estimated:
            warnings.append(
                f"{len(here.legs.estimated)} leg(s) of the day's history have no road route in {provider.name} "
                "(a position off the road network?): great-circle estimates used"
            )
        part = here.replan
        matrix = day_matrix(part, provider, traffic=False, deadline=travel_by, unplaced=unplaced_points(part))
        planner = QuickPlanner(part, matrix)
        quick, start = planner.plan(here.previous)
        quick, sound = self._checked(part, matrix, label(part, matrix, quick))
        current = None
        announced = state.announced
        departed = frozenset(
            e.job_id for e in replan.events if isinstance(e, TechnicianProgress) and e.kind is ProgressKind.DEPARTED
        )
        if sound:
            current, announced = self._commit(here, quick, state, record, base, base, warnings, announced, departed)
            departed = frozenset()  # announced with the quick answer
            metrics.REPLAN_DURATION.labels("quick").observe(time.monotonic() - began)
            if on_result is not None:
                on_result(dataclasses.replace(current, final=False))
        # The time limit covers the whole call: keep back what checking, storing and answering take.
        budget = options.time_limit - (time.monotonic() - began) - min(REPLAN_FINISH, 0.1 * options.time_limit)
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic() - self.settings.deadline_margin)
        better = None
        try:
            if budget <= 0:
                raise DeadlineError("no time left to improve on the quick answer")
            better = self.runner.solve(
                part,
                matrix,
                time_limit=budget,
                deadline=deadline,
                cancelled=cancelled,
                start=start if sound else None,
                reserve=self.settings.deadline_margin,
            )
        except DispatchError as exc:
            if current is None:
                raise
            log.warning("re-plan of %s: improvement failed (%s); the quick answer stands", replan.plan_id, exc)
            current = dataclasses.replace(current, plan=_warn(current.plan, f"improvement not run: {exc}"))
        if better is not None:
            better, ok = self._checked(part, matrix, label(part, matrix, better))
            score = functools.partial(plan_score, part, objective=planner.objective)
            if current is None or (ok and score(better) < score(quick)):
                try:
                    current, announced = self._commit(
                        here,
                        better,
                        state,
                        record,
                        base,
                        current.plan.version if current else base,
                        warnings,
                        announced,
                        departed,
                    )
                except VersionConflictError as exc:
                    if current is None:
                        raise
                    log.info("re-plan of %s: improved plan dropped, the plan moved on (%s)", replan.plan_id, exc)
        assert current is not None
        current = dataclasses.replace(current, final=True)
        metrics.REPLAN_DURATION.labels("final").observe(time.monotonic() - began)
        if on_result is not None:
            on_result(current)
        log.info(
            "re-planned %s v%d -> v%d in %.2f s: %d events, %d assigned, %d unassigned",
            replan.plan_id,
            base,
            current.plan.version,
            time.monotonic() - began,
            len(replan.events),
            len(current.plan.assigned_job_ids),
            len(current.plan.unassigned),
        )
        return current

    def _replan_options(self, replan: Replan, problem: Problem) -> SolveOptions:
        limit = self.settings.reopt_time_limit if replan.time_limit is None else replan.time_limit
        bad = []
        if not 0 < limit <= self.settings.limits.max_time_limit:
            bad.append(
                FieldViolation("options.time_limit", f"must be between 0 and {self.settings.limits.max_time_limit:g} s")
            )
        penalty = problem.options.reassign_penalty if replan.reassign_penalty is None else replan.reassign_penalty
        weight = problem.options.promise_weight if replan.promise_weight is None else replan.promise_weight
        if not 0 <= penalty <= 7 * 86_400:
            bad.append(FieldViolation("options.reassign_penalty", "must be between 0 and 7 days"))
        if not 0 <= weight <= MAX_WEIGHT:
            bad.append(FieldViolation("options.promise_weight", f"must be between 0 and {MAX_WEIGHT}"))
        urgency = problem.options.emergency_weight if replan.emergency_weight is None else replan.emergency_weight
        if not 0 <= urgency <= MAX_WEIGHT:
            bad.append(FieldViolation("options.emergency_weight", f"must be between 0 and {MAX_WEIGHT}"))
        if abs(replan.time - problem.epoch) > self.settings.limits.max_future:
            bad.append(FieldViolation("time", "more than 31 days from the plan's start"))
        if bad:
            raise ProblemError(bad)
        return SolveOptions(
            time_limit=limit,
            travel_model=problem.options.travel_model,
            reassign_penalty=penalty,
            promise_weight=weight,
            emergency_weight=urgency,
        )

    def _commit(
        self,
        here,  # type: ignore[no-untyped-def]
        part: Plan,
        state,  # type: ignore[no-untyped-def]
        record: StoredPlan,
        base: int,
        expected: int,
        warnings: list[str],
        announced: tuple[Announced, ...],
        departed: frozenset[str] = frozenset(),
    ) -> tuple[ReplanResult, tuple[Announced, ...]]:
        """Store the day with ``part`` as its re-planned rest, as the version after ``expected``,
        and publish the ETA events it calls for (against ``announced``, what customers were told)."""
        full = _warn(here.assemble(part), *warnings)
        after = here.state_after(full, state, promise_slack=self.settings.promise_slack)
        events, told = eta_events(
            here.problem,
            full,
            now=here.now,
            announced=announced,
            departed=departed,
            threshold=self.settings.eta_threshold,
        )
        after = dataclasses.replace(after, announced=told)
        stored = self.store.put(StoredPlan(problem=here.problem, plan=full, state=after), expected_version=expected)
        self._publish(events, stored.plan.version)
        result = ReplanResult(plan=stored.plan, diff=diff(record.plan, stored.plan, record.state.promises), final=False)
        return result, told


def unplaced_points(problem: Problem) -> dict[int, str]:
    """Job points with no coordinates (an address Google could not find when the day was planned)."""
    m = 2 * len(problem.technicians)
    return {
        m + k: f"Google cannot find the address {job.location.address!r}"
        for k, job in enumerate(problem.jobs)
        if job.location.matrix_index is None and (job.location.lat is None or job.location.lng is None)
    }


def _event_path(replan: Replan, job_id: str, field: str) -> str:
    """The request path of the ``new_job`` event that brought ``job_id``."""
    for event, position in zip(replan.events, replan.positions or range(len(replan.events)), strict=False):
        if isinstance(event, NewJob) and event.job.id == job_id:
            return f"events[{position}].new_job.{field}"
    return f"events.new_job.{field}"


def _warn(plan: Plan, *warnings: str) -> Plan:
    if not warnings:
        return plan
    return dataclasses.replace(plan, stats=dataclasses.replace(plan.stats, warnings=(*plan.stats.warnings, *warnings)))


def bootstrap(settings: Settings | None = None, *, pool: bool = True) -> Dispatcher:
    """Build the dispatcher: a started solver pool (or in-process solving) and the stores."""
    settings = settings or Settings.from_env()
    if pool:
        from dispatch.solver.pool import SolverPool  # noqa: PLC0415

        runner: Runner = SolverPool(settings.workers, max_waiting=settings.max_waiting)
        runner.start()  # type: ignore[attr-defined]
    else:
        runner = InProcessRunner()
    store: PlanStore
    if settings.redis_url:
        from dispatch.store.redis import RedisPlanStore  # noqa: PLC0415 (redis only when configured)

        store = RedisPlanStore.from_url(settings.redis_url)
    else:
        store = MemoryPlanStore()
    etas: EtaStream = MemoryEtaStream()
    if settings.redis_url:
        etas = RedisEtaStream.from_url(settings.redis_url)
    integrations = integration_log(settings)
    dispatcher = Dispatcher(
        runner=runner,
        settings=settings,
        store=store,
        google=google_travel(settings, integrations=integrations),
        etas=etas,
        integrations=integrations,
    )
    metrics.watch(dispatcher)
    return dispatcher


def integration_log(settings: Settings) -> IntegrationLog:
    """Counts of calls to Google and Twilio: in Redis when configured (shared by every process), else here."""
    if settings.redis_url:
        from dispatch.store.redis import fail_fast_client  # noqa: PLC0415

        client = fail_fast_client(settings.redis_url, socket_timeout=0.5, connect_timeout=0.5)
        return RedisIntegrationLog(client, window=settings.health_window)
    return IntegrationLog(window=settings.health_window)


def google_travel(
    settings: Settings, counters: Counters | None = None, *, integrations: IntegrationLog | None = None
) -> CachedProvider | None:
    """The GOOGLE travel model: the client, its cache (Redis when configured, else in process)
    and the great-circle fallback; ``None`` without an API key. Every request is counted in
    ``integrations`` (the health report)."""
    if settings.google is None:
        return None
    counters = counters or Counters()
    if settings.redis_url:
        cache = TravelCache.redis(settings.redis_url, counters=counters)
    else:
        cache = TravelCache.memory(max_entries=settings.cache_max_entries, counters=counters)
    fallback = GreatCircleProvider(circuity=settings.circuity, speed_kmh=settings.speed_kmh)
    on_call = None
    if integrations is not None:
        log_ = integrations

        def on_call(ok: bool, seconds: float, error: str) -> None:
            log_.record("google", ok=ok, latency=seconds, error=error)

    google = GoogleMaps(settings.google, on_call=on_call)
    return CachedProvider(google, cache, fallback, policy=settings.cache, counters=counters)


def start_notifier(
    settings: Settings, stream: EtaStream, consumer: str, integrations: IntegrationLog | None = None
) -> NotifierRun:
    """Build the notifier and run it on a thread as ``consumer``, with the Twilio webhook when a
    public URL is configured. ``stop()`` ends both.

    Raises
    ------
    TemplateError
        The messages file cannot be used.
    OSError
        The webhook's port cannot be bound.
    """
    notifier = build_notifier(settings, stream, integrations)
    webhook = None
    twilio = settings.twilio
    if twilio is not None and twilio.webhook_url:
        from dispatch.notify.webhook import WebhookServer  # noqa: PLC0415

        webhook = WebhookServer(
            notifier, auth_token=twilio.auth_token, public_url=twilio.webhook_url, port=twilio.webhook_port
        )
        webhook.start()
    thread, stop = notifier.start(consumer)
    return NotifierRun(notifier, thread, stop, webhook)


@dataclass
class NotifierRun:
    notifier: Notifier
    thread: threading.Thread
    stopping: threading.Event
    webhook: object | None = None

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)
        if self.webhook is not None:
            self.webhook.close()  # type: ignore[attr-defined]


def build_notifier(settings: Settings, stream: EtaStream, integrations: IntegrationLog | None = None) -> Notifier:
    """The notifier on ``stream``: Twilio when configured (else it logs the texts), dedupe keys and
    opt-outs in Redis when configured (else in process), the business's messages file if any.

    Raises
    ------
    TemplateError
        The messages file cannot be used (named, with the template and variable at fault).
    """
    from dispatch.notify.notifier import MemoryClaims, Notifier, RedisClaims  # noqa: PLC0415
    from dispatch.notify.sms import Sms  # noqa: PLC0415
    from dispatch.notify.templates import Messages  # noqa: PLC0415
    from dispatch.store.redis import fail_fast_client  # noqa: PLC0415

    messages = Messages.load(Path(settings.messages_path)) if settings.messages_path else Messages()
    claims = (
        RedisClaims(fail_fast_client(settings.redis_url, socket_timeout=1.0, connect_timeout=0.5))
        if settings.redis_url
        else MemoryClaims()
    )
    sms = Sms(settings.twilio) if settings.twilio is not None else None
    return Notifier(
        stream,
        sms=sms,
        messages=messages,
        claims=claims,
        integrations=integrations or integration_log(settings),
        senders=settings.notifier_senders,
        appointment_lead=settings.appointment_lead,
        threshold=settings.eta_threshold,
        settle=settings.eta_settle,
    )
