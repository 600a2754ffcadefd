"""Re-plan latency on a big live day: emergencies, cancellations, a technician going home sick.

Starts a real server (two solver workers) on loopback — or uses ``--server`` — solves a
generated Denver day (``--technicians`` x ``--jobs``, default 25 x 250), then sends events
one at a time over ``ReoptimizeStream``, each against the version the previous one made,
with "now" advancing through the day:

- ``--emergencies`` EMERGENCY jobs (respond within 2 h) at random places;
- ``--cancellations`` cancelled jobs, picked among visits not yet begun;
- ``--positions`` position reports (``progress`` ``POSITION``) of technicians with work left,
  a little off their next job: answered with the reporting route re-timed, no search;
- one technician unavailable from "now", mid-day.

For each it measures, at the client, the time to the first (quick) plan and to the final
plan, and checks that no plan carries a checker warning. The unavailable technician's
remaining jobs must each be re-planned or listed unassigned with a reason. Prints
p50/p95/p99 and writes ``--out`` (markdown). Usage::

    python -m benchmarks.reopt_latency [--technicians 25] [--jobs 250] [--out benchmarks/results/reopt-latency.md]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
from google.protobuf import json_format

from benchmarks.health_under_load import percentile
from benchmarks.serve import served
from dispatch.examples.generate import generate
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc

SKILLS = ["hvac", "plumbing", "electrical"]


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | 0 | | | | |"
    ms = [v * 1000 for v in values]
    return (
        f"| {name} | {len(ms)} | {percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} | "
        f"{percentile(ms, 99):.0f} | {max(ms):.0f} |"
    )


class Day:
    def __init__(self, stub: dispatch_pb2_grpc.DispatchStub, plan: pb.Plan, time_limit: float) -> None:
        self.stub = stub
        self.plan = plan
        self.time_limit = time_limit
        self.checker_warnings = 0

    def send(self, now: int, events: list[dict]) -> tuple[float, float, pb.ReoptimizeResponse]:
        request = json_format.ParseDict(
            {
                "plan_id": self.plan.plan_id,
                "expected_version": str(self.plan.version),
                "events": events,
                "options": {"time_limit": f"{self.time_limit}s"},
            },
            pb.ReoptimizeRequest(),
        )
        request.time.FromSeconds(now)
        began = time.perf_counter()
        first = final = None
        last = None
        for update in self.stub.ReoptimizeStream(request, timeout=self.time_limit + 30):
            elapsed = time.perf_counter() - began
            if first is None:
                first = elapsed
            final, last = elapsed, update.result
            self.checker_warnings += sum(1 for w in update.result.plan.stats.warnings if w.startswith("checker"))
        assert last is not None and first is not None and final is not None
        self.plan = last.plan
        return first, final, last

    def open_visits(self) -> list[tuple[str, pb.Visit]]:
        return [(r.technician_id, v) for r in self.plan.routes for v in r.visits if v.status == pb.VISIT_PLANNED]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="host:port (default: start `dispatch serve` with two workers)")
    parser.add_argument("--technicians", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=250)
    parser.add_argument("--solve-time", type=float, default=20.0, help="time limit of the morning Solve")
    parser.add_argument("--time-limit", type=float, default=2.0, help="re-plan time limit")
    parser.add_argument("--emergencies", type=int, default=30)
    parser.add_argument("--cancellations", type=int, default=30)
    parser.add_argument("--positions", type=int, default=30)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--redis-url", help="keep plans in this Redis (default: in the server process)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    with contextlib.ExitStack() as stack:
        address = args.server or stack.enter_context(served(redis_url=args.redis_url))
        channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
        stub = dispatch_pb2_grpc.DispatchStub(channel)
        request_body = generate(technicians=args.technicians, jobs=args.jobs, seed=args.seed)
        request_body["options"]["time_limit"] = f"{args.solve_time}s"
        request_body["plan_id"] = f"reopt-bench-{args.seed}"
        request = json_format.ParseDict(request_body, pb.SolveRequest())
        plan = stub.Solve(request, timeout=args.solve_time + 60).plan
        print(
            f"morning plan: {plan.stats.jobs_assigned} assigned, {plan.stats.jobs_unassigned} unassigned",
            file=sys.stderr,
        )
        day = Day(stub, plan, args.time_limit)
        start = min(t.shift.start.seconds for t in request.technicians)
        now = start + 90 * 60
        lines: list[str] = []
        quick: dict[str, list[float]] = {"emergency": [], "cancellation": [], "position": [], "unavailable": []}
        final: dict[str, list[float]] = {"emergency": [], "cancellation": [], "position": [], "unavailable": []}
        served_in_time = 0
        places = {j.id: j.location for j in request.jobs}
        kinds = ["emergency"] * args.emergencies + ["cancellation"] * args.cancellations + ["position"] * args.positions
        rng.shuffle(kinds)
        sick_at = len(kinds) // 2
        for k, kind in enumerate(kinds):
            now += 5 * 60
            if k == sick_at:
                busy = [t for t, v in day.open_visits()]
                sick = max(set(busy), key=busy.count)
                theirs = {v.job_id for t, v in day.open_visits() if t == sick}
                a, b, response = day.send(now, [{"technician_unavailable": {"technician_id": sick}}])
                quick["unavailable"].append(a)
                final["unavailable"].append(b)
                placed = {v.job_id for r in response.plan.routes if r.technician_id != sick for v in r.visits}
                listed = {u.job_id for u in response.plan.unassigned if u.reason}
                missing = theirs - placed - listed
                print(
                    f"{sick} unavailable: {len(theirs)} open jobs -> {len(theirs & placed)} re-planned, "
                    f"{len(theirs & listed)} unassigned with a reason, {len(missing)} lost",
                    file=sys.stderr,
                )
                lines.append(
                    f"Technician {sick} unavailable at event {k}: {len(theirs)} open jobs, "
                    f"{len(theirs & placed)} re-planned, {len(theirs & listed)} unassigned with a reason, "
                    f"{len(missing)} lost."
                )
                continue
            if kind == "emergency":
                job_id = f"EMG-{k}"
                lat, lng = 39.74 + rng.uniform(-0.12, 0.12), -104.99 + rng.uniform(-0.15, 0.15)
                event = {
                    "new_job": {
                        "id": job_id,
                        "location": {"lat": lat, "lng": lng},
                        "service_duration": "3600s",
                        "required_skills": [rng.choice(SKILLS)],
                        "priority": "EMERGENCY",
                        "respond_within": "7200s",
                    }
                }
                places[job_id] = pb.Location(lat=lat, lng=lng)
                a, b, response = day.send(now, [event])
                visit = next((v for r in response.plan.routes for v in r.visits if v.job_id == job_id), None)
                served_in_time += visit is not None and visit.start.seconds <= now + 7200
            elif kind == "position":
                candidates = day.open_visits()
                if not candidates:
                    continue
                who, visit = rng.choice(candidates)
                near = places.get(visit.job_id)
                if near is None:
                    continue
                report = {
                    "technician_id": who,
                    "kind": "POSITION",
                    "location": {
                        "lat": near.lat + rng.uniform(-0.02, 0.02),
                        "lng": near.lng + rng.uniform(-0.02, 0.02),
                    },
                }
                a, b, response = day.send(now, [{"progress": report}])
            else:
                candidates = day.open_visits()
                if not candidates:
                    continue
                _, visit = rng.choice(candidates)
                a, b, response = day.send(now, [{"cancel_job": {"job_id": visit.job_id}}])
            quick[kind].append(a)
            final[kind].append(b)
        header = [
            f"# Re-plan latency — {args.technicians} technicians / {args.jobs} jobs",
            "",
            f"{datetime.now(UTC):%Y-%m-%d}, {platform.node()} ({platform.processor() or platform.machine()}), "
            f"a `dispatch serve` process with 2 solver workers, great-circle travel, plans in {'Redis' if args.redis_url else 'process memory'}, "
            f"re-plan time limit {args.time_limit:g} s, seed {args.seed}.",
            f"Command: `python -m benchmarks.reopt_latency --technicians {args.technicians} --jobs {args.jobs} "
            f"--time-limit {args.time_limit:g} --seed {args.seed}"
            f"{' --redis-url ' + args.redis_url if args.redis_url else ''}`",
            "",
            "Client-side ReoptimizeStream latency, milliseconds: first = the quick plan, final = the last message.",
            "",
            "| event | n | p50 | p95 | p99 | max |",
            "|---|---|---|---|---|---|",
        ]
        for kind in quick:
            header.append(summary(f"{kind}: first plan", quick[kind]))
            header.append(summary(f"{kind}: final plan", final[kind]))
        header += [
            "",
            f"Emergencies served within 2 h of the call: {served_in_time} / {len(quick['emergency'])}.",
            f"Plans with a checker warning: {day.checker_warnings}.",
            *lines,
        ]
        text = "\n".join(header) + "\n"
        print(text)
        if args.out:
            args.out.write_text(text)
        return 0 if day.checker_warnings == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
