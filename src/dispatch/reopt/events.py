"""Apply a re-plan's events to the live day: new and cancelled jobs, progress, delays, staff
changes, and the dispatcher's overrides (assign, unassign, release, lock a route).

Every event is checked first, all of them, and every bad one is reported under its path
(``events[3].cancel_job.job_id``) in one ``ProblemError``; nothing is applied unless all
pass. Event times arrive in seconds from the request's ``time`` and are stored in the
day's plan seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from dispatch.domain import (
    GOOGLE_MODELS,
    LOCK_WHOLE_DAY,
    Assign,
    Break,
    CancelJob,
    DayState,
    Delay,
    Event,
    Job,
    LockRoute,
    NewJob,
    Position,
    Problem,
    ProgressKind,
    Release,
    Technician,
    TechnicianAdded,
    TechnicianProgress,
    TechnicianUnavailable,
    TimeWindow,
    TravelModel,
    Unassign,
    VisitFact,
    evolve,
    group_of,
    is_member,
    person_of,
)
from dispatch.errors import FieldViolation, ProblemError
from dispatch.horizon import members, vehicles, with_days
from dispatch.validate import DEFAULT_LIMITS, EventChecker, Limits

#: How far in the future (s) a progress report's time may lie (clocks of phones and servers differ).
CLOCK_SKEW = 300


def shift_window(w: TimeWindow, delta: int) -> TimeWindow:
    return TimeWindow(start=w.start + delta, end=w.end + delta)


def shift_job(job: Job, delta: int) -> Job:
    if delta == 0:
        return job
    return evolve(
        job,
        time_windows=tuple(shift_window(w, delta) for w in job.time_windows),
        respond_within=None if job.respond_within is None else job.respond_within + delta,
    )


def shift_technician(tech: Technician, delta: int) -> Technician:
    if delta == 0:
        return tech
    return evolve(
        tech,
        shift=shift_window(tech.shift, delta),
        breaks=tuple(Break(window=shift_window(b.window, delta), duration=b.duration) for b in tech.breaks),
    )


def apply_events(
    problem: Problem,
    state: DayState,
    events: Iterable[Event],
    *,
    now: int,
    limits: Limits = DEFAULT_LIMITS,
    travel_models: frozenset[TravelModel] | None = None,
    violations: list[FieldViolation] | None = None,
    event_indices: Iterable[int] | None = None,
) -> tuple[Problem, DayState]:
    """The day after ``events`` (times relative to ``now``, the request time in plan seconds).

    Raises ``ProblemError`` naming every bad event field, and the ``violations`` found
    while parsing; applies nothing in that case. ``event_indices`` are the events' indices in
    the request (default 0, 1, ...).
    """
    check = EventChecker(problem, limits=limits, travel_models=travel_models, violations=violations)
    day = _Day(problem, state, now, check)
    events = list(events)
    for i, event in zip(event_indices or range(len(events)), events, strict=True):
        day.apply(f"events[{i}]", event)
    if day.check.violations:
        raise ProblemError(day.check.violations)
    return day.result()


class _Day:
    """The day being edited: jobs and technicians by id, facts by job."""

    def __init__(self, problem: Problem, state: DayState, now: int, check: EventChecker) -> None:
        self.problem = problem
        self.now = now
        self.check = check
        self.jobs: dict[str, Job] = {j.id: j for j in problem.jobs}
        self.techs: dict[str, Technician] = {t.id: t for t in problem.technicians}
        self.facts: dict[str, VisitFact] = {f.job_id: f for f in state.facts}
        self.positions: dict[str, Position] = {p.technician_id: p for p in state.positions}
        self.cancelled: list[str] = list(state.cancelled)
        self.unavailable: dict[str, int] = dict(state.unavailable)
        self.held: list[str] = list(state.held)
        self.locks: dict[str, int] = dict(state.locks)
        self.state = state

    def bad(self, path: str, description: str) -> None:
        self.check.bad(path, description)

    def result(self) -> tuple[Problem, DayState]:
        problem = dataclasses.replace(
            self.problem, technicians=tuple(self.techs.values()), jobs=tuple(self.jobs.values())
        )
        state = dataclasses.replace(
            self.state,
            facts=tuple(self.facts.values()),
            positions=tuple(self.positions.values()),
            cancelled=tuple(self.cancelled),
            unavailable=tuple(sorted(self.unavailable.items())),
            held=tuple(self.held),
            locks=tuple(sorted(self.locks.items())),
        )
        return problem, state

    # ------------------------------------------------------------------ one event

    def apply(self, path: str, event: Event) -> None:
        job_id = getattr(event, "job_id", "")
        crew = self.crew(job_id) if job_id and job_id not in self.jobs else []
        if crew and isinstance(event, (CancelJob, Delay, Unassign, Release)):
            for member in crew:  # a job several technicians do: each of them
                self.apply(path, dataclasses.replace(event, job_id=member))
            return
        if crew and isinstance(event, TechnicianProgress):
            event = dataclasses.replace(event, job_id=self.member_for(event.technician_id, crew))
        elif crew and isinstance(event, Assign):
            event = dataclasses.replace(event, job_id=crew[0])
        if isinstance(event, NewJob):
            self.new_job(f"{path}.new_job", event.job)
        elif isinstance(event, CancelJob):
            self.cancel_job(f"{path}.cancel_job", event.job_id)
        elif isinstance(event, TechnicianProgress):
            self.progress(f"{path}.progress", event)
        elif isinstance(event, Delay):
            self.delay(f"{path}.delay", event)
        elif isinstance(event, TechnicianUnavailable):
            self.unavailable_from(f"{path}.technician_unavailable", event)
        elif isinstance(event, TechnicianAdded):
            self.technician_added(f"{path}.technician_added", event.technician)
        elif isinstance(event, Assign):
            self.assign(f"{path}.assign", event)
        elif isinstance(event, Unassign):
            self.unassign(f"{path}.unassign", event.job_id)
        elif isinstance(event, Release):
            self.release(f"{path}.release", event.job_id)
        elif isinstance(event, LockRoute):
            self.lock_route(f"{path}.lock_route", event)
        else:  # pragma: no cover (the converter only builds the types above)
            self.bad(path, f"unknown event {type(event).__name__}")

    def crew(self, job_id: str) -> list[str]:
        """The planner jobs of a job for several technicians (``member_id``), open or not."""
        return sorted(j for j in {*self.jobs, *self.facts, *self.cancelled} if is_member(j) and group_of(j) == job_id)

    def member_for(self, technician_id: str, crew: list[str]) -> str:
        """The member a technician reports on: theirs already, else one nobody has reported on."""
        tech = self.techs.get(technician_id) or self.shift_at(technician_id)
        mine = tech.id if tech is not None else technician_id
        for job_id in crew:
            fact = self.facts.get(job_id)
            if fact is not None and fact.technician_id == mine:
                return job_id
        return next((j for j in crew if j not in self.facts and j in self.jobs), crew[0])

    def open_job(self, path: str, job_id: str) -> Job | None:
        """The job ``job_id`` if it is in the day and not done (else a violation at ``path``)."""
        job = self.jobs.get(job_id)
        if job is None:
            self.bad(path, "cancelled earlier" if job_id in self.cancelled else f"unknown job {job_id[:40]!r}")
            return None
        fact = self.facts.get(job_id)
        if fact is not None and fact.completed is not None:
            self.bad(path, f"job {job_id[:40]!r} is already completed")
            return None
        return job

    def technician(self, path: str, technician_id: str) -> Technician | None:
        """The technician ``technician_id`` -- for one with shifts, the shift under way at "now", else
        the next, else the last."""
        tech = self.techs.get(technician_id) or self.shift_at(technician_id)
        if tech is None:
            self.bad(path, f"unknown technician {technician_id[:40]!r}")
        return tech

    def shift_at(self, technician_id: str) -> Technician | None:
        shifts = sorted(
            (t for t in self.techs.values() if t.id != technician_id and person_of(t.id) == technician_id),
            key=lambda t: t.shift.start,
        )
        return next(
            (t for t in shifts if t.shift.start <= self.now <= t.latest_return),
            next((t for t in shifts if t.shift.start > self.now), shifts[-1] if shifts else None),
        )

    def new_job(self, path: str, job: Job) -> None:
        before = len(self.check.violations)
        self.check.job(path, job, set(self.techs) | {person_of(t) for t in self.techs})
        if job.id in self.jobs or job.id in self.cancelled or self.crew(job.id):
            self.bad(f"{path}.id", f"a job {job.id[:40]!r} is already in the plan")
        if len(self.jobs) >= self.check.limits.max_jobs:
            self.bad(path, f"the plan would exceed {self.check.limits.max_jobs} jobs")
        if len(self.check.violations) == before:
            dated = with_days(shift_job(job, self.now), self.problem.epoch, self.problem.time_zone)
            if dated is None:
                self.bad(f"{path}.time_windows", "no time window falls between earliest_day and latest_day")
            else:
                for member in members(dated):  # one per technician it needs
                    self.jobs[member.id] = member

    def cancel_job(self, path: str, job_id: str) -> None:
        job = self.open_job(f"{path}.job_id", job_id)
        if job is None:
            return
        fact = self.facts.pop(job_id, None)
        if fact is not None and fact.arrived is not None:
            # Cancelled on site: the technician goes on from there.
            self.positions[fact.technician_id] = Position(
                technician_id=fact.technician_id, location=job.location, time=self.now
            )
        del self.jobs[job_id]
        self.cancelled.append(job_id)
        if job_id in self.held:
            self.held.remove(job_id)

    def progress(self, path: str, event: TechnicianProgress) -> None:
        tech = self.technician(f"{path}.technician_id", event.technician_id)
        at = event.time + self.now
        if event.time > CLOCK_SKEW:
            self.bad(f"{path}.time", "is in the future")
        if event.kind is ProgressKind.POSITION:
            if event.location is None:
                self.bad(f"{path}.location", "required for POSITION")
            else:
                self.check.location(event.location, f"{path}.location")
                google = self.check.p.options.travel_model in GOOGLE_MODELS
                if google and (event.location.lat is None or event.location.lng is None):
                    self.bad(f"{path}.location", "a position report needs lat and lng (a GPS fix, not an address)")
            if tech is not None and event.location is not None:
                self.positions[tech.id] = Position(technician_id=tech.id, location=event.location, time=at)
            return
        job = self.open_job(f"{path}.job_id", event.job_id)
        if tech is None or job is None:
            return
        fact = self.facts.get(job.id)
        if fact is None or fact.technician_id != tech.id:
            fact = VisitFact(job_id=job.id, technician_id=tech.id)
        if event.kind is ProgressKind.COMPLETED:
            fact = dataclasses.replace(fact, completed=max(at, fact.arrived or at))
        else:
            # The technician works on one job at a time: another job begun and not finished
            # goes back to be planned.
            for other in [f for f in self.facts.values() if f.technician_id == tech.id and f.job_id != job.id]:
                if other.completed is None:
                    del self.facts[other.job_id]
            if event.kind is ProgressKind.DEPARTED:
                fact = dataclasses.replace(fact, departed=at, arrived=None)
            else:
                fact = dataclasses.replace(
                    fact, arrived=at, departed=fact.departed if fact.departed is not None else at
                )
        self.facts[job.id] = dataclasses.replace(fact, reported=True)

    def delay(self, path: str, event: Delay) -> None:
        job = self.open_job(f"{path}.job_id", event.job_id)
        if event.extra <= 0:
            self.bad(f"{path}.extra", "must be positive")
        elif event.extra > self.check.limits.max_duration:
            self.bad(f"{path}.extra", f"longer than {self.check.limits.max_duration // 86_400} days")
        elif job is not None:
            self.jobs[job.id] = dataclasses.replace(job, service_duration=job.service_duration + event.extra)

    def unavailable_from(self, path: str, event: TechnicianUnavailable) -> None:
        tech = self.technician(f"{path}.technician_id", event.technician_id)
        if tech is None:
            return
        start = max(event.start + self.now, self.now) if event.start > 0 else self.now
        self.unavailable[tech.id] = min(start, self.unavailable.get(tech.id, start))
        if start > self.now:
            # Working until then: back at the end location by that time.
            end = min(tech.shift.end, start)
            self.techs[tech.id] = dataclasses.replace(
                tech, shift=TimeWindow(start=min(tech.shift.start, end), end=end), overtime=None
            )

    def technician_added(self, path: str, tech: Technician) -> None:
        before = len(self.check.violations)
        self.check.technician(path, tech)
        if tech.id not in self.techs and len(self.techs) >= self.check.limits.max_technicians:
            self.bad(path, f"the plan would exceed {self.check.limits.max_technicians} technicians")
        if len(self.check.violations) == before:
            for vehicle in vehicles(tech):  # one per shift
                self.techs[vehicle.id] = shift_technician(vehicle, self.now)  # new, or replaces (shift extended)
                self.unavailable.pop(vehicle.id, None)

    # ------------------------------------------------------------------ the dispatcher's overrides

    def under_way(self, job_id: str) -> VisitFact | None:
        """The reported visit of ``job_id`` a technician has begun (departed or arrived) and not finished."""
        fact = self.facts.get(job_id)
        if fact is None or fact.completed is not None or not fact.reported:
            return None
        return fact if fact.departed is not None or fact.arrived is not None else None

    def assign(self, path: str, event: Assign) -> None:
        job = self.open_job(f"{path}.job_id", event.job_id)
        tech = self.technician(f"{path}.technician_id", event.technician_id)
        if job is None or tech is None:
            return
        gone = self.unavailable.get(tech.id)
        if gone is not None and gone <= self.now:
            self.bad(f"{path}.technician_id", f"technician {tech.id[:40]!r} is unavailable for the rest of the day")
            return
        busy = self.under_way(job.id)
        if busy is not None and busy.technician_id != tech.id:
            self.bad(
                f"{path}.job_id",
                f"job {job.id[:40]!r} is under way with {busy.technician_id[:40]!r}: report its progress or cancel it",
            )
            return
        self.jobs[job.id] = dataclasses.replace(job, pinned_technician_id=tech.id)
        if job.id in self.held:
            self.held.remove(job.id)

    def unassign(self, path: str, job_id: str) -> None:
        job = self.open_job(f"{path}.job_id", job_id)
        if job is None:
            return
        busy = self.under_way(job.id)
        if busy is not None:
            self.bad(
                f"{path}.job_id",
                f"job {job.id[:40]!r} is under way with {busy.technician_id[:40]!r}: report its progress or cancel it",
            )
            return
        if job.id not in self.held:
            self.held.append(job.id)
        self.facts.pop(job.id, None)  # a visit implied under way by the plan alone is not begun

    def release(self, path: str, job_id: str) -> None:
        job = self.open_job(f"{path}.job_id", job_id)
        if job is None:
            return
        if job.id not in self.held and not job.pinned_technician_id:
            self.bad(f"{path}.job_id", f"job {job.id[:40]!r} is neither held nor assigned to a technician")
            return
        if job.id in self.held:
            self.held.remove(job.id)
        self.jobs[job.id] = dataclasses.replace(job, pinned_technician_id="")

    def lock_route(self, path: str, event: LockRoute) -> None:
        tech = self.technician(f"{path}.technician_id", event.technician_id)
        if tech is None:
            return
        if event.until is None:
            self.locks[tech.id] = LOCK_WHOLE_DAY
        elif event.until <= 0:
            self.locks.pop(tech.id, None)  # a lock until now (or before) is lifted
        elif event.until > self.check.limits.max_future:
            self.bad(f"{path}.until", f"more than {self.check.limits.max_future // 86_400} days ahead")
        else:
            self.locks[tech.id] = event.until + self.now
