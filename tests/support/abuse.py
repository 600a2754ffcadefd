"""What an attacker or a broken client does to a server, for ``tests/test_abuse.py`` and
``benchmarks/load.py --abusive N``: calls that send their headers and never their message, big
requests without a token, connections that trickle bytes into the HTTP ports; and what is
measured meanwhile (health latency, the server's memory).
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SOLVE = "/dispatch.v1.Dispatch/Solve"
#: Each abusive channel its own TCP connection (gRPC would share one between identical channels).
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def header_only(
    channel: grpc.Channel,
    release: threading.Event,
    *,
    method: str = SOLVE,
    metadata: Sequence[tuple[str, str]] = (),
    timeout: float = 30.0,
) -> grpc.Future:
    """A call that sends its headers and then nothing (its request message never comes) until
    ``release`` is set: as a client stuck mid-request, or an attacker holding a stream."""

    def nothing() -> Iterator[bytes]:
        release.wait()
        return
        yield b""  # a generator that yields nothing

    call = channel.stream_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    return call.future(nothing(), metadata=metadata, timeout=timeout)


def raw_call(
    channel: grpc.Channel, payload: bytes, *, method: str = SOLVE, metadata=(), timeout: float = 30.0
) -> grpc.StatusCode:
    """Send ``payload`` as the request message of ``method`` (not parsed here); the status code."""
    call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        call(payload, metadata=metadata, timeout=timeout)
        return grpc.StatusCode.OK
    except grpc.RpcError as err:
        return err.code()


def status(future: grpc.Future, timeout: float) -> grpc.StatusCode:
    """The code ``future`` ended with, waiting ``timeout`` seconds (``None`` if still running)."""
    try:
        future.result(timeout=timeout)
        return grpc.StatusCode.OK
    except grpc.FutureTimeoutError:
        return None  # type: ignore[return-value]
    except grpc.RpcError as err:
        return err.code()


class HealthProbe:
    """Checks ``grpc.health.v1`` every ``every`` seconds on a channel of its own while running:
    ``latencies`` (seconds) of the answers, ``failures`` (codes) of the others."""

    def __init__(self, address: str, *, every: float = 0.02, timeout: float = 2.0) -> None:
        self.address, self.every, self.timeout = address, every, timeout
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with grpc.insecure_channel(self.address, options=OWN_CONNECTION) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while not self._stop.is_set():
                began = time.perf_counter()
                try:
                    health.Check(health_pb2.HealthCheckRequest(), timeout=self.timeout)
                    self.latencies.append(time.perf_counter() - began)
                except grpc.RpcError as err:
                    self.failures[err.code().name] += 1
                self._stop.wait(self.every)

    def p99_ms(self) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100)[98] * 1000

    def summary(self) -> str:
        return (
            f"health: {len(self.latencies)} answered, p50 {statistics.median(self.latencies) * 1000:.1f} ms, "
            f"p99 {self.p99_ms():.1f} ms, max {max(self.latencies) * 1000:.1f} ms, failed {dict(self.failures)}"
        )


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` and its children (the solver workers), MiB (Linux)."""
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def trickle(port: int, release: threading.Event, *, every: float = 0.5) -> None:
    """A slow HTTP client: one byte of a request every ``every`` seconds until ``release`` or the
    server closes the connection."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 10_000:
                if release.wait(every):
                    return
                s.sendall(bytes([byte]))
    except OSError:
        return


class Crowd:
    """``connections`` abusive connections to ``address`` until ``stop()``: each in turn holds a
    header-only call (without a token, or with ``token`` when given: an insider, cut by the
    server's request wait), and sends a near-limit request of ``big`` bytes without a token.
    ``codes`` counts how the server answered them."""

    def __init__(self, address: str, connections: int, *, token: str | None = None, big: int = 1 << 20) -> None:
        self.address, self.connections, self.token, self.big = address, connections, token, big
        self.codes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(k,), daemon=True, name=f"abuse-{k}") for k in range(connections)
        ]

    def __enter__(self) -> Crowd:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t.ident is not None:  # started
                t.join(15)

    def _count(self, code: grpc.StatusCode | None) -> None:
        with self._lock:
            self.codes["still running" if code is None else code.name] += 1

    def _run(self, k: int) -> None:
        rng = random.Random(k)
        junk = os.urandom(self.big)
        with grpc.insecure_channel(
            self.address, options=[*OWN_CONNECTION, ("grpc.max_send_message_length", 64 << 20)]
        ) as channel:
            while not self._stop.is_set():
                kind = rng.choice(("header_only", "header_only_token", "big"))
                if kind == "big":
                    self._count(raw_call(channel, junk, timeout=10))
                    continue
                release = threading.Event()
                metadata = (
                    [("authorization", f"Bearer {self.token}")] if kind == "header_only_token" and self.token else []
                )
                future = header_only(channel, release, metadata=metadata, timeout=60)
                while not self._stop.is_set() and not future.done():
                    time.sleep(0.05)
                release.set()
                self._count(status(future, 5))
                self._stop.wait(rng.uniform(0.0, 0.2))
