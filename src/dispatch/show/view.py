"""What a picture of the day shows: per technician a lane of blocks and a chain of stops.

Drawn from the domain's ``Plan`` (and, when given, its ``Problem``), whose times count from
their own ``epoch``; the view's times are Unix seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dispatch.domain import Job, Location, Plan, Priority, Problem, person_of, shift_of

#: A visit starting this close to the end of its window (s) is drawn as tight.
TIGHT = 15 * 60
#: An ETA moved by at least this much (s) between two versions counts as moved.
MOVED = 60

#: Distinct colours for technicians (Tableau 20, dark tones first), reused past 20.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip


@dataclass
class Block:
    """A stretch of a technician's day, in Unix seconds."""

    kind: str  # drive | wait | work | break
    start: int
    end: int
    job_id: str = ""
    windows: list[tuple[int, int]] = field(default_factory=list)
    emergency: bool = False
    late: bool = False
    tight: bool = False
    moved: bool = False
    status: str = ""


@dataclass
class Stop:
    job_id: str
    number: int
    point: tuple[float, float] | None  # (lat, lng); None: not known from the request
    start: int
    emergency: bool = False
    moved: bool = False


@dataclass
class Lane:
    technician_id: str
    name: str
    colour: str
    home: tuple[float, float] | None
    end: tuple[float, float] | None
    stops: list[Stop]
    blocks: list[Block]
    start: int
    finish: int


@dataclass
class Loose:
    """An unassigned job."""

    job_id: str
    reason: str
    detail: str
    point: tuple[float, float] | None
    emergency: bool = False


@dataclass
class DayView:
    title: str
    tz: ZoneInfo
    lanes: list[Lane]
    unassigned: list[Loose]
    t0: int
    t1: int
    summary: str
    moves: list[str] = field(default_factory=list)
    idle: list[str] = field(default_factory=list)

    @property
    def has_map(self) -> bool:
        return any(s.point for lane in self.lanes for s in lane.stops) or any(u.point for u in self.unassigned)

    def clock(self, t: int) -> str:
        return datetime.fromtimestamp(t, UTC).astimezone(self.tz).strftime("%H:%M")


def day_views(
    plan: Plan, problem: Problem | None = None, *, tz: ZoneInfo | None = None, before: Plan | None = None
) -> list[DayView]:
    """One ``day_view`` per local day the plan's routes start on (a plan of several days: one per
    shift day, each with that day's technicians; the jobs left unassigned go with the first)."""
    tz = tz or ZoneInfo("UTC")
    days = sorted({_local_day(plan.epoch + r.start, tz) for r in plan.routes})
    if len(days) <= 1 or not any(shift_of(r.technician_id) for r in plan.routes):  # one day (a night shift too)
        return [day_view(plan, problem, tz=tz, before=before)]
    views = []
    for k, day in enumerate(days):
        routes = tuple(r for r in plan.routes if _local_day(plan.epoch + r.start, tz) == day)
        ids = {r.technician_id for r in routes}
        part = dataclasses.replace(plan, routes=routes, unassigned=plan.unassigned if k == 0 else ())
        crew = (
            dataclasses.replace(
                problem,
                technicians=tuple(
                    t
                    for t in problem.technicians
                    if t.id in ids or _local_day(problem.epoch + max(t.shift.start, 0), tz) == day
                ),
            )
            if problem is not None
            else None
        )
        views.append(day_view(part, crew, tz=tz, before=before, day=day))
    return views


def _local_day(unix: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(unix, UTC).astimezone(tz).strftime("%a %d %b %Y")


def day_view(
    plan: Plan,
    problem: Problem | None = None,
    *,
    tz: ZoneInfo | None = None,
    before: Plan | None = None,
    day: str | None = None,
) -> DayView:
    """What to draw for ``plan``; ``problem`` adds places, windows, names and priorities, ``before``
    an earlier version of the plan whose changes are highlighted. Clock times are in ``tz`` (UTC)."""
    tz = tz or ZoneInfo("UTC")
    jobs = {j.id: j for j in problem.jobs} if problem is not None else {}
    techs = {t.id: t for t in problem.technicians} if problem is not None else {}
    epoch = plan.epoch
    origin = problem.epoch if problem is not None else epoch  # the problem's time 0, Unix seconds
    moved, moves = _moves(before, plan, tz) if before is not None else (set(), [])

    lanes = []
    for k, route in enumerate(plan.routes):
        tech = techs.get(route.technician_id)
        blocks: list[Block] = []
        stops: list[Stop] = []
        for n, v in enumerate(route.visits, start=1):
            job = jobs.get(v.job_id)
            emergency = job is not None and job.priority == Priority.EMERGENCY
            windows = _windows(job, origin, epoch) if job is not None else []
            start, end, arrival = epoch + v.start, epoch + v.end, epoch + v.arrival
            late = bool(windows) and not any(a <= start <= b for a, b in windows)
            tight = not late and any(a <= start <= b and b - start < TIGHT for a, b in windows)
            if v.travel_duration:
                blocks.append(Block("drive", arrival - v.travel_duration, arrival, v.job_id))
            if start > arrival:
                blocks.append(Block("wait", arrival, start, v.job_id))
            blocks.append(
                Block(
                    "work",
                    start,
                    end,
                    v.job_id,
                    windows=windows,
                    emergency=emergency,
                    late=late,
                    tight=tight,
                    moved=v.job_id in moved,
                    status=v.status.value,
                )
            )
            stops.append(Stop(v.job_id, n, _point(job.location) if job else None, start, emergency, v.job_id in moved))
        for b in route.breaks:
            blocks.append(Block("break", epoch + b.start, epoch + b.end))
        if route.return_travel_duration:
            home_at = epoch + route.end
            blocks.append(Block("drive", home_at - route.return_travel_duration, home_at))
        lanes.append(
            Lane(
                technician_id=person_of(route.technician_id),
                name=(tech.name if tech and tech.name else route.technician_id),
                colour=PALETTE[k % len(PALETTE)],
                home=_point(tech.start_location) if tech else None,
                end=_point(tech.end_location) if tech else None,  # the start location unless given
                stops=stops,
                blocks=sorted(blocks, key=lambda b: (b.start, b.end)),
                start=epoch + route.start,
                finish=epoch + route.end,
            )
        )
    unassigned = [
        Loose(
            u.job_id,
            u.reason.value,
            u.detail,
            _point(jobs[u.job_id].location) if u.job_id in jobs else None,
            u.job_id in jobs and jobs[u.job_id].priority == Priority.EMERGENCY,
        )
        for u in plan.unassigned
    ]
    routed = {r.technician_id for r in plan.routes}
    idle = [t.name or t.id for t in (problem.technicians if problem is not None else ()) if t.id not in routed]
    times = [t for lane in lanes for t in (lane.start, lane.finish)]
    times += [t for lane in lanes for b in lane.blocks for w in b.windows for t in w]
    t0 = min(times, default=epoch)
    t1 = max(times, default=epoch + 3600)
    if problem is not None:
        t0 = min([t0, *(origin + t.shift.start for t in problem.technicians)])
        t1 = max([t1, *(origin + t.latest_return for t in problem.technicians)])
    t1 = max(t1, t0 + 3600)
    s = plan.stats
    day = day or _local_day(epoch, tz)
    title = f"Plan {plan.plan_id} v{plan.version} — {day}"
    summary = (
        f"{len(plan.assigned_job_ids)} jobs assigned, {len(plan.unassigned)} unassigned; "
        f"{len(lanes)} technicians on the road; "
        f"total drive {s.total_travel_duration // 3600}h{s.total_travel_duration % 3600 // 60:02d}, "
        f"{s.total_distance / 1000:.1f} km; status {s.solver_status or '-'}"
    )
    return DayView(title, tz, lanes, unassigned, t0, t1, summary, moves, idle)


def _point(location: Location) -> tuple[float, float] | None:
    if location.lat is not None and location.lng is not None:
        return (location.lat, location.lng)
    return None


def _windows(job: Job, origin: int, epoch: int) -> list[tuple[int, int]]:
    """``job``'s arrival windows in Unix seconds (``origin``: the problem's time 0), cut at its
    ``respond_within`` deadline, counted from the plan's start ``epoch``."""
    windows = [(origin + w.start, origin + w.end) for w in job.time_windows]
    if job.respond_within is not None:
        due = epoch + job.respond_within
        windows = [(a, min(b, due)) for a, b in windows if a <= due] if windows else [(epoch, due)]
    return windows


def _moves(before: Plan, after: Plan, tz: ZoneInfo) -> tuple[set[str], list[str]]:
    """Jobs that changed technician, start (by ``MOVED`` or more) or assignment, and a line for each."""

    def clock(t: int) -> str:
        return datetime.fromtimestamp(t, UTC).astimezone(tz).strftime("%H:%M")

    old = {v.job_id: (r.technician_id, before.epoch + v.start) for r in before.routes for v in r.visits}
    new = {v.job_id: (r.technician_id, after.epoch + v.start) for r in after.routes for v in r.visits}
    moved: set[str] = set()
    lines: list[str] = []
    for job_id, (tech, start) in new.items():
        if job_id not in old:
            moved.add(job_id)
            lines.append(f"{job_id}: newly assigned to {tech} at {clock(start)}")
            continue
        was_tech, was_start = old[job_id]
        if was_tech != tech:
            moved.add(job_id)
            lines.append(f"{job_id}: {was_tech} → {tech}, {clock(was_start)} → {clock(start)}")
        elif abs(start - was_start) >= MOVED:
            moved.add(job_id)
            lines.append(f"{job_id}: {clock(was_start)} → {clock(start)} ({(start - was_start) // 60:+d} min)")
    for job_id in old.keys() - new.keys():
        reason = next((u.reason.value for u in after.unassigned if u.job_id == job_id), "removed")
        lines.append(f"{job_id}: no longer served ({reason})")
    return moved, sorted(lines)
