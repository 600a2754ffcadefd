""" "When can you come?": the arrival windows a business sells that fit the live plan.

A call-taker has a job not booked yet and the windows the business sells (8-10, 10-12, ... or
``slot_length`` slots starting on the hour, local time, inside the technicians' shifts). Each
slot is tried as the job's only window, exactly as ``SuggestTechnicians`` tries a technician:
the stored plan repaired at "now" (the re-plan's quick answer), the job inserted where it costs
least by each qualified technician (``dispatch.reopt.suggest``). A slot is offered only when
some technician takes it with every promise kept and nobody dropped; its option is that
technician's, scored by the travel it adds plus ``DISPLACED_COST`` per visit whose start moves.
Best first: the lowest score, then the earliest slot. Nothing is stored: booking one is a
``Reoptimize`` with ``new_job`` whose window is the chosen slot, whose quick answer inserts it the
same way.

The situation is prepared once (travel, the day at now, the quick planner) with the job's window
spanning every slot; each slot then only narrows the planner's window for the job.

A plan holds one day today: slots after its technicians' shifts end have no one to go, and are
not offered.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch.budget import Budget
from dispatch.domain import Job, NewJob, Replan, Technician, TimeWindow, known_zone
from dispatch.errors import FieldViolation, ProblemError
from dispatch.horizon import day_bounds
from dispatch.reopt.replan import Host, day_after, prepare, requested_plan
from dispatch.reopt.suggest import (
    DEFAULT_OPTIONS,
    MAX_OPTIONS,
    TechnicianOption,
    as_job_field,
    baseline,
    one_technician,
    options_for,
)

#: A slot's length when the request gives none, and the bounds of one it gives.
DEFAULT_SLOT = 2 * 3600
MIN_SLOT, MAX_SLOT = 15 * 60, 12 * 3600
#: Days of slots at most, and slots tried at most in one request.
MAX_DAYS = 14
MAX_SLOTS = 200
#: What a visit whose start moves costs in a slot's score (seconds of added travel).
DISPLACED_COST = 300


@dataclass(frozen=True, kw_only=True)
class SlotsRequest:
    """A ``SuggestSlots`` request: ``time`` Unix seconds, the job's and the slots' times in seconds
    from it (as an event's)."""

    plan_id: str
    time: int
    job: Job
    slots: tuple[TimeWindow, ...] = ()
    slot_length: int = DEFAULT_SLOT
    days: int = 1
    max_options: int = DEFAULT_OPTIONS
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class SlotOption:
    """One slot that fits (plan seconds)."""

    window: TimeWindow
    technician_id: str
    added_travel: int
    displaced: int
    score: float
    start: int


@dataclass(frozen=True)
class SlotSuggestions:
    plan_id: str
    plan_version: int
    epoch: int
    options: tuple[SlotOption, ...]
    time_zone: str = ""


def suggest_slots(
    host: Host, ask: SlotsRequest, shape: list[FieldViolation] | None = None, *, deadline: float | None = None
) -> SlotSuggestions:
    """The slots that fit ``ask``'s job into its stored plan, best first (see the module docstring)."""
    began = time.monotonic()
    bad = [*(shape or []), *_limits(ask), *one_technician(ask.job)]
    probe = Replan(
        plan_id=ask.plan_id, time=ask.time, events=(NewJob(job=ask.job),), expected_version=ask.expected_version
    )
    record, _ = requested_plan(host, probe, shape)  # no request id: never a retry
    problem = record.problem
    if abs(ask.time - problem.epoch) > host.settings.limits.max_future:  # before any clock arithmetic on it
        raise ProblemError([*bad, FieldViolation("time", "more than 31 days from the plan's start")])
    now = max(ask.time - problem.epoch, record.state.now)
    shift = ask.time - problem.epoch  # request seconds -> plan seconds
    slots = [TimeWindow(start=w.start + shift, end=w.end + shift) for w in ask.slots] or _generated(
        problem.technicians, problem.epoch, problem.time_zone, now, ask.slot_length, ask.days
    )
    lo, hi = day_bounds(ask.job, problem.epoch, problem.time_zone)  # the job's earliest_day/latest_day
    slots = [w for w in slots if w.end > now and (lo is None or w.start >= lo) and (hi is None or w.start <= hi)][
        :MAX_SLOTS
    ]  # a slot over already (or outside the job's days) is no answer
    if bad:
        raise ProblemError(bad)
    if not slots:
        return SlotSuggestions(ask.plan_id, record.version, problem.epoch, (), problem.time_zone)
    span = TimeWindow(start=min(w.start for w in slots) - shift, end=max(w.end for w in slots) - shift)
    job = dataclasses.replace(ask.job, time_windows=(span,))
    asked = dataclasses.replace(probe, events=(NewJob(job=job),))
    try:
        options, day, state = day_after(host, asked, record, None)
    except ProblemError as exc:
        raise ProblemError([*map(as_job_field, exc.violations)]) from None
    found: list[SlotOption] = []
    with host.admission.reserve(host.cost(day)):
        budget = Budget(began, options.time_limit, deadline, host.settings.deadline_margin)
        ready = prepare(host, record, day, state, options, now, budget, [], path=lambda _, field: f"job.{field}")
        j = ready.part.job_index[job.id]
        timer = ready.planner.timer
        spanning = timer.windows[j]
        base = baseline(ready, job.id)  # the day without the job: the same for every slot
        try:
            for slot in slots:
                timer.windows[j] = [(max(0, slot.start - now), slot.end - now)]
                option = _fitting(options_for(ready, job.id, base), slot)
                if option is not None:
                    found.append(option)
        finally:
            timer.windows[j] = spanning
    found.sort(key=lambda o: (o.score, o.window.start, o.technician_id))
    count = ask.max_options or DEFAULT_OPTIONS
    return SlotSuggestions(ask.plan_id, record.version, problem.epoch, tuple(found[:count]), problem.time_zone)


def _limits(ask: SlotsRequest) -> list[FieldViolation]:
    bad = []
    if not 0 <= ask.max_options <= MAX_OPTIONS:
        bad.append(FieldViolation("max_options", f"must be between 0 and {MAX_OPTIONS}"))
    if not MIN_SLOT <= ask.slot_length <= MAX_SLOT:
        bad.append(FieldViolation("slot_length", f"must be between {MIN_SLOT // 60} min and {MAX_SLOT // 3600} h"))
    if not 1 <= ask.days <= MAX_DAYS:
        bad.append(FieldViolation("days", f"must be between 1 and {MAX_DAYS}"))
    if len(ask.slots) > MAX_SLOTS:
        bad.append(FieldViolation("slots", f"at most {MAX_SLOTS}"))
    for i, w in enumerate(ask.slots[:MAX_SLOTS]):
        if not w.start < w.end:
            bad.append(FieldViolation(f"slots[{i}]", "end must be after start"))
        elif w.end - w.start > 7 * 86_400:
            bad.append(FieldViolation(f"slots[{i}]", "longer than 7 days"))
    return bad


def _generated(
    technicians: tuple[Technician, ...], epoch: int, zone: str, now: int, length: int, days: int
) -> list[TimeWindow]:
    """Slots of ``length`` starting on the hour (local time) from ``now`` over ``days`` days, each
    inside some technician's shift (plan seconds)."""
    if not technicians or not MIN_SLOT <= length <= MAX_SLOT:  # a bad length is refused by name (``_limits``)
        return []
    first = max(now, min(t.shift.start for t in technicians))
    last = min(max(t.shift.end for t in technicians), now + days * 86_400)
    tz = ZoneInfo(zone) if known_zone(zone) else ZoneInfo("UTC")
    local = datetime.fromtimestamp(epoch + first, UTC).astimezone(tz)
    hour = local.replace(minute=0, second=0, microsecond=0)
    if hour < local:
        hour += timedelta(hours=1)
    out: list[TimeWindow] = []
    start = int(hour.timestamp()) - epoch
    while start + length <= last and len(out) < MAX_SLOTS:
        if any(t.shift.start <= start and start + length <= t.shift.end for t in technicians):  # not overnight
            out.append(TimeWindow(start=start, end=start + length))
        start += length
    return out


def _fitting(options: tuple[TechnicianOption, ...], slot: TimeWindow) -> SlotOption | None:
    """The best option that keeps every promise and drops nobody, as the slot's offer."""
    for o in options:  # ranked best first
        if o.feasible and not o.promises_broken and not o.newly_unassigned:
            return SlotOption(
                window=slot,
                technician_id=o.technician_id,
                added_travel=o.added_travel,
                displaced=len(o.displaced),
                score=float(o.added_travel + DISPLACED_COST * len(o.displaced)),
                start=o.start,
            )
    return None
