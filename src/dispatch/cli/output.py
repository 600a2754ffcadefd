"""What the command prints: a plan's summary, a re-plan's changes and who can go."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from dispatch.v1 import dispatch_pb2 as pb


def print_diff(response: pb.ReoptimizeResponse, tz: ZoneInfo, out: TextIO) -> None:
    def clock(ts: object) -> str:
        return datetime.fromtimestamp(ts.seconds, UTC).astimezone(tz).strftime("%H:%M")  # type: ignore[attr-defined]

    plan, d = response.plan, response.diff
    s = plan.stats
    print(
        f"Plan {plan.plan_id} v{d.from_version} -> v{plan.version}: {s.jobs_assigned} assigned, "
        f"{s.jobs_unassigned} unassigned, status {s.solver_status}",
        file=out,
    )
    for a in d.newly_assigned:
        print(f"  assigned   {a.job_id} to {a.technician_id} at {clock(a.start)}", file=out)
    for r in d.reassigned:
        print(f"  reassigned {r.job_id}: {r.from_technician_id} -> {r.to_technician_id}", file=out)
    for u in d.newly_unassigned:
        print(f"  unassigned {u.job_id}: {pb.UnassignedReason.Name(u.reason)} — {u.detail}", file=out)
    for c in d.eta_changes:
        shift = int(c.change.seconds) // 60
        print(f"  eta        {c.job_id}: {clock(c.old_start)} -> {clock(c.new_start)} ({shift:+d} min)", file=out)
    if d.broken_promises:
        print(f"  promised windows broken: {', '.join(d.broken_promises)}", file=out)
    for warning in s.warnings:
        print(f"warning: {warning}", file=out)


def print_summary(request: pb.SolveRequest, plan: pb.Plan, tz: ZoneInfo, out: TextIO) -> None:
    def clock(ts: object) -> str:
        return datetime.fromtimestamp(ts.seconds, UTC).astimezone(tz).strftime("%H:%M")  # type: ignore[attr-defined]

    def minutes(d: object) -> str:
        total = int(d.seconds) // 60  # type: ignore[attr-defined]
        return f"{total // 60}h{total % 60:02d}"

    names = {t.id: t.name or t.id for t in request.technicians}
    jobs = {j.id: j for j in request.jobs}
    day = datetime.fromtimestamp(plan.start_time.seconds, UTC).astimezone(tz).strftime("%a %d %b %Y")
    print(f"Plan {plan.plan_id} v{plan.version} for {day} ({tz.key}), status {plan.stats.solver_status}", file=out)
    stats = {(t.technician_id, t.shift_id): t for t in plan.stats.technicians}
    print(
        f"{'technician':<22} {'jobs':>4} {'leaves':>6} {'back':>6} {'work':>6} {'drive':>6} {'over':>5}  route",
        file=out,
    )
    for r in plan.routes:
        stops = " > ".join(
            ("!" if jobs[v.job_id].priority == pb.EMERGENCY else "") + f"{v.job_id}@{clock(v.start)}" for v in r.visits
        )
        t = stats.get((r.technician_id, r.shift_id))
        name = names.get(r.technician_id, r.technician_id) + (f" {r.shift_id}" if r.shift_id else "")
        work = minutes(t.work) if t else "-"
        over = minutes(t.overtime) if t and t.overtime.seconds else ""
        print(
            f"{name[:22]:<22} {len(r.visits):>4} {clock(r.start):>6} "
            f"{clock(r.end):>6} {work:>6} {minutes(r.travel_duration):>6} {over:>5}  {stops}",
            file=out,
        )
    idle = [names[t.id] for t in request.technicians if t.id not in {r.technician_id for r in plan.routes}]
    if idle:
        print(f"idle: {', '.join(idle)}", file=out)
    s = plan.stats
    print(
        f"\n{s.jobs_assigned} jobs assigned, {s.jobs_unassigned} unassigned; total drive {minutes(s.total_travel_duration)}, "
        f"{s.total_distance_meters / 1000:.1f} km; solved in {s.solve_time.ToTimedelta().total_seconds():.1f} s",
        file=out,
    )
    if s.technicians:
        overtime = f"; overtime {minutes(s.total_overtime)}" if s.total_overtime.seconds else ""
        print(
            f"working days spread {minutes(s.work_time_spread)} (max - min), stddev {minutes(s.work_time_stddev)}; "
            f"visits spread {s.job_count_spread}, stddev {s.job_count_stddev:.1f}{overtime}",
            file=out,
        )
    if plan.unassigned:
        print("unassigned:", file=out)
        for u in plan.unassigned:
            print(f"  {u.job_id}: {pb.UnassignedReason.Name(u.reason)} — {u.detail}", file=out)
    for warning in s.warnings:
        print(f"warning: {warning}", file=out)


#: What an infeasible option shows in the columns it has no value for.
NONE = "—"


def print_suggestions(response: pb.SuggestTechniciansResponse, job_id: str, tz: ZoneInfo, out: TextIO) -> None:
    """The options, best first, one row each; an infeasible one has ``—`` for its numbers and says why."""

    def clock(ts: object) -> str:
        return datetime.fromtimestamp(ts.seconds, UTC).astimezone(tz).strftime("%H:%M")  # type: ignore[attr-defined]

    job = f"job {job_id}" if job_id else "the job"
    print(f"Plan {response.plan_id} v{response.plan_version}: who can take {job} (times {tz.key})", file=out)
    if not response.options:
        print("no option: no technician in the plan holds the job's skills and tools", file=out)
        return
    width = max(len("technician"), *(len(o.technician_id) for o in response.options))
    print(
        f"{'rank':>4}  {'technician':<{width}}  {'start':>5}  {'arrival':>7}  {'+travel':>8}  {'displaced':>9}  "
        f"{'unassigned':>10}  {'promises broken':>15}  note",
        file=out,
    )
    for rank, o in enumerate(response.options, 1):
        if o.feasible:
            cells = (
                clock(o.start),
                clock(o.arrival),
                f"{round(o.added_travel.ToTimedelta().total_seconds() / 60):+d} min",
                str(len(o.displaced)),
                str(len(o.newly_unassigned)),
                str(o.promises_broken),
            )
        else:
            cells = (NONE,) * 6
        start, arrive, travel, displaced, unassigned, broken = cells
        print(
            f"{rank:>4}  {o.technician_id:<{width}}  {start:>5}  {arrive:>7}  {travel:>8}  {displaced:>9}  "
            f"{unassigned:>10}  {broken:>15}  {o.note or NONE}",
            file=out,
        )


def print_slots(response: pb.SuggestSlotsResponse, job_id: str, tz: ZoneInfo, out: TextIO) -> None:
    """The slots that fit, best first, one row each: the window, who would go and when, the cost."""

    def clock(ts: object) -> str:
        return datetime.fromtimestamp(ts.seconds, UTC).astimezone(tz).strftime("%a %H:%M")  # type: ignore[attr-defined]

    job = f"job {job_id}" if job_id else "the job"
    print(f"Plan {response.plan_id} v{response.plan_version}: slots for {job} (times {tz.key})", file=out)
    if not response.options:
        print("no slot fits with every promise kept (or no technician holds the job's skills and tools)", file=out)
        return
    width = max(len("technician"), *(len(o.technician_id) for o in response.options))
    print(
        f"{'rank':>4}  {'window':<19}  {'technician':<{width}}  {'start':>9}  {'+travel':>8}  {'displaced':>9}",
        file=out,
    )
    for rank, o in enumerate(response.options, 1):
        window = f"{clock(o.window.start)}-{clock(o.window.end)[4:]}"
        travel = f"{round(o.added_travel.ToTimedelta().total_seconds() / 60):+d} min"
        print(
            f"{rank:>4}  {window:<19}  {o.technician_id:<{width}}  {clock(o.start):>9}  {travel:>8}  {o.displaced:>9}",
            file=out,
        )
