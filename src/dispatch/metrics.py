"""Prometheus metrics, and the HTTP endpoint that serves them with liveness and readiness.

The one module that imports ``prometheus_client``. Events are counted where they happen (an RPC,
a solve, a text); state is read when Prometheus scrapes (queue depth, busy workers, worker
restarts, the travel layer's counters) from the objects this process registers with ``watch``,
so the solver pool and the travel cache know nothing of Prometheus.

Families (all prefixed ``dispatch_``):

- ``rpc_requests_total{method,code}``, ``rpc_duration_seconds{method}``, ``rpc_in_flight{method}``
- ``solve_duration_seconds{outcome}`` (a Solve from request to stored plan),
  ``replan_duration_seconds{answer}`` (a re-plan's ``quick`` answer and its ``final`` one)
- ``solver_workers``, ``solver_workers_busy``, ``solver_queue_depth``, ``solver_worker_restarts_total{reason}``
- ``travel_<counter>_total`` (cache hits and misses, provider requests, elements, errors and
  great-circle fallbacks, breaker openings, geocodes) for the GOOGLE travel model
- ``eta_events_total{kind}``, ``eta_outbox`` (events held while the stream is down)
- ``texts_total{kind,result,code}`` (each attempt to text a customer: sent, failed, retried, unknown, logged)
- the client library's ``process_*`` (memory, CPU, open files) and ``python_gc_*``
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dispatch.errors import DispatchError

log = logging.getLogger("dispatch")
F = TypeVar("F", bound=Callable[..., Any])

disable_created_metrics()  # a "_created" series beside every counter only doubles what is scraped

#: Seconds: from a health check (1 ms) to the longest solve the limits allow (600 s).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600)

RPC_REQUESTS = Counter("dispatch_rpc_requests", "RPCs answered, by method and status code", ["method", "code"])
RPC_DURATION = Histogram("dispatch_rpc_duration_seconds", "RPC latency, by method", ["method"], buckets=BUCKETS)
RPC_IN_FLIGHT = Gauge("dispatch_rpc_in_flight", "RPCs being served, by method", ["method"])
SOLVE_DURATION = Histogram(
    "dispatch_solve_duration_seconds", "Solve from request to stored plan, by outcome", ["outcome"], buckets=BUCKETS
)
REPLAN_DURATION = Histogram(
    "dispatch_replan_duration_seconds",
    "Re-plan latency to the quick answer and to the final one",
    ["answer"],
    buckets=BUCKETS,
)
ETA_EVENTS = Counter("dispatch_eta_events", "ETA events put on the stream, by kind", ["kind"])
TEXTS = Counter(
    "dispatch_texts", "Attempts to text a customer, by message kind, result and error code", ["kind", "result", "code"]
)


def timed(histogram: Histogram) -> Callable[[F], F]:
    """Observe how long each call of the decorated function takes in ``histogram``, labelled with
    its ``outcome``: ``ok``, the name of the dispatch error it raised, or ``internal``."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            began, outcome = time.monotonic(), "ok"
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                outcome = type(exc).__name__ if isinstance(exc, DispatchError) else "internal"
                raise
            finally:
                histogram.labels(outcome).observe(time.monotonic() - began)

        return call  # type: ignore[return-value]

    return decorate


class _Watched:
    """Reads the state of what this process registered (planning services) at scrape time."""

    def __init__(self) -> None:
        self.services: weakref.WeakSet[Any] = weakref.WeakSet()

    def describe(self) -> list[Metric]:
        return []  # families come and go with what is watched: no fixed description

    def collect(self) -> Iterator[Metric]:
        services = list(self.services)
        pools = [d.runner for d in services if hasattr(d.runner, "size")]
        gauges = {
            "dispatch_solver_workers": ("Solver worker processes", lambda p: p.size),
            "dispatch_solver_workers_busy": ("Solver workers solving now", lambda p: p.busy),
            "dispatch_solver_queue_depth": ("Solves waiting for a free worker", lambda p: p.waiting),
        }
        for name, (text, read) in gauges.items():
            family = GaugeMetricFamily(name, text)
            family.add_metric([], sum(read(p) for p in pools))
            yield family
        restarts = CounterMetricFamily(
            "dispatch_solver_worker_restarts", "Solver workers killed and replaced, by reason", labels=["reason"]
        )
        reasons: dict[str, int] = {}
        for pool in pools:
            for reason, n in pool.restarts_by_reason.items():
                reasons[reason] = reasons.get(reason, 0) + n
        for reason, n in sorted(reasons.items()):
            restarts.add_metric([reason], n)
        yield restarts
        outbox = GaugeMetricFamily("dispatch_eta_outbox", "ETA events held while the stream is down")
        outbox.add_metric([], sum(d.eta_outbox for d in services))
        yield outbox
        travel: dict[str, int] = {}
        for d in services:
            if d.google is not None:
                for name, n in d.google.counters.snapshot().items():
                    travel[name] = travel.get(name, 0) + n
        for name, n in sorted(travel.items()):
            counter = CounterMetricFamily(f"dispatch_travel_{name}", f"GOOGLE travel model: {name.replace('_', ' ')}")
            counter.add_metric([], n)
            yield counter


_WATCHED = _Watched()
REGISTRY.register(_WATCHED)


def watch(service: object) -> None:
    """Report ``service``'s pool, outbox and travel counters while it lives."""
    _WATCHED.services.add(service)


def scrape() -> bytes:
    """Everything in the Prometheus text format (what ``GET /metrics`` answers)."""
    return generate_latest(REGISTRY)


class MetricsServer:
    """``GET /metrics`` (Prometheus), ``/healthz`` (200 while the process runs) and ``/readyz``
    (200 once ``ready()`` says so, else 503) on its own port and threads.

    Raises
    ------
    OSError
        The port cannot be bound.
    """

    def __init__(self, port: int, *, host: str = "", ready: Callable[[], bool] = lambda: True) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, scrape(), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._answer(200, b"ok\n")
                elif path == "/readyz":
                    serving = ready()
                    self._answer(200 if serving else 503, b"ready\n" if serving else b"not ready\n")
                else:
                    self._answer(404, b"not found: /metrics, /healthz, /readyz\n")

            def _answer(self, code: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("metrics endpoint: " + format, *args)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="dispatch-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on port %d (/metrics, /healthz, /readyz)", self.port)
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def metrics_endpoint(
    port: int | None, *, required: bool = True, ready: Callable[[], bool] = lambda: True
) -> MetricsServer | None:
    """The endpoint on ``port``, started (``None``: no port). A port asked for (``required``) that
    is taken fails the start; the default one is skipped with an error in the log, as when a
    second server runs on the same host.

    Raises
    ------
    RuntimeError
        A required port cannot be bound.
    """
    if port is None:
        return None
    try:
        return MetricsServer(port, ready=ready).start()
    except OSError as exc:
        if required:
            raise RuntimeError(f"metrics port {port}: {exc.strerror}") from None
        log.error("metrics port %d: %s; no metrics from this process (set DISPATCH_METRICS_PORT)", port, exc.strerror)
        return None
