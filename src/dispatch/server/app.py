"""``dispatch serve``: the gRPC server with health, reflection and graceful shutdown."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dispatch.bootstrap import NotifierRun, bootstrap, reply_stream, start_notifier
from dispatch.config import Settings
from dispatch.metrics import MetricsServer, metrics_endpoint
from dispatch.notify.replies import ReplyStream
from dispatch.server.interceptor import Interceptor
from dispatch.server.servicer import DispatchServicer
from dispatch.service import PlanningService
from dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc

log = logging.getLogger("dispatch")

SERVICE_NAME = dispatch_pb2.DESCRIPTOR.services_by_name["Dispatch"].full_name
#: What the server sends at most (a plan is far smaller than the request that made it; a
#: 1,000-job request with explicit matrices is about 10 MB). What it reads: ``Settings.max_request_bytes``.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Concurrent WatchEtas and WatchCustomerReplies calls (each holds an RPC thread); more get RESOURCE_EXHAUSTED.
MAX_WATCHERS = 32
#: RPC threads beyond ``max_calls``: health checks and the refusals of calls over the cap run
#: there, so they are answered whatever holds the others.
SPARE_THREADS = 16
#: Calls gRPC itself accepts at once (its "Concurrent RPC limit exceeded!", which refuses health
#: checks too): only a last bound on queued refusals, far above ``max_calls``.
GRPC_MAX_CONCURRENT_RPCS = 2_000
#: HTTP/2 streams one connection may open at once: only a bound on what one connection can hold.
#: gRPC refuses streams past it with RST_STREAM (the client sees UNAVAILABLE), so the real cap
#: per connection is the interceptor's (``max_calls_per_connection``: RESOURCE_EXHAUSTED).
HTTP2_MAX_STREAMS = 1_000
#: Seconds between looks at whether the server can take work (the service's gRPC health status).
READY_POLL = 0.25
#: Young-generation threshold of the cyclic garbage collector in the server process. A re-plan
#: allocates tens of thousands of small objects; at Python's default (700) young collections
#: ran many times per request and the quick answer to a 25 x 250 cancellation took 42 ms
#: server-side instead of 25 ms (2026-11-25, benchmarks/reopt_latency.py). At 50,000 a young
#: collection took 20-26 ms of wall time under 50 clients (benchmarks/load.py, CPU saturated), every
#: thread stopped, health checks behind it. At 10,000 (with the switch interval below and solver
#: workers at nice 19) the same re-plan benchmark gave cancellation p95 24 ms, emergency 38 ms.
GC_YOUNG_THRESHOLD = 10_000
#: Seconds a thread holds the GIL before another that waits for it gets its turn (Python's default
#: 0.005). A health check waits for the GIL several times per call behind threads converting,
#: validating and quick-planning requests: at 5 ms, 50 clients pushed its p99 to 12 ms.
SWITCH_INTERVAL = 0.001


class DispatchServer:
    """A running server: ``start()``, then ``wait()`` or ``stop()``."""

    def __init__(self, settings: Settings, *, host: str = "[::]", port: int = 50051) -> None:
        self.settings = settings
        self.host = host
        self.requested_port = port
        self.health = health.HealthServicer(experimental_non_blocking=True)
        self.service: PlanningService | None = None
        self.server: grpc.Server | None = None
        self.port = 0
        self.interceptor = Interceptor(
            tokens=settings.auth_tokens,
            max_calls=settings.max_calls,
            max_per_connection=settings.max_calls_per_connection,
            request_wait=settings.request_wait,
        )
        self._stopped = threading.Event()
        self.notifier: NotifierRun | None = None
        #: The customers' replies: the in-process notifier's webhook records them, WatchCustomerReplies follows them.
        self.replies: ReplyStream | None = None
        self.metrics: MetricsServer | None = None
        self._serving = threading.Event()
        self._finished = threading.Event()

    def start(self) -> int:
        """Start the solver pool, then serve; health says SERVING once the workers are up."""
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        # The pool (forkserver and workers) starts before any gRPC thread exists.
        self.service = bootstrap(self.settings)
        settings = self.settings
        self.server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=settings.max_calls + SPARE_THREADS, thread_name_prefix="dispatch-rpc"
            ),
            interceptors=[self.interceptor],
            maximum_concurrent_rpcs=max(GRPC_MAX_CONCURRENT_RPCS, 4 * settings.max_calls),
            options=[
                ("grpc.max_receive_message_length", settings.max_request_bytes),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_concurrent_streams", HTTP2_MAX_STREAMS),
                ("grpc.so_reuseport", 0),
            ],
        )
        # One replies stream for the servicer and the in-process notifier: Redis's when configured (a
        # separate ``dispatch notifier`` writes there too), else this process's.
        self.replies = reply_stream(settings)
        dispatch_pb2_grpc.add_DispatchServicer_to_server(
            DispatchServicer(self.service, max_watchers=MAX_WATCHERS, replies=self.replies), self.server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self.server,
        )
        address = f"{self.host}:{self.requested_port}"
        tls = self.settings.tls
        if tls is None:
            self.port = self.server.add_insecure_port(address)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.private_key, tls.cert_chain)],
                root_certificates=tls.client_ca,
                require_client_auth=tls.client_ca is not None,
            )
            self.port = self.server.add_secure_port(address, credentials)
        if self.port == 0:
            raise RuntimeError(f"could not bind {address}")
        self.metrics = metrics_endpoint(
            self.settings.metrics_port, host=self.host, required=self.settings.metrics_required, ready=self.ready
        )
        # Objects alive after start-up (modules, generated code, the pool) never become garbage:
        # keep them out of every collection, and collect the young generation less often.
        gc.collect()
        gc.freeze()
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.server.start()
        if self.settings.twilio is not None:  # texts go out from this process
            self.notifier = start_notifier(
                # one name per replica: containers all run as PID 1, their host names differ
                self.settings,
                self.service.etas,
                self.settings.notifier_consumer or f"serve-{socket.gethostname()}-{os.getpid()}",
                self.service.integrations,
                host=self.host,
                replies=self.replies,
            )
        threading.Thread(target=self._flush_etas, name="eta-outbox", daemon=True).start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._serving.set()
        threading.Thread(target=self._watch_readiness, name="dispatch-readiness", daemon=True).start()
        transport = "plaintext" if tls is None else ("mutual TLS" if tls.client_ca else "TLS")
        tokens = len(self.settings.auth_tokens)
        log.info(
            "dispatch serving on port %d (%s, %s) with %d solver workers",
            self.port,
            transport,
            f"{tokens} bearer token(s)" if tokens else "no bearer token asked for",
            self.settings.workers,
        )
        return self.port

    def ready(self) -> bool:
        """Whether this server can take work now (``/readyz``, and the gRPC health status of the
        ``dispatch.v1.Dispatch`` service): serving, calls in progress under ``max_calls``, and
        memory budget left. A full solver queue is not unreadiness: it refuses solves, while
        re-plans, plans and ETAs are served. The process stays live (``/healthz``, the health
        status of "") while it is busy."""
        return (
            self._serving.is_set()
            and not self.interceptor.gate.full
            and self.service is not None
            and self.service.can_take_work()
        )

    def _watch_readiness(self) -> None:
        serving = True
        while not self._stopped.wait(READY_POLL):
            now = self.ready()
            if now != serving and not self._stopped.is_set():
                serving = now
                status = health_pb2.HealthCheckResponse.SERVING if now else health_pb2.HealthCheckResponse.NOT_SERVING
                self.health.set(SERVICE_NAME, status)
                log.warning("dispatch %s", "ready again" if now else "cannot take work now: not ready")

    def _flush_etas(self) -> None:
        while not self._stopped.wait(1.0):
            if self.service is not None:
                try:
                    self.service.flush_etas()
                except Exception:
                    log.exception("flushing the ETA outbox failed")

    def stop(self, grace: float = 10.0) -> None:
        """Stop taking calls, let running ones finish for ``grace`` seconds, stop the workers."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._serving.clear()
        self.health.enter_graceful_shutdown()
        if self.server is not None:
            self.server.stop(grace).wait()
        if self.notifier is not None:
            self.notifier.stop()
        if self.service is not None:
            close = getattr(self.service.runner, "close", None)
            if close is not None:
                close()
        if self.metrics is not None:
            self.metrics.close()
        log.info("dispatch stopped")
        self._finished.set()

    def wait(self) -> None:
        """Block until ``stop()`` has finished."""
        self._finished.wait()


def serve(settings: Settings, *, host: str = "[::]", port: int = 50051) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    server = DispatchServer(settings, host=host, port=port)
    server.start()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.wait()
