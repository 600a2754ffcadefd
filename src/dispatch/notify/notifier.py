"""The notifier: ETA events in, customer texts out, each at most once.

``Notifier`` puts the parts together, one concept each:

- ``loop``: events read through a consumer group and handed out to senders; scheduled texts
  (held moves, confirmations) sent when their time comes;
- ``policy``: what to do with one event (which text, now, later or not at all) and its dedupe key;
- ``lease``: a text's claim while it is being sent, and when it may be taken over and settled;
- ``sending``: the ``Sender`` — Twilio with its retries, or the log with no Twilio credentials;
- ``replies``: what Twilio tells us afterwards — delivery statuses, STOP and START replies, and
  the customers' other replies (onto the replies stream, forwarded to the office phone);
- ``outcome``: what handling an event came to (``Handled``);
- ``claims``: what all of it remembers, in memory or in Redis.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dispatch.eta import DEFAULT_THRESHOLD, EtaEvent
from dispatch.notify.claims import Claims, MemoryClaims
from dispatch.notify.health import IntegrationLog
from dispatch.notify.lease import LEASE, ORPHAN_MARGIN, Run
from dispatch.notify.loop import MAX_AGE, Loop
from dispatch.notify.outcome import Handled
from dispatch.notify.policy import APPOINTMENT_LEAD, SETTLE, Policy
from dispatch.notify.replies import FORWARD_RETRY_FOR, Replies, ReplyStream
from dispatch.notify.sending import LogSender, Sender, TwilioSender
from dispatch.notify.sms import Sms
from dispatch.notify.templates import Messages
from dispatch.stream import EtaStream


class Notifier:
    """Texts the customers of the events on ``stream``: through Twilio (``sms``), or to the log
    when ``sms`` is ``None``. Customers' replies go onto ``replies`` (this notifier's own in-process
    stream when ``None``) and, with ``office_phone``, are forwarded to it the same way."""

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
        replies: ReplyStream | None = None,
        office_phone: str = "",
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
        #: This consumer's name, this run of it (set by ``run``: a claim names the run that made
        #: it) and what stops it.
        self.this_run = Run()
        #: Waits between retries; by default cut short when the notifier is stopped.
        self.sleep = sleep if sleep is not None else (lambda seconds: self.this_run.stopping.wait(seconds))
        self.sender: Sender = (
            LogSender(self.claims)
            if sms is None
            else TwilioSender(sms, self.claims, self.integrations, self.this_run, retry_for=retry_for, sleep=self.sleep)
        )
        self.policy = Policy(
            self.claims,
            self.sender,
            self.messages,
            self.this_run,
            lease=lease,
            orphan_grace=self.orphan_grace,
            appointment_lead=appointment_lead,
            settle=settle,
            threshold=threshold,
            clock=clock,
        )
        self.zone = self.policy.zone
        self.replies = Replies(
            self.claims,
            self.integrations,
            stream=replies,
            office_phone=office_phone,
            forward=self._forward_sender(self.claims),
            fallback=self._forward_sender,
            run=self.this_run,
            clock=clock,
        )
        self.loop = Loop(
            stream, self.claims, self.policy, self.this_run, senders=self.senders, max_age=max_age, clock=clock
        )

    def _forward_sender(self, claims: Claims) -> Sender:
        """The sender of forwarded replies, on ``claims``: as ``sender`` (Twilio, or the log), but
        retrying for ``FORWARD_RETRY_FOR`` at most, since the webhook's answer waits for it."""
        if self.sms is None:
            return LogSender(claims)
        return TwilioSender(
            self.sms,
            claims,
            self.integrations,
            self.this_run,
            retry_for=min(self.retry_for, FORWARD_RETRY_FOR),
            sleep=self.sleep,
        )

    @property
    def consumer(self) -> str:
        """This consumer's name in the group ("" until ``run``)."""
        return self.this_run.consumer

    @consumer.setter
    def consumer(self, name: str) -> None:
        self.this_run.consumer = name

    @property
    def run_id(self) -> str:
        """This run of the consumer ("" until ``run``)."""
        return self.this_run.run_id

    @run_id.setter
    def run_id(self, run_id: str) -> None:
        self.this_run.run_id = run_id

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event, consumer: str = "notifier-1") -> None:
        """Handle events until ``stop`` is set (``Loop.run``)."""
        self.loop.run(stop, consumer)

    def start(self, consumer: str = "notifier-1") -> tuple[threading.Thread, threading.Event]:
        """``run`` on a thread of its own: the thread, and the event that stops it."""
        return self.loop.start(consumer)

    def send_due(self) -> list[Handled]:
        """Send the scheduled texts whose time has come, one after the other; their outcomes."""
        return self.loop.send_due()

    # ------------------------------------------------------------------ one event

    def text(self, event: EtaEvent) -> tuple[str, str]:
        """``(message kind, rendered text)`` for ``event``."""
        return self.policy.text(event)

    def handle(self, event: EtaEvent, *, settled: bool = False) -> Handled:
        """Text ``event``'s customer if due (``Policy.handle``); ``settled``: a held move whose time has come."""
        return self.policy.handle(event, settled=settled)

    # ------------------------------------------------------------------ what Twilio tells us

    def delivery(self, sid: str, status: str, error_code: int, to: str) -> None:
        """A status callback (``Replies.delivery``)."""
        self.replies.delivery(sid, status, error_code, to)

    def inbound(self, phone: str, body: str, sid: str = "") -> None:
        """A customer's text: STOP opts the number out, START back in, anything else is recorded on
        the replies stream and forwarded to the office phone; each message once (``Replies.inbound``)."""
        self.replies.inbound(phone, body, sid)

    def opted_out(self, phone: str) -> bool:
        """Whether ``phone`` (any spelling) replied STOP or was refused as unsubscribed."""
        return self.replies.opted_out(phone)

    def delivery_status(self, sid: str) -> str | None:
        """The last delivery status Twilio reported for ``sid`` (``"delivered"``, ``"failed:30003"``…)."""
        return self.replies.delivery_status(sid)
