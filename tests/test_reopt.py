"""Re-planning the live day, event by event (in process; the gRPC layer is in test_reopt_server).

Every re-plan's open part goes through the independent checker inside ``PlanningService`` (a
violation would show as a ``checker`` warning); tests assert there are none.
"""

from __future__ import annotations

import threading

import pytest

from dispatch.check import check_plan
from dispatch.config import Settings
from dispatch.domain import (
    CancelJob,
    Delay,
    NewJob,
    Priority,
    ProgressKind,
    Replan,
    TechnicianAdded,
    TechnicianProgress,
    TechnicianUnavailable,
    UnassignedReason,
    VisitStatus,
)
from dispatch.errors import PlanNotFoundError, ProblemError, VersionConflictError
from dispatch.service import PlanningService
from dispatch.solver.runner import InProcessRunner
from tests.support.factories import EPOCH, HOUR, MIN, at, job, matrix_for, problem, route_of, tech, visit_of, who_serves


def three_technicians_day():
    """Road 0..199 (1 min per unit). Ann at 0, Bob at 60, Cat at 120; 9 jobs spread along the
    road, each 30 min, two-hour windows from 08:00 (t=0)."""
    techs = [tech("ann", home=0), tech("bob", home=60), tech("cat", home=120)]
    xs = [5, 15, 25, 55, 65, 75, 115, 125, 135]
    jobs = [job(f"j{x}", x=x, windows=((0, 8 * HOUR),)) for x in xs]
    return problem(techs, jobs, time_limit=1.0)


@pytest.fixture
def service():
    return PlanningService(runner=InProcessRunner(), settings=Settings(reopt_time_limit=0.5))


def replan(d: PlanningService, plan_id: str, at_time: int, *events, expected: int | None = None, results=None):
    out = d.reoptimize(
        Replan(plan_id=plan_id, time=EPOCH + at_time, events=tuple(events), expected_version=expected),
        on_result=None if results is None else results.append,
    )
    assert not [w for w in out.plan.stats.warnings if w.startswith("checker")], out.plan.stats.warnings
    return out


def statuses(plan, technician_id):
    return [(v.job_id, v.status) for v in route_of(plan, technician_id).visits]


def test_nothing_happened_keeps_the_plan(service):
    """No events, 10 minutes in: same assignments, same order, no broken promises."""
    first = service.solve(three_technicians_day(), replace=True)
    out = replan(service, first.plan_id, 10 * MIN)
    assert out.plan.version == first.version + 1
    assert sorted(out.plan.assigned_job_ids) == sorted(first.assigned_job_ids)
    assert not out.diff.reassigned and not out.diff.newly_unassigned and not out.diff.broken_promises
    for r in first.routes:
        assert [v.job_id for v in route_of(out.plan, r.technician_id).visits] == [v.job_id for v in r.visits]


def test_emergency_is_inserted_and_served_within_its_response_time_from_the_event(service):
    """At 10:00 (t=2h) an emergency at 70 must be started within 45 min of the call."""
    first = service.solve(three_technicians_day(), replace=True)
    emergency = job("e1", x=70, priority=Priority.EMERGENCY, respond_within=45 * MIN)
    results = []
    out = replan(service, first.plan_id, 2 * HOUR, NewJob(job=emergency), results=results)
    quick = results[0]
    assert not quick.final and results[-1].final
    for r in (quick, out):
        v = visit_of(r.plan, "e1")
        assert v is not None and 2 * HOUR <= v.start <= 2 * HOUR + 45 * MIN
        assert [a.job_id for a in r.diff.newly_assigned] == ["e1"]


def test_emergency_takes_the_place_of_low_priority_work_when_the_day_is_full(service):
    """One technician, booked solid with LOW jobs; an emergency called in must still be served
    at once, and a LOW job is dropped (CAPACITY_EXHAUSTED) in its place."""
    p = problem(
        [tech("ann", home=0, shift=(0, 4 * HOUR))],
        [job(f"l{k}", x=10, service=HOUR, priority=Priority.LOW) for k in range(4)],
        time_limit=1.0,
    )
    first = service.solve(p, replace=True)
    assert len(first.assigned_job_ids) == 3  # 10 min out, 3 one-hour jobs, 10 min back: no room for a 4th
    emergency = job("e", x=12, service=30 * MIN, priority=Priority.EMERGENCY, respond_within=HOUR)
    results = []
    out = replan(service, first.plan_id, 30 * MIN, NewJob(job=emergency), results=results)
    for r in (results[0], out):
        assert who_serves(r.plan, "e") == "ann"
        dropped = [u for u in r.plan.unassigned if u.job_id.startswith("l")]
        assert dropped and all(u.reason is UnassignedReason.CAPACITY_EXHAUSTED for u in dropped)


def test_cancelled_job_leaves_the_plan_and_later_visits_do_not_get_later(service):
    first = service.solve(three_technicians_day(), replace=True)
    victim = route_of(first, "ann").visits[1].job_id
    out = replan(service, first.plan_id, 5 * MIN, CancelJob(job_id=victim))
    assert victim not in out.plan.assigned_job_ids
    assert victim not in [u.job_id for u in out.plan.unassigned]
    for change in out.diff.eta_changes:
        assert change.new_start <= change.old_start + 30 * MIN  # within the promise, never pushed out
    with pytest.raises(ProblemError) as err:
        replan(service, first.plan_id, 6 * MIN, CancelJob(job_id=victim))
    assert err.value.violations[0].field == "events[0].cancel_job.job_id"


def test_progress_departed_arrived_completed_and_history_never_moves(service):
    first = service.solve(three_technicians_day(), replace=True)
    ann = [v.job_id for v in route_of(first, "ann").visits]
    a, b = ann[0], ann[1]
    out = replan(
        service,
        first.plan_id,
        40 * MIN,
        TechnicianProgress(technician_id="ann", kind=ProgressKind.DEPARTED, job_id=a, time=-35 * MIN),
        TechnicianProgress(technician_id="ann", kind=ProgressKind.ARRIVED, job_id=a, time=-28 * MIN),
    )
    assert statuses(out.plan, "ann")[0] == (a, VisitStatus.ON_SITE)
    assert visit_of(out.plan, a).arrival == 12 * MIN
    # Completed 20 min late (at 0:55): history with that time; the next visit starts after it.
    out = replan(
        service,
        first.plan_id,
        HOUR,
        TechnicianProgress(technician_id="ann", kind=ProgressKind.COMPLETED, job_id=a, time=-5 * MIN),
        TechnicianProgress(technician_id="ann", kind=ProgressKind.DEPARTED, job_id=b, time=0),
    )
    assert statuses(out.plan, "ann")[:2] == [(a, VisitStatus.COMPLETED), (b, VisitStatus.EN_ROUTE)]
    done = visit_of(out.plan, a)
    assert done.end == 55 * MIN
    assert visit_of(out.plan, b).arrival >= HOUR
    # An emergency right next to Ann's next stop later on: history and the visit under way stay.
    later = replan(
        service,
        first.plan_id,
        HOUR + 5 * MIN,
        NewJob(job=job("e", x=16, priority=Priority.EMERGENCY, respond_within=HOUR)),
    )
    assert visit_of(later.plan, a) == done
    assert statuses(later.plan, "ann")[1] == (b, VisitStatus.EN_ROUTE)


def test_position_report_plans_a_free_technician_from_where_they_are(service):
    """Cat (home 150, ends her day at the depot at 25) has no work; she reports being at 20.
    A new job at 22 goes to her, 2 min away, rather than to Ann, back home at 0 by then."""
    p = problem([tech("ann", home=0), tech("cat", home=150, end=25)], [job("j1", x=5)], time_limit=1.0)
    first = service.solve(p, replace=True)
    out = replan(
        service,
        first.plan_id,
        HOUR,
        TechnicianProgress(technician_id="cat", kind=ProgressKind.POSITION, location=at(20), time=0),
        NewJob(job=job("n", x=22)),
    )
    assert who_serves(out.plan, "n") == "cat"
    assert visit_of(out.plan, "n").travel_duration == 2 * MIN


class CountingRunner(InProcessRunner):
    def __init__(self) -> None:
        self.searches = 0

    def solve(self, call):  # type: ignore[no-untyped-def]
        self.searches += 1
        return super().solve(call)


def test_a_position_report_retimes_the_route_from_there_without_a_search():
    """Bob reports he is stuck 20 min up the road: his next visit moves by the drive from there,
    one version is stored, one answer given, and no search runs (it used to, for up to 2 s)."""
    runner = CountingRunner()
    service = PlanningService(runner=runner, settings=Settings(reopt_time_limit=0.5))
    first = service.solve(three_technicians_day(), replace=True)
    bobs = route_of(first, "bob").visits
    nxt = min(bobs, key=lambda v: v.start)
    runner.searches = 0
    results = []
    far = at(min(199, 60 + 40))  # 40 min from home, wherever his next job is
    out = replan(
        service,
        first.plan_id,
        10 * MIN,
        TechnicianProgress(technician_id="bob", kind=ProgressKind.POSITION, location=far, time=0),
        results=results,
    )
    assert runner.searches == 0 and [r.final for r in results] == [True] and out.plan.version == first.version + 1
    moved = visit_of(out.plan, nxt.job_id)
    assert who_serves(out.plan, nxt.job_id) == "bob" or moved is None or moved.start >= 10 * MIN
    assert not [w for w in out.plan.stats.warnings if "improvement" in w]


def test_a_technician_done_for_the_day_goes_home_after_the_last_visit_not_after_now(service):
    """Ann (shift until 2 h) finishes her only job at 0:40 and has nothing more. Re-planned at
    1:50 (a job she cannot take comes in), her day still ends 5 min after 0:40, within her shift."""
    p = problem([tech("ann", home=0, shift=(0, 2 * HOUR))], [job("a", x=5, service=30 * MIN)], time_limit=0.5)
    first = service.solve(p, replace=True)
    start = visit_of(first, "a").start
    replan(
        service,
        first.plan_id,
        40 * MIN,
        TechnicianProgress(technician_id="ann", kind=ProgressKind.COMPLETED, job_id="a", time=0),
    )
    out = replan(service, first.plan_id, 110 * MIN, NewJob(job=job("late", x=150, service=HOUR)))
    ann = route_of(out.plan, "ann")
    assert [v.job_id for v in ann.visits] == ["a"] and start < 40 * MIN
    assert ann.end == 40 * MIN + 5 * MIN
    record = service.get_plan(first.plan_id)
    assert not check_plan(record.problem, matrix_for(record.problem), out.plan)


def test_delay_pushes_later_visits_and_a_missed_window_is_re_planned(service):
    """Ann: job a (30 min) then job b whose window closes soon after; a runs 2 h over, so b moves
    to Bob (or is unassigned with a reason), never to a late start."""
    p = problem(
        [tech("ann", home=0), tech("bob", home=40)],
        [job("a", x=5), job("b", x=10, windows=((0, 2 * HOUR),))],
        time_limit=1.0,
    )
    first = service.solve(p, replace=True)
    assert who_serves(first, "a") == "ann"
    out = replan(
        service,
        first.plan_id,
        20 * MIN,
        TechnicianProgress(technician_id="ann", kind=ProgressKind.ARRIVED, job_id="a", time=-15 * MIN),
        Delay(job_id="a", extra=2 * HOUR),
    )
    assert visit_of(out.plan, "a").end == 5 * MIN + 30 * MIN + 2 * HOUR
    v = visit_of(out.plan, "b")
    if v is not None:
        assert v.start <= 2 * HOUR and who_serves(out.plan, "b") == "bob"
    else:
        assert [u.reason for u in out.plan.unassigned if u.job_id == "b"]


def test_technician_unavailable_redistributes_every_remaining_job(service):
    first = service.solve(three_technicians_day(), replace=True)
    bobs = [v.job_id for v in route_of(first, "bob").visits]
    out = replan(service, first.plan_id, 45 * MIN, TechnicianUnavailable(technician_id="bob", start=0))
    bob_route = route_of(out.plan, "bob")
    kept = [v for v in (bob_route.visits if bob_route else ()) if v.status is not VisitStatus.COMPLETED]
    assert not kept  # nothing left with Bob but history
    unassigned = {u.job_id: u for u in out.plan.unassigned}
    for job_id in bobs:
        done = bob_route is not None and job_id in [v.job_id for v in bob_route.visits]
        assert done or who_serves(out.plan, job_id) in {"ann", "cat"} or unassigned[job_id].reason is not None
    moved = {r.job_id for r in out.diff.reassigned} | {u.job_id for u in out.diff.newly_unassigned}
    assert moved >= {j for j in bobs if not (bob_route and j in [v.job_id for v in bob_route.visits])}


def test_a_pinned_technician_who_becomes_unavailable_leaves_the_job_unassigned_naming_the_pin(service):
    """Bob holds a pinned afternoon job and calls in sick: the re-plan answers (it raised KeyError in
    the screening, INTERNAL over gRPC), the job is unassigned with the pin named, the rest re-planned."""
    techs = [tech("ann", home=0), tech("bob", home=60), tech("cat", home=120)]
    jobs = [job(f"j{x}", x=x, windows=((0, 8 * HOUR),)) for x in (5, 25, 55, 125)]
    jobs.append(job("pinned", x=65, windows=((4 * HOUR, 8 * HOUR),), pinned="bob"))
    first = service.solve(problem(techs, jobs, time_limit=1.0), replace=True)
    assert who_serves(first, "pinned") == "bob"
    out = replan(service, first.plan_id, 30 * MIN, TechnicianUnavailable(technician_id="bob", start=0))
    unassigned = {u.job_id: u for u in out.plan.unassigned}
    assert "pinned" in unassigned and who_serves(out.plan, "pinned") is None
    assert "pinned" in unassigned["pinned"].detail and "bob" in unassigned["pinned"].detail, unassigned["pinned"]
    assert all(who_serves(out.plan, j) in {"ann", "cat", "bob"} for j in ("j5", "j25", "j125"))


def test_technician_added_and_shift_extended_take_work_left_over(service):
    """Ann alone, shift 0-2h: four 40-min jobs nearby, so one is left over; Dan joins and takes it.
    Later Ann's shift is extended (same id) and nothing is left."""
    p = problem([tech("ann", home=0, shift=(0, 2 * HOUR))], [job(f"j{k}", x=2 + k, service=40 * MIN) for k in range(4)])
    first = service.solve(p, replace=True)
    assert len(first.unassigned) >= 1
    out = replan(service, first.plan_id, 10 * MIN, TechnicianAdded(technician=tech("dan", home=3, shift=(0, 9 * HOUR))))
    assert not out.plan.unassigned and route_of(out.plan, "dan") is not None
    again = service.solve(p, replace=True)
    out = replan(service, again.plan_id, 10 * MIN, TechnicianAdded(technician=tech("ann", home=0, shift=(0, 5 * HOUR))))
    assert not out.plan.unassigned


def test_versions_are_optimistic(service):
    first = service.solve(three_technicians_day(), replace=True)
    out = replan(service, first.plan_id, MIN, expected=first.version)
    with pytest.raises(VersionConflictError) as err:
        replan(service, first.plan_id, 2 * MIN, expected=first.version)
    assert err.value.current == out.plan.version
    with pytest.raises(PlanNotFoundError):
        replan(service, "no-such-plan", MIN)


def test_concurrent_replans_of_one_version_exactly_one_wins(service):
    first = service.solve(three_technicians_day(), replace=True)
    outcomes: list[object] = []

    def go(k: int) -> None:
        try:
            outcomes.append(
                replan(service, first.plan_id, MIN, NewJob(job=job(f"n{k}", x=30 + k)), expected=first.version)
            )
        except VersionConflictError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=go, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [o for o in outcomes if not isinstance(o, VersionConflictError)]
    assert len(wins) == 1 and len(outcomes) == 4
    stored = service.get_plan(first.plan_id)
    assert sum(1 for j in stored.problem.jobs if j.id.startswith("n")) == 1


def test_bad_events_name_their_fields(service):
    first = service.solve(three_technicians_day(), replace=True)
    with pytest.raises(ProblemError) as err:
        replan(
            service,
            first.plan_id,
            MIN,
            NewJob(job=job("j5", x=3)),  # duplicate id
            TechnicianProgress(technician_id="zed", kind=ProgressKind.DEPARTED, job_id="j5", time=0),
            Delay(job_id="j15", extra=-60),
            TechnicianProgress(technician_id="ann", kind=ProgressKind.COMPLETED, job_id="j5", time=3600),
        )
    fields = {v.field for v in err.value.violations}
    assert {
        "events[0].new_job.id",
        "events[1].progress.technician_id",
        "events[2].delay.extra",
        "events[3].progress.time",
    } <= fields
    # Nothing was applied.
    assert service.get_plan(first.plan_id).version == first.version


def test_whole_day_plan_stays_feasible_when_the_plan_is_followed(service):
    """Re-plan every 30 min with a new job each time and no reports: the day's full plan
    (history included) always keeps every rule of the day as finally known."""
    first = service.solve(three_technicians_day(), replace=True)
    for k in range(8):
        out = replan(service, first.plan_id, (k + 1) * 30 * MIN, NewJob(job=job(f"n{k}", x=(37 * k) % 190 + 5)))
        record = service.get_plan(first.plan_id)
        violations = check_plan(record.problem, matrix_for(record.problem), out.plan)
        assert not violations, violations
