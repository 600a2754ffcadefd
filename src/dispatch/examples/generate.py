"""Generate realistic home-services days as ``SolveRequest`` JSON (protobuf JSON mapping).

One metro area (Denver), a crew split between HVAC, plumbing and electrical, jobs of
the kinds those trades get (tune-ups, repairs, installs, emergencies) with 2-4 hour
arrival windows, lunch breaks, parts on the vans and a few pinned follow-up visits.
Deterministic for a given seed. The bundled ``metro_day.json`` is
``python -m dispatch.examples.generate --technicians 8 --jobs 60 --seed 7``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("America/Denver")
CENTER = (39.7392, -104.9903)  # downtown Denver
SPAN = (0.10, 0.13)  # half-extent in degrees: about 11 km either way
DAY = date(2026, 3, 3)


@dataclass(frozen=True)
class Trade:
    name: str
    skills: tuple[str, ...]  # every technician of the trade has the first; certifications vary
    tools: tuple[str, ...]
    parts: dict[str, int]  # typical van stock
    jobs: tuple[tuple[str, int, tuple[str, ...], tuple[str, ...], dict[str, int]], ...]
    # (service type, minutes, extra skills, tools, parts)


TRADES = (
    Trade(
        "hvac",
        ("hvac", "epa_608", "gas_line"),
        ("ladder_28ft", "recovery_machine", "combustion_analyzer"),
        {"filter_16x25": 6, "capacitor_45_5": 3, "igniter": 2, "thermostat": 1},
        (
            ("AC tune-up", 45, (), (), {"filter_16x25": 1}),
            ("Furnace repair", 75, ("gas_line",), ("combustion_analyzer",), {"igniter": 1}),
            ("No cooling", 60, ("epa_608",), ("recovery_machine",), {"capacitor_45_5": 1}),
            ("Thermostat install", 40, (), (), {"thermostat": 1}),
            ("Rooftop unit check", 45, (), ("ladder_28ft",), {}),
        ),
    ),
    Trade(
        "plumbing",
        ("plumbing", "backflow_cert", "gas_line"),
        ("pipe_camera", "drain_jetter", "press_tool"),
        {"wax_ring": 3, "flapper": 4, "heater_element": 2, "pex_fittings": 20},
        (
            ("Drain cleaning", 45, (), ("drain_jetter",), {}),
            ("Toilet repair", 40, (), (), {"flapper": 1}),
            ("Water heater service", 75, (), (), {"heater_element": 1}),
            ("Sewer line inspection", 60, (), ("pipe_camera",), {}),
            ("Backflow test", 30, ("backflow_cert",), (), {}),
            ("Leak repair", 60, (), ("press_tool",), {"pex_fittings": 4}),
        ),
    ),
    Trade(
        "electrical",
        ("electrical", "master_license"),
        ("thermal_camera", "ladder_28ft"),
        {"breaker_20a": 4, "gfci_outlet": 6},
        (
            ("Outlet repair", 30, (), (), {"gfci_outlet": 1}),
            ("Breaker replacement", 45, (), (), {"breaker_20a": 1}),
            ("Panel inspection", 60, ("master_license",), ("thermal_camera",), {}),
            ("Ceiling fan install", 75, (), ("ladder_28ft",), {}),
        ),
    ),
)
EMERGENCIES = (
    ("hvac", "No heat", 90, (), (), {"igniter": 1}),
    ("plumbing", "Burst pipe", 75, (), ("press_tool",), {"pex_fittings": 6}),
    ("electrical", "Sparking outlet", 60, (), (), {"gfci_outlet": 1}),
)
FIRST_NAMES = (
    "Mike Rosa Dev Priya Sam Jordan Luis Hana Omar Kate Theo Mara Eli Nina Raj Tess Abe Lena Cruz Ivy "
    "Wes Gia Noah Ruth Ben Zoe Max Ada Leo Fay"
).split()
STREETS = "Colfax Ave|Broadway|Federal Blvd|Colorado Blvd|Speer Blvd|Alameda Ave|Evans Ave|Quebec St|Santa Fe Dr|Sheridan Blvd"
WINDOWS = ((8, 10), (8, 12), (10, 12), (10, 14), (12, 14), (12, 16), (13, 17), (14, 17))


def stamp(local: datetime) -> str:
    """RFC 3339 UTC, as the protobuf JSON mapping writes a Timestamp."""
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(day: date, hour: float) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(hours=hour)


def generate(
    *,
    technicians: int = 8,
    jobs: int = 60,
    seed: int = 7,
    day: date = DAY,
    emergencies: int | None = None,
    two_windows: float = 0.1,
    tight_parts: bool = False,
    crews: float = 0.0,
) -> dict[str, Any]:
    """A day as a ``SolveRequest`` dict: ``technicians`` split over the trades, ``jobs`` jobs.

    ``emergencies`` jobs (default about 3 %, at least 2 when there are 20 or more) must be
    reached within the hour; about 1 in 30 is a follow-up pinned to a technician. A morning
    booking offers a second window in the late afternoon with probability ``two_windows``;
    ``tight_parts`` halves every van's stock (at least one of each part carried). A ``crews`` share of
    the jobs (never an emergency or a pinned follow-up) needs two technicians together: every one of
    them of the trade, the job's certifications held by at least one (``required_skills_any_member``).
    """
    rng = random.Random(seed)
    crew = [_technician(rng, k, day) for k in range(technicians)]
    if tight_parts:
        for t in crew:
            t["parts"] = {p: max(1, q // 2) for p, q in t["parts"].items()}
    n_emergency = max(2 if jobs >= 20 else 0, round(jobs * 0.03)) if emergencies is None else emergencies
    out: list[dict[str, Any]] = []
    for k in range(jobs):
        out.append(_emergency(rng, k, day) if k < n_emergency else _job(rng, k, day, technicians, two_windows))
    rng.shuffle(out)
    for k, job in enumerate(out):
        job["id"] = f"J{k + 1:04d}"
    # Follow-up visits stay with the technician who started the work, if the crew has the trade.
    for job in out[15::30]:
        trade = job["required_skills"][0]
        owners = [t for t in crew if trade in t["skills"] and set(job["required_skills"]) <= set(t["skills"])]
        if owners and job.get("priority") != "EMERGENCY":
            job["pinned_technician_id"] = rng.choice(owners)["id"]
            job["service_type"] += " (follow-up)"
    pairs = random.Random(seed + 2)  # its own draws: the day without crews is the same day
    for job in out:
        if job.get("priority") == "EMERGENCY" or job.get("pinned_technician_id") or pairs.random() >= crews:
            continue
        job["technicians_required"] = 2
        job["required_skills_any_member"] = job["required_skills"][1:]
        job["required_skills"] = job["required_skills"][:1]
        job["service_type"] += " (two-person)"
    return {
        "plan_id": f"denver-{day.isoformat()}-{technicians}x{jobs}",
        "start_time": stamp(at(day, 7.5)),
        "time_zone": TZ.key,
        "technicians": crew,
        "jobs": out,
        "options": {"time_limit": "10s" if jobs <= 100 else "60s", "travel_model": "GREAT_CIRCLE"},
    }


def generate_week(
    *, technicians: int = 30, jobs: int = 800, days: int = 5, seed: int = 7, day: date = DAY, flexible: float = 0.3
) -> dict[str, Any]:
    """Several working days as one ``SolveRequest`` dict: the crew of ``generate`` with one shift a day
    (``shifts[]``, each with its lunch break), ``jobs`` booked into windows spread over the ``days``;
    a ``flexible`` share of them (never an emergency) may be done any day of the week
    (``earliest_day``/``latest_day``, no window). Emergencies are today's."""
    rng = random.Random(seed + 1)
    request = generate(technicians=technicians, jobs=jobs, seed=seed, day=day)
    dates = [day + timedelta(days=d) for d in range(days)]
    for tech in request["technicians"]:
        shift, lunch = tech.pop("shift"), tech.pop("breaks")[0]
        tech["shifts"] = [
            {
                "id": d.isoformat(),
                "window": {"start": _moved(shift["start"], k), "end": _moved(shift["end"], k)},
                "breaks": [
                    {
                        "window": {
                            "start": _moved(lunch["window"]["start"], k),
                            "end": _moved(lunch["window"]["end"], k),
                        },
                        "duration": lunch["duration"],
                    }
                ],
            }
            for k, d in enumerate(dates)
        ]
    for job in request["jobs"]:
        if job.get("priority") == "EMERGENCY":
            continue
        if rng.random() < flexible:
            job.pop("time_windows", None)
            job["earliest_day"], job["latest_day"] = dates[0].isoformat(), dates[-1].isoformat()
            continue
        k = rng.randrange(days)
        job["time_windows"] = [
            {"start": _moved(w["start"], k), "end": _moved(w["end"], k)} for w in job["time_windows"]
        ]
    request["plan_id"] = f"denver-week-{day.isoformat()}-{technicians}x{jobs}x{days}"
    request["options"]["time_limit"] = "120s"
    return request


def _moved(stamp_: str, days: int) -> str:
    """An RFC 3339 UTC time ``days`` local days later (the same local clock time)."""
    local = datetime.fromisoformat(stamp_.replace("Z", "+00:00")).astimezone(TZ)
    return stamp(datetime.combine(local.date() + timedelta(days=days), local.time(), TZ))


def _point(rng: random.Random) -> dict[str, float]:
    return {
        "lat": round(CENTER[0] + rng.uniform(-SPAN[0], SPAN[0]), 5),
        "lng": round(CENTER[1] + rng.uniform(-SPAN[1], SPAN[1]), 5),
    }


def _technician(rng: random.Random, k: int, day: date) -> dict[str, Any]:
    trade = TRADES[k % len(TRADES)]
    # Everyone holds the trade's base skill; certifications and the heavier tools vary by person.
    skills = [trade.skills[0], *(s for s in trade.skills[1:] if rng.random() < 0.7)]
    tools = [t for t in trade.tools if rng.random() < 0.85] or [trade.tools[0]]
    parts = {p: max(1, q + rng.randint(-1, 1)) for p, q in trade.parts.items() if rng.random() < 0.9}
    home = _point(rng)
    start = 7.5 if k % 4 else 8.0
    name = FIRST_NAMES[k % len(FIRST_NAMES)] + ("" if k < len(FIRST_NAMES) else f" {k // len(FIRST_NAMES) + 1}")
    return {
        "id": f"T{k + 1:02d}",
        "name": name,
        "phone": f"+1303555{1000 + k:04d}",
        "start_location": home,
        "end_location": home,
        "shift": {"start": stamp(at(day, start)), "end": stamp(at(day, start + 10))},
        "breaks": [
            {
                "window": {"start": stamp(at(day, 11.0)), "end": stamp(at(day, 13.5))},
                "duration": "1800s",
            }
        ],
        "skills": skills,
        "tools": tools,
        "parts": parts,
    }


def _customer(rng: random.Random, k: int) -> dict[str, str]:
    return {"name": f"Customer {k + 1}", "phone": f"+1720555{rng.randint(0, 9999):04d}"}


def _address(rng: random.Random) -> str:
    return f"{rng.randint(100, 9999)} {rng.choice(STREETS.split('|'))}, Denver, CO"


def _job(rng: random.Random, k: int, day: date, technicians: int, two_windows: float) -> dict[str, Any]:
    trade = TRADES[k % technicians % len(TRADES)]  # the office books work in proportion to the crew
    service, minutes, skills, tools, parts = rng.choice(trade.jobs)
    a, b = rng.choice(WINDOWS)
    windows = [{"start": stamp(at(day, a)), "end": stamp(at(day, b))}]
    if rng.random() < two_windows and b <= 12:  # "this morning, or else late afternoon"
        windows.append({"start": stamp(at(day, 15)), "end": stamp(at(day, 17))})
    priority = rng.choices(("LOW", "NORMAL", "HIGH"), weights=(2, 7, 1))[0]
    return {
        "id": "",
        "location": {**_point(rng), "address": _address(rng)},
        "service_duration": f"{minutes * 60}s",
        "time_windows": windows,
        "required_skills": [trade.skills[0], *skills],
        "required_tools": list(tools),
        "required_parts": dict(parts),
        "priority": priority,
        "customer": _customer(rng, k),
        "service_type": service,
    }


def _emergency(rng: random.Random, k: int, day: date) -> dict[str, Any]:
    trade, service, minutes, skills, tools, parts = EMERGENCIES[k % len(EMERGENCIES)]
    return {
        "id": "",
        "location": {**_point(rng), "address": _address(rng)},
        "service_duration": f"{minutes * 60}s",
        "required_skills": [trade, *skills],
        "required_tools": list(tools),
        "required_parts": dict(parts),
        "priority": "EMERGENCY",
        "customer": _customer(rng, k),
        "service_type": service,
        "respond_within": "3600s",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--technicians", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", type=date.fromisoformat, default=DAY)
    parser.add_argument("--emergencies", type=int, help="number of emergencies (default: about 3 %% of the jobs)")
    parser.add_argument("--two-windows", type=float, default=0.1, help="share of morning bookings with a second window")
    parser.add_argument("--tight-parts", action="store_true", help="halve every van's stock")
    parser.add_argument("--crews", type=float, default=0.0, help="share of jobs that need two technicians together")
    parser.add_argument("--time-limit", help="options.time_limit, e.g. 30s")
    parser.add_argument("--out", type=Path, help="write here (default: stdout)")
    args = parser.parse_args(argv)
    request = generate(
        technicians=args.technicians,
        jobs=args.jobs,
        seed=args.seed,
        day=args.day,
        emergencies=args.emergencies,
        two_windows=args.two_windows,
        tight_parts=args.tight_parts,
        crews=args.crews,
    )
    if args.time_limit:
        request["options"]["time_limit"] = args.time_limit
    text = json.dumps(request, indent=1) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
