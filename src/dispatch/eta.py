"""ETAs for customers, and the events that tell them.

A visit's ETA is when the technician is planned to start the service: when they knock on the
door. A van that arrives early and waits for the booked window to open is not "there" for the
customer. The customer is given a window around the ETA that widens with how far ahead it is:
half-width ``10 min + 15 %`` of the time from now to the ETA, between 10 and 60 minutes, rounded
out to 5 minutes. So the next stop of a technician (20 min away) gets ETA ± 15 min, a visit 2 h
away ± 30 min, one 6 h away ± 60 min. When the ETA is inside one of the job's booked windows, the
window told is kept inside it: slid to start at its opening (or end at its close), cut to it
if wider (``customer_window``). A visit booked 13:00-14:00 starting at 13:00, six hours ahead,
is told 13:00-14:00, never a window around the van's 10:41 arrival.

An ``EtaEvent`` is due when a plan is created (each visit: ``PLANNED``, or ``EMERGENCY`` for an
emergency), when a re-plan or progress moves a visit's ETA by ``threshold`` or more from the
ETA last announced, or gives it to another technician (``MOVED``), when a newly assigned
emergency appears (``EMERGENCY``), and when the technician departs toward the job
(``DEPARTED``). A job announced and then no longer planned is:

- ``PROMISE_BROKEN`` when the plan leaves it unassigned for that reason (its customer was told an
  ETA and no feasible plan keeps it): the customer gets an apology and the office number;
- ``WITHDRAWN`` otherwise (cancelled, or held by the dispatcher): no text of its own — the office
  calls that customer — but a confirmation not yet sent is dropped, and consoles see it.

Both carry the ETA the job had. An emergency the plan leaves unassigned (nobody can reach it)
whose customer was never told anything about it is ``EMERGENCY_RECEIVED``, once: the request was
received, no ETA yet (``technician_id`` "", the ETA and window the event's time). One held by the
dispatcher is not (the office calls).

What was announced is kept with the plan (``DayState.announced``), so small moves do not pile up
unseen and a restarted server announces nothing twice. An entry with ``technician_id`` "" (``NO_ETA``)
says the customer of an unassigned emergency was told something but has no ETA standing: the
request acknowledged, or an ETA withdrawn or broken. It is kept while the job stays unassigned and
makes no event of its own, so nothing is said twice; dropped when the job leaves the day; and
when the job is assigned, the customer gets the ETA as for a job never announced (``EMERGENCY``).

Events carry Unix seconds and what a text needs (names, phones, service type): a consumer in
another process needs nothing else.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dispatch.domain import (
    Announced,
    Job,
    Plan,
    Priority,
    Problem,
    ProgressKind,
    Technician,
    TechnicianProgress,
    UnassignedReason,
    VisitStatus,
)

MIN = 60
#: Default threshold for a moved ETA.
DEFAULT_THRESHOLD = 10 * MIN
#: The ``technician_id`` of an ``Announced`` entry with no ETA standing (see the module docstring).
NO_ETA = ""


class EtaKind(enum.Enum):
    PLANNED = "PLANNED"
    MOVED = "MOVED"
    DEPARTED = "DEPARTED"
    EMERGENCY = "EMERGENCY"
    WITHDRAWN = "WITHDRAWN"
    PROMISE_BROKEN = "PROMISE_BROKEN"
    EMERGENCY_RECEIVED = "EMERGENCY_RECEIVED"
    #: The technician reported the job completed (the invoice, if any, in ``variables``).
    SERVICE_COMPLETE = "SERVICE_COMPLETE"
    #: A text the console asked for (``NotifyCustomer``): the message kind in ``variables["kind"]``.
    CUSTOMER_MESSAGE = "CUSTOMER_MESSAGE"


@dataclass(frozen=True, kw_only=True)
class EtaEvent:
    plan_id: str
    version: int
    kind: EtaKind
    job_id: str
    technician_id: str
    #: Unix seconds: the planned service start (the ETA), and the window the customer is given.
    eta: int
    window_start: int
    window_end: int
    #: When the event was made (the plan's "now"), Unix seconds.
    at: int
    #: The ETA announced before (MOVED), Unix seconds; 0 when none.
    previous_eta: int = 0
    priority: Priority = Priority.NORMAL
    service_type: str = ""
    customer_name: str = ""
    customer_phone: str = ""
    technician_name: str = ""
    technician_phone: str = ""
    #: The plan's time zone (IANA name; "" for the notifier's default): clock times in texts.
    time_zone: str = ""
    #: What the text needs beyond the visit (``invoice_number``, ``invoice_total``, ``payment_link``, ...).
    variables: dict[str, str] = field(default_factory=dict)
    #: ``CUSTOMER_MESSAGE``: what makes the text one of its own (the request's idempotency key, or the
    #: invoice and day); its dedupe key is the customer, the message kind and this.
    reference: str = ""


def window_half_width(lead: int) -> int:
    """Seconds either side of an ETA ``lead`` seconds ahead (see the module docstring)."""
    raw = 10 * MIN + 0.15 * max(0, lead)
    half = min(60 * MIN, max(10 * MIN, raw))
    return int(-(-half // (5 * MIN)) * 5 * MIN)


def _completed(
    plan: Plan, problem: Problem, job: Job, tech: Technician | None, report: TechnicianProgress, at: int
) -> EtaEvent:
    """The ``SERVICE_COMPLETE`` event of ``report`` (a COMPLETED job), with its invoice's values."""
    invoice = report.invoice
    values = {
        "invoice_number": invoice.number if invoice else "",
        "invoice_total": invoice.total if invoice else "",
        "payment_link": invoice.payment_link if invoice else "",
    }
    return EtaEvent(
        plan_id=plan.plan_id,
        version=plan.version,
        kind=EtaKind.SERVICE_COMPLETE,
        job_id=job.id,
        technician_id=report.technician_id,
        eta=at,
        window_start=at,
        window_end=at,
        at=at,
        priority=job.priority,
        service_type=job.service_type,
        customer_name=job.customer.name,
        customer_phone=job.customer.phone,
        technician_name=tech.name if tech else "",
        technician_phone=tech.phone if tech else "",
        time_zone=problem.time_zone,
        variables={k: v for k, v in values.items() if v},
    )


def customer_window(job: Job, eta: int, now: int) -> tuple[int, int]:
    """The window (plan seconds) a customer is told for a service start at ``eta``: ± the half
    width for its lead, kept inside the booked window holding ``eta`` (if any)."""
    half = window_half_width(eta - now)
    low, high = eta - half, eta + half
    booked = next((w for w in job.time_windows if w.start <= eta <= w.end), None)
    if booked is not None:
        if low < booked.start:  # slide later, keeping the width the rule gives
            low, high = booked.start, high + (booked.start - low)
        if high > booked.end:  # slide earlier, then cut to the booking
            low, high = max(booked.start, low - (high - booked.end)), booked.end
    return low, high


def eta_events(
    problem: Problem,
    plan: Plan,
    *,
    now: int,
    announced: Iterable[Announced] = (),
    reports: Iterable[TechnicianProgress] = (),
    threshold: int = DEFAULT_THRESHOLD,
    earlier_jobs: Iterable[Job] = (),
) -> tuple[list[EtaEvent], tuple[Announced, ...]]:
    """The events ``plan`` (just stored) calls for, and what has been announced after them.

    ``now`` is the plan's "now" (plan seconds); ``reports``: the technicians' progress reports
    in the events behind this plan (a departure toward a job: ``DEPARTED``; a job completed whose
    customer was told an ETA: ``SERVICE_COMPLETE``, once, with the invoice if reported). Visits
    under way on site or done get no ETA.
    ``earlier_jobs``: jobs of the day this plan replaced, so a customer whose job left the day
    is still reached (their number) by the withdrawal. The announced tuple returned may hold
    ``NO_ETA`` entries: unassigned emergencies whose customers were told something, no ETA.
    """
    told: Mapping[str, Announced] = {a.job_id: a for a in announced}
    jobs = {j.id: j for j in earlier_jobs} | {j.id: j for j in problem.jobs}
    techs = {t.id: t for t in problem.technicians}
    leaving = {r.job_id for r in reports if r.kind is ProgressKind.DEPARTED}
    done = {r.job_id: r for r in reports if r.kind is ProgressKind.COMPLETED}
    epoch = plan.epoch
    events: list[EtaEvent] = []
    after: list[Announced] = []
    routed = {v.job_id for r in plan.routes for v in r.visits}
    left = {u.job_id: u.reason for u in plan.unassigned}

    def emergency(job_id: str) -> bool:
        job = jobs.get(job_id)
        return job is not None and job.priority is Priority.EMERGENCY

    for job_id in sorted(set(done) & set(told)):  # told an ETA, now done: thanks (and the invoice)
        job, tech = jobs.get(job_id), techs.get(done[job_id].technician_id)
        if job is not None:
            events.append(_completed(plan, problem, job, tech, done[job_id], epoch + now))
    for job_id in sorted(set(told) - routed):
        withdrawn = told[job_id]
        if withdrawn.technician_id == NO_ETA:  # nothing standing to withdraw
            if job_id in left:
                after.append(withdrawn)
            continue
        gone = jobs.get(job_id)
        tech = techs.get(withdrawn.technician_id)
        broken = left.get(job_id) is UnassignedReason.PROMISE_BROKEN
        events.append(
            EtaEvent(
                plan_id=plan.plan_id,
                version=plan.version,
                kind=EtaKind.PROMISE_BROKEN if broken else EtaKind.WITHDRAWN,
                job_id=job_id,
                technician_id=withdrawn.technician_id,
                eta=epoch + withdrawn.eta,
                window_start=epoch + withdrawn.eta,
                window_end=epoch + withdrawn.eta,
                at=epoch + now,
                priority=gone.priority if gone else Priority.NORMAL,
                service_type=gone.service_type if gone else "",
                customer_name=gone.customer.name if gone else "",
                customer_phone=gone.customer.phone if gone else "",
                technician_name=tech.name if tech else "",
                technician_phone=tech.phone if tech else "",
                time_zone=problem.time_zone,
            )
        )
        if job_id in left and emergency(job_id):  # told something: never "received" after this
            after.append(Announced(job_id=job_id, technician_id=NO_ETA, eta=withdrawn.eta))
    for job_id, reason in left.items():  # emergencies nobody can reach, their customers told nothing yet
        job = jobs.get(job_id)
        if job is None or job_id in told or job_id in routed or not emergency(job_id):
            continue
        if reason is UnassignedReason.HELD_BY_DISPATCHER:
            continue  # the dispatcher has it: the office calls
        events.append(
            EtaEvent(
                plan_id=plan.plan_id,
                version=plan.version,
                kind=EtaKind.EMERGENCY_RECEIVED,
                job_id=job.id,
                technician_id=NO_ETA,
                eta=epoch + now,
                window_start=epoch + now,
                window_end=epoch + now,
                at=epoch + now,
                priority=job.priority,
                service_type=job.service_type,
                customer_name=job.customer.name,
                customer_phone=job.customer.phone,
                time_zone=problem.time_zone,
            )
        )
        after.append(Announced(job_id=job.id, technician_id=NO_ETA, eta=now))
    for route in plan.routes:
        tech = techs.get(route.technician_id)
        for visit in route.visits:
            job = jobs.get(visit.job_id)
            if job is None or tech is None or visit.status in (VisitStatus.COMPLETED, VisitStatus.ON_SITE):
                continue
            before = told.get(job.id)
            if before is not None and before.technician_id == NO_ETA:
                before = None  # no ETA given yet: the customer gets one as if newly planned
            kinds: list[EtaKind] = []
            if before is None:
                kinds.append(EtaKind.EMERGENCY if job.priority is Priority.EMERGENCY else EtaKind.PLANNED)
            elif abs(visit.start - before.eta) >= threshold or before.technician_id != tech.id:
                kinds.append(EtaKind.MOVED)
            if job.id in leaving:  # the en-route text carries the ETA: no separate move to tell
                kinds = [*(k for k in kinds if k is not EtaKind.MOVED), EtaKind.DEPARTED]
            low, high = customer_window(job, visit.start, now)
            for kind in kinds:
                events.append(
                    EtaEvent(
                        plan_id=plan.plan_id,
                        version=plan.version,
                        kind=kind,
                        job_id=job.id,
                        technician_id=tech.id,
                        eta=epoch + visit.start,
                        window_start=epoch + low,
                        window_end=epoch + high,
                        at=epoch + now,
                        previous_eta=epoch + before.eta if before is not None and kind is EtaKind.MOVED else 0,
                        priority=job.priority,
                        service_type=job.service_type,
                        customer_name=job.customer.name,
                        customer_phone=job.customer.phone,
                        technician_name=tech.name,
                        technician_phone=tech.phone,
                        time_zone=problem.time_zone,
                    )
                )
            if kinds or before is None:
                after.append(Announced(job_id=job.id, technician_id=tech.id, eta=visit.start))
            else:
                after.append(before)
    return events, tuple(after)
