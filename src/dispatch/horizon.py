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
import itertools
from collections import Counter
from zoneinfo import ZoneInfo

from dispatch.domain import (
    Customer,
    Job,
    Plan,
    Problem,
    Technician,
    TimeWindow,
    group_of,
    is_member,
    known_zone,
    member_id,
    vehicle_id,
)
from dispatch.errors import FieldViolation, ProblemError

#: The most shifts a technician may have, and how far from the plan's start they may reach.
MAX_SHIFTS = 14
MAX_HORIZON_DAYS = 14
#: The most technicians one job may need together.
MAX_CREW = 3


def expand(problem: Problem) -> Problem:
    """``problem`` with one technician per shift and every job's days as time windows (the same
    problem when it has neither); ``ProblemError`` when a job's days leave none of its windows."""
    if (
        not any(t.shifts for t in problem.technicians)
        and not any(j.earliest_day or j.latest_day for j in problem.jobs)
        and not any(j.technicians_required > 1 or j.required_skills_any_member for j in problem.jobs)
    ):
        return problem
    technicians = tuple(v for t in problem.technicians for v in vehicles(t))
    bad: list[FieldViolation] = []
    jobs: list[Job] = []
    for i, job in enumerate(problem.jobs):
        out = with_days(job, problem.epoch, problem.time_zone)
        if out is None:
            bad.append(
                FieldViolation(f"jobs[{i}].time_windows", "no time window falls between earliest_day and latest_day")
            )
            out = job
        jobs += members(out)
    if bad:
        raise ProblemError(bad)
    return dataclasses.replace(problem, technicians=technicians, jobs=tuple(jobs))


def members(job: Job) -> list[Job]:
    """The planner's jobs for ``job``: itself, or one per technician it needs (``member_id``): the
    first holds the skills any one of them must have, the parts and the customer (texted once)."""
    if job.technicians_required <= 1:
        if not job.required_skills_any_member:
            return [job]
        return [
            dataclasses.replace(
                job,
                required_skills=job.required_skills | job.required_skills_any_member,
                required_skills_any_member=frozenset(),
            )
        ]
    return [
        dataclasses.replace(
            job,
            id=member_id(job.id, k),
            technicians_required=1,
            required_skills_any_member=job.required_skills_any_member if k == 0 else frozenset(),
            required_parts=job.required_parts if k == 0 else (),
            customer=job.customer if k == 0 else Customer(),
            pinned_technician_id=job.pinned_technician_id if k == 0 else "",
        )
        for k in range(job.technicians_required)
    ]


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


def with_members(problem: Problem, plan: Plan) -> Plan:
    """A plan written by a console (``Validate``), its visits and unassigned entries named by the
    console's job ids, in the planner's: the visits of a job for several technicians take its members'
    ids -- the first member (the parts, ``required_skills_any_member``) to a technician who can take
    it, the van's stock counted -- and an unassigned entry stands for each member."""
    crews: dict[str, list[Job]] = {}
    for job in problem.jobs:
        if is_member(job.id):
            crews.setdefault(group_of(job.id), []).append(job)
    if not crews:
        return plan
    techs = {t.id: t for t in problem.technicians}
    jobs = {j.id: j for j in problem.jobs}
    used: dict[str, Counter[str]] = {
        r.technician_id: Counter({p: q for v in r.visits if v.job_id in jobs for p, q in jobs[v.job_id].required_parts})
        for r in plan.routes
    }
    names: dict[tuple[str, str], str] = {}
    for gid, crew in crews.items():
        mine = [r.technician_id for r in plan.routes for v in r.visits if v.job_id == gid][: len(crew)]
        best = mine
        for order in itertools.permutations(mine):
            lead = order[0] if order else ""
            tech = techs.get(lead)
            need = crew[0]
            if (
                tech is not None
                and need.required_skills_any_member <= tech.skills
                and all(used[lead][p] + q <= tech.stock(p) for p, q in need.required_parts)
            ):
                best = list(order)
                break
        for k, tid in enumerate(best):
            names[(tid, gid)] = crew[k].id
        if best:
            used[best[0]].update(dict(crew[0].required_parts))
    routes = [
        dataclasses.replace(
            r,
            visits=tuple(
                dataclasses.replace(v, job_id=names.get((r.technician_id, v.job_id), v.job_id)) for v in r.visits
            ),
        )
        for r in plan.routes
    ]
    unassigned = [dataclasses.replace(u, job_id=job.id) for u in plan.unassigned for job in crews.get(u.job_id, [])] + [
        u for u in plan.unassigned if u.job_id not in crews
    ]
    return dataclasses.replace(plan, routes=tuple(routes), unassigned=tuple(unassigned))
