"""The composition root: builds the planning service, its solver runner, stores, streams (ETA
events, customers' replies), travel providers and the notifier from ``Settings`` -- the one
place that picks Redis, Google and Twilio over their in-process stand-ins, so nothing connects
at import."""

from __future__ import annotations

import threading
from collections.abc import Callable
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
    from dispatch.notify.replies import ReplyStream


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
    google, routes = google_travel(settings, integrations=integrations)
    service = PlanningService(
        runner=runner,
        settings=settings,
        store=store,
        google=google,
        routes=routes,
        etas=etas,
        integrations=integrations,
        time_zone=business_time_zone(settings),
    )
    metrics.watch(service)
    return service


def business_time_zone(settings: Settings) -> str:
    """The time zone of plans whose request names none: the messages file's, else UTC.

    Raises
    ------
    TemplateError
        The messages file cannot be used (a server does not start on one).
    """
    if not settings.messages_path:
        return "UTC"
    from dispatch.notify.templates import Messages  # noqa: PLC0415

    return Messages.load(Path(settings.messages_path)).time_zone


def reply_stream(settings: Settings) -> ReplyStream:
    """The customers' replies: the Redis Stream ``dispatch:replies`` when Redis is configured (the
    webhook of a ``dispatch notifier`` process and every server share it), else one in this process
    (give the same one to the in-process notifier and to the servicer)."""
    from dispatch.notify.replies import redis_replies  # noqa: PLC0415
    from dispatch.stream import MemoryStream  # noqa: PLC0415

    if settings.redis_url:
        return redis_replies(settings.redis_url)
    return MemoryStream()


def integration_log(settings: Settings) -> IntegrationLog:
    """Counts of calls to Google and Twilio: in Redis when configured (shared by every process), else here."""
    if settings.redis_url:
        from dispatch.redis_client import fail_fast_client  # noqa: PLC0415

        client = fail_fast_client(settings.redis_url, socket_timeout=0.5, connect_timeout=0.5)
        return RedisIntegrationLog(client, window=settings.health_window)
    return IntegrationLog(window=settings.health_window)


def google_travel(
    settings: Settings, counters: Counters | None = None, *, integrations: IntegrationLog | None = None
) -> tuple[CachedProvider | None, CachedProvider | None]:
    """The GOOGLE (Distance Matrix) and ROUTES (Routes API) travel models: each its client, one
    cache (Redis when configured, else in process; keys name the provider) and the great-circle
    fallback; ``(None, None)`` without an API key. Every request is counted in ``integrations``
    (the health report: ``google`` and ``google_routes``)."""
    if settings.google is None:
        return None, None
    from dispatch.matrix.routes import GoogleRoutes  # noqa: PLC0415 (Google's client only when configured)

    counters = counters or Counters()
    if settings.redis_url:
        cache = TravelCache.redis(settings.redis_url, counters=counters)
    else:
        cache = TravelCache.memory(max_entries=settings.cache_max_entries, counters=counters)
    fallback = GreatCircleProvider(circuity=settings.circuity, speed_kmh=settings.speed_kmh)

    def told(name: str) -> Callable[[bool, float, str], None] | None:
        if integrations is None:
            return None
        log_ = integrations

        def on_call(ok: bool, seconds: float, error: str) -> None:
            log_.record(name, ok=ok, latency=seconds, error=error)

        return on_call

    google = GoogleMaps(settings.google, on_call=told("google"))
    routes = GoogleRoutes(settings.google, on_call=told("google_routes"))
    return (
        CachedProvider(google, cache, fallback, policy=settings.cache, counters=counters),
        CachedProvider(routes, cache, fallback, policy=settings.cache, counters=counters),
    )


def start_notifier(
    settings: Settings,
    stream: EtaStream,
    consumer: str,
    integrations: IntegrationLog | None = None,
    *,
    host: str = metrics.ALL_INTERFACES,
    replies: ReplyStream | None = None,
) -> NotifierRun:
    """Build the notifier and run it on a thread as ``consumer``, with the Twilio webhook when a
    public URL is configured, on ``host`` (gRPC's form, as ``dispatch serve --host``: ``[::]``,
    ``127.0.0.1``…) and the configured port. ``stop()`` ends both. Customers' replies go onto
    ``replies`` (default: ``reply_stream(settings)``).

    Raises
    ------
    TemplateError
        The messages file cannot be used.
    OSError
        The webhook's port cannot be bound.
    """
    notifier = build_notifier(settings, stream, integrations, replies=replies)
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


def build_notifier(
    settings: Settings,
    stream: EtaStream,
    integrations: IntegrationLog | None = None,
    *,
    replies: ReplyStream | None = None,
) -> Notifier:
    """The notifier on ``stream``: Twilio when configured (else it logs the texts), dedupe keys and
    opt-outs in Redis when configured (else in process), the business's messages file if any;
    customers' replies onto ``replies`` (default: ``reply_stream(settings)``), forwarded to the
    office phone if one is configured.

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
        replies=replies if replies is not None else reply_stream(settings),
        office_phone=settings.office_phone,
    )
