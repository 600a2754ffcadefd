"""The dispatcher's vocabulary: technicians, jobs, the day's problem and the plan.

Pure Python, no gRPC, OR-Tools, Redis or Twilio. All times are integer seconds
relative to the plan epoch (``Problem.epoch``, the request's ``start_time`` in
Unix seconds); durations are integer seconds and distances integer metres.
Objects refer to each other by id.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Priority(enum.IntEnum):
    """Job priority; the numeric order is the dispatch order."""

    LOW = 1
    NORMAL = 2
    HIGH = 3
    EMERGENCY = 4


class TravelModel(enum.Enum):
    GREAT_CIRCLE = "GREAT_CIRCLE"
    EXPLICIT = "EXPLICIT"
    GOOGLE = "GOOGLE"


class UnassignedReason(enum.Enum):
    NO_QUALIFIED_TECHNICIAN = "NO_QUALIFIED_TECHNICIAN"
    PARTS_UNAVAILABLE = "PARTS_UNAVAILABLE"
    NO_REACHABLE_WINDOW = "NO_REACHABLE_WINDOW"
    CAPACITY_EXHAUSTED = "CAPACITY_EXHAUSTED"
    ADDRESS_NOT_FOUND = "ADDRESS_NOT_FOUND"
    UNREACHABLE = "UNREACHABLE"


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

    def stock(self, part: str) -> int:
        return dict(self.parts).get(part, 0)


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


@dataclass(frozen=True, kw_only=True)
class ExplicitMatrix:
    """A travel matrix given in the request, row-major ``size`` x ``size``."""

    size: int
    durations: np.ndarray  # int64, size * size, seconds
    distances: np.ndarray  # int64, size * size metres, or empty


@dataclass(frozen=True, kw_only=True)
class SolveOptions:
    time_limit: float = 10.0  # seconds of search
    travel_model: TravelModel = TravelModel.GREAT_CIRCLE


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One day to plan. ``epoch`` is the plan's "now" in Unix seconds: time 0."""

    plan_id: str
    epoch: int
    technicians: tuple[Technician, ...]
    jobs: tuple[Job, ...]
    options: SolveOptions = field(default_factory=SolveOptions)
    travel_matrix: ExplicitMatrix | None = None

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


@dataclass(frozen=True, kw_only=True)
class Plan:
    plan_id: str
    epoch: int
    version: int = 1
    routes: tuple[Route, ...] = ()
    unassigned: tuple[Unassigned, ...] = ()
    stats: PlanStats = field(default_factory=PlanStats)

    @property
    def assigned_job_ids(self) -> list[str]:
        return [v.job_id for r in self.routes for v in r.visits]
