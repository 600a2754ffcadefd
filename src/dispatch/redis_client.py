"""The one way a Redis client is made: the plan store (``dispatch.store.redis``), the travel
cache (``dispatch.matrix.travel_cache``), the ETA stream (``dispatch.stream``), the notifier's claims
and the integration log all take their client from ``fail_fast_client``."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def fail_fast_client(url: str, *, socket_timeout: float, connect_timeout: float) -> redis.Redis:
    """A client for ``url`` that waits at most ``connect_timeout`` to connect and ``socket_timeout``
    for each reply, and retries once, only after a connection error (redis-py 8's defaults block
    4.5 s on a refused port and about a minute on a silent one)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), retries=1, supported_errors=(redis.exceptions.ConnectionError,)),
        decode_responses=False,
    )
