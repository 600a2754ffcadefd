"""Integration log and health: every call to Twilio and Google counted with its outcome and
latency, and a report per integration over a window (24 hours by default).

Status, first that applies: ``stale`` (no activity in the last hour), ``degraded`` (more than 10
errors in the window), ``healthy`` (success rate above 95 %), else ``warning``. A degraded
integration recovers when its errors leave the window (``DISPATCH_HEALTH_WINDOW`` seconds).

Attempts are counted per minute (ok, errors, latency), so the log has a fixed size whatever the
traffic: in process by default, in Redis when configured (``RedisIntegrationLog``), where every
replica and the notifier process add to the same counts and any of them reports for all. Redis
failing never fails a call: the attempt is counted in process instead and the report says so.
Each attempt is also a log line (``dispatch.integrations``): errors at WARNING, the rest at DEBUG.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

DAY = 86_400
STALE_AFTER = 3_600
#: More errors than this in the window: ``degraded``.
DEGRADED_ERRORS = 10
#: A success rate above this: ``healthy``.
HEALTHY_RATE = 0.95
#: The integrations every report lists, used or not.
INTEGRATIONS = ("google", "google_routes", "twilio")

log = logging.getLogger("dispatch.integrations")


@dataclass(frozen=True)
class Health:
    integration: str
    status: str  # "healthy", "warning", "degraded", "stale"
    attempts: int
    errors: int
    success_rate: float  # 0 when there were no attempts
    last_activity: float  # Unix time, 0 when none
    last_error: str
    mean_latency: float  # seconds
    window: int  # seconds
    notes: tuple[str, ...] = field(default=())


def status_of(attempts: int, errors: int, last_activity: float, now: float, stale_after: float) -> str:
    if not attempts or now - last_activity > stale_after:
        return "stale"
    if errors > DEGRADED_ERRORS:
        return "degraded"
    if (attempts - errors) / attempts > HEALTHY_RATE:
        return "healthy"
    return "warning"


class IntegrationLog:
    """Counts per integration and minute, in this process."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, window: int = DAY, stale_after: float = STALE_AFTER
    ) -> None:
        self.clock = clock
        self.window = int(window)
        self.stale_after = stale_after
        self._minutes: dict[str, dict[int, list[float]]] = {}  # [ok, errors, latency sum]
        self._last: dict[str, float] = {}
        self._last_error: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def record(self, integration: str, *, ok: bool, latency: float, error: object = "") -> None:
        _log(integration, ok, latency, error)
        self._add(integration, ok, latency, "" if ok else str(error), self.clock())

    def _add(self, integration: str, ok: bool, latency: float, error: str, now: float) -> None:
        with self._lock:
            minutes = self._minutes.setdefault(integration, {})
            counts = minutes.setdefault(int(now // 60), [0, 0, 0.0])
            counts[0 if ok else 1] += 1
            counts[2] += latency
            self._last[integration] = max(self._last.get(integration, 0.0), now)
            if not ok:
                self._last_error[integration] = (now, error)
            oldest = int((now - self.window) // 60)
            for minute in [m for m in minutes if m <= oldest]:
                del minutes[minute]

    def report(self, integration: str) -> Health:
        now = self.clock()
        oldest = (now - self.window) // 60
        with self._lock:
            counts = [c for m, c in self._minutes.get(integration, {}).items() if m > oldest]
            last = self._last.get(integration, 0.0)
            at, error = self._last_error.get(integration, (0.0, ""))
        return self._health(integration, counts, last, error if at > now - self.window else "", now)

    def reports(self) -> list[Health]:
        with self._lock:
            names = sorted(set(INTEGRATIONS) | set(self._minutes))
        return [self.report(name) for name in names]

    def _health(
        self, integration: str, counts: list[list[float]], last: float, error: str, now: float, *notes: str
    ) -> Health:
        ok = int(sum(c[0] for c in counts))
        errors = int(sum(c[1] for c in counts))
        attempts = ok + errors
        return Health(
            integration=integration,
            status=status_of(attempts, errors, last, now, self.stale_after),
            attempts=attempts,
            errors=errors,
            success_rate=ok / attempts if attempts else 0.0,
            last_activity=last,
            last_error=error,
            mean_latency=sum(c[2] for c in counts) / attempts if attempts else 0.0,
            window=self.window,
            notes=notes,
        )


class RedisIntegrationLog(IntegrationLog):
    """The same counts in Redis, shared by every process: a hash per integration and minute
    (``dispatch:integrations:<name>:<minute>``, expiring after the window), the last activity and
    the last error. Redis failing: counted in process, reported from there with a note."""

    PREFIX = "dispatch:integrations"

    def __init__(self, client: redis.Redis, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.client = client

    def record(self, integration: str, *, ok: bool, latency: float, error: object = "") -> None:
        _log(integration, ok, latency, error)
        now, text = self.clock(), "" if ok else str(error)
        key = f"{self.PREFIX}:{integration}"
        try:
            pipe = self.client.pipeline(transaction=False)
            minute = f"{key}:{int(now // 60)}"
            pipe.hincrby(minute, "ok" if ok else "errors", 1)
            pipe.hincrbyfloat(minute, "latency", latency)
            pipe.expire(minute, self.window + 120)
            pipe.set(f"{key}:last", f"{now}", ex=self.window + 120)
            if not ok:
                pipe.set(f"{key}:last_error", f"{now}|{text}", ex=self.window + 120)
            pipe.sadd(self.PREFIX, integration)
            pipe.execute()
        except redis.exceptions.RedisError as exc:
            log.warning("integration log: Redis %s; counted in this process", type(exc).__name__)
            self._add(integration, ok, latency, text, now)

    def report(self, integration: str) -> Health:
        now = self.clock()
        key = f"{self.PREFIX}:{integration}"
        first, last_minute = int((now - self.window) // 60) + 1, int(now // 60)
        try:
            pipe = self.client.pipeline(transaction=False)
            for minute in range(first, last_minute + 1):
                pipe.hmget(f"{key}:{minute}", "ok", "errors", "latency")
            pipe.get(f"{key}:last")
            pipe.get(f"{key}:last_error")
            replies = pipe.execute()
        except redis.exceptions.RedisError as exc:
            local = super().report(integration)
            note = f"Redis {type(exc).__name__}: only this process's attempts"
            return Health(**{**local.__dict__, "notes": (*local.notes, note)})
        counts = [[float(v or 0) for v in reply] for reply in replies[:-2] if any(reply)]
        last = float(replies[-2] or 0)
        at, _, error = (replies[-1] or b"0|").decode().partition("|")
        return self._health(integration, counts, last, error if float(at) > now - self.window else "", now)

    def reports(self) -> list[Health]:
        try:
            names = {m.decode() for m in self.client.smembers(self.PREFIX)}
        except redis.exceptions.RedisError:
            names = set()
        return [self.report(name) for name in sorted(set(INTEGRATIONS) | names)]


def _log(integration: str, ok: bool, latency: float, error: object) -> None:
    if ok:
        log.debug("%s: ok in %.0f ms", integration, latency * 1000)
    else:
        log.warning("%s: error after %.0f ms: %s", integration, latency * 1000, error)
