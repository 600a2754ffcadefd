"""Several days in one plan: technicians' ``shifts[]`` and jobs' ``earliest_day``/``latest_day``.

The planner (screening, search, checker, re-plans) knows one kind of technician: one shift, one
start and end, one van stock. ``expand`` turns a problem with several days into that form once,
right after validation: each shift of a technician with ``shifts`` becomes a technician of its own
whose id is ``vehicle_id(technician, shift)`` (the shift's window, places, breaks and stock, the
technician's skills, tools and overtime), and each job's days become time windows (local midnight
to local midnight in the plan's time zone, the job's own windows cut to them). Pins and preferences
that name a technician cover each of their shifts (``domain.may_serve``); what goes out to consoles
names the technician and the shift (``domain.person_of``, ``domain.shift_of``).

Pure Python: domain objects in, domain objects out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from dispatch.domain import Job, Problem, Technician, TimeWindow, known_zone, vehicle_id
from dispatch.errors import FieldViolation, ProblemError

#: The most shifts a technician may have, and how far from the plan's start they may reach.
MAX_SHIFTS = 14
MAX_HORIZON_DAYS = 14


def expand(problem: Problem) -> Problem:
    """``problem`` with one technician per shift and every job's days as time windows (the same
    problem when it has neither); ``ProblemError`` when a job's days leave none of its windows."""
    if not any(t.shifts for t in problem.technicians) and not any(j.earliest_day or j.latest_day for j in problem.jobs):
        return problem
    technicians = tuple(v for t in problem.technicians for v in vehicles(t))
    bad: list[FieldViolation] = []
    jobs = []
    for i, job in enumerate(problem.jobs):
        out = with_days(job, problem.epoch, problem.time_zone)
        if out is None:
            bad.append(
                FieldViolation(f"jobs[{i}].time_windows", "no time window falls between earliest_day and latest_day")
            )
            out = job
        jobs.append(out)
    if bad:
        raise ProblemError(bad)
    return dataclasses.replace(problem, technicians=technicians, jobs=tuple(jobs))


def vehicles(tech: Technician) -> list[Technician]:
    """The planner's technicians for ``tech``: itself, or one per shift."""
    if not tech.shifts:
        return [tech]
    return [
        dataclasses.replace(
            tech,
            id=vehicle_id(tech.id, s.id),
            shift=s.window,
            breaks=s.breaks,
            start_location=s.start_location or tech.start_location,
            end_location=s.end_location or s.start_location or tech.end_location,
            parts=tech.parts if s.parts is None else s.parts,
            shifts=(),
        )
        for s in tech.shifts
    ]


def local_day(day: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` date, or ``None`` if ``day`` is not one."""
    try:
        return dt.date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        return None


def day_bounds(job: Job, epoch: int, time_zone: str) -> tuple[int | None, int | None]:
    """Plan seconds of local midnight starting ``earliest_day`` and the last second of
    ``latest_day`` (``None`` where the job gives no day)."""
    zone = ZoneInfo(time_zone) if time_zone and known_zone(time_zone) else ZoneInfo("UTC")

    def midnight(day: dt.date) -> int:
        return int(dt.datetime.combine(day, dt.time(), zone).timestamp()) - epoch

    first, last = local_day(job.earliest_day), local_day(job.latest_day)
    return (
        midnight(first) if first else None,
        midnight(last + dt.timedelta(days=1)) - 1 if last else None,
    )


def with_days(job: Job, epoch: int, time_zone: str) -> Job | None:
    """``job`` with its days as windows (its own windows cut to them), or ``None`` if none remain."""
    if not job.earliest_day and not job.latest_day:
        return job
    lo, hi = day_bounds(job, epoch, time_zone)
    a = -(1 << 50) if lo is None else lo
    b = 1 << 50 if hi is None else hi
    if job.time_windows:
        windows = tuple(
            TimeWindow(start=max(w.start, a), end=min(w.end, b))
            for w in job.time_windows
            if max(w.start, a) <= min(w.end, b)
        )
    else:
        windows = (TimeWindow(start=max(a, -(1 << 40)), end=min(b, 1 << 40)),)
    if not windows:
        return None
    return dataclasses.replace(job, time_windows=windows, earliest_day="", latest_day="")
