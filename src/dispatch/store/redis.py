"""Plans in Redis, shared by every server process (the client: ``dispatch.redis_client``).

Each plan is a hash ``dispatch:plan:{plan_id}`` with ``version`` (the authoritative version,
an integer), ``record`` (the ``StoredPlan`` as ``dispatch.codec`` bytes: zlib-compressed JSON,
never pickle) and ``writer`` (an id of the put that wrote it, so a retried put cannot apply
twice). A write is one Lua compare-and-set, so two servers re-planning the same version never
both land; every write resets the key's time to live.

Decoding a record costs milliseconds (a 25-technician day: 5 ms), and a re-plan reads the plan
its own process usually wrote or read last. So each store keeps the last records it saw
(immutable, by plan id, with their writer id), and a read sends the writer id it holds: Redis
answers "same" without the record when it still is the current one, in the same single round
trip. What is returned is always what Redis holds now.

The plan store is authoritative, so it never fails open: when Redis cannot be reached in time,
``get`` and ``put`` raise ``StoreUnavailableError``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

import redis

from dispatch import codec
from dispatch.errors import StoreUnavailableError
from dispatch.eta import EtaEvent
from dispatch.redis_client import fail_fast_client
from dispatch.store import StoredPlan, check_events, next_version

log = logging.getLogger("dispatch")

KEY_PREFIX = "dispatch:plan:"
DEFAULT_TTL = timedelta(days=7)

# KEYS[1] the plan's hash, KEYS[2] the ETA stream; ARGV: expected version ("" for none; 0: the
# plan must not exist), record, ttl (ms), writer id, the stream's MAXLEN, then the version's ETA
# events (each a stream entry's "e" field): added in the same script, so a version and its texts
# land together or not at all.
# Returns {written (1/0), version}: the new version when written, else the current one (0: none).
# An expected version never matches a missing plan (``PlanNotFoundError``, as in memory).
# A put whose reply was lost and is retried finds its own writer id and reports success again.
_COMPARE_AND_SET = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current > 0 and redis.call('HGET', KEYS[1], 'writer') == ARGV[4] then
    return {1, current}
end
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
    return {0, current}
end
redis.call('HSET', KEYS[1], 'version', current + 1, 'record', ARGV[2], 'writer', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
for i = 6, #ARGV do
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[i])
end
return {1, current + 1}
"""


# KEYS[1] the plan's hash; ARGV[1] the writer id of the record the caller holds ("" for none).
# Returns {} (no plan), {version, writer, 'same'} or {version, writer, 'record', record}.
_READ = """
local v = redis.call('HMGET', KEYS[1], 'version', 'writer')
if not v[1] then
    return {}
end
if v[2] and v[2] == ARGV[1] then
    return {v[1], v[2], 'same'}
end
local record = redis.call('HGET', KEYS[1], 'record')
if not record then
    return {}
end
return {v[1], v[2] or '', 'record', record}
"""


class EventLog(Protocol):
    """The ETA stream a Redis store writes events to (``dispatch.stream.RedisEtaStream``)."""

    key: str
    max_len: int

    def encode(self, event: EtaEvent) -> bytes: ...


#: Decoded records kept per store (the plans this process re-plans most).
RECENT_RECORDS = 64


class RedisPlanStore:
    """A ``PlanStore`` on a ``redis.Redis`` client (built by the caller or by ``from_url``).

    Parameters
    ----------
    client
        A ``redis.Redis``-compatible client with ``decode_responses=False``; its timeouts and
        retries decide how long a call may block (``from_url`` sets short ones).
    ttl
        How long a plan is kept after its last write.
    etas
        The ETA stream on the same Redis (``dispatch.stream.RedisEtaStream``: its ``key``,
        ``max_len`` and entry encoding): each version's ETA events are added to it in the write
        that stores the version. None: the caller publishes them.
    """

    def __init__(self, client: redis.Redis, *, ttl: timedelta = DEFAULT_TTL, etas: EventLog | None = None) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, not {ttl}")
        self.client = client
        self.ttl = ttl
        self.etas = etas
        self.writes_events = etas is not None
        self._compare_and_set = client.register_script(_COMPARE_AND_SET)  # hashes the script; no I/O
        self._read = client.register_script(_READ)
        self._where = _describe(client)
        self._recent: OrderedDict[str, tuple[bytes, StoredPlan]] = OrderedDict()  # plan id -> (writer, record)
        self._lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout: float = 1.0,
        connect_timeout: float = 0.5,
        ttl: timedelta = DEFAULT_TTL,
        etas: EventLog | None = None,
    ) -> RedisPlanStore:
        """A store on a new client for ``url`` (``redis://``, ``rediss://`` or ``unix://``); connects lazily.

        redis-py 8's defaults would block a request for a long time when Redis is down: 5 s socket
        and connect timeouts and 10 retries with backoff, both for connecting and again for each
        command (a silent server holds a call for about a minute). Here a call waits at most
        ``connect_timeout`` to connect and ``socket_timeout`` for a reply, and retries once, only
        after a connection error (a refused connection, a pooled socket Redis closed on restart):
        a timed-out call is not repeated, it fails.

        Returns
        -------
        RedisPlanStore
        """
        return cls(
            fail_fast_client(url, socket_timeout=socket_timeout, connect_timeout=connect_timeout), ttl=ttl, etas=etas
        )

    def get(self, plan_id: str) -> StoredPlan | None:
        """The current version of the plan, or ``None`` (never stored, or expired)."""
        with self._lock:
            held = self._recent.get(plan_id)
        try:
            reply = self._read(keys=[_key(plan_id)], args=[held[0] if held else b""])
        except redis.exceptions.RedisError as error:
            raise self._unavailable(f"reading plan {plan_id!r}", error) from error
        if not reply:
            self._forget(plan_id)
            return None
        version, writer, kind = int(reply[0]), reply[1], reply[2]
        if kind == b"same" and held is not None:
            record = held[1]
        else:
            record = codec.loads(StoredPlan, reply[3])
        # The hash's version is authoritative: a put without expected_version learns its
        # version inside the script, after the record was encoded.
        if record.plan.version != version:
            record = dataclasses.replace(record, plan=dataclasses.replace(record.plan, version=version))
        self._remember(plan_id, writer, record)
        return record

    def put(
        self, record: StoredPlan, *, expected_version: int | None = None, events: Sequence[EtaEvent] = ()
    ) -> StoredPlan:
        """Store ``record`` as the next version of its plan (see ``PlanStore.put``), with its ETA
        events on the stream in the same script.

        Raises
        ------
        PlanNotFoundError
            ``expected_version`` was given and no plan is stored under the id.
        VersionConflictError
            ``expected_version`` was given and another version is the current one.
        StoreUnavailableError
            Redis could not be reached or did not answer in time. After a timeout the write
            may still land (as the version after the current one).
        """
        check_events(events, expected_version, self.writes_events)
        plan_id = record.plan.plan_id
        if expected_version is not None:
            record = dataclasses.replace(record, plan=dataclasses.replace(record.plan, version=expected_version + 1))
        ttl_ms = max(1, int(self.ttl.total_seconds() * 1000))
        writer = uuid.uuid4().hex
        args = [
            "" if expected_version is None else expected_version,
            codec.dumps(record),
            ttl_ms,
            writer,
            self.etas.max_len if self.etas is not None else 0,
            *(self.etas.encode(e) for e in events if self.etas is not None),
        ]
        stream = self.etas.key if self.etas is not None else KEY_PREFIX + "no-events"
        try:
            written, version = self._compare_and_set(keys=[_key(plan_id), stream], args=args)
        except redis.exceptions.RedisError as error:
            self._forget(plan_id)
            raise self._unavailable(f"writing plan {plan_id!r}", error) from error
        if written:
            stored = next_version(record, plan_id, int(version) - 1 or None, expected_version)
            self._remember(plan_id, writer.encode(), stored)
            return stored
        # Not written: the current version is not the expected one. The same errors, with the
        # same messages, as every other store.
        next_version(record, plan_id, int(version) or None, expected_version)
        raise AssertionError(f"compare-and-set of {plan_id!r} refused at version {version} without a conflict")

    def _remember(self, plan_id: str, writer: bytes, record: StoredPlan) -> None:
        with self._lock:
            self._recent[plan_id] = (writer, record)
            self._recent.move_to_end(plan_id)
            while len(self._recent) > RECENT_RECORDS:
                self._recent.popitem(last=False)

    def _forget(self, plan_id: str) -> None:
        with self._lock:
            self._recent.pop(plan_id, None)

    def _unavailable(self, doing: str, error: redis.exceptions.RedisError) -> StoreUnavailableError:
        kind = "did not answer in time" if isinstance(error, redis.exceptions.TimeoutError) else "failed"
        log.warning("plan store %s %s while %s: %s", self._where, kind, doing, error)
        after = ""
        if doing.startswith("writing"):  # the write may have landed (with its texts): say how to retry
            after = (
                "; the new version may still have been stored: retry with the same request_id (applied once), "
                "or read the plan (GetPlan) before sending the events again"
            )
        return StoreUnavailableError(f"the plan store ({self._where}) {kind} while {doing}: {error}{after}")


def _key(plan_id: str) -> str:
    return KEY_PREFIX + plan_id


def _describe(client: Any) -> str:
    """``Redis at host:port/db`` or ``Redis at /path.sock`` (never the password)."""
    try:
        kwargs = client.connection_pool.connection_kwargs
    except AttributeError:
        return "Redis"
    where = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    return f"Redis at {where}/{kwargs.get('db', 0)}"
