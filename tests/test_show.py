"""``dispatch show`` and the demo's pictures: route map and timeline as HTML and PNG, no network."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from google.protobuf import json_format
from matplotlib import image

from dispatch.cli import EXAMPLE_DAY, main
from dispatch.cli.commands import _domain_plan, _domain_problem
from dispatch.cli.commands import _load_plan as load_plan
from dispatch.config import Settings
from dispatch.server.convert import plan_to_proto, problem_from_proto
from dispatch.service import PlanningService
from dispatch.show.progress import ProgressBar
from dispatch.show.view import day_view
from dispatch.solver.runner import InProcessRunner
from dispatch.v1 import dispatch_pb2 as pb


def write(path: Path, message) -> Path:
    path.write_text(json_format.MessageToJson(message, preserving_proto_field_name=True))
    return path


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example day solved (1 s), then re-planned with an emergency next to the first stop."""
    request = json_format.ParseDict(json.loads(EXAMPLE_DAY.read_text()), pb.SolveRequest())
    request.options.time_limit.FromSeconds(1)
    request.plan_id = "show-test"
    problem, shape = problem_from_proto(request)
    d = PlanningService(runner=InProcessRunner(), settings=Settings(reopt_time_limit=0.5))
    first = plan_to_proto(d.solve(problem, shape))
    where = next(j.location for j in request.jobs if j.id == first.routes[0].visits[-1].job_id)
    event = pb.ReoptimizeRequest(plan_id="show-test", expected_version=first.version)
    event.time.FromSeconds(request.start_time.seconds + 3600)
    emergency = event.events.add().new_job
    emergency.id = "SOS-1"
    emergency.location.lat, emergency.location.lng = where.lat + 0.002, where.lng
    emergency.service_duration.FromSeconds(1800)
    emergency.priority = pb.EMERGENCY
    emergency.required_skills.extend(request.jobs[0].required_skills)
    emergency.respond_within.FromSeconds(3 * 3600)
    from dispatch.server.convert import replan_from_proto  # noqa: PLC0415

    replan, _ = replan_from_proto(event)
    second = plan_to_proto(d.reoptimize(replan).plan)
    folder = tmp_path_factory.mktemp("show")
    events = folder / "events.json"
    sent = json_format.MessageToDict(event, preserving_proto_field_name=True)
    events.write_text(json.dumps({"time": sent["time"], "events": sent["events"]}))
    return request, first, second, folder, events


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG of the page, parsed (so each is well-formed)."""
    return [ET.fromstring(block) for block in re.findall(r"<svg.*?</svg>", html, flags=re.S)]


def test_the_page_and_the_image_show_every_technician_and_job(example, capsys):
    request, first, _, folder, _ = example
    html, png = folder / "day.html", folder / "day.png"
    args = ["show", str(write(folder / "plan.json", pb.SolveResponse(plan=first)))]
    args += ["--request", str(write(folder / "request.json", request)), "--html", str(html), "--png", str(png)]
    assert main([*args, "--tz", "America/Denver"]) == 0
    assert capsys.readouterr().out.split() == [str(html), str(png)]
    page = html.read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page  # opens offline
    map_svg, timeline = svgs(page)
    stops = {g.get("data-job") for g in map_svg.iter("g") if g.get("class") == "stop"}
    blocks = {r.get("data-job") for r in timeline.iter("rect") if r.get("data-job")}
    served = {v.job_id for r in first.routes for v in r.visits}
    assert stops == served and blocks == served
    for u in first.unassigned:  # apart, with their reasons
        assert f"<td>{u.job_id}" in page and pb.UnassignedReason.Name(u.reason) in page
    for route in first.routes:
        name = next(t.name for t in request.technicians if t.id == route.technician_id)
        assert name in page
    for svg in (map_svg, timeline):  # everything drawn lies inside its drawing
        width, height = float(svg.get("width")), float(svg.get("height"))
        for el in svg.iter():
            for key, limit in (("cx", width), ("x", width), ("cy", height), ("y", height)):
                if el.get(key) is not None:
                    assert 0 <= float(el.get(key)) <= limit, (el.tag, key, el.get(key))
    pixels = image.imread(png)
    assert pixels.shape[0] > 600 and pixels.shape[1] > 800
    assert pixels[..., :3].std() > 0.05  # not a blank image


def test_before_and_after_highlight_what_moved(example, capsys):
    request, first, second, folder, events = example
    html = folder / "moved.html"
    args = ["show", "--before", str(write(folder / "v1.json", first)), "--after"]
    args += [str(write(folder / "v2.json", pb.ReoptimizeResponse(plan=second))), "--request"]
    args += [str(write(folder / "request.json", request)), "--events", str(events)]
    assert main([*args, "--html", str(html), "--png", str(folder / "moved.png")]) == 0
    page = html.read_text()
    assert "What moved" in page and "SOS-1: newly assigned to" in page
    map_svg, timeline = svgs(page)
    assert "SOS-1" in {g.get("data-job") for g in map_svg.iter("g")}  # placed from the events file
    dashed = {r.get("data-job") for r in timeline.iter("rect") if r.get("stroke-dasharray")}
    view = day_view(_domain_plan(second), _domain_problem(request), before=_domain_plan(first))
    moved = {b.job_id for lane in view.lanes for b in lane.blocks if b.moved}
    assert "SOS-1" in moved and dashed == moved  # one dashed outline per moved visit
    assert len(re.findall(r"<li>", page)) == len(view.moves) >= len(moved)
    # Without the events file the new job has no place or priority, but is still on the timeline.
    sos = next(s for lane in view.lanes for s in lane.stops if s.job_id == "SOS-1")
    assert sos.point is None and not sos.emergency


def test_without_the_request_the_timeline_is_still_drawn(example):
    _, first, _, folder, _ = example
    html = folder / "bare.html"
    assert main(["show", str(write(folder / "bare.json", first)), "--html", str(html)]) == 0
    page = html.read_text()
    assert "No map" in page and len(svgs(page)) == 1


def test_an_emergency_from_an_event_is_placed_marked_and_timed_from_the_event(example, tmp_path):
    request, _, second, _, events = example
    from dispatch.cli.commands import _add_events, _read_events  # noqa: PLC0415

    day = pb.SolveRequest()
    day.CopyFrom(request)
    _add_events(day, _read_events(events))
    view = day_view(_domain_plan(second), _domain_problem(day))
    sos = next(s for lane in view.lanes for s in lane.stops if s.job_id == "SOS-1")
    block = next(b for lane in view.lanes for b in lane.blocks if b.job_id == "SOS-1" and b.kind == "work")
    assert sos.point is not None and sos.emergency and block.emergency
    due = request.start_time.seconds + 3600 + 3 * 3600  # called at +1 h, respond within 3 h
    assert max(b for _, b in block.windows) == due and not block.late


def test_bad_show_arguments_exit_2(tmp_path, capsys):
    assert main(["show", str(tmp_path / "missing.json"), "--html", str(tmp_path / "x.html")]) == 2
    assert "missing.json" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text('{"routes": 3}')
    assert main(["show", str(tmp_path / "junk.json"), "--png", str(tmp_path / "x.png")]) == 2
    assert main(["show", str(tmp_path / "junk.json")]) == 2
    assert "--html" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "x.png").exists()


def test_load_plan_reads_a_plan_or_any_response_holding_one(example, tmp_path):
    _, first, _, _, _ = example
    for message in (first, pb.SolveResponse(plan=first), pb.GetPlanResponse(plan=first)):
        assert load_plan(write(tmp_path / "p.json", message)) == first


def test_the_progress_bar_shows_the_best_cost_and_the_clock():
    out = io.StringIO()
    with ProgressBar(10, stream=out, enabled=True) as bar:
        bar.update(5000)
        bar.update(7000)  # not better: ignored
        bar.update(4200)
    last = out.getvalue().rstrip("\n").split("\r")[-1]
    assert "best cost 4,200" in last and "(2 improvements)" in last and "/10.0 s" in last
    quiet = io.StringIO()
    with ProgressBar(10, stream=quiet) as bar:  # not a terminal: nothing drawn
        bar.update(1)
    assert quiet.getvalue() == ""


def test_solve_with_progress_draws_the_bar_on_stderr(tmp_path, capsys):
    request = json.loads(EXAMPLE_DAY.read_text())
    path = tmp_path / "day.json"
    path.write_text(json.dumps(request))
    assert main(["solve", str(path), "--time-limit", "1", "--progress"]) == 0
    err = capsys.readouterr().err
    assert "/1.0 s" in err and int(re.findall(r"\((\d+) improvements\)", err)[-1]) >= 1


def test_solve_on_a_server_with_progress_follows_the_solve_stream(server, tmp_path, capsys):
    path = tmp_path / "day.json"
    path.write_text(EXAMPLE_DAY.read_text())
    out = tmp_path / "plan.json"
    args = ["solve", str(path), "--server", f"127.0.0.1:{server.port}", "--time-limit", "1", "--progress"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "jobs assigned" in captured.out
    assert int(re.findall(r"\((\d+) improvements\)", captured.err)[-1]) >= 1  # progress came through the stream
    assert load_plan(out).stats.jobs_assigned > 0
