"""The notifier: ETA events in, customer texts out, each at most once.

For each event (read through a consumer group, so a restarted notifier resumes with what it had
not finished): pick the message (``EMERGENCY`` → emergency, ``DEPARTED`` → en route, ``MOVED`` →
ETA update, ``PLANNED`` → appointment confirmation), skip customers without a phone or who
opted out (replied STOP: Twilio error 21610, or recorded by the inbound webhook) or whose number
Twilio called invalid (21211, 21214, 21217, 21614: once is enough), render, count
segments, then:

1. claim the text's dedupe key — ``(plan, job, message kind, plan version, ETA in 10-minute
   buckets)``, see ``text_key`` — as
   ``sending:<time>:<run>`` with ``SET NX`` (Redis) or in memory; a key already ``sent``/``failed``
   means done; a key left ``sending`` (a crash or a timeout mid-send) is, once its lease has run out
   (``LEASE``: each attempt renews it, so a sender still retrying keeps it) — or once its last request
   would have timed out, when an earlier run of this same consumer left it (one process per name:
   that run is dead) — settled by asking Twilio whether that text went out since then, never by
   sending blindly;
2. send; ``sent:<sid>`` on success, ``failed:<code>`` on a permanent error (logged, not retried),
   retries with backoff (1 s doubling to 30 s, for up to ``retry_for``) on 429 / 5xx / refused
   connections; a read timeout is settled as in 1.

A moved ETA is held for ``SETTLE`` (30 s) and texted then only if it still differs from the ETA
the customer was told last by the threshold: a re-plan's quick answer and its final answer can
disagree, and a customer must not get "11:00", "10:30", "11:00" within a minute.

Appointment confirmations go out ``APPOINTMENT_LEAD`` (24 h) before the ETA, at once for a visit
sooner than that: a ``PLANNED`` event further ahead is kept (Redis hash and sorted set, or memory)
until then; a ``MOVED`` event for it changes what will be confirmed instead of texting an update
(nothing was told yet), ``WITHDRAWN`` (a cancelled job) drops it, and a departure makes it moot.

With no Twilio credentials the rendered text goes to the log (phone masked) instead: the
embedded default. Every attempt is recorded in the integration log (``dispatch.notify.health``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import redis

from dispatch import metrics
from dispatch.eta import DEFAULT_THRESHOLD, EtaEvent, EtaKind
from dispatch.notify.claims import Claims, MemoryClaims
from dispatch.notify.health import IntegrationLog
from dispatch.notify.sms import INVALID_NUMBER, UNSUBSCRIBED, Outcome, Sms, mask
from dispatch.notify.templates import Messages, segments
from dispatch.stream import EtaStream, StreamUnavailableError, decode, encode

log = logging.getLogger("dispatch.notify")

MESSAGE_OF = {
    EtaKind.EMERGENCY: "emergency",
    EtaKind.DEPARTED: "en_route",
    EtaKind.MOVED: "eta_update",
    EtaKind.PLANNED: "appointment",
}
GROUP = "notifier"
#: ETAs within one bucket share a dedupe key.
ETA_BUCKET = 600
#: A ``sending`` claim younger than this may belong to a sender still at work (its retries renew
#: it; the longest wait between them is 30 s): only an older one is settled by asking Twilio.
LEASE = 45.0
#: Seconds past the Twilio timeout after which a claim an earlier run of this consumer left (that
#: run is dead) is settled: its last request has had time to reach Twilio or to fail. Settling at
#: once sent one text twice in the killed-notifier replay (benchmarks/notify.py): the dead run's
#: create reached Twilio after the restarted run had asked whether it had.
ORPHAN_MARGIN = 5.0
#: Seconds between looks at this consumer's unfinished events (and a dead consumer's).
SWEEP_EVERY = 5.0
#: Seconds between looks at the texts scheduled (held moves, confirmations).
DUE_EVERY = 1.0
#: An event given to a consumer that has not touched it for this long is taken over.
STALE_AFTER = 60.0
#: An event left for later (Twilio still failing, or its outcome unknown) is tried again after this.
RETRY_AFTER = 5.0
#: A moved ETA is texted once it has held this long (the latest move, if it still differs from
#: what the customer was told by the threshold).
SETTLE = 30.0
#: Scheduled-slot prefix of held moves, and key prefix of the ETA each customer was told last.
MOVE = "move:"
TOLD = "dispatch:sms:told:"
#: Events published longer ago than this are not texted (a notifier back after a long outage).
MAX_AGE = 6 * 3_600.0
#: Events that say what the customer's visit is (not that something happened): an older version
#: than one already handled for the job is out of date and dropped.
STATEFUL = frozenset({EtaKind.PLANNED, EtaKind.MOVED, EtaKind.WITHDRAWN})
#: Twilio answers that are about the customer's number, not about Twilio: not errors of the integration.
CUSTOMER_SIDE = frozenset({21211, 21214, 21217, 21610, 21612, 21614, 30003, 30005, 30006})
#: An appointment is confirmed this long before its ETA (at once when the plan is made later).
APPOINTMENT_LEAD = 86_400
#: Replies that unsubscribe a number, and that subscribe it again (Twilio's standard keywords).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES", "OPTIN"})
#: Delivery statuses that mean the text did not reach the phone.
UNDELIVERED = frozenset({"failed", "undelivered"})
#: How far along each status is: a late callback never moves a message back.
STATUS_RANK = {"accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4, "failed": 5}
STATUS_RANK |= {"undelivered": 5, "delivered": 5, "receiving": 5, "received": 5, "read": 6, "canceled": 6}


def text_key(event: EtaEvent, kind: str) -> str:
    """The dedupe key of ``event``'s text: plan, job, message kind, the plan version that made the
    event, and its ETA in 10-minute buckets. The version tells a move back to an earlier ETA
    (10:15, then 10:30, then 10:15 again) from the first text; an event read twice (a restart, a
    takeover) has the same version and gets the same key."""
    return f"dispatch:sms:{event.plan_id}:{event.job_id}:{kind}:v{event.version}:{event.eta // ETA_BUCKET}"


def phone_key(phone: str) -> str:
    """One spelling per number for opt-outs: digits only, a 10-digit (North American) number with
    its country code 1 ("(303) 555-0199", "+1 303 555 0199" and "+13035550199" are one number)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "1" + digits if len(digits) == 10 else digits


class Notifier:
    def __init__(
        self,
        stream: EtaStream,
        *,
        sms: Sms | None,
        messages: Messages | None = None,
        claims: Claims | None = None,
        integrations: IntegrationLog | None = None,
        retry_for: float = 600.0,
        senders: int = 8,
        lease: float | None = None,
        appointment_lead: int = APPOINTMENT_LEAD,
        settle: float = SETTLE,
        threshold: int = DEFAULT_THRESHOLD,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.stream = stream
        self.sms = sms
        self.messages = messages or Messages()
        self.claims = claims or MemoryClaims()
        self.integrations = integrations or IntegrationLog()
        self.retry_for = retry_for
        self.senders = max(1, senders)
        # a sender renews its claim before each attempt: the longest gap is a backoff and two timeouts
        if lease is None:
            lease = LEASE if sms is None else max(LEASE, 30.0 + 2 * sms.settings.timeout + 5.0)
        self.lease = lease
        # An earlier run of this consumer is dead, but the request it had sent may still be on its
        # way to Twilio: its claim is settled once that request would have timed out (and then some).
        self.orphan_grace = min(lease, (sms.settings.timeout if sms is not None else 0.0) + ORPHAN_MARGIN)
        self.max_age = max_age
        self.appointment_lead = appointment_lead
        self.settle = settle
        self.threshold = threshold
        self.clock = clock
        self._due_busy: set[str] = set()
        self._stopping = threading.Event()
        #: Waits between retries; by default cut short when the notifier is stopped.
        self.sleep = sleep if sleep is not None else (lambda seconds: self._stopping.wait(seconds))
        self.zone = ZoneInfo(self.messages.time_zone)
        #: This consumer's name and this run of it (set by ``run``): a claim names the run that made it.
        self.consumer, self.run_id = "", ""

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event, consumer: str = "notifier-1") -> None:
        """Handle events until ``stop`` is set, ``senders`` at a time; survives the stream being
        down (retries). Events of one job are handled in the order they came; a text that keeps
        failing holds one sender, not the others (an emergency is never queued behind it)."""
        self._stopping = stop
        self.consumer, self.run_id = consumer, f"{consumer}/{uuid.uuid4().hex[:12]}"
        pool = ThreadPoolExecutor(self.senders, thread_name_prefix="notifier-send")
        finished: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        in_flight: dict[str, Future] = {}
        tails: dict[tuple[str, str], Future] = {}  # the last task of each (plan, job)
        not_before: dict[str, float] = {}  # events left for later: when to try again
        next_sweep = next_due = 0.0
        try:
            while not stop.is_set():
                self._finish(finished, in_flight, not_before, tails)
                now = time.monotonic()
                try:
                    if now >= next_due:  # held moves and confirmations whose time has come
                        next_due = now + DUE_EVERY
                        self._submit_due(pool)
                    if now >= next_sweep:  # what this consumer holds, and what a dead one left
                        self.stream.touch(GROUP, consumer, list(in_flight))
                        want = len(in_flight) + len(not_before) + 50
                        held = self.stream.pending(GROUP, consumer, count=want, stale=STALE_AFTER)
                        if len(held) < want:  # the whole list was seen: forget what is no longer in it
                            ids = {i for i, _ in held}
                            for gone in [i for i in not_before if i not in ids]:
                                del not_before[gone]
                        batch = [(i, e) for i, e in held if i not in in_flight and not_before.get(i, 0.0) <= now]
                        next_sweep = now + SWEEP_EVERY
                    elif len(in_flight) >= self.senders * 8:
                        stop.wait(0.05)
                        continue
                    else:
                        batch = self.stream.group_read(GROUP, consumer, block=0.2, count=50)
                    batch = self._fresh(batch)
                except StreamUnavailableError as exc:
                    log.warning("notifier: %s; retrying in 1 s", exc)
                    stop.wait(1.0)
                    continue
                except Exception:
                    log.exception("notifier: unexpected error; going on in 1 s")
                    stop.wait(1.0)
                    continue
                for event_id, event in batch:
                    not_before.pop(event_id, None)
                    key = (event.plan_id, event.job_id)
                    task = pool.submit(self._in_turn, tails.get(key), event)
                    in_flight[event_id] = tails[key] = task
                    task.add_done_callback(functools.partial(_report, finished, event_id))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._finish(finished, in_flight, not_before, tails)

    def _fresh(self, batch: list[tuple[str, EtaEvent]]) -> list[tuple[str, EtaEvent]]:
        """``batch`` without events published more than ``max_age`` ago (acknowledged, logged):
        an en-route text hours late helps no one (a first start reads the stream from its start)."""
        now_ms = time.time() * 1000
        old = [i for i, _ in batch if "-" in i and now_ms - int(i.split("-", 1)[0]) > self.max_age * 1000]
        if old:
            log.warning("notifier: %d event(s) older than %.0f s skipped", len(old), self.max_age)
            self.stream.ack(GROUP, old)
        return [(i, e) for i, e in batch if i not in old]

    def send_due(self) -> list[str]:
        """Send the scheduled texts (confirmations, settled moves) whose time has come, one after
        the other; their outcomes. The loop does the same on its senders, every ``DUE_EVERY``."""
        return [self._send_scheduled(slot, payload) for slot, payload in self.claims.due(self.clock(), 50)]

    def _send_scheduled(self, slot: str, payload: bytes) -> str:
        try:
            try:
                event = decode(payload)
            except (KeyError, TypeError, ValueError) as exc:
                log.error("notifier: a scheduled text cannot be read (%s): dropped", type(exc).__name__)
                self.claims.unschedule(slot, payload)
                return "unreadable"
            outcome = self.handle(event, settled=slot.startswith(MOVE))
            if outcome != "retry":  # else it stays scheduled: tried again at the next look
                self.claims.unschedule(slot, payload)
            return outcome
        except redis.exceptions.RedisError as exc:
            log.warning("notifier: Redis %s; a scheduled text is tried again", type(exc).__name__)
            return "retry"
        finally:
            self._due_busy.discard(slot)

    def _in_turn(self, before: Future | None, event: EtaEvent) -> str:
        if before is not None:
            wait([before])
        return self.handle(event)

    def _submit_due(self, pool: ThreadPoolExecutor) -> None:
        try:
            due = self.claims.due(self.clock(), self.senders * 4)
        except redis.exceptions.RedisError as exc:
            log.warning("notifier: Redis %s; scheduled texts are looked at again later", type(exc).__name__)
            return
        for slot, payload in due:
            if slot not in self._due_busy:
                self._due_busy.add(slot)
                pool.submit(self._send_scheduled, slot, payload).add_done_callback(_outcome)  # logs a crash

    def _finish(
        self,
        finished: queue.SimpleQueue[tuple[str, str]],
        in_flight: dict[str, Future],
        not_before: dict[str, float],
        tails: dict[tuple[str, str], Future],
    ) -> None:
        """Acknowledge what is done; what is not is tried again after ``RETRY_AFTER``."""
        done = []
        while not finished.empty():
            event_id, outcome = finished.get()
            task = in_flight.pop(event_id, None)
            if outcome == "retry":
                not_before[event_id] = time.monotonic() + RETRY_AFTER
            else:
                done.append(event_id)
            for key, tail in list(tails.items()):
                if tail is task:
                    del tails[key]
        try:
            self.stream.ack(GROUP, done)
        except StreamUnavailableError as exc:
            log.warning("notifier: %s; %d event(s) will be seen again (and deduplicated)", exc, len(done))

    def start(self, consumer: str = "notifier-1") -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop, consumer), name="notifier", daemon=True)
        thread.start()
        return thread, stop

    # ------------------------------------------------------------------ one event

    def text(self, event: EtaEvent) -> tuple[str, str]:
        """``(message kind, rendered text)`` for ``event``."""
        kind = MESSAGE_OF[event.kind]
        eta = datetime.fromtimestamp(event.eta, UTC).astimezone(self.zone)
        start = datetime.fromtimestamp(event.window_start, UTC).astimezone(self.zone)
        end = datetime.fromtimestamp(event.window_end, UTC).astimezone(self.zone)
        minutes = max(1, -(-(event.eta - event.at) // 60))
        link = self.messages.tracking_link.format(job_id=event.job_id, plan_id=event.plan_id)
        values = {
            "customer_name": event.customer_name,
            "technician_name": event.technician_name or "Your technician",
            "technician_phone": event.technician_phone,
            "service_type": event.service_type or "service",
            "eta": f"{minutes} min" if kind == "emergency" else f"{eta:%H:%M}",
            "eta_window": f"{start:%H:%M}-{end:%H:%M}",  # a hyphen: an en dash would make the text UCS-2
            "date": f"{eta:%a %d %b}",
            "tracking_link": link,
        }
        return kind, self.messages.render(kind, values)

    def handle(self, event: EtaEvent, *, settled: bool = False) -> str:
        """Text ``event``'s customer if due (see ``_handle``); Redis failing means "retry"."""
        try:
            return self._handle(event, settled=settled)
        except redis.exceptions.RedisError as exc:
            log.warning(
                "notifier: Redis %s; the %s event of job %s is tried again",
                type(exc).__name__,
                event.kind.name,
                event.job_id,
            )
            return "retry"

    def _handle(self, event: EtaEvent, *, settled: bool = False) -> str:
        """Text ``event``'s customer if due: "sent", "logged", "duplicate", "skipped: ...",
        "failed: ...", "scheduled", "held", "unchanged", "stale" or "retry" (not done: the
        event stays unacknowledged). ``settled``: a held move whose time has come."""
        slot = f"{event.plan_id}:{event.job_id}"
        if event.kind in STATEFUL and not settled and not self.claims.advance(slot, event.version):
            return self._leftover(event)  # a later version of this visit was handled (events came out of order)
        if event.kind is EtaKind.WITHDRAWN:
            self.claims.unschedule(slot)
            return "withdrawn" if self._drop_held_move(slot) else "retry"
        phone = event.customer_phone
        if not phone:
            return "skipped: no phone"
        if self.opted_out(phone):
            return "skipped: opted out"  # or a number Twilio refused as invalid
        if event.kind is EtaKind.MOVED and self.claims.scheduled(slot) is not None:
            # not confirmed yet: nothing to update; the confirmation will carry the new ETA
            event = dataclasses.replace(event, kind=EtaKind.PLANNED, previous_eta=0)
            if event.eta - self.appointment_lead <= self.clock():
                self.claims.unschedule(slot)  # now within the lead: confirmed at once, below
            else:
                self.claims.schedule(slot, event.eta - self.appointment_lead, encode(event))
                return "rescheduled"
        elif event.kind is EtaKind.MOVED and not settled and self.settle > 0:
            # told once the ETA has stayed put for a while: a re-plan's quick answer and its final one
            # can disagree, and the customer must not get "11:00", "10:30", "11:00" within a minute
            if not self._drop_held_move(slot):  # the one it replaces was caught mid-send: settle it first
                return "retry"
            self.claims.schedule(MOVE + slot, self.clock() + self.settle, encode(event))
            return "held"
        elif event.kind is EtaKind.MOVED:
            told = self.claims.get(TOLD + slot)
            if told is not None and abs(event.eta - int(told)) < self.threshold:
                return "unchanged"  # back to (or near) what the customer was told last
        elif event.kind is EtaKind.PLANNED and event.eta - self.appointment_lead > self.clock():
            self.claims.schedule(slot, event.eta - self.appointment_lead, encode(event))
            return "scheduled"
        elif event.kind in (EtaKind.DEPARTED, EtaKind.EMERGENCY):
            self.claims.unschedule(slot)  # on the way already: a confirmation would come too late
            if not self._drop_held_move(slot):  # and this text carries the ETA
                return "retry"
        kind, body = self.text(event)
        parts = segments(body)
        key = text_key(event, kind)
        held = self.claims.claim(key, self._sending())
        if held is not None:
            if not held.startswith("sending:"):
                return "duplicate"
            sid = self._take_over(key, held, phone, body)
            if sid == "?":
                return "retry"
            if sid:  # it went out before the crash: the customer has this ETA
                self.claims.set(key, f"sent:{sid}")
                self.claims.set(TOLD + slot, str(event.eta))
                return "duplicate"
        if self.sms is None:
            log.info(
                "text (%s, %d %s segment(s)) to %s: %s", kind, parts.segments, parts.encoding, mask(phone), mask(body)
            )
            self.claims.set(key, "sent:logged")
            metrics.TEXTS.labels(kind, "logged", "").inc()
            outcome = "logged"
        else:
            outcome = self._send(key, phone, body, kind, parts.segments)
        if outcome in ("sent", "logged"):
            self.claims.set(TOLD + slot, str(event.eta))  # what the customer now expects
        return outcome

    def _drop_held_move(self, slot: str) -> bool:
        """Drop the move held for ``slot``, if any; ``False`` while a text of it caught mid-send
        (a crash) waits to be settled with Twilio: its claim must say whether it went out."""
        held = self.claims.scheduled(MOVE + slot)
        if held is None:
            return True
        try:
            if self._leftover(decode(held)) == "retry":
                return False
        except (KeyError, TypeError, ValueError):
            pass  # unreadable: nothing to settle
        self.claims.unschedule(MOVE + slot, held)
        return True

    def _leftover(self, event: EtaEvent) -> str:
        """An out-of-date event: nothing to send, but a text of it caught mid-send (a crash) is
        settled with Twilio so that its claim says what happened."""
        if event.kind not in MESSAGE_OF or not event.customer_phone:
            return "stale"
        kind, body = self.text(event)
        key = text_key(event, kind)
        held = self.claims.get(key)
        if held is None or not held.startswith("sending:"):
            return "stale"
        sid = self._take_over(key, held, event.customer_phone, body)
        if sid == "?":
            return "retry"
        self.claims.set(key, f"sent:{sid}" if sid else "failed:superseded")
        return "stale"

    def _take_over(self, key: str, held: str, phone: str, body: str) -> str | None:
        """Take over the claim ``key`` left ``held`` ("sending:<t>:<run>") and settle it with Twilio: the
        SID if that text went out, ``None`` if not (the claim is this handler's now), ``"?"`` if it
        cannot be told yet — its lease has not run out (another sender may be on it), another
        handler took it over first, or Twilio cannot be asked."""
        _, stamp, *owner = held.split(":", 2)
        since = float(stamp)
        if time.time() - since < (self.orphan_grace if self._orphaned(owner[0] if owner else "") else self.lease):
            return "?"
        if not self.claims.take_over(key, held, self._sending()):
            return "?"
        return self._settle(phone, body, since)

    def _sending(self) -> str:
        """A claim's value while its text is being sent: when, and by which run."""
        return f"sending:{time.time():.3f}:{self.run_id}" if self.run_id else f"sending:{time.time():.3f}"

    def _orphaned(self, owner: str) -> bool:
        """Whether a claim made by ``owner`` (a run) was left by an earlier run of this consumer:
        a restarted notifier settles its own unfinished texts after ``orphan_grace``, not the lease."""
        return bool(self.run_id) and owner != self.run_id and owner.rsplit("/", 1)[0] == self.consumer

    def _send(self, key: str, phone: str, body: str, kind: str, parts: int) -> str:
        assert self.sms is not None
        began, wait = time.monotonic(), 1.0
        while True:
            self.claims.set(key, self._sending())  # renews the lease
            outcome = self.sms.send(phone, body)
            metrics.TEXTS.labels(kind, RESULT[outcome.status], _code(outcome)).inc()
            self.integrations.record(
                "twilio",
                ok=outcome.status == "SENT" or outcome.code in CUSTOMER_SIDE,
                latency=outcome.latency,
                error=outcome.code or outcome.detail,
            )
            if outcome.status == "SENT":
                self.claims.set(key, f"sent:{outcome.sid}")
                log.info("sent %s text (%d segment(s)) to %s: %s", kind, parts, mask(phone), outcome.sid)
                return "sent"
            if outcome.status == "PERMANENT":
                self.claims.set(key, f"failed:{outcome.code}")
                if outcome.code == UNSUBSCRIBED or outcome.code in INVALID_NUMBER:
                    self.claims.opt_out(phone_key(phone))  # no text to it again (START from it lifts that)
                log.warning(
                    "%s text to %s refused for good: Twilio %s (%s)", kind, mask(phone), outcome.code, outcome.detail
                )
                return f"failed: {outcome.code}"
            if outcome.status == "UNKNOWN":
                log.warning(
                    "%s text to %s: %s; settled by asking Twilio, not by resending", kind, mask(phone), outcome.detail
                )
                return "retry"  # the key stays "sending": the next attempt settles it first
            if time.monotonic() - began + wait > self.retry_for:
                log.warning(
                    "%s text to %s: Twilio still failing (%s); left for later", kind, mask(phone), outcome.detail
                )
                return "retry"
            self.sleep(wait)
            if self._stopping.is_set():  # the key stays "sending": the next notifier settles it first
                return "retry"
            wait = min(30.0, wait * 2)

    # ------------------------------------------------------------------ what Twilio tells us

    def delivery(self, sid: str, status: str, error_code: int, to: str) -> None:
        """A status callback: record the message's delivery status (never going back: callbacks can
        come out of order); a text that did not reach the phone counts as an error in the
        integration log; an unsubscribed number is opted out."""
        key = f"dispatch:sms:status:{sid}"
        held = self.claims.get(key)
        if held is not None and STATUS_RANK.get(held.split(":", 1)[0], 0) > STATUS_RANK.get(status, 0):
            return
        self.claims.set(key, f"{status}:{error_code}" if error_code else status)
        if status in UNDELIVERED:
            code = f" {error_code}" if error_code else ""
            if error_code not in CUSTOMER_SIDE:  # an unreachable handset is not Twilio failing
                self.integrations.record("twilio", ok=False, latency=0.0, error=f"delivery {status}{code}")
            log.warning("text %s to %s not delivered: %s%s", sid, mask(to), status, code)
            if error_code == UNSUBSCRIBED and to:
                self.claims.opt_out(phone_key(to))
        else:
            log.debug("text %s: %s", sid, status)

    def opted_out(self, phone: str) -> bool:
        """Whether ``phone`` (any spelling) replied STOP or was refused as unsubscribed."""
        return self.claims.opted_out(phone_key(phone))

    def delivery_status(self, sid: str) -> str | None:
        """The last delivery status Twilio reported for ``sid`` (``"delivered"``, ``"failed:30003"``…)."""
        return self.claims.get(f"dispatch:sms:status:{sid}")

    def inbound(self, phone: str, body: str) -> None:
        """A customer's reply: a message that is exactly STOP (or another of Twilio's opt-out words,
        any case, trailing punctuation ignored) opts the number out, START opts it back in, as
        Twilio itself does; anything else ("Cancel my 3 pm visit") is left to the office."""
        word = body.strip().rstrip(".!").strip().upper()
        if word in STOP_WORDS:
            self.claims.opt_out(phone_key(phone))
            log.info("%s replied %s: no more texts", mask(phone), word)
        elif word in START_WORDS:
            self.claims.opt_in(phone_key(phone))
            log.info("%s replied %s: texts resume", mask(phone), word)

    def _settle(self, phone: str, body: str, since: float) -> str | None:
        """After an unfinished attempt: the SID if that text went out, ``None`` if it did not,
        ``"?"`` if Twilio cannot say now."""
        if self.sms is None:
            return None
        try:
            return self.sms.find(phone, body, since)
        except Exception as exc:  # noqa: BLE001 (Twilio or the network: try again later)
            log.warning("cannot ask Twilio whether a text to %s went out (%s)", mask(phone), type(exc).__name__)
            return "?"


#: Twilio outcome -> the ``result`` label of ``dispatch_texts_total``.
RESULT = {"SENT": "sent", "PERMANENT": "failed", "RETRY": "retried", "UNKNOWN": "unknown"}


def _code(outcome: Outcome) -> str:
    """The ``code`` label: Twilio's error code, else the HTTP status or what the network did."""
    if outcome.code:
        return str(outcome.code)
    return outcome.detail.split(":", 1)[0].lower().replace(" ", "_")


def _report(finished: queue.SimpleQueue[tuple[str, str]], event_id: str, task: Future[str]) -> None:
    """Put a finished text's outcome on ``finished`` (a done callback)."""
    finished.put((event_id, _outcome(task)))


def _outcome(task: Future[str]) -> str:
    if task.cancelled():
        return "retry"
    error = task.exception()
    if error is not None:
        log.error("notifier: an event failed (%s: %s); tried again later", type(error).__name__, mask(str(error)))
        return "retry"
    return task.result()
