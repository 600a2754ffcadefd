"""The Prometheus endpoint of a running server, scraped over HTTP: RPC counts and latency by method
and code, solve and re-plan latency, the solver pool (queue depth, busy workers, restarts), ETA
events; the travel layer's cache and provider counters; liveness and readiness."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatch.metrics import MetricsServer
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import burst_pipe, busy_day, small_day, to_proto


@pytest.fixture(scope="module")
def endpoint(server):
    srv = MetricsServer(0, host="127.0.0.1", ready=lambda: server.health is not None).start()
    yield f"http://127.0.0.1:{srv.port}"
    srv.close()


def scrape(endpoint: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``GET /metrics``: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"{endpoint}/metrics", timeout=5) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_rpcs_solves_and_replans_are_counted_by_method_and_code(stub, endpoint):
    before = scrape(endpoint)
    day = small_day(jobs=4)
    day["plan_id"] = "counted-day"  # a new day: its customers are told (a replaced one texts only changes)
    plan = stub.Solve(to_proto(day), timeout=30).plan
    bad = small_day(jobs=2)
    bad["jobs"][0]["id"] = ""
    with pytest.raises(grpc.RpcError):
        stub.Solve(to_proto(bad), timeout=10)
    with pytest.raises(grpc.RpcError):
        stub.GetPlan(pb.GetPlanRequest(plan_id="never-solved"), timeout=5)
    request = pb.ReoptimizeRequest(plan_id=plan.plan_id)
    request.time.FromJsonString("2026-03-02T16:00:00Z")
    request.events.add().new_job.CopyFrom(to_proto({"jobs": [burst_pipe()]}).jobs[0])
    request.options.time_limit.FromSeconds(1)
    stub.Reoptimize(request, timeout=30)
    after = scrape(endpoint)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("dispatch_rpc_requests_total", method="Solve", code="OK") == 1
    assert grew("dispatch_rpc_requests_total", method="Solve", code="INVALID_ARGUMENT") == 1
    assert grew("dispatch_rpc_requests_total", method="GetPlan", code="NOT_FOUND") == 1
    assert grew("dispatch_rpc_requests_total", method="Reoptimize", code="OK") == 1
    assert grew("dispatch_rpc_duration_seconds_count", method="Solve") == 2
    assert (
        grew("dispatch_rpc_duration_seconds_sum", method="Solve") >= plan.stats.solve_time.ToTimedelta().total_seconds()
    )
    assert grew("dispatch_solve_duration_seconds_count", outcome="ok") == 1
    assert grew("dispatch_solve_duration_seconds_count", outcome="ProblemError") == 1
    assert grew("dispatch_replan_duration_seconds_count", answer="quick") == 1
    assert grew("dispatch_replan_duration_seconds_count", answer="final") == 1
    assert grew("dispatch_eta_events_total", kind="PLANNED") >= 4
    assert grew("dispatch_eta_events_total", kind="EMERGENCY") == 1
    assert value(after, "dispatch_rpc_in_flight", method="Solve") == 0
    assert value(after, "process_resident_memory_bytes") > 10e6


def test_the_pool_is_seen_busy_and_a_killed_worker_is_a_restart(stub, endpoint, server):
    before = scrape(endpoint)
    assert value(before, "dispatch_solver_workers") == server.settings.workers
    day = busy_day(time_limit="20s")
    failure: list[BaseException] = []

    def solve() -> None:
        try:
            stub.Solve(to_proto(day), timeout=60)
        except grpc.RpcError as exc:
            failure.append(exc)

    thread = threading.Thread(target=solve)
    thread.start()
    pool = server.service.runner
    deadline = time.monotonic() + 10
    while not pool.busy_pids() and time.monotonic() < deadline:
        time.sleep(0.02)
    busy = scrape(endpoint)
    assert value(busy, "dispatch_solver_workers_busy") >= 1
    assert ("dispatch_solver_queue_depth", ()) in busy
    os.kill(pool.busy_pids()[0], signal.SIGKILL)
    thread.join(30)
    assert failure and failure[0].code() == grpc.StatusCode.INTERNAL
    after = scrape(endpoint)
    grew = value(after, "dispatch_solver_worker_restarts_total", reason="crashed") - value(
        before, "dispatch_solver_worker_restarts_total", reason="crashed"
    )
    assert grew == 1
    assert value(after, "dispatch_rpc_requests_total", method="Solve", code="INTERNAL") >= 1


def test_liveness_readiness_and_unknown_paths(endpoint):
    with urllib.request.urlopen(f"{endpoint}/healthz", timeout=5) as reply:
        assert reply.status == 200
    with urllib.request.urlopen(f"{endpoint}/readyz", timeout=5) as reply:
        assert reply.status == 200
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{endpoint}/nope", timeout=5)
    assert missing.value.code == 404


def test_readiness_follows_the_server_and_a_taken_port_is_an_error_only_when_asked_for():
    from dispatch.metrics import metrics_endpoint  # noqa: PLC0415

    ready = threading.Event()
    first = metrics_endpoint(0, ready=ready.is_set)
    assert first is not None
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{first.port}/readyz", timeout=5)
        assert refused.value.code == 503
        ready.set()
        with urllib.request.urlopen(f"http://127.0.0.1:{first.port}/readyz", timeout=5) as reply:
            assert reply.status == 200
        with pytest.raises(RuntimeError, match=f"metrics port {first.port}"):
            metrics_endpoint(first.port)
        assert metrics_endpoint(first.port, required=False) is None  # the default port, held by another server
    finally:
        first.close()
