"""Rich generated days side by side with VROOM: the days crews really have, at every size.

Each day is a generated metro day (``dispatch.examples.generate``): lunch breaks, trades with
skills, certifications and tools, parts on the vans, one or two arrival windows per job,
LOW to EMERGENCY priorities, emergencies to reach within the hour, pinned follow-ups. Per size
there are two days: ``std`` (the generator's defaults) and ``2w-tight`` (half the morning
bookings with a second window in the afternoon, every van's stock halved). The day's
great-circle matrix is written into the request as an EXPLICIT matrix, so every solver reads
the same numbers.

Solvers, each in a fresh single-threaded process (``--jobs`` at a time, one core each), all with
the same budget:

- ``dispatch``: the service path (``SolveRequest`` -> ``PlanningService.solve``), ``time_limit`` = budget;
- ``dispatch-ew<N>``: the same with ``emergency_weight`` N (``dispatch-ew0``: the search without the
  emergency term);
- ``vroom``: VROOM 1.15 (pyvroom) at exploration level 5 on one thread, its local search
  stopped at the budget (its constructions come on top: its own time is reported), given
  every rule of the day (``dispatch.solver.vroom_routes``: breaks, windows, skills, pins,
  stock, priorities LOW 0 / NORMAL 1 / HIGH 10 / EMERGENCY 100).

PyVRP cannot express lunch breaks, so it does not run on these days (``benchmarks.side_by_side``
compares it on the textbook sets). Every plan -- VROOM's routes timed at their earliest -- goes
through the independent checker. Reported per run: jobs served by priority class, drive hours,
emergency response (mean minutes from the earliest moment any qualified technician could start
an emergency to its start), jobs the search ran out of time for, wall time, peak memory.
Writes ``<out>.csv`` and ``<out>.md``. Usage::

    python -m benchmarks.rich_days --out benchmarks/results/rich-days
    python -m benchmarks.rich_days --days 125x1000 --budgets 10 --solvers dispatch
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from google.protobuf import json_format

from dispatch.bootstrap import bootstrap
from dispatch.check import check_plan
from dispatch.domain import Plan, Priority, Problem, UnassignedReason
from dispatch.examples.generate import generate
from dispatch.matrix import DayMatrix
from dispatch.server.convert import problem_from_proto
from dispatch.solver.extract import routes_plan
from dispatch.solver.schedule import RouteTimer
from dispatch.solver.screen import Screening, screen
from dispatch.v1 import dispatch_pb2 as pb

SIZES = ("10x80", "25x200", "60x480", "125x1000", "200x1600")
#: Budget per size (seconds), as in issue 16.
BUDGETS = {"10x80": 10.0, "25x200": 20.0, "60x480": 30.0, "125x1000": 60.0, "200x1600": 60.0}
VARIANTS = {
    "std": {"seed": 1},
    "2w-tight": {"seed": 2, "two_windows": 0.5, "tight_parts": True},
}
SOLVERS = ("dispatch", "vroom")
CLASSES = ("EMERGENCY", "HIGH", "NORMAL", "LOW")
FIELDS = [
    "day",
    "variant",
    "budget_s",
    "solver",
    "served",
    *(f"served_{c.lower()}" for c in CLASSES),
    "jobs",
    "drive_h",
    "emergency_mean_min",
    "emergency_max_min",
    "emergencies_unserved",
    "time_limit_reached",
    "wall_s",
    "peak_mib",
    "violations",
]


@dataclass(frozen=True)
class Task:
    day: str
    variant: str
    budget: float
    solver: str


def day_request(day: str, variant: str) -> dict[str, Any]:
    """The generated day as a ``SolveRequest`` dict on its own great-circle matrix, written EXPLICIT."""
    technicians, jobs = (int(x) for x in day.split("x"))
    request = generate(technicians=technicians, jobs=jobs, **VARIANTS[variant])
    problem, shape = problem_from_proto(json_format.ParseDict(request, pb.SolveRequest()))
    _, matrix = bootstrap(pool=False).prepare(problem, shape)
    for v, tech in enumerate(request["technicians"]):
        tech["start_location"] = {"matrix_index": 2 * v}
        tech["end_location"] = {"matrix_index": 2 * v + 1}
    for j, job in enumerate(request["jobs"]):
        job["location"] = {"matrix_index": 2 * technicians + j, "address": job["location"].get("address", "")}
    request["travel_matrix"] = {
        "size": matrix.size,
        "durations_seconds": [int(x) for x in matrix.durations.ravel()],
        "distances_meters": [int(x) for x in matrix.distances.ravel()],
    }
    request["options"] = {"travel_model": "EXPLICIT"}
    request["plan_id"] = f"rich-{day}-{variant}"
    return request


def run(task: Task) -> dict[str, Any]:
    """Solve one day with one solver in this (fresh) process; never raises."""
    row: dict[str, Any] = {"day": task.day, "variant": task.variant, "budget_s": task.budget, "solver": task.solver}
    request = day_request(task.day, task.variant)
    request["options"]["time_limit"] = f"{task.budget}s"
    if task.solver.startswith("dispatch-ew"):
        request["options"]["emergency_weight"] = int(task.solver.removeprefix("dispatch-ew"))
    service = bootstrap(pool=False)
    problem, shape = problem_from_proto(json_format.ParseDict(request, pb.SolveRequest()))
    checked, matrix = service.prepare(problem, shape)
    screening = screen(checked, matrix)
    began = time.monotonic()
    try:
        if task.solver == "vroom":
            plan = _vroom_plan(checked, matrix, screening, task.budget)
        else:
            plan = service.solve(problem, shape)
    except Exception as exc:  # noqa: BLE001 (a row that says so)
        return {**row, "violations": f"error: {exc!r}"}
    wall = time.monotonic() - began
    return {
        **row,
        **measure(checked, matrix, screening, plan),
        "wall_s": round(wall, 2),
        "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _vroom_plan(problem: Problem, matrix: DayMatrix, screening: Screening, budget: float) -> Plan:
    from dispatch.solver.vroom_routes import vroom_routes  # noqa: PLC0415

    jobs = [j for j in range(len(problem.jobs)) if screening.eligible[j]]
    technicians = list(range(len(problem.technicians)))
    routes = vroom_routes(problem, matrix, screening, technicians, jobs, exploration=5, timeout=budget) or {}
    timer = RouteTimer(problem, matrix, screening.horizon)
    feasible = {v: r for v, r in routes.items() if timer.timing(v, r) is not None}
    if len(feasible) < len(routes):
        print(f"VROOM: {len(routes) - len(feasible)} route(s) with no timing left out", file=sys.stderr)
    return routes_plan(problem, screening, timer, feasible, tried=jobs, objective=0, status="VROOM", solve_time=0.0)


def measure(problem: Problem, matrix: DayMatrix, screening: Screening, plan: Plan) -> dict[str, Any]:
    """What a dispatcher sees of ``plan``: served by class, drive, emergency response, checker."""
    index = {job.id: k for k, job in enumerate(problem.jobs)}
    served = {c: 0 for c in CLASSES}
    late = []
    for route in plan.routes:
        for visit in route.visits:
            job = problem.jobs[index[visit.job_id]]
            served[job.priority.name] += 1
            if job.priority is Priority.EMERGENCY:
                late.append((visit.start - screening.earliest[index[visit.job_id]]) / 60)
    violations = check_plan(problem, matrix, plan)
    emergencies = sum(1 for job in problem.jobs if job.priority is Priority.EMERGENCY)
    return {
        "served": sum(served.values()),
        **{f"served_{c.lower()}": served[c] for c in CLASSES},
        "jobs": len(problem.jobs),
        "drive_h": round(plan.stats.total_travel_duration / 3600, 2),
        "emergency_mean_min": round(statistics.mean(late), 1) if late else "",
        "emergency_max_min": round(max(late), 1) if late else "",
        "emergencies_unserved": emergencies - served["EMERGENCY"],
        "time_limit_reached": sum(1 for u in plan.unassigned if u.reason is UnassignedReason.TIME_LIMIT_REACHED),
        "violations": ";".join(sorted({v.code for v in violations})) or "none",
    }


# ---------------------------------------------------------------------------- reporting


def served_key(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(row.get(f"served_{c.lower()}") or 0) for c in CLASSES)


def verdict(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    """Ours against VROOM: served class by class in priority order, then drive on a tie."""
    a, b = served_key(ours), served_key(theirs)
    if a != b:
        return "serves more" if a > b else "**serves less**"
    ratio = float(ours["drive_h"]) / float(theirs["drive_h"]) if theirs["drive_h"] else float("nan")
    return f"ties, drives {ratio:.3f}x" if ratio <= 1 else f"**ties, drives {ratio:.3f}x**"


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        "# Rich days side by side with VROOM",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.node()} ({platform.machine()}, {os.cpu_count()} cores), "
        f"one single-threaded process per solve. Command: `{command}`",
        "",
        "| day | variant | budget | solver | served (E/H/N/L) | drive h | emergency response mean / max min "
        "| emergencies unserved | time limit reached | wall s | peak MiB | checker |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "served" not in r:
            lines.append(f"| {r['day']} | {r['variant']} | {r['budget_s']:g} s | {r['solver']} | {r['violations']} |")
            continue
        lines.append(
            f"| {r['day']} | {r['variant']} | {r['budget_s']:g} s | {r['solver']} | {r['served']} "
            f"({'/'.join(str(x) for x in served_key(r))}) | {r['drive_h']} | {r['emergency_mean_min']} / "
            f"{r['emergency_max_min']} | {r['emergencies_unserved']} | {r['time_limit_reached']} | {r['wall_s']} "
            f"| {r['peak_mib']} | {r['violations']} |"
        )
    lines += ["", "All days together, per solver:", ""]
    for solver in dict.fromkeys(r["solver"] for r in rows if "served" in r):
        mine = [r for r in rows if r["solver"] == solver and "served" in r]
        starts = sum(int(r["served_emergency"]) for r in mine if r["emergency_mean_min"] != "")
        late = sum(
            float(r["emergency_mean_min"]) * int(r["served_emergency"]) for r in mine if r["emergency_mean_min"] != ""
        )
        lines.append(
            f"- {solver}: {len(mine)} days, {sum(int(r['served']) for r in mine)} jobs served, "
            f"{sum(float(r['drive_h']) for r in mine):.2f} drive hours, emergencies start "
            f"{late / max(starts, 1):.2f} min after the earliest any qualified technician could (mean of {starts})"
        )
    lines += ["", "Ours against VROOM at the same budget (served class by class, EMERGENCY first; drive on a tie):", ""]
    by = {(r["day"], r["variant"], r["budget_s"], r["solver"]): r for r in rows if "served" in r}
    for (day, variant, budget, solver), r in by.items():
        other = by.get((day, variant, budget, "vroom"))
        if solver.startswith("dispatch") and other is not None:
            lines.append(f"- {day} {variant} {budget:g} s, {solver}: {verdict(r, other)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", default=",".join(SIZES), help="technicians x jobs, comma-separated")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--budgets", help="seconds, comma-separated (default: per size, as in issue 16)")
    parser.add_argument("--solvers", default=",".join(SOLVERS), help="of dispatch, dispatch-ew<N>, vroom")
    parser.add_argument("--jobs", type=int, default=2, help="solves at a time, one core each")
    parser.add_argument("--out", type=Path, help="write <out>.csv and <out>.md")
    args = parser.parse_args(argv)
    days = [d.strip() for d in args.days.split(",") if d.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    tasks = []
    for day in days:
        budgets = [float(b) for b in args.budgets.split(",")] if args.budgets else [BUDGETS.get(day, 30.0)]
        tasks += [Task(day, v, b, s) for v in variants for b in budgets for s in solvers]
    began = time.monotonic()
    rows = []
    with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
        # the largest first, so two big solves do not end up last on one core
        order = sorted(tasks, key=lambda t: -int(t.day.split("x")[1]) * t.budget)
        for row in pool.imap_unordered(run, order):
            rows.append(row)
            print(
                f"[{len(rows)}/{len(tasks)} {time.monotonic() - began:.0f} s] {row['day']} {row['variant']} "
                f"{row['budget_s']:g} s {row['solver']}: served {row.get('served')} {served_key(row)} "
                f"drive {row.get('drive_h')} h, emergencies {row.get('emergency_mean_min')} min, "
                f"wall {row.get('wall_s')} s, {row.get('peak_mib')} MiB, checker {row.get('violations')}",
                file=sys.stderr,
                flush=True,
            )
    key = {t: k for k, t in enumerate(tasks)}
    rows.sort(key=lambda r: key[Task(r["day"], r["variant"], r["budget_s"], r["solver"])])
    command = "python -m benchmarks.rich_days " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(rows, command.strip())
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.with_suffix(".csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        args.out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
