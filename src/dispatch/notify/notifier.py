"""The notifier: ETA events in, customer texts out, each at most once.

For each event (read through a consumer group, so a restarted notifier resumes with what it had
not finished): pick the message (``EMERGENCY`` → emergency, ``DEPARTED`` → en route, ``MOVED`` →
ETA update, ``PLANNED`` → appointment confirmation), skip customers without a phone or who
opted out (replied STOP: Twilio error 21610, or recorded by the inbound webhook), render, count
segments, then:

1. claim the text's dedupe key — ``(plan, job, message kind, ETA in 10-minute buckets)`` — as
   ``sending:<time>`` with ``SET NX`` (Redis) or in memory; a key already ``sent``/``failed`` means
   done; a key left ``sending`` (a crash or a timeout mid-send) is settled by asking Twilio
   whether that text went out since then, never by sending blindly;
2. send; ``sent:<sid>`` on success, ``failed:<code>`` on a permanent error (logged, not retried),
   retries with backoff (1 s doubling to 30 s, for up to ``retry_for``) on 429 / 5xx / refused
   connections; a read timeout is settled as in 1.

With no Twilio credentials the rendered text goes to the log (phone masked) instead: the
embedded default. Every attempt is recorded in the integration log (``dispatch.notify.health``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import redis

from dispatch.eta import EtaEvent, EtaKind
from dispatch.notify.health import IntegrationLog
from dispatch.notify.sms import UNSUBSCRIBED, Sms, mask
from dispatch.notify.templates import Messages, segments
from dispatch.stream import EtaStream, StreamUnavailableError

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
CLAIM_TTL = 7 * 86_400


class Claims(Protocol):
    """Dedupe keys and opt-outs: in memory, or in Redis (shared by notifier processes)."""

    def claim(self, key: str, value: str) -> str | None:
        """Set ``key`` to ``value`` if absent: ``None``; else the value it holds."""
        ...

    def set(self, key: str, value: str) -> None: ...

    def opted_out(self, phone: str) -> bool: ...

    def opt_out(self, phone: str) -> None: ...


class MemoryClaims:
    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._out: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, key: str, value: str) -> str | None:
        with self._lock:
            held = self._keys.get(key)
            if held is None:
                self._keys[key] = value
            return held

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._keys[key] = value

    def opted_out(self, phone: str) -> bool:
        return phone in self._out

    def opt_out(self, phone: str) -> None:
        with self._lock:
            self._out.add(phone)


class RedisClaims:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def claim(self, key: str, value: str) -> str | None:
        if self.client.set(key, value, nx=True, ex=CLAIM_TTL):
            return None
        held = self.client.get(key)
        return held.decode() if held is not None else self.claim(key, value)

    def set(self, key: str, value: str) -> None:
        self.client.set(key, value, ex=CLAIM_TTL)

    def opted_out(self, phone: str) -> bool:
        return bool(self.client.sismember("dispatch:sms:opted_out", phone))

    def opt_out(self, phone: str) -> None:
        self.client.sadd("dispatch:sms:opted_out", phone)


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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.stream = stream
        self.sms = sms
        self.messages = messages or Messages()
        self.claims = claims or MemoryClaims()
        self.integrations = integrations or IntegrationLog()
        self.retry_for = retry_for
        self.sleep = sleep
        self.zone = ZoneInfo(self.messages.time_zone)

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event, consumer: str = "notifier-1") -> None:
        """Handle events until ``stop`` is set; survives the stream being down (retries)."""
        while not stop.is_set():
            try:
                batch = self.stream.group_read(GROUP, consumer, block=0.5, count=50)
            except StreamUnavailableError as exc:
                log.warning("notifier: %s; retrying in 1 s", exc)
                stop.wait(1.0)
                continue
            done = []
            for event_id, event in batch:
                if stop.is_set():
                    break
                if self.handle(event) != "retry":
                    done.append(event_id)
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

    def handle(self, event: EtaEvent) -> str:
        """Text ``event``'s customer if due: "sent", "logged", "duplicate", "skipped: ...",
        "failed: ..." or "retry" (not done: the event stays unacknowledged)."""
        phone = event.customer_phone
        if not phone:
            return "skipped: no phone"
        if self.claims.opted_out(phone):
            return "skipped: opted out"
        kind, body = self.text(event)
        parts = segments(body)
        key = f"dispatch:sms:{event.plan_id}:{event.job_id}:{kind}:{event.eta // ETA_BUCKET}"
        held = self.claims.claim(key, f"sending:{time.time():.0f}")
        if held is not None:
            if not held.startswith("sending:"):
                return "duplicate"
            sid = self._settle(phone, body, float(held.split(":", 1)[1]))
            if sid == "?":
                return "retry"
            if sid:
                self.claims.set(key, f"sent:{sid}")
                return "duplicate"
        if self.sms is None:
            log.info("text (%s, %d %s segment(s)) to %s: %s", kind, parts.segments, parts.encoding, mask(phone), body)
            self.claims.set(key, "sent:logged")
            return "logged"
        return self._send(key, phone, body, kind, parts.segments)

    def _send(self, key: str, phone: str, body: str, kind: str, parts: int) -> str:
        assert self.sms is not None
        began, wait = time.monotonic(), 1.0
        while True:
            outcome = self.sms.send(phone, body)
            self.integrations.record(
                "twilio", ok=outcome.status == "SENT", latency=outcome.latency, error=outcome.code or outcome.detail
            )
            if outcome.status == "SENT":
                self.claims.set(key, f"sent:{outcome.sid}")
                log.info("sent %s text (%d segment(s)) to %s: %s", kind, parts, mask(phone), outcome.sid)
                return "sent"
            if outcome.status == "PERMANENT":
                self.claims.set(key, f"failed:{outcome.code}")
                if outcome.code == UNSUBSCRIBED:
                    self.claims.opt_out(phone)
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
                self.claims.set(key, f"sending:{time.time():.0f}")
                return "retry"
            self.sleep(wait)
            wait = min(30.0, wait * 2)

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
