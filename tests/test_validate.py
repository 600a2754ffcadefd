"""Validation names every bad field by its path, all at once."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dispatch.domain import ExplicitMatrix, Location, TimeWindow, TravelModel
from dispatch.errors import ProblemError
from dispatch.validate import validate
from tests.support.factories import HOUR, job, problem, tech


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
