"""A ``dispatch serve`` process on a loopback port, configured only by its environment, as a
deployment runs it: for the tests that need a server of their own (replicas, restarts, corpora,
secrets in its log) and for the benchmarks (``benchmarks/serve.py``).

The process gets this one's environment without its ``DISPATCH_*``, ``TWILIO_*`` and ``GOOGLE_*``
variables, then ``env``. ``ready`` once its health service says SERVING.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from typing import IO, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dispatch.v1 import dispatch_pb2_grpc
from tests.support.redis_server import end, free_port

MESSAGE_BYTES = 64 << 20


class DispatchProcess:
    """``dispatch serve`` on ``port`` (a free one by default), with a channel and a stub to it,
    ready on return unless ``wait`` is false."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        stderr: int | IO[Any] | None = subprocess.DEVNULL,
        ready_within: float = 90.0,
        wait: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DISPATCH_", "TWILIO_", "GOOGLE_"))}
        # Solver workers at nice 0 (production: 19): a machine kept busy by other processes slows
        # the tests' solves but does not starve them past their deadlines.
        self.env["DISPATCH_WORKER_NICENESS"] = "0"
        self.env.update(env or {})
        command = [sys.executable, "-m", "dispatch.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen([*command, *args], env=self.env, stdout=subprocess.DEVNULL, stderr=stderr)
        self.channel = grpc.insecure_channel(
            self.address,
            options=[
                ("grpc.max_receive_message_length", MESSAGE_BYTES),
                ("grpc.max_send_message_length", MESSAGE_BYTES),
            ],
        )
        self.stub = dispatch_pb2_grpc.DispatchStub(self.channel)
        if wait:  # else the caller waits (several processes starting at once)
            try:
                self.wait_ready(ready_within)
            except BaseException:
                self.stop()
                raise

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Return once the health service says SERVING; ``RuntimeError`` if it exits or takes too long."""
        health = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"dispatch serve exited with {self.process.returncode}")
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dispatch serve not ready within {timeout:g} s") from None
                time.sleep(0.2)

    def metrics(self) -> dict[str, float]:
        """Its Prometheus samples (``DISPATCH_METRICS_PORT`` must be in ``env``), summed over labels by name."""
        port = self.env["DISPATCH_METRICS_PORT"]
        out: dict[str, float] = {}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            for line in reply.read().decode().splitlines():
                if line and not line.startswith("#"):
                    name = line.split("{", 1)[0].split(" ", 1)[0]
                    out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return out

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.channel.close()
        self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a graceful stop), SIGKILL after ``timeout``."""
        self.channel.close()
        end(self.process, timeout=timeout)

    def __enter__(self) -> DispatchProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
