"""The dispatcher in control of the live day (in process; gRPC in test_reopt_server): "who can go"
(SuggestTechnicians), overrides (assign, unassign, release, lock_route), how much a re-plan may
change (change_scope), and protected promises.

Road 0..199, 1 min per unit (``tests.support.factories``); every re-plan goes through the
independent checker inside the service (a violation would show as a ``checker`` warning).
"""

from __future__ import annotations

import pytest

from dispatch.config import Settings
from dispatch.domain import (
    Assign,
    CancelJob,
    ChangeScope,
    Delay,
    LockRoute,
    NewJob,
    Priority,
    ProgressKind,
    Release,
    Replan,
    TechnicianProgress,
    TechnicianUnavailable,
    Unassign,
    UnassignedReason,
    VisitStatus,
)
from dispatch.errors import OverrideError, ProblemError, VersionConflictError
from dispatch.reopt.suggest import SuggestRequest
from dispatch.service import PlanningService
from dispatch.solver.runner import InProcessRunner
from tests.support.factories import EPOCH, HOUR, MIN, job, problem, route_of, tech, visit_of, who_serves


@pytest.fixture
def service():
    return PlanningService(runner=InProcessRunner(), settings=Settings(reopt_time_limit=0.5))


def day(**options):
    """Ann at 0, Bob at 60, Cat at 120 (Cat alone holds "gas"); nine 30-min jobs along the road."""
    techs = [tech("ann", home=0), tech("bob", home=60), tech("cat", home=120, skills=("gas",))]
    jobs = [job(f"j{x}", x=x, windows=((0, 8 * HOUR),)) for x in (5, 15, 25, 55, 65, 75, 115, 125, 135)]
    return problem(techs, jobs, time_limit=1.0, **options)


def replan(d: PlanningService, plan_id: str, at_time: int, *events, scope=ChangeScope.REASSIGN, results=None):
    out = d.reoptimize(
        Replan(plan_id=plan_id, time=EPOCH + at_time, events=tuple(events), change_scope=scope),
        on_result=None if results is None else results.append,
    )
    assert not [w for w in out.plan.stats.warnings if w.startswith("checker")], out.plan.stats.warnings
    return out


def order(plan, technician_id):
    """The technician's visits not completed, in order (under way first)."""
    route = route_of(plan, technician_id)
    return [v.job_id for v in route.visits if v.status is not VisitStatus.COMPLETED] if route else []


def reason(plan, job_id):
    return next((u for u in plan.unassigned if u.job_id == job_id), None)


# ---------------------------------------------------------------- assign


def test_assign_moves_a_planned_job_and_later_re_plans_keep_it_there(service):
    first = service.solve(day(), replace=True)
    assert who_serves(first, "j5") == "ann"
    results = []
    out = replan(service, first.plan_id, 10 * MIN, Assign(job_id="j5", technician_id="bob"), results=results)
    assert who_serves(out.plan, "j5") == "bob"
    assert [r.final for r in results] == [True]  # the dispatcher's decision is the answer: no search after it
    # A cancellation later runs a search: the assignment holds.
    later = replan(service, first.plan_id, 20 * MIN, CancelJob(job_id="j15"))
    assert who_serves(later.plan, "j5") == "bob"
    stored = service.get_plan(first.plan_id)
    assert stored.problem.job("j5").pinned_technician_id == "bob"


def test_assign_a_new_job_in_the_same_request_puts_it_on_that_technician(service):
    first = service.solve(day(), replace=True)
    emergency = job("e", x=70, priority=Priority.EMERGENCY, respond_within=2 * HOUR)
    out = replan(service, first.plan_id, HOUR, NewJob(job=emergency), Assign(job_id="e", technician_id="ann"))
    assert who_serves(out.plan, "e") == "ann"
    assert HOUR <= visit_of(out.plan, "e").start <= 3 * HOUR


def test_an_assign_that_cannot_fit_is_refused_naming_the_rule_and_nothing_is_stored(service):
    first = service.solve(day(), replace=True)
    gas = job("g", x=70, skills=("gas",))
    with pytest.raises(OverrideError) as err:
        replan(service, first.plan_id, HOUR, NewJob(job=gas), Assign(job_id="g", technician_id="ann"))
    (v,) = err.value.violations
    assert v.field == "events[1].assign" and "gas" in v.description and "ann" in v.description
    assert service.get_plan(first.plan_id).version == first.version
    # Too late to reach within the window: refused too, the rule named.
    late = job("late", x=190, windows=((HOUR, HOUR + 20 * MIN),))
    with pytest.raises(OverrideError) as err:
        replan(service, first.plan_id, HOUR, NewJob(job=late), Assign(job_id="late", technician_id="ann"))
    assert "late" in err.value.violations[0].description


def test_assign_to_an_unavailable_or_unknown_technician_names_the_field(service):
    first = service.solve(day(), replace=True)
    replan(service, first.plan_id, 10 * MIN, TechnicianUnavailable(technician_id="bob", start=0))
    with pytest.raises(ProblemError) as err:
        replan(service, first.plan_id, 20 * MIN, Assign(job_id="j5", technician_id="bob"))
    assert err.value.violations[0].field == "events[0].assign.technician_id"
    with pytest.raises(ProblemError) as err:
        replan(service, first.plan_id, 20 * MIN, Assign(job_id="nope", technician_id="zed"))
    assert {v.field for v in err.value.violations} == {"events[0].assign.job_id", "events[0].assign.technician_id"}


# ---------------------------------------------------------------- unassign and release


def test_unassign_holds_the_job_off_the_board_until_released(service):
    first = service.solve(day(), replace=True)
    out = replan(service, first.plan_id, 10 * MIN, Unassign(job_id="j55"))
    held = reason(out.plan, "j55")
    assert who_serves(out.plan, "j55") is None and held.reason is UnassignedReason.HELD_BY_DISPATCHER
    # Searches in later re-plans leave it held.
    later = replan(service, first.plan_id, 20 * MIN, NewJob(job=job("n", x=50)))
    assert reason(later.plan, "j55").reason is UnassignedReason.HELD_BY_DISPATCHER
    found = service.suggest(ask(first.plan_id, 25 * MIN, job("e", x=70, priority=Priority.EMERGENCY)))
    assert all(u.job_id != "j55" for o in found.options for u in o.newly_unassigned)  # held before: not this option's
    back = replan(service, first.plan_id, 30 * MIN, Release(job_id="j55"))
    assert who_serves(back.plan, "j55") is not None and reason(back.plan, "j55") is None


def test_an_assign_takes_a_held_job_back_to_a_technician(service):
    first = service.solve(day(), replace=True)
    replan(service, first.plan_id, 10 * MIN, Unassign(job_id="j55"))
    out = replan(service, first.plan_id, 20 * MIN, Assign(job_id="j55", technician_id="cat"))
    assert who_serves(out.plan, "j55") == "cat"


def test_release_of_a_job_neither_held_nor_assigned_and_unassign_of_a_job_under_way_are_refused(service):
    first = service.solve(day(), replace=True)
    with pytest.raises(ProblemError) as err:
        replan(service, first.plan_id, 10 * MIN, Release(job_id="j5"))
    assert err.value.violations[0].field == "events[0].release.job_id"
    arrived = TechnicianProgress(technician_id="ann", kind=ProgressKind.ARRIVED, time=0, job_id="j5")
    replan(service, first.plan_id, 10 * MIN, arrived)
    with pytest.raises(ProblemError) as err:
        replan(service, first.plan_id, 15 * MIN, Unassign(job_id="j5"))
    assert err.value.violations[0].field == "events[0].unassign.job_id" and "under way" in str(err.value)


def test_a_released_pin_of_an_unavailable_technician_goes_to_the_optimizer(service):
    techs = [tech("ann", home=0), tech("bob", home=60)]
    jobs = [job("a", x=5), job("pinned", x=65, windows=((4 * HOUR, 8 * HOUR),), pinned="bob")]
    first = service.solve(problem(techs, jobs, time_limit=1.0), replace=True)
    out = replan(service, first.plan_id, 30 * MIN, TechnicianUnavailable(technician_id="bob", start=0))
    assert who_serves(out.plan, "pinned") is None
    out = replan(service, first.plan_id, 40 * MIN, Release(job_id="pinned"))
    assert who_serves(out.plan, "pinned") == "ann"


# ---------------------------------------------------------------- lock_route


def test_a_locked_route_keeps_its_order_and_nothing_goes_among_its_visits(service):
    first = service.solve(day(), replace=True)
    bob = order(first, "bob")
    assert len(bob) >= 2
    replan(service, first.plan_id, 5 * MIN, LockRoute(technician_id="bob"))
    # An emergency right on Bob's road, mid-route: it may not go between his locked visits.
    emergency = job("e", x=62, priority=Priority.EMERGENCY, respond_within=4 * HOUR)
    out = replan(service, first.plan_id, 10 * MIN, NewJob(job=emergency))
    after = order(out.plan, "bob")
    assert [j for j in after if j in bob] == [j for j in bob if j in after] and after[: len(bob)] == bob
    # A cancellation (a search) later: still locked.
    later = replan(service, first.plan_id, 15 * MIN, CancelJob(job_id="j5"))
    assert order(later.plan, "bob")[: len(bob)] == bob
    # Unlocked (until now): the optimizer may change it again.
    replan(service, first.plan_id, 20 * MIN, LockRoute(technician_id="bob", until=0))
    assert not service.get_plan(first.plan_id).state.locks


def test_a_lock_until_a_time_covers_the_visits_starting_before_it(service):
    first = service.solve(day(), replace=True)
    route = route_of(first, "cat")
    cut = route.visits[1].start + 1  # the first two visits
    out = replan(service, first.plan_id, 5 * MIN, LockRoute(technician_id="cat", until=cut - 5 * MIN))
    assert service.get_plan(first.plan_id).state.locks == (("cat", cut),)
    assert order(out.plan, "cat")[:2] == [v.job_id for v in route.visits[:2]]


# ---------------------------------------------------------------- change_scope


def test_times_only_keeps_every_technician_and_order(service):
    first = service.solve(day(), replace=True)
    before = {t: order(first, t) for t in ("ann", "bob", "cat")}
    out = replan(
        service,
        first.plan_id,
        10 * MIN,
        Delay(job_id=before["ann"][0], extra=40 * MIN),
        NewJob(job=job("n", x=30)),
        scope=ChangeScope.TIMES_ONLY,
    )
    for t, jobs in before.items():
        kept = [j for j in order(out.plan, t) if j in jobs]
        assert kept == [j for j in jobs if j in kept]
        for j in jobs:
            assert who_serves(out.plan, j) in (t, None)


def test_resequence_keeps_technicians_and_reassign_may_move_jobs(service):
    first = service.solve(day(), replace=True)
    owner = {j: who_serves(first, j) for j in first.assigned_job_ids}
    # Ann goes home sick at 1 h: her jobs may go nowhere under RESEQUENCE, elsewhere under REASSIGN.
    out = replan(
        service, first.plan_id, 5 * MIN, NewJob(job=job("n", x=64, service=HOUR)), scope=ChangeScope.RESEQUENCE
    )
    for j, t in owner.items():
        assert who_serves(out.plan, j) in (t, None)
    out = replan(service, first.plan_id, 10 * MIN, TechnicianUnavailable(technician_id="ann", start=0))
    moved = [j for j, t in owner.items() if t == "ann" and who_serves(out.plan, j) not in ("ann", None)]
    assert moved  # the default scope re-assigns


# ---------------------------------------------------------------- protected promises


def test_a_promised_job_is_not_dropped_for_new_work_of_the_same_priority(service):
    """Ann alone with room for one more hour-long job: a NORMAL customer told an ETA keeps it when a
    new NORMAL job would be cheaper to serve instead."""
    told = job("told", x=40, service=HOUR, windows=((2 * HOUR, 4 * HOUR),))
    p = problem([tech("ann", home=0, shift=(0, 4 * HOUR))], [told], time_limit=1.0)
    first = service.solve(p, replace=True)
    assert who_serves(first, "told") == "ann"
    out = replan(service, first.plan_id, 0, NewJob(job=job("new", x=2, service=2 * HOUR + 30 * MIN)))
    assert who_serves(out.plan, "told") == "ann"
    assert reason(out.plan, "new").reason is UnassignedReason.CAPACITY_EXHAUSTED


def test_a_promise_broken_for_an_emergency_says_so_with_the_cause(service):
    p = problem(
        [tech("ann", home=0, shift=(0, 4 * HOUR))],
        [job("told", x=40, service=HOUR, windows=((2 * HOUR, 4 * HOUR),), priority=Priority.LOW)],
        time_limit=1.0,
    )
    first = service.solve(p, replace=True)
    emergency = job("e", x=2, service=2 * HOUR + 30 * MIN, priority=Priority.EMERGENCY, respond_within=HOUR)
    out = replan(service, first.plan_id, 0, NewJob(job=emergency))
    assert who_serves(out.plan, "e") == "ann"
    broken = reason(out.plan, "told")
    assert broken.reason is UnassignedReason.PROMISE_BROKEN and "CAPACITY_EXHAUSTED" in broken.detail


# ---------------------------------------------------------------- SuggestTechnicians


def ask(plan_id: str, at_time: int, the_job, **kw) -> SuggestRequest:
    return SuggestRequest(plan_id=plan_id, time=EPOCH + at_time, job=the_job, **kw)


def test_suggestions_rank_qualified_technicians_and_store_nothing(service):
    first = service.solve(day(), replace=True)
    emergency = job("e", x=70, priority=Priority.EMERGENCY, respond_within=2 * HOUR)
    found = service.suggest(ask(first.plan_id, HOUR, emergency))
    assert found.plan_version == first.version
    assert service.get_plan(first.plan_id).version == first.version
    ids = [o.technician_id for o in found.options]
    assert sorted(ids) == ["ann", "bob", "cat"] and all(o.feasible for o in found.options)
    assert ids[0] == "bob"  # nearest: the earliest start for an emergency
    keys = [(o.promises_broken, len(o.newly_unassigned), o.start) for o in found.options]
    assert keys == sorted(keys)  # the ranking rule, for an emergency
    best = found.options[0]
    assert "earliest" in best.note and best.arrival <= best.start
    # Only Cat holds "gas".
    gas = service.suggest(ask(first.plan_id, HOUR, job("g", x=70, skills=("gas",))))
    assert [o.technician_id for o in gas.options] == ["cat"]
    assert len(service.suggest(ask(first.plan_id, HOUR, emergency, max_options=1)).options) == 1


def test_every_option_is_what_the_re_plan_with_assign_then_does(service):
    first = service.solve(day(), replace=True)
    emergency = job("e", x=70, service=HOUR, priority=Priority.EMERGENCY, respond_within=2 * HOUR)
    found = service.suggest(ask(first.plan_id, HOUR, emergency))
    for k, option in enumerate(found.options):
        copy = service.solve(day(plan_id=f"copy-{k}"), replace=True)
        assert [r.visits for r in copy.routes] == [r.visits for r in first.routes]
        before = {v.job_id: v.start for r in copy.routes for v in r.visits}
        out = replan(
            service, copy.plan_id, HOUR, NewJob(job=emergency), Assign(job_id="e", technician_id=option.technician_id)
        )
        assert who_serves(out.plan, "e") == option.technician_id
        assert visit_of(out.plan, "e").start == option.start
        moved = {
            v.job_id
            for r in out.plan.routes
            for v in r.visits
            if v.job_id in before and abs(v.start - before[v.job_id]) >= MIN
        }
        assert moved == {d.job_id for d in option.displaced}
        assert out.plan.stats.total_travel_duration - copy.stats.total_travel_duration == pytest.approx(
            option.added_travel, abs=2 * MIN
        )


def test_a_technician_who_cannot_reach_in_time_is_listed_last_and_says_why(service):
    first = service.solve(day(), replace=True)
    # At 08:00 everyone is on the way to a first job; only Ann can be at x=2 within the hour.
    tight = job("t", x=2, priority=Priority.EMERGENCY, respond_within=HOUR)
    found = service.suggest(ask(first.plan_id, 0, tight))
    feasible = [o.technician_id for o in found.options if o.feasible]
    assert feasible == ["ann"]
    last = found.options[-1]
    assert not last.feasible and "out of reach" in last.note


def test_bad_suggestion_requests_name_their_fields(service):
    first = service.solve(day(), replace=True)
    with pytest.raises(ProblemError) as err:
        service.suggest(ask(first.plan_id, HOUR, job("j5", x=-1, service=-5)))
    fields = {v.field for v in err.value.violations}
    assert fields and all(f.startswith("job.") for f in fields), fields
    with pytest.raises(ProblemError) as err:
        service.suggest(ask(first.plan_id, HOUR, job("x", x=5), max_options=10_000))
    assert err.value.violations[0].field == "max_options"
    with pytest.raises(VersionConflictError):
        service.suggest(ask(first.plan_id, HOUR, job("x", x=5), expected_version=first.version + 5))
