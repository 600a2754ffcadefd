"""Fair days and overtime (issue 21): what ``options.balance`` and ``Technician.overtime`` change.

Balance: the example day (``dispatch demo``'s, 8 x 60) and a generated 25 x 250 day, each solved
with balance NONE, WORK_TIME (weights 1 and 3) and JOB_COUNT: served jobs, total driving, and the
spread of the working days (departure to return: max - min over everyone, the widest max - min
inside one trade, the gap between the trades' mean days, standard deviation) and of the visit
counts. Work moves only between technicians of a trade: the gap between the trades' means is what
no balancing can close (short of making a trade wait). Overtime: a generated day with more work than the shifts hold (8 x 90) and a light one
(8 x 40), solved without overtime and with every technician allowed 1 h 30 past the shift end at
90 an hour (driving 60): jobs served, overtime used.

Each day is solved in this process (great-circle travel, the service's solver and checker).

    .venv/bin/python -m benchmarks.balance [--seconds 10] [--out benchmarks/results/balance.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from dispatch.check import check_plan
from dispatch.domain import Balance, Overtime, Problem, workload
from dispatch.examples.generate import generate
from dispatch.matrix import day_matrix
from dispatch.matrix.great_circle import GreatCircleProvider
from dispatch.server.convert import problem_from_proto
from dispatch.solver import solve
from dispatch.v1 import dispatch_pb2 as pb

EXAMPLE = Path(__file__).resolve().parent.parent / "src" / "dispatch" / "examples" / "metro_day.json"


def _problem(day: dict[str, Any]) -> Problem:
    problem, bad = problem_from_proto(json_format.ParseDict(day, pb.SolveRequest()))
    assert not bad, bad
    return problem


def _hm(seconds: float) -> str:
    m = round(seconds / 60)
    return f"{m // 60}h{m % 60:02d}"


def run(problem: Problem, seconds: float) -> dict[str, Any]:
    matrix = day_matrix(problem, GreatCircleProvider())
    plan = solve(problem, matrix, time_limit=seconds)
    violations = check_plan(problem, matrix, plan)
    load = workload(plan.routes)
    trades: dict[str, list[int]] = {}
    techs = problem.technician_index
    for r in plan.routes:
        if r.visits:
            trades.setdefault(_trade(problem.technicians[techs[r.technician_id]].skills), []).append(r.work)
    means = [sum(w) / len(w) for w in trades.values()]
    return {
        "within": max(max(w) - min(w) for w in trades.values()),
        "between": max(means) - min(means),
        "served": len(plan.assigned_job_ids),
        "jobs": len(problem.jobs),
        "drive": plan.stats.total_travel_duration,
        "spread": load.work_time_spread,
        "stddev": load.work_time_stddev,
        "count_spread": load.job_count_spread,
        "overtime": load.total_overtime,
        "late": sum(1 for r in plan.routes if r.overtime),
        "violations": len(violations),
    }


def _trade(skills: frozenset[str]) -> str:
    """The generated crews' trade: the base skill each holds (hvac, plumbing, electrical)."""
    return next((s for s in ("hvac", "plumbing", "electrical") if s in skills), "other")


def balance_rows(name: str, problem: Problem, seconds: float) -> list[str]:
    rows = []
    base = None
    for balance, weight in (
        (Balance.NONE, 0.0),
        (Balance.WORK_TIME, 1.0),
        (Balance.WORK_TIME, 3.0),
        (Balance.JOB_COUNT, 1.0),
    ):
        options = dataclasses.replace(problem.options, balance=balance, balance_weight=weight or 1.0)
        r = run(dataclasses.replace(problem, options=options), seconds)
        base = base or r
        more = 100 * (r["drive"] - base["drive"]) / max(base["drive"], 1)
        label = balance.value if balance is Balance.NONE else f"{balance.value} x{weight:g}"
        rows.append(
            f"| {name} | {label} | {r['served']}/{r['jobs']} | {_hm(r['drive'])} ({more:+.1f} %) | "
            f"{_hm(r['spread'])} | {_hm(r['within'])} | {_hm(r['between'])} | {_hm(r['stddev'])} | "
            f"{r['count_spread']} | {r['violations']} |"
        )
        print(rows[-1], flush=True)
    return rows


def overtime_rows(name: str, problem: Problem, seconds: float) -> list[str]:
    rows = []
    late = Overtime(max_extra=5400, cost_per_hour=90.0)
    for label, techs in (
        ("none allowed", problem.technicians),
        ("1 h 30 at 90/h", tuple(dataclasses.replace(t, overtime=late) for t in problem.technicians)),
    ):
        r = run(dataclasses.replace(problem, technicians=techs), seconds)
        rows.append(
            f"| {name} | {label} | {r['served']}/{r['jobs']} | {_hm(r['drive'])} | {_hm(r['overtime'])} "
            f"({r['late']} technicians) | {r['violations']} |"
        )
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="search seconds per solve (25 x 250: 3x)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    lines = [
        f"machine: {platform.machine()}, {platform.processor() or platform.platform()}; search {args.seconds:g} s "
        f"(25 x 250: {3 * args.seconds:g} s)",
        "",
        "| day | balance | served | driving | work spread (max - min) | within a trade (widest) | "
        "between trades' means | work stddev | visits spread | checker |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    lines += balance_rows("example 8 x 60", _problem(json.loads(EXAMPLE.read_text())), args.seconds)
    lines += balance_rows("generated 25 x 250", _problem(generate(technicians=25, jobs=250, seed=11)), 3 * args.seconds)
    head = ["", "| day | overtime | served | driving | overtime used | checker |", "|---|---|---|---|---|---|"]
    print("\n".join(head), flush=True)
    lines += head
    lines += overtime_rows(
        "generated 8 x 90 (too much work)", _problem(generate(technicians=8, jobs=90, seed=5)), args.seconds
    )
    lines += overtime_rows("generated 8 x 40 (light)", _problem(generate(technicians=8, jobs=40, seed=5)), args.seconds)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
