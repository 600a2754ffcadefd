"""The side-by-side benchmark runner: other solvers' routes become our plans, checked like ours."""

from __future__ import annotations

import csv

import pytest
from google.protobuf import json_format

from benchmarks.instances import find_instance, read_vrptw, vrptw_request
from benchmarks.side_by_side import main, plan_from_sequences
from dispatch.bootstrap import bootstrap
from dispatch.check import check_plan
from dispatch.server.convert import problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb


@pytest.fixture(scope="module")
def c101():
    """Solomon C101 at 1 s: our plan, and the problem and matrix it was checked against."""
    request = vrptw_request(read_vrptw(find_instance("C101").path), time_limit=1.0)
    service = bootstrap(pool=False)
    problem, shape = problem_from_proto(json_format.ParseDict(request, pb.SolveRequest()))
    plan = service.solve(problem, shape)
    problem, matrix = service.prepare(problem)
    return problem, matrix, plan


def test_rebuilt_sequences_of_a_feasible_plan_are_feasible_with_the_same_cost(c101):

    problem, matrix, plan = c101
    rebuilt = plan_from_sequences(problem, matrix, [[v.job_id for v in r.visits] for r in plan.routes])
    assert check_plan(problem, matrix, rebuilt) == []
    assert rebuilt.stats.total_distance == plan.stats.total_distance
    assert not rebuilt.unassigned


def test_a_swap_that_breaks_windows_and_a_lost_job_are_caught(c101):

    problem, matrix, plan = c101
    sequences = [[v.job_id for v in r.visits] for r in plan.routes]
    longest = max(sequences, key=len)
    longest[0], longest[-1] = longest[-1], longest[0]
    lost = sequences[0].pop()
    rebuilt = plan_from_sequences(problem, matrix, sequences)
    codes = {v.code for v in check_plan(problem, matrix, rebuilt)}
    assert "TIME_WINDOW" in codes
    assert [u.job_id for u in rebuilt.unassigned] == [lost]


def test_the_runner_compares_the_three_solvers_on_one_instance(tmp_path):

    out = tmp_path / "smoke"
    assert main(["--instances", "C101", "--time-limit", "1", "--jobs", "2", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert [r["solver"] for r in rows] == ["ours", "pyvrp", "vroom"]
    assert all(r["feasible"] == "True" for r in rows), rows
    assert all(float(r["gap_pct"]) < 10 for r in rows)
    assert "| ours |" in out.with_suffix(".md").read_text()
