"""Integration log and health: every call to Twilio (and Google) recorded with its outcome,
latency and error; a report per integration over the last 24 hours.

Status, first that applies: ``stale`` (no activity in the last hour), ``degraded`` (more than 10
errors in 24 h), ``healthy`` (success rate above 95 %), else ``warning``. In process: each
process reports what it did.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

DAY = 86_400
STALE_AFTER = 3_600


@dataclass(frozen=True)
class Attempt:
    at: float
    ok: bool
    latency: float
    error: str


@dataclass(frozen=True)
class Health:
    integration: str
    status: str
    attempts: int
    errors: int
    success_rate: float
    last_activity: float  # Unix time, 0 when none
    last_error: str


class IntegrationLog:
    def __init__(self, clock=time.time) -> None:  # noqa: ANN001
        self.clock = clock
        self._attempts: dict[str, deque[Attempt]] = {}
        self._lock = threading.Lock()

    def record(self, integration: str, *, ok: bool, latency: float, error: object = "") -> None:
        with self._lock:
            log = self._attempts.setdefault(integration, deque())
            log.append(Attempt(self.clock(), ok, latency, "" if ok else str(error)))
            self._trim(log)

    def _trim(self, log: deque[Attempt]) -> None:
        while log and log[0].at < self.clock() - DAY:
            log.popleft()

    def report(self, integration: str) -> Health:
        with self._lock:
            log = self._attempts.setdefault(integration, deque())
            self._trim(log)
            attempts = list(log)
        errors = [a for a in attempts if not a.ok]
        last = attempts[-1].at if attempts else 0.0
        rate = (len(attempts) - len(errors)) / len(attempts) if attempts else 0.0
        if not attempts or self.clock() - last > STALE_AFTER:
            status = "stale"
        elif len(errors) > 10:
            status = "degraded"
        elif rate > 0.95:
            status = "healthy"
        else:
            status = "warning"
        return Health(
            integration=integration,
            status=status,
            attempts=len(attempts),
            errors=len(errors),
            success_rate=rate,
            last_activity=last,
            last_error=errors[-1].error if errors else "",
        )
