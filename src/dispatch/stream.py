"""Streams of items: in process by default, a Redis Stream when Redis is configured.

Two streams are built on this: the ETA events (``EtaStream``, ``dispatch:etas``) and the
customers' replies (``dispatch.notify.replies``, ``dispatch:replies``). ``MemoryStream`` and
``RedisStream`` hold any item; the Redis one is given how an item becomes its entry's ``e`` field
and back (``encode``/``decode``: JSON, never pickle), and the name its errors use.

Publishers append items; readers follow from an id (``read``): the gRPC ``WatchEtas`` and
``WatchCustomerReplies``. The notifier reads the ETA events through a consumer group
(``group_read``, ``pending``, ``touch``, ``ack``) so a restarted notifier resumes where it stopped
and a dead one's events are taken over. Ids are strings that grow: ``"<ms>-<seq>"`` in Redis, a
counter in process (``valid_id`` says whether a reader's id is one). ETA events are JSON
(``dispatch.codec``), never pickle.

The Redis stream is capped (``MAXLEN ~ max_len``). Publishing retries once on a connection
error and then raises ``StreamUnavailableError``: the caller (the service, the webhook) decides
what a failed publish means for the request.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import redis

from dispatch import codec
from dispatch.errors import DispatchError
from dispatch.eta import EtaEvent

STREAM_KEY = "dispatch:etas"

log = logging.getLogger("dispatch.stream")

T = TypeVar("T")
#: An id of the in-process stream (a counter), and of a Redis Stream (``<ms>`` or ``<ms>-<seq>``).
_MEMORY_ID = re.compile(r"[0-9]{1,19}")
_REDIS_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")
_U64 = 2**64 - 1


class StreamUnavailableError(DispatchError):
    """A stream (Redis) cannot be reached."""


class Stream(Protocol[T]):
    """What a publisher and a reader that follows the stream need."""

    def publish(self, items: list[T]) -> list[str]:
        """Append ``items`` in order; their ids."""
        ...

    def last_id(self) -> str:
        """The id of the newest item ("0" when empty): reading after it yields only new ones."""
        ...

    def read(self, after: str, *, block: float = 0.0, count: int = 100) -> list[tuple[str, T]]:
        """Items after id ``after``, oldest first, waiting up to ``block`` seconds for one."""
        ...

    def valid_id(self, entry_id: str) -> bool:
        """Whether ``entry_id`` is an id of this kind of stream ("0" is one): what ``read`` takes."""
        ...


class EtaStream(Stream[EtaEvent], Protocol):
    """The ETA events, with the consumer group the notifier reads them through."""

    def group_read(
        self, group: str, consumer: str, *, block: float = 0.0, count: int = 100
    ) -> list[tuple[str, EtaEvent]]:
        """New events for ``consumer`` of ``group`` (created at the stream's start if new), waiting up
        to ``block`` seconds: each is given to one consumer and stays pending until ``ack``ed."""
        ...

    def pending(
        self, group: str, consumer: str, *, count: int = 100, stale: float = 60.0
    ) -> list[tuple[str, EtaEvent]]:
        """What ``consumer`` was given and has not ``ack``ed (a restarted consumer resumes there),
        then what other consumers left unacknowledged and untouched for ``stale`` seconds (taken
        over by ``consumer``)."""
        ...

    def touch(self, group: str, consumer: str, ids: list[str]) -> None:
        """Mark ``ids`` as still being worked on by ``consumer``: not stale for ``stale`` more seconds."""
        ...

    def ack(self, group: str, ids: list[str]) -> None: ...


def encode(event: EtaEvent) -> bytes:
    return json.dumps(codec.to_json(event), separators=(",", ":")).encode()


def decode(raw: bytes) -> EtaEvent:
    return codec.from_json(EtaEvent, json.loads(raw))


def _readable(entries: list, key: str, decode: Callable[[bytes], T]) -> tuple[list[tuple[str, T]], list[bytes]]:
    """The entries that decode, and the ids of those that do not (corrupt, or from a newer
    server with a kind this one does not know): logged, never allowed to stop a reader."""
    out: list[tuple[str, T]] = []
    bad: list[bytes] = []
    for entry_id, fields in entries:
        if not fields:
            continue
        try:
            out.append((entry_id.decode(), decode(fields[b"e"])))
        except (KeyError, TypeError, ValueError, DispatchError) as exc:
            log.error("%s entry %s cannot be read (%s): skipped", key, entry_id.decode(), type(exc).__name__)
            bad.append(entry_id)
    return out, bad


class MemoryStream(Generic[T]):
    """The newest ``max_len`` items of this process (kept as they are: nothing is encoded)."""

    def __init__(self, max_len: int = 100_000) -> None:
        self._items: deque[tuple[int, T]] = deque(maxlen=max_len)
        self._next = 1
        self._changed = threading.Condition()
        self._groups: dict[str, dict] = {}

    def publish(self, items: list[T]) -> list[str]:
        ids = []
        with self._changed:
            for item in items:
                self._items.append((self._next, item))
                ids.append(str(self._next))
                self._next += 1
            self._changed.notify_all()
        return ids

    def last_id(self) -> str:
        with self._changed:
            return str(self._next - 1)

    def valid_id(self, entry_id: str) -> bool:
        return _MEMORY_ID.fullmatch(entry_id) is not None

    def _group(self, group: str) -> dict:
        return self._groups.setdefault(group, {"delivered": 0, "pending": {}})

    def group_read(self, group: str, consumer: str, *, block: float = 0.0, count: int = 100) -> list[tuple[str, T]]:
        with self._changed:
            state = self._group(group)
        fresh = self.read(str(state["delivered"]), block=block, count=count)
        with self._changed:
            fresh = [(i, e) for i, e in fresh if int(i) > state["delivered"]]  # another reader took them meanwhile
            for i, _ in fresh:
                state["pending"][int(i)] = (consumer, time.monotonic())
                state["delivered"] = max(state["delivered"], int(i))
        return fresh

    def pending(self, group: str, consumer: str, *, count: int = 100, stale: float = 60.0) -> list[tuple[str, T]]:
        with self._changed:
            state = self._group(group)
            now = time.monotonic()
            mine = sorted(i for i, (who, at) in state["pending"].items() if who == consumer)
            others = sorted(i for i, (who, at) in state["pending"].items() if who != consumer and now - at >= stale)
            taken = (mine + others)[:count]
            for i in taken:
                state["pending"][i] = (consumer, now if i in others else state["pending"][i][1])
            byid = dict(self._items)
            for i in taken:
                if i not in byid:  # trimmed from the stream: nothing left to do for it
                    state["pending"].pop(i)
            return [(str(i), byid[i]) for i in taken if i in byid]

    def touch(self, group: str, consumer: str, ids: list[str]) -> None:
        with self._changed:
            pending = self._group(group)["pending"]
            for i in ids:
                if int(i) in pending:
                    pending[int(i)] = (consumer, time.monotonic())

    def ack(self, group: str, ids: list[str]) -> None:
        with self._changed:
            pending = self._groups.get(group, {"pending": {}})["pending"]
            for i in ids:
                pending.pop(int(i), None)

    def read(self, after: str, *, block: float = 0.0, count: int = 100) -> list[tuple[str, T]]:
        start = int(after)
        until = time.monotonic() + block
        with self._changed:
            while True:
                out = [(str(i), e) for i, e in self._items if i > start][:count]
                left = until - time.monotonic()
                if out or left <= 0:
                    return out
                self._changed.wait(left)


class MemoryEtaStream(MemoryStream[EtaEvent]):
    """The newest ``max_len`` ETA events of this process."""


class RedisStream(Generic[T]):
    """A Redis Stream at ``key`` shared by every replica (and the notifier process): each item is
    its entry's ``e`` field, ``encode``d and ``decode``d; ``name`` is what its errors call it."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        key: str,
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
        name: str,
        max_len: int = 100_000,
    ) -> None:
        self.client = client
        self.max_len = max_len
        self.key = key
        self.name = name
        self._encode = encode
        self._decode = decode
        self._cursors: dict[str, str] = {}

    def _unavailable(self, error: redis.exceptions.RedisError) -> StreamUnavailableError:
        return StreamUnavailableError(f"{self.name}: Redis {type(error).__name__}")

    def encode(self, item: T) -> bytes:
        """An item as its stream entry's ``e`` field (what the plan store writes with a version)."""
        return self._encode(item)

    def valid_id(self, entry_id: str) -> bool:
        found = _REDIS_ID.fullmatch(entry_id)
        return found is not None and all(int(part or 0) <= _U64 for part in found.groups())

    def publish(self, items: list[T]) -> list[str]:
        if not items:
            return []
        try:
            pipe = self.client.pipeline(transaction=False)
            for item in items:
                pipe.xadd(self.key, {"e": self._encode(item)}, maxlen=self.max_len, approximate=True)
            return [i.decode() if isinstance(i, bytes) else str(i) for i in pipe.execute()]
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error

    def last_id(self) -> str:
        try:
            newest = self.client.xrevrange(self.key, count=1)
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        return newest[0][0].decode() if newest else "0"

    def read(self, after: str, *, block: float = 0.0, count: int = 100) -> list[tuple[str, T]]:
        try:
            # block in ms; below the client's socket timeout so a quiet stream is not an error
            wait = int(min(block, 0.5) * 1000)
            reply = self.client.xread({self.key: after}, count=count, block=wait or None)
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        return _readable([e for _, entries in reply or [] for e in entries], self.key, self._decode)[0]

    def _ensure_group(self, group: str) -> None:
        try:
            self.client.xgroup_create(self.key, group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def group_read(self, group: str, consumer: str, *, block: float = 0.0, count: int = 100) -> list[tuple[str, T]]:
        try:
            self._ensure_group(group)
            wait = int(min(block, 0.5) * 1000)  # below the client's socket timeout
            new = self.client.xreadgroup(group, consumer, {self.key: ">"}, count=count, block=wait or None)
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        return self._acking_unreadable(group, [e for _, es in new or [] for e in es])

    def pending(self, group: str, consumer: str, *, count: int = 100, stale: float = 60.0) -> list[tuple[str, T]]:
        try:
            self._ensure_group(group)
            entries: list = []
            after = "0"
            while len(entries) < count:  # own pending entries, page by page (id "0": the PEL, not new ones)
                own = self.client.xreadgroup(group, consumer, {self.key: after}, count=count - len(entries))
                page = [e for _, es in own or [] for e in es]
                if not page:
                    break
                entries += page
                after = page[-1][0].decode()
            if len(entries) < count:  # from where the last look stopped: the whole list, over a few looks
                cursor = self._cursors.get(group, "0-0")
                claimed = self.client.xautoclaim(
                    self.key, group, consumer, int(stale * 1000), cursor, count=count - len(entries)
                )
                self._cursors[group] = claimed[0].decode() if isinstance(claimed[0], bytes) else str(claimed[0])
                entries += claimed[1]
            gone = [i for i, fields in entries if not fields]
            if gone:
                self.client.xack(self.key, group, *gone)
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error
        # an entry trimmed from the stream comes back with no fields: nothing left to do for it (acked)
        return self._acking_unreadable(group, entries)

    def _acking_unreadable(self, group: str, entries: list) -> list[tuple[str, T]]:
        out, bad = _readable(entries, self.key, self._decode)
        if bad:
            try:
                self.client.xack(self.key, group, *bad)
            except redis.exceptions.RedisError as error:
                raise self._unavailable(error) from error
        return out

    def touch(self, group: str, consumer: str, ids: list[str]) -> None:
        if not ids:
            return
        try:
            self.client.xclaim(self.key, group, consumer, 0, ids, justid=True)
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error

    def ack(self, group: str, ids: list[str]) -> None:
        if not ids:
            return
        try:
            self.client.xack(self.key, group, *ids)
        except redis.exceptions.RedisError as error:
            raise self._unavailable(error) from error


def redis_stream(
    url: str,
    *,
    key: str,
    encode: Callable[[T], bytes],
    decode: Callable[[bytes], T],
    name: str,
    max_len: int = 100_000,
    socket_timeout: float = 1.0,
    connect_timeout: float = 0.5,
) -> RedisStream[T]:
    """A ``RedisStream`` at ``key`` on the Redis at ``url``, with a client that fails fast."""
    from dispatch.redis_client import fail_fast_client  # noqa: PLC0415

    client = fail_fast_client(url, socket_timeout=socket_timeout, connect_timeout=connect_timeout)
    return RedisStream(client, key=key, encode=encode, decode=decode, name=name, max_len=max_len)


class RedisEtaStream(RedisStream[EtaEvent]):
    """The ETA events in a Redis Stream (``dispatch:etas``)."""

    def __init__(self, client: redis.Redis, *, max_len: int = 100_000, key: str = STREAM_KEY) -> None:
        super().__init__(client, key=key, encode=encode, decode=decode, name="ETA stream", max_len=max_len)

    @classmethod
    def from_url(cls, url: str, *, socket_timeout: float = 1.0, connect_timeout: float = 0.5) -> RedisEtaStream:
        from dispatch.redis_client import fail_fast_client  # noqa: PLC0415

        return cls(fail_fast_client(url, socket_timeout=socket_timeout, connect_timeout=connect_timeout))
