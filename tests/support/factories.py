"""Small, readable problem builders for tests.

Places are integer positions on a straight road: position ``x`` is matrix row ``x``;
driving between ``a`` and ``b`` takes ``|a - b|`` minutes and covers ``|a - b|`` km.
Times are plan seconds (0 = the plan's "now", 08:00 on the test day).
"""

from __future__ import annotations

import numpy as np

from dispatch.check import check_plan
from dispatch.domain import (
    Break,
    ExplicitMatrix,
    Job,
    Location,
    Plan,
    Priority,
    Problem,
    SolveOptions,
    Technician,
    TimeWindow,
    TravelModel,
)
from dispatch.matrix import DayMatrix, ExplicitProvider, day_matrix
from dispatch.solver import solve

MIN = 60
HOUR = 3600
EPOCH = 1_772_463_600  # 2026-03-02T15:00:00Z (08:00 in Denver)
ROAD_LENGTH = 200


def at(x: int) -> Location:
    return Location(matrix_index=x)


def window(a: int, b: int) -> TimeWindow:
    return TimeWindow(start=a, end=b)


def tech(
    id: str,
    *,
    home: int = 0,
    end: int | None = None,
    shift: tuple[int, int] = (0, 9 * HOUR),
    skills: tuple[str, ...] = (),
    tools: tuple[str, ...] = (),
    parts: dict[str, int] | None = None,
    breaks: tuple[tuple[int, int, int], ...] = (),
) -> Technician:
    """A technician; ``breaks`` are ``(window start, window end, duration)``."""
    return Technician(
        id=id,
        name=id.title(),
        start_location=at(home),
        end_location=at(home if end is None else end),
        shift=window(*shift),
        breaks=tuple(Break(window=window(a, b), duration=d) for a, b, d in breaks),
        skills=frozenset(skills),
        tools=frozenset(tools),
        parts=tuple(sorted((parts or {}).items())),
    )


def job(
    id: str,
    *,
    x: int,
    service: int = 30 * MIN,
    windows: tuple[tuple[int, int], ...] = (),
    skills: tuple[str, ...] = (),
    tools: tuple[str, ...] = (),
    parts: dict[str, int] | None = None,
    priority: Priority = Priority.NORMAL,
    pinned: str = "",
    respond_within: int | None = None,
) -> Job:
    return Job(
        id=id,
        location=at(x),
        service_duration=service,
        time_windows=tuple(window(a, b) for a, b in windows),
        required_skills=frozenset(skills),
        required_tools=frozenset(tools),
        required_parts=tuple(sorted((parts or {}).items())),
        priority=priority,
        pinned_technician_id=pinned,
        respond_within=respond_within,
    )


def road_matrix(size: int = ROAD_LENGTH) -> ExplicitMatrix:
    pos = np.arange(size)
    gap = np.abs(pos[:, None] - pos[None, :])
    return ExplicitMatrix(size=size, durations=(gap * MIN).ravel(), distances=(gap * 1000).ravel())


def problem(techs: list[Technician], jobs: list[Job], *, time_limit: float = 0.5, plan_id: str = "test") -> Problem:
    return Problem(
        plan_id=plan_id,
        epoch=EPOCH,
        technicians=tuple(techs),
        jobs=tuple(jobs),
        options=SolveOptions(time_limit=time_limit, travel_model=TravelModel.EXPLICIT),
        travel_matrix=road_matrix(),
    )


def matrix_for(p: Problem) -> DayMatrix:
    assert p.travel_matrix is not None
    return day_matrix(p, ExplicitProvider(p.travel_matrix))


def solve_checked(p: Problem) -> Plan:
    """Solve in process and assert the independent checker finds nothing wrong."""

    m = matrix_for(p)
    plan = solve(p, m)
    assert_feasible(p, m, plan)
    return plan


def assert_feasible(p: Problem, m: DayMatrix, plan: Plan) -> None:
    violations = check_plan(p, m, plan)
    assert not violations, "\n".join(f"{v.code}: {v.message}" for v in violations)


def route_of(plan: Plan, technician_id: str):
    return next((r for r in plan.routes if r.technician_id == technician_id), None)


def visit_of(plan: Plan, job_id: str):
    return next((v for r in plan.routes for v in r.visits if v.job_id == job_id), None)


def who_serves(plan: Plan, job_id: str) -> str | None:
    return next((r.technician_id for r in plan.routes for v in r.visits if v.job_id == job_id), None)


def reason_of(plan: Plan, job_id: str):
    return next((u.reason for u in plan.unassigned if u.job_id == job_id), None)
