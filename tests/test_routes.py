"""travel_model ROUTES end to end: Google's own client (``google-maps-routing``, REST) against a
loopback fake of the Routes API's ``computeRouteMatrix`` (tests/support/fake_google.py): the
fewest requests its limits allow, the key and field mask headers, elements in any order each
with its own status, unreachable pairs as reasons, the same caches and fallback as GOOGLE, and
its own line in the integration health."""

from __future__ import annotations

import dataclasses
import math
import time

import grpc
import numpy as np
import pytest

from dispatch.bootstrap import bootstrap
from dispatch.config import Settings
from dispatch.domain import Delay, Location, Replan, TravelModel, UnassignedReason
from dispatch.errors import ConfigError, ProblemError
from dispatch.matrix.base import TravelReport
from dispatch.matrix.cached_provider import CachedProvider
from dispatch.matrix.google import GoogleSettings, tiles
from dispatch.matrix.great_circle import GreatCircleProvider
from dispatch.matrix.routes import FIELD_MASK, MAX_OPTIMAL_ELEMENTS, MAX_ROUTE_ELEMENTS, GoogleRoutes
from dispatch.matrix.travel_cache import Counters, TravelCache
from dispatch.server.app import DispatchServer
from dispatch.server.convert import problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc
from tests.support.console_requests import google_day, to_proto
from tests.support.fake_google import KEY, FakeGoogle

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def fake():
    server = FakeGoogle()
    yield server
    server.close()


@pytest.fixture
def google(fake):
    fake.reset()
    fake.islands.clear()
    return GoogleSettings(
        api_key=KEY,
        base_url=fake.base_url,
        routes_url=fake.base_url,
        retry_timeout=2.0,
        connect_timeout=0.5,
        read_timeout=1.0,
    )


def routes_day(**kwargs) -> dict:
    day = google_day(**kwargs)
    day["options"]["travel_model"] = "ROUTES"
    return day


def problem(day: dict):
    p, bad = problem_from_proto(to_proto(day))
    assert not bad
    return p


def provider(google: GoogleSettings) -> CachedProvider:
    counters = Counters()
    return CachedProvider(
        GoogleRoutes(google), TravelCache.memory(counters=counters), GreatCircleProvider(), counters=counters
    )


def places(n: int, seed: int = 0) -> list[Location]:
    rng = np.random.default_rng(seed)
    return [Location(lat=39.6 + 0.3 * rng.random(), lng=-105.1 + 0.3 * rng.random()) for _ in range(n)]


@pytest.mark.parametrize("n, m", [(500, 500), (60, 60), (7, 300), (1, 1), (26, 26)])
@pytest.mark.parametrize("cap", [MAX_ROUTE_ELEMENTS, MAX_OPTIMAL_ELEMENTS])
def test_route_matrix_tiles_stay_within_the_element_limit_and_are_as_few_as_it_allows(n, m, cap):
    seen = np.zeros((n, m), dtype=int)
    work = tiles(n, m, cap, cap)
    for rows, cols in work:
        assert (rows.stop - rows.start) * (cols.stop - cols.start) <= cap
        seen[rows, cols] += 1
    assert (seen == 1).all()
    if (n, m) == (500, 500):
        assert len(work) == math.ceil(n * m / cap)  # 400 requests of 25 x 25 (2,500 of 10 x 10 when optimal)


def test_a_60_place_day_takes_the_fewest_requests_then_none(google, fake):
    service = bootstrap(Settings(google=google), pool=False)
    assert TravelModel.ROUTES in service.travel_models
    day = problem(routes_day())
    first = service.solve(day, replace=True)
    assert fake.requests == 6  # 60 x 60 = 3,600 elements, 625 a request: ceil(3600 / 625)
    assert {h["x-goog-fieldmask"] for h in fake.route_headers} == {FIELD_MASK}
    assert {h["x-goog-api-key"] for h in fake.route_headers} == {KEY}
    assert {b.get("routingPreference") for b in fake.route_bodies} == {1}  # TRAFFIC_UNAWARE, no departure time
    assert first.stats.travel_source == "google_routes" and first.stats.travel_requests == 6
    assert all(v.travel_source == "google_routes" for r in first.routes for v in r.visits)
    assert len(first.assigned_job_ids) > 40 and not first.stats.warnings
    second = service.solve(day, replace=True)
    assert fake.requests == 6 and second.stats.travel_requests == 0  # the cache answers all of it
    health = {h.integration: (h, on) for h, on in service.health()}
    routes, configured = health["google_routes"]
    assert configured and routes.attempts == 6 and routes.errors == 0 and routes.status == "healthy"
    assert health["google"][0].attempts == 0  # the legacy API was not asked


def test_unreachable_pairs_are_reasons_and_failed_elements_are_estimated(google, fake):
    points = places(12)
    island = points[5]
    fake.islands.add((round(island.lat, 5), round(island.lng, 5)))
    durations, _ = provider(google).matrix(points, points)
    others = np.arange(12) != 5
    assert (durations[5, others] >= 10**8).all() and (durations[others, 5] >= 10**8).all()
    assert (durations[np.ix_(others, others)][~np.eye(11, dtype=bool)] < 10**8).all()
    fake.islands.clear()
    for action in ("element_error", "omit"):  # one element fails on its own, or never comes
        fake.script.append(action)
        report = TravelReport()
        durations, _ = provider(google).matrix(points, points, report=report)
        assert report.estimated is not None and report.estimated.sum() == 1, action
        assert (durations[~np.eye(12, dtype=bool)] > 0).all()


def test_a_job_the_routes_api_finds_no_route_to_is_unassigned_unreachable(google, fake):
    service = bootstrap(Settings(google=google), pool=False)
    day = routes_day(jobs=10)
    stranded = day["jobs"][3]["location"]
    fake.islands.add((round(stranded["lat"], 5), round(stranded["lng"], 5)))
    plan = service.solve(problem(day), replace=True)
    assert {u.job_id: u.reason for u in plan.unassigned}.get("job-3") is UnassignedReason.UNREACHABLE


def test_rate_limits_and_server_errors_are_retried_within_the_deadline(google, fake):
    fake.script.extend(["429", "503", "500"])  # backoff 0.5 + 0.75 + 1.125 s: within 5 s
    patient = dataclasses.replace(google, retry_timeout=5.0)
    out = GoogleRoutes(patient).matrix([(39.7, -104.9), (39.8, -105.0)], [(39.7, -104.9), (39.8, -105.0)])
    assert not out.errors and out.answered.all() and fake.requests == 1


@pytest.mark.parametrize("failure", ["429", "500", "garbage", "denied", "slow:3"])
def test_the_routes_api_failing_still_plans_within_the_deadline_and_health_says_so(google, fake, failure):
    fake.always = failure
    service = bootstrap(Settings(google=google), pool=False)
    began = time.monotonic()
    plan = service.solve(problem(routes_day(jobs=16)), replace=True)
    assert time.monotonic() - began < 8
    assert plan.stats.travel_estimated_pairs > 0 and len(plan.assigned_job_ids) > 0
    assert any("great-circle estimates" in w for w in plan.stats.warnings)
    routes = next(h for h, _ in service.health() if h.integration == "google_routes")
    assert routes.errors > 0 and routes.last_error
    if failure.startswith("slow:"):
        time.sleep(3.5)  # the requests given up on land on the fake yet: not in the next test's counts


def test_traffic_asks_for_future_departures_and_times_legs_with_them(google, fake):
    fake.rush_hours = range(17, 19)
    day = routes_day(jobs=20)
    day["options"]["traffic"] = True
    plan = bootstrap(Settings(google=google), pool=False).solve(problem(day), replace=True)
    assert plan.stats.travel_source == "google_routes traffic"
    asked = [d for d in fake.departures if d is not None]
    assert asked and all(d % 3600 == 0 and d >= time.time() - 60 for d in asked)
    timed = [b for b in fake.route_bodies if "departureTime" in b]
    assert timed and {b.get("routingPreference") for b in timed} == {2}  # TRAFFIC_AWARE at each departure
    sources = {v.travel_source for r in plan.routes for v in r.visits}
    assert any("17:00Z" in s or "18:00Z" in s for s in sources)


def test_the_optimal_preference_asks_for_100_elements_at_most(google, fake):
    optimal = dataclasses.replace(google, routes_traffic="TRAFFIC_AWARE_OPTIMAL")
    points = [(p.lat, p.lng) for p in places(30)]
    out = GoogleRoutes(optimal).matrix(points, points, departure=int(time.time()) + 7200)
    assert not out.errors and fake.requests == 9  # 900 elements, 100 a request
    assert {b.get("routingPreference") for b in fake.route_bodies} == {3}


def test_routes_settings_come_from_the_environment():
    settings = Settings.from_env(
        {
            "GOOGLE_MAPS_API_KEY": KEY,
            "DISPATCH_GOOGLE_ROUTES_URL": "http://127.0.0.1:9/",
            "DISPATCH_GOOGLE_ROUTES_TRAFFIC": "traffic_aware_optimal",
        }
    )
    assert settings.google is not None and settings.google.routes_url == "http://127.0.0.1:9"
    assert settings.google.routes_traffic == "TRAFFIC_AWARE_OPTIMAL"
    default = Settings.from_env({"GOOGLE_MAPS_API_KEY": KEY}).google
    assert default is not None and default.routes_url == "https://routes.googleapis.com"
    with pytest.raises(ConfigError, match="DISPATCH_GOOGLE_ROUTES_TRAFFIC"):
        Settings.from_env({"GOOGLE_MAPS_API_KEY": KEY, "DISPATCH_GOOGLE_ROUTES_TRAFFIC": "FAST"})
    with pytest.raises(ProblemError, match="ROUTES is not configured"):
        bootstrap(Settings(), pool=False).solve(problem(routes_day(jobs=2)), replace=True)


def test_routes_over_grpc(google):
    own = FakeGoogle()  # its own: a slow request of an earlier test may still land on the shared fake
    google = dataclasses.replace(google, base_url=own.base_url, routes_url=own.base_url)
    srv = DispatchServer(Settings(worker_niceness=0, workers=1, google=google), host="127.0.0.1", port=0)
    srv.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            stub = dispatch_pb2_grpc.DispatchStub(channel)
            plan = stub.Solve(to_proto(routes_day(jobs=12)), timeout=60).plan
            assert plan.stats.travel_source == "google_routes" and own.requests == 1  # 16 places: 256 elements
            health = stub.GetIntegrationHealth(pb.GetIntegrationHealthRequest(), timeout=10)
            routes = next(h for h in health.integrations if h.integration == "google_routes")
            assert routes.configured and routes.attempts == 1 and routes.status == "healthy"
    finally:
        srv.stop(grace=1)
        own.close()


def test_a_replan_with_traffic_uses_rush_hour_times_and_its_legs_say_so(google, fake):
    """Planned with traffic at 08:00; at 16:30 (UTC here) a job runs late: the rest of the day is timed
    with the 16:00 and 17:00 buckets of the fake (rush hour x1.5), and each leg names its bucket."""
    fake.rush_hours = range(16, 18)
    day = routes_day(jobs=24)
    day["options"]["traffic"] = True
    service = bootstrap(Settings(google=google, reopt_time_limit=0.5), pool=False)
    p = problem(day)
    plan = service.solve(p, replace=True)
    at = p.epoch + int(1.5 * 3600)  # 16:30Z: the day starts at 15:00Z
    late = next(v for r in plan.routes for v in r.visits if v.start <= 1800 < v.end or v.start > 1800)
    after = service.reoptimize(Replan(plan_id=plan.plan_id, time=at, events=(Delay(job_id=late.job_id, extra=600),)))
    new = after.plan
    assert new.stats.travel_source == "google_routes traffic"
    jobs = {j.id: j for j in p.jobs}
    rush = checked = 0
    for route in new.routes:
        here = next(t.start_location for t in p.technicians if t.id == route.technician_id)
        for visit in route.visits:
            there = jobs[visit.job_id].location
            if visit.arrival - visit.travel_duration >= 5400 and here != there:  # driven after the re-plan
                assert "traffic" in visit.travel_source, visit
                hour = time.gmtime(p.epoch + visit.arrival - visit.travel_duration).tm_hour
                assert f"{hour:02d}:00Z" in visit.travel_source, (visit.travel_source, hour)
                base = _fake_seconds(here, there)
                expected = math.ceil(base * 1.5) if hour in fake.rush_hours else base
                assert visit.travel_duration == expected, (visit.job_id, hour, visit.travel_duration, expected)
                rush += hour in fake.rush_hours
                checked += 1
            here = there
    assert checked and rush  # legs after 16:30 were driven in rush hour, at rush-hour times
    assert not [w for w in new.stats.warnings if w.startswith("checker")]


def _fake_seconds(a: Location, b: Location) -> int:
    from tests.support.fake_google import _haversine  # noqa: PLC0415

    pa, pb_ = (round(a.lat, 5), round(a.lng, 5)), (round(b.lat, 5), round(b.lng, 5))
    return math.ceil(round(_haversine(pa, pb_) * 1.3) / (40 / 3.6))
