"""The composition root: builds the planning service, its solver runner, stores, streams,
travel providers and the notifier from ``Settings`` -- the one place that picks Redis, Google
and Twilio over their in-process stand-ins, so nothing connects at import."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dispatch import metrics
from dispatch.config import Settings
from dispatch.matrix import GreatCircleProvider
from dispatch.matrix.cached_provider import CachedProvider
from dispatch.matrix.google import GoogleMaps
from dispatch.matrix.travel_cache import Counters, TravelCache
from dispatch.notify.health import IntegrationLog, RedisIntegrationLog
from dispatch.service import PlanningService
from dispatch.solver.runner import InProcessRunner, Runner
from dispatch.store import MemoryPlanStore, PlanStore
from dispatch.stream import EtaStream, MemoryEtaStream, RedisEtaStream

if TYPE_CHECKING:
    from dispatch.notify.notifier import Notifier


def bootstrap(settings: Settings | None = None, *, pool: bool = True) -> PlanningService:
    """Build the planning service: a started solver pool (or in-process solving) and the stores."""
    settings = settings or Settings.from_env()
    if pool:
        from dispatch.solver.pool import SolverPool  # noqa: PLC0415

        runner: Runner = SolverPool(
            settings.workers, max_waiting=settings.max_waiting, niceness=settings.worker_niceness
        )
        runner.start()  # type: ignore[attr-defined]
    else:
        runner = InProcessRunner()
    # The store writes each version's ETA events with it: on the same Redis, or in this process.
    store: PlanStore
    etas: EtaStream
    if settings.redis_url:
        from dispatch.store.redis import RedisPlanStore  # noqa: PLC0415 (redis only when configured)

        redis_etas = RedisEtaStream.from_url(settings.redis_url)
        store, etas = RedisPlanStore.from_url(settings.redis_url, etas=redis_etas), redis_etas
    else:
        memory_etas = MemoryEtaStream()
        store, etas = MemoryPlanStore(max_bytes=settings.memory_store_bytes, etas=memory_etas), memory_etas
    integrations = integration_log(settings)
    service = PlanningService(
        runner=runner,
        settings=settings,
        store=store,
        google=google_travel(settings, integrations=integrations),
        etas=etas,
        integrations=integrations,
    )
    metrics.watch(service)
    return service


def integration_log(settings: Settings) -> IntegrationLog:
    """Counts of calls to Google and Twilio: in Redis when configured (shared by every process), else here."""
    if settings.redis_url:
        from dispatch.redis_client import fail_fast_client  # noqa: PLC0415

        client = fail_fast_client(settings.redis_url, socket_timeout=0.5, connect_timeout=0.5)
        return RedisIntegrationLog(client, window=settings.health_window)
    return IntegrationLog(window=settings.health_window)


def google_travel(
    settings: Settings, counters: Counters | None = None, *, integrations: IntegrationLog | None = None
) -> CachedProvider | None:
    """The GOOGLE travel model: the client, its cache (Redis when configured, else in process)
    and the great-circle fallback; ``None`` without an API key. Every request is counted in
    ``integrations`` (the health report)."""
    if settings.google is None:
        return None
    counters = counters or Counters()
    if settings.redis_url:
        cache = TravelCache.redis(settings.redis_url, counters=counters)
    else:
        cache = TravelCache.memory(max_entries=settings.cache_max_entries, counters=counters)
    fallback = GreatCircleProvider(circuity=settings.circuity, speed_kmh=settings.speed_kmh)
    on_call = None
    if integrations is not None:
        log_ = integrations

        def on_call(ok: bool, seconds: float, error: str) -> None:
            log_.record("google", ok=ok, latency=seconds, error=error)

    google = GoogleMaps(settings.google, on_call=on_call)
    return CachedProvider(google, cache, fallback, policy=settings.cache, counters=counters)


def start_notifier(
    settings: Settings,
    stream: EtaStream,
    consumer: str,
    integrations: IntegrationLog | None = None,
    *,
    host: str = metrics.ALL_INTERFACES,
) -> NotifierRun:
    """Build the notifier and run it on a thread as ``consumer``, with the Twilio webhook when a
    public URL is configured, on ``host`` (gRPC's form, as ``dispatch serve --host``: ``[::]``,
    ``127.0.0.1``…) and the configured port. ``stop()`` ends both.

    Raises
    ------
    TemplateError
        The messages file cannot be used.
    OSError
        The webhook's port cannot be bound.
    """
    notifier = build_notifier(settings, stream, integrations)
    webhook = None
    twilio = settings.twilio
    if twilio is not None and twilio.webhook_url:
        from dispatch.notify.webhook import WebhookServer  # noqa: PLC0415

        webhook = WebhookServer(
            notifier, auth_token=twilio.auth_token, public_url=twilio.webhook_url, host=host, port=twilio.webhook_port
        )
        webhook.start()
    thread, stop = notifier.start(consumer)
    return NotifierRun(notifier, thread, stop, webhook)


@dataclass
class NotifierRun:
    notifier: Notifier
    thread: threading.Thread
    stopping: threading.Event
    webhook: object | None = None

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)
        if self.webhook is not None:
            self.webhook.close()  # type: ignore[attr-defined]


def build_notifier(settings: Settings, stream: EtaStream, integrations: IntegrationLog | None = None) -> Notifier:
    """The notifier on ``stream``: Twilio when configured (else it logs the texts), dedupe keys and
    opt-outs in Redis when configured (else in process), the business's messages file if any.

    Raises
    ------
    TemplateError
        The messages file cannot be used (named, with the template and variable at fault).
    """
    from dispatch.notify.claims import MemoryClaims, RedisClaims  # noqa: PLC0415
    from dispatch.notify.notifier import Notifier  # noqa: PLC0415
    from dispatch.notify.sms import Sms  # noqa: PLC0415
    from dispatch.notify.templates import Messages  # noqa: PLC0415
    from dispatch.redis_client import fail_fast_client  # noqa: PLC0415

    messages = Messages.load(Path(settings.messages_path)) if settings.messages_path else Messages()
    claims = (
        RedisClaims(fail_fast_client(settings.redis_url, socket_timeout=1.0, connect_timeout=0.5))
        if settings.redis_url
        else MemoryClaims()
    )
    sms = Sms(settings.twilio) if settings.twilio is not None else None
    return Notifier(
        stream,
        sms=sms,
        messages=messages,
        claims=claims,
        integrations=integrations or integration_log(settings),
        senders=settings.notifier_senders,
        appointment_lead=settings.appointment_lead,
        threshold=settings.eta_threshold,
        settle=settings.eta_settle,
    )
