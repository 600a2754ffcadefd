"""Requests as a dispatch console sends them: protobuf JSON with the public field names."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format

from dispatch.v1 import dispatch_pb2 as pb

DENVER = (39.7392, -104.9903)


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(dlat: float, dlng: float) -> dict[str, float]:
    return {"lat": DENVER[0] + dlat, "lng": DENVER[1] + dlng}


def busy_day(*, time_limit: str, plan_id: str = "busy-day") -> dict[str, Any]:
    """A day whose search takes its whole time limit, for tests that need a solver worker busy: a
    search stops early once it stalls (``lns.STALL_PER_TECHNICIAN``), which 40 technicians and 400
    jobs do not do in seconds (800 moves in a row found nothing better)."""
    from dispatch.examples.generate import generate  # noqa: PLC0415

    day = generate(technicians=40, jobs=400, seed=3)
    day["plan_id"] = plan_id
    day["options"]["time_limit"] = time_limit
    return day


def small_day(*, jobs: int = 8, time_limit: str = "1s") -> dict[str, Any]:
    """Two technicians (HVAC, plumbing) from homes across town, ``jobs`` jobs with 3-hour windows."""
    technicians = [
        {
            "id": "mike",
            "name": "Mike",
            "phone": "+13035550101",
            "start_location": _at(0.05, -0.05),
            "shift": {"start": "2026-03-02T15:00:00Z", "end": "2026-03-03T00:00:00Z"},
            "breaks": [
                {"window": {"start": "2026-03-02T18:30:00Z", "end": "2026-03-02T20:30:00Z"}, "duration": "1800s"}
            ],
            "skills": ["hvac", "epa_608"],
            "tools": ["ladder_28ft"],
            "parts": {"filter_16x25": 4},
        },
        {
            "id": "rosa",
            "name": "Rosa",
            "start_location": _at(-0.04, 0.06),
            "end_location": _at(-0.04, 0.06),
            "shift": {"start": "2026-03-02T15:00:00Z", "end": "2026-03-03T00:00:00Z"},
            "skills": ["plumbing"],
            "tools": ["pipe_camera"],
        },
    ]
    out = []
    for i in range(jobs):
        hvac = i % 2 == 0
        start = datetime(2026, 3, 2, 15, tzinfo=UTC) + timedelta(hours=(i % 4) * 2)
        out.append(
            {
                "id": f"job-{i}",
                "location": _at(0.01 * (i % 5) - 0.02, 0.012 * (i % 3) - 0.01),
                "service_duration": "2700s",
                "time_windows": [{"start": _stamp(start), "end": _stamp(start + timedelta(hours=3))}],
                "required_skills": ["hvac"] if hvac else ["plumbing"],
                "required_parts": {"filter_16x25": 1} if hvac and i % 4 == 0 else {},
                "priority": "NORMAL",
                "customer": {"name": f"Customer {i}", "phone": "+13035550199"},
                "service_type": "AC tune-up" if hvac else "Drain cleaning",
            }
        )
    return {
        "plan_id": "small-day",
        "start_time": "2026-03-02T14:00:00Z",
        "technicians": technicians,
        "jobs": out,
        "options": {"time_limit": time_limit, "travel_model": "GREAT_CIRCLE"},
    }


def burst_pipe(**more: Any) -> dict[str, Any]:
    """An emergency plumbing job in the middle of ``small_day``'s town (the protobuf JSON of a ``Job``)."""
    return {
        "id": "burst",
        "location": {"lat": 39.74, "lng": -104.99},
        "service_duration": "1800s",
        "required_skills": ["plumbing"],
        "priority": "EMERGENCY",
        "respond_within": "3600s",
        **more,
    }


def to_proto(day: dict[str, Any], *, replace: bool = True) -> pb.SolveRequest:
    """``day`` as a ``SolveRequest``. With ``replace`` (the tests' default: they solve the same
    plan ids again and again) unless the day says otherwise; ``replace=False`` asks what a
    console's first ``Solve`` of a day asks."""
    request = json_format.ParseDict(copy.deepcopy(day), pb.SolveRequest())
    if "replace" not in day:
        request.replace = replace
    return request


def google_day(*, technicians: int = 4, jobs: int = 56, seed: int = 3, time_limit: str = "1s") -> dict[str, Any]:
    """``technicians`` + ``jobs`` distinct places around Denver (homes are start and end), travel_model
    GOOGLE: 60 places by default, so a cold matrix is 60 x 60 = 36 requests of 10 x 10."""
    import random  # noqa: PLC0415

    rng = random.Random(seed)
    techs = [
        {
            "id": f"tech-{v}",
            "name": f"Tech {v}",
            "start_location": _at(rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)),
            "shift": {"start": "2026-03-02T15:00:00Z", "end": "2026-03-03T01:00:00Z"},
            "skills": ["hvac"],
        }
        for v in range(technicians)
    ]
    out = []
    for i in range(jobs):
        start = datetime(2026, 3, 2, 15, tzinfo=UTC) + timedelta(hours=2 * (i % 4))
        out.append(
            {
                "id": f"job-{i}",
                "location": _at(rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)),
                "service_duration": "1800s",
                "time_windows": [{"start": _stamp(start), "end": _stamp(start + timedelta(hours=4))}],
                "required_skills": ["hvac"],
            }
        )
    return {
        "plan_id": "google-day",
        "start_time": "2026-03-02T15:00:00Z",
        "technicians": techs,
        "jobs": out,
        "options": {"time_limit": time_limit, "travel_model": "GOOGLE"},
    }
