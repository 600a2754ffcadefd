"""Routes for a part of the day from VROOM (pyvroom): the search's construction and sub-solver.

VROOM expresses every rule of a dispatch day natively: shifts, own start and end places,
breaks (each in its window, taken at a stop), several arrival windows, ``respond_within``
(the windows clipped to it), van stock as a multi-dimensional capacity, and who may serve a
job -- skills, tools, pins, stock and reachability alike, as one VROOM skill per distinct
set of allowed technicians. Priorities become VROOM priorities (LOW 0, NORMAL 1, HIGH 10,
EMERGENCY 100): VROOM serves the largest priority sum first, then the most jobs, then the
least travel. That is the dispatch order for NORMAL over LOW and close to it above; the
search (``dispatch.solver.lns``) keeps only what the exact lexicographic order accepts.

Every route VROOM returns is re-timed by ``RouteTimer`` (which also accepts a break
interrupting a drive, so VROOM's routes are a subset of ours) before it is used.

Only this module imports VROOM.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta

import numpy as np
import vroom

from dispatch.domain import Priority, Problem
from dispatch.matrix import DayMatrix
from dispatch.solver.screen import Screening, pending_breaks, service_windows, shift_bounds

log = logging.getLogger("dispatch")

VROOM_PRIORITY = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 10, Priority.EMERGENCY: 100}
#: VROOM's heaviest search (32 constructions, each with a local search).
MAX_EXPLORATION = 5


def vroom_routes(
    problem: Problem,
    matrix: DayMatrix,
    screening: Screening,
    technicians: Sequence[int],
    jobs: Sequence[int],
    *,
    exploration: int = MAX_EXPLORATION,
    timeout: float | None = None,
    within: dict[int, tuple[int, int]] | None = None,
    allowed: Mapping[int, Sequence[int]] | None = None,
    noise: tuple[float, int] | None = None,
    caps: Mapping[int, tuple[int | None, int | None]] | None = None,
) -> dict[int, list[int]] | None:
    """Solve the part of the day made of ``technicians`` and ``jobs`` (indices) with VROOM.

    For this solve only, ``within`` (job index -> ``(earliest, latest)`` plan seconds) narrows
    a job's service start, and ``allowed`` (job index -> technician indices) who may serve it.
    ``timeout`` bounds VROOM's local search, not its constructions (parts of a few hundred jobs
    construct in well under a second). ``noise`` ``(share, seed)`` makes each drive cost up to
    ``share`` more at random (its duration stays the same): VROOM is deterministic, and a part
    solved again needs another view of it to find anything new. ``caps`` (technician index ->
    ``(latest return, most visits)``, either ``None``) shortens a technician's day for this solve:
    VROOM prices neither overtime nor an uneven day, so the search asks it for days that avoid
    them and lets the objective judge. Returns job indices per
    technician index (technicians without work omitted), or ``None`` if VROOM failed.
    """
    within = within or {}
    allowed = allowed or {}
    usable = [v for v in technicians if _working_hours(problem, v) is not None]
    if not usable or not jobs:
        return {}
    points = [p for v in usable for p in (matrix.start_point(v), matrix.end_point(v))]
    points += [matrix.job_point(j) for j in jobs]
    idx = np.asarray(points, dtype=np.int64)
    durations = np.minimum(matrix.durations[np.ix_(idx, idx)], screening.horizon + 1).astype(np.uint32)
    chosen = set(usable)
    parts = sorted({p for j in jobs for p, q in problem.jobs[j].required_parts if q > 0})
    skill_of: dict[tuple[int, ...], int] = {}
    job_skill = []
    for j in jobs:
        who = tuple(v for v in allowed.get(j, screening.eligible[j]) if v in chosen)
        job_skill.append(skill_of.setdefault(who, len(skill_of)))
    skills: dict[int, set[int]] = {v: set() for v in usable}
    for who, skill in skill_of.items():
        for v in who:
            skills[v].add(skill)
    data = vroom.Input()
    data.set_durations_matrix(profile="car", matrix_input=durations)
    if noise is not None:
        share, seed = noise
        factor = 1.0 + share * np.random.default_rng(seed).random(durations.shape)
        data.set_costs_matrix(profile="car", matrix_input=np.minimum(durations * factor, 2**31).astype(np.uint32))
    caps = caps or {}
    for k, v in enumerate(usable):
        tech = problem.technicians[v]
        lo, hi, breaks = _working_hours(problem, v)  # type: ignore[misc]
        latest, most = caps.get(v, (None, None))
        if latest is not None:  # never before the breaks still to take can end (VROOM: "inconsistent breaks")
            hi = max(lo, min(hi, max([latest, *(z + length for _, z, length in breaks)])))
        data.add_vehicle(
            vroom.Vehicle(
                id=v,
                start=2 * k,
                end=2 * k + 1,
                capacity=[tech.stock(p) for p in parts],
                skills=skills[v],
                time_window=vroom.TimeWindow(lo, hi),
                breaks=[
                    vroom.Break(id=b + 1, time_windows=[vroom.TimeWindow(a, z)], service=length)
                    for b, (a, z, length) in enumerate(breaks)
                ],
                **({"max_tasks": most} if most is not None else {}),
            )
        )
    first_job = 2 * len(usable)
    for k, j in enumerate(jobs):
        job = problem.jobs[j]
        windows = service_windows(job, screening.horizon)
        if j in within:
            lo, hi = within[j]
            windows = [(max(a, lo), min(b, hi)) for a, b in windows if max(a, lo) <= min(b, hi)]
        if not windows:
            continue  # nothing left of its windows: not served in this solve
        need = dict(job.required_parts)
        data.add_job(
            vroom.Job(
                id=j,
                location=first_job + k,
                default_service=job.service_duration,
                delivery=[need.get(p, 0) for p in parts],
                skills={job_skill[k]},
                priority=VROOM_PRIORITY[job.priority],
                time_windows=[vroom.TimeWindow(a, b) for a, b in windows],
            )
        )
    try:
        solution = data.solve(
            exploration_level=max(0, min(MAX_EXPLORATION, exploration)),
            nb_threads=1,
            timeout=None if timeout is None else timedelta(seconds=max(0.0, timeout)),
        )
    except Exception as exc:  # noqa: BLE001 -- VROOM refusing a part must not end the search
        log.warning("VROOM failed on a part of %d technicians and %d jobs: %s", len(usable), len(jobs), exc)
        return None
    steps = np.asarray(solution._routes_numpy())
    out: dict[int, list[int]] = {}
    for vehicle, kind, job_id in zip(steps["vehicle_id"], steps["type"], steps["id"], strict=True):
        if kind == b"job":
            out.setdefault(int(vehicle), []).append(int(job_id))
    return out


def _working_hours(problem: Problem, v: int) -> tuple[int, int, list[tuple[int, int, int]]] | None:
    """Shift bounds and the breaks still to take as ``(earliest start, latest start, length)``, in
    order; ``None`` for a technician who cannot work (shift over, or a break that fits nowhere: the
    breaks taken one after the other from the earliest departure, VROOM's own check, which refuses
    the whole solve with "Inconsistent breaks" otherwise -- seen in a re-plan, a technician free only
    after their lunch's latest start)."""
    tech = problem.technicians[v]
    bounds = shift_bounds(tech)
    if bounds is None:
        return None
    breaks = sorted((max(b.window.start, 0), b.window.end - b.duration, b.duration) for b in pending_breaks(tech))
    ready = bounds[0]
    for a, z, length in breaks:
        if max(a, ready) > z:
            return None
        ready = max(a, ready) + length
    if ready > bounds[1]:
        return None
    return bounds[0], bounds[1], breaks
