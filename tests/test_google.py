"""travel_model GOOGLE end to end: the real googlemaps client against a loopback fake of the
Distance Matrix and Geocoding APIs, caches in process and in a real redis-server."""

from __future__ import annotations

import logging
import math
import socket
import threading
import time

import numpy as np
import pytest

from dispatch.bootstrap import bootstrap
from dispatch.config import Settings
from dispatch.domain import Location, UnassignedReason
from dispatch.errors import ProblemError
from dispatch.matrix.base import TravelReport
from dispatch.matrix.cached_provider import CachedProvider
from dispatch.matrix.google import MAX_ELEMENTS, MAX_SIDE, GoogleMaps, GoogleSettings, tiles
from dispatch.matrix.great_circle import GreatCircleProvider
from dispatch.matrix.travel_cache import Counters, TravelCache, place_key
from dispatch.server.convert import problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import google_day, to_proto
from tests.support.fake_google import KEY, FakeGoogle


@pytest.fixture(scope="module")
def fake():
    server = FakeGoogle()
    yield server
    server.close()


@pytest.fixture
def google(fake):
    fake.reset()
    fake.islands.clear()
    fake.addresses.clear()
    return GoogleSettings(api_key=KEY, base_url=fake.base_url, retry_timeout=1.0, connect_timeout=0.5, read_timeout=1.0)


def google_service(google: GoogleSettings, redis_url: str | None = None):
    return bootstrap(Settings(google=google, redis_url=redis_url), pool=False)


def problem(day: dict):
    p, bad = problem_from_proto(to_proto(day))
    assert not bad
    return p


def provider(google: GoogleSettings, cache: TravelCache | None = None) -> CachedProvider:
    counters = Counters()
    cache = cache or TravelCache.memory(counters=counters)
    return CachedProvider(GoogleMaps(google), cache, GreatCircleProvider(), counters=counters)


def places(n: int, seed: int = 0) -> list[Location]:
    rng = np.random.default_rng(seed)
    return [Location(lat=39.6 + 0.3 * rng.random(), lng=-105.1 + 0.3 * rng.random()) for _ in range(n)]


# ---------------------------------------------------------------------------- tiling


@pytest.mark.parametrize("n, m", [(60, 60), (500, 500), (1, 1), (7, 30), (3, 100), (26, 26), (11, 11), (61, 1)])
def test_tiles_cover_each_pair_once_within_the_api_limits(n, m):
    seen = np.zeros((n, m), dtype=int)
    for rows, cols in tiles(n, m):
        h, w = rows.stop - rows.start, cols.stop - cols.start
        assert 0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE and h * w <= MAX_ELEMENTS
        seen[rows, cols] += 1
    assert (seen == 1).all()


def test_tiles_are_as_few_as_the_element_limit_allows_when_sides_divide():
    for n, m in [(60, 60), (500, 500), (20, 50), (100, 4), (10, 10)]:
        assert len(tiles(n, m)) == math.ceil(n * m / MAX_ELEMENTS)
    assert len(tiles(11, 11)) == 2  # 121 elements: two requests, the minimum


# ---------------------------------------------------------------------------- the day


def test_a_60_place_day_takes_the_minimum_requests_then_none_from_the_memory_cache(google, fake):
    from prometheus_client import REGISTRY  # noqa: PLC0415

    def scraped() -> dict[str, float]:  # what Prometheus reads, summed over this process's dispatchers
        names = ("provider_requests", "cache_hits", "cache_misses", "fallback_elements")
        return {n: REGISTRY.get_sample_value(f"dispatch_travel_{n}_total") or 0.0 for n in names}

    service = google_service(google)
    day = problem(google_day())
    before = scraped()
    first = service.solve(day, replace=True)
    assert fake.requests == 36  # 60 x 60 in 10 x 10 tiles: ceil(3600 / 100)
    assert first.stats.travel_source == "google" and first.stats.travel_requests == 36
    assert all(v.travel_source == "google" for r in first.routes for v in r.visits)
    assert len(first.assigned_job_ids) > 40 and not first.stats.warnings
    second = service.solve(day, replace=True)
    assert fake.requests == 36 and second.stats.travel_requests == 0
    assert service.google.counters.snapshot()["cache_hits"] >= 3600
    after = scraped()
    assert after["provider_requests"] - before["provider_requests"] == 36
    assert after["cache_hits"] - before["cache_hits"] >= 3600
    assert after["cache_misses"] > before["cache_misses"] and after["fallback_elements"] == before["fallback_elements"]
    health = service.integrations.report("google")  # every request in the integration log
    assert health.attempts == 36 and health.errors == 0 and health.status == "healthy"


def test_a_second_replica_on_the_same_redis_makes_no_requests(google, fake, redis_url):
    day = problem(google_day())
    google_service(google, redis_url).solve(day, replace=True)
    assert fake.requests == 36
    other = google_service(google, redis_url)  # a fresh process: empty memory, same Redis
    plan = other.solve(day, replace=True)
    assert fake.requests == 36 and plan.stats.travel_requests == 0
    assert len(plan.assigned_job_ids) > 40


def test_a_new_job_costs_one_row_and_one_column(google, fake):
    p = provider(google)
    points = places(40)
    p.matrix(points, points)
    fake.reset()
    more = [*points, Location(lat=39.7, lng=-104.95)]
    p.matrix(more, more)
    assert fake.elements == 41 + 40  # the new origin's row, then the old origins' new column


def test_unreachable_and_unanswered_pairs_are_never_silent_zeros(google, fake):
    points = places(12)
    island = points[5]
    fake.islands.add((round(island.lat, 5), round(island.lng, 5)))
    durations, _ = provider(google).matrix(points, points)
    others = np.arange(12) != 5
    assert (durations[5, others] >= 10**8).all() and (durations[others, 5] >= 10**8).all()
    assert (durations[np.ix_(others, others)][~np.eye(11, dtype=bool)] < 10**8).all()
    fake.islands.clear()
    fake.script.append("element_error")  # one tile's elements: UNKNOWN_ERROR
    report = TravelReport()
    durations, _ = provider(google).matrix(points, points, report=report)
    assert report.estimated is not None and 0 < report.estimated.sum() < 144
    assert (durations[~np.eye(12, dtype=bool)] > 0).all()


def test_a_job_google_finds_no_route_to_is_unassigned_unreachable(google, fake):
    service = google_service(google)
    day = google_day(jobs=10)
    stranded = day["jobs"][3]["location"]
    fake.islands.add((round(stranded["lat"], 5), round(stranded["lng"], 5)))
    plan = service.solve(problem(day), replace=True)
    reasons = {u.job_id: u.reason for u in plan.unassigned}
    assert reasons.get("job-3") is UnassignedReason.UNREACHABLE
    assert "job-3" not in plan.assigned_job_ids and plan.stats.travel_unreachable_pairs > 0


@pytest.mark.parametrize("failure", ["500", "over_query_limit", "garbage", "empty", "list", "denied", "slow:3"])
def test_google_failing_falls_back_to_great_circle_and_says_so(google, fake, failure, caplog):
    fake.always = failure
    service = google_service(google)
    began = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        plan = service.solve(problem(google_day(jobs=16)), replace=True)
    assert time.monotonic() - began < 8
    assert plan.stats.travel_estimated_pairs > 0
    assert any("great-circle estimates" in w for w in plan.stats.warnings)
    assert {v.travel_source for r in plan.routes for v in r.visits} == {"great_circle (fallback)"}
    assert len(plan.assigned_job_ids) > 10
    assert KEY not in caplog.text and all(KEY not in w for w in plan.stats.warnings)  # the key is never shown
    health = service.integrations.report("google")
    assert health.errors > 0 and health.status in ("warning", "degraded") and health.last_error
    fake.always = "ok"
    fake.reset()
    again = service.solve(
        problem(google_day(jobs=16)), replace=True
    )  # estimates were not cached: Google is asked again
    assert fake.requests > 0 and again.stats.travel_estimated_pairs == 0


# ---------------------------------------------------------------------------- geocoding


def test_addresses_are_geocoded_once_and_unknown_ones_are_unassigned(google, fake):
    fake.addresses["1600 Broadway, Denver"] = (39.7416, -104.9876)
    day = google_day(jobs=6)
    day["jobs"][0]["location"] = {"address": "1600 Broadway, Denver"}
    day["jobs"][1]["location"] = {"address": "1 Nowhere Lane"}
    service = google_service(google)
    plan = service.solve(problem(day), replace=True)
    reasons = {u.job_id: u for u in plan.unassigned}
    assert reasons["job-1"].reason is UnassignedReason.ADDRESS_NOT_FOUND and "Nowhere" in reasons["job-1"].detail
    assert "job-0" in plan.assigned_job_ids
    assert fake.geocodes == 2
    service.solve(problem(day), replace=True)
    assert fake.geocodes == 2  # both answers cached, the "not found" too


def test_a_technician_address_google_cannot_find_is_invalid_argument(google, fake):
    day = google_day(jobs=4)
    day["technicians"][1]["start_location"] = {"address": "Atlantis"}
    with pytest.raises(ProblemError) as caught:
        google_service(google).solve(problem(day), replace=True)
    assert [v.field for v in caught.value.violations] == ["technicians[1].start_location.address"]


def test_a_location_needs_coordinates_or_an_address(google):
    day = google_day(jobs=2)
    day["jobs"][0]["location"] = {}
    with pytest.raises(ProblemError) as caught:
        google_service(google).solve(problem(day), replace=True)
    assert [v.field for v in caught.value.violations] == ["jobs[0].location.address"]


# ---------------------------------------------------------------------------- traffic


def test_traffic_times_each_leg_with_the_bucket_of_its_planned_departure(google, fake):
    fake.rush_hours = range(17, 19)  # 17:00-19:00 UTC is slow (x1.5)
    day = google_day(jobs=20)
    day["options"]["traffic"] = True
    service = google_service(google)
    p = problem(day)
    plan = service.solve(p, replace=True)
    assert not [w for w in plan.stats.warnings if w.startswith("checker")]
    assert plan.stats.travel_source == "google traffic"
    asked = [d for d in fake.departures if d is not None]
    assert asked and all(d % 3600 == 0 and d >= time.time() - 60 for d in asked)  # future, bucket-aligned
    sources = {v.travel_source for r in plan.routes for v in r.visits}
    assert any("17:00Z" in s or "18:00Z" in s for s in sources) and any("15:00Z" in s for s in sources)
    static = GreatCircleProvider()  # only to find each leg's origin below
    del static
    slow = fast = 0
    jobs = {j.id: j for j in p.jobs}
    for route in plan.routes:
        prev_end = route.start
        here = next(t.start_location for t in p.technicians if t.id == route.technician_id)
        for visit in route.visits:
            there = jobs[visit.job_id].location
            key_a, key_b = place_key(here.lat, here.lng), place_key(there.lat, there.lng)
            if key_a != key_b and "fallback" in visit.travel_source:
                # Google's answer for that hour missed the travel deadline (a machine kept busy by
                # other processes): an estimate, and the plan says so
                assert plan.stats.travel_estimated_pairs > 0 and visit.travel_source.startswith("great_circle")
            elif key_a != key_b:
                hour = time.gmtime(p.epoch + prev_end).tm_hour
                base = _fake_seconds(here, there)
                expected = math.ceil(base * 1.5) if hour in fake.rush_hours else base
                assert visit.travel_duration == expected, (visit.job_id, hour)
                slow += hour in fake.rush_hours
                fast += hour not in fake.rush_hours
            prev_end, here = visit.end, there
    assert slow and fast


def _fake_seconds(a: Location, b: Location) -> int:
    from tests.support.fake_google import _haversine  # noqa: PLC0415

    pa = (round(a.lat, 5), round(a.lng, 5))
    pb = (round(b.lat, 5), round(b.lng, 5))
    return math.ceil(round(_haversine(pa, pb) * 1.3) / (40 / 3.6))


def test_without_traffic_no_departure_time_is_sent(google, fake):
    google_service(google).solve(problem(google_day(jobs=8)), replace=True)
    assert fake.departures and all(d is None for d in fake.departures)


def test_traffic_with_a_model_that_has_none_is_a_warning(google):
    day = google_day(jobs=4)
    day["options"].update(travel_model="GREAT_CIRCLE", traffic=True)
    plan = google_service(google).solve(problem(day), replace=True)
    assert any("traffic asked for" in w for w in plan.stats.warnings)


# ---------------------------------------------------------------------------- single flight, caches


def test_identical_fetches_at_once_share_one_set_of_requests(google, fake):
    fake.script.extend(["slow:0.5"] * 4)
    p = provider(google)
    points = places(20)
    results = []
    threads = [threading.Thread(target=lambda: results.append(p.matrix(points, points))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.requests == 4  # 20 x 20 = 4 tiles, asked once for four callers
    assert all((r[0] == results[0][0]).all() for r in results)


def test_each_pair_expires_on_its_own_and_stale_rows_are_compacted(redis_url):
    for cache in (TravelCache.memory(), TravelCache.redis(redis_url)):
        o, d = ["39.70000,-105.00000"], ["39.71000,-105.00000", "39.72000,-105.00000"]
        cache.put("s", o, d, np.array([[60, 120]]), np.array([[900, 1800]]), np.array([[True, False]]), ttl=1)
        cache.put("s", o, d, np.array([[61, 121]]), np.array([[901, 1801]]), np.array([[False, True]]), ttl=100)
        durations, distances, found = cache.get("s", o, d)
        assert found.tolist() == [[True, True]] and durations.tolist() == [[60, 121]]
        time.sleep(2.1)
        durations, _, found = cache.get("s", o, d)
        assert found.tolist() == [[False, True]] and durations.tolist()[0][1] == 121
        cache.put("s", o, d, np.array([[62, 122]]), np.array([[902, 1802]]), np.array([[True, True]]), ttl=100)
        for _ in range(3):  # rewrite the row: mostly superseded entries
            cache.put("s", o, d, np.array([[63, 123]]), np.array([[903, 1803]]), np.array([[True, True]]), ttl=100)
        durations, _, found = cache.get("s", o, d)
        assert durations.tolist() == [[63, 123]]
        rows = cache.rows.get_rows([cache.row_key("s", o[0])])
        assert len(rows[0]) == 2 * 20  # compacted to one entry per destination


def test_the_memory_cache_is_bounded():
    cache = TravelCache.memory(max_entries=100)
    dest = [f"39.{k:05d},-105.00000" for k in range(10)]
    for i in range(30):
        cache.put("s", [f"40.{i:05d},-105.00000"], dest, np.ones((1, 10)), np.ones((1, 10)), np.ones((1, 10), bool), 60)
    assert (
        sum(
            len(b or b"")
            for b in cache.rows.get_rows([cache.row_key("s", f"40.{i:05d},-105.00000") for i in range(30)])
        )
        <= 100 * 20
    )
    assert cache.get("s", ["40.00029,-105.00000"], dest)[2].all()  # the newest row is kept


# ---------------------------------------------------------------------------- Redis outages


def test_redis_refusing_connections_costs_little_and_the_solve_goes_on(google, fake):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cache = TravelCache.redis(f"redis://127.0.0.1:{port}/0")
    p = provider(google, cache)
    points = places(30)
    began = time.monotonic()
    durations, _ = p.matrix(points, points)
    assert time.monotonic() - began < 2 and (durations[~np.eye(30, dtype=bool)] > 0).all()
    assert cache.counters.snapshot()["cache_errors"] >= 1 and cache.breaker.is_open


def test_a_silent_redis_costs_one_socket_timeout_then_the_breaker_opens(google, fake):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts (the kernel does), never answers
    try:
        cache = TravelCache.redis(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", socket_timeout=0.2)
        p = provider(google, cache)
        points = places(10)
        p.matrix(points, points)  # cold: Google answers
        began = time.monotonic()
        p.matrix(points, points)  # the breaker is open: no wait on Redis at all
        assert time.monotonic() - began < 0.2
        assert cache.breaker.is_open and cache.counters.snapshot()["cache_errors"] == 1
    finally:
        listener.close()


def test_the_cache_recovers_when_redis_comes_back(google, fake, redis_server, redis_url):
    cache = TravelCache.redis(redis_url, cooldown=0.5)
    p = provider(google, cache)
    points = places(10)
    p.matrix(points, points)
    redis_server.kill()
    fake.reset()
    began = time.monotonic()
    p.matrix(points, points)  # Redis gone: asks Google again, quickly
    assert time.monotonic() - began < 1.5 and fake.requests == 1 and cache.breaker.is_open
    redis_server.start()
    time.sleep(0.6)
    fake.reset()
    p.matrix(points, points)  # the probe finds Redis empty (no persistence): one fetch, cached again
    assert not cache.breaker.is_open
    fake.reset()
    p.matrix(points, points)
    assert fake.requests == 0


# ---------------------------------------------------------------------------- over gRPC, configuration


def test_solve_over_grpc_with_google_and_traffic(google, fake):
    import grpc  # noqa: PLC0415

    from dispatch.server.app import DispatchServer  # noqa: PLC0415
    from dispatch.v1 import dispatch_pb2_grpc  # noqa: PLC0415

    srv = DispatchServer(Settings(worker_niceness=0, workers=1, google=google), host="127.0.0.1", port=0)
    srv.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            stub = dispatch_pb2_grpc.DispatchStub(channel)
            day = google_day(jobs=12)
            day["options"]["traffic"] = True
            day["jobs"][0]["location"] = {"address": "nowhere at all"}
            reply = stub.Solve(to_proto(day), timeout=30)
            stats = reply.plan.stats
            assert stats.travel_source == "google traffic" and stats.travel_requests > 0
            assert not [w for w in stats.warnings if w.startswith("checker")]
            legs = [v.travel_source for r in reply.plan.routes for v in r.visits]
            assert legs and all(s.startswith("google traffic ") for s in legs)
            assert all(r.return_travel_source for r in reply.plan.routes)
            lost = {u.job_id: u.reason for u in reply.plan.unassigned}
            assert lost["job-0"] == pb.ADDRESS_NOT_FOUND
            health = {
                h.integration: h for h in stub.GetIntegrationHealth(pb.GetIntegrationHealthRequest()).integrations
            }
            assert health["google"].configured and health["google"].attempts == stats.travel_requests + 1  # + geocode
            assert health["google"].status == "healthy" and not health["twilio"].configured
            day["options"]["travel_model"] = "GREAT_CIRCLE"
            del day["jobs"][0]["location"]["address"]
            with pytest.raises(grpc.RpcError) as caught:
                stub.Solve(to_proto(day), timeout=30)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        srv.stop(grace=1)


def test_google_is_offered_only_with_a_key():
    assert Settings.from_env({}).google is None
    settings = Settings.from_env(
        {
            "GOOGLE_MAPS_API_KEY": KEY,
            "DISPATCH_GOOGLE_MAPS_BASE_URL": "http://127.0.0.1:9/",
            "DISPATCH_GOOGLE_READ_TIMEOUT": "2.5",
            "DISPATCH_CACHE_TRAFFIC_BUCKET": "1800",
        }
    )
    assert settings.google is not None and settings.google.base_url == "http://127.0.0.1:9"
    assert settings.google.read_timeout == 2.5 and settings.cache.traffic_bucket == 1800
    assert KEY not in repr(settings)  # the key is kept out of reprs (and so out of logs)
    service = bootstrap(Settings(), pool=False)
    with pytest.raises(ProblemError) as caught:
        service.solve(problem(google_day(jobs=2)), replace=True)
    assert "GOOGLE is not configured" in str(caught.value)


def test_a_replan_of_a_google_day_asks_only_for_the_new_places(google, fake):
    from dispatch.domain import CancelJob, Job, NewJob, Priority, Replan  # noqa: PLC0415

    service = google_service(google)
    day = problem(google_day(jobs=20))
    first = service.solve(day, replace=True)
    fake.reset()
    fake.addresses["5 Emergency Way"] = (39.75, -104.98)
    emergency = Job(
        id="burst-pipe",
        location=Location(address="5 Emergency Way"),
        service_duration=1800,
        required_skills=frozenset({"hvac"}),
        priority=Priority.EMERGENCY,
        respond_within=3600,
    )
    cancelled = first.routes[0].visits[-1].job_id
    result = service.reoptimize(
        Replan(
            plan_id=first.plan_id, time=day.epoch + 3600, events=(NewJob(job=emergency), CancelJob(job_id=cancelled))
        )
    )
    plan = result.plan
    assert "burst-pipe" in plan.assigned_job_ids and cancelled not in plan.assigned_job_ids
    assert not [w for w in plan.stats.warnings if w.startswith("checker")]
    assert fake.geocodes == 1
    # the new place's row and column, not a new matrix (24 known places)
    assert 0 < fake.elements <= 2 * 26
    fake.reset()
    bad = Job(
        id="lost", location=Location(address="Nowhere"), service_duration=600, required_skills=frozenset({"hvac"})
    )
    with pytest.raises(ProblemError) as caught:
        service.reoptimize(Replan(plan_id=first.plan_id, time=day.epoch + 3700, events=(NewJob(job=bad),)))
    assert "location.address" in caught.value.violations[0].field


def test_geocoding_google_cannot_answer_says_so(google, fake):
    from dispatch.errors import ProviderUnavailableError  # noqa: PLC0415

    fake.always = "500"
    day = google_day(jobs=4)
    day["jobs"][2]["location"] = {"address": "12 Main St"}
    plan = google_service(google).solve(problem(day), replace=True)
    lost = {u.job_id: u for u in plan.unassigned}
    assert lost["job-2"].reason is UnassignedReason.ADDRESS_NOT_FOUND
    assert "geocoding" in lost["job-2"].detail and "12 Main St" in lost["job-2"].detail
    day["technicians"][0]["start_location"] = {"address": "1 Depot Rd"}
    with pytest.raises(ProviderUnavailableError, match=r"technicians\[0\]\.start_location"):
        google_service(google).solve(problem(day), replace=True)


def test_a_day_with_an_address_google_cannot_find_can_still_be_replanned(google, fake):
    from dispatch.domain import CancelJob, Replan  # noqa: PLC0415

    day = google_day(jobs=8)
    day["jobs"][1]["location"] = {"address": "1 Nowhere Lane"}
    service = google_service(google)
    p = problem(day)
    first = service.solve(p, replace=True)
    assert {u.job_id: u.reason for u in first.unassigned}["job-1"] is UnassignedReason.ADDRESS_NOT_FOUND
    other = first.routes[0].visits[-1].job_id
    result = service.reoptimize(Replan(plan_id=first.plan_id, time=p.epoch + 600, events=(CancelJob(job_id=other),)))
    lost = {u.job_id: u.reason for u in result.plan.unassigned}
    assert lost["job-1"] is UnassignedReason.ADDRESS_NOT_FOUND and other not in result.plan.assigned_job_ids
    assert not [w for w in result.plan.stats.warnings if w.startswith("checker")]


def test_a_malformed_geocode_reply_is_google_unavailable_not_a_crash(google, fake):
    fake.always = "empty"
    day = google_day(jobs=3)
    day["jobs"][0]["location"] = {"address": "3 Elm St"}
    plan = google_service(google).solve(problem(day), replace=True)
    lost = {u.job_id: u for u in plan.unassigned}
    assert lost["job-0"].reason is UnassignedReason.ADDRESS_NOT_FOUND and "geocoding failed" in lost["job-0"].detail


def test_a_slow_google_cannot_hold_a_solve_past_its_travel_deadline(google, fake):
    import dataclasses  # noqa: PLC0415

    fake.always = "slow:2"
    slow = dataclasses.replace(google, read_timeout=5.0, retry_timeout=30.0)
    day = google_day()  # 36 tiles on 4 request threads: 18 s if each waited its turn
    day["options"]["time_limit"] = "4s"
    began = time.monotonic()
    plan = google_service(slow).solve(problem(day), replace=True)
    assert time.monotonic() - began < 9  # travel by 2 s (half the limit), then the search
    assert plan.stats.travel_estimated_pairs > 0 and len(plan.assigned_job_ids) > 30
