"""Health-check latency while every solver worker is busy.

Starts a real server (two workers by default) on loopback, sends one long ``Solve`` per
worker (a generated 200-job day with a 30 s time limit), and polls ``grpc.health.v1``
every 20 ms until the solves return. Prints the health latency percentiles and checks
that both solves came back. Usage::

    python -m benchmarks.health_under_load [--workers 2] [--time-limit 30] [--jobs 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dispatch.config import Settings
from dispatch.examples.generate import generate
from dispatch.server.app import DispatchServer
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args(argv)

    server = DispatchServer(Settings(workers=args.workers, max_waiting=2), host="127.0.0.1", port=0)
    server.start()
    try:
        channel = grpc.insecure_channel(
            f"127.0.0.1:{server.port}", options=[("grpc.max_receive_message_length", 64 << 20)]
        )
        stub = dispatch_pb2_grpc.DispatchStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        health.Check(health_pb2.HealthCheckRequest(), timeout=5)  # connect first

        results: list[object] = []

        def solve(seed: int) -> None:
            day = generate(technicians=max(2, args.jobs // 8), jobs=args.jobs, seed=seed)
            day["options"]["time_limit"] = f"{args.time_limit}s"
            request = json_format.ParseDict(day, pb.SolveRequest())
            try:
                results.append(stub.Solve(request, timeout=args.time_limit + 30))
            except grpc.RpcError as exc:
                results.append(exc)

        solvers = [threading.Thread(target=solve, args=(seed,)) for seed in range(args.workers)]
        for thread in solvers:
            thread.start()
        time.sleep(1.0)  # let the solves reach the workers
        latencies: list[float] = []
        busy_samples = 0
        while any(t.is_alive() for t in solvers):
            busy = len(server.service.runner.busy_pids())  # type: ignore[attr-defined]
            began = time.perf_counter()
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            latencies.append((time.perf_counter() - began) * 1000)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            busy_samples += busy == args.workers
            time.sleep(0.02)
        for thread in solvers:
            thread.join()
    finally:
        server.stop(grace=1)

    failed = [r for r in results if isinstance(r, grpc.RpcError)]
    print(
        f"health checks while {args.workers} workers ran {args.time_limit:g} s solves of {args.jobs} jobs: "
        f"n={len(latencies)} (all workers busy in {busy_samples}), "
        f"p50 {statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 99):.2f} ms, "
        f"max {max(latencies):.2f} ms; solves ok {len(results) - len(failed)}/{len(results)}"
    )
    return 0 if not failed and percentile(latencies, 99) < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
