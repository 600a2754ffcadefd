"""The OR-Tools model, rule by rule. Every plan goes through the independent checker."""

from __future__ import annotations

import random

from dispatch.domain import Priority, UnassignedReason
from dispatch.solver.objective import priority_penalties
from tests.support.factories import (
    HOUR,
    MIN,
    job,
    problem,
    reason_of,
    route_of,
    solve_checked,
    tech,
    visit_of,
    who_serves,
)


def test_job_served_in_its_second_window_when_the_first_is_unreachable():
    """One technician at 0; the job at 60 (an hour away) may start 0:00-0:30 or 2:00-3:00."""
    plan = solve_checked(problem([tech("a")], [job("j", x=60, windows=((0, 30 * MIN), (2 * HOUR, 3 * HOUR)))]))
    v = visit_of(plan, "j")
    assert v is not None and 2 * HOUR <= v.start <= 3 * HOUR
    assert v.arrival == v.start == 2 * HOUR  # left late rather than wait on the doorstep
    assert route_of(plan, "a").start == HOUR


def test_own_start_and_end_locations_and_shift():
    """Works 1:00-5:00, starts at 0 and ends at 50; one job at 20."""
    plan = solve_checked(problem([tech("a", home=0, end=50, shift=(HOUR, 5 * HOUR))], [job("j", x=20)]))
    r = route_of(plan, "a")
    assert r is not None and r.start >= HOUR
    assert r.return_travel_duration == 30 * MIN  # from 20 to 50
    assert r.end == r.visits[-1].end + 30 * MIN <= 5 * HOUR


def test_skills_are_a_hard_match():
    """The plumber lives next to the electrical job; only the electrician, far away, may do it."""
    techs = [tech("plumber", home=10, skills=("plumbing",)), tech("sparky", home=100, skills=("electrical",))]
    plan = solve_checked(problem(techs, [job("e", x=11, skills=("electrical",))]))
    assert who_serves(plan, "e") == "sparky"


def test_tools_are_a_hard_match():
    techs = [tech("near", home=10), tech("far", home=90, tools=("pipe_camera",))]
    plan = solve_checked(problem(techs, [job("cam", x=12, tools=("pipe_camera",))]))
    assert who_serves(plan, "cam") == "far"


def test_parts_are_a_capacity_per_van():
    """Three jobs need a filter each; the near van carries 2, the far one 5."""
    techs = [tech("near", home=10, parts={"filter": 2}), tech("far", home=120, parts={"filter": 5})]
    jobs = [job(f"f{i}", x=11 + i, parts={"filter": 1}) for i in range(3)]
    plan = solve_checked(problem(techs, jobs))
    served_by = [who_serves(plan, f"f{i}") for i in range(3)]
    assert served_by.count("near") == 2 and served_by.count("far") == 1


def test_parts_nobody_carries_are_reported():
    plan = solve_checked(problem([tech("a", parts={"filter": 1})], [job("big", x=5, parts={"filter": 3})]))
    assert reason_of(plan, "big") is UnassignedReason.PARTS_UNAVAILABLE


def test_higher_priority_wins_when_time_runs_out():
    """A 2-hour shift fits one 90-minute job: HIGH is kept, LOW is dropped for capacity."""
    jobs = [
        job("low", x=1, service=90 * MIN, priority=Priority.LOW),
        job("high", x=2, service=90 * MIN, priority=Priority.HIGH),
    ]
    plan = solve_checked(problem([tech("a", shift=(0, 2 * HOUR))], jobs))
    assert who_serves(plan, "high") == "a"
    assert reason_of(plan, "low") is UnassignedReason.CAPACITY_EXHAUSTED


def test_an_emergency_beats_any_number_of_normal_jobs():
    """Three short NORMAL jobs nearby, or one long EMERGENCY far away: the emergency is served."""
    jobs = [job(f"n{i}", x=1 + i, service=20 * MIN) for i in range(3)]
    jobs.append(job("sos", x=60, service=2 * HOUR, priority=Priority.EMERGENCY))
    plan = solve_checked(problem([tech("a", shift=(0, 4 * HOUR + 5 * MIN))], jobs))
    assert who_serves(plan, "sos") == "a"


def test_respond_within_is_a_hard_bound_on_service_start():
    """Emergency 50 min away must start within 1 h: served by 1:00 even though its window runs later."""
    jobs = [
        job("busy", x=5, service=20 * MIN, windows=((0, 10 * MIN),)),
        job("sos", x=50, priority=Priority.EMERGENCY, respond_within=HOUR, windows=((0, 8 * HOUR),)),
    ]
    plan = solve_checked(problem([tech("a")], jobs))
    v = visit_of(plan, "sos")
    assert v is not None and v.start <= HOUR


def test_respond_within_out_of_reach_is_reported():
    """The only technician is 90 minutes away from an emergency that must start within an hour."""
    plan = solve_checked(
        problem([tech("a", home=0)], [job("sos", x=90, priority=Priority.EMERGENCY, respond_within=HOUR)])
    )
    assert reason_of(plan, "sos") is UnassignedReason.NO_REACHABLE_WINDOW


def test_breaks_fall_inside_their_window_and_between_services():
    """A lunch of 30 min between 3:00 and 4:00, and a full day of work around it."""
    techs = [tech("a", breaks=((3 * HOUR, 4 * HOUR, 30 * MIN),))]
    jobs = [job(f"j{i}", x=2 * i + 1, service=50 * MIN) for i in range(8)]
    plan = solve_checked(problem(techs, jobs))
    r = route_of(plan, "a")
    assert r is not None and len(r.breaks) == 1
    b = r.breaks[0]
    assert 3 * HOUR <= b.start and b.end <= 4 * HOUR and b.end - b.start == 30 * MIN
    assert all(v.end <= b.start or b.end <= v.start for v in r.visits)


def test_pinned_job_goes_to_its_technician():
    techs = [tech("near", home=10), tech("far", home=80)]
    plan = solve_checked(problem(techs, [job("p", x=11, pinned="far"), job("q", x=12)]))
    assert who_serves(plan, "p") == "far"


def test_pinned_to_an_unqualified_technician_is_reported():
    techs = [tech("a", skills=("hvac",)), tech("b", skills=("plumbing",))]
    plan = solve_checked(problem(techs, [job("p", x=3, skills=("plumbing",), pinned="a")]))
    assert reason_of(plan, "p") is UnassignedReason.NO_QUALIFIED_TECHNICIAN


def test_unassigned_reasons_and_the_rest_still_planned():
    """One job per reason, plus ordinary jobs that must all be planned."""
    techs = [tech("a", skills=("hvac",), parts={"filter": 1}, shift=(0, 3 * HOUR))]
    jobs = [
        job("roof", x=3, skills=("roofing",)),
        job("filters", x=3, skills=("hvac",), parts={"filter": 4}),
        job("too-late", x=150, windows=((0, HOUR),)),
        job("ok1", x=2),
        job("ok2", x=4),
    ]
    plan = solve_checked(problem(techs, jobs))
    assert reason_of(plan, "roof") is UnassignedReason.NO_QUALIFIED_TECHNICIAN
    assert reason_of(plan, "filters") is UnassignedReason.PARTS_UNAVAILABLE
    assert reason_of(plan, "too-late") is UnassignedReason.NO_REACHABLE_WINDOW
    assert who_serves(plan, "ok1") == "a" and who_serves(plan, "ok2") == "a"


def test_windows_in_the_past_and_ended_shifts():
    """A window that closed before now, and a technician whose shift ended before now."""
    techs = [tech("gone", shift=(-5 * HOUR, -HOUR)), tech("here", home=20)]
    jobs = [job("past", x=1, windows=((-3 * HOUR, -2 * HOUR),)), job("now", x=2)]
    plan = solve_checked(problem(techs, jobs))
    assert reason_of(plan, "past") is UnassignedReason.NO_REACHABLE_WINDOW
    assert who_serves(plan, "now") == "here"
    assert route_of(plan, "gone") is None


def test_no_jobs_gives_an_empty_plan():
    plan = solve_checked(problem([tech("a")], []))
    assert plan.routes == () and plan.unassigned == ()


def test_penalties_are_lexicographic():
    counts = {Priority.LOW: 30, Priority.NORMAL: 20, Priority.HIGH: 10, Priority.EMERGENCY: 2}
    p = priority_penalties(counts, max_arc=5_000)
    assert p[Priority.LOW] > 2 * 5_000
    assert p[Priority.NORMAL] > 30 * p[Priority.LOW]
    assert p[Priority.HIGH] > 20 * p[Priority.NORMAL] + 30 * p[Priority.LOW]
    assert p[Priority.EMERGENCY] > 10 * p[Priority.HIGH] + 20 * p[Priority.NORMAL] + 30 * p[Priority.LOW]
    huge = priority_penalties({prio: 5_000 for prio in Priority}, max_arc=10**6)
    assert sum(5_000 * v for v in huge.values()) < 2**63


def test_random_small_days_are_always_feasible():
    """Twenty seeded random days mixing every rule: the checker accepts every plan."""
    rng = random.Random(20261124)
    skills = ("hvac", "plumbing", "electrical")
    for seed in range(20):
        techs = [
            tech(
                f"t{k}",
                home=rng.randrange(0, 100),
                shift=(rng.choice((0, HOUR)), rng.choice((6, 8, 9)) * HOUR),
                skills=tuple(rng.sample(skills, rng.randint(1, 3))),
                parts={"filter": rng.randint(0, 3)},
                breaks=((3 * HOUR, 5 * HOUR, 30 * MIN),) if rng.random() < 0.7 else (),
            )
            for k in range(rng.randint(1, 4))
        ]
        jobs = []
        for i in range(rng.randint(0, 14)):
            start = rng.randrange(0, 6) * HOUR
            windows = ((start, start + rng.choice((1, 2, 3)) * HOUR),) if rng.random() < 0.8 else ()
            if windows and rng.random() < 0.2:
                windows += ((start + 4 * HOUR, start + 5 * HOUR),)
            jobs.append(
                job(
                    f"s{seed}j{i}",
                    x=rng.randrange(0, 120),
                    service=rng.choice((20, 45, 90)) * MIN,
                    windows=windows,
                    skills=(rng.choice(skills),),
                    parts={"filter": 1} if rng.random() < 0.3 else None,
                    priority=rng.choice(list(Priority)),
                    respond_within=2 * HOUR if rng.random() < 0.1 else None,
                    pinned=rng.choice(techs).id if rng.random() < 0.1 else "",
                )
            )
        plan = solve_checked(problem(techs, jobs, time_limit=0.3))
        assert len(plan.assigned_job_ids) + len(plan.unassigned) == len(jobs)
