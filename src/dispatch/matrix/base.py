"""The travel-matrix interface and the day's point order.

A day's points are ordered once, here: technician ``v`` starts at point ``2 v``
and ends at point ``2 v + 1``; job ``j`` is point ``2 m + j`` (``m`` technicians).
The solver's node indices and the checker's look-ups both use this order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from dispatch.domain import Location, Problem

#: The duration of a pair with no route (Google ``ZERO_RESULTS``, or a place that could not be
#: geocoded): longer than any shift, so no plan drives it; the solver clamps it to its horizon.
UNREACHABLE = 10**8


@dataclass
class TravelReport:
    """What a provider did for one call, for the plan's stats and warnings."""

    #: Pairs the provider could not get and estimated with the great-circle model.
    estimated: np.ndarray | None = None
    requests: int = 0
    elements: int = 0
    cache_hits: int = 0
    warnings: list[str] = field(default_factory=list)


class MatrixProvider(Protocol):
    """Anything that can time and measure trips between places."""

    name: str
    #: True if ``departure`` changes the answer (traffic).
    knows_traffic: bool

    def matrix(
        self,
        origins: Sequence[Location],
        destinations: Sequence[Location],
        departure: int | None = None,
        *,
        deadline: float | None = None,
        report: TravelReport | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(durations, distances)``: int64 arrays ``len(origins) x len(destinations)``.

        ``durations`` in seconds (``UNREACHABLE`` where there is no route), ``distances`` in
        metres. ``departure`` (Unix time) asks for traffic at that time from providers that know
        it; ``None`` asks for static times. ``deadline`` is a ``time.monotonic()`` instant the call
        must end by; ``report`` collects what the call did.
        """
        ...


def job_point(problem: Problem, job: int) -> int:
    """The point of ``problem``'s job ``job`` (index) in the canonical order (``DayMatrix.job_point``)."""
    return 2 * len(problem.technicians) + job


def problem_points(problem: Problem) -> list[Location]:
    """The day's points in the canonical order (see the module docstring)."""
    points: list[Location] = []
    for tech in problem.technicians:
        points.append(tech.start_location)
        points.append(tech.end_location)
    points.extend(job.location for job in problem.jobs)
    return points


@dataclass(frozen=True)
class Traffic:
    """Travel by time of day: one matrix per bucket, and which bucket each row of the day matrix uses.

    Every point of a day is left at most once (each technician has their own start and end
    points), so a row taken from the bucket of that point's planned departure makes the day
    matrix exact along the planned routes: the solver, the schedule and the checker all read
    one static matrix.
    """

    #: Plan seconds at which each bucket starts (ascending); a time before the first uses the first.
    starts: tuple[int, ...]
    labels: tuple[str, ...]
    durations: np.ndarray  # buckets x size x size
    distances: np.ndarray
    rows: np.ndarray  # bucket index of each row
    #: buckets x size x size: pairs estimated by the great-circle model (None: none).
    estimated: np.ndarray | None = None

    def bucket(self, t: int) -> int:
        return max(0, int(np.searchsorted(self.starts, t, side="right")) - 1)


@dataclass(frozen=True)
class DayMatrix:
    """Durations (s) and distances (m) between all points of a day, in the canonical order."""

    durations: np.ndarray
    distances: np.ndarray
    num_technicians: int
    source: str = ""
    #: Pairs the provider could not answer, estimated with the great-circle model (None: none).
    estimated: np.ndarray | None = None
    #: Points with no place to drive to (an address that could not be geocoded): point -> why.
    unplaced: dict[int, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    requests: int = 0
    traffic: Traffic | None = None

    def __post_init__(self) -> None:
        if self.durations.shape != self.distances.shape or self.durations.ndim != 2:
            raise ValueError("durations and distances must be square and of one shape")

    @staticmethod
    def start_point(vehicle: int) -> int:
        return 2 * vehicle

    @staticmethod
    def end_point(vehicle: int) -> int:
        return 2 * vehicle + 1

    def job_point(self, job: int) -> int:
        return 2 * self.num_technicians + job

    @property
    def size(self) -> int:
        return int(self.durations.shape[0])

    def duration(self, a: int, b: int) -> int:
        return int(self.durations[a, b])

    def distance(self, a: int, b: int) -> int:
        return int(self.distances[a, b])

    def leg_source(self, a: int, b: int) -> str:
        """Which model timed the leg from point ``a`` to ``b``."""
        if self.estimated is not None and self.estimated[a, b]:
            return "great_circle (fallback)"
        if self.traffic is not None:
            return f"{self.source} traffic {self.traffic.labels[int(self.traffic.rows[a])]}"
        return self.source

    def for_solver(self) -> DayMatrix:
        """This matrix without what only the service needs (the traffic stack): what a worker gets."""
        return dataclasses.replace(self, traffic=None) if self.traffic is not None else self

    def departing(self, departures: dict[int, int]) -> DayMatrix:
        """With traffic: the rows of ``departures``' points (point -> plan second) from the bucket
        of that departure; the same matrix without traffic or when no row changes."""
        t = self.traffic
        if t is None:
            return self
        rows = t.rows.copy()
        for point, when in departures.items():
            rows[point] = t.bucket(when)
        if np.array_equal(rows, t.rows):
            return self
        return _assemble(self, t, rows)


def _assemble(base: DayMatrix, traffic: Traffic, rows: np.ndarray) -> DayMatrix:
    n = len(rows)
    durations = traffic.durations[rows[:, None], np.arange(n)[:, None], np.arange(n)[None, :]].astype(np.int64)
    distances = traffic.distances[rows[:, None], np.arange(n)[:, None], np.arange(n)[None, :]].astype(np.int64)
    estimated = None
    if traffic.estimated is not None:
        estimated = traffic.estimated[rows[:, None], np.arange(n)[:, None], np.arange(n)[None, :]]
        estimated = estimated if estimated.any() else None
    return dataclasses.replace(
        base,
        durations=durations,
        distances=distances,
        traffic=dataclasses.replace(traffic, rows=rows),
        estimated=estimated,
    )


def day_matrix(
    problem: Problem,
    provider: MatrixProvider,
    *,
    deadline: float | None = None,
    traffic: bool | None = None,
    unplaced: dict[int, str] | None = None,
    bucket: int = 3600,
) -> DayMatrix:
    """Build the day's full matrix with ``provider``; the diagonal is zero.

    ``unplaced`` points (no coordinates: an address not found) are not asked for: their rows
    and columns are ``UNREACHABLE``. With ``traffic`` (default: the problem's option, when the
    provider knows traffic) one matrix is fetched per ``bucket`` seconds of the day, and each
    row starts from the bucket of its point's expected departure (``expected_departures``).
    """
    points = problem_points(problem)
    n = len(points)
    unplaced = dict(unplaced or {})
    placed = np.array([p not in unplaced for p in range(n)], dtype=bool)
    asked = [pt for pt, ok in zip(points, placed, strict=True) if ok]
    use_traffic = problem.options.traffic if traffic is None else traffic
    warnings: list[str] = []
    if use_traffic and not provider.knows_traffic:
        warnings.append(f"traffic asked for, but travel_model {provider.name} has none: static times used")
        use_traffic = False
    starts = [0]
    if use_traffic:
        first = max(0, min(t.shift.start for t in problem.technicians))  # nothing happens before "now"
        last = max([first + 1, *(t.latest_return for t in problem.technicians)])
        t0 = problem.epoch + first
        t0 -= t0 % bucket
        starts = list(range(t0 - problem.epoch, last, bucket))
    report = TravelReport()
    # int32: a 1,000-place day with 12 hour buckets is 2 x 48 MB, not 2 x 96 MB
    stack_d = np.full((len(starts), n, n), UNREACHABLE, dtype=np.int32 if use_traffic else np.int64)
    stack_m = np.zeros((len(starts), n, n), dtype=stack_d.dtype)
    estimated = np.zeros((len(starts), n, n), dtype=bool)
    inner = np.ix_(placed, placed)
    for b, start in enumerate(starts):
        if not asked:
            break
        when = problem.epoch + start if use_traffic else None
        d, m = provider.matrix(asked, asked, departure=when, deadline=deadline, report=report)
        stack_d[b][inner], stack_m[b][inner] = d, m
        if report.estimated is not None:
            estimated[b][inner] = report.estimated
    for stack in (stack_d, stack_m):
        for b in range(len(starts)):
            np.fill_diagonal(stack[b], 0)
    warnings += list(dict.fromkeys(report.warnings))
    base = DayMatrix(
        durations=stack_d[0].astype(np.int64, copy=False),
        distances=stack_m[0].astype(np.int64, copy=False),
        num_technicians=len(problem.technicians),
        source=provider.name,
        estimated=estimated[0] if estimated[0].any() else None,
        unplaced=unplaced,
        warnings=tuple(warnings),
        requests=report.requests,
    )
    if not use_traffic:
        return base
    labels = tuple(_label(problem.epoch + s) for s in starts)
    buckets = Traffic(
        tuple(starts), labels, stack_d, stack_m, np.zeros(n, dtype=np.int64), estimated if estimated.any() else None
    )
    rows = np.array([buckets.bucket(t) for t in expected_departures(problem)], dtype=np.int64)
    return _assemble(base, buckets, rows)


def expected_departures(problem: Problem) -> list[int]:
    """Before planning, when each point will be left (plan seconds): a technician's start at the
    shift start; a job at the middle of its arrival windows plus its service; an end point at
    the shift end (never left)."""
    out: list[int] = []
    for tech in problem.technicians:
        out += [max(0, tech.shift.start), tech.shift.end]
    day_mid = (
        min([0, *(t.shift.start for t in problem.technicians)]) + max([0, *(t.shift.end for t in problem.technicians)])
    ) // 2
    for job in problem.jobs:
        windows = job.time_windows
        mid = (windows[0].start + max(w.end for w in windows)) // 2 if windows else day_mid
        if job.respond_within is not None:
            mid = min(mid, job.respond_within)
        out.append(max(0, mid) + job.service_duration)
    return out


def _label(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%a %H:%MZ")
