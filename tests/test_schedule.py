"""The route timer's latest-start bound, which the quick re-planner prunes insertions with."""

from __future__ import annotations

import random

from dispatch.solver.schedule import RouteTimer
from dispatch.solver.screen import horizon
from tests.support.factories import HOUR, MIN, job, matrix_for, problem, tech


def random_day(rng: random.Random):
    techs = [
        tech(
            f"t{k}",
            home=rng.randrange(0, 150),
            shift=(rng.choice((0, HOUR)), rng.choice((5, 7, 9)) * HOUR),
            breaks=((2 * HOUR, 5 * HOUR, rng.choice((15, 30, 60)) * MIN),) if rng.random() < 0.5 else (),
        )
        for k in range(3)
    ]
    jobs = []
    for i in range(12):
        a = rng.randrange(0, 7) * HOUR
        windows = ((a, a + rng.choice((1, 2, 4)) * HOUR),)
        if rng.random() < 0.3:  # a second window later in the day
            windows += ((a + 5 * HOUR, a + 6 * HOUR),)
        jobs.append(job(f"j{i}", x=rng.randrange(0, 190), service=rng.choice((15, 45, 90)) * MIN, windows=windows))
    return problem(techs, jobs)


def test_no_feasible_timing_starts_a_visit_after_its_latest_start():
    rng = random.Random(5)
    feasible = tight = 0
    for _ in range(300):
        p = random_day(rng)
        m = matrix_for(p)
        timer = RouteTimer(p, m, horizon(p))
        v = rng.randrange(len(p.technicians))
        route = rng.sample(range(len(p.jobs)), rng.randint(1, 4))
        latest = timer.latest_starts(v, route)
        timing = timer.timing(v, route)
        if timing is None:
            continue
        feasible += 1
        assert all(start <= bound for start, bound in zip(timing.starts, latest, strict=True)), (route, latest)
        tight += any(bound < timer.last_start(j) for j, bound in zip(route, latest, strict=True))
    assert feasible >= 50
    assert tight >= 10  # the bound is tighter than the windows alone, or it would prune nothing
