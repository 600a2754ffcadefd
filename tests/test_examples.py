"""The bundled example day and the generator behind it.

``metro_day.json``: Denver, 8 technicians (3 HVAC, 3 plumbing, 2 electrical), 60 jobs with 2-4 hour
windows, lunch breaks, two emergencies to be reached within the hour, pinned follow-ups.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from google.protobuf import json_format

from dispatch.bootstrap import bootstrap
from dispatch.cli import EXAMPLE_DAY
from dispatch.examples.generate import generate
from dispatch.server.convert import problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.factories import assert_feasible


def solve_request(day: dict, time_limit: str = "3s"):
    day = {**day, "options": {**day["options"], "time_limit": time_limit}}
    request = json_format.ParseDict(day, pb.SolveRequest())
    service = bootstrap(pool=False)
    problem, shape = problem_from_proto(request)
    plan = service.solve(problem, shape)
    checked, matrix = service.prepare(problem)
    assert_feasible(checked, matrix, plan)
    return checked, plan


@pytest.fixture(scope="module")
def example() -> dict:
    return json.loads(EXAMPLE_DAY.read_text())


def test_the_bundled_day_is_what_the_generator_makes(example):
    assert example == generate(technicians=8, jobs=60, seed=7)


def test_the_example_day_is_a_realistic_crew(example):
    trades = Counter(t["skills"][0] for t in example["technicians"])
    assert trades == {"hvac": 3, "plumbing": 3, "electrical": 2}
    assert len(example["jobs"]) == 60
    assert sum(j["priority"] == "EMERGENCY" for j in example["jobs"]) == 2
    assert all(t["breaks"] for t in example["technicians"])
    assert any(j.get("pinned_technician_id") for j in example["jobs"])


def test_every_job_is_planned_or_has_a_reason_and_emergencies_come_within_the_hour(example):
    problem, plan = solve_request(example)
    listed = [*plan.assigned_job_ids, *(u.job_id for u in plan.unassigned)]
    assert sorted(listed) == sorted(j.id for j in problem.jobs)
    assert all(u.detail for u in plan.unassigned)
    starts = {v.job_id: v.start for r in plan.routes for v in r.visits}
    for job in problem.jobs:
        if job.respond_within is not None:
            assert job.id in starts, "an emergency reachable within the hour was dropped"
            assert starts[job.id] <= job.respond_within <= 3600
    assert len(plan.assigned_job_ids) >= 50


def test_a_skill_nobody_has_leaves_only_that_job_unassigned():
    day = generate(technicians=3, jobs=12, seed=3)
    day["jobs"][4]["required_skills"] = ["solar_pv"]
    problem, plan = solve_request(day, "2s")
    reasons = {u.job_id: u for u in plan.unassigned}
    odd = day["jobs"][4]["id"]
    assert reasons[odd].reason.name == "NO_QUALIFIED_TECHNICIAN" and "solar_pv" in reasons[odd].detail
    others = solve_request({**day, "jobs": day["jobs"][:4] + day["jobs"][5:]}, "2s")[1]
    assert len(plan.assigned_job_ids) == len(others.assigned_job_ids)


def test_generated_days_scale_and_parse():
    day = generate(technicians=50, jobs=1000, seed=1)
    assert len(day["technicians"]) == 50 and len({j["id"] for j in day["jobs"]}) == 1000
    problem, shape = problem_from_proto(json_format.ParseDict(day, pb.SolveRequest()))
    assert shape == []
    bootstrap(pool=False).prepare(problem)  # valid
