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
- ``texts_total{kind,result,code}`` (each attempt to text a customer: sent, failed, retried, unknown, logged;
  ``kind="reply_forward"``: a customer's reply forwarded to the office phone)
- ``customer_replies_total{forwarded}`` (customers' replies other than STOP/START, once each, by whether they
  reached the office phone: ``true``, or ``false``: no office phone, or the forward failed)
- the client library's ``process_*`` (memory, CPU, open files) and ``python_gc_*``

The module also holds what both small HTTP listeners of a dispatch process (this endpoint and the
Twilio webhook) are built on, ``GuardedHTTPServer``: it binds the ``host`` given in gRPC's form
(``[::]``, ``127.0.0.1``, ``[::1]``, a name), gives each connection an overall deadline to send its
request, and serves a bounded number of connections at once.
"""

from __future__ import annotations

import errno
import functools
import io
import ipaddress
import logging
import socket
import socketserver
import sys
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
RPC_REFUSED = Counter(
    "dispatch_rpc_refused",
    "Calls refused before their request was read (unauthenticated, max_calls) or cancelled for want of one "
    "(no_request)",
    ["reason"],
)
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
CUSTOMER_REPLIES = Counter(
    "dispatch_customer_replies",
    "Customers' replies other than STOP/START, once each, by whether they were forwarded to the office phone",
    ["forwarded"],
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


# ---------------------------------------------------------------------------- HTTP listeners

#: Seconds a client has, from the moment its connection is accepted, to send its whole request
#: (request line, headers and body) however it paces it. A per-read timeout alone restarts with
#: every byte received: a client trickling a byte every few seconds would hold a thread forever.
REQUEST_DEADLINE = 10.0
#: Seconds the answer has to reach the client, all its writes together: a client that stops
#: reading must not hold a thread either.
ANSWER_TIMEOUT = 10.0
#: Connections one listener serves at once (a thread each). When all are taken, the connection that
#: has been waiting on its client longest (a slow client, mid-request) is dropped for the newcomer,
#: so slow clients cannot lock a liveness probe out; when none is waiting on its client (every one
#: is being answered), the newcomer is answered 503 at once.
MAX_CONNECTIONS = 64
#: Connections the kernel completes before they are accepted (socketserver's 5 drops a burst's SYNs,
#: which the clients then resend only after a second).
BACKLOG = 128
#: Where a listener binds when its caller names no host: every IPv4 interface, as before ``--host``
#: reached these listeners (``dispatch serve`` passes its own ``--host``, ``[::]`` by default).
ALL_INTERFACES = "0.0.0.0"
#: The answer of a listener with every connection busy being answered (sent without waiting).
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\nbusy\n"
)


def listen_address(host: str) -> tuple[socket.AddressFamily, str, bool]:
    """Where to bind for ``host`` as gRPC takes it: ``(family, address, dual_stack)``.

    ``[::]`` / ``::`` is every interface, IPv6 and IPv4 on one dual-stack socket (``0.0.0.0`` where
    the host has no IPv6); ``""`` and ``0.0.0.0`` every IPv4 interface; an address, bracketed or
    not, itself; a name its first IPv4 address, else its first IPv6 one (``localhost`` is
    ``127.0.0.1``: one socket, where gRPC binds every address of a name).

    Raises
    ------
    OSError
        A name that does not resolve.
    """
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if name in ("", "0.0.0.0"):
        return socket.AF_INET, "0.0.0.0", False
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        ip = None
    if ip is not None:
        if ip.version == 4:
            return socket.AF_INET, name, False
        if ip == ipaddress.IPv6Address("::"):
            if socket.has_dualstack_ipv6():
                return socket.AF_INET6, "::", True
            return socket.AF_INET, "0.0.0.0", False
        return socket.AF_INET6, name, False
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            found = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
        except socket.gaierror:
            continue
        if found:
            return family, str(found[0][4][0]), False
    raise OSError(errno.EADDRNOTAVAIL, f"host {host!r} has no address")


class _Connection(io.RawIOBase):
    """An accepted socket, read (buffered, as the handler's ``rfile``) and written (``wfile``)
    against its deadlines: before each ``recv`` the socket's timeout becomes what remains of the
    request's deadline, before each ``sendall`` what remains of the answer's, so no pace of the
    client stretches either. ``waiting`` is true while blocked on the client (what eviction picks);
    a connection ``dropped`` for a newer one raises ``TimeoutError`` (``http.server`` closes it)."""

    def __init__(self, sock: socket.socket, deadline: float, answer_timeout: float) -> None:
        super().__init__()
        self.sock = sock
        self.accepted = time.monotonic()
        self.read_by = self.accepted + deadline
        self.answer_timeout = answer_timeout
        self.write_by: float | None = None
        self.waiting = False
        self.dropped = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._wait_until(self.read_by, "request")
        try:
            received = self.sock.recv_into(buffer)
        finally:
            self.waiting = False
        if self.dropped:  # woken by drop()'s shutdown: no end of the request, however it looks
            raise TimeoutError("connection dropped for a newer one")
        return received

    def send(self, data: Any) -> int:
        if self.write_by is None:
            self.write_by = time.monotonic() + self.answer_timeout
        self._wait_until(self.write_by, "answer")
        try:
            self.sock.sendall(data)  # the timeout bounds the whole sendall (Python >= 3.5)
        finally:
            self.waiting = False
        return memoryview(data).nbytes

    def drop(self) -> None:
        """Make room: end the connection's reads and writes from another thread at once."""
        self.dropped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked on it, which returns b""
        except OSError:
            pass  # already gone

    def _wait_until(self, by: float, what: str) -> None:
        left = by - time.monotonic()
        if self.dropped:
            raise TimeoutError("connection dropped for a newer one")
        if left <= 0:
            raise TimeoutError(f"{what} past its deadline")
        self.sock.settimeout(left)
        self.waiting = True


class _Writer(io.BufferedIOBase):
    """The handler's ``wfile``: unbuffered, as ``http.server``'s own, through ``_Connection.send``."""

    def __init__(self, connection: _Connection) -> None:
        super().__init__()
        self.connection = connection

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self.connection.send(data)


class GuardedHandler(BaseHTTPRequestHandler):
    """A request handler for ``GuardedHTTPServer``: one request per connection, read and answered
    within the connection's deadlines."""

    protocol_version = "HTTP/1.0"
    server: GuardedHTTPServer

    def setup(self) -> None:
        # Not StreamRequestHandler.setup: its socket files know a per-read timeout only.
        connection = self.server.connection(self.request)
        self.connection = self.request
        self.rfile = io.BufferedReader(connection)
        self.wfile = _Writer(connection)

    def handle(self) -> None:
        self.close_connection = True  # no keep-alive: the deadline is the connection's, not a request's
        self.handle_one_request()


class GuardedHTTPServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` for ``GuardedHandler``s on ``host`` (gRPC's form, see
    ``listen_address``) and ``port``: each connection has ``deadline`` seconds from its accept to
    send its whole request, and at most ``max_connections`` are served at once (``MAX_CONNECTIONS``
    says what happens to the next one).

    Raises
    ------
    OSError
        The address cannot be bound (the port is taken, the host is not this machine's).
    """

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(
        self,
        host: str,
        port: int,
        handler: Callable[..., GuardedHandler],
        *,
        name: str,
        deadline: float = REQUEST_DEADLINE,
        answer_timeout: float = ANSWER_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        tracebacks: bool = True,
    ) -> None:
        self.name = name
        self.deadline = deadline
        self.answer_timeout = answer_timeout
        self.max_connections = max_connections
        self.tracebacks = tracebacks
        self._lock = threading.Lock()
        self._live: dict[Any, _Connection] = {}  # accepted socket -> its connection, until shut down
        family, address, self._dual_stack = listen_address(host)
        self.address_family = family
        try:
            super().__init__((address, port), handler)
        except OSError as exc:
            if not self._dual_stack or exc.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
            log.warning("%s: cannot bind [::] (%s); IPv4 only", name, exc.strerror)
            self.address_family, self._dual_stack = socket.AF_INET, False
            super().__init__(("0.0.0.0", port), handler)

    def server_bind(self) -> None:
        if self._dual_stack:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # Not HTTPServer.server_bind: its getfqdn() is a reverse DNS lookup, for a name unused here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            live = [c for c in self._live.values() if not c.dropped]
            waiting = [c for c in live if c.waiting]
            busy = len(live) >= self.max_connections and not waiting
            if not busy:
                if len(live) >= self.max_connections:
                    min(waiting, key=lambda c: c.accepted).drop()  # the longest wait on a client makes room
                self._live[request] = _Connection(request, self.deadline, self.answer_timeout)
        if busy:
            log.debug("%s: %d connections being answered; %s answered 503", self.name, len(live), client_address[0])
            try:
                request.setblocking(False)
                request.send(_BUSY)  # a fresh socket's buffer takes it whole; never waits
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def connection(self, request: Any) -> _Connection:
        with self._lock:
            return self._live[request]

    def connections(self) -> int:
        """Connections being served now (those dropped for newer ones not counted)."""
        with self._lock:
            return sum(not c.dropped for c in self._live.values())

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._live.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client left, reset, or was dropped mid-answer
            log.debug("%s: connection from %s ended: %s", self.name, client_address[0], error)
        else:
            # socketserver would print the traceback on stderr; the webhook's could quote a phone number
            log.error(
                "%s: %s serving a connection",
                self.name,
                type(error).__name__,
                exc_info=error if self.tracebacks else None,
            )


class MetricsServer:
    """``GET /metrics`` (Prometheus), ``/healthz`` (200 while the process runs) and ``/readyz``
    (200 once ``ready()`` says so, else 503) on ``host`` (gRPC's form: ``[::]``, ``127.0.0.1``…)
    and ``port``, on its own threads. A connection has ``deadline`` seconds to send its request and
    at most ``max_connections`` are served at once (``GuardedHTTPServer``): slow clients neither
    pile up threads nor keep the probes out.

    Raises
    ------
    OSError
        The port cannot be bound.
    """

    def __init__(
        self,
        port: int,
        *,
        host: str = ALL_INTERFACES,
        ready: Callable[[], bool] = lambda: True,
        deadline: float = REQUEST_DEADLINE,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        class Handler(GuardedHandler):
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

        self.httpd = GuardedHTTPServer(
            host, port, Handler, name="metrics endpoint", deadline=deadline, max_connections=max_connections
        )
        self.host = str(self.httpd.server_address[0])
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="dispatch-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on %s port %d (/metrics, /healthz, /readyz)", self.host, self.port)
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def metrics_endpoint(
    port: int | None, *, host: str = ALL_INTERFACES, required: bool = True, ready: Callable[[], bool] = lambda: True
) -> MetricsServer | None:
    """The endpoint on ``host`` (gRPC's form, as ``dispatch serve --host``) and ``port``, started
    (``None``: no port). A port asked for (``required``) that is taken fails the start; the default
    one is skipped with an error in the log, as when a second server runs on the same host.

    Raises
    ------
    RuntimeError
        A required port cannot be bound.
    """
    if port is None:
        return None
    try:
        return MetricsServer(port, host=host, ready=ready).start()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if required:
            raise RuntimeError(f"metrics port {port}: {reason}") from None
        log.error("metrics port %d: %s; no metrics from this process (set DISPATCH_METRICS_PORT)", port, reason)
        return None
