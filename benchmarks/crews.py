"""Jobs for two technicians (issue 21): a 25 x 200 day where 10 % of the jobs need two together.

- ``crews``: the generated day with ``crews=0.1`` (two-person jobs: the trade's base skill for both,
  the job's certifications for at least one), through ``PlanningService.solve`` (``--time-limit``):
  two-person jobs served (both technicians), the widest gap between the two starts, jobs served,
  the independent checker.
- ``no crews``: the same day with every job for one technician, and VROOM on it (VROOM has no
  two-person visits): what the crews cost in jobs served.
- A re-plan: the visit before one member of a served crew runs an hour over (``delay``); every crew
  in the new plan still starts together (widest gap), and the checker.

    .venv/bin/python -m benchmarks.crews [--time-limit 30] [--out benchmarks/results/crews.md]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format

from benchmarks.rich_days import _vroom_plan
from dispatch.bootstrap import bootstrap
from dispatch.check import check_plan
from dispatch.config import Settings
from dispatch.domain import Plan, group_of, is_member
from dispatch.examples.generate import generate
from dispatch.server.convert import problem_from_proto, replan_from_proto
from dispatch.solver.screen import screen
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import to_proto


def crews(plan: Plan) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for r in plan.routes:
        for v in r.visits:
            if is_member(v.job_id):
                out[group_of(v.job_id)].append((r.technician_id, v.start))
    return out


def gap(plan: Plan) -> int:
    return max((max(s for _, s in c) - min(s for _, s in c) for c in crews(plan).values()), default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--technicians", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    service = bootstrap(Settings(reopt_time_limit=2.0), pool=False)
    out = [
        f"Machine: {platform.machine()}, Python {platform.python_version()}; {datetime.now(UTC):%Y-%m-%d}; "
        f"{args.technicians} x {args.jobs}, {args.time_limit:g} s a solve.",
        "",
        "| day | solver | served | two-person jobs served (both) | widest start gap | drive | checker |",
        "|---|---|---|---|---|---|---|",
    ]
    plans = {}
    for label, share in (("10 % two-person", 0.1), ("no crews", 0.0)):
        day = generate(technicians=args.technicians, jobs=args.jobs, seed=7, crews=share)
        day["options"]["time_limit"] = f"{args.time_limit:g}s"
        day["plan_id"] = f"crews-{share}"
        problem, bad = problem_from_proto(to_proto(day))
        assert not bad, bad
        began = time.monotonic()
        plan = service.solve(problem, replace=True)
        wall = time.monotonic() - began
        planner, matrix = service.prepare(problem)
        wanted = sum(1 for j in day["jobs"] if j.get("technicians_required") == 2)
        together = sum(1 for c in crews(plan).values() if len(c) == 2)
        served = len({group_of(j) for j in plan.assigned_job_ids})
        out.append(
            f"| {label} | dispatch ({wall:.0f} s) | {served}/{args.jobs} | {together}/{wanted} | {gap(plan)} s | "
            f"{plan.stats.total_travel_duration / 3600:.1f} h | {len(check_plan(planner, matrix, plan))} violations |"
        )
        print(out[-1], flush=True)
        plans[label] = (day, plan)
        if share == 0.0:
            theirs = _vroom_plan(planner, matrix, screen(planner, matrix), args.time_limit)
            out.append(
                f"| {label} | vroom | {len(theirs.assigned_job_ids)}/{args.jobs} | — | — | "
                f"{theirs.stats.total_travel_duration / 3600:.1f} h | {len(check_plan(planner, matrix, theirs))} violations |"
            )
            print(out[-1], flush=True)

    day, plan = plans["10 % two-person"]
    before = next(
        (
            r.visits[k - 1].job_id
            for r in plan.routes
            for k, v in enumerate(r.visits)
            if k and is_member(v.job_id) and not is_member(r.visits[k - 1].job_id)
        ),
        None,
    )
    if before is not None:
        request = json_format.ParseDict(
            {"plan_id": plan.plan_id, "events": [{"delay": {"job_id": before, "extra": "3600s"}}]},
            pb.ReoptimizeRequest(),
        )
        request.time.FromSeconds(plan.epoch)
        replan, shape = replan_from_proto(request)
        after = service.reoptimize(replan, shape).plan
        record = service.store.get(plan.plan_id)
        _, matrix = service.prepare(problem_from_proto(to_proto(day))[0])
        together = sum(1 for c in crews(after).values() if len(c) == 2)
        out += [
            "",
            f"Re-plan after {before} ran an hour over: {together} two-person jobs served, widest start gap "
            f"{gap(after)} s, checker {len(check_plan(record.problem, matrix, after))} violations.",
        ]
        print(out[-1], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
