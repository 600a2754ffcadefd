"""The dispatcher's vocabulary: technicians, jobs, the day's problem and the plan.

Pure Python, no gRPC, OR-Tools, Redis or Twilio. All times are integer seconds
relative to the plan epoch (``Problem.epoch``, the request's ``start_time`` in
Unix seconds); durations are integer seconds and distances integer metres.
Objects refer to each other by id.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

_T = TypeVar("_T")


def evolve(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace(obj, **changes)`` for the frozen classes below, at a fifth of the cost.

    Re-planning shifts every open job, technician and visit of a day by "now"; ``replace``
    re-runs a frozen ``__init__`` (one ``object.__setattr__`` per field) for each. A class
    whose ``__init__`` does more than store its fields goes through ``replace``.
    """
    cls = type(obj)
    if not init_only_stores_fields(cls):  # type: ignore[arg-type]  # a class is hashable; typeshed says not
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    unknown = changes.keys() - _field_names(cls)  # type: ignore[arg-type]  # as above
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    new = object.__new__(cls)
    state = new.__dict__
    state.update(obj.__dict__)
    state.update(changes)
    for name in _cached(cls):  # type: ignore[arg-type]  # as above
        state.pop(name, None)  # worked out from the old fields (Problem.job_index)
    return new


@functools.cache
def _cached(cls: type) -> tuple[str, ...]:
    """The names of ``cls``'s cached properties: kept in an instance's ``__dict__``, not fields."""
    return tuple(name for name, value in vars(cls).items() if isinstance(value, functools.cached_property))


@functools.cache
def init_only_stores_fields(cls: type) -> bool:
    """Whether dataclass ``cls(**fields)`` does nothing but set its instance's ``__dict__`` to ``fields``.

    True of a dataclass with a generated ``__init__`` taking every field, without
    ``__post_init__``, ``__slots__``, its own ``__new__`` or (unless frozen) ``__setattr__``:
    such an instance can be built by filling ``__dict__`` (``evolve``, ``dispatch.codec``).
    """
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    return bool(
        params.init
        and all(f.init for f in dataclasses.fields(cls))
        and not hasattr(cls, "__post_init__")
        and not hasattr(cls, "__slots__")
        and cls.__new__ is object.__new__  # type: ignore[comparison-overlap]
        and (params.frozen or cls.__setattr__ is object.__setattr__)  # type: ignore[comparison-overlap]
    )


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


class Priority(enum.IntEnum):
    """Job priority; the numeric order is the dispatch order."""

    LOW = 1
    NORMAL = 2
    HIGH = 3
    EMERGENCY = 4


class TravelModel(enum.Enum):
    GREAT_CIRCLE = "GREAT_CIRCLE"
    EXPLICIT = "EXPLICIT"
    GOOGLE = "GOOGLE"  # the Distance Matrix API (legacy)
    ROUTES = "ROUTES"  # the Routes API's route matrix


#: The models that ask Google: addresses are geocoded, and traffic is known.
GOOGLE_MODELS = frozenset({TravelModel.GOOGLE, TravelModel.ROUTES})


class VisitStatus(enum.Enum):
    """Where a visit stands in the live day: planned, being driven to, on site, done."""

    PLANNED = "PLANNED"
    EN_ROUTE = "EN_ROUTE"
    ON_SITE = "ON_SITE"
    COMPLETED = "COMPLETED"


class UnassignedReason(enum.Enum):
    NO_QUALIFIED_TECHNICIAN = "NO_QUALIFIED_TECHNICIAN"
    PARTS_UNAVAILABLE = "PARTS_UNAVAILABLE"
    NO_REACHABLE_WINDOW = "NO_REACHABLE_WINDOW"
    CAPACITY_EXHAUSTED = "CAPACITY_EXHAUSTED"
    ADDRESS_NOT_FOUND = "ADDRESS_NOT_FOUND"
    UNREACHABLE = "UNREACHABLE"
    #: The search ran out of time before it tried to place the job.
    TIME_LIMIT_REACHED = "TIME_LIMIT_REACHED"
    #: Taken off the board by the dispatcher until they assign or release it.
    HELD_BY_DISPATCHER = "HELD_BY_DISPATCHER"
    #: Its customer was told an ETA and no feasible plan keeps it (the cause in the detail).
    PROMISE_BROKEN = "PROMISE_BROKEN"


def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this machine knows ("" is not)."""
    if not name or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class Location:
    """A place: WGS84 coordinates, and/or a row of an explicit travel matrix."""

    lat: float | None = None
    lng: float | None = None
    matrix_index: int | None = None
    address: str = ""


@dataclass(frozen=True, kw_only=True)
class TimeWindow:
    """``[start, end]`` in plan seconds (both inclusive for a service start)."""

    start: int
    end: int

    def contains(self, t: int) -> bool:
        return self.start <= t <= self.end


@dataclass(frozen=True, kw_only=True)
class Break:
    """A break of ``duration`` seconds that starts and ends inside ``window``."""

    window: TimeWindow
    duration: int


@dataclass(frozen=True, kw_only=True)
class Overtime:
    """A shift may run ``max_extra`` seconds past its end, each hour at ``cost_per_hour`` (in the
    currency of ``SolveOptions.travel_cost_per_hour``)."""

    max_extra: int
    cost_per_hour: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Shift:
    """One working day of a technician with several (``Technician.shifts``); ``None`` and empty
    fields are the technician's own."""

    id: str
    window: TimeWindow
    start_location: Location | None = None
    end_location: Location | None = None
    breaks: tuple[Break, ...] = ()
    parts: tuple[tuple[str, int], ...] | None = None  # sorted (part, stock) pairs: the van restocked


#: Joins a technician's id and a shift's id into the id of the route's "vehicle" (``vehicle_id``):
#: a control character, which no validated id holds.
SHIFT_SEPARATOR = "\x1f"


def vehicle_id(technician_id: str, shift_id: str) -> str:
    """The id the planner knows one shift of a technician by."""
    return f"{technician_id}{SHIFT_SEPARATOR}{shift_id}"


def person_of(technician_id: str) -> str:
    """The technician of a planner id (``vehicle_id``; a technician without shifts: itself)."""
    return technician_id.partition(SHIFT_SEPARATOR)[0]


def shift_of(technician_id: str) -> str:
    """The shift of a planner id (``vehicle_id``; "" for a technician without shifts)."""
    return technician_id.partition(SHIFT_SEPARATOR)[2]


def member_id(job_id: str, member: int) -> str:
    """The id the planner knows one technician's part of a job for several by."""
    return f"{job_id}{SHIFT_SEPARATOR}{member}"


def group_of(job_id: str) -> str:
    """The job of a planner job id (``member_id``; a job for one technician: itself)."""
    return job_id.partition(SHIFT_SEPARATOR)[0]


def is_member(job_id: str) -> bool:
    return SHIFT_SEPARATOR in job_id


def may_serve(pinned_or_preferred: str, technician_id: str) -> bool:
    """Whether a pin (or preference) naming a technician covers planner id ``technician_id``: the
    technician's own id covers each of their shifts."""
    return pinned_or_preferred in (technician_id, person_of(technician_id))


@dataclass(frozen=True, kw_only=True)
class Technician:
    id: str
    name: str = ""
    phone: str = ""
    start_location: Location
    end_location: Location
    shift: TimeWindow
    breaks: tuple[Break, ...] = ()
    skills: frozenset[str] = frozenset()
    tools: frozenset[str] = frozenset()
    parts: tuple[tuple[str, int], ...] = ()  # sorted (part, stock) pairs
    overtime: Overtime | None = None
    #: Several working days: the planner sees one technician per shift (``dispatch.horizon``).
    shifts: tuple[Shift, ...] = ()

    def stock(self, part: str) -> int:
        return dict(self.parts).get(part, 0)

    @property
    def latest_return(self) -> int:
        """When the technician must be back at the end location: the shift end, or past it by the
        overtime allowed."""
        return self.shift.end + (self.overtime.max_extra if self.overtime is not None else 0)


@dataclass(frozen=True, kw_only=True)
class Customer:
    name: str = ""
    phone: str = ""


@dataclass(frozen=True, kw_only=True)
class Job:
    id: str
    location: Location
    service_duration: int = 0
    time_windows: tuple[TimeWindow, ...] = ()  # empty: any time
    required_skills: frozenset[str] = frozenset()
    required_tools: frozenset[str] = frozenset()
    required_parts: tuple[tuple[str, int], ...] = ()  # sorted (part, quantity) pairs
    priority: Priority = Priority.NORMAL
    pinned_technician_id: str = ""
    customer: Customer = field(default_factory=Customer)
    service_type: str = ""
    respond_within: int | None = None  # service starts no later than this (plan seconds)
    #: Local dates (YYYY-MM-DD): service starts on one of these days (``dispatch.horizon``).
    earliest_day: str = ""
    latest_day: str = ""
    #: Soft: these technicians, if it costs no more than ``SolveOptions.reassign_penalty``.
    preferred_technician_ids: frozenset[str] = frozenset()
    #: A job for several technicians together; the planner sees one job per member (``dispatch.horizon``).
    technicians_required: int = 1
    required_skills_any_member: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class ExplicitMatrix:
    """A travel matrix given in the request, row-major ``size`` x ``size``."""

    size: int
    durations: np.ndarray  # int64, size * size, seconds
    distances: np.ndarray  # int64, size * size metres, or empty


class Balance(enum.Enum):
    """What a fair day spreads evenly between the technicians who work."""

    NONE = "NONE"
    WORK_TIME = "WORK_TIME"  # departure to return
    JOB_COUNT = "JOB_COUNT"


@dataclass(frozen=True, kw_only=True)
class SolveOptions:
    time_limit: float = 10.0  # seconds of search
    travel_model: TravelModel = TravelModel.GREAT_CIRCLE
    #: Time-of-day travel (travel models that know traffic): see ``dispatch.matrix.base.Traffic``.
    traffic: bool = False
    #: Re-plans: cost of giving a committed job to another technician, in seconds of travel.
    reassign_penalty: int = 1800
    #: Re-plans: cost per second a committed job's service starts outside its promised window,
    #: in seconds of travel.
    promise_weight: int = 3
    #: Cost per second an EMERGENCY job's service starts after the earliest moment any qualified
    #: technician could start it, in seconds of travel (0: off).
    emergency_weight: int = 1
    #: Fairness: see ``dispatch.solver.objective`` for what ``balance_weight`` buys.
    balance: Balance = Balance.NONE
    balance_weight: float = 1.0
    #: What an hour of driving costs: the currency ``Overtime.cost_per_hour`` is in.
    travel_cost_per_hour: float = 60.0


@dataclass(frozen=True, kw_only=True)
class Commitment:
    """What a job's customer was already told: who comes, and (when given) the promised
    service-start window. A re-plan keeps commitments unless breaking one is worth its penalty."""

    job_id: str
    technician_id: str
    window: TimeWindow | None = None


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One day to plan. ``epoch`` is the plan's "now" in Unix seconds: time 0."""

    plan_id: str
    epoch: int
    technicians: tuple[Technician, ...]
    jobs: tuple[Job, ...]
    options: SolveOptions = field(default_factory=SolveOptions)
    travel_matrix: ExplicitMatrix | None = None
    #: Re-plans only: what customers were told by earlier versions of the plan (soft).
    commitments: tuple[Commitment, ...] = ()
    #: The business's time zone (IANA name): clock times in texts and summaries. "" : UTC.
    time_zone: str = ""

    @functools.cached_property
    def technician_index(self) -> dict[str, int]:
        """Technician id -> index (the solver's vehicle number), built once per problem."""
        return {t.id: v for v, t in enumerate(self.technicians)}

    @functools.cached_property
    def job_index(self) -> dict[str, int]:
        """Job id -> index (the solver's job number), built once per problem."""
        return {j.id: k for k, j in enumerate(self.jobs)}

    def technician(self, technician_id: str) -> Technician:
        for tech in self.technicians:
            if tech.id == technician_id:
                return tech
        raise KeyError(technician_id)

    def job(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)


# ---------------------------------------------------------------------------- plan


@dataclass(frozen=True, kw_only=True)
class Visit:
    job_id: str
    arrival: int
    start: int
    end: int
    travel_duration: int  # from the previous stop
    travel_distance: int
    status: VisitStatus = VisitStatus.PLANNED
    #: Which model timed the drive here (e.g. "google", "google traffic Tue 15:00Z", "great_circle (fallback)").
    travel_source: str = ""


@dataclass(frozen=True, kw_only=True)
class ScheduledBreak:
    start: int
    end: int


@dataclass(frozen=True, kw_only=True)
class Route:
    technician_id: str
    start: int  # departure from the start location
    end: int  # arrival at the end location
    visits: tuple[Visit, ...] = ()
    breaks: tuple[ScheduledBreak, ...] = ()
    return_travel_duration: int = 0
    return_distance: int = 0
    return_travel_source: str = ""
    #: Seconds back past the shift end.
    overtime: int = 0

    @property
    def work(self) -> int:
        """The working day: departure to return, waiting and breaks included."""
        return self.end - self.start

    @property
    def travel_duration(self) -> int:
        return sum(v.travel_duration for v in self.visits) + self.return_travel_duration

    @property
    def distance(self) -> int:
        return sum(v.travel_distance for v in self.visits) + self.return_distance


@dataclass(frozen=True, kw_only=True)
class Unassigned:
    job_id: str
    reason: UnassignedReason
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class PlanStats:
    total_travel_duration: int = 0
    total_distance: int = 0
    objective: int = 0
    solver_status: str = ""
    solve_time: float = 0.0
    warnings: tuple[str, ...] = ()
    #: The travel model that timed the plan, and what it took.
    travel_source: str = ""
    travel_requests: int = 0
    travel_estimated_pairs: int = 0
    travel_unreachable_pairs: int = 0


@dataclass(frozen=True, kw_only=True)
class Plan:
    plan_id: str
    epoch: int
    version: int = 1
    routes: tuple[Route, ...] = ()
    unassigned: tuple[Unassigned, ...] = ()
    stats: PlanStats = field(default_factory=PlanStats)
    #: The problem's time zone (IANA name), kept with the plan.
    time_zone: str = ""

    @property
    def assigned_job_ids(self) -> list[str]:
        return [v.job_id for r in self.routes for v in r.visits]


def with_routes(plan: Plan, routes: Iterable[Route], **changes: Any) -> Plan:
    """``plan`` with ``routes`` (and ``changes``): its travel totals are those of the routes (the
    one place plan totals are computed)."""
    routes = tuple(routes)
    stats = dataclasses.replace(
        changes.pop("stats", plan.stats),
        total_travel_duration=sum(r.travel_duration for r in routes),
        total_distance=sum(r.distance for r in routes),
    )
    return dataclasses.replace(plan, routes=routes, stats=stats, **changes)


@dataclass(frozen=True)
class Workload:
    """How the plan's work is spread over the technicians with a route."""

    work_time_spread: int  # max - min, seconds
    work_time_stddev: float
    job_count_spread: int
    job_count_stddev: float
    total_overtime: int


def workload(routes: Iterable[Route]) -> Workload:
    """The spread of the working days and visit counts over ``routes`` that have visits."""
    busy = [r for r in routes if r.visits]
    work = np.asarray([r.work for r in busy], dtype=np.float64)
    jobs = np.asarray([len(r.visits) for r in busy], dtype=np.float64)
    if not busy:
        return Workload(0, 0.0, 0, 0.0, 0)
    return Workload(
        work_time_spread=int(work.max() - work.min()),
        work_time_stddev=float(work.std()),
        job_count_spread=int(jobs.max() - jobs.min()),
        job_count_stddev=float(jobs.std()),
        total_overtime=sum(r.overtime for r in busy),
    )


def with_warnings(plan: Plan, *warnings: str) -> Plan:
    """``plan`` with ``warnings`` added to its stats' (the same plan when there are none)."""
    if not warnings:
        return plan
    return dataclasses.replace(plan, stats=dataclasses.replace(plan.stats, warnings=(*plan.stats.warnings, *warnings)))


# ---------------------------------------------------------------------------- the live day
#
# Event times are plan seconds of the plan they apply to (``Plan.epoch``); a re-plan at
# "now" keeps history (completed visits) and what each technician is doing, and plans the rest.


class ProgressKind(enum.Enum):
    DEPARTED = "DEPARTED"  # left for ``job_id``
    ARRIVED = "ARRIVED"  # on site at ``job_id``
    COMPLETED = "COMPLETED"  # finished ``job_id``
    POSITION = "POSITION"  # is at ``location``


@dataclass(frozen=True, kw_only=True)
class Invoice:
    number: str = ""
    #: As the customer reads it, currency included ("$249.00").
    total: str = ""
    payment_link: str = ""


@dataclass(frozen=True, kw_only=True)
class NewJob:
    """A job called in during the day (an emergency's ``respond_within`` counts from the event)."""

    job: Job


@dataclass(frozen=True, kw_only=True)
class CancelJob:
    job_id: str


@dataclass(frozen=True, kw_only=True)
class TechnicianProgress:
    technician_id: str
    kind: ProgressKind
    time: int
    job_id: str = ""
    location: Location | None = None
    #: COMPLETED: the invoice left with the customer (the service-complete text carries it).
    invoice: Invoice | None = None


@dataclass(frozen=True, kw_only=True)
class Delay:
    """Job ``job_id`` runs ``extra`` seconds over its planned service duration."""

    job_id: str
    extra: int


@dataclass(frozen=True, kw_only=True)
class TechnicianUnavailable:
    """The technician stops working at ``start`` (sick, van broke down)."""

    technician_id: str
    start: int


@dataclass(frozen=True, kw_only=True)
class TechnicianAdded:
    """A technician joins the day, or (same id) a technician's shift, stock or skills change."""

    technician: Technician


@dataclass(frozen=True, kw_only=True)
class Assign:
    """The dispatcher puts job ``job_id`` on technician ``technician_id``, for the rest of the day."""

    job_id: str
    technician_id: str


@dataclass(frozen=True, kw_only=True)
class Unassign:
    """The dispatcher takes job ``job_id`` off the routes and holds it."""

    job_id: str


@dataclass(frozen=True, kw_only=True)
class Release:
    """Job ``job_id`` (held, or assigned to a technician) goes back to the optimizer."""

    job_id: str


#: A ``LockRoute`` without an end: the whole day (plan seconds, past any shift).
LOCK_WHOLE_DAY = 1 << 50


@dataclass(frozen=True, kw_only=True)
class LockRoute:
    """Technician ``technician_id``'s visits starting before ``until`` (None: the end of the day) keep
    their order and technician."""

    technician_id: str
    until: int | None = None


Event = (
    NewJob
    | CancelJob
    | TechnicianProgress
    | Delay
    | TechnicianUnavailable
    | TechnicianAdded
    | Assign
    | Unassign
    | Release
    | LockRoute
)


class ChangeScope(enum.Enum):
    """How much of the current plan a re-plan may change."""

    #: Planned visits keep their technician and their order; new work may go between them.
    TIMES_ONLY = "TIMES_ONLY"
    #: Planned visits keep their technician.
    RESEQUENCE = "RESEQUENCE"
    #: Anything, at the reassign and promise costs.
    REASSIGN = "REASSIGN"


@dataclass(frozen=True, kw_only=True)
class VisitFact:
    """What a technician reported (or the plan implied, once its time passed) about a job."""

    job_id: str
    technician_id: str
    departed: int | None = None
    arrived: int | None = None
    completed: int | None = None
    #: False when the plan implied it (the plan is assumed followed until reports say otherwise).
    reported: bool = True


@dataclass(frozen=True, kw_only=True)
class Position:
    technician_id: str
    location: Location
    time: int


@dataclass(frozen=True, kw_only=True)
class Announced:
    """The ETA (plan seconds) and technician a job's customer was last told of (``dispatch.eta``)."""

    job_id: str
    technician_id: str
    eta: int


@dataclass(frozen=True)
class Answered:
    """A request (by its idempotency key) that stored a version of the plan: a retry of it gets
    that plan back instead of applying its events again."""

    request_id: str
    #: A hash of the whole request: the same key with another request is refused.
    fingerprint: str
    #: The last version the request stored (a re-plan stores its quick answer, then maybe a better one).
    version: int


#: Requests remembered per plan for idempotency (the newest kept).
MAX_ANSWERED = 256


@dataclass(frozen=True, kw_only=True)
class DayState:
    """The facts of the day so far, kept with the plan (plan seconds)."""

    #: Time of the latest re-plan: history is what happened before it.
    now: int = 0
    facts: tuple[VisitFact, ...] = ()
    positions: tuple[Position, ...] = ()
    cancelled: tuple[str, ...] = ()
    #: Technicians who stop working, and from when (plan seconds).
    unavailable: tuple[tuple[str, int], ...] = ()
    #: Breaks already taken (or under way), per technician.
    taken_breaks: tuple[tuple[str, ScheduledBreak], ...] = ()
    #: What each assigned job's customer was told (``dispatch.reopt`` keeps these).
    promises: tuple[Commitment, ...] = ()
    #: The last ETA announced per job (``dispatch.eta``).
    announced: tuple[Announced, ...] = ()
    #: The requests with an idempotency key that stored versions of this plan, oldest first.
    requests: tuple[Answered, ...] = ()
    #: Jobs the dispatcher holds off the routes (``Unassign``), until an ``Assign`` or ``Release``.
    held: tuple[str, ...] = ()
    #: Locked routes: technician and the plan second before which their visits keep order and
    #: technician (``LockRoute``; the end of the day is their shift's end).
    locks: tuple[tuple[str, int], ...] = ()

    def answered(self, request_id: str) -> Answered | None:
        """The stored answer to ``request_id``, if it stored one."""
        for done in reversed(self.requests):
            if done.request_id == request_id:
                return done
        return None

    def with_answer(self, answer: Answered) -> DayState:
        """This state remembering ``answer`` (replacing an earlier one of the same request)."""
        kept = tuple(a for a in self.requests if a.request_id != answer.request_id)
        return dataclasses.replace(self, requests=(*kept, answer)[-MAX_ANSWERED:])


@dataclass(frozen=True, kw_only=True)
class Replan:
    """A ``Reoptimize`` request in domain terms: times in seconds from ``time`` (Unix seconds)."""

    plan_id: str
    time: int
    events: tuple[Event, ...] = ()
    #: Each event's index in the request (events that could not be parsed are left out).
    event_indices: tuple[int, ...] = ()
    expected_version: int | None = None
    #: The idempotency key ("" for none) and a hash of the request it came with.
    request_id: str = ""
    fingerprint: str = ""
    #: Unset: the server's defaults (the travel model is the plan's and cannot change).
    time_limit: float | None = None
    reassign_penalty: int | None = None
    promise_weight: int | None = None
    emergency_weight: int | None = None
    change_scope: ChangeScope = ChangeScope.REASSIGN
    #: Departure-time travel (traffic) for the rest of the day; None: as the plan was made.
    traffic: bool | None = None
