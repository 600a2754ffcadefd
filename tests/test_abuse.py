"""Abuse of a real ``dispatch serve`` process on loopback, bounded: calls that send headers and
never their message (with and without a token), near-limit and oversized requests, a day too big
to plan, more concurrent solves than the memory budget holds, no deadline, slow clients on the
metrics port. Each answers with a clear status at once; health checks keep answering; the
server's memory stays bounded.

Health p99 and the server's RSS during each are printed (``pytest -s tests/test_abuse.py``); the
verdicts only ask that health answered every time within a generous 2 s (the 10 ms target is a
benchmark: ``benchmarks/load.py --abusive 50``), so no verdict depends on this machine's speed.
Faults of Redis at every step, with retries by request_id: ``tests/test_faults.py``. Slow
clients on the webhook and the HTTP deadlines themselves: ``tests/test_http_ports.py``. A
cancelled call still queued for a worker: ``tests/test_pool.py``.
"""

from __future__ import annotations

import threading
import time
import urllib.request

import grpc
import pytest
from google.protobuf import json_format

from dispatch.cost import MIB, estimate
from dispatch.domain import Problem
from dispatch.server.convert import problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.abuse import HealthProbe, header_only, raw_call, rss_mib, status, trickle
from tests.support.console_requests import small_day, to_proto
from tests.support.redis_server import free_port
from tests.support.served import DispatchProcess

TOKEN = "abuse-token-0123456789abcdef"
AUTH = [("authorization", f"Bearer {TOKEN}")]
MAX_CALLS = 12
REQUEST_WAIT = 1.5
MAX_REQUEST_BYTES = 4 << 20
#: Every health check must be answered within this (the 10 ms target is the benchmark's).
HEALTH_TIMEOUT = 2.0
FIGURES: list[str] = []


@pytest.fixture(scope="module")
def served():
    metrics_port = free_port()
    env = {
        "DISPATCH_AUTH_TOKEN": TOKEN,
        "DISPATCH_WORKERS": "1",
        "DISPATCH_MAX_WAITING": "2",
        "DISPATCH_MAX_CALLS": str(MAX_CALLS),
        "DISPATCH_REQUEST_WAIT": str(REQUEST_WAIT),
        "DISPATCH_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
        "DISPATCH_METRICS_PORT": str(metrics_port),
        "DISPATCH_MAX_REQUEST_MEMORY": str(512 * MIB),
        "DISPATCH_MEMORY_BUDGET": str(1024 * MIB),
    }
    with DispatchProcess(env) as process:
        process.metrics_port = metrics_port  # type: ignore[attr-defined]
        yield process
    print("\n" + "\n".join(FIGURES))


def noted(name: str, probe: HealthProbe, process: DispatchProcess, rss: list[float]) -> None:
    line = f"{name}: {probe.summary()}; server RSS {min(rss):.0f}-{max(rss):.0f} MiB"
    FIGURES.append(line)
    print(line)
    assert not probe.failures and probe.latencies, line
    assert max(probe.latencies) < HEALTH_TIMEOUT, line


def sample_rss(process: DispatchProcess, rss: list[float], stop: threading.Event) -> None:
    while not stop.wait(0.1):
        rss.append(rss_mib(process.process.pid))


class Watch:
    """Health probe plus RSS sampling around a scenario."""

    def __init__(self, process: DispatchProcess, name: str) -> None:
        self.process, self.name = process, name
        self.rss: list[float] = [rss_mib(process.process.pid)]
        self._stop = threading.Event()
        self.probe = HealthProbe(process.address)

    def __enter__(self) -> Watch:
        self.probe.__enter__()
        self._sampler = threading.Thread(target=sample_rss, args=(self.process, self.rss, self._stop), daemon=True)
        self._sampler.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._sampler.join()
        self.probe.__exit__()
        if exc[0] is None:
            noted(self.name, self.probe, self.process, self.rss)


def ready(process: DispatchProcess) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.metrics_port}/readyz", timeout=2) as reply:  # type: ignore[attr-defined]
            return reply.status
    except urllib.error.HTTPError as err:
        return err.code


def authenticated_call_works(process: DispatchProcess) -> None:
    with pytest.raises(grpc.RpcError) as err:
        process.stub.GetPlan(pb.GetPlanRequest(plan_id="none"), metadata=AUTH, timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_header_only_calls_without_a_token_are_refused_before_their_message(served):
    release = threading.Event()
    with Watch(served, "200 header-only calls, no token"):
        began = time.monotonic()
        calls = [header_only(served.channel, release, timeout=20) for _ in range(200)]
        codes = [status(c, 10) for c in calls]
        took = time.monotonic() - began
        authenticated_call_works(served)
    release.set()
    # refused on their metadata, while their message was still to come
    assert set(codes) == {grpc.StatusCode.UNAUTHENTICATED}, set(codes)
    assert took < 15
    assert ready(served) == 200


def test_header_only_calls_with_a_token_hold_at_most_max_calls_then_are_cut(served):
    release = threading.Event()
    with Watch(served, f"40 header-only calls with a token (max_calls {MAX_CALLS})"):
        calls = [header_only(served.channel, release, metadata=AUTH, timeout=30) for _ in range(40)]
        time.sleep(0.5)
        refused = [c for c in calls if c.done()]
        assert len(refused) >= 40 - MAX_CALLS
        assert {status(c, 0) for c in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert ready(served) == 503  # full: an orchestrator sends its traffic elsewhere
        codes = [status(c, REQUEST_WAIT + 10) for c in calls]
    release.set()
    held = [c for c in codes if c != grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert held and set(held) == {grpc.StatusCode.CANCELLED}  # cut after the request wait
    time.sleep(0.5)
    assert ready(served) == 200
    authenticated_call_works(served)


def test_a_near_limit_request_without_a_token_is_refused_unread_and_an_oversized_one_by_size(served):
    near = b"\x0a" * (MAX_REQUEST_BYTES - 1024)  # bytes that would take a while to parse
    with Watch(served, "20 near-limit requests without a token, 5 oversized with one") as watch:
        before = rss_mib(served.process.pid)
        codes = [raw_call(served.channel, near, timeout=20) for _ in range(20)]
        assert set(codes) == {grpc.StatusCode.UNAUTHENTICATED}
        big = b"\x0a" * (MAX_REQUEST_BYTES + 1024)
        sized = [raw_call(served.channel, big, metadata=AUTH, timeout=20) for _ in range(5)]
        assert set(sized) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert max(watch.rss) - before < 200, (before, max(watch.rss))


def big_day(technicians: int, jobs: int) -> pb.SolveRequest:
    day = small_day(jobs=2)
    template_tech, template_job = day["technicians"][1], day["jobs"][1]
    day["technicians"] = [{**template_tech, "id": f"t{k}"} for k in range(technicians)]
    day["jobs"] = [
        {**template_job, "id": f"j{k}", "location": {"lat": 39.6 + (k % 97) * 0.003, "lng": -105.1 + (k // 97) * 0.004}}
        for k in range(jobs)
    ]
    day["plan_id"] = f"big-{technicians}x{jobs}"
    day["options"] = {"time_limit": "2s"}
    return to_proto(day)


def cost_of(request: pb.SolveRequest) -> float:
    problem, _ = problem_from_proto(request)
    assert isinstance(problem, Problem)
    return estimate(problem).bytes / MIB


def test_a_day_too_big_to_plan_is_refused_at_once_naming_the_limit_by_every_rpc(served):
    request = big_day(100, 5_000)
    assert request.ByteSize() < MAX_REQUEST_BYTES and cost_of(request) > 512
    small = served.stub.Solve(to_proto(small_day(jobs=3)), metadata=AUTH, timeout=30).plan
    new_jobs = [
        json_format.MessageToDict(pb.Event(new_job=j), preserving_proto_field_name=True) for j in request.jobs[:4_000]
    ]
    replan = json_format.ParseDict(
        {"plan_id": small.plan_id, "time": "2026-03-02T16:00:00Z", "events": new_jobs}, pb.ReoptimizeRequest()
    )
    with Watch(served, "a 100 x 5,000 day by Solve, Validate, Reoptimize") as watch:
        before = rss_mib(served.process.pid)
        for rpc, message in (
            (served.stub.Solve, request),
            (served.stub.Validate, pb.ValidateRequest(request=request, plan=pb.Plan())),
            (served.stub.Reoptimize, replan),
        ):
            began = time.monotonic()
            with pytest.raises(grpc.RpcError) as err:
                rpc(message, metadata=AUTH, timeout=60)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
            assert "DISPATCH_MAX_REQUEST_MEMORY" in err.value.details()
            assert time.monotonic() - began < 30  # at once, not after a matrix and a search
    assert max(watch.rss) - before < 300, (before, max(watch.rss))


def test_concurrent_solves_beyond_the_memory_budget_are_refused_at_once(served):
    """Each of these days is estimated at ~300 MiB: a 1 GiB budget runs three at once."""
    requests = [big_day(40, 1_350) for _ in range(6)]
    each = cost_of(requests[0])
    assert 256 < each < 512, each
    for k, r in enumerate(requests):
        r.plan_id = f"budget-{k}"
        r.options.time_limit.FromSeconds(4)
    with Watch(served, f"6 concurrent solves of ~{each:.0f} MiB, budget 1 GiB"):
        futures = [served.stub.Solve.future(r, metadata=AUTH, timeout=60) for r in requests]
        codes = [status(f, 60) for f in futures]
    exhausted = [c for c in codes if c == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(exhausted) >= 3 and set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes


def test_calls_without_a_deadline_are_answered(served):
    with Watch(served, "Solve, SolveStream, Reoptimize without a deadline"):
        plan = served.stub.Solve(to_proto(small_day(jobs=3)), metadata=AUTH).plan
        assert plan.version >= 1
        updates = list(served.stub.SolveStream(to_proto(small_day(jobs=3)), metadata=AUTH))
        assert updates[-1].WhichOneof("update") == "plan"
        replan = json_format.ParseDict(
            {"plan_id": updates[-1].plan.plan_id, "time": "2026-03-02T16:00:00Z"}, pb.ReoptimizeRequest()
        )
        again = served.stub.Reoptimize(replan, metadata=AUTH).plan
        assert again.version > updates[-1].plan.version


def test_slow_clients_on_the_metrics_port_do_not_keep_out_probes(served):
    release = threading.Event()
    slow = [threading.Thread(target=trickle, args=(served.metrics_port, release), daemon=True) for _ in range(100)]
    with Watch(served, "100 slow clients on the metrics port"):
        for t in slow:
            t.start()
        time.sleep(1.0)
        began = time.monotonic()
        assert ready(served) == 200
        assert time.monotonic() - began < 5
    release.set()


def test_idle_reflection_streams_count_as_calls_and_nothing_stays_counted(served):
    """Server reflection reads its own messages (request-streaming): idle streams of it hold
    capped calls, never the threads health needs, and give them back when they end."""
    release = threading.Event()

    def nothing():
        release.wait()
        return
        yield b""

    reflect = served.channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with Watch(served, f"{MAX_CALLS} idle reflection streams"):
        streams = [reflect(nothing(), metadata=AUTH, timeout=30) for _ in range(MAX_CALLS)]
        time.sleep(0.5)
        with pytest.raises(grpc.RpcError) as err:
            served.stub.GetPlan(pb.GetPlanRequest(plan_id="none"), metadata=AUTH, timeout=5)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "DISPATCH_MAX_CALLS" in err.value.details()
        assert ready(served) == 503
        release.set()
        for stream in streams:
            assert list(stream) == []
    time.sleep(0.5)
    authenticated_call_works(served)
    assert served.metrics()["dispatch_rpc_in_flight"] == 0
