"""What a request will cost, known before anything expensive runs, and the admission that keeps
the server's running requests within its memory budget.

A day of ``n`` points (two per technician, one per job) needs its travel matrix, ``n x n``
durations and distances, in the server process (one per traffic bucket when traffic is on), and
its search needs a model of about the same order in a solver worker. That quadratic term is
what took a 5,000-job request to 1.8 GB before it was refused: so every RPC that validates,
solves or re-plans asks ``request_cost`` first, right after validation (which is linear), and

- a request that could never fit (``bytes`` over ``max_request_memory``) is refused
  ``INVALID_ARGUMENT`` naming the limit (``DISPATCH_MAX_REQUEST_MEMORY``): retrying cannot help;
- a request that fits, but not beside those already running (their sum over ``memory_budget``,
  ``DISPATCH_MEMORY_BUDGET``), or a solve when every solver worker is busy and the wait queue is
  full, is refused ``RESOURCE_EXHAUSTED`` at once: retry later or on another replica.

The coefficients are measured (``benchmarks/request_memory.py``; figures in
``benchmarks/RESULTS.md``), rounded up: the estimate is meant to be above what a request takes
(server process and solver worker together).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from dispatch.domain import Problem
from dispatch.errors import FieldViolation, OverloadedError, ProblemError

MIB = 1024 * 1024

#: Bytes per point pair in the server process: building the great-circle matrix peaks at 72
#: (float64 temporaries; it keeps 16), sending it to the worker at 48 (the pickle beside the
#: arrays). Measured 71.8 B/pt^2 (fit over 40 runs, 10 x 100 to 500 x 5,000), rounded up.
PARENT_BYTES_PER_CELL = 80
#: A request that carries its own matrix: the parsed message (44 B/pt^2), the converted arrays
#: (16), the day matrix and the pickle: measured 126-142, rounded up.
EXPLICIT_PARENT_BYTES_PER_CELL = 160
#: Bytes per point pair in the solver worker: VROOM's path measured 29-37 (65 with an explicit
#: matrix, sent twice), PyVRP then the full OR-Tools model 82-93 (one matrix per routing
#: profile): the worst, rounded up.
WORKER_BYTES_PER_CELL = 100
#: Bytes per point pair and traffic bucket: int32 durations and distances and a bool (9).
BUCKET_BYTES_PER_CELL = 9
#: Bytes per technician-job pair (the worker's screening: ~45 measured).
BYTES_PER_PAIR = 64
#: Bytes per job and per arrival window, beyond the matrix (the domain objects: ~3 KB a job measured).
BYTES_PER_JOB = 4_000
BYTES_PER_WINDOW = 3_000
#: A fixed part per request (the worker's search state, the answer): ~30 MiB measured.
BASE_BYTES = 40 * MIB
#: Seconds per point pair that building the matrix, the search's set-up and the check take
#: before any search (0.2-0.3 us for the great-circle matrix alone; 5,000 jobs: 9-20 s in all on
#: the 2-core machine of benchmarks/RESULTS.md). A time limit below ``SETUP_SECONDS_PER_CELL x
#: points^2`` cannot be kept: such a ``Solve`` is refused, naming ``options.time_limit``.
SETUP_SECONDS_PER_CELL = 0.3e-6


@dataclass(frozen=True)
class Cost:
    """A request's size and the memory it is expected to take (server process and worker)."""

    points: int
    technicians: int
    jobs: int
    windows: int
    buckets: int
    bytes: int
    #: Seconds of set-up before any search (``SETUP_SECONDS_PER_CELL``).
    setup_seconds: float = 0.0

    def describe(self) -> str:
        traffic = f" x {self.buckets} traffic buckets" if self.buckets > 1 else ""
        return (
            f"{self.technicians} technicians and {self.jobs} jobs make {self.points} points: a "
            f"{self.points} x {self.points} travel matrix{traffic}, about {self.bytes / MIB:,.0f} MiB to plan"
        )


def traffic_buckets(problem: Problem, bucket: int) -> int:
    """How many traffic matrices ``problem`` would need (1 without traffic)."""
    if not problem.options.traffic or not problem.technicians:
        return 1
    first = max(0, min(t.shift.start for t in problem.technicians))
    last = max([first + 1, *(t.latest_return for t in problem.technicians)])
    return max(1, math.ceil((last - first) / bucket) + 1)


def estimate(problem: Problem, *, bucket: int = 3600, traffic_known: bool = False) -> Cost:
    """The cost of planning ``problem`` (valid: checked by ``dispatch.validate`` first).

    ``traffic_known``: whether the travel model knows traffic (Google): only then does
    ``options.traffic`` multiply the matrix by the day's buckets.
    """
    technicians, jobs = len(problem.technicians), len(problem.jobs)
    points = 2 * technicians + jobs
    windows = sum(len(j.time_windows) for j in problem.jobs)
    buckets = traffic_buckets(problem, bucket) if traffic_known else 1
    cells = points * points
    parent = EXPLICIT_PARENT_BYTES_PER_CELL if problem.travel_matrix is not None else PARENT_BYTES_PER_CELL
    size = (
        BASE_BYTES
        + cells * (parent + WORKER_BYTES_PER_CELL)
        + (cells * BUCKET_BYTES_PER_CELL * buckets if buckets > 1 else 0)
        + technicians * jobs * BYTES_PER_PAIR
        + jobs * BYTES_PER_JOB
        + windows * BYTES_PER_WINDOW
    )
    return Cost(
        points=points,
        technicians=technicians,
        jobs=jobs,
        windows=windows,
        buckets=buckets,
        bytes=size,
        setup_seconds=cells * SETUP_SECONDS_PER_CELL,
    )


class Admission:
    """The server's running requests, held within ``memory`` bytes (the sum of their estimates)
    and ``solves`` solves at once (the solver workers plus the requests allowed to wait for one).

    ``max_request`` bytes is what one request may need at most: over it, it is refused for good
    (``ProblemError``); ``reserve`` refuses with ``OverloadedError`` what does not fit now.
    """

    def __init__(self, *, memory: int, solves: int, max_request: int | None = None) -> None:
        self.memory = memory
        self.solves = solves
        self.max_request = memory if max_request is None else min(max_request, memory)
        self.in_use = 0
        self.running = 0
        self.solving = 0
        self._lock = threading.Lock()

    def has_room(self, *, solve: bool = False) -> bool:
        with self._lock:
            return self.in_use < self.memory and not (solve and self.solving >= self.solves)

    def check(self, *, solve: bool = False) -> None:
        """Raise ``OverloadedError`` if a solve (or any request) would be refused now, before its
        request is even converted."""
        with self._lock:
            self._refuse_if_full(0, solve)

    def _refuse_if_full(self, size: int, solve: bool) -> None:
        if solve and self.solving >= self.solves:
            raise OverloadedError(
                f"{self.solving} solves are running or waiting for a solver worker (at most {self.solves}): "
                "try again shortly, or another replica"
            )
        if self.in_use + size > self.memory:
            raise OverloadedError(
                f"the server's memory budget ({self.memory / MIB:,.0f} MiB, DISPATCH_MEMORY_BUDGET) is taken by "
                f"{self.running} running request(s) ({self.in_use / MIB:,.0f} MiB); this one needs about "
                f"{size / MIB:,.0f} MiB: try again shortly, or another replica"
            )

    def refuse_if_too_big(self, cost: Cost) -> None:
        """``ProblemError`` naming the limit if ``cost`` is over what one request may take."""
        if cost.bytes > self.max_request:
            raise ProblemError(
                [
                    FieldViolation(
                        "jobs" if cost.jobs >= cost.technicians else "technicians",
                        f"too large for this server: {cost.describe()}, over its per-request limit of "
                        f"{self.max_request / MIB:,.0f} MiB (DISPATCH_MAX_REQUEST_MEMORY): split the day "
                        "(by zone or skill) or plan fewer jobs at once",
                    )
                ]
            )

    @contextlib.contextmanager
    def reserve(self, cost: Cost, *, solve: bool = False) -> Iterator[None]:
        """Hold ``cost.bytes`` (and a solve's place) while the request runs."""
        self.refuse_if_too_big(cost)
        with self._lock:
            self._refuse_if_full(cost.bytes, solve)
            self.in_use += cost.bytes
            self.running += 1
            self.solving += int(solve)
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= cost.bytes
                self.running -= 1
                self.solving -= int(solve)
