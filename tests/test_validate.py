"""Validation names every bad field by its path, all at once."""

from __future__ import annotations

import uuid
from dataclasses import replace

import grpc
import numpy as np
import pytest
from google.protobuf import json_format

from dispatch.domain import (
    Customer,
    DayState,
    ExplicitMatrix,
    Location,
    NewJob,
    TechnicianAdded,
    TimeWindow,
    TravelModel,
)
from dispatch.errors import ProblemError
from dispatch.reopt import apply_events
from dispatch.server.convert import problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.validate import PHONE_RULE, e164_phone, validate
from tests.support.console_requests import small_day, to_proto
from tests.support.factories import HOUR, job, problem, tech
from tests.test_server import field_violations


def violations(p) -> dict[str, str]:
    with pytest.raises(ProblemError) as caught:
        validate(p)
    return {v.field: v.description for v in caught.value.violations}


def test_a_good_problem_passes():
    validate(problem([tech("a")], [job("j", x=3, windows=((0, HOUR),))]))


def test_every_bad_field_is_named_in_one_error():
    p = problem(
        [tech("a"), tech("a", shift=(HOUR, 0))],
        [
            job("j1", x=3, windows=((2 * HOUR, HOUR),)),
            job("j1", x=500, pinned="nobody"),
            replace(job("j3", x=4), service_duration=-5, respond_within=0),
            job("", x=1, parts={"filter": -1}),
        ],
    )
    found = violations(p)
    assert found["technicians[1].id"] == "duplicate id 'a'"
    assert found["technicians[1].shift"] == "end before start"
    assert found["jobs[0].time_windows[0]"] == "end before start"
    assert found["jobs[1].id"] == "duplicate id 'j1'"
    assert "out of range" in found["jobs[1].location.matrix_index"]
    assert found["jobs[1].pinned_technician_id"] == "unknown technician 'nobody'"
    assert found["jobs[2].service_duration"] == "must not be negative"
    assert found["jobs[2].respond_within"] == "must be positive"
    assert found["jobs[3].id"] == "must not be empty"
    assert found["jobs[3].required_parts['filter']"] == "must not be negative"


def test_matrix_of_the_wrong_size_or_with_negative_entries():
    p = problem([tech("a")], [job("j", x=3)])
    short = replace(
        p, travel_matrix=ExplicitMatrix(size=200, durations=np.zeros(10, dtype=np.int64), distances=np.zeros(0))
    )
    assert "size 200 needs 40000" in violations(short)["travel_matrix.durations_seconds"]
    negative = replace(
        p, travel_matrix=ExplicitMatrix(size=200, durations=np.full(40000, -1, dtype=np.int64), distances=np.zeros(0))
    )
    assert "between 0 and" in violations(negative)["travel_matrix.durations_seconds"]


def test_coordinates_must_be_real_places_under_great_circle():
    p = problem([tech("a")], [job("j", x=3)])
    gc = replace(
        p,
        options=replace(p.options, travel_model=TravelModel.GREAT_CIRCLE),
        technicians=(
            replace(
                p.technicians[0],
                start_location=Location(lat=39.7, lng=-105.0),
                end_location=Location(lat=39.7, lng=-105.0),
            ),
        ),
        jobs=(replace(p.jobs[0], location=Location(lat=float("nan"), lng=200.0)),),
    )
    found = violations(gc)
    assert set(found) == {"jobs[0].location.lat", "jobs[0].location.lng"}


def test_times_far_from_start_time_are_rejected():
    p = problem([tech("a")], [replace(job("j", x=3), time_windows=(TimeWindow(start=0, end=400 * 24 * HOUR),))])
    assert "jobs[0].time_windows[0].end" in violations(p)


def test_an_unconfigured_travel_model_is_a_field_error():
    p = problem([tech("a")], [job("j", x=3)])
    google = replace(p, options=replace(p.options, travel_model=TravelModel.GOOGLE))
    assert "not configured" in violations(google)["options.travel_model"]


@pytest.mark.parametrize("weight", [-1, 1_001])
def test_an_emergency_weight_out_of_range_is_named(weight):
    p = problem([tech("a")], [job("j", x=3)])
    p = replace(p, options=replace(p.options, emergency_weight=weight))
    assert violations(p) == {"options.emergency_weight": "must be between 0 and 1000"}


def test_too_many_windows_or_breaks_are_one_error_each_not_a_slow_solve():
    window = TimeWindow(start=HOUR, end=2 * HOUR)
    many = replace(job("j", x=3), time_windows=(window,) * 3000)
    lunches = replace(tech("a"), breaks=tech("a", breaks=((3 * HOUR, 5 * HOUR, 1800),)).breaks * 9)
    assert violations(problem([lunches], [many])) == {
        "jobs[0].time_windows": "at most 16 arrival windows per job",
        "technicians[0].breaks": "at most 8 breaks per technician",
    }
    validate(problem([tech("a")], [replace(many, time_windows=(window,) * 16)]))  # 16 are fine


# ---------------------------------------------------------------------------- phone numbers (E.164)

#: Accepted phone numbers, and their E.164 form.
ACCEPTED_PHONES = {
    "": None,  # no phone: no texts
    "+15551234567": "+15551234567",
    "+1 (303) 555-0199": "+13035550199",
    "+1-303-555-0199": "+13035550199",
    "+44 20.7946.0958": "+442079460958",
    "(+1) 303 555 0199": "+13035550199",
    " +49 30 123456 ": "+4930123456",
    "+64 9 123 4567": "+6491234567",  # 10 digits in all
    "+12345678": "+12345678",  # 8 digits: the fewest
    "+123 456 789 012 345": "+123456789012345",  # 15: the most
}
#: Refused phone numbers, and a word of the hint each gets after PHONE_RULE.
REFUSED_PHONES = [
    ("0612345678", "national number"),
    ("(555) 123-4567", "national number"),
    ("3035550199", "national number"),
    ("0044 20 7946 0958", 'write the international prefix 00 as "+"'),
    ("00 1 303 555 0199", 'write the international prefix 00 as "+"'),
    ("+1 303 555 0199 x123", "extension"),
    ("+1 303 555 0199 ext. 5", "extension"),
    ("+1 303 555 0199;ext=5", "extension"),
    ("303-555-0199 ext 5", "extension"),
    ("+1 800 FLOWERS", "only digits"),
    ("+1 303 555 O199", "only digits"),  # a letter O
    ("+1/303/555/0199", "only digits"),
    ("++13035550199", "only digits"),
    ("+1\u00a0303 555 0199", "only digits"),  # a no-break space
    ("+\uff11\uff13\uff10\uff13\uff15\uff15\uff15\uff10\uff11\uff19\uff19", "only digits"),  # full-width
    ("\u202e911", "only digits"),
    ("+1 303\n555 0199", "only digits"),
    ("+1234567", "not 7"),
    ("+1234567890123456", "not 16"),
    ("+0123456789", "country code"),
    ("+44 (0) 20 7946 0958", '"(0)"'),
    ("   ", "no digits"),
    ("+", "no digits"),
    ("+" + "1" * 70, "longer than 64 characters"),
]


def with_phones(customer: str = "", technician: str = "", *, jobs: int = 4, at: int = 3):
    """A day of ``jobs`` jobs, job ``at``'s customer and the technician with those numbers."""
    js = [job(f"j{k}", x=k + 1) for k in range(jobs)]
    js[at] = replace(js[at], customer=Customer(name="Pat", phone=customer))
    return problem([replace(tech("a"), phone=technician)], js)


@pytest.mark.parametrize(("phone", "e164"), ACCEPTED_PHONES.items())
def test_an_empty_or_e164_phone_number_is_accepted_with_separators(phone, e164):
    validate(with_phones(phone, phone))
    assert e164_phone(phone) == e164


@pytest.mark.parametrize(("phone", "hint"), REFUSED_PHONES)
def test_a_phone_number_that_is_not_e164_is_named_by_its_path(phone, hint):
    found = violations(with_phones(phone, phone))
    assert set(found) == {"jobs[3].customer.phone", "technicians[0].phone"}
    for description in found.values():
        assert description.startswith(PHONE_RULE + " (") and hint in description, description
        assert "7946" not in description.replace("0044 20 7946 0958 is +44 20 7946 0958", "")  # never echoed
    assert e164_phone(phone) is None


def test_every_bad_phone_is_named_once_next_to_the_good_ones():
    js = [replace(job(f"j{k}", x=k + 1), customer=Customer(phone=p)) for k, p in enumerate(
        ["+13035550100", "0612345678", "", "+1 (303) 555-0103 x7"])]  # fmt: skip
    assert violations(problem([tech("a")], js)) == {
        "jobs[1].customer.phone": f'{PHONE_RULE} (a national number: write it with "+" and the country code)',
        "jobs[3].customer.phone": f"{PHONE_RULE} (an extension cannot be texted)",
    }


def test_a_request_with_a_bad_phone_converts_and_fails_validation_on_that_field():
    day = small_day(jobs=4)
    day["jobs"][1]["customer"]["phone"] = "0044 20 7946 0958"
    day["technicians"][0]["phone"] = "(303) 555-0101"
    day["jobs"][2]["customer"]["phone"] = "+44 20 7946 0958"
    problem, shape = problem_from_proto(to_proto(day))
    assert shape == []
    assert problem.jobs[2].customer.phone == "+44 20 7946 0958"  # kept as written
    with pytest.raises(ProblemError) as caught:
        validate(problem, violations=shape)
    assert {v.field for v in caught.value.violations} == {"jobs[1].customer.phone", "technicians[0].phone"}


def test_new_jobs_and_technicians_of_a_replan_get_the_same_phone_check():
    day = with_phones("+13035550100", "+13035550101")
    events = [
        NewJob(job=replace(job("new", x=9), customer=Customer(phone="0612345678"))),
        TechnicianAdded(technician=replace(tech("b"), phone="+1 303 555 0102 ext. 5")),
        NewJob(job=replace(job("fine", x=8), customer=Customer(phone="+1 (303) 555-0103"))),
    ]
    with pytest.raises(ProblemError) as caught:
        apply_events(day, DayState(), events, now=0)
    assert {v.field: v.description.startswith(PHONE_RULE) for v in caught.value.violations} == {
        "events[0].new_job.customer.phone": True,
        "events[1].technician_added.phone": True,
    }
    after, _ = apply_events(day, DayState(), events[2:], now=0)
    assert after.jobs[-1].customer.phone == "+1 (303) 555-0103"


def test_a_bad_phone_is_invalid_argument_over_grpc_with_its_field(stub):
    day = small_day(jobs=4)
    day["plan_id"] = f"phones-{uuid.uuid4().hex[:8]}"
    day["jobs"][1]["customer"]["phone"] = "+1 303 555 0199 x123"
    for call, request, field in (
        (stub.Solve, to_proto(day), "jobs[1].customer.phone"),
        (stub.Validate, pb.ValidateRequest(request=to_proto(day)), "request.jobs[1].customer.phone"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call(request, timeout=30)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(err.value) == {field: f"{PHONE_RULE} (an extension cannot be texted)"}
    day["jobs"][1]["customer"]["phone"] = "+1 (303) 555-0199"
    plan = stub.Solve(to_proto(day), timeout=30).plan
    new_job = {"id": "late", "location": {"lat": 39.74, "lng": -104.99}, "customer": {"phone": "0612345678"}}
    replan = {
        "plan_id": plan.plan_id,
        "expected_version": str(plan.version),
        "time": "2026-03-02T17:00:00Z",  # two hours into small_day
        "events": [{"new_job": new_job}],
    }
    with pytest.raises(grpc.RpcError) as err:
        stub.Reoptimize(json_format.ParseDict(replan, pb.ReoptimizeRequest()), timeout=30)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(err.value)) == ["events[0].new_job.customer.phone"]
