"""Sending one text whose dedupe key is claimed (``lease``): the ``Sender`` the policy calls,
without knowing which one.

- ``TwilioSender``: ``sent:<sid>`` on success; ``failed:<code>`` on a permanent error (logged,
  not retried; a number Twilio calls unsubscribed (21610) or invalid (21211, 21214, 21217, 21614:
  once is enough) is opted out); retries with backoff (1 s doubling to 30 s, for up to
  ``retry_for``) on 429 / 5xx / refused connections, renewing the claim's lease before each
  attempt; after a read timeout the claim stays ``sending``, to be settled by asking Twilio
  (``find``), never by sending blindly. Every attempt is counted (``dispatch_texts_total``, by
  message kind, result and error code) and recorded in the integration log
  (``dispatch.notify.health``).
- ``LogSender``: with no Twilio credentials (the embedded default) the rendered text goes to the
  log instead, phone masked: ``sent:logged``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from dispatch import metrics
from dispatch.logs import mask_phone
from dispatch.notify.claims import Claims
from dispatch.notify.health import IntegrationLog
from dispatch.notify.lease import Run
from dispatch.notify.outcome import Handled, Unsettled
from dispatch.notify.replies import phone_key
from dispatch.notify.sms import CUSTOMER_SIDE, INVALID_NUMBER, UNSUBSCRIBED, Outcome, Sms, mask
from dispatch.notify.templates import Segments

log = logging.getLogger("dispatch.notify")

#: Twilio outcome -> the ``result`` label of ``dispatch_texts_total``.
RESULT = {"SENT": "sent", "PERMANENT": "failed", "RETRY": "retried", "UNKNOWN": "unknown"}


class Sender(Protocol):
    def send(self, key: str, phone: str, body: str, kind: str, parts: Segments) -> Handled:
        """Send ``body`` (a ``kind`` text of ``parts`` segments) to ``phone``, its dedupe ``key``
        claimed, and record the outcome in the claim: ``SENT`` or ``LOGGED``, ``FAILED`` (for
        good), or ``RETRY`` (not done, or not known to be: the claim stays ``sending``)."""
        ...

    def find(self, phone: str, body: str, since: float) -> str | None:
        """After an unfinished attempt: the SID if the text ``body`` to ``phone`` went out since
        ``since`` (Unix time), ``None`` if it did not.

        Raises
        ------
        Unsettled
            It cannot be told now (Twilio cannot be asked).
        """
        ...


class LogSender:
    """No Twilio credentials: the text goes to the log, phone masked."""

    def __init__(self, claims: Claims) -> None:
        self.claims = claims

    def send(self, key: str, phone: str, body: str, kind: str, parts: Segments) -> Handled:
        log.info(
            "text (%s, %d %s segment(s)) to %s: %s", kind, parts.segments, parts.encoding, mask_phone(phone), mask(body)
        )
        self.claims.set(key, "sent:logged")
        metrics.TEXTS.labels(kind, "logged", "").inc()
        return Handled.LOGGED

    def find(self, phone: str, body: str, since: float) -> str | None:
        return None  # nothing went to Twilio


class TwilioSender:
    """Texts through Twilio (``sms``), retrying what a retry can fix; waits with ``sleep`` and
    gives up (``RETRY``) once ``run`` is stopping."""

    def __init__(
        self,
        sms: Sms,
        claims: Claims,
        integrations: IntegrationLog,
        run: Run,
        *,
        retry_for: float,
        sleep: Callable[[float], object],
    ) -> None:
        self.sms = sms
        self.claims = claims
        self.integrations = integrations
        self.this_run = run
        self.retry_for = retry_for
        self.sleep = sleep

    def send(self, key: str, phone: str, body: str, kind: str, parts: Segments) -> Handled:
        began, wait = time.monotonic(), 1.0
        while True:
            self.claims.set(key, self.this_run.sending())  # renews the lease
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
                log.info("sent %s text (%d segment(s)) to %s: %s", kind, parts.segments, mask_phone(phone), outcome.sid)
                return Handled.SENT
            if outcome.status == "PERMANENT":
                self.claims.set(key, f"failed:{outcome.code}")
                if outcome.code == UNSUBSCRIBED or outcome.code in INVALID_NUMBER:
                    self.claims.opt_out(phone_key(phone))  # no text to it again (START from it lifts that)
                log.warning(
                    "%s text to %s refused for good: Twilio %s (%s)",
                    kind,
                    mask_phone(phone),
                    outcome.code,
                    outcome.detail,
                )
                return Handled.FAILED
            if outcome.status == "UNKNOWN":
                log.warning(
                    "%s text to %s: %s; settled by asking Twilio, not by resending",
                    kind,
                    mask_phone(phone),
                    outcome.detail,
                )
                return Handled.RETRY  # the key stays "sending": the next attempt settles it first
            if time.monotonic() - began + wait > self.retry_for:
                log.warning(
                    "%s text to %s: Twilio still failing (%s); left for later", kind, mask_phone(phone), outcome.detail
                )
                return Handled.RETRY
            self.sleep(wait)
            if self.this_run.stopping.is_set():  # the key stays "sending": the next notifier settles it first
                return Handled.RETRY
            wait = min(30.0, wait * 2)

    def find(self, phone: str, body: str, since: float) -> str | None:
        try:
            return self.sms.find(phone, body, since)
        except Exception as exc:  # Twilio or the network: try again later
            log.warning("cannot ask Twilio whether a text to %s went out (%s)", mask_phone(phone), type(exc).__name__)
            raise Unsettled from exc


def _code(outcome: Outcome) -> str:
    """The ``code`` label: Twilio's error code, else the HTTP status or what the network did."""
    if outcome.code:
        return str(outcome.code)
    return outcome.detail.split(":", 1)[0].lower().replace(" ", "_")
