"""What every RPC goes through before and after its servicer method, in one place: a request id,
authentication, a cap on calls in progress, a wait limit for the request message, Prometheus
counts and latency, and one access-log line.

- **Request id**: the caller's ``x-request-id`` metadata (up to 64 of ``[A-Za-z0-9._:-]``) or a new
  one, sent back as ``x-request-id`` initial metadata and set in ``dispatch.logs.request_id`` so
  every line logged while serving the call carries it.
- **Authentication**: with bearer tokens configured, a call must carry ``authorization: Bearer
  <token>`` metadata naming one of them (compared in constant time), else ``UNAUTHENTICATED``.
  The health service stays open (load balancers and kubelets probe it without credentials) and
  passes untouched: not counted, not logged.
  Mutual TLS is the transport's job: a client without a certificate the CA signed never gets a
  connection.
- **Before any message is read.** gRPC's own unary handlers wait for the request message on a
  server thread before anything else runs, for as long as the client keeps the stream open: 60
  calls that sent headers and nothing else held every thread, health checks included. So every
  call is served here as request-streaming: the token is checked on the metadata alone (in the
  server's own thread), and the cap on calls in progress (``max_calls``, ``DISPATCH_MAX_CALLS``)
  and per client connection (``max_per_connection``, ``DISPATCH_MAX_CALLS_PER_CONNECTION``; not
  HTTP/2's stream limit, which gRPC enforces by resetting streams: clients see UNAVAILABLE) as
  the call's handler starts, before anything is read (counting there, not in the interceptor,
  means a call gRPC itself refuses is never counted). A refused call is answered at once,
  without reading its message, and an admitted one gets ``request_wait``
  seconds (``DISPATCH_REQUEST_WAIT``) for its message, after which the call is cancelled
  (``CANCELLED``; counted in ``dispatch_rpc_refused_total{reason="no_request"}``). The health
  service is never capped: the server has threads beyond ``max_calls`` for it.
- **Metrics**: ``dispatch_rpc_requests_total{method,code}``, ``dispatch_rpc_duration_seconds``,
  ``dispatch_rpc_in_flight``.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc

from dispatch import logs, metrics

log = logging.getLogger("dispatch.rpc")

#: Services any caller may use: the gRPC health protocol.
OPEN_SERVICES = ("/grpc.health.v1.Health/",)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


#: Seconds an admitted call may take to send its request message (``DISPATCH_REQUEST_WAIT``).
REQUEST_WAIT = 30.0


class CallGate:
    """How many calls (health excepted) are in progress, capped at ``limit``: counted from the
    moment the call's headers arrive until its handler returns, refused beyond it."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.limit is not None and self._count >= self.limit:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1

    @property
    def full(self) -> bool:
        return self.limit is not None and self._count >= self.limit


class ConnectionGate:
    """Calls in progress per client connection (by peer address and port), capped at ``limit``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, peer: str) -> bool:
        with self._lock:
            count = self._counts.get(peer, 0)
            if self.limit is not None and count >= self.limit:
                return False
            self._counts[peer] = count + 1
            return True

    def leave(self, peer: str) -> None:
        """Uncount a call entered on ``peer`` ("": never entered)."""
        if not peer:
            return
        with self._lock:
            left = self._counts.get(peer, 0) - 1
            if left > 0:
                self._counts[peer] = left
            else:
                self._counts.pop(peer, None)


class RequestWatch:
    """Cancels calls whose request message has not arrived ``wait`` seconds after their headers:
    one thread for all of them (a timer each would be a thread each)."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._due: dict[int, tuple[float, grpc.ServicerContext]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._thread: threading.Thread | None = None

    def watch(self, context: grpc.ServicerContext) -> int:
        with self._lock:
            self._next += 1
            self._due[self._next] = (time.monotonic() + self.wait, context)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dispatch-request-watch", daemon=True)
                self._thread.start()
            return self._next

    def done(self, token: int) -> None:
        with self._lock:
            self._due.pop(token, None)

    def _run(self) -> None:
        while True:
            time.sleep(min(0.25, self.wait / 4))
            try:
                self._cancel_late()
            except Exception:  # the watch must outlive any one call's failure
                log.exception("request watch: cancelling a late call failed")

    def _cancel_late(self) -> None:
        now = time.monotonic()
        with self._lock:  # under the lock: a call whose message came (``done``) is never cancelled
            late = [token for token, (due, _) in self._due.items() if due <= now]
            for token in late:
                _, context = self._due.pop(token)
                context.cancel()
        for _ in late:
            metrics.RPC_REFUSED.labels("no_request").inc()
            log.warning("a call sent no request message in %.0f s: cancelled", self.wait)


class Interceptor(grpc.ServerInterceptor):
    """Request ids, bearer-token authentication (when ``tokens`` is not empty), the cap on calls
    in progress (``max_calls``; None: no cap), the wait for the request message, metrics, access log."""

    def __init__(
        self,
        *,
        tokens: Sequence[str] = (),
        max_calls: int | None = None,
        max_per_connection: int | None = None,
        request_wait: float = REQUEST_WAIT,
    ) -> None:
        self.tokens = tuple(t.encode() for t in tokens)
        self.gate = CallGate(max_calls)
        self.connections = ConnectionGate(max_per_connection)
        self.request_watch = RequestWatch(request_wait)

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            # Probes: no credentials, nothing to log, nothing extra to send (every added step is
            # another wait for the GIL on a busy server, and health p99 must stay under 10 ms).
            return handler
        metadata = dict(details.invocation_metadata or ())
        given = metadata.get("x-request-id", "")
        rid = given if isinstance(given, str) and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        name = method.rsplit("/", 1)[-1]
        refusal = self._refusal(metadata)
        if refusal is not None:
            return _refused(handler, name, rid, grpc.StatusCode.UNAUTHENTICATED, refusal, "unauthenticated")
        gate, request_watch, connections = self.gate, self.request_watch, self.connections

        def admit(context: grpc.ServicerContext, *, streamed_out: bool) -> Callable[[], None]:
            """Count the call, in all and on its connection (``context.peer()``: address and port),
            or refuse it, still unread (an abort: nothing stays counted). Returns the release, which
            runs once: from the handler's ``finally``, or for a response-streaming call also from
            gRPC's end-of-call callback, whichever comes first (a stream its client abandoned holds
            no thread, but its generator may be finalised late)."""
            refusal = None
            if not gate.enter():
                refusal = ("max_calls", f"{gate.limit} calls in progress already (DISPATCH_MAX_CALLS)")
            else:
                peer = context.peer()
                if connections.enter(peer):
                    once = threading.Lock()

                    def release() -> None:
                        if once.acquire(blocking=False):
                            connections.leave(peer)
                            gate.leave()

                    if streamed_out:
                        context.add_callback(release)
                    return release
                gate.leave()
                refusal = (
                    "max_calls_per_connection",
                    f"{connections.limit} calls in progress on this connection already "
                    "(DISPATCH_MAX_CALLS_PER_CONNECTION)",
                )
            metrics.RPC_REFUSED.labels(refusal[0]).inc()
            metrics.RPC_REQUESTS.labels(name, "RESOURCE_EXHAUSTED").inc()
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{refusal[1]}: try again shortly")
            raise AssertionError("unreachable: abort raises")

        @contextlib.contextmanager
        def served(context: grpc.ServicerContext) -> Iterator[None]:
            """The request id, the in-flight gauge, the count, the latency and the access line of
            a call whose request has arrived, whatever ends it."""
            logs.request_id.set(rid)
            began = time.perf_counter()
            metrics.RPC_IN_FLIGHT.labels(name).inc()
            try:
                context.send_initial_metadata((("x-request-id", rid),))
                yield
            finally:
                took = time.perf_counter() - began
                code = _code(context)
                metrics.RPC_IN_FLIGHT.labels(name).dec()
                metrics.RPC_REQUESTS.labels(name, code).inc()
                metrics.RPC_DURATION.labels(name).observe(took)
                log.info("%s %s %.1f ms", name, code, took * 1000, extra={"rpc": name, "code": code})
                logs.request_id.set("")

        def first(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            """The one request message, waited for ``request_wait`` seconds at most."""
            token = request_watch.watch(context)
            try:
                return next(requests)  # a cancelled call raises the RpcError gRPC itself ignores
            except StopIteration:
                metrics.RPC_REQUESTS.labels(name, "INVALID_ARGUMENT").inc()
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{name} requires exactly one request message")
            finally:
                request_watch.done(token)

        def unary(behaviour: Callable[..., Any], streamed_in: bool) -> Callable[..., Any]:
            def call(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                release = admit(context, streamed_out=False)
                try:
                    request = requests if streamed_in else first(requests, context)
                    with served(context):
                        return behaviour(request, context)
                finally:
                    release()

            return call

        def streaming(behaviour: Callable[..., Iterator[Any]], streamed_in: bool) -> Callable[..., Iterator[Any]]:
            def call(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
                release = admit(context, streamed_out=True)
                try:
                    request = requests if streamed_in else first(requests, context)
                    with served(context):
                        yield from behaviour(request, context)
                finally:
                    release()

            return call

        # Request-streaming methods (server reflection) are counted too, their messages read by
        # their own handler: an idle stream holds one of the capped calls, never a spare thread.
        streamed_in = handler.request_streaming
        if handler.response_streaming:
            inner = handler.stream_stream if streamed_in else handler.unary_stream
            return grpc.stream_stream_rpc_method_handler(
                streaming(inner, streamed_in),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        inner = handler.stream_unary if streamed_in else handler.unary_unary
        return grpc.stream_unary_rpc_method_handler(
            unary(inner, streamed_in),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _refusal(self, metadata: dict[str, Any]) -> str | None:
        """Why the call may not go on, or ``None`` (no tokens configured, or a good token)."""
        if not self.tokens:
            return None
        header = metadata.get("authorization", "")
        if not isinstance(header, str) or not header:
            return "authentication required: send the metadata 'authorization: Bearer <token>'"
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "authorization metadata must be 'Bearer <token>'"
        given = token.strip().encode()
        # compare with every configured token, in constant time, whatever matches first
        if not any([hmac.compare_digest(given, t) for t in self.tokens]):
            return "invalid bearer token"
        return None


def _refused(
    handler: grpc.RpcMethodHandler, name: str, rid: str, code: grpc.StatusCode, why: str, reason: str
) -> grpc.RpcMethodHandler:
    """A handler that answers ``code`` at once, without reading the request message."""
    metrics.RPC_REFUSED.labels(reason).inc()
    metrics.RPC_REQUESTS.labels(name, code.name).inc()

    def refuse(_requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        logs.request_id.set(rid)
        log.info("%s %s refused: %s", name, code.name, why, extra={"rpc": name, "code": code.name})
        logs.request_id.set("")
        context.set_trailing_metadata((("x-request-id", rid),))
        context.abort(code, why)

    def refuse_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        refuse(requests, context)
        yield  # never reached: a generator, as a response-streaming handler must be

    if handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse_stream, response_serializer=handler.response_serializer)
    return grpc.stream_unary_rpc_method_handler(refuse, response_serializer=handler.response_serializer)


def _code(context: grpc.ServicerContext) -> str:
    """The status the call ended with, by name (``OK``, ``INVALID_ARGUMENT``…): every failure of a
    servicer method is an abort (``grpc_errors``), which sets the code."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    return "OK" if context.is_active() else "CANCELLED"  # the caller went away (or its deadline passed)
