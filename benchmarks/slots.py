""" "When can you come?" — SuggestSlots latency and whether its proposals are promises.

An in-process planning service (as ``dispatch serve`` builds it) solves a generated day
(``--technicians`` x ``--jobs``, 25 x 250 by default, ``--solve-time`` s). Then, ``--asks`` times,
a random job (a trade and a place of the day's, 45 min) is offered 20 two-hour windows starting
every 30 minutes from 09:00 local (``SuggestSlots``, the request and answer converted as over
gRPC): its latency; and one of the slots proposed, at random, is booked on a copy of the stored
day (``Reoptimize`` with ``new_job`` whose window is that slot): does the job land in it?

    .venv/bin/python -m benchmarks.slots [--asks 50] [--out benchmarks/results/slots.md]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import platform
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import json_format

from benchmarks.health_under_load import percentile
from dispatch.bootstrap import bootstrap
from dispatch.config import Settings
from dispatch.examples.generate import generate
from dispatch.server.convert import problem_from_proto, replan_from_proto, slot_suggestions_to_proto, slots_from_proto
from dispatch.store import StoredPlan
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import to_proto

SLOTS = 20


def copy_day(service: Any, plan_id: str, new_id: str) -> None:
    record = service.store.get(plan_id)
    service.store.put(
        StoredPlan(
            problem=dataclasses.replace(record.problem, plan_id=new_id),
            plan=dataclasses.replace(record.plan, plan_id=new_id, version=0),
            state=record.state,
        ),
        expected_version=0,
    )


def stamp(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(technicians: int, jobs: int, asks: int, solve_time: float, seed: int) -> dict[str, Any]:
    service = bootstrap(Settings(reopt_time_limit=0.5), pool=False)
    request = generate(technicians=technicians, jobs=jobs, seed=seed)
    request["options"] = {**request.get("options", {}), "time_limit": f"{solve_time:g}s"}
    problem, bad = problem_from_proto(to_proto(request))
    assert not bad, bad
    plan = service.solve(problem, replace=True)
    zone = ZoneInfo(request.get("time_zone") or "UTC")
    local = datetime.fromtimestamp(plan.epoch, UTC).astimezone(zone)
    nine = local.replace(hour=9, minute=0, second=0, microsecond=0)
    now = int(nine.timestamp()) - 1800  # asked at 08:30
    windows = [
        {"start": stamp(int((nine + timedelta(minutes=30 * k)).timestamp())),
         "end": stamp(int((nine + timedelta(minutes=30 * k + 120)).timestamp()))}
        for k in range(SLOTS)
    ]  # fmt: skip
    rng = random.Random(seed)
    latencies: list[float] = []
    proposed = booked = inside = empty = 0
    misses: list[str] = []
    for k in range(asks):
        like = copy.deepcopy(rng.choice(request["jobs"]))
        job = {
            "id": f"ask-{k}",
            "location": like["location"],
            "service_duration": "2700s",
            "required_skills": like.get("required_skills", []),
            "customer": {"name": f"Caller {k}", "phone": f"+1720555{k:04d}"},
        }
        ask = json_format.ParseDict({"plan_id": plan.plan_id, "job": job, "slots": windows, "max_options": SLOTS},
                                    pb.SuggestSlotsRequest())  # fmt: skip
        ask.time.FromSeconds(now)
        began = time.perf_counter()
        parsed, shape = slots_from_proto(ask)
        reply = slot_suggestions_to_proto(service.suggest_slots(parsed, shape))
        latencies.append(time.perf_counter() - began)
        if not reply.options:
            empty += 1
            continue
        proposed += len(reply.options)
        choice = rng.choice(list(reply.options))
        copy_id = f"{plan.plan_id}-book-{k}"
        copy_day(service, plan.plan_id, copy_id)
        book = json_format.ParseDict(
            {
                "plan_id": copy_id,
                "events": [{"new_job": {**job, "time_windows": [json_format.MessageToDict(choice.window)]}}],
                "options": {"time_limit": "0.5s"},
            },
            pb.ReoptimizeRequest(),
        )
        book.time.FromSeconds(now)
        replan, shape = replan_from_proto(book)
        result = service.reoptimize(replan, shape)
        booked += 1
        visit = next((v for r in result.plan.routes for v in r.visits if v.job_id == job["id"]), None)
        start = visit.start + result.plan.epoch if visit is not None else None
        if start is not None and choice.window.start.seconds <= start <= choice.window.end.seconds:
            inside += 1
        else:
            why = next((u.reason.name for u in result.plan.unassigned if u.job_id == job["id"]), "placed elsewhere")
            misses.append(f"ask-{k}: {why}")
    return {
        "asks": asks,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
        "proposed": proposed,
        "empty": empty,
        "booked": booked,
        "inside": inside,
        "misses": misses[:10],
        "served": len(plan.assigned_job_ids),
    }


def report(r: dict[str, Any], technicians: int, jobs: int) -> str:
    share = 100 * r["inside"] / r["booked"] if r["booked"] else float("nan")
    lines = [
        f"Machine: {platform.machine()}, {platform.python_version()}; {datetime.now(UTC):%Y-%m-%d}.",
        "",
        f"### SuggestSlots on a {technicians} x {jobs} day ({r['served']} jobs planned), {SLOTS} slots a request",
        "",
        "| requests | p50 ms | p95 ms | p99 ms | max ms | slots proposed | requests with none |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {r['asks']} | {1000 * r['p50']:.0f} | {1000 * r['p95']:.0f} | {1000 * r['p99']:.0f} | "
        f"{1000 * r['max']:.0f} | {r['proposed']} | {r['empty']} |",
        "",
        f"Booked (one proposal at random per request, Reoptimize with new_job in that window on a copy of the day): "
        f"{r['inside']} of {r['booked']} landed in the window ({share:.0f} %).",
        "",
        *(f"- {m}" for m in r["misses"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--technicians", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=250)
    parser.add_argument("--asks", type=int, default=50)
    parser.add_argument("--solve-time", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args.technicians, args.jobs, args.asks, args.solve_time, args.seed)
    text = report(result, args.technicians, args.jobs)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if result["booked"] and result["inside"] >= 0.95 * result["booked"] else 1


if __name__ == "__main__":
    sys.exit(main())
