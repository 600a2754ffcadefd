"""The independent checker catches every kind of broken plan.

Each test takes a feasible plan of a small named day, plants one fault and expects
the checker to name it by code (and technician/job where it applies).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from dispatch.check import check_plan
from dispatch.domain import Plan, Priority, Route, ScheduledBreak, Unassigned, UnassignedReason, Visit
from tests.support.factories import HOUR, MIN, job, matrix_for, problem, route_of, solve_checked, tech


@pytest.fixture(scope="module")
def day():
    """Two technicians at 0 and 100 on the road; five jobs, one needing a ladder, a lunch break for Ann."""
    p = problem(
        [
            tech(
                "ann",
                home=0,
                skills=("hvac",),
                tools=("ladder",),
                parts={"filter": 1},
                breaks=((3 * HOUR, 5 * HOUR, 30 * MIN),),
            ),
            tech("bob", home=100, skills=("plumbing",)),
        ],
        [
            job("a1", x=10, skills=("hvac",), parts={"filter": 1}, windows=((0, 2 * HOUR),)),
            job("a2", x=20, skills=("hvac",), tools=("ladder",)),
            job("a3", x=30, skills=("hvac",), windows=((4 * HOUR, 6 * HOUR),)),
            job("b1", x=90, skills=("plumbing",), windows=((HOUR, 3 * HOUR),)),
            job("b2", x=80, skills=("plumbing",), respond_within=2 * HOUR),
        ],
    )
    return p, matrix_for(p), solve_checked(p)


def codes(day, plan: Plan) -> set[str]:
    p, m, _ = day
    return {v.code for v in check_plan(p, m, plan)}


def with_route(plan: Plan, route: Route) -> Plan:
    return replace(plan, routes=tuple(route if r.technician_id == route.technician_id else r for r in plan.routes))


def shift_visit(route: Route, job_id: str, delta: int) -> Route:
    visits = tuple(
        replace(v, arrival=v.arrival + delta, start=v.start + delta, end=v.end + delta) if v.job_id == job_id else v
        for v in route.visits
    )
    return replace(route, visits=visits)


def test_the_solved_day_is_feasible(day):
    p, m, plan = day
    assert check_plan(p, m, plan) == []
    assert len(plan.assigned_job_ids) == 5


def test_a_job_missing_from_the_plan(day):
    _, _, plan = day
    ann = route_of(plan, "ann")
    dropped = replace(ann, visits=ann.visits[1:])
    assert "MISSING_JOB" in codes(day, with_route(plan, dropped))


def test_a_job_listed_twice_and_an_unknown_job(day):
    _, _, plan = day
    extra = (
        Unassigned(job_id="a1", reason=UnassignedReason.CAPACITY_EXHAUSTED),
        Unassigned(job_id="ghost", reason=UnassignedReason.CAPACITY_EXHAUSTED),
    )
    assert {"DUPLICATE_JOB", "UNKNOWN_JOB"} <= codes(day, replace(plan, unassigned=extra))


def test_a_route_for_an_unknown_or_repeated_technician(day):
    _, _, plan = day
    ann = route_of(plan, "ann")
    assert "UNKNOWN_TECHNICIAN" in codes(day, replace(plan, routes=(*plan.routes, replace(ann, technician_id="zed"))))
    assert "DUPLICATE_ROUTE" in codes(day, replace(plan, routes=(*plan.routes, ann)))


def test_a_job_given_to_a_technician_without_the_skill_or_tool(day):
    _, _, plan = day
    ann, bob = route_of(plan, "ann"), route_of(plan, "bob")
    a2 = next(v for v in ann.visits if v.job_id == "a2")
    moved = replace(bob, visits=(*bob.visits, a2))
    found = check_plan(day[0], day[1], with_route(plan, moved))
    assert {("SKILLS", "bob", "a2"), ("TOOLS", "bob", "a2")} <= {(v.code, v.technician_id, v.job_id) for v in found}


def test_a_pinned_job_on_another_technician():
    p = problem([tech("ann"), tech("bob")], [job("j", x=5, pinned="bob")])
    m = matrix_for(p)
    plan = solve_checked(p)
    bob = route_of(plan, "bob")
    assert bob is not None
    wrong = replace(plan, routes=(replace(bob, technician_id="ann"),))
    assert "PINNED" in {v.code for v in check_plan(p, m, wrong)}


def test_parts_beyond_the_van_stock():
    p = problem([tech("ann", parts={"filter": 1})], [job("j", x=5, parts={"filter": 2})])
    m = matrix_for(p)
    visit = Visit(
        job_id="j", arrival=5 * MIN, start=5 * MIN, end=35 * MIN, travel_duration=5 * MIN, travel_distance=5000
    )
    route = Route(
        technician_id="ann",
        start=0,
        end=40 * MIN,
        visits=(visit,),
        return_travel_duration=5 * MIN,
        return_distance=5000,
    )
    plan = Plan(plan_id="test", epoch=p.epoch, routes=(route,))
    plan = replace(plan, stats=replace(plan.stats, total_travel_duration=600, total_distance=10_000))
    assert {v.code for v in check_plan(p, m, plan)} == {"PARTS"}


def test_a_visit_outside_its_windows_or_too_late_for_its_response(day):
    _, _, plan = day
    ann = route_of(plan, "ann")
    a1 = next(v for v in ann.visits if v.job_id == "a1")
    late = shift_visit(ann, "a1", 2 * HOUR + 1 - a1.start)  # window ends at 2:00
    assert "TIME_WINDOW" in codes(day, with_route(plan, late))
    bob = route_of(plan, "bob")
    b2 = next(v for v in bob.visits if v.job_id == "b2")
    slow = shift_visit(bob, "b2", 2 * HOUR + 1 - b2.start)
    assert "RESPOND_WITHIN" in codes(day, with_route(plan, slow))


def test_a_shortened_service(day):
    _, _, plan = day
    bob = route_of(plan, "bob")
    short = replace(bob, visits=tuple(replace(v, end=v.end - 60) for v in bob.visits))
    assert "SERVICE" in codes(day, with_route(plan, short))


def test_leaving_before_the_shift_and_returning_after_it(day):
    _, _, plan = day
    bob = route_of(plan, "bob")
    assert "SHIFT" in codes(day, with_route(plan, replace(bob, start=-1)))
    assert "SHIFT" in codes(day, with_route(plan, replace(bob, end=9 * HOUR + 1)))


def test_travel_figures_that_are_not_the_matrix(day):
    _, _, plan = day
    bob = route_of(plan, "bob")
    first = replace(bob.visits[0], travel_duration=bob.visits[0].travel_duration - 1)
    assert "TRAVEL" in codes(day, with_route(plan, replace(bob, visits=(first, *bob.visits[1:]))))
    assert "TRAVEL" in codes(day, with_route(plan, replace(bob, return_distance=bob.return_distance + 1)))


def test_no_time_to_drive_between_stops(day):
    _, _, plan = day
    bob = route_of(plan, "bob")
    second = bob.visits[1]
    gap = second.start - bob.visits[0].end - second.travel_duration
    rushed = shift_visit(bob, second.job_id, -(gap + 60))
    assert "SCHEDULE" in codes(day, with_route(plan, rushed))
    assert "SCHEDULE" in codes(day, with_route(plan, replace(bob, end=bob.visits[-1].end)))


def test_breaks_missing_misplaced_or_overlapping_a_service(day):
    _, _, plan = day
    ann = route_of(plan, "ann")
    assert len(ann.breaks) == 1
    assert "BREAK" in codes(day, with_route(plan, replace(ann, breaks=())))
    early = ScheduledBreak(start=HOUR, end=HOUR + 30 * MIN)  # window opens at 3:00
    assert "BREAK" in codes(day, with_route(plan, replace(ann, breaks=(early,))))
    v = ann.visits[0]
    during = ScheduledBreak(start=v.start, end=v.start + 30 * MIN)
    found = codes(day, with_route(plan, replace(ann, breaks=(*ann.breaks, during))))
    assert "BREAK" in found


def test_a_break_that_leaves_no_time_to_drive():
    """Ann must drive 60 min to the job at 60 and rest 30 min; leaving at 0 she cannot start at 1:00."""
    p = problem([tech("ann", breaks=((0, 2 * HOUR, 30 * MIN),))], [job("j", x=60)])
    m = matrix_for(p)
    visit = Visit(
        job_id="j", arrival=HOUR, start=HOUR, end=HOUR + 30 * MIN, travel_duration=HOUR, travel_distance=60_000
    )
    route = Route(
        technician_id="ann",
        start=0,
        end=3 * HOUR,
        visits=(visit,),
        breaks=(ScheduledBreak(start=10 * MIN, end=40 * MIN),),
        return_travel_duration=HOUR,
        return_distance=60_000,
    )
    plan = Plan(plan_id="test", epoch=p.epoch, routes=(route,))
    plan = replace(plan, stats=replace(plan.stats, total_travel_duration=2 * HOUR, total_distance=120_000))
    assert {v.code for v in check_plan(p, m, plan)} == {"SCHEDULE"}


def test_unassigned_reasons_the_request_contradicts(day):
    _, _, plan = day
    ann = route_of(plan, "ann")
    without_a2 = with_route(plan, replace(ann, visits=tuple(v for v in ann.visits if v.job_id != "a2")))
    for reason in (UnassignedReason.NO_QUALIFIED_TECHNICIAN, UnassignedReason.PARTS_UNAVAILABLE):
        lying = replace(without_a2, unassigned=(Unassigned(job_id="a2", reason=reason),))
        assert "REASON" in codes(day, lying)


def test_an_emergency_dropped_while_a_technician_had_room():
    p = problem([tech("ann")], [job("sos", x=10, priority=Priority.EMERGENCY, respond_within=HOUR)])
    m = matrix_for(p)
    plan = Plan(
        plan_id="test",
        epoch=p.epoch,
        unassigned=(Unassigned(job_id="sos", reason=UnassignedReason.CAPACITY_EXHAUSTED),),
    )
    found = check_plan(p, m, plan)
    assert [(v.code, v.technician_id) for v in found] == [("EMERGENCY_DROPPED", "ann")]


def test_an_emergency_that_really_does_not_fit_is_not_flagged():
    p = problem([tech("ann")], [job("sos", x=90, priority=Priority.EMERGENCY, respond_within=HOUR)])
    plan = solve_checked(p)
    assert plan.unassigned[0].reason is UnassignedReason.NO_REACHABLE_WINDOW


def test_totals_that_do_not_add_up(day):
    _, _, plan = day
    assert "TOTALS" in codes(day, replace(plan, stats=replace(plan.stats, total_distance=1)))
