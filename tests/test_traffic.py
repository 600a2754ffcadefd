"""Traffic buckets without Google: a road whose every drive is 3 x slower from the second hour on."""

from __future__ import annotations

import numpy as np

from dispatch.check import check_plan
from dispatch.domain import UnassignedReason
from dispatch.matrix import ExplicitProvider, day_matrix
from dispatch.solver import solve
from dispatch.solver.retime import label, retime
from tests.support.factories import EPOCH, HOUR, MIN, job, problem, tech


class RushRoad(ExplicitProvider):
    """The test road, 3 x slower for departures from ``EPOCH + 1 h`` on."""

    name = "rush_road"
    knows_traffic = True

    def matrix(self, origins, destinations, departure=None, *, deadline=None, report=None):
        durations, distances = super().matrix(origins, destinations)
        if departure is not None and departure >= EPOCH + HOUR:
            durations = durations * 3
        return durations, distances


def day():
    return problem(
        [tech("t", shift=(0, 6 * HOUR))],
        [
            # expected to be left at 15 + 40 = 55 min (fast hour); really left at 70 min (slow)
            job("a", x=30, service=40 * MIN, windows=((0, 30 * MIN),)),
            job("b", x=60, service=10 * MIN, windows=((90 * MIN, 110 * MIN),)),
        ],
    )


def test_the_chosen_routes_are_retimed_with_the_traffic_of_their_departures():
    p = day()
    matrix = day_matrix(p, RushRoad(p.travel_matrix), traffic=True, bucket=HOUR)
    assert matrix.traffic is not None and len(matrix.traffic.starts) == 6
    assert matrix.duration(matrix.job_point(0), matrix.job_point(1)) == 30 * MIN  # row a: the fast hour, expected
    plan = solve(p, matrix.for_solver(), time_limit=1)
    assert set(plan.assigned_job_ids) == {"a", "b"}  # feasible with the expected departures
    plan, final = retime(p, matrix, plan)
    # a is really left at 70 min: a -> b takes 90 min, b's window (until 110 min) is gone
    assert final.duration(final.job_point(0), final.job_point(1)) == 90 * MIN
    assert plan.assigned_job_ids == ("a",) or set(plan.assigned_job_ids) == {"a"}
    dropped = {u.job_id: u for u in plan.unassigned}
    assert dropped["b"].reason is UnassignedReason.CAPACITY_EXHAUSTED and "traffic" in dropped["b"].detail
    assert check_plan(p, final, plan) == []  # exact along the routes: the checker agrees
    labelled = label(p, final, plan)
    sources = [v.travel_source for r in labelled.routes for v in r.visits]
    assert sources == ["rush_road traffic Mon 15:00Z"]  # the start is left at 15:00Z (EPOCH)
    assert labelled.routes[0].return_travel_source == "rush_road traffic Mon 16:00Z"
    assert labelled.stats.travel_source == "rush_road traffic"


def test_without_traffic_the_matrix_is_static_and_retime_changes_nothing():
    p = day()
    matrix = day_matrix(p, RushRoad(p.travel_matrix))
    assert matrix.traffic is None
    plan = solve(p, matrix, time_limit=1)
    again, same = retime(p, matrix, plan)
    assert again is plan and same is matrix
    assert np.array_equal(matrix.durations, day_matrix(p, ExplicitProvider(p.travel_matrix)).durations)


def test_validate_times_a_traffic_plan_with_its_own_departures():
    from dataclasses import replace  # noqa: PLC0415

    from dispatch.config import Settings  # noqa: PLC0415
    from dispatch.domain import SolveOptions, TravelModel  # noqa: PLC0415
    from dispatch.service import PlanningService  # noqa: PLC0415
    from dispatch.solver.runner import InProcessRunner  # noqa: PLC0415

    p = day()
    p = replace(p, options=SolveOptions(time_limit=1, travel_model=TravelModel.EXPLICIT, traffic=True))
    service = PlanningService(runner=InProcessRunner(), settings=Settings())
    service.provider = lambda problem: RushRoad(problem.travel_matrix)  # type: ignore[method-assign]
    plan = service.solve(p)
    assert set(plan.assigned_job_ids) == {"a"} and not plan.stats.warnings
    assert service.check(p, plan) == []
    stranger = replace(plan, routes=(replace(plan.routes[0], technician_id="nobody"),))
    assert [v.code for v in service.check(p, stranger)]  # reported, not a crash
