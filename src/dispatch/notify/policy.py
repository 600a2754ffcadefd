"""What to do with one ETA event: text the customer now, later, or not at all; each text at most once.

For each event: pick the message (``message_of``: ``EMERGENCY`` → emergency, ``DEPARTED`` → en
route, ``MOVED`` → ETA update, ``PLANNED`` → appointment confirmation, ``PROMISE_BROKEN`` → the
apology with the office number, ``EMERGENCY_RECEIVED`` → the emergency acknowledged without an ETA,
``SERVICE_COMPLETE`` → the thanks with the invoice, ``CUSTOMER_MESSAGE`` → the kind the console
named in ``variables["kind"]``: a payment reminder or a service-complete text), skip customers
without a phone or who opted out (``replies``: replied STOP, or a number Twilio refused as
unsubscribed or invalid), render (``text``: clock times in the event's time zone), count segments,
then:

1. claim the text's dedupe key — ``(plan, job, message kind, plan version, ETA in 10-minute
   buckets)``, or for a console's text ``(customer's number, message kind, reference)``, see
   ``text_key`` — as ``sending:<time>:<run>``; a key already ``sent``/``failed`` means done; a key
   left ``sending`` is settled with Twilio once its lease allows (``lease``), never by sending
   blindly;
2. send, through whichever ``Sender`` the notifier has (Twilio, or the log): ``sending``.

An event that says what the customer's visit is (``STATEFUL``) and is older than a version already
handled for the job is out of date and dropped (events can come out of order).

A moved ETA is held for ``SETTLE`` (30 s) and texted then only if it still differs from the ETA
the customer was told last by the threshold: a re-plan's quick answer and its final answer can
disagree, and a customer must not get "11:00", "10:30", "11:00" within a minute.

A broken promise is held the same way, in the same slot (``MOVE``), so that a quick answer that
drops a promised job and a final answer that places it again (seconds later) do not send an
apology and then a confirmation. Whatever a later version says about the visit takes the held
text's place: a newer ``MOVED`` replaces it, and ``PLANNED``, ``EMERGENCY``, ``DEPARTED``,
``WITHDRAWN`` and ``PROMISE_BROKEN`` of its version or later drop it (``_drop_held``); the event
that dropped it counts the outcome (the held text has none of its own). A held text is kept
with the claims (in Redis, through a restart) and sent once its time comes, unless a later version
of the visit was handled meanwhile (``STALE``, as any out-of-date event); it goes through the
claims as any text, so a replayed event is texted once.

Appointment confirmations go out ``APPOINTMENT_LEAD`` (24 h) before the ETA, at once for a visit
sooner than that: a ``PLANNED`` event further ahead is kept (Redis hash and sorted set, or memory)
until then; a ``MOVED`` event for it changes what will be confirmed instead of texting an update
(nothing was told yet), ``WITHDRAWN`` (a cancelled job) drops it (so does ``PROMISE_BROKEN``, which
then holds the apology), and a departure makes it moot. ``EMERGENCY`` and ``EMERGENCY_RECEIVED`` are
texted at once.

``SERVICE_COMPLETE`` is texted at once, and the visit is over: a confirmation still scheduled for
it and a move or apology held for it are dropped, as a departure drops them. ``CUSTOMER_MESSAGE``
is texted at once and touches nothing else; one naming a message kind a console may not ask for
is logged and dropped (``STALE``). Neither tells an ETA (``NO_ETA``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dispatch.eta import EtaEvent, EtaKind
from dispatch.notify.claims import Claims, ClaimsUnavailableError, key_part
from dispatch.notify.lease import Run
from dispatch.notify.outcome import Handled, Unsettled
from dispatch.notify.replies import phone_key, phone_keys, remember_text
from dispatch.notify.sending import Sender
from dispatch.notify.templates import REQUESTED_KINDS, Messages, segments
from dispatch.stream import decode, encode

log = logging.getLogger("dispatch.notify")

MESSAGE_OF = {
    EtaKind.EMERGENCY: "emergency",
    EtaKind.DEPARTED: "en_route",
    EtaKind.MOVED: "eta_update",
    EtaKind.PLANNED: "appointment",
    EtaKind.PROMISE_BROKEN: "promise_broken",
    EtaKind.EMERGENCY_RECEIVED: "emergency_received",
    EtaKind.SERVICE_COMPLETE: "service_complete",
}
#: Texts that give the customer no ETA to expect (``TOLD`` is left as it was).
NO_ETA = frozenset(
    {EtaKind.PROMISE_BROKEN, EtaKind.EMERGENCY_RECEIVED, EtaKind.SERVICE_COMPLETE, EtaKind.CUSTOMER_MESSAGE}
)
#: ETAs within one bucket share a dedupe key.
ETA_BUCKET = 600
#: A moved ETA is texted once it has held this long (the latest move, if it still differs from
#: what the customer was told by the threshold); so is a broken promise's apology (unless a later
#: version placed the visit again).
SETTLE = 30.0
#: Texts held for ``SETTLE`` before they are sent.
SETTLING = frozenset({EtaKind.MOVED, EtaKind.PROMISE_BROKEN})
#: Scheduled-slot prefix of held texts (moves, apologies), and key prefix of the ETA each customer
#: was told last.
MOVE = "move:"
TOLD = "dispatch:sms:told:"
#: Events that say what the customer's visit is (not that something happened): an older version
#: than one already handled for the job is out of date and dropped.
STATEFUL = frozenset({EtaKind.PLANNED, EtaKind.MOVED, EtaKind.WITHDRAWN, EtaKind.PROMISE_BROKEN})
#: An appointment is confirmed this long before its ETA (at once when the plan is made later).
APPOINTMENT_LEAD = 86_400


def visit_slot(plan_id: str, job_id: str) -> str:
    """The key part naming one customer's visit: its plan and its job."""
    return f"{key_part(plan_id)}:{key_part(job_id)}"


def message_of(event: EtaEvent) -> str | None:
    """The message kind ``event`` texts; ``None`` for none (a withdrawal, or a console's text naming
    a kind it may not ask for)."""
    if event.kind is EtaKind.CUSTOMER_MESSAGE:
        asked = event.variables.get("kind", "")
        return asked if asked in REQUESTED_KINDS else None
    return MESSAGE_OF.get(event.kind)


def text_key(event: EtaEvent, kind: str) -> str:
    """The dedupe key of ``event``'s text: plan, job, message kind, the plan version that made the
    event, and its ETA in 10-minute buckets. The version tells a move back to an earlier ETA
    (10:15, then 10:30, then 10:15 again) from the first text; an event read twice (a restart, a
    takeover) has the same version and gets the same key.

    A console's text (``CUSTOMER_MESSAGE``) has no version or ETA, and may go to a bare phone
    number (no plan, no job): its key is the customer's number, the message kind and the event's
    reference, so the same request is texted once and a new reference texted again."""
    if event.kind is EtaKind.CUSTOMER_MESSAGE:
        return f"dispatch:sms:msg:{phone_key(event.customer_phone)}:{kind}:{key_part(event.reference)}"
    return f"dispatch:sms:{visit_slot(event.plan_id, event.job_id)}:{kind}:v{event.version}:{event.eta // ETA_BUCKET}"


class Policy:
    """Decides and does what one event calls for; sends through ``sender``, remembers in ``claims``.

    ``lease`` / ``orphan_grace``: how old a ``sending`` claim must be before it is settled (one an
    earlier run of this consumer left needs only ``orphan_grace``); ``run``: this run, which names
    the claims it makes."""

    def __init__(
        self,
        claims: Claims,
        sender: Sender,
        messages: Messages,
        run: Run,
        *,
        lease: float,
        orphan_grace: float,
        appointment_lead: int,
        settle: float,
        threshold: int,
        clock: Callable[[], float],
    ) -> None:
        self.claims = claims
        self.sender = sender
        self.messages = messages
        self.this_run = run
        self.lease = lease
        self.orphan_grace = orphan_grace
        self.appointment_lead = appointment_lead
        self.settle = settle
        self.threshold = threshold
        self.clock = clock
        self.zone = ZoneInfo(messages.time_zone)

    def text(self, event: EtaEvent) -> tuple[str, str]:
        """``(message kind, rendered text)`` for ``event``: clock times in its time zone, the
        event's own values (the invoice's, a console's overrides) over the visit's; a value that
        is empty counts as missing (the template leaves its clause out)."""
        kind = message_of(event)
        if kind is None:
            raise ValueError(f"no text for a {event.kind.name} event")
        zone = self._zone(event)
        eta, start, end = (
            datetime.fromtimestamp(t, UTC).astimezone(zone) for t in (event.eta, event.window_start, event.window_end)
        )
        minutes = max(1, -(-(event.eta - event.at) // 60))
        window = f"{start:%H:%M}-{end:%H:%M}"  # a hyphen: an en dash would make the text UCS-2
        day = f"{eta:%a} {eta.day} {eta:%b}"  # "Tue 3 Mar": no zero padding
        values = {
            "customer_name": event.customer_name,
            "technician_name": event.technician_name,
            "technician_phone": event.technician_phone,
            "service_type": event.service_type,
            "eta": f"{minutes} min" if kind == "emergency" else f"{eta:%H:%M}",
            "eta_window": window,
            "appointment_date": day,
            "date": day,
            "appointment_time": window,
            **self.messages.links(event.plan_id, event.job_id),
        }
        values |= {name: value for name, value in event.variables.items() if value.strip()}
        return kind, self.messages.render(kind, values)

    def _zone(self, event: EtaEvent) -> ZoneInfo:
        """The zone of ``event``'s clock times: its own (its plan's), else the messages file's; a zone
        this machine does not know is logged and the file's used (a text must not be lost to it)."""
        if event.time_zone:
            try:
                return ZoneInfo(event.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("notifier: unknown time zone %r on a %s event", event.time_zone, event.kind.name)
        return self.zone

    def handle(self, event: EtaEvent, *, settled: bool = False) -> Handled:
        """Text ``event``'s customer if due (see ``_handle``); Redis failing means ``RETRY``."""
        try:
            return self._handle(event, settled=settled)
        except ClaimsUnavailableError as exc:
            log.warning(
                "notifier: Redis %s; the %s event of job %s is tried again",
                exc.kind,
                event.kind.name,
                event.job_id,
            )
            return Handled.RETRY

    def _handle(self, event: EtaEvent, *, settled: bool = False) -> Handled:
        """Text ``event``'s customer if due; ``RETRY`` when not done (the event stays
        unacknowledged). ``settled``: a held text (move, apology) whose time has come."""
        if event.kind is EtaKind.CUSTOMER_MESSAGE and message_of(event) is None:
            # the server checks the kind: this one comes from elsewhere (a newer server, or by hand)
            log.warning(
                "notifier: a customer message of unknown kind %r: dropped", event.variables.get("kind", "")[:40]
            )
            return Handled.STALE
        slot = visit_slot(event.plan_id, event.job_id)
        checked = event.kind in STATEFUL and (not settled or event.kind is EtaKind.PROMISE_BROKEN)
        if checked and not self.claims.advance(slot, event.version):
            # a later version of this visit was handled (events came out of order, or it came while
            # this one was held: a job dropped by a quick answer and placed again by the final one)
            return self._leftover(event)
        if event.kind is EtaKind.WITHDRAWN:
            self.claims.unschedule(slot)
            return Handled.WITHDRAWN if self._drop_held(slot, event.version) else Handled.RETRY
        if event.kind is EtaKind.PROMISE_BROKEN and not settled:  # as a withdrawal, then the apology below
            self.claims.unschedule(slot)  # a confirmation not sent yet: never sent
            if not self._drop_held(slot, event.version):
                return Handled.RETRY
        phone = event.customer_phone
        if not phone:
            return Handled.SKIPPED_NO_PHONE
        if any(self.claims.opted_out(key) for key in phone_keys(phone)):
            return Handled.SKIPPED_OPTED_OUT  # or a number Twilio refused as invalid
        if event.kind is EtaKind.MOVED and self.claims.scheduled(slot) is not None:
            # not confirmed yet: nothing to update; the confirmation will carry the new ETA
            event = dataclasses.replace(event, kind=EtaKind.PLANNED, previous_eta=0)
            if event.eta - self.appointment_lead <= self.clock():
                self.claims.unschedule(slot)  # now within the lead: confirmed at once, below
            else:
                self.claims.schedule(slot, event.eta - self.appointment_lead, encode(event))
                return Handled.RESCHEDULED
        elif event.kind in SETTLING and not settled and self.settle > 0:
            # told once the visit has stayed put for a while: a re-plan's quick answer and its final one
            # can disagree, and the customer must not get "11:00", "10:30", "11:00" within a minute, nor
            # an apology and then a confirmation
            if not self._drop_held(slot, event.version):  # the one it replaces was caught mid-send: settle it first
                return Handled.RETRY
            self.claims.schedule(MOVE + slot, self.clock() + self.settle, encode(event))
            return Handled.HELD
        elif event.kind is EtaKind.MOVED:
            told = self.claims.get(TOLD + slot)
            if told is not None and abs(event.eta - int(told)) < self.threshold:
                return Handled.UNCHANGED  # back to (or near) what the customer was told last
        elif event.kind is EtaKind.PLANNED:
            # placed again: an apology held is taken back (a held move stands: it carries the ETA told)
            if not self._drop_held(slot, event.version, only=EtaKind.PROMISE_BROKEN):
                return Handled.RETRY
            if event.eta - self.appointment_lead > self.clock():
                self.claims.schedule(slot, event.eta - self.appointment_lead, encode(event))
                return Handled.SCHEDULED
        elif event.kind in (EtaKind.DEPARTED, EtaKind.EMERGENCY, EtaKind.SERVICE_COMPLETE):
            self.claims.unschedule(slot)  # on the way already, or done: a confirmation would come too late
            if not self._drop_held(slot, event.version):  # and this text carries the ETA (or the visit is over)
                return Handled.RETRY
        kind, body = self.text(event)
        parts = segments(body)
        key = text_key(event, kind)
        held = self.claims.claim(key, self.this_run.sending())
        if held is not None:
            if not held.startswith("sending:"):
                return Handled.DUPLICATE
            try:
                sid = self._take_over(key, held, phone, body)
            except Unsettled:
                return Handled.RETRY
            if sid:  # it went out before the crash: the customer has this ETA
                self.claims.set(key, f"sent:{sid}")
                if event.kind not in NO_ETA:
                    self.claims.set(TOLD + slot, str(event.eta))
                return Handled.DUPLICATE
        outcome = self.sender.send(key, phone, body, kind, parts)
        if outcome in (Handled.SENT, Handled.LOGGED):
            remember_text(self.claims, phone, event.plan_id, event.job_id)  # a reply is about this job
            if event.kind not in NO_ETA:
                self.claims.set(TOLD + slot, str(event.eta))  # what the customer now expects
        return outcome

    def _drop_held(self, slot: str, version: int, *, only: EtaKind | None = None) -> bool:
        """Drop the text (move, apology) held for ``slot``, if any, unless it is of a later plan
        version than ``version`` (the event that would drop it came late); ``False`` while a text
        of it caught mid-send (a crash) waits to be settled with Twilio: its claim must say whether
        it went out."""
        held = self.claims.scheduled(MOVE + slot)
        if held is None:
            return True
        try:
            event = decode(held)
            if event.version > version or (only is not None and event.kind is not only):
                return True  # newer than what would drop it, or not of the kind to drop: it stands
            if self._leftover(event) is Handled.RETRY:
                return False
        except (KeyError, TypeError, ValueError):
            pass  # unreadable: nothing to settle
        self.claims.unschedule(MOVE + slot, held)
        return True

    def _leftover(self, event: EtaEvent) -> Handled:
        """An out-of-date event: nothing to send, but a text of it caught mid-send (a crash) is
        settled with Twilio so that its claim says what happened: ``STALE``, or ``RETRY`` while
        that cannot be told."""
        if message_of(event) is None or not event.customer_phone:
            return Handled.STALE
        kind, body = self.text(event)
        key = text_key(event, kind)
        held = self.claims.get(key)
        if held is None or not held.startswith("sending:"):
            return Handled.STALE
        try:
            sid = self._take_over(key, held, event.customer_phone, body)
        except Unsettled:
            return Handled.RETRY
        self.claims.set(key, f"sent:{sid}" if sid else "failed:superseded")
        return Handled.STALE

    def _take_over(self, key: str, held: str, phone: str, body: str) -> str | None:
        """Take over the claim ``key`` left ``held`` ("sending:<t>:<run>") and settle it with Twilio: the
        SID if that text went out, ``None`` if not (the claim is this handler's now).

        Raises
        ------
        Unsettled
            It cannot be told yet: its lease has not run out (another sender may be on it), another
            handler took it over first, or Twilio cannot be asked.
        """
        _, stamp, *owner = held.split(":", 2)
        since = float(stamp)
        lease = self.orphan_grace if self.this_run.orphaned(owner[0] if owner else "") else self.lease
        if time.time() - since < lease:
            raise Unsettled
        if not self.claims.take_over(key, held, self.this_run.sending()):
            raise Unsettled
        return self.sender.find(phone, body, since)
