"""How long drawing a big day takes: 50 technicians / 1,000 jobs, HTML and PNG (target: under 5 s).

Run with::

    .venv/bin/python -m pytest benchmarks/test_show.py --benchmark-enable

The plan is laid out directly (each technician takes 20 jobs in order of bearing from the city
centre, one after the other with 20 min drives): drawing does not care whether it is optimal,
only how many routes, stops and blocks there are, and a 1,000-job solve would take minutes.
"""

from __future__ import annotations

import math

import pytest
from google.protobuf import json_format

from dispatch.domain import Plan, Problem, Route, Visit
from dispatch.examples.generate import generate
from dispatch.server.convert import problem_from_proto
from dispatch.show import day_view
from dispatch.show import html as html_page
from dispatch.show import png as png_image
from dispatch.v1 import dispatch_pb2 as pb

DRIVE = 20 * 60


def big_day(technicians: int = 50, jobs: int = 1000) -> tuple[Problem, Plan]:
    request = json_format.ParseDict(generate(technicians=technicians, jobs=jobs, seed=11), pb.SolveRequest())
    problem, _ = problem_from_proto(request)
    lat0 = sum(j.location.lat for j in problem.jobs) / jobs
    lng0 = sum(j.location.lng for j in problem.jobs) / jobs
    order = sorted(problem.jobs, key=lambda j: math.atan2(j.location.lat - lat0, j.location.lng - lng0))
    per = math.ceil(jobs / technicians)
    routes = []
    for k, tech in enumerate(problem.technicians):
        t = tech.shift.start
        visits = []
        for job in order[k * per : (k + 1) * per]:
            arrival = t + DRIVE
            start = max(arrival, min((w.start for w in job.time_windows), default=arrival))
            t = start + job.service_duration
            visits.append(
                Visit(job_id=job.id, arrival=arrival, start=start, end=t, travel_duration=DRIVE, travel_distance=0)
            )
        routes.append(
            Route(
                technician_id=tech.id,
                start=tech.shift.start,
                end=t + DRIVE,
                visits=tuple(visits),
                return_travel_duration=DRIVE,
            )
        )
    return problem, Plan(plan_id="big", epoch=problem.epoch, version=1, routes=tuple(routes))


@pytest.fixture(scope="module")
def day():
    return big_day()


def test_html_of_a_50_by_1000_day(benchmark, day, tmp_path):
    problem, plan = day
    page = benchmark(lambda: html_page.render(day_view(plan, problem)))
    assert page.count('class="stop"') == 1000


def test_png_of_a_50_by_1000_day(benchmark, day, tmp_path):
    problem, plan = day
    path = tmp_path / "big.png"
    benchmark.pedantic(lambda: png_image.render(day_view(plan, problem), path), rounds=3, iterations=1)
    assert path.stat().st_size > 50_000
