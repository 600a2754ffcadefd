"""Before the search: which technicians could serve each job on its own, and why none can.

A job that no technician could serve even alone never enters the model; it is
unassigned with the first reason that rules it out, in the order a dispatcher
checks: skills/tools (or the pinned technician), parts on the van, time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dispatch.domain import Break, Job, Problem, Technician, Unassigned, UnassignedReason, may_serve
from dispatch.matrix import DayMatrix
from dispatch.matrix.base import UNREACHABLE


@dataclass(frozen=True)
class Screening:
    """``eligible[j]``: technician indices that could serve job ``j`` alone (empty: unassigned).

    ``earliest[j]``: the earliest service start of job ``j`` by any of them, leaving home at the
    start of the shift with nothing else to do (breaks aside); -1 for a job no one can serve.
    An emergency's response is measured from it.
    """

    eligible: list[list[int]]
    unassigned: dict[int, Unassigned]
    horizon: int
    earliest: list[int]


def horizon(problem: Problem) -> int:
    """The last moment anything can happen: the latest shift end (at least 0)."""
    return max([0, *(t.latest_return for t in problem.technicians)])


def service_windows(job: Job, end: int) -> list[tuple[int, int]]:
    """The job's allowed service-start windows, merged, clipped to ``[0, end]`` and ``respond_within``."""
    raw = [(w.start, w.end) for w in job.time_windows] or [(0, end)]
    latest = end if job.respond_within is None else min(end, job.respond_within)
    clipped = sorted((max(a, 0), min(b, latest)) for a, b in raw)
    merged: list[tuple[int, int]] = []
    for a, b in clipped:
        if a > b:
            continue
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def shift_bounds(tech: Technician) -> tuple[int, int] | None:
    """``(earliest departure, latest return)`` from now on (overtime included), or ``None`` if the
    shift is over."""
    lo, hi = max(0, tech.shift.start), tech.latest_return
    return (lo, hi) if hi >= lo else None


def pending_breaks(tech: Technician) -> list[Break]:
    """The technician's breaks that can still start (latest start not in the past); the others are history."""
    return [b for b in tech.breaks if b.window.end - b.duration >= 0]


def capacity_exhausted(job: Job) -> Unassigned:
    """A job that passed screening but fits into no route of the final plan: its qualified
    technicians' time or stock went to other work of its priority or higher."""
    return Unassigned(
        job_id=job.id,
        reason=UnassignedReason.CAPACITY_EXHAUSTED,
        detail="could be served alone, but fits into no qualified technician's route as planned "
        "(windows, shift, breaks or van stock), and no lower-priority visit can give it its place",
    )


def time_limit_reached(job: Job) -> Unassigned:
    """A job that passed screening but that the search had no time left to place or rule out."""
    return Unassigned(
        job_id=job.id,
        reason=UnassignedReason.TIME_LIMIT_REACHED,
        detail="the search ran out of time before it could place this job or show that it fits "
        "nowhere; a longer time_limit may serve it",
    )


def screen(problem: Problem, matrix: DayMatrix) -> Screening:
    end = horizon(problem)
    techs = problem.technicians
    reachable, first = _reachable_alone(problem, matrix, end)
    cut_off = _cut_off(problem, matrix)
    stock = [dict(t.parts) for t in techs]
    everyone = list(range(len(techs)))
    qualified_for: dict[tuple[str | None, frozenset[str], frozenset[str]], list[int]] = {}
    eligible: list[list[int]] = []
    unassigned: dict[int, Unassigned] = {}
    for j, job in enumerate(problem.jobs):
        unplaced = matrix.unplaced.get(matrix.job_point(j))
        if unplaced is not None:
            eligible.append([])
            unassigned[j] = Unassigned(job_id=job.id, reason=UnassignedReason.ADDRESS_NOT_FOUND, detail=unplaced)
            continue
        key = (job.pinned_technician_id, job.required_skills | job.required_skills_any_member, job.required_tools)
        qualified = qualified_for.get(key)
        if qualified is None:  # technicians qualified for one combination of needs, asked once
            candidates = everyone
            if job.pinned_technician_id:
                candidates = [v for v in everyone if may_serve(job.pinned_technician_id, techs[v].id)]
            qualified = qualified_for[key] = [v for v in candidates if _qualified(techs[v], job)]
        vehicles, reason = _eligible(problem, job, qualified, stock, reachable[j], cut_off[j])
        eligible.append(vehicles)
        if reason is not None:
            unassigned[j] = reason
    earliest = [int(first[j, vehicles].min()) if vehicles else -1 for j, vehicles in enumerate(eligible)]
    return Screening(eligible=eligible, unassigned=unassigned, horizon=end, earliest=earliest)


def _qualified(tech: Technician, job: Job) -> bool:
    return (
        job.required_skills <= tech.skills
        and job.required_tools <= tech.tools
        and job.required_skills_any_member <= tech.skills
    )


def _eligible(
    problem: Problem,
    job: Job,
    qualified: list[int],
    stock: list[dict[str, int]],
    reachable: np.ndarray,
    cut_off: np.ndarray,
) -> tuple[list[int], Unassigned | None]:
    """The technicians (of ``qualified``) who could serve ``job`` alone, or why none can."""
    if not qualified:
        return [], Unassigned(
            job_id=job.id,
            reason=UnassignedReason.NO_QUALIFIED_TECHNICIAN,
            detail=_qualification_detail(problem, job),
        )
    stocked = qualified
    if job.required_parts:
        stocked = [v for v in qualified if all(stock[v].get(p, 0) >= q for p, q in job.required_parts)]
    if not stocked:
        parts = ", ".join(f"{q} x {p}" for p, q in job.required_parts)
        return [], Unassigned(
            job_id=job.id,
            reason=UnassignedReason.PARTS_UNAVAILABLE,
            detail=f"no qualified technician's van carries {parts}",
        )
    reach = [v for v in stocked if reachable[v]]
    if not reach and all(cut_off[v] for v in stocked):
        return [], Unassigned(
            job_id=job.id,
            reason=UnassignedReason.UNREACHABLE,
            detail=f"no road route between the job and the start or end of any of {len(stocked)} "
            "qualified technician(s) (the travel provider found none)",
        )
    if not reach:
        return [], Unassigned(
            job_id=job.id,
            reason=UnassignedReason.NO_REACHABLE_WINDOW,
            detail=(
                "no arrival window can be reached (with the service finished and the technician "
                f"back by shift end) by any of {len(stocked)} qualified technician(s)"
            ),
        )
    return reach, None


def _reachable_alone(problem: Problem, matrix: DayMatrix, end: int) -> tuple[np.ndarray, np.ndarray]:
    """``[j, v]``: technician ``v`` could leave at the start of the shift, serve job ``j`` in one
    of its windows and be back by the end of the shift (one array pass per window, not a
    Python loop over every job and technician); and the earliest such service start (where
    there is none: a large number)."""
    techs, jobs = problem.technicians, problem.jobs
    m, n = len(techs), len(jobs)
    if m == 0 or n == 0:
        return np.zeros((n, m), dtype=bool), np.zeros((n, m), dtype=np.int64)
    bounds = [shift_bounds(t) for t in techs]
    depart = np.array([b[0] if b else 0 for b in bounds], dtype=np.int64)
    back_by = np.array([b[1] if b else -1 for b in bounds], dtype=np.int64)
    on_shift = np.array([b is not None for b in bounds])
    starts = 2 * np.arange(m)
    points = 2 * m + np.arange(n)
    durations = matrix.durations
    arrive = depart[None, :] + durations[starts[None, :], points[:, None]]
    finish_by = back_by[None, :] - durations[points[:, None], starts[None, :] + 1]
    service = np.array([job.service_duration for job in jobs], dtype=np.int64)[:, None]
    windows = [service_windows(job, end) for job in jobs]
    width = max(1, *(len(w) for w in windows))
    opens = np.zeros((n, width), dtype=np.int64)
    closes = np.full((n, width), -1, dtype=np.int64)  # a padding window no start fits
    for j, ws in enumerate(windows):
        for k, (a, b) in enumerate(ws):
            opens[j, k], closes[j, k] = a, b
    ok = np.zeros((n, m), dtype=bool)
    first = np.full((n, m), _NEVER, dtype=np.int64)
    for k in range(width):
        start = np.maximum(arrive, opens[:, k, None])
        fits = (start <= closes[:, k, None]) & (start + service <= finish_by)
        ok |= fits
        first = np.where(fits, np.minimum(first, start), first)
    ok &= on_shift[None, :]
    return ok, first


_NEVER = 1 << 62


def _cut_off(problem: Problem, matrix: DayMatrix) -> np.ndarray:
    """``[j, v]``: there is no route from technician ``v``'s start to job ``j``, or from it to their end."""
    m, n = len(problem.technicians), len(problem.jobs)
    if m == 0 or n == 0:
        return np.zeros((n, m), dtype=bool)
    starts, points = 2 * np.arange(m), 2 * m + np.arange(n)
    d = matrix.durations
    return (d[starts[None, :], points[:, None]] >= UNREACHABLE) | (
        d[points[:, None], starts[None, :] + 1] >= UNREACHABLE
    )


def _qualification_detail(problem: Problem, job: Job) -> str:
    if job.pinned_technician_id:
        pinned = [t for t in problem.technicians if may_serve(job.pinned_technician_id, t.id)]
        if not pinned:
            # a re-plan without them: unavailable from before now, or their shift is over
            return (
                f"pinned to technician {job.pinned_technician_id!r}, who is not working for the rest of the day: "
                "pin it to another technician, or send it without the pin"
            )
        tech = pinned[0]
        missing = (job.required_skills - tech.skills) | (job.required_tools - tech.tools)
        return f"pinned technician {tech.id!r} lacks {', '.join(sorted(missing))}"
    needs = sorted(job.required_skills | job.required_tools)
    return f"no technician holds all of {', '.join(needs)}"
