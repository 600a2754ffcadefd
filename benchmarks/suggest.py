""" "Who can go" on a big live day: SuggestTechnicians latency, and whether its options are promises
the re-plan keeps.

Solves a generated Denver day (``--technicians`` x ``--jobs``, default 25 x 250) in this process
(the planning service as ``dispatch serve`` builds it, solving in-process), then for each of
``--emergencies`` random EMERGENCY jobs (respond within 2 h, a random trade, at a random place and
a random time of the day):

1. asks ``SuggestTechnicians`` (the request and answer converted as over gRPC; timed);
2. for each feasible option (at most ``--options``), copies the stored day under a new plan id
   and re-plans the copy with ``new_job`` + ``assign`` to that option's technician (``Reoptimize``,
   ``--time-limit``), then compares: the job's start (within 5 min), and the displaced set (the
   other visits whose start moves by a minute or more).

An emergency agrees when every option it checked agrees. Prints the latency percentiles and the
agreement, and writes ``--out`` (markdown). Usage::

    python -m benchmarks.suggest [--emergencies 50] [--options 5] [--out benchmarks/results/suggest.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format

from benchmarks.health_under_load import percentile
from dispatch.bootstrap import bootstrap
from dispatch.config import Settings
from dispatch.domain import Plan, VisitStatus
from dispatch.examples.generate import generate
from dispatch.server.convert import (
    problem_from_proto,
    replan_from_proto,
    suggest_from_proto,
    suggestions_to_proto,
)
from dispatch.service import PlanningService
from dispatch.store import StoredPlan
from dispatch.v1 import dispatch_pb2 as pb

SKILLS = ["hvac", "plumbing", "electrical"]
#: An option's start and the re-plan's may differ this much (s).
START_TOLERANCE = 300
MOVED = 60


def starts(plan: Plan) -> dict[str, int]:
    return {v.job_id: v.start for r in plan.routes for v in r.visits if v.status is VisitStatus.PLANNED}


def copy_day(service: PlanningService, plan_id: str, new_id: str) -> None:
    record = service.store.get(plan_id)
    assert record is not None
    copy = StoredPlan(
        problem=dataclasses.replace(record.problem, plan_id=new_id),
        plan=dataclasses.replace(record.plan, plan_id=new_id, version=0),
        state=record.state,
    )
    service.store.put(copy, expected_version=0)


def check_option(
    service: PlanningService, plan_id: str, tag: str, now: int, job: dict, option: pb.TechnicianOption, limit: float
) -> tuple[bool, str]:
    copy_id = f"{plan_id}-{tag}"
    copy_day(service, plan_id, copy_id)
    before = service.store.get(copy_id)
    assert before is not None
    request = json_format.ParseDict(
        {
            "plan_id": copy_id,
            "events": [{"new_job": job}, {"assign": {"job_id": job["id"], "technician_id": option.technician_id}}],
            "options": {"time_limit": f"{limit}s"},
        },
        pb.ReoptimizeRequest(),
    )
    request.time.FromSeconds(now)
    replan, shape = replan_from_proto(request)
    result = service.reoptimize(replan, shape)
    old, new = starts(before.plan), starts(result.plan)
    epoch = result.plan.epoch
    on = {v.job_id: r.technician_id for r in result.plan.routes for v in r.visits}
    if on.get(job["id"]) != option.technician_id:
        return False, "the re-plan did not put the job on that technician"
    start = new[job["id"]] + epoch
    moved = {k for k, s in new.items() if k != job["id"] and k in old and abs(s - old[k]) >= MOVED}
    moved |= {k for k in old if k not in on and k != job["id"]}  # left unassigned
    said = {d.job_id for d in option.displaced} | {u.job_id for u in option.newly_unassigned}
    if abs(start - option.start.seconds) > START_TOLERANCE:
        return False, f"start {start - option.start.seconds:+d} s"
    if moved != said:
        return False, f"displaced: re-plan {len(moved)}, suggestion {len(said)}, differ by {len(moved ^ said)}"
    return True, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--technicians", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=250)
    parser.add_argument("--solve-time", type=float, default=20.0)
    parser.add_argument("--time-limit", type=float, default=1.0, help="time limit of each checking re-plan")
    parser.add_argument("--emergencies", type=int, default=50)
    parser.add_argument("--options", type=int, default=5, help="options checked per emergency")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    service = bootstrap(Settings.from_env(), pool=False)
    body = generate(technicians=args.technicians, jobs=args.jobs, seed=args.seed)
    body["options"]["time_limit"] = f"{args.solve_time}s"
    body["plan_id"] = f"suggest-bench-{args.seed}"
    problem, shape = problem_from_proto(json_format.ParseDict(body, pb.SolveRequest()))
    plan = service.solve(problem, shape)
    print(f"morning plan: {len(plan.assigned_job_ids)} assigned, {len(plan.unassigned)} unassigned", file=sys.stderr)
    day_start = min(t.shift.start for t in problem.technicians) + problem.epoch
    latencies: list[float] = []
    agreed = checked = options_checked = options_agreed = feasible_first = 0
    reasons: list[str] = []
    for k in range(args.emergencies):
        now = day_start + rng.randint(30, 6 * 60) * 60
        job = {
            "id": f"EMG-{k}",
            "location": {"lat": 39.74 + rng.uniform(-0.12, 0.12), "lng": -104.99 + rng.uniform(-0.15, 0.15)},
            "service_duration": "3600s",
            "priority": "EMERGENCY",
            "required_skills": [rng.choice(SKILLS)],
            "respond_within": "7200s",
        }
        request = json_format.ParseDict(
            {"plan_id": body["plan_id"], "job": job, "max_options": args.options}, pb.SuggestTechniciansRequest()
        )
        request.time.FromSeconds(now)
        began = time.perf_counter()
        ask, shape = suggest_from_proto(request)
        answer = suggestions_to_proto(service.suggest(ask, shape))
        latencies.append(time.perf_counter() - began)
        feasible = [o for o in answer.options if o.feasible]
        feasible_first += bool(feasible)
        if not feasible:
            continue
        checked += 1
        ok_all = True
        for n, option in enumerate(feasible[: args.options]):
            ok, why = check_option(service, body["plan_id"], f"{k}-{n}", now, job, option, args.time_limit)
            options_checked += 1
            options_agreed += ok
            if not ok:
                ok_all = False
                reasons.append(f"EMG-{k} option {n + 1} ({option.technician_id}): {why}")
        agreed += ok_all
        print(
            f"EMG-{k}: {len(answer.options)} options ({len(feasible)} feasible), "
            f"{latencies[-1] * 1000:.0f} ms, {'agrees' if ok_all else 'differs'}",
            file=sys.stderr,
        )
    ms = [x * 1000 for x in latencies]
    lines = [
        f"SuggestTechnicians on a {args.technicians} x {args.jobs} day, {args.emergencies} emergencies "
        f"({datetime.now(UTC):%Y-%m-%d}, {platform.node() or 'this machine'}, in-process service):",
        "",
        "| requests | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- |",
        f"| {len(ms)} | {percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} | {percentile(ms, 99):.0f} | {max(ms):.0f} |",
        "",
        f"Emergencies with a feasible option: {feasible_first}; every checked option agrees with the re-plan "
        f"(start within 5 min, same displaced set) on {agreed} of {checked} "
        f"({100 * agreed / max(checked, 1):.0f} %); options: {options_agreed} of {options_checked}.",
    ]
    if reasons:
        lines += ["", "Differences:", *(f"- {r}" for r in reasons[:20])]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
