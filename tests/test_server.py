"""The gRPC API over a real loopback channel, with real solver worker processes."""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import busy_day, small_day, to_proto
from tests.support.status import field_violations


def test_health_is_serving(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "dispatch.v1.Dispatch"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_solve_returns_a_feasible_versioned_plan(stub):
    day = small_day()
    response = stub.Solve(to_proto(day), timeout=30)
    plan = response.plan
    assert plan.plan_id == "small-day" and plan.version >= 1
    assert plan.stats.jobs_assigned + plan.stats.jobs_unassigned == len(day["jobs"])
    assert plan.stats.jobs_assigned == len(day["jobs"])
    check = stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=plan), timeout=30)
    assert check.feasible, [v.message for v in check.violations]
    again = stub.Solve(to_proto(day), timeout=30)
    assert again.plan.version == plan.version + 1


def test_plan_ids_are_assigned_when_missing(stub):
    day = small_day(jobs=2)
    day["plan_id"] = ""
    plan = stub.Solve(to_proto(day), timeout=30).plan
    assert len(plan.plan_id) >= 16 and plan.version == 1


def test_solve_stream_sends_progress_then_the_plan(stub):
    updates = list(stub.SolveStream(to_proto(small_day()), timeout=30))
    assert updates[-1].WhichOneof("update") == "plan"
    progress = [u.progress for u in updates[:-1]]
    assert progress and all(u.WhichOneof("update") == "progress" for u in updates[:-1])
    objectives = [p.objective for p in progress]
    assert objectives == sorted(objectives, reverse=True)
    assert updates[-1].plan.stats.jobs_assigned == 8


def test_validate_finds_a_tampered_plan(stub):
    day = small_day()
    plan = stub.Solve(to_proto(day), timeout=30).plan
    visit = plan.routes[0].visits[0]
    visit.start.seconds -= 6 * 3600  # before its window
    visit.end.seconds -= 6 * 3600
    check = stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=plan), timeout=30)
    assert not check.feasible
    assert any(v.job_id == visit.job_id for v in check.violations)


def test_malformed_request_lists_every_bad_field(stub):
    day = small_day()
    day["jobs"][3]["time_windows"][0] = {"start": "2026-03-02T20:00:00Z", "end": "2026-03-02T18:00:00Z"}
    day["jobs"][4]["id"] = day["jobs"][5]["id"]
    day["jobs"][6]["pinned_technician_id"] = "nobody"
    day["jobs"][7]["service_duration"] = "-60s"
    day["technicians"][1]["start_location"] = {"lat": 91.0, "lng": -104.9}
    with pytest.raises(grpc.RpcError) as err:
        stub.Solve(to_proto(day), timeout=30)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    fields = field_violations(err.value)
    assert "end before start" in fields["jobs[3].time_windows[0]"]
    assert "duplicate" in fields["jobs[4].id"] and "duplicate" in fields["jobs[5].id"]
    assert "unknown technician" in fields["jobs[6].pinned_technician_id"]
    assert "negative" in fields["jobs[7].service_duration"]
    assert "latitude" in fields["technicians[1].start_location.lat"]


def test_explicit_matrix_of_the_wrong_size_is_rejected(stub):
    day = small_day(jobs=1)
    day["options"]["travel_model"] = "EXPLICIT"
    day["travel_matrix"] = {"size": 3, "durations_seconds": [0, 1, 2, 3]}
    with pytest.raises(grpc.RpcError) as err:
        stub.Solve(to_proto(day), timeout=30)
    fields = field_violations(err.value)
    assert "needs 9" in fields["travel_matrix.durations_seconds"]
    assert "technicians[0].start_location.matrix_index" in fields


def test_deadline_shorter_than_time_limit_still_answers_in_time():
    """A day that would search all of its 30 s, called with a 5 s deadline: the search ends
    ``deadline_margin`` before the deadline and the plan arrives in time. The server here keeps 1.5 s
    (0.5 s by default) so that a pause of a loaded machine after the search cannot decide the verdict."""
    from dispatch.config import Settings  # noqa: PLC0415
    from dispatch.server.app import DispatchServer  # noqa: PLC0415
    from dispatch.v1 import dispatch_pb2_grpc  # noqa: PLC0415

    srv = DispatchServer(Settings(worker_niceness=0, workers=1, deadline_margin=1.5), host="127.0.0.1", port=0)
    srv.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            day = busy_day(time_limit="30s", plan_id="deadline-first")
            began = time.monotonic()
            plan = dispatch_pb2_grpc.DispatchStub(ch).Solve(to_proto(day), timeout=5).plan
            assert time.monotonic() - began < 5
            assert plan.stats.jobs_assigned > 100
            assert plan.stats.solve_time.ToTimedelta().total_seconds() < 4.0  # cut by the deadline, not 30 s
    finally:
        srv.stop(grace=1)


def test_a_full_server_answers_resource_exhausted_before_the_deadline_never_a_timeout(server, stub):
    """Both workers busy (6 s searches) and the queue filled: one more request is refused at once; a
    request that may wait is refused when no worker is free while a search still fits its deadline,
    and one that gets a worker late searches what is left and answers in time."""
    pool = server.service.runner
    results: dict[str, object] = {}

    def solve(name: str, time_limit: str, timeout: float) -> None:
        if name.startswith("busy"):
            day = busy_day(time_limit=time_limit, plan_id=name)
        else:
            day = small_day(jobs=4, time_limit=time_limit)
            day["plan_id"] = name
        began = time.monotonic()
        try:
            reply = stub.Solve(to_proto(day), timeout=timeout)
            results[name] = ("OK", time.monotonic() - began, reply.plan.stats.jobs_assigned)
        except grpc.RpcError as exc:
            results[name] = (exc.code().name, time.monotonic() - began, exc.details())

    def start(name: str, time_limit: str, timeout: float) -> threading.Thread:
        thread = threading.Thread(target=solve, args=(name, time_limit, timeout))
        thread.start()
        return thread

    busy = [start(f"busy-{k}", "6s", 30) for k in range(pool.size)]
    while len(pool.busy_pids()) < pool.size:
        time.sleep(0.02)
    late = start("late", "20s", 10.0)  # waits 6-7 s for a worker, then searches what is left
    short = start("short", "10s", 2.5)  # no worker free while 0.25 s of search still fits
    waiting = [start(f"wait-{k}", "1s", 30) for k in range(pool.max_waiting - 2)]
    while pool.waiting < pool.max_waiting:
        time.sleep(0.02)
    solve("refused", "1s", 30)  # the queue is full
    for thread in [*busy, late, short, *waiting]:
        thread.join(40)
    code, took, _ = results["refused"]
    assert code == "RESOURCE_EXHAUSTED" and took < 0.5, results["refused"]
    code, took, details = results["short"]
    assert code == "RESOURCE_EXHAUSTED" and 1.5 < took < 2.4, results["short"]
    assert "in time for the request's deadline" in details
    code, took, assigned = results["late"]
    assert code == "OK" and 6.0 < took < 10.0 and assigned == 4, results["late"]
    assert all(results[f"wait-{k}"][0] == "OK" for k in range(pool.max_waiting - 2)), results


def test_killed_worker_fails_that_call_cleanly_and_the_next_succeeds(server, stub):
    pool = server.service.runner
    day = busy_day(time_limit="20s")
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["plan"] = stub.Solve(to_proto(day), timeout=60)
        except grpc.RpcError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=call)
    thread.start()
    for _ in range(200):
        if pool.busy_pids():
            break
        time.sleep(0.05)
    victim = pool.busy_pids()[0]
    time.sleep(0.3)
    os.kill(victim, signal.SIGKILL)
    thread.join(30)
    err = outcome.get("error")
    assert isinstance(err, grpc.RpcError), outcome
    assert err.code() is grpc.StatusCode.INTERNAL and "worker died" in err.details()
    plan = stub.Solve(to_proto(small_day(jobs=4)), timeout=30).plan
    assert plan.stats.jobs_assigned == 4
    assert pool.restarts >= 1


def test_calls_without_a_deadline_wait_for_a_worker_and_answer(stub):
    """No gRPC deadline (as consoles and grpcurl often send): three solves and a re-plan at once on
    two workers all answer; the ones that wait for a worker are not an INTERNAL error (gRPC says
    ~9.2e18 s remain, which once overflowed the wait for a free worker)."""
    results: list[object] = []

    def call(n: int) -> None:
        day = small_day(jobs=4)
        day["plan_id"] = f"no-deadline-{n}"
        try:
            results.append(stub.Solve(to_proto(day)).plan.version)
        except grpc.RpcError as exc:
            results.append(exc.code())

    threads = [threading.Thread(target=call, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [1, 1, 1], results
    plan = stub.GetPlan(pb.GetPlanRequest(plan_id="no-deadline-0"), timeout=5).plan
    replan = pb.ReoptimizeRequest(plan_id=plan.plan_id, expected_version=plan.version)
    replan.events.add().cancel_job.job_id = plan.routes[0].visits[0].job_id if plan.routes else "job-0"
    replan.time.FromSeconds(plan.start_time.seconds)
    assert stub.Reoptimize(replan).plan.version > plan.version
