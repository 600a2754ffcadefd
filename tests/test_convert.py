"""Protobuf <-> domain converters: public field names in, the same plan back out."""

from __future__ import annotations

from dispatch.domain import (
    Plan,
    PlanStats,
    Priority,
    Route,
    ScheduledBreak,
    TravelModel,
    Unassigned,
    UnassignedReason,
    Visit,
)
from dispatch.server.convert import plan_from_proto, plan_to_proto, problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import small_day, to_proto

START = 1_772_460_000  # 2026-03-02T14:00:00Z, small_day's start_time


def test_a_console_request_becomes_a_problem_in_plan_seconds():
    problem, shape = problem_from_proto(to_proto(small_day(jobs=4)))
    assert shape == []
    assert problem.epoch == START
    assert problem.options.travel_model is TravelModel.GREAT_CIRCLE
    assert problem.options.time_limit == 1.0
    mike, rosa = problem.technicians
    assert mike.shift.start == 3600 and mike.shift.end == 10 * 3600
    assert mike.end_location == mike.start_location  # no end_location: back home
    assert mike.breaks[0].duration == 1800 and mike.breaks[0].window.start == 4.5 * 3600
    assert mike.skills == {"hvac", "epa_608"} and dict(mike.parts) == {"filter_16x25": 4}
    job = problem.jobs[0]
    assert job.time_windows[0].start == 3600 and job.time_windows[0].end == 4 * 3600
    assert job.service_duration == 2700 and job.priority is Priority.NORMAL
    assert dict(job.required_parts) == {"filter_16x25": 1}
    assert job.respond_within is None and job.customer.name == "Customer 0"


def test_unspecified_priority_is_normal_and_respond_within_counts_from_start_time():
    day = small_day(jobs=1)
    del day["jobs"][0]["priority"]
    day["jobs"][0]["respond_within"] = "1800s"
    problem, _ = problem_from_proto(to_proto(day))
    assert problem.jobs[0].priority is Priority.NORMAL
    assert problem.jobs[0].respond_within == 1800


def test_missing_messages_and_unknown_enums_are_shape_violations():
    request = to_proto(small_day(jobs=2))
    request.technicians[0].ClearField("shift")
    request.jobs[1].ClearField("location")
    request.jobs[1].priority = 42
    _, shape = problem_from_proto(request)
    assert {v.field for v in shape} == {"technicians[0].shift", "jobs[1].location", "jobs[1].priority"}


def test_without_start_time_the_earliest_shift_start_is_now():
    request = to_proto(small_day(jobs=1))
    request.ClearField("start_time")
    problem, _ = problem_from_proto(request)
    assert problem.epoch == START + 3600


def test_a_plan_survives_the_round_trip():
    plan = Plan(
        plan_id="p1",
        epoch=START,
        version=3,
        routes=(
            Route(
                technician_id="mike",
                start=600,
                end=9000,
                visits=(
                    Visit(job_id="a", arrival=1200, start=1800, end=4500, travel_duration=600, travel_distance=7000),
                    Visit(job_id="b", arrival=5000, start=5000, end=7000, travel_duration=500, travel_distance=6000),
                ),
                breaks=(ScheduledBreak(start=4500, end=4800),),
                return_travel_duration=2000,
                return_distance=20000,
            ),
        ),
        unassigned=(Unassigned(job_id="c", reason=UnassignedReason.NO_QUALIFIED_TECHNICIAN, detail="no one holds x"),),
        stats=PlanStats(
            total_travel_duration=3100, total_distance=33000, objective=99, solver_status="ROUTING_SUCCESS"
        ),
    )
    message = plan_to_proto(plan)
    assert message.stats.jobs_assigned == 2 and message.stats.jobs_unassigned == 1
    assert message.routes[0].travel_duration.seconds == 3100
    assert message.routes[0].distance_meters == 33000
    assert message.routes[0].visits[0].arrival.seconds == START + 1200
    back, shape = plan_from_proto(pb.Plan.FromString(message.SerializeToString()), START)
    assert shape == []
    assert back.routes == plan.routes and back.unassigned == plan.unassigned and back.version == 3
    assert back.stats.total_distance == 33000 and back.stats.objective == 99
