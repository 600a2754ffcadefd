"""Bounded load against a ``dispatch serve`` process on loopback, from this process, stopping by itself.

``--clients`` concurrent clients (50) loop for ``--duration`` seconds (60), each choosing among:

- **Solve** a generated day of 20-100 jobs (search 1-3 s, deadline search + 10 s); one in four is
  *tight*: an 8 s search under a 3 s deadline, which the server must answer with a plan in time;
- **Reoptimize** one of its plans (an emergency called in, a cancellation or a delay; search 1 s,
  deadline 6 s), at the version it holds;
- **GetPlan** of one of its plans (deadline 2 s).

A client told ``RESOURCE_EXHAUSTED`` (every worker busy, the queue full, or no worker free in time
for its deadline) backs off 0.2-1 s and goes on: that is the expected answer of a full server. Any
other failure is unexpected. A probe in its own process checks ``grpc.health.v1`` every 20 ms (its
latency is not inflated by this process's threads) and reads ``/metrics`` every second (queue
depth, busy workers, server memory).

With ``--abusive N`` the server asks for a bearer token (the clients send it) and N more
connections abuse it meanwhile (``tests.support.abuse.Crowd``): each in turn holds a call that
sent its headers and never its message (without a token, or with one: cut after the server's
request wait), and sends a near-limit request of junk without a token. Their answers are counted
apart; the clients' codes and the health figures must not change.

Each client has its own connection, as each console has (gRPC would otherwise share one between
identical channels).

Pass/fail (exit code): no unexpected error; no DEADLINE_EXCEEDED; every call answered by its
deadline + 10 %; solves' search time within their time limit + 10 % (``stats.solve_time``);
health p99 <= 10 ms. Usage::

    python -m benchmarks.load [--clients 50] [--duration 60] [--workers 2] [--max-waiting 8]
                              [--redis] [--abusive 50] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.serve import served
from dispatch.examples.generate import generate
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc
from tests.support.abuse import OWN_CONNECTION, Crowd
from tests.support.redis_server import RedisServer, free_port

WEIGHTS = {"Solve": 0.35, "Reoptimize": 0.35, "GetPlan": 0.30}
#: The bearer token of a run with ``--abusive``.
TOKEN = "load-token-0123456789abcdef"


class _Bearer(grpc.UnaryUnaryClientInterceptor):
    """Adds ``authorization: Bearer TOKEN`` to every call."""

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {TOKEN}")]
        return continuation(details._replace(metadata=metadata), request)


EXPECTED = {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}


@dataclass
class Call:
    rpc: str
    code: str
    seconds: float
    deadline: float
    tight: bool = False
    searched: float | None = None  # stats.solve_time of a plan
    time_limit: float | None = None


@dataclass
class Owned:
    """A plan a client made: its id, the version it holds, the day it came from, its latest plan."""

    plan_id: str
    version: int
    day: int
    plan: pb.Plan
    now: int = 0  # seconds into the day of its last re-plan
    events: int = 0


@dataclass
class Shared:
    stop: threading.Event = field(default_factory=threading.Event)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)


def days(count: int = 12, seed: int = 11) -> list[pb.SolveRequest]:
    """``count`` generated days of 20-100 jobs (a technician per 8 jobs), as requests."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        jobs = rng.randint(20, 100)
        day = generate(technicians=max(3, jobs // 8), jobs=jobs, seed=seed + k)
        out.append(json_format.ParseDict(day, pb.SolveRequest()))
    return out


def client(number: int, address: str, requests: list[pb.SolveRequest], shared: Shared, token: bool = False) -> None:
    rng = random.Random(number)
    owned: list[Owned] = []
    with grpc.insecure_channel(
        address,
        options=[
            *OWN_CONNECTION,
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20),
        ],
    ) as channel:
        stub = dispatch_pb2_grpc.DispatchStub(grpc.intercept_channel(channel, _Bearer()) if token else channel)
        made = 0
        while not shared.stop.is_set():
            rpc = "Solve" if not owned else rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
            began = time.monotonic()
            if rpc == "Solve":
                call, reply = solve(stub, rng, requests, f"load-{number}-{made}", began)
                made += 1
                if reply is not None:
                    owned.append(Owned(reply.plan.plan_id, reply.plan.version, reply.day, reply.plan))
            elif rpc == "Reoptimize":
                call = reoptimize(stub, rng, rng.choice(owned), requests, began)
            else:
                mine = rng.choice(owned)
                call = unary(
                    "GetPlan",
                    2.0,
                    began,
                    lambda m=mine: stub.GetPlan(pb.GetPlanRequest(plan_id=m.plan_id), timeout=2.0),
                )[0]
            shared.record(call)
            pause = rng.uniform(0.2, 1.0) if call.code == "RESOURCE_EXHAUSTED" else rng.uniform(0.05, 0.25)
            shared.stop.wait(pause)


@dataclass
class Solved:
    plan: pb.Plan
    day: int


def unary(rpc: str, deadline: float, began: float, send) -> tuple[Call, object | None]:
    try:
        reply = send()
        code = "OK"
    except grpc.RpcError as exc:
        reply, code = None, exc.code().name
    return Call(rpc, code, time.monotonic() - began, deadline), reply


def solve(stub, rng: random.Random, requests, plan_id: str, began: float) -> tuple[Call, Solved | None]:
    k = rng.randrange(len(requests))
    request = pb.SolveRequest()
    request.CopyFrom(requests[k])
    request.plan_id = plan_id
    tight = rng.random() < 0.25
    limit = 8.0 if tight else float(rng.choice((1, 2, 3)))
    deadline = 3.0 if tight else limit + 10.0
    request.options.time_limit.FromTimedelta(timedelta(seconds=limit))
    call, reply = unary("Solve", deadline, began, lambda: stub.Solve(request, timeout=deadline))
    call.tight, call.time_limit = tight, limit
    if reply is None:
        return call, None
    call.searched = reply.plan.stats.solve_time.ToTimedelta().total_seconds()
    return call, Solved(reply.plan, k)


def reoptimize(stub, rng: random.Random, mine: Owned, requests, began: float) -> Call:
    day = requests[mine.day]
    start = day.start_time.seconds
    mine.now = min(mine.now + rng.randint(600, 2400), 8 * 3600)  # the day goes on
    at = start + mine.now
    request = pb.ReoptimizeRequest(plan_id=mine.plan_id, expected_version=mine.version)
    request.time.FromSeconds(at)
    request.options.time_limit.FromTimedelta(timedelta(seconds=1))
    later = [v for r in mine.plan.routes for v in r.visits if v.start.seconds > at + 1800]
    kind = rng.choice(("emergency", "cancel", "delay")) if later else "emergency"
    event = request.events.add()
    if kind == "emergency":
        tech = rng.choice(day.technicians)
        mine.events += 1
        job = event.new_job
        job.id = f"E{mine.events}"
        job.location.lat = 39.7392 + rng.uniform(-0.08, 0.08)
        job.location.lng = -104.9903 + rng.uniform(-0.1, 0.1)
        job.service_duration.FromSeconds(rng.choice((1800, 2700, 3600)))
        job.required_skills.append(tech.skills[0])
        job.priority = pb.EMERGENCY
        job.respond_within.FromSeconds(7200)
    elif kind == "cancel":
        event.cancel_job.job_id = rng.choice(later).job_id
    else:
        event.delay.job_id = rng.choice(later).job_id
        event.delay.extra.FromSeconds(rng.choice((900, 1800)))
    call, reply = unary("Reoptimize", 6.0, began, lambda: stub.Reoptimize(request, timeout=6.0))
    if reply is not None:
        mine.version, mine.plan = reply.plan.version, reply.plan  # type: ignore[attr-defined]
    elif call.code == "ABORTED":  # not expected (each client re-plans its own plans): resync anyway
        mine.version = stub.GetPlan(pb.GetPlanRequest(plan_id=mine.plan_id), timeout=2).plan.version
    return call


def probe(address: str, metrics_port: int, stop: mp.Event, out: mp.Queue) -> None:  # type: ignore[valid-type]
    """Its own process: health every 20 ms, /metrics every second, until ``stop``."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    samples: list[dict[str, float]] = []
    next_scrape = 0.0
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        while not stop.is_set():
            began = time.perf_counter()
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                latencies.append((time.perf_counter() - began) * 1000)
                if reply.status != health_pb2.HealthCheckResponse.SERVING:
                    failures["NOT_SERVING"] += 1
            except grpc.RpcError as exc:
                failures[exc.code().name] += 1
            if time.monotonic() >= next_scrape:
                next_scrape = time.monotonic() + 1.0
                samples.append(scrape(metrics_port))
            time.sleep(max(0.0, 0.02 - (time.perf_counter() - began)))
    out.put({"latencies": latencies, "failures": dict(failures), "samples": samples})


def scrape(port: int) -> dict[str, float]:
    wanted = (
        "dispatch_solver_queue_depth",
        "dispatch_solver_workers_busy",
        "process_resident_memory_bytes",
        "dispatch_solver_worker_restarts_total",
    )
    found: dict[str, float] = defaultdict(float)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            for line in reply.read().decode().splitlines():
                name = line.split("{", 1)[0].split(" ", 1)[0]
                if name in wanted:
                    found[name] += float(line.rsplit(" ", 1)[1])
    except OSError:
        found["scrape_failed"] = 1
    return dict(found)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


@contextmanager
def server(args: argparse.Namespace, metrics_port: int) -> Iterator[str]:
    env = {"DISPATCH_METRICS_PORT": str(metrics_port), "DISPATCH_LOG_LEVEL": "warning"}
    if args.abusive:
        env["DISPATCH_AUTH_TOKEN"] = TOKEN
    if not args.redis:
        with served(workers=args.workers, max_waiting=args.max_waiting, env=env) as address:
            yield address
        return
    with (
        RedisServer() as redis_server,
        served(workers=args.workers, max_waiting=args.max_waiting, redis_url=redis_server.url, env=env) as address,
    ):
        yield address


def run(args: argparse.Namespace) -> dict:
    requests = days()
    metrics_port = free_port()
    with server(args, metrics_port) as address:
        ctx = mp.get_context("spawn")
        stop, out = ctx.Event(), ctx.Queue()
        watcher = ctx.Process(target=probe, args=(address, metrics_port, stop, out), daemon=True)
        watcher.start()
        shared = Shared()
        began = time.monotonic()
        threads = [
            threading.Thread(target=client, args=(k, address, requests, shared, bool(args.abusive)), daemon=True)
            for k in range(args.clients)
        ]
        crowd = Crowd(address, args.abusive, token=TOKEN)
        for t in threads:
            t.start()
        if args.abusive:
            crowd.__enter__()
        shared.stop.wait(args.duration)
        shared.stop.set()
        crowd.stop()
        for t in threads:
            t.join(30)  # every call has a deadline of at most 13 s
        elapsed = time.monotonic() - began
        stop.set()
        probed = out.get(timeout=30)
        watcher.join(10)
        final = scrape(metrics_port)
    result = summarize(args, shared.calls, probed, final, elapsed, sum(t.is_alive() for t in threads))
    result["abusive"] = {"connections": args.abusive, "answers": dict(crowd.codes)}
    return result


def summarize(args, calls: list[Call], probed: dict, final: dict, elapsed: float, stuck: int) -> dict:
    per_rpc = {}
    for rpc in WEIGHTS:
        mine = [c for c in calls if c.rpc == rpc]
        ok = [c.seconds * 1000 for c in mine if c.code == "OK"]
        per_rpc[rpc] = {
            "calls": len(mine),
            "codes": dict(Counter(c.code for c in mine)),
            "ok_per_s": len(ok) / elapsed,
            "p50_ms": percentile(ok, 50),
            "p95_ms": percentile(ok, 95),
            "p99_ms": percentile(ok, 99),
            "max_ms": max(ok, default=float("nan")),
        }
    unexpected = Counter(f"{c.rpc} {c.code}" for c in calls if c.code not in ("OK", "RESOURCE_EXHAUSTED"))
    late = [c for c in calls if c.seconds > 1.1 * c.deadline]
    tight = [c for c in calls if c.tight]
    searched = [c.searched / c.time_limit for c in calls if c.searched is not None and c.time_limit and not c.tight]
    health = probed["latencies"]
    samples = probed["samples"]
    result = {
        "clients": args.clients,
        "duration_s": round(elapsed, 1),
        "workers": args.workers,
        "max_waiting": args.max_waiting,
        "store": "redis" if args.redis else "memory",
        "rpcs": per_rpc,
        "unexpected": dict(unexpected),
        "past_deadline_plus_10pct": len(late),
        "clients_stuck": stuck,
        "tight_solves": {
            "calls": len(tight),
            "codes": dict(Counter(c.code for c in tight)),
            "max_answer_over_deadline": max((c.seconds / c.deadline for c in tight), default=0.0),
        },
        "search_over_time_limit": {"p50": percentile(searched, 50), "max": max(searched, default=0.0)},
        "health": {
            "checks": len(health),
            "failures": probed["failures"],
            "p50_ms": percentile(health, 50),
            "p99_ms": percentile(health, 99),
            "max_ms": max(health, default=float("nan")),
        },
        "queue_depth_max": max((s.get("dispatch_solver_queue_depth", 0) for s in samples), default=0),
        "busy_workers_mean": statistics.fmean([s.get("dispatch_solver_workers_busy", 0) for s in samples] or [0]),
        "server_rss_mib": {
            "first": samples[0].get("process_resident_memory_bytes", 0) / 2**20 if samples else 0,
            "last": final.get("process_resident_memory_bytes", 0) / 2**20,
        },
        "worker_restarts": final.get("dispatch_solver_worker_restarts_total", 0),
    }
    result["passed"] = bool(
        not unexpected
        and not late
        and not stuck
        and result["health"]["p99_ms"] <= 10
        and not probed["failures"]
        and result["search_over_time_limit"]["max"] <= 1.1
        and all(c.code in ("OK", "RESOURCE_EXHAUSTED") for c in tight)
    )
    return result


def report(r: dict) -> str:
    lines = [
        f"{r['clients']} clients for {r['duration_s']} s, {r['workers']} workers, queue {r['max_waiting']}, "
        f"plans in {r['store']}",
        "",
        "| RPC | calls | OK | RESOURCE_EXHAUSTED | other | OK/s | p50 | p95 | p99 | max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rpc, s in r["rpcs"].items():
        codes = dict(s["codes"])
        ok, full = codes.pop("OK", 0), codes.pop("RESOURCE_EXHAUSTED", 0)
        other = ", ".join(f"{k} {v}" for k, v in codes.items()) or "0"
        lines.append(
            f"| {rpc} | {s['calls']} | {ok} | {full} | {other} | {s['ok_per_s']:.2f} | {s['p50_ms']:.0f} ms | "
            f"{s['p95_ms']:.0f} ms | {s['p99_ms']:.0f} ms | {s['max_ms']:.0f} ms |"
        )
    h, t = r["health"], r["tight_solves"]
    lines += [
        "",
        f"health (own process, every 20 ms): {h['checks']} checks, failures {h['failures'] or 0}, "
        f"p50 {h['p50_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms, max {h['max_ms']:.2f} ms",
        f"tight solves (8 s search, 3 s deadline): {t['calls']}, {t['codes']}, "
        f"slowest answer {t['max_answer_over_deadline']:.2f} x the deadline",
        f"search time / time limit: p50 {r['search_over_time_limit']['p50']:.2f}, "
        f"max {r['search_over_time_limit']['max']:.2f}",
        f"unexpected errors: {r['unexpected'] or 0}; answers past deadline + 10 %: {r['past_deadline_plus_10pct']}; "
        f"clients stuck at the end: {r['clients_stuck']}",
        f"queue depth max {r['queue_depth_max']:.0f}, busy workers mean {r['busy_workers_mean']:.2f}, "
        f"worker restarts {r['worker_restarts']:.0f}; server RSS {r['server_rss_mib']['first']:.0f} -> "
        f"{r['server_rss_mib']['last']:.0f} MiB",
        f"abusive connections: {r['abusive']['connections']}, answered {r['abusive']['answers'] or '-'}",
        f"passed: {r['passed']}",
    ]
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-waiting", type=int, default=8)
    parser.add_argument("--redis", action="store_true", help="plans in a redis-server of its own")
    parser.add_argument(
        "--abusive", type=int, default=0, help="this many abusive connections beside the clients (a token asked for)"
    )
    parser.add_argument("--json", help="write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # the whole run stops by itself, whatever happens: the duration, the drain, start-up and shutdown
    watchdog = threading.Timer(args.duration + 240, lambda: os._exit(3))
    watchdog.daemon = True
    watchdog.start()
    result = run(args)
    watchdog.cancel()
    print(report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
