"""Our solver beside PyVRP and VROOM on the Solomon / Homberger sets: same data, same budget, one core each.

Every solver gets the DIMACS instance (floor(10 d) as both distance and travel time, times
x10, the file's fleet and capacity). Ours runs the service path (``SolveRequest`` ->
``PlanningService.solve``); PyVRP 0.14 gets ``MaxRuntime(budget)``; VROOM 1.15 (pyvroom) has
no time limit, so it runs at exploration level 5 and its own time is recorded. Every
solver's routes are rebuilt as one of our plans (earliest-start schedule) and verified by
the independent checker. Tasks run in fresh single-threaded processes, ``--jobs`` at a time.
Writes ``<out>.csv`` and ``<out>.md`` and prints the summary. Usage::

    python -m benchmarks.side_by_side --set solomon --time-limit 5 --jobs 2 --out benchmarks/results/solomon-5s
    python -m benchmarks.side_by_side --set homberger --time-limit 30 --instances C1_2_1,R1_2_1
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from google.protobuf import json_format

from benchmarks.instances import (
    SCALE,
    Instance,
    bks,
    customer_id,
    dimacs_matrix,
    homberger_instances,
    read_vrptw,
    scaled,
    solomon_instances,
    vrptw_request,
)
from dispatch.bootstrap import bootstrap
from dispatch.check import check_plan
from dispatch.domain import Plan, PlanStats, Problem, Route, Unassigned, UnassignedReason, Visit
from dispatch.matrix import DayMatrix
from dispatch.server.convert import problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb

SOLVERS = ("ours", "pyvrp", "vroom")
FIELDS = ["instance", "solver", "cost", "gap_pct", "vehicles", "time_s", "feasible", "assigned", "note"]


@dataclass(frozen=True)
class Task:
    instance: Instance
    solver: str
    time_limit: float


# ---------------------------------------------------------------------------- solvers


def run_ours(task: Task) -> list[list[str]]:
    request = vrptw_request(read_vrptw(task.instance.path), time_limit=task.time_limit)
    problem, shape = problem_from_proto(json_format.ParseDict(request, pb.SolveRequest()))
    plan = bootstrap(pool=False).solve(problem, shape)
    return [[v.job_id for v in r.visits] for r in plan.routes if r.visits]


def run_lns(task: Task) -> list[list[str]]:
    """Ours with the textbook path switched off: the search every rich day gets (VROOM, then
    neighbourhoods re-solved by VROOM), for the record."""
    from dispatch.solver import search  # noqa: PLC0415

    search.WARM_START_MIN_BUDGET = float("inf")
    return run_ours(task)


def _matrix(data) -> list[list[int]]:
    flat = dimacs_matrix([(s.x, s.y) for s in data.sites])
    n = len(data.sites)
    return [flat[i * n : (i + 1) * n] for i in range(n)]


def run_pyvrp(task: Task) -> list[list[str]]:
    import numpy as np  # noqa: PLC0415
    import pyvrp  # noqa: PLC0415
    import pyvrp.stop  # noqa: PLC0415

    data = read_vrptw(task.instance.path)
    matrix = np.asarray(_matrix(data), dtype=np.int64)
    depot = data.depot
    problem = pyvrp.ProblemData(
        locations=[pyvrp.Location(float(s.x), float(s.y)) for s in data.sites],
        clients=[
            pyvrp.Client(
                location=n,
                delivery=[int(s.demand)],
                service_duration=scaled(s.service),
                tw_early=scaled(s.ready),
                tw_late=scaled(s.due),
            )
            for n, s in enumerate(data.sites)
            if n > 0
        ],
        depots=[pyvrp.Depot(location=0, tw_early=scaled(depot.ready), tw_late=scaled(depot.due))],
        vehicle_types=[
            pyvrp.VehicleType(
                num_available=data.vehicles,
                capacity=[data.capacity],
                tw_early=scaled(depot.ready),
                tw_late=scaled(depot.due),
            )
        ],
        distance_matrices=[matrix],
        duration_matrices=[matrix],
    )
    result = pyvrp.solve(problem, stop=pyvrp.stop.MaxRuntime(task.time_limit), seed=1, display=False)
    # clients are numbered from 0 in the order given: client k is customer k + 1
    return [[customer_id(a.idx + 1) for a in route if a.is_client()] for route in result.best.routes()]


def run_vroom(task: Task) -> list[list[str]]:
    import numpy as np  # noqa: PLC0415
    import vroom  # noqa: PLC0415

    data = read_vrptw(task.instance.path)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=np.asarray(_matrix(data), dtype=np.uint32))
    depot = data.depot
    for k in range(data.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(
                id=k + 1,
                start=0,
                end=0,
                capacity=[data.capacity],
                time_window=vroom.TimeWindow(scaled(depot.ready), scaled(depot.due)),
            )
        )
    for n, s in enumerate(data.sites):
        if n:
            problem.add_job(
                vroom.Job(
                    id=n,
                    location=n,
                    default_service=scaled(s.service),
                    delivery=[int(s.demand)],
                    time_windows=[vroom.TimeWindow(scaled(s.ready), scaled(s.due))],
                )
            )
    solution = problem.solve(exploration_level=5, nb_threads=1)
    routes = solution.routes
    out = []
    for _, steps in routes[routes["type"] == "job"].groupby("vehicle_id", sort=True):
        out.append([customer_id(int(i)) for i in steps["id"]])
    return out


RUNNERS = {"ours": run_ours, "pyvrp": run_pyvrp, "vroom": run_vroom, "lns": run_lns}


# ---------------------------------------------------------------------------- checking


def plan_from_sequences(problem: Problem, matrix: DayMatrix, sequences: list[list[str]]) -> Plan:
    """Our plan for routes given as job-id sequences: route ``k`` goes to technician ``k``,
    each visit at its earliest start; jobs in no sequence are unassigned."""
    index = {job.id: k for k, job in enumerate(problem.jobs)}
    routes = []
    for v, sequence in enumerate(sequences):
        tech = problem.technicians[v]
        here, t = matrix.start_point(v), max(0, tech.shift.start)
        depart, visits = t, []
        for job_id in sequence:
            job = problem.jobs[index[job_id]]
            point = matrix.job_point(index[job_id])
            arrival = t + matrix.duration(here, point)
            start = max([arrival, *(w.start for w in job.time_windows[:1])])
            visits.append(
                Visit(
                    job_id=job_id,
                    arrival=arrival,
                    start=start,
                    end=start + job.service_duration,
                    travel_duration=matrix.duration(here, point),
                    travel_distance=matrix.distance(here, point),
                )
            )
            here, t = point, start + job.service_duration
        end = matrix.end_point(v)
        routes.append(
            Route(
                technician_id=tech.id,
                start=depart,
                end=t + matrix.duration(here, end),
                visits=tuple(visits),
                return_travel_duration=matrix.duration(here, end),
                return_distance=matrix.distance(here, end),
            )
        )
    served = {job_id for s in sequences for job_id in s}
    unassigned = tuple(
        Unassigned(job_id=j.id, reason=UnassignedReason.CAPACITY_EXHAUSTED) for j in problem.jobs if j.id not in served
    )
    return Plan(
        plan_id=problem.plan_id,
        epoch=problem.epoch,
        routes=tuple(routes),
        unassigned=unassigned,
        stats=PlanStats(
            total_travel_duration=sum(r.travel_duration for r in routes),
            total_distance=sum(r.distance for r in routes),
        ),
    )


def evaluate(task: Task) -> dict[str, object]:
    """Run one solver on one instance; never raises (a failure is a row with the error)."""
    name = task.instance.name
    row: dict[str, object] = {"instance": name, "solver": task.solver, "cost": "", "gap_pct": "", "vehicles": 0}
    began = time.monotonic()
    try:
        sequences = RUNNERS[task.solver](task)
    except Exception as exc:  # noqa: BLE001 (reported in the table)
        return {
            **row,
            "time_s": round(time.monotonic() - began, 2),
            "feasible": False,
            "assigned": 0,
            "note": repr(exc),
        }
    elapsed = time.monotonic() - began
    request = vrptw_request(read_vrptw(task.instance.path), time_limit=task.time_limit)
    problem, shape = problem_from_proto(json_format.ParseDict(request, pb.SolveRequest()))
    problem, matrix = bootstrap(pool=False).prepare(problem, shape)
    sequences = [s for s in sequences if s]
    note = ""
    if len(sequences) > len(problem.technicians):
        note = f"{len(sequences)} routes for {len(problem.technicians)} vehicles"
        sequences = sequences[: len(problem.technicians)]
    plan = plan_from_sequences(problem, matrix, sequences)
    violations = check_plan(problem, matrix, plan)
    cost = plan.stats.total_distance / SCALE
    best = bks(name)
    if violations:
        note = "; ".join(dict.fromkeys(v.code for v in violations)) + (f"; {note}" if note else "")
    if plan.unassigned:
        note = f"unassigned {len(plan.unassigned)}" + (f"; {note}" if note else "")
    return {
        **row,
        "cost": round(cost, 1),
        "gap_pct": round(100 * (cost - best) / best, 3) if best else "",
        "vehicles": len(sequences),
        "time_s": round(elapsed, 2),
        "feasible": not violations and not plan.unassigned,
        "assigned": len(plan.assigned_job_ids),
        "note": note,
    }


# ---------------------------------------------------------------------------- reporting


def summary(rows: list[dict[str, object]], solvers: list[str]) -> list[str]:
    lines = [
        "| solver | instances | mean gap | median gap | worst gap | infeasible | mean time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for solver in solvers:
        mine = [r for r in rows if r["solver"] == solver]
        gaps = [float(r["gap_pct"]) for r in mine if r["feasible"] and r["gap_pct"] != ""]
        bad = sum(not r["feasible"] for r in mine)
        t = statistics.mean(float(r["time_s"]) for r in mine) if mine else 0.0
        if gaps:
            lines.append(
                f"| {solver} | {len(mine)} | {statistics.mean(gaps):.2f} % | {statistics.median(gaps):.2f} % "
                f"| {max(gaps):.2f} % | {bad} | {t:.1f} s |"
            )
        else:
            lines.append(f"| {solver} | {len(mine)} | – | – | – | {bad} | {t:.1f} s |")
    return lines


def markdown(rows: list[dict[str, object]], solvers: list[str], header: str) -> str:
    names = list(dict.fromkeys(str(r["instance"]) for r in rows))
    by = {(r["instance"], r["solver"]): r for r in rows}
    lines = [header, "", *summary(rows, solvers), ""]
    lines.append("| instance | BKS | " + " | ".join(f"{s} cost (gap, veh.)" for s in solvers) + " |")
    lines.append("| --- | --- | " + " | ".join("---" for _ in solvers) + " |")
    for name in names:
        cells = []
        for s in solvers:
            r = by.get((name, s))
            if r is None:
                cells.append("")
            elif not r["feasible"]:
                cells.append(f"infeasible: {r['note']}")
            else:
                cells.append(f"{r['cost']} ({r['gap_pct']} %, {r['vehicles']})")
        lines.append(f"| {name} | {bks(name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def progress(done: int, total: int, began: float, row: dict[str, object]) -> None:
    width = 30
    filled = width * done // total
    print(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {time.monotonic() - began:5.0f} s "
        f"{row['instance']} {row['solver']}: {row['gap_pct']} %   ",
        end="",
        file=sys.stderr,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("solomon", "homberger"), default="solomon")
    parser.add_argument("--instances", help="comma-separated names (default: the whole set)")
    parser.add_argument("--limit", type=int, help="only the first N instances of the set")
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--solvers", default=",".join(SOLVERS), help=f"of {', '.join(RUNNERS)}")
    parser.add_argument("--jobs", type=int, default=2, help="tasks at a time, one core each")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    instances = solomon_instances() if args.set == "solomon" else homberger_instances()
    if args.instances:
        wanted = {n.strip().upper() for n in args.instances.split(",")}
        instances = [i for i in instances if i.name.upper() in wanted]
    instances = instances[: args.limit]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    tasks = [Task(i, s, args.time_limit) for i in instances for s in solvers]
    out = args.out or Path(f"benchmarks/results/{args.set}-{args.time_limit:g}s")
    began = time.monotonic()
    rows = []
    with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
        for row in pool.imap_unordered(evaluate, tasks):
            rows.append(row)
            progress(len(rows), len(tasks), began, row)
    print(file=sys.stderr)
    order = {(t.instance.name, t.solver): k for k, t in enumerate(tasks)}
    rows.sort(key=lambda r: order[(r["instance"], r["solver"])])
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    header = (
        f"{args.set}, {len(instances)} instances, {args.time_limit:g} s per solver and instance, one core each "
        f"(VROOM: exploration level 5, no time limit; its own time shown). Gap to the distance-only BKS."
    )
    text = markdown(rows, solvers, header)
    out.with_suffix(".md").write_text(text)
    print("\n".join(summary(rows, solvers)))
    print(f"written {out.with_suffix('.csv')} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
