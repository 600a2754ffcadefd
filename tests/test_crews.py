"""Jobs for several technicians together (issue 21): ``Job.technicians_required``,
``required_skills_any_member``, ``Visit.visit_group_id``; the checker's ``CREW`` rule; re-plans."""

from __future__ import annotations

import copy
from collections import defaultdict

import grpc
import pytest
from google.protobuf import json_format

from dispatch.examples.generate import generate
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import to_proto
from tests.support.status import field_violations


def crew_day(plan_id: str) -> dict:
    day = generate(technicians=12, jobs=60, seed=5, crews=0.2)
    day["plan_id"] = plan_id
    day["options"]["time_limit"] = "3s"
    return day


def crews_of(plan: pb.Plan) -> dict[str, list[tuple[str, pb.Visit]]]:
    out: dict[str, list[tuple[str, pb.Visit]]] = defaultdict(list)
    for r in plan.routes:
        for v in r.visits:
            if v.visit_group_id:
                out[v.visit_group_id].append((r.technician_id, v))
    return out


def test_a_crew_starts_together_on_different_technicians_and_the_plan_checks(stub):
    day = crew_day("crews-basic")
    wanted = {j["id"]: j for j in day["jobs"] if j.get("technicians_required") == 2}
    assert len(wanted) >= 8
    plan = stub.Solve(to_proto(day), timeout=60).plan
    crews = crews_of(plan)
    assert len(crews) >= len(wanted) // 2, "most two-person jobs are served"
    techs = {t["id"]: t for t in day["technicians"]}
    for gid, visits in crews.items():
        assert gid in wanted and len(visits) == 2
        assert len({t for t, _ in visits}) == 2
        starts = [v.start.seconds for _, v in visits]
        assert max(starts) - min(starts) <= 60
        assert all(v.job_id == gid for _, v in visits)
        need = set(wanted[gid]["required_skills_any_member"])
        assert any(need <= set(techs[t]["skills"]) for t, _ in visits)
    unassigned = [u.job_id for u in plan.unassigned]
    assert len(unassigned) == len(set(unassigned)), "a crew job is listed once"
    assert plan.stats.jobs_assigned + plan.stats.jobs_unassigned == len(day["jobs"])
    check = stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=plan), timeout=60)
    assert check.feasible, [v.message for v in check.violations]


def test_the_checker_fails_a_crew_split_apart_or_half_served(stub):
    day = crew_day("crews-tampered")
    plan = stub.Solve(to_proto(day), timeout=60).plan
    gid = next(iter(crews_of(plan)))
    late = copy.deepcopy(plan)
    for r in late.routes:
        for v in r.visits:
            if v.visit_group_id == gid:
                v.start.seconds += 1800
                v.end.seconds += 1800
                break
        else:
            continue
        break
    codes = {v.code for v in stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=late), timeout=60).violations}
    assert "CREW" in codes
    half = copy.deepcopy(plan)
    for r in half.routes:
        kept = [v for v in r.visits if v.visit_group_id != gid]
        if len(kept) < len(r.visits):
            del r.visits[:]
            r.visits.extend(kept)
            break
    codes = {v.code for v in stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=half), timeout=60).violations}
    assert "CREW" in codes


def test_a_delay_before_one_member_delays_both_and_a_cancel_takes_both_off(stub):
    day = crew_day("crews-replan")
    plan = stub.Solve(to_proto(day), timeout=60).plan
    crews = crews_of(plan)
    # A crew whose member has a visit before it on its route: that visit runs an hour over.
    target, before = None, None
    for r in plan.routes:
        for k, v in enumerate(r.visits):
            if v.visit_group_id and k > 0 and not r.visits[k - 1].visit_group_id:
                target, before = v.visit_group_id, r.visits[k - 1]
                break
        if target:
            break
    assert target is not None
    old = crews[target][0][1].start.seconds
    request = pb.ReoptimizeRequest(plan_id="crews-replan", expected_version=plan.version)
    request.time.CopyFrom(plan.start_time)
    request.events.add().delay.CopyFrom(
        pb.Delay(job_id=before.job_id, extra=json_format.Parse('"3600s"', type(pb.Delay().extra)()))
    )
    request.options.time_limit.FromSeconds(2)
    after = stub.Reoptimize(request, timeout=60).plan
    moved = crews_of(after)
    for visits in moved.values():  # every crew still together
        starts = [v.start.seconds for _, v in visits]
        assert len(visits) == 2 and max(starts) - min(starts) <= 60
    if target in moved:
        assert moved[target][0][1].start.seconds >= old or {t for t, _ in moved[target]} != {
            t for t, _ in crews[target]
        }
    cancel = pb.ReoptimizeRequest(plan_id="crews-replan", expected_version=after.version)
    cancel.time.CopyFrom(plan.start_time)
    cancel.events.add().cancel_job.job_id = target
    gone = stub.Reoptimize(cancel, timeout=60).plan
    assert target not in crews_of(gone)
    assert target not in {u.job_id for u in gone.unassigned}


@pytest.mark.parametrize("value", [4, -1, 100])
def test_a_crew_size_out_of_range_is_refused_by_field(stub, value):
    day = crew_day("crews-bad")
    day["jobs"][0]["technicians_required"] = value
    with pytest.raises(grpc.RpcError) as err:
        stub.Solve(to_proto(day), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "jobs[0].technicians_required" in field_violations(err.value)


def test_suggestions_are_for_one_technician(stub):
    day = crew_day("crews-suggest")
    stub.Solve(to_proto(day), timeout=60)
    job = copy.deepcopy(next(j for j in day["jobs"] if j.get("technicians_required") == 2))
    job["id"] = "CALL"
    for ask in (
        json_format.ParseDict({"plan_id": "crews-suggest", "job": job}, pb.SuggestTechniciansRequest()),
        json_format.ParseDict({"plan_id": "crews-suggest", "job": job}, pb.SuggestSlotsRequest()),
    ):
        call = stub.SuggestTechnicians if isinstance(ask, pb.SuggestTechniciansRequest) else stub.SuggestSlots
        with pytest.raises(grpc.RpcError) as err:
            call(ask, timeout=60)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "job.technicians_required" in field_violations(err.value)


def test_the_search_keeps_every_crew_whole_and_together_while_it_searches():
    """``lns.Search``'s crews, step by step (in process): starts chosen before VROOM builds the day,
    every crew served whole and together after each round, and a neighbourhood's result that serves
    part of a crew refused. What the search finds in its time may vary; these hold whatever it finds."""
    import time  # noqa: PLC0415

    from dispatch.bootstrap import bootstrap  # noqa: PLC0415
    from dispatch.config import Settings  # noqa: PLC0415
    from dispatch.server.convert import problem_from_proto  # noqa: PLC0415
    from dispatch.solver.lns import Search  # noqa: PLC0415
    from dispatch.solver.objective import Objective  # noqa: PLC0415
    from dispatch.solver.schedule import RouteTimer  # noqa: PLC0415
    from dispatch.solver.screen import screen  # noqa: PLC0415

    problem, bad = problem_from_proto(to_proto(crew_day("crews-search")))
    assert not bad
    problem, matrix = bootstrap(Settings(), pool=False).prepare(problem)
    screening = screen(problem, matrix.for_solver())
    objective = Objective.of(problem, screening)
    timer = RouteTimer(problem, matrix.for_solver(), screening.horizon)
    search = Search(problem, matrix.for_solver(), screening, objective, timer)
    assert len(search.crew_members) >= 8

    def starts(j: int) -> int | None:
        for v, route in search.routes.items():
            if j in route:
                timing = timer.timing(v, route)
                assert timing is not None
                return timing.starts[route.index(j)]
        return None

    def whole_and_together() -> int:
        staffed = 0
        for js in search.crew_members.values():
            at = {starts(j) for j in js}
            assert at == {None} or (None not in at and len(at) == 1), at  # all served at one start, or none
            staffed += None not in at
        return staffed

    search.construct(time.monotonic() + 2.0)
    assert search.pins, "crews were given their starts before the build"
    search.crews()
    staffed = whole_and_together()
    assert staffed >= 1
    assert all(search.pins[j] == starts(j) for j in search.pins), "the served crews' starts are pinned"
    left = [js for js in search.crew_members.values() if starts(js[0]) is None]
    assert set(search.crews_left) == {j for js in left for j in js}, "every crew left out was tried"
    # a neighbourhood's result serving one member of a served crew is refused
    js = next(js for js in search.crew_members.values() if starts(js[0]) is not None)
    v = next(v for v, r in search.routes.items() if js[0] in r)
    assert search._whole([v], {v: list(search.routes[v])})
    assert not search._whole([v], {v: [j for j in search.routes[v] if j != js[0]]})
    search.improve(time.monotonic() + 1.5)
    search.crews()
    whole_and_together()


def test_a_day_without_breaks_or_emergencies_with_crews_goes_to_the_search_that_knows_crews(stub):
    """PyVRP takes days it expresses exactly (no breaks, no emergencies...); it has no visits that
    start together, so a day with crews goes to the search that keeps them whole."""
    day = crew_day("crews-textbook")
    for tech in day["technicians"]:
        tech.pop("breaks", None)
    for job in day["jobs"]:
        if job.get("priority") == "EMERGENCY":
            job["priority"] = "HIGH"
    wanted = [j for j in day["jobs"] if j.get("technicians_required") == 2]
    plan = stub.Solve(to_proto(day), timeout=60).plan
    assert plan.stats.solver_status.startswith("VROOM_LNS"), plan.stats.solver_status
    crews = crews_of(plan)
    assert len(crews) >= len(wanted) // 2
    for visits in crews.values():
        assert len({v.start.seconds for _, v in visits}) == 1
    check = stub.Validate(pb.ValidateRequest(request=to_proto(day), plan=plan), timeout=60)
    assert check.feasible, [v.message for v in check.violations]
