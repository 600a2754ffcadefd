"""The ``dispatch`` command: solve, validate, suggest and demo, with the exit codes of ``dispatch.cli``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format

from dispatch.cli import EXAMPLE_DAY, main
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import burst_pipe, small_day, to_proto

NOW = "2026-03-02T17:00:00Z"  # two hours into small_day


@pytest.fixture
def day_file(tmp_path: Path) -> Path:
    path = tmp_path / "day.json"
    path.write_text(json.dumps(small_day(jobs=6)))
    return path


def test_solve_prints_a_summary_writes_the_response_and_validate_accepts_it(day_file, tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["solve", str(day_file), "--out", str(out), "--time-limit", "1", "--tz", "America/Denver"]) == 0
    printed = capsys.readouterr().out
    assert "Mike" in printed and "Rosa" in printed and "6 jobs assigned, 0 unassigned" in printed
    response = json.loads(out.read_text())
    assert (
        response["plan"]["plan_id"] == "small-day" and int(response["plan"]["version"]) == 1
    )  # int64: a string in JSON
    assert sum(len(r.get("visits", [])) for r in response["plan"]["routes"]) == 6
    assert main(["validate", str(day_file), str(out)]) == 0
    assert "feasible" in capsys.readouterr().out


def test_validate_names_what_a_tampered_plan_breaks(day_file, tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["solve", str(day_file), "--out", str(out), "--time-limit", "1"]) == 0
    response = json.loads(out.read_text())
    visit = response["plan"]["routes"][0]["visits"][0]
    visit["end"] = visit["start"]  # a zero-minute service call
    out.write_text(json.dumps(response))
    capsys.readouterr()
    assert main(["validate", str(day_file), str(out)]) == 2
    assert "SERVICE: lasts 0 s" in capsys.readouterr().out


def test_an_invalid_request_prints_every_bad_field_and_exits_2(tmp_path, capsys):
    day = small_day(jobs=2)
    day["jobs"][1]["time_windows"][0]["end"] = "2026-03-02T10:00:00Z"
    day["jobs"][0]["pinned_technician_id"] = "ghost"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(day))
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    assert "jobs[1].time_windows[0]: end before start" in err
    assert "jobs[0].pinned_technician_id: unknown technician 'ghost'" in err


def test_unreadable_or_non_protobuf_json_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"technicians": [{"idd": "x"}]}')
    assert main(["solve", str(path)]) == 2
    assert "idd" in capsys.readouterr().err
    assert main(["solve", str(tmp_path / "missing.json")]) == 2


def test_the_readme_run_command_plans_the_example_day(tmp_path):
    """``dispatch demo`` as the console script, with a short search: plans, draws, says where."""
    exe = Path(sys.executable).parent / "dispatch"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dispatch.cli"]
    result = subprocess.run(
        [*cmd, "demo", "--time-limit", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert EXAMPLE_DAY.name in result.stdout
    assert "jobs assigned" in result.stdout and "(America/Denver)" in result.stdout
    for name in ("plan.html", "plan.png"):
        path = tmp_path / "dispatch-demo" / name
        assert str(path) in result.stdout and path.stat().st_size > 10_000


# ---------------------------------------------------------------- dispatch suggest (against the session server)


@pytest.fixture(scope="module")
def live_plan(stub, server) -> tuple[str, pb.Plan]:
    """The session server's address and a small day it planned (suggest stores nothing: shared)."""
    day = small_day(jobs=6, time_limit="0.5s")
    day["plan_id"] = "cli-suggest-day"
    return f"127.0.0.1:{server.port}", stub.Solve(to_proto(day), timeout=30).plan


def _job_file(tmp_path: Path, job: object, name: str = "job.json") -> Path:
    path = tmp_path / name
    path.write_text(job if isinstance(job, str) else json.dumps(job))
    return path


def _rows(printed: str) -> dict[str, str]:
    """The table's rows by technician id."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "technician"]) + 1
    return {line.split()[1]: line for line in lines[start:] if line.strip() and line.split()[0].isdigit()}


def test_suggest_lists_only_the_qualified_technicians_and_writes_the_response(live_plan, tmp_path, capsys):
    address, plan = live_plan
    job = _job_file(tmp_path, burst_pipe())  # plumbing: Rosa only
    out = tmp_path / "options.json"
    argv = ["suggest", plan.plan_id, str(job), "--server", address, "--time", NOW, "--max", "3"]
    assert main([*argv, "--out", str(out), "--tz", "America/Denver"]) == 0
    printed = capsys.readouterr().out
    assert f"Plan {plan.plan_id} v{plan.version}: who can take job burst (times America/Denver)" in printed
    rows = _rows(printed)
    assert set(rows) == {"rosa"}
    cells = rows["rosa"].split()
    assert cells[0] == "1" and cells[2] >= "10:00" and cells[3] <= cells[2]  # 17:00Z is 10:00 in Denver
    response = json_format.Parse(out.read_text(), pb.SuggestTechniciansResponse())
    assert response.plan_id == plan.plan_id and response.plan_version == plan.version
    [option] = response.options
    assert option.technician_id == "rosa" and option.feasible and option.note in rows["rosa"]
    assert cells[4:6] == [f"{round(option.added_travel.seconds / 60):+d}", "min"]
    assert cells[6:9] == [str(len(option.displaced)), str(len(option.newly_unassigned)), str(option.promises_broken)]


def test_suggest_shows_an_infeasible_option_with_dashes_and_its_note(live_plan, tmp_path, capsys):
    address, plan = live_plan
    # No skill asked: both qualify; only Mike's van carries the filter.
    job = {"id": "filter-swap", "location": {"lat": 39.74, "lng": -104.99}, "service_duration": "1200s"}
    job["required_parts"] = {"filter_16x25": 1}
    assert main(["suggest", plan.plan_id, str(_job_file(tmp_path, job)), "--server", address, "--time", NOW]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["mike"].split()[0] == "1" and "—" not in rows["mike"]
    assert rows["rosa"].split()[:2] == ["2", "rosa"] and rows["rosa"].count("—") == 6
    assert "the van lacks filter_16x25" in rows["rosa"]


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('{"id": "x",\n "service_duration": }', "line 2 column"),  # not JSON
        ('[{"id": "x"}]', "expected one Job"),
        ({"id": "x", "service_duraton": "600s"}, "service_duraton"),  # not a Job field
        ({"id": "x", "service_duration": "ten minutes"}, "Job.service_duration"),
        ({"id": "x", "priority": "URGENT"}, "Job.priority"),
        # Parses, but the server refuses it: every field violation printed.
        ({"id": "x", "location": {"lat": 200, "lng": -104.99}, "service_duration": "-60s"}, "job.location.lat"),
    ],
    ids=["not-json", "not-an-object", "unknown-field", "bad-duration", "bad-enum", "server-violations"],
)
def test_suggest_a_malformed_job_file_exits_2_naming_the_field(live_plan, tmp_path, capsys, content, named):
    address, plan = live_plan
    path = _job_file(tmp_path, content)
    assert main(["suggest", plan.plan_id, str(path), "--server", address, "--time", NOW]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    if named == "job.location.lat":
        assert err.startswith("invalid request:") and "job.service_duration" in err


def test_suggest_a_missing_file_or_bad_options_exit_2_before_calling(tmp_path, capsys):
    job = _job_file(tmp_path, burst_pipe())
    unreachable = ["--server", "127.0.0.1:9"]  # never called: each is refused first
    assert main(["suggest", "p", str(tmp_path / "missing.json"), *unreachable]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["suggest", "p", str(job), *unreachable, "--time", "noon"]) == 2
    assert "--time" in capsys.readouterr().err
    assert main(["suggest", "p", str(job), *unreachable, "--max", "0"]) == 2
    assert "--max" in capsys.readouterr().err
    assert main(["suggest", "p", str(job), *unreachable, "--tz", "Mars/Olympus"]) == 2
    assert "--tz" in capsys.readouterr().err


def test_suggest_an_unknown_plan_or_a_stale_version_exits_1(live_plan, tmp_path, capsys):
    address, plan = live_plan
    job = str(_job_file(tmp_path, burst_pipe()))
    assert main(["suggest", "no-such-plan", job, "--server", address, "--time", NOW]) == 1
    err = capsys.readouterr().err
    assert "NOT_FOUND" in err and "no-such-plan" in err
    stale = ["--expected-version", str(plan.version + 1)]
    assert main(["suggest", plan.plan_id, job, "--server", address, "--time", NOW, *stale]) == 1
    assert "ABORTED" in capsys.readouterr().err


def test_slots_prints_the_windows_that_fit_and_writes_the_response(live_plan, tmp_path, capsys):
    address, plan = live_plan
    job = {"id": "tune-up", "location": {"lat": 39.74, "lng": -104.99}, "service_duration": "1800s"}
    out = tmp_path / "slots.json"
    argv = ["slots", plan.plan_id, str(_job_file(tmp_path, job)), "--server", address, "--time", NOW]
    assert main([*argv, "--slot-length", "90m", "--max", "4", "--out", str(out), "--tz", "America/Denver"]) == 0
    printed = capsys.readouterr().out
    assert f"Plan {plan.plan_id} v{plan.version}: slots for job tune-up (times America/Denver)" in printed
    response = json_format.Parse(out.read_text(), pb.SuggestSlotsResponse())
    assert 0 < len(response.options) <= 4
    for o in response.options:
        assert o.window.end.seconds - o.window.start.seconds == 90 * 60
        assert o.window.start.seconds <= o.start.seconds <= o.window.end.seconds
    assert (
        main(["slots", plan.plan_id, str(_job_file(tmp_path, job)), "--slot-length", "soon", "--server", "127.0.0.1:9"])
        == 2
    )
    assert "--slot-length" in capsys.readouterr().err
