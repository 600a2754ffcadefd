"""Meaning checks on a parsed ``Problem``: collect every bad field, then raise once.

Shape checks (missing messages, unknown enum values) happen while parsing, in the
transport layer; both feed one ``ProblemError``. The solver only sees problems
that pass here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from dispatch.domain import (
    GOOGLE_MODELS,
    Break,
    Job,
    Location,
    Problem,
    Technician,
    TimeWindow,
    TravelModel,
    known_zone,
    person_of,
)
from dispatch.errors import FieldViolation, ProblemError
from dispatch.horizon import MAX_CREW, MAX_HORIZON_DAYS, MAX_SHIFTS, local_day

DAY = 86_400
#: The largest weight of a second of service time against a second of travel (promise_weight,
#: emergency_weight): beyond it the drop penalties could no longer outweigh it.
MAX_WEIGHT = 1_000
#: Overtime past a shift end, at most.
MAX_OVERTIME = 12 * 3_600
#: The largest balance_weight and cost per hour taken (beyond them the objective's terms outgrow
#: the drop penalties' int64 room).
MAX_BALANCE_WEIGHT = 100.0
MAX_COST_PER_HOUR = 1e6


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Request limits (configurable by the operator; see ``dispatch serve --help``)."""

    max_jobs: int = 5_000
    max_technicians: int = 500
    max_time_limit: float = 600.0
    max_id_length: int = 128
    max_text_length: int = 1_024
    max_matrix_size: int = 6_000
    max_windows: int = 16  # arrival windows per job
    max_breaks: int = 8  # breaks per technician
    # Every timestamp must lie within this many seconds before/after start_time.
    max_past: int = 7 * DAY
    max_future: int = 31 * DAY
    max_duration: int = 7 * DAY  # service, break, respond_within
    max_travel: int = 7 * DAY  # one matrix entry, seconds
    max_distance: int = 50_000_000  # one matrix entry, metres


DEFAULT_LIMITS = Limits()

#: What a phone number must be (texts go out through Twilio, which takes E.164 only).
PHONE_RULE = "must be an international number in E.164 form, e.g. +15551234567"
#: The visual separators a phone number may be written with ("+1 (303) 555-0199", "+44 20.7946.0958").
PHONE_SEPARATORS = " -.()"
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")  # [0-9], not \d: ASCII digits only
_EXTENSION = re.compile(r";?\s*(?:ext(?:ension)?[.:=]?|x|#|,)\s*[0-9]{1,6}\s*$", re.IGNORECASE)
#: "+44 (0)20 …": whether that 0 is dialled after the country code depends on the country (not in
#: the UK, yes in Italy), so the number is ambiguous.
_TRUNK_ZERO = re.compile(r"\(\s*0\s*\)")
_STRIP = str.maketrans("", "", PHONE_SEPARATORS)
_MAX_PHONE_LENGTH = 64


def e164_phone(value: str) -> str | None:
    """``value`` as E.164 (``+`` and 8 to 15 digits, the first not 0) once the separators in
    ``PHONE_SEPARATORS`` are removed, or ``None`` if it is no such number ("" included, and a
    "(0)" that may or may not be dialled)."""
    if len(value) > _MAX_PHONE_LENGTH or _TRUNK_ZERO.search(value):
        return None
    compact = value.translate(_STRIP)
    return compact if _E164.fullmatch(compact) else None


def _phone_hint(value: str) -> str:
    """Why ``value``, not an E.164 number, is refused (or ""): without echoing the number."""
    if len(value) > _MAX_PHONE_LENGTH:
        return f"longer than {_MAX_PHONE_LENGTH} characters"
    hints = []
    extension = _EXTENSION.search(value)
    if extension:
        hints.append("an extension cannot be texted")
        value = value[: extension.start()]
    compact = value.translate(_STRIP)
    digits = compact.removeprefix("+")
    international = compact.startswith("+")
    if not digits:
        hints.append("no digits")
    elif not (digits.isascii() and digits.isdigit()):
        hints.append("only digits after the +, and between them spaces, '-', '.', '(' or ')'")
    elif international and _TRUNK_ZERO.search(value):
        hints.append('"(0)" is ambiguous: leave it out, or keep the 0 without brackets where it is dialled (Italy)')
    elif not international and compact.startswith("00"):
        hints.append('write the international prefix 00 as "+": 0044 20 7946 0958 is +44 20 7946 0958')
    elif not international:
        hints.append('a national number: write it with "+" and the country code')
    elif digits.startswith("0"):
        hints.append("a country code never starts with 0")
    elif not extension:
        hints.append(f"8 to 15 digits after the +, not {len(digits)}")
    return "; ".join(hints)


def validate(
    problem: Problem,
    *,
    limits: Limits = DEFAULT_LIMITS,
    travel_models: frozenset[TravelModel] = frozenset({TravelModel.GREAT_CIRCLE, TravelModel.EXPLICIT}),
    violations: list[FieldViolation] | None = None,
) -> None:
    """Raise ``ProblemError`` listing every violation (plus any passed in), else return."""
    found = list(violations or [])
    _Checker(problem, limits, travel_models, found).run()
    if found:
        raise ProblemError(found)


class _Checker:
    def __init__(
        self,
        problem: Problem,
        limits: Limits,
        travel_models: frozenset[TravelModel],
        out: list[FieldViolation],
    ) -> None:
        self.p = problem
        self.limits = limits
        self.travel_models = travel_models
        self.out = out

    def bad(self, path: str, description: str) -> None:
        self.out.append(FieldViolation(path, description))

    def run(self) -> None:
        p, lim = self.p, self.limits
        self.text(p.plan_id, "plan_id", lim.max_id_length, required=False)
        if p.time_zone and not known_zone(p.time_zone):
            self.bad("time_zone", f"unknown time zone {p.time_zone[:64]!r}: an IANA name, e.g. America/Denver")
        if not 0 <= p.options.time_limit <= lim.max_time_limit or math.isnan(p.options.time_limit):
            self.bad("options.time_limit", f"must be between 0 and {lim.max_time_limit:g} s")
        if not 0 <= p.options.emergency_weight <= MAX_WEIGHT:
            self.bad("options.emergency_weight", f"must be between 0 and {MAX_WEIGHT}")
        if not 0 <= p.options.balance_weight <= MAX_BALANCE_WEIGHT:  # NaN fails too
            self.bad("options.balance_weight", f"must be between 0 and {MAX_BALANCE_WEIGHT:g}")
        if not 0 < p.options.travel_cost_per_hour <= MAX_COST_PER_HOUR:
            self.bad("options.travel_cost_per_hour", f"must be above 0 and at most {MAX_COST_PER_HOUR:g}")
        if p.options.travel_model not in self.travel_models:
            self.bad(
                "options.travel_model",
                f"{p.options.travel_model.value} is not configured on this server",
            )
        if not p.technicians:
            self.bad("technicians", "at least one technician is required")
        if len(p.technicians) > lim.max_technicians:
            self.bad("technicians", f"at most {lim.max_technicians} technicians per request")
        elif sum(max(1, len(t.shifts)) for t in p.technicians) > lim.max_technicians:
            self.bad("technicians", f"at most {lim.max_technicians} routes (technicians' shifts) per request")
        if len(p.jobs) > lim.max_jobs:
            self.bad("jobs", f"at most {lim.max_jobs} jobs per request")
        self.matrix()
        self.duplicates([t.id for t in p.technicians], "technicians")
        self.duplicates([j.id for j in p.jobs], "jobs")
        for i, tech in enumerate(p.technicians):
            self.technician(f"technicians[{i}]", tech)
        tech_ids = {t.id for t in p.technicians} | {person_of(t.id) for t in p.technicians}
        for i, job in enumerate(p.jobs):
            self.job(f"jobs[{i}]", job, tech_ids)

    # ------------------------------------------------------------------ pieces

    def text(self, value: str, path: str, max_len: int, *, required: bool = True) -> None:
        if required and not value.strip():
            self.bad(path, "must not be empty")
        elif value and not value.strip():  # optional, but not blank ("" asks the server for one)
            self.bad(path, "must not be blank")
        elif len(value) > max_len:
            self.bad(path, f"longer than {max_len} characters")
        elif any(ord(c) < 32 for c in value):
            self.bad(path, "contains control characters")

    def phone(self, value: str, path: str) -> None:
        """Empty (no texts to that person), or a number Twilio can text: see ``e164_phone``.
        The number is kept as written; ``dispatch.notify`` turns it into E.164 when it texts."""
        if value and e164_phone(value) is None:
            hint = _phone_hint(value)
            self.bad(path, f"{PHONE_RULE} ({hint})" if hint else PHONE_RULE)

    def duplicates(self, ids: list[str], path: str) -> None:
        counts = Counter(ids)
        for i, value in enumerate(ids):
            if value and counts[value] > 1:
                self.bad(f"{path}[{i}].id", f"duplicate id {value!r}")

    def moment(self, t: int, path: str) -> bool:
        if not -self.limits.max_past <= t <= self.limits.max_future:
            self.bad(
                path,
                f"more than {self.limits.max_past // DAY} days before or "
                f"{self.limits.max_future // DAY} days after start_time",
            )
            return False
        return True

    def window(self, w: TimeWindow, path: str) -> None:
        ok = self.moment(w.start, f"{path}.start") & self.moment(w.end, f"{path}.end")
        if ok and w.end < w.start:
            self.bad(path, "end before start")

    def duration(self, d: int, path: str, *, positive: bool = False) -> None:
        if d < 0 or (positive and d == 0):
            self.bad(path, "must be positive" if positive else "must not be negative")
        elif d > self.limits.max_duration:
            self.bad(path, f"longer than {self.limits.max_duration // DAY} days")

    def location(self, loc: Location, path: str) -> None:
        model = self.p.options.travel_model
        if model is TravelModel.EXPLICIT:
            size = self.p.travel_matrix.size if self.p.travel_matrix else 0
            if loc.matrix_index is None:
                self.bad(f"{path}.matrix_index", "required with travel_model EXPLICIT")
            elif not 0 <= loc.matrix_index < size:
                self.bad(f"{path}.matrix_index", f"out of range for a travel_matrix of size {size}")
        elif loc.lat is None and loc.lng is None and model in GOOGLE_MODELS:
            if not loc.address.strip():
                self.bad(f"{path}.address", "lat and lng, or an address to geocode, are required")
        elif loc.lat is None or loc.lng is None:
            for name, value in (("lat", loc.lat), ("lng", loc.lng)):
                if value is None:
                    self.bad(f"{path}.{name}", "required (geocoding addresses needs travel_model GOOGLE or ROUTES)")
        if loc.lat is not None and not (math.isfinite(loc.lat) and -90 <= loc.lat <= 90):
            self.bad(f"{path}.lat", "must be a latitude between -90 and 90")
        if loc.lng is not None and not (math.isfinite(loc.lng) and -180 <= loc.lng <= 180):
            self.bad(f"{path}.lng", "must be a longitude between -180 and 180")
        if len(loc.address) > self.limits.max_text_length:
            self.bad(f"{path}.address", f"longer than {self.limits.max_text_length} characters")

    def names(self, values: frozenset[str], path: str) -> None:
        for value in sorted(values):
            if not value.strip() or len(value) > self.limits.max_id_length:
                self.bad(path, f"invalid name {value[:40]!r}")

    def quantities(self, pairs: tuple[tuple[str, int], ...], path: str, *, positive: bool) -> None:
        for name, qty in pairs:
            if not name.strip() or len(name) > self.limits.max_id_length:
                self.bad(path, f"invalid part name {name[:40]!r}")
            if qty < 0 or (positive and qty == 0):
                self.bad(f"{path}[{name[:40]!r}]", "must be positive" if positive else "must not be negative")

    def technician(self, path: str, tech: Technician) -> None:
        self.text(tech.id, f"{path}.id", self.limits.max_id_length)
        self.text(tech.name, f"{path}.name", self.limits.max_text_length, required=False)
        self.phone(tech.phone, f"{path}.phone")
        self.location(tech.start_location, f"{path}.start_location")
        self.location(tech.end_location, f"{path}.end_location")
        if tech.shifts:
            self.shifts(tech, path)
        else:
            self.working_day(tech.shift, tech.breaks, path, "shift")
        self.names(tech.skills, f"{path}.skills")
        self.names(tech.tools, f"{path}.tools")
        self.quantities(tech.parts, f"{path}.parts", positive=False)
        if tech.overtime is not None:
            if not 0 <= tech.overtime.max_extra <= MAX_OVERTIME:
                self.bad(f"{path}.overtime.max_extra", f"must be between 0 and {MAX_OVERTIME // 3600} h")
            if not 0 <= tech.overtime.cost_per_hour <= MAX_COST_PER_HOUR:
                self.bad(f"{path}.overtime.cost_per_hour", f"must be between 0 and {MAX_COST_PER_HOUR:g}")

    def working_day(self, window: TimeWindow, breaks: tuple[Break, ...], path: str, name: str) -> None:
        """A shift's window (``{path}.{name}``) and its breaks (``{path}.breaks``)."""
        self.window(window, f"{path}.{name}")
        if window.end == window.start:
            self.bad(f"{path}.{name}", "end must be after start")
        if len(breaks) > self.limits.max_breaks:
            whose = "technician" if name == "shift" else "shift"
            self.bad(f"{path}.breaks", f"at most {self.limits.max_breaks} breaks per {whose}")
        for k, brk in enumerate(breaks[: self.limits.max_breaks]):
            bpath = f"{path}.breaks[{k}]"
            self.window(brk.window, f"{bpath}.window")
            self.duration(brk.duration, f"{bpath}.duration", positive=True)
            if brk.duration > brk.window.end - brk.window.start >= 0:
                self.bad(f"{bpath}.duration", "longer than its window")

    def shifts(self, tech: Technician, path: str) -> None:
        """Several working days: each valid, ids unique, no two overlapping, within the horizon."""
        if len(tech.shifts) > MAX_SHIFTS:
            self.bad(f"{path}.shifts", f"at most {MAX_SHIFTS} shifts per technician")
        self.duplicates([s.id for s in tech.shifts], f"{path}.shifts")
        for k, s in enumerate(tech.shifts[:MAX_SHIFTS]):
            spath = f"{path}.shifts[{k}]"
            self.text(s.id, f"{spath}.id", self.limits.max_id_length)
            self.working_day(s.window, s.breaks, spath, "window")
            if s.window.end > MAX_HORIZON_DAYS * DAY:
                self.bad(f"{spath}.window.end", f"more than {MAX_HORIZON_DAYS} days after start_time")
            for name, loc in (("start_location", s.start_location), ("end_location", s.end_location)):
                if loc is not None:
                    self.location(loc, f"{spath}.{name}")
            if s.parts is not None:
                self.quantities(s.parts, f"{spath}.parts", positive=False)
        order = sorted(range(len(tech.shifts[:MAX_SHIFTS])), key=lambda k: tech.shifts[k].window.start)
        for a, b in zip(order, order[1:], strict=False):
            if tech.shifts[b].window.start < tech.shifts[a].window.end:
                self.bad(f"{path}.shifts[{b}].window", f"overlaps shift {tech.shifts[a].id[:40]!r}")

    def job(self, path: str, job: Job, tech_ids: set[str]) -> None:
        self.text(job.id, f"{path}.id", self.limits.max_id_length)
        self.location(job.location, f"{path}.location")
        self.duration(job.service_duration, f"{path}.service_duration")
        if len(job.time_windows) > self.limits.max_windows:
            self.bad(f"{path}.time_windows", f"at most {self.limits.max_windows} arrival windows per job")
        for k, w in enumerate(job.time_windows[: self.limits.max_windows]):
            self.window(w, f"{path}.time_windows[{k}]")
        self.names(job.required_skills, f"{path}.required_skills")
        self.names(job.required_tools, f"{path}.required_tools")
        self.quantities(job.required_parts, f"{path}.required_parts", positive=False)
        if job.pinned_technician_id and job.pinned_technician_id not in tech_ids:
            self.bad(f"{path}.pinned_technician_id", f"unknown technician {job.pinned_technician_id[:40]!r}")
        if job.respond_within is not None:
            self.duration(job.respond_within, f"{path}.respond_within", positive=True)
        days = [
            (name, local_day(value))
            for name, value in (("earliest_day", job.earliest_day), ("latest_day", job.latest_day))
        ]
        today = dt.datetime.fromtimestamp(self.p.epoch, dt.UTC).date() if -(10**11) < self.p.epoch < 10**11 else None
        for (name, day), value in zip(days, (job.earliest_day, job.latest_day), strict=True):
            if value and day is None:
                self.bad(f"{path}.{name}", f"must be a date YYYY-MM-DD, not {value[:20]!r}")
            elif day is not None and (
                today is None
                or not -self.limits.max_past // DAY - 1 <= (day - today).days <= self.limits.max_future // DAY + 1
            ):
                self.bad(f"{path}.{name}", "too far from start_time")
        if days[0][1] and days[1][1] and days[1][1] < days[0][1]:
            self.bad(f"{path}.latest_day", "before earliest_day")
        if not 1 <= job.technicians_required <= MAX_CREW:
            self.bad(f"{path}.technicians_required", f"must be between 1 and {MAX_CREW}")
        self.names(job.required_skills_any_member, f"{path}.required_skills_any_member")
        if len(job.preferred_technician_ids) > self.limits.max_technicians:
            self.bad(f"{path}.preferred_technician_ids", f"at most {self.limits.max_technicians}")
        for tid in sorted(job.preferred_technician_ids)[: self.limits.max_technicians]:
            if tid not in tech_ids:
                self.bad(f"{path}.preferred_technician_ids", f"unknown technician {tid[:40]!r}")
        self.text(job.service_type, f"{path}.service_type", self.limits.max_text_length, required=False)
        self.text(job.customer.name, f"{path}.customer.name", self.limits.max_text_length, required=False)
        self.phone(job.customer.phone, f"{path}.customer.phone")

    def matrix(self) -> None:
        p, lim = self.p, self.limits
        if p.options.travel_model is not TravelModel.EXPLICIT:
            return
        m = p.travel_matrix
        if m is None or m.size <= 0:
            self.bad("travel_matrix.size", "required (positive) with travel_model EXPLICIT")
            return
        if m.size > lim.max_matrix_size:
            self.bad("travel_matrix.size", f"at most {lim.max_matrix_size}")
            return
        cells = m.size * m.size
        if len(m.durations) != cells:
            self.bad(
                "travel_matrix.durations_seconds",
                f"has {len(m.durations)} entries; size {m.size} needs {cells}",
            )
        elif not _within(m.durations, lim.max_travel):
            self.bad("travel_matrix.durations_seconds", f"entries must be between 0 and {lim.max_travel}")
        if len(m.distances) and len(m.distances) != cells:
            self.bad(
                "travel_matrix.distances_meters",
                f"has {len(m.distances)} entries; size {m.size} needs {cells} (or none)",
            )
        elif not _within(m.distances, lim.max_distance):
            self.bad("travel_matrix.distances_meters", f"entries must be between 0 and {lim.max_distance}")


class EventChecker(_Checker):
    """Field checks for the technicians, jobs and places that re-plan events bring in: the same
    rules as a ``SolveRequest``'s, reported under the event's path (``events[2].new_job.id``)."""

    def __init__(
        self,
        problem: Problem,
        *,
        limits: Limits = DEFAULT_LIMITS,
        travel_models: frozenset[TravelModel] | None = None,
        violations: list[FieldViolation] | None = None,
    ) -> None:
        super().__init__(problem, limits, travel_models or frozenset(TravelModel), list(violations or []))

    @property
    def violations(self) -> list[FieldViolation]:
        return self.out


def _within(values: np.ndarray, high: int) -> bool:
    return len(values) == 0 or bool(values.min() >= 0 and values.max() <= high)
