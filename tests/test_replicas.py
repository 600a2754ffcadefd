"""Two server processes sharing one Redis: any replica re-plans any plan, and versions hold.

Each replica is a real ``dispatch serve`` process (one solver worker) configured only by the
environment (``DISPATCH_REDIS_URL``), as in a deployment.
"""

from __future__ import annotations

import threading
import time
import uuid

import grpc
import pytest

from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import small_day, to_proto
from tests.support.redis_server import free_port
from tests.support.served import DispatchProcess
from tests.test_reopt_server import EMERGENCY, reopt_request


def replica(redis_url: str) -> DispatchProcess:
    """A replica on ``redis_url`` with one solver worker and its own metrics port, still starting."""
    env = {"DISPATCH_REDIS_URL": redis_url, "DISPATCH_WORKERS": "1", "DISPATCH_METRICS_PORT": str(free_port())}
    return DispatchProcess(env, wait=False)


@pytest.fixture(scope="module")
def replicas(redis_server):
    pair = [replica(redis_server.url), replica(redis_server.url)]
    try:
        for r in pair:
            r.wait_ready()
        yield pair
    finally:
        for r in pair:
            r.stop()


def test_solve_on_one_replica_reoptimize_on_the_other(replicas):
    a, b = replicas
    day = small_day(jobs=8)
    day["plan_id"] = f"shared-{uuid.uuid4().hex[:8]}"
    plan = a.stub.Solve(to_proto(day), timeout=30).plan
    assert b.stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id), timeout=5).plan.version == plan.version
    response = b.stub.Reoptimize(reopt_request(plan, [EMERGENCY]), timeout=30)
    assert response.plan.version > plan.version
    assert "burst-pipe" in {v.job_id for r in response.plan.routes for v in r.visits}
    again = a.stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id), timeout=5).plan
    assert again.version == response.plan.version


def follow(stream, into: list) -> None:
    """Collect a WatchEtas stream's updates until it is cancelled."""
    try:
        into.extend(stream)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            raise


def test_a_watcher_on_one_replica_follows_etas_of_plans_made_and_replanned_on_the_other(replicas):
    a, b = replicas
    day = small_day(jobs=6)
    day["plan_id"] = f"watched-{uuid.uuid4().hex[:8]}"
    day["technicians"][1]["id"] = rosa = f"rosa-{uuid.uuid4().hex[:6]}"  # only this test's events
    watch = b.stub.WatchEtas(pb.WatchEtasRequest(technician_id=rosa), timeout=60)
    seen: list[pb.EtaUpdate] = []
    threading.Thread(target=follow, args=(watch, seen), daemon=True).start()
    time.sleep(1.0)  # the watch is open (it reads from the stream's end)
    plan = a.stub.Solve(to_proto(day), timeout=30).plan
    rosas = {v.job_id for r in plan.routes if r.technician_id == rosa for v in r.visits}
    assert rosas

    def wait_for(test) -> None:
        deadline = time.monotonic() + 15
        while not test() and time.monotonic() < deadline:
            time.sleep(0.05)

    wait_for(lambda: {u.job_id for u in seen if u.kind == pb.ETA_PLANNED} >= rosas)
    assert {u.job_id for u in seen if u.kind == pb.ETA_PLANNED} == rosas  # planned on a, seen on b
    assert all(u.plan_id == plan.plan_id and u.version == plan.version for u in seen)
    watch_plan = a.stub.WatchEtas(pb.WatchEtasRequest(plan_id=plan.plan_id), timeout=60)
    on_a: list[pb.EtaUpdate] = []
    threading.Thread(target=follow, args=(watch_plan, on_a), daemon=True).start()
    time.sleep(1.0)
    response = b.stub.Reoptimize(reopt_request(plan, [EMERGENCY]), timeout=30)  # re-planned on b
    wait_for(lambda: any(u.kind == pb.ETA_EMERGENCY for u in seen) and any(u.kind == pb.ETA_EMERGENCY for u in on_a))
    emergencies = [u for u in seen if u.kind == pb.ETA_EMERGENCY]
    assert [u.job_id for u in emergencies] == ["burst-pipe"] and emergencies[0].version > plan.version
    assert [u.job_id for u in on_a if u.kind == pb.ETA_EMERGENCY] == ["burst-pipe"]
    assert max(u.version for u in on_a) <= response.plan.version
    watch.cancel()
    watch_plan.cancel()
    for server in (a, b):  # each replica serves its own metrics
        assert server.metrics()["dispatch_rpc_requests_total"] > 0


def test_concurrent_reoptimize_on_both_replicas_exactly_one_wins(replicas):
    a, b = replicas
    day = small_day(jobs=8)
    day["plan_id"] = f"race-{uuid.uuid4().hex[:8]}"
    plan = a.stub.Solve(to_proto(day), timeout=30).plan
    outcomes: list[object] = []
    barrier = threading.Barrier(4)

    def call(stub) -> None:
        barrier.wait()
        try:
            stub.Reoptimize(reopt_request(plan, [{"cancel_job": {"job_id": "job-3"}}]), timeout=30)
            outcomes.append("ok")
        except grpc.RpcError as exc:
            outcomes.append(exc.code())

    threads = [threading.Thread(target=call, args=(r.stub,)) for r in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count(grpc.StatusCode.ABORTED) == 3, outcomes


def test_redis_down_is_unavailable_not_a_crash(replicas, redis_server):
    a, _ = replicas
    day = small_day(jobs=4)
    day["plan_id"] = f"down-{uuid.uuid4().hex[:8]}"
    plan = a.stub.Solve(to_proto(day), timeout=30).plan
    redis_server.kill()
    try:
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            a.stub.Reoptimize(reopt_request(plan, []), timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - began < 5
    finally:
        redis_server.start()
    # Back up (empty: no persistence), the replica serves again.
    plan = a.stub.Solve(to_proto(day), timeout=30).plan
    assert a.stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id), timeout=5).plan.version == 1
