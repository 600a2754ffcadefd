"""GetPlan, Reoptimize and ReoptimizeStream over a real loopback channel, in the public JSON names,
and ``dispatch reoptimize`` against that server."""

from __future__ import annotations

import json
import threading
import uuid

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2

from dispatch.cli import main
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import small_day, to_proto
from tests.support.status import details, field_violations

NOW = "2026-03-02T17:00:00Z"  # 10:00 in Denver, two hours into the day


def solved(stub) -> pb.Plan:
    day = small_day(jobs=8)
    day["plan_id"] = f"live-{uuid.uuid4().hex[:8]}"
    return stub.Solve(to_proto(day), timeout=30).plan


def reopt_request(plan: pb.Plan, events: list[dict], **extra) -> pb.ReoptimizeRequest:
    body = {
        "plan_id": plan.plan_id,
        "expected_version": str(plan.version),
        "time": NOW,
        "events": events,
        "options": {"time_limit": "0.5s"},
        **extra,
    }
    return json_format.ParseDict(body, pb.ReoptimizeRequest())


EMERGENCY = {
    "new_job": {
        "id": "burst-pipe",
        "location": {"lat": 39.745, "lng": -104.985},
        "service_duration": "3600s",
        "required_skills": ["plumbing"],
        "priority": "EMERGENCY",
        "respond_within": "5400s",
        "customer": {"name": "Ms. Flood", "phone": "+13035550142"},
        "service_type": "Burst pipe",
    }
}


def test_get_plan_returns_the_stored_version_and_not_found_otherwise(stub):
    plan = solved(stub)
    got = stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id), timeout=5).plan
    assert got.version == plan.version and got.plan_id == plan.plan_id
    with pytest.raises(grpc.RpcError) as err:
        stub.GetPlan(pb.GetPlanRequest(plan_id="nope"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_emergency_reoptimize_returns_the_new_version_and_the_diff(stub):
    plan = solved(stub)
    response = stub.Reoptimize(reopt_request(plan, [EMERGENCY]), timeout=30)
    new = response.plan
    assert new.version > plan.version and not [w for w in new.stats.warnings if w.startswith("checker")]
    visit = next(v for r in new.routes for v in r.visits if v.job_id == "burst-pipe")
    assert visit.start.ToJsonString() <= "2026-03-02T18:30:00Z"  # within 90 min of 10:00
    assert [a.job_id for a in response.diff.newly_assigned] == ["burst-pipe"]
    assert response.diff.from_version == plan.version and response.diff.to_version == new.version
    for change in response.diff.eta_changes:
        assert change.change.seconds == change.new_start.seconds - change.old_start.seconds
    # Visits before 10:00 are history or under way.
    statuses = {v.status for r in new.routes for v in r.visits if v.start.ToJsonString() < "2026-03-02T16:30:00Z"}
    assert statuses <= {pb.VISIT_COMPLETED, pb.VISIT_EN_ROUTE, pb.VISIT_ON_SITE}


def test_stream_sends_the_quick_answer_first(stub):
    plan = solved(stub)
    updates = list(stub.ReoptimizeStream(reopt_request(plan, [{"cancel_job": {"job_id": "job-5"}}]), timeout=30))
    assert [u.final for u in updates] == [False, True]
    assert updates[0].result.plan.stats.solver_status == "QUICK"
    for u in updates:
        ids = {v.job_id for r in u.result.plan.routes for v in r.visits} | {x.job_id for x in u.result.plan.unassigned}
        assert "job-5" not in ids


def test_stale_version_is_aborted_with_the_current_one(stub):
    plan = solved(stub)
    stub.Reoptimize(reopt_request(plan, []), timeout=30)
    with pytest.raises(grpc.RpcError) as err:
        stub.Reoptimize(reopt_request(plan, []), timeout=30)
    assert err.value.code() == grpc.StatusCode.ABORTED
    info = details(err.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.metadata["current_version"] == str(plan.version + 1)


def test_concurrent_reoptimize_with_one_version_exactly_one_wins(stub):
    plan = solved(stub)
    codes: list[object] = []

    def call() -> None:
        try:
            stub.Reoptimize(reopt_request(plan, [EMERGENCY]), timeout=30)
            codes.append("ok")
        except grpc.RpcError as exc:
            codes.append(exc.code())

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, codes)) == sorted(["ok", str(grpc.StatusCode.ABORTED), str(grpc.StatusCode.ABORTED)])


def test_malformed_events_are_invalid_argument_with_paths(stub):
    plan = solved(stub)
    events = [
        {},
        {"progress": {"technician_id": "mike", "kind": "ARRIVED"}},
        {"cancel_job": {"job_id": "no-such-job"}},
        {"delay": {"job_id": "job-1", "extra": "-60s"}},
        {"technician_added": {"id": "", "shift": {"start": NOW, "end": NOW}}},
        {"new_job": {"id": "x", "location": {"lat": 123.0, "lng": 0}}},
    ]
    with pytest.raises(grpc.RpcError) as err:
        stub.Reoptimize(reopt_request(plan, events), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = field_violations(err.value)
    for expected in (
        "events[0]",
        "events[1].progress.job_id",
        "events[2].cancel_job.job_id",
        "events[3].delay.extra",
        "events[4].technician_added.id",
        "events[5].new_job.location.lat",
    ):
        assert expected in fields, fields
    assert stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id), timeout=5).plan.version == plan.version


def test_cli_reoptimize_uses_the_current_version_and_writes_the_response(stub, server, tmp_path, capsys):
    plan = solved(stub)
    events = tmp_path / "events.json"
    events.write_text(json.dumps([EMERGENCY]))
    out = tmp_path / "v2.json"
    address = f"127.0.0.1:{server.port}"
    argv = ["reoptimize", plan.plan_id, str(events), "--server", address, "--time", NOW, "--time-limit", "0.5"]
    assert main([*argv, "--out", str(out), "--tz", "America/Denver"]) == 0
    printed = capsys.readouterr().out
    assert f"v{plan.version} -> v" in printed and "assigned   burst-pipe" in printed
    written = json.loads(out.read_text())
    assert written["diff"]["newly_assigned"][0]["job_id"] == "burst-pipe"
    # Replaying the same events file: the job is already in the plan.
    assert main(argv) == 2
    assert "events[0].new_job.id" in capsys.readouterr().err
    # A stale --expected-version: exit 1, naming the conflict.
    assert main([*argv, "--expected-version", str(plan.version)]) == 1
    assert "ABORTED" in capsys.readouterr().err


# ---------------------------------------------------------------- the dispatcher's controls (issue 18)


def test_suggest_then_assign_over_grpc_in_the_public_names(stub):
    plan = solved(stub)
    job = dict(EMERGENCY["new_job"])
    ask = json_format.ParseDict(
        {"plan_id": plan.plan_id, "time": NOW, "job": job, "max_options": 3}, pb.SuggestTechniciansRequest()
    )
    answer = stub.SuggestTechnicians(ask, timeout=30)
    assert answer.plan_version == plan.version and 1 <= len(answer.options) <= 3
    best = answer.options[0]
    assert best.feasible and best.note and best.start.seconds >= best.arrival.seconds
    as_json = json_format.MessageToDict(answer)
    assert {"technicianId", "arrival", "start", "addedTravel", "note"} <= set(as_json["options"][0])
    # Nothing stored; taking the option is new_job + assign, and the re-plan keeps its numbers.
    assert stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id), timeout=5).plan.version == plan.version
    take = reopt_request(plan, [EMERGENCY, {"assign": {"job_id": "burst-pipe", "technician_id": best.technician_id}}])
    new = stub.Reoptimize(take, timeout=30).plan
    visit, tech = next((v, r.technician_id) for r in new.routes for v in r.visits if v.job_id == "burst-pipe")
    assert tech == best.technician_id and visit.start.seconds == best.start.seconds


def test_an_assign_that_cannot_fit_is_failed_precondition_naming_the_event(stub):
    plan = solved(stub)
    job = dict(EMERGENCY["new_job"], required_skills=["plumbing", "nobody-has-this"])
    tech = plan.routes[0].technician_id
    with pytest.raises(grpc.RpcError) as err:
        stub.Reoptimize(
            reopt_request(plan, [{"new_job": job}, {"assign": {"job_id": "burst-pipe", "technician_id": tech}}]),
            timeout=30,
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    failure = details(err.value, error_details_pb2.PreconditionFailure)
    assert failure is not None and failure.violations[0].subject == "events[1].assign"
    assert "nobody-has-this" in failure.violations[0].description
    assert stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id), timeout=5).plan.version == plan.version


def test_unassign_lock_and_change_scope_over_grpc(stub):
    plan = solved(stub)
    victim = plan.routes[0].visits[-1].job_id
    response = stub.Reoptimize(
        reopt_request(
            plan,
            [{"unassign": {"job_id": victim}}, {"lock_route": {"technician_id": plan.routes[-1].technician_id}}],
            options={"time_limit": "0.5s", "change_scope": "RESEQUENCE"},
        ),
        timeout=30,
    )
    held = {u.job_id: u for u in response.plan.unassigned}
    assert held[victim].reason == pb.HELD_BY_DISPATCHER
    # change_scope is for re-plans: a Solve with TIMES_ONLY names the field.
    day = small_day(jobs=4)
    day["options"] = {"change_scope": "TIMES_ONLY"}
    with pytest.raises(grpc.RpcError) as err:
        stub.Solve(to_proto(day), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "options.change_scope" in field_violations(err.value)
