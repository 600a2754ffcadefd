"""A ``dispatch serve`` process for a benchmark to talk to, as a deployment runs it.

Benchmarks used to start the server in their own process: then the client's threads share
the server's GIL and every server-side figure carries the client's work. A separate process
on a free loopback port, configured through the environment like a deployment, does not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tests.support.served import DispatchProcess


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
    configured by ``env`` on top of this process's environment without its ``DISPATCH_*``,
    ``TWILIO_*`` and ``GOOGLE_*`` variables."""
    extra = dict(env or {})
    if redis_url:
        extra["DISPATCH_REDIS_URL"] = redis_url
    args = ["--workers", str(workers), "--max-waiting", str(max_waiting)]
    with DispatchProcess(extra, args=args, stderr=None, ready_within=ready_within) as server:
        yield server.address
