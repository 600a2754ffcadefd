"""Several days in one plan (issue 21): ``Technician.shifts[]``, ``Job.earliest_day``/``latest_day``,
``preferred_technician_ids``, one route per shift (``Route.shift_id``), re-plans on the horizon."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from google.protobuf import json_format

from dispatch.examples.generate import TZ, generate_week
from dispatch.horizon import expand
from dispatch.server.convert import plan_from_proto, problem_from_proto
from dispatch.show import day_views
from dispatch.show import html as page
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import to_proto
from tests.support.status import field_violations

DAYS = [date(2026, 3, 3) + timedelta(days=k) for k in range(3)]


def week(plan_id: str, *, technicians: int = 3, jobs: int = 30, flexible: float = 0.3) -> dict:
    day = generate_week(technicians=technicians, jobs=jobs, days=3, seed=4, flexible=flexible)
    day["plan_id"] = plan_id
    day["options"]["time_limit"] = "3s"
    return day


def local(ts) -> datetime:
    return datetime.fromtimestamp(ts.seconds, UTC).astimezone(TZ)


def test_a_week_plans_one_route_per_shift_and_every_day_checks(stub):
    day = week("week-basic")
    plan = stub.Solve(to_proto(day), timeout=60).plan
    shifts = {t["id"]: {s["id"]: s for s in t["shifts"]} for t in day["technicians"]}
    seen = set()
    for route in plan.routes:
        assert route.shift_id in shifts[route.technician_id]
        assert (route.technician_id, route.shift_id) not in seen
        seen.add((route.technician_id, route.shift_id))
        window = shifts[route.technician_id][route.shift_id]["window"]
        start = json_format.Parse(f'"{window["start"]}"', pb.TimeWindow().start.__class__())
        end = json_format.Parse(f'"{window["end"]}"', pb.TimeWindow().end.__class__())
        assert start.seconds <= route.start.seconds and route.end.seconds <= end.seconds
        for visit in route.visits:
            assert local(visit.start).date().isoformat() == route.shift_id
    assert len({r.shift_id for r in plan.routes}) == 3, "work on every day of the week"
    flexible = {j["id"] for j in day["jobs"] if j.get("earliest_day")}
    served = {v.job_id for r in plan.routes for v in r.visits}
    assert flexible and len(flexible & served) >= len(flexible) * 0.8
    assert {(t.technician_id, t.shift_id) for t in plan.stats.technicians} == seen
    check = stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=plan), timeout=60)
    assert check.feasible, [v.message for v in check.violations]


def test_the_checker_fails_a_visit_moved_to_another_day(stub):
    day = week("week-tampered")
    plan = stub.Solve(to_proto(day), timeout=60).plan
    dated = {j["id"] for j in day["jobs"] if j.get("time_windows") and j.get("priority") != "EMERGENCY"}
    route = next(r for r in plan.routes if any(v.job_id in dated for v in r.visits))
    other = next(
        s["id"]
        for t in day["technicians"]
        for s in t["shifts"]
        if t["id"] == route.technician_id and s["id"] != route.shift_id
    )
    route.shift_id = other  # the same visits, claimed for another day's shift
    check = stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=plan), timeout=60)
    assert not check.feasible
    assert {v.code for v in check.violations} & {"SHIFT", "TIME_WINDOW"}


def test_days_bound_a_job_and_preferences_choose_the_technician(stub):
    day = week("week-days", jobs=12, flexible=0.0)
    job = copy.deepcopy(day["jobs"][0])
    job.update(id="LATE", priority="NORMAL", earliest_day=DAYS[2].isoformat(), latest_day=DAYS[2].isoformat())
    job.pop("time_windows", None)
    job.pop("pinned_technician_id", None)
    trade = job["required_skills"][0]
    able = [
        t["id"]
        for t in day["technicians"]
        if set(job["required_skills"]) <= set(t["skills"]) and set(job["required_tools"]) <= set(t["tools"])
    ]
    assert able, trade
    job["preferred_technician_ids"] = [able[-1]]
    day["jobs"].append(job)
    plan = stub.Solve(to_proto(day), timeout=60).plan
    route = next(r for r in plan.routes if any(v.job_id == "LATE" for v in r.visits))
    assert route.shift_id == DAYS[2].isoformat()
    assert route.technician_id == able[-1]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda d: d["technicians"][0].update(shift=d["technicians"][0]["shifts"][0]["window"]),
            "technicians[0].shift",
        ),
        (
            lambda d: d["technicians"][0]["shifts"][1].update(window=d["technicians"][0]["shifts"][0]["window"]),
            "technicians[0].shifts[1].window",
        ),
        (
            lambda d: d["technicians"][0]["shifts"][1].update(id=d["technicians"][0]["shifts"][0]["id"]),
            "technicians[0].shifts[1].id",
        ),
        (lambda d: d["technicians"][0]["shifts"][0].update(id=""), "technicians[0].shifts[0].id"),
        (lambda d: d["jobs"][0].update(earliest_day="tomorrow"), "jobs[0].earliest_day"),
        (lambda d: d["jobs"][0].update(earliest_day="2026-03-05", latest_day="2026-03-04"), "jobs[0].latest_day"),
        (lambda d: d["jobs"][0].update(preferred_technician_ids=["nobody"]), "jobs[0].preferred_technician_ids"),
        (
            lambda d: d["jobs"][0].update(
                earliest_day="2026-03-10",
                time_windows=[{"start": "2026-03-03T16:00:00Z", "end": "2026-03-03T18:00:00Z"}],
            ),
            "jobs[0].time_windows",
        ),
        (
            lambda d: d["technicians"][0]["shifts"].append(
                {"id": "far", "window": {"start": "2026-03-20T15:00:00Z", "end": "2026-03-20T23:00:00Z"}}
            ),
            "technicians[0].shifts[3].window.end",
        ),
        (
            lambda d: d["technicians"][0].update(
                shifts=[
                    {
                        **d["technicians"][0]["shifts"][0],
                        "id": f"s{k}",
                        "window": {"start": f"2026-03-{3 + k:02d}T15:00:00Z", "end": f"2026-03-{3 + k:02d}T16:00:00Z"},
                    }
                    for k in range(15)
                ]
            ),
            "technicians[0].shifts",
        ),
    ],
)
def test_bad_days_and_shifts_are_refused_by_field(stub, change, field):
    day = week("week-bad", jobs=4)
    change(day)
    with pytest.raises(grpc.RpcError) as err:
        stub.Solve(to_proto(day), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(err.value), field_violations(err.value)


def test_a_mid_week_replan_keeps_history_and_moves_only_later_days(stub):
    day = week("week-replan")
    plan = stub.Solve(to_proto(day), timeout=60).plan
    first = DAYS[0].isoformat()
    now = datetime(2026, 3, 4, 10, 0, tzinfo=TZ)  # Wednesday 10:00: Tuesday is history
    new = copy.deepcopy(
        next(j for j in day["jobs"] if j.get("priority") != "EMERGENCY" and not j.get("pinned_technician_id"))
    )
    new.update(id="NEW", earliest_day=DAYS[1].isoformat(), latest_day=DAYS[2].isoformat())
    new.pop("time_windows", None)
    request = pb.ReoptimizeRequest(plan_id="week-replan", expected_version=plan.version)
    request.time.FromDatetime(now.astimezone(UTC))
    request.events.add().new_job.CopyFrom(json_format.ParseDict(new, pb.Job()))
    request.options.time_limit.FromSeconds(2)
    after = stub.Reoptimize(request, timeout=60).plan

    def by_day(p, shift):
        return {
            (r.technician_id, tuple((v.job_id, v.start.seconds) for v in r.visits))
            for r in p.routes
            if r.shift_id == shift
        }

    assert by_day(after, first) == by_day(plan, first), "Tuesday's visits are history"
    route = next(r for r in after.routes if any(v.job_id == "NEW" for v in r.visits))
    assert route.shift_id in (DAYS[1].isoformat(), DAYS[2].isoformat())
    start = next(v.start for v in route.visits if v.job_id == "NEW")
    assert start.seconds >= int(now.timestamp())


def test_slots_are_offered_on_later_days_of_the_horizon(stub):
    day = week("week-slots", jobs=12, flexible=0.0)
    stub.Solve(to_proto(day), timeout=60)
    like = next(j for j in day["jobs"] if j.get("priority") != "EMERGENCY" and not j.get("pinned_technician_id"))
    job = {
        "id": "CALLER",
        "location": like["location"],
        "service_duration": "2700s",
        "required_skills": like["required_skills"],
        "earliest_day": DAYS[2].isoformat(),
    }
    ask = json_format.ParseDict(
        {"plan_id": "week-slots", "job": job, "slot_length": "7200s", "days": 3, "max_options": 50},
        pb.SuggestSlotsRequest(),
    )
    ask.time.FromDatetime(datetime(2026, 3, 3, 7, 0, tzinfo=TZ).astimezone(UTC))
    reply = stub.SuggestSlots(ask, timeout=60)
    assert reply.options
    assert {local(o.window.start).date() for o in reply.options} == {DAYS[2]}


def test_show_draws_one_timeline_per_day(stub):
    day = week("week-show", jobs=12, flexible=0.0)
    plan = stub.Solve(to_proto(day), timeout=60).plan
    problem = expand(problem_from_proto(to_proto(day))[0])
    drawn, _ = plan_from_proto(plan, problem.epoch)
    views = day_views(drawn, problem, tz=TZ)
    assert len(views) == len({r.shift_id for r in plan.routes}) == 3
    text = page.render(views)
    assert text.count('<h1 id="day') == 3
    for view in views:
        assert {lane.technician_id for lane in view.lanes} <= {t["id"] for t in day["technicians"]}
