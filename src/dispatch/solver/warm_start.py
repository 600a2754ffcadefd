"""The plan of a textbook day from PyVRP's iterated local search, read into OR-Tools' model.

PyVRP (an iterated local search for VRPTW-family problems) finds much better routes
in a few seconds than OR-Tools' own first-solution heuristics plus guided local search.
It gets the days it can express exactly (``dispatch.solver.search.textbook``), as a version
of the day whose routes the full model accepts:

- shifts, start/end places, windows, service times: as they are; a job with several
  arrival windows keeps only its longest one (a restriction: still feasible);
- parts: a multi-dimensional capacity; skills, tools, pins and reachability: one
  routing profile per set of allowed jobs (an arc into a job a technician may not serve
  costs more than any plan);
- priorities: prizes;
- breaks and the emergency term: not expressible; such days go to VROOM (``lns``).

OR-Tools loads the routes (``ReadAssignmentFromRoutes``), which re-checks every
constraint of the full model.

Only this module imports PyVRP.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyvrp
import pyvrp.stop
from pyvrp.exceptions import PenaltyBoundWarning

from dispatch.domain import Job, Problem, Technician
from dispatch.matrix import DayMatrix
from dispatch.solver.schedule import RouteTimer
from dispatch.solver.screen import Screening, pending_breaks, service_windows, shift_bounds

log = logging.getLogger("dispatch")

#: Largest problem sent to PyVRP: its matrices are dense, one pair per routing profile.
MAX_CELLS = 60_000_000  # profiles x locations^2
#: Cap for the arc cost that blocks a job for a technician.
MAX_COST = 1 << 40
#: Prize ratio between adjacent priorities. PyVRP weighs a prize against per-second
#: penalties for late arrival (capped), so prizes must stay near the scale of travel
#: costs: OR-Tools' exact lexicographic penalties (up to 2^60) would make PyVRP prefer
#: late, infeasible routes to dropping anything.
PRIZE_STEP = 4
#: Share of PyVRP's time spent looking for a plan that serves every job before giving up on that.
REQUIRED_FIRST_SHARE = 0.3
INFEASIBLE_COST = 1 << 62  # PyVRP reports "a very large number" (int64 max) for an infeasible best


@dataclass(frozen=True)
class Routes:
    """Job indices in visiting order, per technician index (technicians without work omitted)."""

    by_technician: dict[int, list[int]]


def exact(problem: Problem) -> bool:
    """True if PyVRP's routes are feasible for the full model as they are: no breaks left to take."""
    return not any(pending_breaks(tech) for tech in problem.technicians)


def fits(problem: Problem, screening: Screening) -> bool:
    """Whether PyVRP's dense matrices for the day (one per routing profile) stay under ``MAX_CELLS``."""
    jobs = [j for j in range(len(problem.jobs)) if screening.eligible[j]]
    profiles = {g.allowed for g in _vehicle_groups(problem, screening, jobs)}
    return len(profiles) * (len(problem.technicians) * 2 + len(jobs)) ** 2 <= MAX_CELLS


def arrival_window(job: Job, horizon: int) -> tuple[int, int]:
    """The one window PyVRP gets: the job's longest (earliest on a tie) merged window."""
    return max(service_windows(job, horizon), key=lambda w: (w[1] - w[0], -w[0]))


def working_hours(tech: Technician) -> tuple[int, int]:
    """Shift bounds for PyVRP: leave from the shift start, back by its end (no breaks: ``exact``)."""
    return shift_bounds(tech) or (0, 0)  # shift over: no job is allowed for this technician anyway


def pyvrp_routes(
    problem: Problem,
    matrix: DayMatrix,
    screening: Screening,
    *,
    time_limit: float,
    seed: int = 1,
) -> Routes | None:
    """Solve the day with PyVRP in ``time_limit`` seconds; ``None`` if it is too large or finds nothing.

    Serving a job is worth more than the detour to it, and each priority level is worth
    ``PRIZE_STEP`` times the one below. Every route keeps windows, shifts, stock and
    qualifications, and leaves room for the breaks.
    """
    jobs = [j for j in range(len(problem.jobs)) if screening.eligible[j]]
    if not jobs:
        return None
    groups = _vehicle_groups(problem, screening, jobs)
    profiles = sorted({g.allowed for g in groups})
    n_locations = len(problem.technicians) * 2 + len(jobs)
    if len(profiles) * n_locations**2 > MAX_CELLS:
        log.info("warm start skipped: %d profiles x %d locations is too large", len(profiles), n_locations)
        return None
    began = time.monotonic()
    # Most days can be served in full: PyVRP searches best with every job required. If no
    # plan serving everything turns up in the first part of the budget, the rest goes to
    # the prize-collecting version, where jobs may be left out by priority.
    data, forbidden = _problem_data(problem, matrix, screening, jobs, groups, profiles, required=True)
    stop = _Budget(time_limit, give_up_after=REQUIRED_FIRST_SHARE * time_limit)
    with warnings.catch_warnings():
        # An overbooked day cannot be served in full: PyVRP's "penalty at its maximum" warning is expected.
        warnings.simplefilter("ignore", category=PenaltyBoundWarning)
        result = pyvrp.solve(data, stop=stop, seed=seed, display=False)
        # "Feasible" through an arc a technician may not take is PyVRP's way of saying some job
        # cannot be served by anyone allowed: that day needs the prize-collecting version too.
        if not result.best.is_feasible() or result.cost() >= forbidden:
            data, _ = _problem_data(problem, matrix, screening, jobs, groups, profiles, required=False)
            top_prize = max(c.prize for c in data.clients())
            params = pyvrp.SolveParams(penalty=pyvrp.PenaltyParams(max_penalty=max(1e5, 4.0 * top_prize)))
            remaining = max(time_limit - (time.monotonic() - began), 0.01)
            result = pyvrp.solve(data, stop=pyvrp.stop.MaxRuntime(remaining), seed=seed, display=False, params=params)
    if not result.best.is_feasible():
        # Prize-collecting with capped penalties can end on late or overloaded routes; keep
        # what fits and let OR-Tools re-insert the rest.
        log.info("warm start: PyVRP's best plan is infeasible; dropping the visits that break it")
    by_technician: dict[int, list[int]] = {}
    free = {k: list(g.technicians) for k, g in enumerate(groups)}
    timer = RouteTimer(problem, matrix, screening.horizon)
    for route in result.best.routes():
        v = free[route.vehicle_type()].pop(0)
        # Keep the visits the technician can make in order, with the breaks still to take.
        clients = timer.fit(
            v, [jobs[a.idx] for a in route if a.is_client()], functools.partial(_eligible, screening, v)
        )
        if clients:
            by_technician[v] = clients
    return Routes(by_technician=by_technician)


def blocked_arc_cost(durations: np.ndarray, arcs: int) -> int:
    """The cost of an arc into a job the technician may not serve: more than ``arcs`` of the longest."""
    return int(min(MAX_COST, (int(durations.max(initial=0)) + 1) * (arcs + 1)))


class _Budget:
    """PyVRP stopping criterion: ``limit`` seconds, or ``give_up_after`` seconds without a feasible plan."""

    def __init__(self, limit: float, *, give_up_after: float) -> None:
        self.limit = max(limit, 0.01)
        self.give_up_after = give_up_after
        self.began: float | None = None

    def __call__(self, best_cost: int) -> bool:
        now = time.monotonic()
        if self.began is None:
            self.began = now
        elapsed = now - self.began
        return elapsed >= self.limit or (elapsed >= self.give_up_after and best_cost >= INFEASIBLE_COST)


@dataclass(frozen=True)
class _Group:
    """Interchangeable technicians: same places, shift, stock and allowed jobs."""

    technicians: tuple[int, ...]
    allowed: frozenset[int]


def _vehicle_groups(problem: Problem, screening: Screening, jobs: list[int]) -> list[_Group]:
    allowed: dict[int, set[int]] = defaultdict(set)
    for j in jobs:
        for v in screening.eligible[j]:
            allowed[v].add(j)
    members: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for v, tech in enumerate(problem.technicians):
        key = (tech.start_location, tech.end_location, working_hours(tech), tech.parts, frozenset(allowed[v]))
        members[key].append(v)
    return [_Group(technicians=tuple(vs), allowed=key[-1]) for key, vs in members.items()]


def _problem_data(
    problem: Problem,
    matrix: DayMatrix,
    screening: Screening,
    jobs: list[int],
    groups: list[_Group],
    profiles: list[frozenset[int]],
    *,
    required: bool,
) -> tuple[pyvrp.ProblemData, int]:
    """PyVRP's version of the day, and the cost of an arc into a job the technician may not serve."""
    # Locations: each group's start and, where it ends elsewhere, its end (of its first technician;
    # one depot for both where they are one place, as PyVRP's own VRPTW models have), then the jobs.
    points: list[int] = []
    ends: list[tuple[int, int]] = []
    for g in groups:
        start, end = matrix.start_point(g.technicians[0]), matrix.end_point(g.technicians[0])
        same = matrix.duration(start, end) == 0 and matrix.duration(end, start) == 0
        ends.append((len(points), len(points) if same else len(points) + 1))
        points += [start] if same else [start, end]
    n_depots = len(points)
    location_of_job = {j: len(points) + k for k, j in enumerate(jobs)}
    points += [matrix.job_point(j) for j in jobs]
    idx = np.asarray(points, dtype=np.int64)
    durations = np.ascontiguousarray(matrix.durations[np.ix_(idx, idx)], dtype=np.int64)
    np.minimum(durations, screening.horizon + 1, out=durations)  # no route: past the horizon, never driven
    parts = sorted({p for j in jobs for p, _ in problem.jobs[j].required_parts})
    longest = int(durations.max(initial=0))
    # More than any plan that uses only allowed arcs (at most one arc per job plus one per technician).
    forbidden = blocked_arc_cost(durations, len(problem.technicians) + len(jobs))
    distance_matrices = []
    for allowed in profiles:
        d = durations.copy()
        blocked = [location_of_job[j] for j in jobs if j not in allowed]
        d[:, blocked] = forbidden
        np.fill_diagonal(d, 0)
        distance_matrices.append(d)
    clients = []
    for j in jobs:
        job = problem.jobs[j]
        early, late = arrival_window(job, screening.horizon)
        need = dict(job.required_parts)
        clients.append(
            pyvrp.Client(
                location=location_of_job[j],
                delivery=[need.get(p, 0) for p in parts],
                service_duration=job.service_duration,
                tw_early=early,
                tw_late=late,
                prize=0 if required else (2 * longest + 1) * PRIZE_STEP ** (int(job.priority) - 1),
                required=required,
            )
        )
    depots = [pyvrp.Depot(location=k) for k in range(n_depots)]
    vehicle_types = []
    for k, g in enumerate(groups):
        tech = problem.technicians[g.technicians[0]]
        lo, hi = working_hours(tech)
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=len(g.technicians),
                capacity=[tech.stock(p) for p in parts],
                start_depot=ends[k][0],
                end_depot=ends[k][1],
                tw_early=lo,
                tw_late=hi,
                profile=profiles.index(g.allowed),
            )
        )
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(0, 0) for _ in points],
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=distance_matrices,  # type: ignore[arg-type]  # pyvrp's stubs: ndarray[int, ...]
        duration_matrices=[durations] * len(profiles),  # type: ignore[list-item]
    )
    return data, forbidden


def _eligible(screening: Screening, v: int, j: int) -> bool:
    """Whether technician ``v`` may serve job ``j``."""
    return v in screening.eligible[j]
