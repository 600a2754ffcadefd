"""Fair days and overtime (issue 21): ``Technician.overtime``, ``options.balance`` and the per-technician
stats. Every plan goes through the independent checker."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from google.protobuf import json_format

from dispatch.check import check_plan
from dispatch.domain import Balance, Overtime, Problem, workload
from dispatch.solver.objective import Objective
from dispatch.solver.screen import screen
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import small_day, to_proto
from tests.support.factories import HOUR, MIN, job, matrix_for, problem, route_of, solve_checked, tech
from tests.support.status import field_violations


def _with(p: Problem, **options: object) -> Problem:
    return dataclasses.replace(p, options=dataclasses.replace(p.options, **options))


def _short_shift_day(overtime: Overtime | None) -> Problem:
    """One technician on a 4 h shift and five 1 h jobs 10 min out: four fit, the fifth needs overtime."""
    a = dataclasses.replace(tech("a", shift=(0, 4 * HOUR)), overtime=overtime)
    return problem([a], [job(f"j{k}", x=10, service=HOUR - 4 * MIN) for k in range(5)], time_limit=1.0)


def test_overtime_serves_the_job_a_shift_cannot_hold_and_is_reported():
    without = solve_checked(_short_shift_day(None))
    assert len(without.assigned_job_ids) < 5
    assert all(r.end <= 4 * HOUR and r.overtime == 0 for r in without.routes)
    p = _short_shift_day(Overtime(max_extra=2 * HOUR, cost_per_hour=90.0))
    plan = solve_checked(p)
    assert len(plan.assigned_job_ids) == 5
    r = route_of(plan, "a")
    assert 4 * HOUR < r.end <= 6 * HOUR
    assert r.overtime == r.end - 4 * HOUR
    assert workload(plan.routes).total_overtime == r.overtime


def test_overtime_is_not_used_when_it_serves_nothing_more():
    """Two technicians who can share the day within their shifts: nobody works late, though one may."""
    a = dataclasses.replace(tech("a", shift=(0, 4 * HOUR)), overtime=Overtime(max_extra=3 * HOUR, cost_per_hour=90))
    b = tech("b", shift=(0, 4 * HOUR))
    plan = solve_checked(problem([a, b], [job(f"j{k}", x=10, service=HOUR) for k in range(5)], time_limit=1.0))
    assert len(plan.assigned_job_ids) == 5
    assert all(r.overtime == 0 and r.end <= 4 * HOUR for r in plan.routes)


def test_the_checker_refuses_a_day_past_the_overtime_allowed():
    """The plan made with 2 h of overtime allowed, checked against 30 min allowed and none."""
    p = _short_shift_day(Overtime(max_extra=2 * HOUR, cost_per_hour=90))
    plan = solve_checked(p)
    assert route_of(plan, "a").end > 4 * HOUR + 30 * MIN
    m = matrix_for(p)
    for overtime in (Overtime(max_extra=30 * MIN, cost_per_hour=90), None):
        less = dataclasses.replace(p, technicians=(dataclasses.replace(p.technicians[0], overtime=overtime),))
        assert "SHIFT" in {v.code for v in check_plan(less, m, plan)}


def _one_place_day(**options: object) -> Problem:
    """Two technicians at home (0) and six 30-minute jobs at 30 (30 min away): one technician can do
    all six in 4 h with one trip; two do three each with two trips."""
    jobs = [job(f"j{k}", x=30, service=30 * MIN) for k in range(6)]
    return _with(problem([tech("a"), tech("b")], jobs, time_limit=2.0), **options)


def _counts(plan) -> list[int]:
    return sorted(len(r.visits) for r in plan.routes)


def test_without_balance_one_trip_does_it_all():
    assert _counts(solve_checked(_one_place_day())) == [6]


@pytest.mark.parametrize("balance", [Balance.JOB_COUNT, Balance.WORK_TIME])
def test_balance_spreads_the_work(balance):
    plan = solve_checked(_one_place_day(balance=balance, balance_weight=3.0))
    assert _counts(plan) == [3, 3]
    load = workload(plan.routes)
    assert load.job_count_spread == 0 and load.work_time_spread == 0


def test_balance_weight_zero_is_off():
    assert _counts(solve_checked(_one_place_day(balance=Balance.JOB_COUNT, balance_weight=0.0))) == [6]


def test_day_costs_of_the_objective():
    """Overtime at its price against driving's; the balance terms as documented."""
    a = dataclasses.replace(tech("a", shift=(0, 4 * HOUR)), overtime=Overtime(max_extra=HOUR, cost_per_hour=90))
    p = problem([a, tech("b")], [job("j", x=1)])
    m = matrix_for(p)
    s = screen(p, m)
    assert Objective.of(p, s).day_cost(0, 0, 4 * HOUR + 600, 3) == 900  # 600 s at 90/60
    assert Objective.of(p, s).day_cost(1, 0, 10 * HOUR, 3) == 0  # no overtime allowed, no balance
    work = Objective.of(_with(p, balance=Balance.WORK_TIME, balance_weight=1.0), s)
    # An hour moved from a day 2 h longer than another saves 15 min of driving's worth.
    before = work.day_cost(1, 0, 9 * HOUR, 5) + work.day_cost(1, 0, 7 * HOUR, 5)
    after = work.day_cost(1, 0, 8 * HOUR, 5) * 2
    assert before - after == 15 * MIN
    count = Objective.of(_with(p, balance=Balance.JOB_COUNT, balance_weight=1.0), s)
    assert count.day_cost(1, 0, HOUR, 7) + count.day_cost(1, 0, HOUR, 5) - 2 * count.day_cost(1, 0, HOUR, 6) == 10 * MIN


def test_solve_reports_each_technicians_day_and_the_spread(stub):
    day = small_day()
    day["options"] = {"balance": "WORK_TIME", "balance_weight": 2.0, "time_limit": "1s"}
    day["technicians"][0]["overtime"] = {"max_extra": "3600s", "cost_per_hour": 90}
    plan = stub.Solve(to_proto(day), timeout=30).plan
    stats = plan.stats
    assert {t.technician_id for t in stats.technicians} == {r.technician_id for r in plan.routes if r.visits}
    for t, r in zip(stats.technicians, plan.routes, strict=True):
        assert t.work.ToSeconds() == r.end.seconds - r.start.seconds
        assert t.drive == r.travel_duration and t.jobs == len(r.visits)
    works = [t.work.ToSeconds() for t in stats.technicians]
    assert stats.work_time_spread.ToSeconds() == max(works) - min(works)
    jobs = [t.jobs for t in stats.technicians]
    assert stats.job_count_spread == max(jobs) - min(jobs)
    check = stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=plan), timeout=30)
    assert check.feasible, [v.message for v in check.violations]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["options"].update(balance_weight=-1), "options.balance_weight"),
        (lambda d: d["options"].update(balance_weight=1e9), "options.balance_weight"),
        (lambda d: d["options"].update(balance_weight="NaN"), "options.balance_weight"),
        (lambda d: d["options"].update(travel_cost_per_hour=0), "options.travel_cost_per_hour"),
        (lambda d: d["options"].update(balance=7), "options.balance"),
        (lambda d: d["technicians"][0].update(overtime={"max_extra": "50000s"}), "technicians[0].overtime.max_extra"),
        (lambda d: d["technicians"][0].update(overtime={"max_extra": "-60s"}), "technicians[0].overtime.max_extra"),
        (
            lambda d: d["technicians"][0].update(overtime={"max_extra": "60s", "cost_per_hour": -5}),
            "technicians[0].overtime.cost_per_hour",
        ),
    ],
)
def test_bad_balance_and_overtime_are_refused_by_field(stub, change, field):
    day = small_day(jobs=2)
    day["options"] = {}
    change(day)
    with pytest.raises(grpc.RpcError) as err:
        stub.Solve(to_proto(day), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(err.value)


def test_a_replan_keeps_overtime_and_balance(stub):
    """A re-plan of a day with overtime and balance keeps both: the new job is served within the
    overtime allowed, the plan checks, and its stats carry every technician's day."""
    day = small_day(jobs=8)
    day["plan_id"] = "balance-replan"
    day["options"] = {"balance": "JOB_COUNT", "balance_weight": 2.0, "time_limit": "1s"}
    for person in day["technicians"]:
        person["overtime"] = {"max_extra": "3600s", "cost_per_hour": 90}
    plan = stub.Solve(to_proto(day), timeout=30).plan
    like = dict(day["jobs"][0], id="late-call")
    request = pb.ReoptimizeRequest(plan_id="balance-replan", expected_version=plan.version)
    request.time.CopyFrom(plan.start_time)
    request.events.add().new_job.CopyFrom(json_format.ParseDict(like, pb.Job()))
    after = stub.Reoptimize(request, timeout=30).plan
    assert "late-call" in {v.job_id for r in after.routes for v in r.visits}
    assert {t.technician_id for t in after.stats.technicians} == {r.technician_id for r in after.routes if r.visits}
    shifts = {t["id"]: t["shift"]["end"] for t in day["technicians"]}
    for r in after.routes:
        end = json_format.Parse(f'"{shifts[r.technician_id]}"', type(r.end)())
        assert r.end.seconds <= end.seconds + 3600
    day["jobs"].append(like)
    check = stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=after), timeout=30)
    assert check.feasible, [v.message for v in check.violations]
