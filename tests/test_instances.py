"""Benchmark readers (``benchmarks.instances``): parsing, DIMACS conversion, BKS lookup, a solve."""

from __future__ import annotations

import json
import math

import pytest
from google.protobuf import json_format

from benchmarks import instances as bi
from dispatch.bootstrap import bootstrap
from dispatch.check import check_plan
from dispatch.server.convert import problem_from_proto
from dispatch.v1 import dispatch_pb2

full_sets = pytest.mark.skipif(not bi.full_sets(), reason=f"only the bundled instances ({bi.BUNDLED_DIR})")


@pytest.fixture(scope="module")
def c101() -> bi.VrptwData:
    return bi.read_vrptw(bi.find_instance("C101").path)


@pytest.fixture(scope="module")
def c101_request(c101) -> dict:
    return bi.vrptw_request(c101, time_limit=1.0)


def to_proto(request: dict) -> dispatch_pb2.SolveRequest:
    return json_format.ParseDict(request, dispatch_pb2.SolveRequest())


def by_id(items: list[dict], ident: str) -> dict:
    return next(item for item in items if item["id"] == ident)


# ---------------------------------------------------------------------------- files and reader


@full_sets
def test_the_full_sets_are_listed_in_natural_order():
    assert len(bi.solomon_instances()) == 56
    assert len(bi.homberger_instances()) == 60
    assert len(bi.trsp_instances()) == 56  # README.txt is not an instance
    names = [i.name for i in bi.homberger_instances()][:3]
    assert names == ["C1_2_1", "C1_2_2", "C1_2_3"]  # natural order


@full_sets
def test_the_bundled_instances_are_copies_of_the_full_sets():
    bundled = sorted(p for p in bi.BUNDLED_DIR.rglob("*") if p.is_file() and p.name != "README.md")
    assert len(bundled) == 10
    for path in bundled:
        assert path.read_bytes() == (bi.benchmarks_dir() / path.relative_to(bi.BUNDLED_DIR)).read_bytes(), path


def test_the_bundled_instances_are_read_without_the_full_sets(monkeypatch):
    monkeypatch.setenv(bi.ENV_DIR, str(bi.BUNDLED_DIR))
    assert [i.name for i in bi.solomon_instances()] == ["C101", "R101", "RC101"]
    assert bi.bks("RC101") == 1619.8 and bi.bks("C1_2_1") == 2698.6
    assert bi.read_vrptw(bi.find_instance("c101").path).name == "C101"
    assert bi.reported("C101.100_25-5-5-5") is not None


def test_lookup_by_name():
    assert bi.find_instance("c101").kind == "solomon"
    assert bi.find_instance("c1_2_1").name == "C1_2_1"
    assert bi.find_instance("c101.100_25-5-5-5").kind == "trsp"
    with pytest.raises(KeyError):
        bi.find_instance("X999")


def test_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv(bi.ENV_DIR, str(tmp_path))
    assert bi.benchmarks_dir() == tmp_path
    assert bi.solomon_instances() == []
    assert bi.bks("C101") is None


def test_reader_parses_c101(c101):
    assert c101.name == "C101"
    assert (c101.vehicles, c101.capacity) == (25, 200)
    assert len(c101.customers) == 100
    assert c101.depot == bi.Site(x=40, y=50, demand=0, ready=0, due=1236, service=0)
    assert c101.sites[1] == bi.Site(x=45, y=68, demand=10, ready=912, due=967, service=90)
    assert c101.sites[100] == bi.Site(x=55, y=85, demand=20, ready=647, due=726, service=90)


def test_reader_homberger_lowercase_name_line():
    data = bi.read_vrptw(bi.find_instance("C1_2_1").path)
    assert data.name == "C1_2_1"
    assert (data.vehicles, data.capacity, len(data.customers)) == (50, 200, 200)


# ---------------------------------------------------------------------------- request


def test_request_parses_to_proto(c101_request):
    req = to_proto(c101_request)
    assert req.plan_id == "C101"
    assert len(req.technicians) == 25 and len(req.jobs) == 100
    assert req.options.travel_model == dispatch_pb2.EXPLICIT
    assert req.options.time_limit.seconds == 1
    assert req.travel_matrix.size == 101
    assert len(req.travel_matrix.durations_seconds) == len(req.travel_matrix.distances_meters) == 101 * 101
    v01 = req.technicians[0]
    assert v01.id == "v01" and v01.start_location.matrix_index == 0 and v01.end_location.matrix_index == 0
    assert dict(v01.parts) == {"capacity": 200}
    assert req.jobs[0].id == "c1" and req.jobs[0].location.matrix_index == 1
    assert dict(req.jobs[0].required_parts) == {"capacity": 10}
    assert req.jobs[0].priority == dispatch_pb2.NORMAL


def test_matrix_is_floor_ten_times_euclidean(c101, c101_request):
    m = c101_request["travel_matrix"]
    size = m["size"]
    # depot (40, 50) -> customer 1 (45, 68): sqrt(5^2 + 18^2) = 18.6815... -> 186
    assert m["distances_meters"][0 * size + 1] == 186
    assert m["durations_seconds"] == m["distances_meters"]  # travel time = distance
    for i, j in [(0, 1), (1, 2), (17, 93), (100, 0)]:
        a, b = c101.sites[i], c101.sites[j]
        assert m["distances_meters"][i * size + j] == math.floor(10 * math.dist((a.x, a.y), (b.x, b.y)))
        assert m["distances_meters"][i * size + j] == m["distances_meters"][j * size + i]
    assert all(m["distances_meters"][i * size + i] == 0 for i in range(size))


def test_times_are_scaled_by_ten(c101_request):
    assert c101_request["start_time"] == "2026-01-05T00:00:00Z"
    shift = c101_request["technicians"][0]["shift"]
    assert shift == {"start": "2026-01-05T00:00:00Z", "end": "2026-01-05T03:26:00Z"}  # 12360 s
    c1 = by_id(c101_request["jobs"], "c1")
    assert c1["time_windows"] == [{"start": "2026-01-05T02:32:00Z", "end": "2026-01-05T02:41:10Z"}]  # 9120, 9670 s
    assert c1["service_duration"] == "900s"


def test_fleet_argument_caps_the_vehicles(c101):
    assert len(bi.vrptw_request(c101, fleet=12)["technicians"]) == 12
    with pytest.raises(ValueError):
        bi.vrptw_request(c101, fleet=0)


def test_zero_demand_has_no_required_parts(c101):
    data = bi.VrptwData(c101.name, c101.vehicles, c101.capacity, (c101.depot, bi.Site(1, 1, 0, 0, 10, 5)))
    (job,) = bi.vrptw_request(data)["jobs"]
    assert "required_parts" not in job
    to_proto(bi.vrptw_request(data))


# ---------------------------------------------------------------------------- reference results


def test_bks_lookup():
    assert bi.bks("C101") == 827.3
    assert bi.bks("c101") == 827.3
    assert bi.bks("C1_2_1") == 2698.6
    assert bi.bks("C101", table="hierarchical") == 828.94
    assert bi.bks("X999") is None


def test_dimacs_cost_forms():
    assert bi.dimacs_cost(8273) == 827.3
    assert bi.dimacs_cost({"plan": {"stats": {"totalDistanceMeters": "8273"}}}) == 827.3
    assert bi.dimacs_cost({"stats": {"total_distance_meters": 8273}}) == 827.3


# ---------------------------------------------------------------------------- TRSP


def test_trsp_reader_and_request():
    inst = bi.find_instance("C101.100_25-5-5-5")
    data = bi.read_trsp(inst.path)
    assert (data.crew, data.skills, data.tools, data.part_types) == (25, 5, 5, 5)
    assert len(data.technicians) == 25 and len(data.requests) == 100
    tech = data.technicians[0]
    assert (tech.x, tech.y, tech.skills, tech.tools, tech.parts) == (9, 6, (1, 3, 4), (1, 2, 3), (3, 0, 4, 4, 0))
    assert bi.reported(inst.name) == (10717.516, 15)

    request = bi.trsp_request(data, time_limit=1.0)
    req = to_proto(request)
    assert len(req.technicians) == 25 and len(req.jobs) == 100 and req.travel_matrix.size == 126
    v01 = by_id(request["technicians"], "v01")
    assert v01["start_location"] == {"matrix_index": 1}
    assert v01["skills"] == ["skill1", "skill3", "skill4"] and v01["tools"] == ["tool1", "tool2", "tool3"]
    assert v01["parts"] == {"part0": 3, "part2": 4, "part3": 4}
    # Request 26 is Solomon customer 1: same job id, window and service as in the VRPTW request.
    c1 = by_id(request["jobs"], "c1")
    solomon_c1 = by_id(bi.vrptw_request(bi.read_vrptw(bi.find_instance("C101").path))["jobs"], "c1")
    assert c1["location"] == {"matrix_index": 26}
    assert (c1["time_windows"], c1["service_duration"]) == (solomon_c1["time_windows"], solomon_c1["service_duration"])
    assert c1["required_skills"] == ["skill4"] and c1["required_tools"] == []
    assert c1["required_parts"] == {"part0": 1, "part2": 1}


# ---------------------------------------------------------------------------- CLI and a solve


def test_cli_convert(tmp_path):
    out = tmp_path / "c101.json"
    assert bi.main(["convert", "c101", "--out", str(out), "--time-limit", "1", "--fleet", "25"]) == 0
    request = json.loads(out.read_text())
    assert request["options"] == {"time_limit": "1s", "travel_model": "EXPLICIT"}
    assert len(request["technicians"]) == 25
    to_proto(request)


def test_cli_unknown_instance(capsys):
    assert bi.main(["convert", "X999"]) == 2
    assert "X999" in capsys.readouterr().err


def solve_checked(request: dict):
    """Solve in process; assert the request is valid and the checker finds nothing."""

    service = bootstrap(pool=False)
    problem, shape = problem_from_proto(to_proto(request))
    assert shape == []
    plan = service.solve(problem, shape)
    checked, matrix = service.prepare(problem, [])
    assert check_plan(checked, matrix, plan) == []
    return plan


def test_solve_c101_near_bks(c101_request):
    plan = solve_checked(c101_request)
    assert len(plan.assigned_job_ids) == 100 and not plan.unassigned
    best = bi.bks("C101")
    assert best is not None
    assert plan.stats.total_distance <= 1.15 * best * bi.SCALE
    assert bi.dimacs_cost(plan) >= best - 1e-9  # proven optimal: nothing shorter exists


def test_solve_trsp_c101():
    request = bi.trsp_request(bi.read_trsp(bi.find_instance("C101.100_25-5-5-5").path), time_limit=1.0)
    plan = solve_checked(request)
    # Without depot restocking some requests may be unservable; in C101 every one is.
    assert len(plan.assigned_job_ids) + len(plan.unassigned) == 100
    assert len(plan.assigned_job_ids) >= 90
