"""A ``dispatch serve`` process for a benchmark to talk to, as a deployment runs it.

Benchmarks used to start the server in their own process: then the client's threads share
the server's GIL and every server-side figure carries the client's work. A separate process
on a free loopback port, configured through the environment like a deployment, does not.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.redis_server import end, free_port


@contextlib.contextmanager
def served(
    *,
    workers: int = 2,
    max_waiting: int = 8,
    redis_url: str | None = None,
    ready_within: float = 120,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """``host:port`` of a ``dispatch serve`` process, stopped on exit (its log goes to stderr);
    configured by ``env`` on top of this process's environment without its ``DISPATCH_*`` and
    ``TWILIO_*`` variables."""
    port = free_port()
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISPATCH_", "TWILIO_"))}
    env.update(extra)
    if redis_url:
        env["DISPATCH_REDIS_URL"] = redis_url
    command = [sys.executable, "-m", "dispatch.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--max-waiting", str(max_waiting)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + ready_within
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"dispatch serve exited with {process.returncode}")
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        break
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"dispatch serve not ready within {ready_within:g} s") from None
                    time.sleep(0.2)
        yield address
    finally:
        end(process, timeout=15)
