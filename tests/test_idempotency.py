"""A retried call is safe: ``request_id`` on ``Solve`` and ``Reoptimize`` (the first answer again,
events applied once, nobody texted twice), ``ALREADY_EXISTS`` for a live day unless ``replace``,
and the cost of a request checked before anything expensive (``dispatch.cost``).

In process on the planning service (its stream is the process's own), and over gRPC for the
statuses and their details. Redis failing at every step, with retries: ``tests/test_faults.py``.
"""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from google.rpc import error_details_pb2

from dispatch.config import Settings
from dispatch.cost import BASE_BYTES, MIB, Admission, estimate
from dispatch.domain import Customer, Delay, NewJob, Replan
from dispatch.errors import OverloadedError, PlanExistsError, ProblemError
from dispatch.reopt.events import shift_job, shift_technician
from dispatch.server.convert import problem_from_proto
from dispatch.service import PlanningService
from dispatch.solver.runner import InProcessRunner
from dispatch.store import MemoryPlanStore
from dispatch.stream import MemoryEtaStream
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import burst_pipe, small_day, to_proto
from tests.support.factories import EPOCH, HOUR, job, problem, tech
from tests.support.status import details, field_violations


def day(plan_id: str = "kept"):
    techs = [tech("ann", home=0), tech("bob", home=60)]
    jobs = [job(f"j{x}", x=x, windows=((0, 8 * HOUR),)) for x in (5, 25, 65, 75)]
    return dataclasses.replace(problem(techs, jobs, time_limit=0.5), plan_id=plan_id)


@pytest.fixture
def service() -> PlanningService:
    stream = MemoryEtaStream()
    return PlanningService(
        runner=InProcessRunner(),
        settings=Settings(reopt_time_limit=0.3),
        store=MemoryPlanStore(etas=stream),
        etas=stream,
    )


def texts(service: PlanningService) -> list[tuple[str, int, str]]:
    return [(e.job_id, e.version, e.kind.value) for _, e in service.etas.read("0", count=10_000)]


def test_a_solve_retried_with_its_request_id_returns_the_stored_plan_and_texts_nobody_again(service):
    first = service.solve(day(), request_id="solve-1", fingerprint="f1")
    told = texts(service)
    assert first.version == 1 and len(told) == 4
    again = service.solve(day(), request_id="solve-1", fingerprint="f1")
    assert again == first and texts(service) == told
    with pytest.raises(ProblemError) as err:  # the same key, another request
        service.solve(day(), request_id="solve-1", fingerprint="f2")
    assert err.value.violations[0].field == "request_id"


def test_a_live_day_is_not_replaced_by_accident_and_a_replacement_texts_only_changes(service):
    service.solve(day())
    with pytest.raises(PlanExistsError) as err:
        service.solve(day())
    assert err.value.current == 1 and "replace" in str(err.value)
    before = texts(service)
    again = service.solve(day(), replace=True)
    assert again.version == 2  # the day's history stays: the version goes on
    assert texts(service) == before  # the same times: nobody is told again
    moved = dataclasses.replace(day(), jobs=(*day().jobs[:3], job("j75", x=75, windows=((5 * HOUR, 8 * HOUR),))))
    third = service.solve(moved, replace=True)
    new = texts(service)[len(before) :]
    # j75 moved to the afternoon (and whoever's time it moves with it); the others are not told again
    assert third.version == 3 and "j75" in {j for j, _, _ in new} and len(new) < 4, new
    assert {kind for _, _, kind in new} == {"MOVED"}


def test_a_replacement_keeps_what_customers_were_told_whatever_its_start_and_reaches_those_it_drops(service):
    """The same day sent again with its start an hour earlier (times counted from another zero)
    texts nobody; a job left out of it gets its withdrawal at its customer's number."""
    phoned = dataclasses.replace(
        day(),
        jobs=tuple(
            dataclasses.replace(j, customer=Customer(name=f"C {j.id}", phone=f"+1720555{k:04d}"))
            for k, j in enumerate(day().jobs)
        ),
    )
    first = service.solve(phoned)
    before = texts(service)
    promised = {c.job_id: c.window for c in service.get_plan("kept").state.promises}
    earlier = dataclasses.replace(
        phoned,
        epoch=phoned.epoch - HOUR,
        technicians=tuple(shift_technician(t, HOUR) for t in phoned.technicians),
        jobs=tuple(shift_job(j, HOUR) for j in phoned.jobs),
    )
    again = service.solve(earlier, replace=True)
    assert again.version == first.version + 1 and texts(service) == before  # the same times, another zero
    kept = {c.job_id: c.window for c in service.get_plan("kept").state.promises}
    assert kept == {j: dataclasses.replace(w, start=w.start + HOUR, end=w.end + HOUR) for j, w in promised.items()}
    dropped = dataclasses.replace(earlier, jobs=earlier.jobs[1:])
    service.solve(dropped, replace=True)
    withdrawn = [e for _, e in service.etas.read("0", count=10_000) if e.kind.value == "WITHDRAWN"]
    assert [(e.job_id, e.customer_phone) for e in withdrawn] == [(phoned.jobs[0].id, "+17205550000")]


def test_a_solve_without_plan_id_gets_one_from_its_request_id(service):
    nameless = dataclasses.replace(day(), plan_id="")
    first = service.solve(nameless, request_id="abc", fingerprint="f")
    assert first.plan_id.startswith("r-")
    assert service.solve(nameless, request_id="abc", fingerprint="f").plan_id == first.plan_id
    assert service.solve(nameless).plan_id != first.plan_id  # no key: a new plan each time


def test_a_replan_retried_with_its_request_id_applies_its_events_once(service):
    service.solve(day())
    emergency = NewJob(job=job("burst", x=30, windows=((0, 8 * HOUR),)))
    asked = Replan(
        plan_id="kept",
        time=EPOCH + HOUR,
        events=(emergency, Delay(job_id="j5", extra=600)),
        expected_version=1,
        request_id="replan-1",
        fingerprint="r1",
    )
    first = service.reoptimize(asked)
    versions = first.plan.version
    told = texts(service)
    again = service.reoptimize(asked)  # the same request: expected_version 1 is long gone, no conflict
    assert again.plan.version == versions and again.final
    assert texts(service) == told
    record = service.get_plan("kept")
    assert [a.request_id for a in record.state.requests] == ["replan-1"]
    assert record.version == versions
    # the plan moves on; the retry still answers, saying which version it stored
    service.reoptimize(Replan(plan_id="kept", time=EPOCH + 2 * HOUR))
    late = service.reoptimize(asked)
    assert late.plan.version > versions
    assert any(f"as version {versions}" in w for w in late.plan.stats.warnings), late.plan.stats.warnings


def test_the_cost_of_a_day_grows_with_its_points_squared_and_explicit_matrices_cost_more():
    small, big = day(), problem([tech(f"t{k}") for k in range(20)], [job(f"j{k}", x=k % 199) for k in range(400)])
    a, b = (
        estimate(dataclasses.replace(small, travel_matrix=None)),
        estimate(dataclasses.replace(big, travel_matrix=None)),
    )
    assert b.points == 440 and b.bytes - BASE_BYTES > 20 * (a.bytes - BASE_BYTES) > 0
    assert estimate(big).bytes > b.bytes  # a request that carries its matrix holds it twice more
    assert b.setup_seconds == pytest.approx(440 * 440 * 0.3e-6)


def test_admission_refuses_what_cannot_fit_for_good_and_what_does_not_fit_now():
    cost = estimate(dataclasses.replace(day(), travel_matrix=None))
    admission = Admission(memory=3 * cost.bytes, solves=2, max_request=2 * cost.bytes)
    with admission.reserve(cost, solve=True), admission.reserve(cost, solve=True):
        assert not admission.has_room(solve=True)
        with pytest.raises(OverloadedError, match="solves are running"):
            admission.check(solve=True)
        with admission.reserve(cost):  # a re-plan: memory left for one more
            with pytest.raises(OverloadedError, match="DISPATCH_MEMORY_BUDGET"):
                with admission.reserve(cost):
                    pass
    assert admission.in_use == 0 and admission.running == 0 and admission.solving == 0
    huge = dataclasses.replace(cost, bytes=5 * cost.bytes)
    with pytest.raises(ProblemError, match="DISPATCH_MAX_REQUEST_MEMORY"):
        with admission.reserve(huge):
            pass
    with pytest.raises(RuntimeError), admission.reserve(cost):  # released whatever happens inside
        raise RuntimeError("boom")
    assert admission.in_use == 0


def test_a_solve_too_short_for_its_day_names_the_time_limit():
    service = PlanningService(runner=InProcessRunner(), settings=Settings(max_request_memory=64 * 1024 * MIB))
    many = small_day(jobs=2)
    many["technicians"] = [{**many["technicians"][1], "id": f"t{k}"} for k in range(50)]
    many["jobs"] = [
        {
            **many["jobs"][1],
            "id": f"j{k}",
            "location": {"lat": 39.6 + (k % 97) * 0.003, "lng": -105.1 + k // 97 * 0.004},
        }
        for k in range(3_000)
    ]
    many["options"] = {"time_limit": "1s"}
    big, shape = problem_from_proto(to_proto(many))
    with pytest.raises(ProblemError) as err:  # 3,100 points: ~3 s of set-up before any search
        service.solve(big, shape)
    assert [v.field for v in err.value.violations] == ["options.time_limit"], err.value


# ---------------------------------------------------------------- over gRPC


def error_info(err: grpc.RpcError) -> dict[str, str]:
    info = details(err, error_details_pb2.ErrorInfo)
    return {"reason": info.reason, **info.metadata} if info is not None else {}


def test_already_exists_names_the_current_version_and_replace_plans_anew(stub):
    first = small_day(jobs=3)
    first["plan_id"] = "grpc-kept"
    plan = stub.Solve(to_proto(first, replace=False), timeout=30).plan
    with pytest.raises(grpc.RpcError) as err:
        stub.Solve(to_proto(first, replace=False), timeout=30)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(err.value) == {
        "reason": "PLAN_EXISTS",
        "plan_id": "grpc-kept",
        "current_version": str(plan.version),
    }
    assert stub.Solve(to_proto(first, replace=True), timeout=30).plan.version == plan.version + 1


def test_a_request_id_is_checked_and_a_retry_gets_the_first_answer(stub):
    request = to_proto(small_day(jobs=3), replace=False)
    request.plan_id = ""
    request.request_id = "bad id with spaces"
    with pytest.raises(grpc.RpcError) as err:
        stub.Solve(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in field_violations(err.value)
    request.request_id = "console-7:solve.42"
    first = stub.Solve(request, timeout=30).plan
    assert stub.Solve(request, timeout=30).plan == first
    request.options.time_limit.FromSeconds(2)  # another request under the same key
    with pytest.raises(grpc.RpcError) as err:
        stub.Solve(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in field_violations(err.value)
    replan = pb.ReoptimizeRequest(plan_id=first.plan_id, request_id="console-7:replan.1")
    replan.time.FromJsonString("2026-03-02T16:00:00Z")
    replan.events.add().new_job.CopyFrom(to_proto({"jobs": [burst_pipe()]}).jobs[0])
    answer = stub.Reoptimize(replan, timeout=30).plan
    again = stub.Reoptimize(replan, timeout=30).plan  # the new job is not added twice (that would be refused)
    assert again.version == answer.version and again.routes == answer.routes
