"""The ``dispatch`` command: solve, validate and demo, with the exit codes of ``dispatch.cli``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dispatch.cli import EXAMPLE_DAY, main
from tests.support.console_requests import small_day


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
