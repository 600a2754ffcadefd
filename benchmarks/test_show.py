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

from dispatch.examples.generate import generate
from dispatch.show import day_view
from dispatch.show import html as html_page
from dispatch.show import png as png_image
from dispatch.v1 import dispatch_pb2 as pb

DRIVE = 20 * 60


def big_day(technicians: int = 50, jobs: int = 1000) -> tuple[pb.SolveRequest, pb.Plan]:
    request = json_format.ParseDict(generate(technicians=technicians, jobs=jobs, seed=11), pb.SolveRequest())
    lat0 = sum(j.location.lat for j in request.jobs) / jobs
    lng0 = sum(j.location.lng for j in request.jobs) / jobs
    order = sorted(request.jobs, key=lambda j: math.atan2(j.location.lat - lat0, j.location.lng - lng0))
    per = math.ceil(jobs / technicians)
    plan = pb.Plan(plan_id="big", version=1, start_time=request.start_time)
    for k, tech in enumerate(request.technicians):
        route = plan.routes.add(technician_id=tech.id)
        t = tech.shift.start.seconds
        route.start.FromSeconds(t)
        for job in order[k * per : (k + 1) * per]:
            visit = route.visits.add(job_id=job.id)
            visit.travel_duration.FromSeconds(DRIVE)
            visit.arrival.FromSeconds(t + DRIVE)
            opens = min((w.start.seconds for w in job.time_windows), default=t + DRIVE)
            visit.start.FromSeconds(max(t + DRIVE, opens))
            t = visit.start.seconds + job.service_duration.seconds
            visit.end.FromSeconds(t)
        route.return_travel_duration.FromSeconds(DRIVE)
        route.end.FromSeconds(t + DRIVE)
    plan.stats.jobs_assigned = jobs
    return request, plan


@pytest.fixture(scope="module")
def day():
    return big_day()


def test_html_of_a_50_by_1000_day(benchmark, day, tmp_path):
    request, plan = day
    page = benchmark(lambda: html_page.render(day_view(plan, request)))
    assert page.count('class="stop"') == 1000


def test_png_of_a_50_by_1000_day(benchmark, day, tmp_path):
    request, plan = day
    path = tmp_path / "big.png"
    benchmark.pedantic(lambda: png_image.render(day_view(plan, request), path), rounds=3, iterations=1)
    assert path.stat().st_size > 50_000
