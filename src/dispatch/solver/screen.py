"""Before the search: which technicians could serve each job on its own, and why none can.

A job that no technician could serve even alone never enters the model; it is
unassigned with the first reason that rules it out, in the order a dispatcher
checks: skills/tools (or the pinned technician), parts on the van, time.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.domain import Break, Job, Problem, Technician, Unassigned, UnassignedReason
from dispatch.matrix import DayMatrix


@dataclass(frozen=True)
class Screening:
    """``eligible[j]``: technician indices that could serve job ``j`` alone (empty: unassigned)."""

    eligible: list[list[int]]
    unassigned: dict[int, Unassigned]
    horizon: int


def horizon(problem: Problem) -> int:
    """The last moment anything can happen: the latest shift end (at least 0)."""
    return max([0, *(t.shift.end for t in problem.technicians)])


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
    """``(earliest departure, latest return)`` from now on, or ``None`` if the shift is over."""
    lo, hi = max(0, tech.shift.start), tech.shift.end
    return (lo, hi) if hi >= lo else None


def pending_breaks(tech: Technician) -> list[Break]:
    """The technician's breaks that can still start (latest start not in the past); the others are history."""
    return [b for b in tech.breaks if b.window.end - b.duration >= 0]


def capacity_exhausted(job: Job) -> Unassigned:
    """A job that passed screening but is left out: its time or stock went to other work."""
    return Unassigned(
        job_id=job.id,
        reason=UnassignedReason.CAPACITY_EXHAUSTED,
        detail="could be served alone, but qualified technicians' time or stock "
        "went to higher-priority or better-placed work",
    )


def screen(problem: Problem, matrix: DayMatrix) -> Screening:
    end = horizon(problem)
    eligible: list[list[int]] = []
    unassigned: dict[int, Unassigned] = {}
    for j, job in enumerate(problem.jobs):
        vehicles, reason = _eligible(problem, matrix, j, job, end)
        eligible.append(vehicles)
        if reason is not None:
            unassigned[j] = reason
    return Screening(eligible=eligible, unassigned=unassigned, horizon=end)


def _qualified(tech: Technician, job: Job) -> bool:
    return job.required_skills <= tech.skills and job.required_tools <= tech.tools


def _stocked(tech: Technician, job: Job) -> bool:
    return all(tech.stock(part) >= qty for part, qty in job.required_parts)


def _eligible(problem: Problem, matrix: DayMatrix, j: int, job: Job, end: int) -> tuple[list[int], Unassigned | None]:
    techs = list(enumerate(problem.technicians))
    if job.pinned_technician_id:
        techs = [(v, t) for v, t in techs if t.id == job.pinned_technician_id]
    qualified = [(v, t) for v, t in techs if _qualified(t, job)]
    if not qualified:
        return [], Unassigned(
            job_id=job.id,
            reason=UnassignedReason.NO_QUALIFIED_TECHNICIAN,
            detail=_qualification_detail(problem, job),
        )
    stocked = [(v, t) for v, t in qualified if _stocked(t, job)]
    if not stocked:
        parts = ", ".join(f"{q} x {p}" for p, q in job.required_parts)
        return [], Unassigned(
            job_id=job.id,
            reason=UnassignedReason.PARTS_UNAVAILABLE,
            detail=f"no qualified technician's van carries {parts}",
        )
    windows = service_windows(job, end)
    reachable = [v for v, t in stocked if _reachable_alone(matrix, v, t, j, job, windows)]
    if not reachable:
        return [], Unassigned(
            job_id=job.id,
            reason=UnassignedReason.NO_REACHABLE_WINDOW,
            detail=(
                "no arrival window can be reached (with the service finished and the technician "
                f"back by shift end) by any of {len(stocked)} qualified technician(s)"
            ),
        )
    return reachable, None


def _reachable_alone(
    matrix: DayMatrix, v: int, tech: Technician, j: int, job: Job, windows: list[tuple[int, int]]
) -> bool:
    bounds = shift_bounds(tech)
    if bounds is None:
        return False
    depart, back_by = bounds
    point = matrix.job_point(j)
    arrive = depart + matrix.duration(matrix.start_point(v), point)
    home = matrix.duration(point, matrix.end_point(v))
    for a, b in windows:
        start = max(arrive, a)
        if start <= b and start + job.service_duration + home <= back_by:
            return True
    return False


def _qualification_detail(problem: Problem, job: Job) -> str:
    if job.pinned_technician_id:
        tech = problem.technician(job.pinned_technician_id)
        missing = (job.required_skills - tech.skills) | (job.required_tools - tech.tools)
        return f"pinned technician {tech.id!r} lacks {', '.join(sorted(missing))}"
    needs = sorted(job.required_skills | job.required_tools)
    return f"no technician holds all of {', '.join(needs)}"
