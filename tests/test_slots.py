""" "When can you come?" — SuggestSlots: the slots that fit the stored plan are promises a booking
keeps (a Reoptimize with new_job in that window lands it there), on the hour in the plan's time
zone, none that would break a promise or drop a job, and bad requests refused by field."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from google.protobuf import json_format

from dispatch.config import Settings
from dispatch.domain import NewJob, Replan, TimeWindow
from dispatch.errors import ProblemError
from dispatch.reopt.slots import SlotsRequest
from dispatch.server.app import DispatchServer
from dispatch.service import PlanningService
from dispatch.solver.runner import InProcessRunner
from dispatch.store import StoredPlan
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc
from tests.support.console_requests import small_day, to_proto
from tests.support.factories import EPOCH, HOUR, MIN, job, problem, tech
from tests.support.status import field_violations

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def service():
    return PlanningService(runner=InProcessRunner(), settings=Settings(reopt_time_limit=0.3))


def day():
    """Two technicians 08:00-17:00 (plan time 0 = 08:00 UTC here), a morning of work each."""
    return problem(
        [tech("ann", home=0), tech("bob", home=150)],
        [job(f"j{x}", x=x, windows=((0, 4 * HOUR),)) for x in (10, 20, 140, 130)],
        time_limit=0.5,
    )


def copy_of(service: PlanningService, plan_id: str, new_id: str) -> None:
    record = service.store.get(plan_id)
    assert record is not None
    service.store.put(
        StoredPlan(
            problem=dataclasses.replace(record.problem, plan_id=new_id),
            plan=dataclasses.replace(record.plan, plan_id=new_id, version=0),
            state=record.state,
        ),
        expected_version=0,
    )


def test_every_slot_offered_is_kept_when_booked(service):
    plan = service.solve(day(), replace=True)
    now = EPOCH + HOUR  # 09:00
    asked = job("new", x=60)  # its own windows are ignored: each slot is tried
    found = service.suggest_slots(SlotsRequest(plan_id=plan.plan_id, time=now, job=asked, max_options=20))
    assert found.options, "an empty afternoon has room"
    for o in found.options:
        assert (o.window.end - o.window.start) == 2 * HOUR and (EPOCH + o.window.start) % HOUR == 0  # on the hour
        assert o.window.start >= HOUR - 2 * HOUR and o.window.end <= 9 * HOUR  # inside the shifts
        assert o.window.start <= o.start <= o.window.end and o.technician_id in ("ann", "bob")
    scores = [o.score for o in found.options]
    assert scores == sorted(scores)
    for k, o in enumerate(found.options):  # book each one on a copy of the day: it lands in its window
        copy_id = f"booked-{k}"
        copy_of(service, plan.plan_id, copy_id)
        booked = dataclasses.replace(
            asked, time_windows=(TimeWindow(start=o.window.start - HOUR, end=o.window.end - HOUR),)
        )
        result = service.reoptimize(Replan(plan_id=copy_id, time=now, events=(NewJob(job=booked),)))
        visit = next((v for r in result.plan.routes for v in r.visits if v.job_id == "new"), None)
        assert visit is not None, (o, result.plan.unassigned)
        assert o.window.start <= visit.start <= o.window.end


def test_a_slot_that_would_break_a_promise_or_drop_a_job_is_not_offered(service):
    """Ann alone with a full day: no slot fits without pushing someone out of their window."""
    busy = problem(
        [tech("ann", home=0, shift=(0, 5 * HOUR))],
        [
            job(f"j{k}", x=10 + k, service=40 * MIN, windows=((k * HOUR + 15 * MIN, k * HOUR + 20 * MIN),))
            for k in range(4)
        ],
        time_limit=0.5,
    )
    plan = service.solve(busy, replace=True)
    assert len(plan.assigned_job_ids) == 4
    found = service.suggest_slots(
        SlotsRequest(plan_id=plan.plan_id, time=EPOCH, job=job("new", x=12, service=55 * MIN), max_options=50)
    )
    assert found.options == ()


def test_explicit_slots_and_the_limits(service):
    plan = service.solve(day(), replace=True)
    morning, afternoon = TimeWindow(start=0, end=2 * HOUR), TimeWindow(start=5 * HOUR, end=7 * HOUR)
    found = service.suggest_slots(
        SlotsRequest(plan_id=plan.plan_id, time=EPOCH, job=job("new", x=60), slots=(morning, afternoon))
    )
    assert {(o.window.start, o.window.end) for o in found.options} <= {(0, 2 * HOUR), (5 * HOUR, 7 * HOUR)}
    assert found.options
    bad = SlotsRequest(
        plan_id=plan.plan_id,
        time=EPOCH,
        job=job("new", x=60),
        slots=(TimeWindow(start=HOUR, end=HOUR),),
        slot_length=60,
        days=99,
        max_options=-1,
    )
    with pytest.raises(ProblemError) as refused:
        service.suggest_slots(bad)
    assert {v.field for v in refused.value.violations} == {"slots[0]", "slot_length", "days", "max_options"}


def test_suggest_slots_over_grpc_in_the_plans_time_zone():
    srv = DispatchServer(Settings(worker_niceness=0, workers=1), host="127.0.0.1", port=0)
    srv.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            stub = dispatch_pb2_grpc.DispatchStub(channel)
            request = small_day(jobs=4)
            request["time_zone"] = "Asia/Kolkata"  # UTC+5:30: slots on the local hour are on the half hour UTC
            request["plan_id"] = "slots-grpc"
            stub.Solve(to_proto(request), timeout=60)
            asked = {
                "plan_id": "slots-grpc",
                "job": {
                    "id": "new",
                    "location": request["jobs"][0]["location"],
                    "service_duration": "1800s",
                    "required_skills": request["jobs"][0].get("required_skills", []),
                },
                "slot_length": "3600s",
                "time": request["start_time"],
                "max_options": 3,
            }
            reply = stub.SuggestSlots(json_format.ParseDict(asked, pb.SuggestSlotsRequest()), timeout=60)
            assert reply.time_zone == "Asia/Kolkata" and reply.options
            for o in reply.options:
                assert o.window.start.seconds % 3600 == 1800  # 14:30Z is 20:00 in Kolkata
                assert o.window.end.seconds - o.window.start.seconds == 3600
            bad = json_format.ParseDict({**asked, "days": 30, "slot_length": "60s"}, pb.SuggestSlotsRequest())
            with pytest.raises(grpc.RpcError) as refused:
                stub.SuggestSlots(bad, timeout=30)
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert {"days", "slot_length"} <= set(field_violations(refused.value))
    finally:
        srv.stop(grace=1)
