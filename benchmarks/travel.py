"""Travel matrices with travel_model GOOGLE: requests, warm-cache assembly, Redis outages.

Everything on loopback: the real ``googlemaps`` client against the fake Distance Matrix server of
the tests (``tests/support/fake_google.py``), and a real ``redis-server`` started here (no persistence).

1. A 60-place day solved twice through the service: provider requests cold (the minimum is
   ceil(60 x 60 / 100) = 36) and warm, with the in-process cache and with Redis (the second solve
   by a fresh dispatcher, as another replica would).
2. A 500 x 500 matrix (``--size``) assembled from a warm Redis: ``--rounds`` timings, p50/p95.
3. Redis killed, and Redis silent (SIGSTOP), in the middle of a solve's matrix (after the cache
   read, during the provider fetch): the solve finishes; the time it adds is compared with the
   same fetch with Redis healthy. Then Redis comes back and the cache serves again.

    .venv/bin/python -m benchmarks.travel [--rounds 30] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from dispatch.config import Settings
from dispatch.domain import Location
from dispatch.matrix.cached_provider import CachedProvider
from dispatch.matrix.google import GoogleMaps, GoogleSettings
from dispatch.matrix.great_circle import GreatCircleProvider
from dispatch.matrix.travel_cache import TravelCache
from dispatch.server.convert import problem_from_proto
from dispatch.service import PlanningService
from dispatch.solver.runner import InProcessRunner
from dispatch.store import MemoryPlanStore
from tests.support.console_requests import google_day, to_proto
from tests.support.fake_google import KEY, FakeGoogle
from tests.support.redis_server import RedisServer


def _provider(google: GoogleSettings, cache: TravelCache) -> CachedProvider:
    return CachedProvider(GoogleMaps(google), cache, GreatCircleProvider(), counters=cache.counters)


def _dispatcher(google: GoogleSettings, cache: TravelCache) -> PlanningService:
    """The service with GOOGLE travel on ``cache`` and plans in memory (a Redis plan store is the
    source of truth, not a cache: it does not fail open, see issue 5)."""
    return PlanningService(
        runner=InProcessRunner(), settings=Settings(), store=MemoryPlanStore(), google=_provider(google, cache)
    )


def _places(n: int, seed: int = 11) -> list[Location]:
    rng = np.random.default_rng(seed)
    return [Location(lat=39.6 + 0.3 * rng.random(), lng=-105.1 + 0.3 * rng.random()) for _ in range(n)]


def requests_per_day(fake: FakeGoogle, google: GoogleSettings, redis_url: str) -> list[str]:
    problem, _ = problem_from_proto(to_proto(google_day()))
    lines = [
        "| cache | first solve: requests / elements | second solve: requests | plan travel_requests |",
        "|---|---|---|---|",
    ]
    for name, make in (("memory", lambda: TravelCache.memory()), ("redis", lambda: TravelCache.redis(redis_url))):
        TravelCache.redis(redis_url).rows.client.flushall()
        fake.reset()
        first = _dispatcher(google, make())
        first.solve(problem, replace=True)
        cold, elements = fake.requests, fake.elements
        second = first if name == "memory" else _dispatcher(google, make())  # Redis: another replica
        fake.reset()
        plan = second.solve(problem, replace=True)
        lines.append(f"| {name} | {cold} / {elements} | {fake.requests} | {plan.stats.travel_requests} |")
    return lines


def warm_redis(google: GoogleSettings, redis_url: str, rounds: int, size: int) -> tuple[list[str], float, float]:
    points = _places(size)
    _provider(google, TravelCache.redis(redis_url)).matrix(points, points)  # cold: fills Redis
    provider = _provider(google, TravelCache.redis(redis_url))
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        provider.matrix(points, points)
        times.append((time.perf_counter() - began) * 1000)
    assert provider.counters.provider_requests == 0, f"the warm matrix asked Google: {provider.counters.snapshot()}"
    times.sort()
    p50, p95 = statistics.median(times), times[max(0, int(0.95 * len(times)) - 1)]
    return (
        [f"500 x 500 from a warm Redis, {rounds} rounds: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms"],
        p50,
        p95,
    )


def outages(fake: FakeGoogle, google: GoogleSettings, redis: RedisServer) -> list[str]:
    """Redis fails while the provider is fetching: the write that follows fails (or hangs)."""
    problem, _ = problem_from_proto(to_proto(google_day()))
    lines = [
        "| Redis during the fetch | solve wall (s) | healthy-Redis solve (s) | added (ms) | plan | cache errors |",
        "|---|---|---|---|---|---|",
    ]
    for what in ("killed", "silent (SIGSTOP)"):
        timings = {}
        for healthy in (True, False):
            redis.start()
            TravelCache.redis(redis.url).rows.client.flushall()
            service = _dispatcher(google, TravelCache.redis(redis.url))
            fake.reset()
            fake.script.extend(["slow:0.3"] * 36)  # a fetch long enough to fail Redis in the middle of
            pid = redis.process.pid  # type: ignore[union-attr]

            sig = None if healthy else signal.SIGKILL if what == "killed" else signal.SIGSTOP

            def fail_redis(pid: int = pid, sig: signal.Signals | None = sig) -> None:
                time.sleep(0.1)
                if sig is not None:
                    os.kill(pid, sig)

            trigger = threading.Thread(target=fail_redis)
            trigger.start()
            began = time.perf_counter()
            plan = service.solve(problem, replace=True)
            timings[healthy] = time.perf_counter() - began
            trigger.join()
            errors = service.google.counters.snapshot()["cache_errors"]  # type: ignore[union-attr]
            if not healthy:
                ok = f"{len(plan.assigned_job_ids)} assigned, {len(plan.stats.warnings)} warnings"
                lines.append(
                    f"| {what} | {timings[False]:.2f} | {timings[True]:.2f} | "
                    f"{(timings[False] - timings[True]) * 1000:.0f} | {ok} | {errors} |"
                )
                if what.startswith("silent"):
                    os.kill(pid, signal.SIGCONT)
        redis.stop() if what == "killed" else None
    # recovery: Redis back, the breaker's cooldown passes, the cache serves again
    redis.start()
    cache = TravelCache.redis(redis.url, cooldown=1.0)
    provider = _provider(google, cache)
    points = _places(60)
    redis.kill()
    provider.matrix(points, points)
    redis.start()
    time.sleep(1.1)
    provider.matrix(points, points)  # the probe: Redis is back (empty), the fetch is cached again
    fake.reset()
    provider.matrix(points, points)
    lines.append("")
    lines.append(
        f"Recovery: Redis killed, then restarted; after the 1 s breaker cooldown the next matrix was cached "
        f"and the one after made {fake.requests} provider requests (breaker open: {cache.breaker.is_open})."
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", type=int, default=500, help="places in the warm-Redis matrix")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    fake = FakeGoogle()
    google = GoogleSettings(api_key=KEY, base_url=fake.base_url, elements_per_minute=10**8, concurrency=8)
    redis = RedisServer().start()
    try:
        out = [
            "## Requests for a 60-place day (travel_model GOOGLE)",
            "",
            *requests_per_day(fake, google, redis.url),
            "",
        ]
        lines, p50, p95 = warm_redis(google, redis.url, args.rounds, args.size)
        out += ["## Warm Redis", "", *lines, ""]
        out += ["## Redis failing in the middle of a solve", "", *outages(fake, google, redis), ""]
    finally:
        redis.close()
        fake.close()
    text = "\n".join(out)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if p95 <= 100 else 1


if __name__ == "__main__":
    sys.exit(main())
