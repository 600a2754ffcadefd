"""travel_model ROUTES on a 500-place day: requests against the Routes API's limits, a second
identical solve, and warm re-plan latency beside the embedded model.

Everything on loopback: Google's own client (``google-maps-routing``, REST) against the fake
Routes API of the tests (``tests/support/fake_google.py``), an in-process planning service as
``dispatch serve`` builds it (in-process cache: the second solve and the re-plans are warm).

1. A generated day of ``--technicians`` + ``--jobs`` (500 distinct places by default) on ROUTES:
   its matrix built as a Solve builds it (no deadline): requests made against the minimum
   ``ceil(places² / 625)``, elements answered (every element's status and condition read),
   estimated pairs; then the same matrix again: requests. Then the day is solved (warm).
2. ``--replans`` re-plans of that day (a job runs late, each at a later time) on ROUTES and on
   GREAT_CIRCLE: p50/p95 of ``Reoptimize``.
3. The same re-plans of a ``--traffic-size`` day planned with traffic (``options.traffic``: the
   rest of the day timed at each leg's departure, one matrix per hour bucket, from the cache when
   warm) beside the same day without: p50/p95.

    .venv/bin/python -m benchmarks.routes [--technicians 20] [--jobs 480] [--replans 30] [--out FILE]
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.health_under_load import percentile
from dispatch.bootstrap import bootstrap
from dispatch.config import Settings
from dispatch.domain import Delay, Replan
from dispatch.examples.generate import generate
from dispatch.matrix import day_matrix
from dispatch.matrix.google import GoogleSettings
from dispatch.server.convert import problem_from_proto
from tests.support.console_requests import to_proto
from tests.support.fake_google import KEY, FakeGoogle


def day(technicians: int, jobs: int, model: str, time_limit: float, traffic: bool = False) -> dict[str, Any]:
    request = generate(technicians=technicians, jobs=jobs, seed=5)
    options = {"travel_model": model, "time_limit": f"{time_limit:g}s", "traffic": traffic}
    request["options"] = {**request.get("options", {}), **options}
    request["plan_id"] = f"routes-bench-{model.lower()}-{technicians}x{jobs}{'-traffic' if traffic else ''}"
    return request


def replans(service: Any, plan: Any, count: int) -> list[float]:
    """``count`` re-plans, each a job of the plan running 20 min late, 10 minutes apart."""
    took = []
    visits = sorted((v for r in plan.routes for v in r.visits), key=lambda v: v.start)
    for k in range(count):
        at = plan.epoch + 1800 + 600 * k
        ahead = [v for v in visits if v.start > at - plan.epoch + 1800]  # not under way or done by then
        late = ahead[(7 * k) % len(ahead)]
        began = time.perf_counter()
        service.reoptimize(Replan(plan_id=plan.plan_id, time=at, events=(Delay(job_id=late.job_id, extra=1200),)))
        took.append(time.perf_counter() - began)
    return took


def routes_service(fake: FakeGoogle, *, retry_timeout: float) -> Any:
    """An in-process planning service on ``fake`` (no element quota: the fake has none), re-plans of 0.5 s."""
    google = GoogleSettings(
        api_key=KEY,
        base_url=fake.base_url,
        routes_url=fake.base_url,
        retry_timeout=retry_timeout,
        elements_per_minute=10_000_000,
    )
    return bootstrap(Settings(google=google, reopt_time_limit=0.5), pool=False)


def run(technicians: int, jobs: int, count: int, time_limit: float) -> dict[str, Any]:
    fake = FakeGoogle()
    try:
        service = routes_service(fake, retry_timeout=30.0)
        request = day(technicians, jobs, "ROUTES", time_limit)
        problem, bad = problem_from_proto(to_proto(request))
        assert not bad, bad
        places = len({(round(p.lat, 5), round(p.lng, 5)) for p in _points(problem)})
        assert service.routes is not None
        began = time.perf_counter()  # the day's matrix as a Solve builds it, with no deadline to cut it short
        first = day_matrix(problem, service.routes)
        cold = time.perf_counter() - began
        cold_requests, cold_elements = fake.requests, fake.elements
        began = time.perf_counter()
        day_matrix(problem, service.routes)
        warm = time.perf_counter() - began
        second_requests = fake.requests - cold_requests
        second = service.solve(problem, replace=True)  # warm: its matrix from the cache
        routes_replans = replans(service, second, count)
        gc_request = copy.deepcopy(request)
        gc_request["options"]["travel_model"] = "GREAT_CIRCLE"
        gc_request["plan_id"] = "routes-bench-great-circle"
        gc_problem, _ = problem_from_proto(to_proto(gc_request))
        gc_plan = service.solve(gc_problem, replace=True)
        gc_replans = replans(service, gc_plan, count)
        return {
            "places": places,
            "minimum": math.ceil(places * places / 625),
            "cold_requests": cold_requests,
            "cold_elements": cold_elements,
            "second_requests": second_requests,
            "estimated": int(first.estimated.sum()) if first.estimated is not None else 0,
            "warnings": list(first.warnings) + list(second.stats.warnings),
            "assigned": len(second.assigned_job_ids),
            "cold_s": cold,
            "warm_s": warm,
            "routes_p50": percentile(routes_replans, 50),
            "routes_p95": percentile(routes_replans, 95),
            "gc_p50": percentile(gc_replans, 50),
            "gc_p95": percentile(gc_replans, 95),
            "replans": count,
        }
    finally:
        fake.close()


def with_traffic(technicians: int, jobs: int, count: int, time_limit: float) -> dict[str, Any]:
    """Warm re-plans of a day planned with and without traffic on ROUTES (the same service, the fake)."""
    fake = FakeGoogle()
    try:
        service = routes_service(fake, retry_timeout=60.0)
        out: dict[str, Any] = {}
        for traffic in (False, True):
            problem, bad = problem_from_proto(to_proto(day(technicians, jobs, "ROUTES", time_limit, traffic)))
            assert not bad, bad
            assert service.routes is not None
            day_matrix(problem, service.routes)  # warm: every hour bucket in the cache, as after a first solve
            plan = service.solve(problem, replace=True)
            before = fake.requests
            took = replans(service, plan, count)
            name = "traffic" if traffic else "static"
            out[name] = (percentile(took, 50), percentile(took, 95), fake.requests - before, plan.stats.travel_source)
        return out
    finally:
        fake.close()


def _points(problem: Any) -> list[Any]:
    return [t.start_location for t in problem.technicians] + [j.location for j in problem.jobs]


def report(r: dict[str, Any], technicians: int, jobs: int, t: dict[str, Any], size: str) -> str:
    return "\n".join(
        [
            f"Machine: {platform.machine()}, {platform.python_version()}; {datetime.now(UTC):%Y-%m-%d}.",
            "",
            f"### travel_model ROUTES, a {technicians} x {jobs} day ({r['places']} distinct places)",
            "",
            "| requests (cold) | minimum ceil(places² / 625) | elements | estimated pairs | the same matrix again: requests "
            "| cold matrix s | warm matrix s | assigned (solve) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| {r['cold_requests']} | {r['minimum']} | {r['cold_elements']} | {r['estimated']} | "
            f"{r['second_requests']} | {r['cold_s']:.1f} | {r['warm_s']:.1f} | {r['assigned']} |",
            "",
            f"Re-plans (a job 20 min late, {r['replans']} of them, warm):",
            "",
            "| model | p50 ms | p95 ms |",
            "| --- | --- | --- |",
            f"| ROUTES | {1000 * r['routes_p50']:.0f} | {1000 * r['routes_p95']:.0f} |",
            f"| GREAT_CIRCLE | {1000 * r['gc_p50']:.0f} | {1000 * r['gc_p95']:.0f} |",
            "",
            f"Re-plans of a {size} day on ROUTES, planned with and without traffic (warm: the requests during them):",
            "",
            "| plan | travel source | p50 ms | p95 ms | requests during the re-plans |",
            "| --- | --- | --- | --- | --- |",
            *(f"| {name} | {v[3]} | {1000 * v[0]:.0f} | {1000 * v[1]:.0f} | {v[2]} |" for name, v in t.items()),
            "",
            *(f"- warning: {w}" for w in r["warnings"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--technicians", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=480)
    parser.add_argument("--replans", type=int, default=30)
    parser.add_argument("--time-limit", type=float, default=20.0, help="the solves' time limit")
    parser.add_argument("--traffic-size", default="20x200", help="technicians x jobs of the traffic day")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args.technicians, args.jobs, args.replans, args.time_limit)
    techs, jobs = (int(x) for x in args.traffic_size.split("x"))
    traffic = with_traffic(techs, jobs, args.replans, args.time_limit)
    text = report(result, args.technicians, args.jobs, traffic, args.traffic_size)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    ok = result["second_requests"] == 0 and result["estimated"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
