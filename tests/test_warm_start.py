"""The PyVRP warm start: used only where it is exact, checked by OR-Tools and the checker."""

from __future__ import annotations

import dataclasses
import random
import time

from dispatch.domain import Priority
from dispatch.solver import search
from dispatch.solver.model import build
from dispatch.solver.screen import screen
from dispatch.solver.warm_start import Routes, arrival_window, exact, pyvrp_routes
from tests.support.factories import HOUR, MIN, assert_feasible, job, matrix_for, problem, tech, visit_of, who_serves


def run_search(p):
    """Search as ``solve`` does; return the checked plan and which search made it."""
    m = matrix_for(p)
    began = time.monotonic()
    plan = search.run(p, m, screen(p, m), began=began, deadline=began + p.options.time_limit)
    assert_feasible(p, m, plan)
    return plan, {"PYVRP_ORTOOLS": "pyvrp", "VROOM_LNS": "vroom"}[plan.stats.solver_status]


def test_the_warm_start_is_exact_only_without_breaks_to_take():
    assert exact(problem([tech("a")], [job("j", x=5)]))
    assert not exact(problem([tech("a", breaks=((3 * HOUR, 5 * HOUR, 30 * MIN),))], [job("j", x=5)]))
    assert exact(problem([tech("a", breaks=((-3 * HOUR, -HOUR, 30 * MIN),))], [job("j", x=5)]))  # lunch is over


def test_a_job_with_several_windows_keeps_its_longest_for_pyvrp():
    j = job("j", x=5, windows=((0, HOUR), (3 * HOUR, 5 * HOUR), (6 * HOUR, 8 * HOUR)))
    assert arrival_window(j, 9 * HOUR) == (3 * HOUR, 5 * HOUR)


def test_routes_are_rebuilt_around_lunch_breaks_so_the_full_model_accepts_them():
    """Three technicians with a 30-min lunch in 3:00-5:00; 24 one-hour jobs with 2-hour windows."""
    techs = [tech(f"t{k}", home=40 * k, breaks=((3 * HOUR, 5 * HOUR, 30 * MIN),)) for k in range(3)]
    rng = random.Random(3)
    jobs = []
    for i in range(24):
        a = rng.randrange(0, 7) * HOUR
        jobs.append(
            job(f"j{i}", x=rng.randrange(0, 120), service=rng.choice((30, 60)) * MIN, windows=((a, a + 2 * HOUR),))
        )
    p = problem(techs, jobs, time_limit=1.5)
    m = matrix_for(p)
    model = build(p, m, screen(p, m))
    routes = pyvrp_routes(p, m, model.screening, time_limit=1.0)
    assert routes is not None and routes.by_technician
    model.routing.CloseModelWithParameters(search.search_parameters(1.0))
    indices = [[model.job_index(j) for j in routes.by_technician.get(v, [])] for v in range(3)]
    assert model.routing.ReadAssignmentFromRoutes(indices, True) is not None
    plan, how = run_search(p)
    assert how == "vroom"  # days with breaks to take are searched by VROOM (benchmarks/RESULTS.md)


def test_a_job_with_two_windows_is_warm_started_and_served_inside_one():
    p = problem(
        [tech("a", shift=(0, 9 * HOUR))], [job("j", x=10, windows=((0, HOUR), (5 * HOUR, 8 * HOUR)))], time_limit=1.0
    )
    plan, how = run_search(p)
    assert how == "pyvrp"
    assert visit_of(plan, "j") is not None


def test_a_mixed_crew_day_is_warm_started_and_keeps_every_rule():
    """Four technicians with different trades, vans and shifts; 26 jobs, more than they can do.

    Skills, tools, parts, a pin, an emergency with a response bound: all must hold in PyVRP's routes
    (without the emergency term, which PyVRP cannot price: with it the day goes to VROOM).
    """
    techs = [
        tech("h1", home=10, skills=("hvac",), tools=("ladder",), parts={"filter": 3}),
        tech("h2", home=150, skills=("hvac",), parts={"filter": 1}, shift=(HOUR, 7 * HOUR)),
        tech("p1", home=80, skills=("plumbing",), tools=("camera",)),
        tech("p2", home=120, end=60, skills=("plumbing",)),
    ]
    rng = random.Random(7)
    jobs = []
    for i in range(24):
        trade = "hvac" if i % 2 else "plumbing"
        start = rng.randrange(0, 6) * HOUR
        jobs.append(
            job(
                f"j{i}",
                x=rng.randrange(0, 190),
                service=rng.choice((30, 45, 60)) * MIN,
                windows=((start, start + 3 * HOUR),),
                skills=(trade,),
                tools=("ladder",) if trade == "hvac" and i % 5 == 0 else ("camera",) if i % 7 == 0 else (),
                parts={"filter": 1} if trade == "hvac" and i % 3 == 0 else None,
                priority=(Priority.LOW, Priority.NORMAL, Priority.HIGH)[i % 3],
            )
        )
    jobs.append(job("pin", x=100, skills=("plumbing",), pinned="p2"))
    jobs.append(job("sos", x=140, skills=("hvac",), priority=Priority.EMERGENCY, respond_within=2 * HOUR))
    p = problem(techs, jobs, time_limit=1.5)
    p = dataclasses.replace(p, options=dataclasses.replace(p.options, emergency_weight=0))  # PyVRP's day
    plan, how = run_search(p)
    assert how == "pyvrp"
    assert who_serves(plan, "pin") == "p2"
    sos = visit_of(plan, "sos")
    assert sos is not None and sos.start <= 2 * HOUR
    assert len(plan.unassigned) > 0  # more work than time: the checker verified the rest


def test_random_days_with_and_without_breaks_are_feasible():
    rng = random.Random(11)
    for seed in range(12):
        techs = [
            tech(
                f"t{k}",
                home=rng.randrange(0, 150),
                shift=(rng.choice((0, HOUR)), rng.choice((5, 7, 9)) * HOUR),
                skills=tuple(rng.sample(("a", "b", "c"), rng.randint(1, 3))),
                parts={"x": rng.randint(0, 4), "y": rng.randint(0, 2)},
                breaks=((2 * HOUR, 5 * HOUR, rng.choice((15, 30, 60)) * MIN),) if rng.random() < 0.4 else (),
            )
            for k in range(rng.randint(1, 5))
        ]
        jobs = [
            job(
                f"s{seed}j{i}",
                x=rng.randrange(0, 190),
                service=rng.choice((15, 45, 90)) * MIN,
                windows=((w := rng.randrange(0, 7) * HOUR, w + rng.choice((1, 2, 4)) * HOUR),),
                skills=(rng.choice("abc"),),
                parts={rng.choice("xy"): 1} if rng.random() < 0.4 else None,
                priority=rng.choice(list(Priority)),
                respond_within=3 * HOUR if rng.random() < 0.1 else None,
                pinned=rng.choice(techs).id if rng.random() < 0.1 else "",
            )
            for i in range(rng.randint(1, 20))
        ]
        p = problem(techs, jobs, time_limit=0.6)
        plan, how = run_search(p)
        emergency = any(j.priority is Priority.EMERGENCY for j in p.jobs)
        assert how == ("pyvrp" if exact(p) and not emergency else "vroom")
        assert len(plan.assigned_job_ids) + len(plan.unassigned) == len(jobs)


def test_a_route_the_full_model_refuses_is_left_to_the_insertion_pass(monkeypatch):
    """A warm start that breaks a rule (here: a plumbing job on the HVAC van) is refused by OR-Tools;
    its jobs are placed by the last insertion pass, each with a technician allowed to do it."""
    techs = [tech("h", home=0, skills=("hvac",)), tech("p", home=100, skills=("plumbing",))]
    p = problem(techs, [job("leak", x=5, skills=("plumbing",)), job("ac", x=6, skills=("hvac",))], time_limit=0.8)
    wrong = Routes(by_technician={0: [0, 1]})  # both jobs to the HVAC technician
    monkeypatch.setattr(search, "pyvrp_routes", lambda *a, **k: wrong)
    plan, _ = run_search(p)
    assert who_serves(plan, "leak") == "p" and who_serves(plan, "ac") == "h"


def test_pyvrp_gets_the_budget_and_its_loaded_routes_are_the_plan():
    """PyVRP searches until the finishing time; what OR-Tools read in is the plan."""
    techs = [tech("a"), tech("b", home=50)]
    jobs = [job(f"j{i}", x=7 * i, windows=((i * 20 * MIN, i * 20 * MIN + 2 * HOUR),)) for i in range(12)]
    plan, how = run_search(problem(techs, jobs, time_limit=0.6))
    assert how == "pyvrp" and len(plan.assigned_job_ids) >= 10
