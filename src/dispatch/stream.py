"""The ETA event stream: in process by default, a Redis Stream when Redis is configured.

Publishers append ``EtaEvent``s; readers follow from an id (``read``): the gRPC ``WatchEtas``.
The notifier reads through a consumer group (``group_read``, ``pending``, ``touch``, ``ack``) so a
restarted notifier resumes where it stopped and a dead one's events are taken over. Ids are strings that grow: ``"<ms>-<seq>"`` in Redis, a counter in
process. Events are JSON (``dispatch.codec``), never pickle.

The Redis stream is capped (``MAXLEN ~ max_len``). Publishing retries once on a connection
error and then raises ``StreamUnavailableError``: the caller (the service) decides what a failed
publish means for the request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Protocol

import redis

from dispatch import codec
from dispatch.errors import DispatchError
from dispatch.eta import EtaEvent

STREAM_KEY = "dispatch:etas"

log = logging.getLogger("dispatch.stream")


class StreamUnavailableError(DispatchError):
    """The ETA stream (Redis) cannot be reached."""


class EtaStream(Protocol):
    def publish(self, events: list[EtaEvent]) -> list[str]:
        """Append ``events`` in order; their ids."""
        ...

    def last_id(self) -> str:
        """The id of the newest event ("0" when empty): reading after it yields only new ones."""
        ...

    def read(self, after: str, *, block: float = 0.0, count: int = 100) -> list[tuple[str, EtaEvent]]:
        """Events after id ``after``, oldest first, waiting up to ``block`` seconds for one."""
        ...

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


def _readable(entries: list, key: str) -> tuple[list[tuple[str, EtaEvent]], list[bytes]]:
    """The entries that decode, and the ids of those that do not (corrupt, or from a newer
    server with a kind this one does not know): logged, never allowed to stop a reader."""
    out: list[tuple[str, EtaEvent]] = []
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


class MemoryEtaStream:
    """The newest ``max_len`` events of this process."""

    def __init__(self, max_len: int = 100_000) -> None:
        self._events: deque[tuple[int, EtaEvent]] = deque(maxlen=max_len)
        self._next = 1
        self._changed = threading.Condition()
        self._groups: dict[str, dict] = {}

    def publish(self, events: list[EtaEvent]) -> list[str]:
        ids = []
        with self._changed:
            for event in events:
                self._events.append((self._next, event))
                ids.append(str(self._next))
                self._next += 1
            self._changed.notify_all()
        return ids

    def last_id(self) -> str:
        with self._changed:
            return str(self._next - 1)

    def _group(self, group: str) -> dict:
        return self._groups.setdefault(group, {"delivered": 0, "pending": {}})

    def group_read(
        self, group: str, consumer: str, *, block: float = 0.0, count: int = 100
    ) -> list[tuple[str, EtaEvent]]:
        with self._changed:
            state = self._group(group)
        fresh = self.read(str(state["delivered"]), block=block, count=count)
        with self._changed:
            fresh = [(i, e) for i, e in fresh if int(i) > state["delivered"]]  # another reader took them meanwhile
            for i, _ in fresh:
                state["pending"][int(i)] = (consumer, time.monotonic())
                state["delivered"] = max(state["delivered"], int(i))
        return fresh

    def pending(
        self, group: str, consumer: str, *, count: int = 100, stale: float = 60.0
    ) -> list[tuple[str, EtaEvent]]:
        with self._changed:
            state = self._group(group)
            now = time.monotonic()
            mine = sorted(i for i, (who, at) in state["pending"].items() if who == consumer)
            others = sorted(i for i, (who, at) in state["pending"].items() if who != consumer and now - at >= stale)
            taken = (mine + others)[:count]
            for i in taken:
                state["pending"][i] = (consumer, now if i in others else state["pending"][i][1])
            byid = dict(self._events)
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

    def read(self, after: str, *, block: float = 0.0, count: int = 100) -> list[tuple[str, EtaEvent]]:
        start = int(after)
        until = time.monotonic() + block
        with self._changed:
            while True:
                out = [(str(i), e) for i, e in self._events if i > start][:count]
                left = until - time.monotonic()
                if out or left <= 0:
                    return out
                self._changed.wait(left)


class RedisEtaStream:
    """A Redis Stream shared by every replica (and the notifier process)."""

    def __init__(self, client: redis.Redis, *, max_len: int = 100_000, key: str = STREAM_KEY) -> None:
        self.client = client
        self.max_len = max_len
        self.key = key
        self._cursors: dict[str, str] = {}

    @classmethod
    def from_url(cls, url: str, *, socket_timeout: float = 1.0, connect_timeout: float = 0.5) -> RedisEtaStream:
        from dispatch.redis_client import fail_fast_client  # noqa: PLC0415

        return cls(fail_fast_client(url, socket_timeout=socket_timeout, connect_timeout=connect_timeout))

    def encode(self, event: EtaEvent) -> bytes:
        """An event as its stream entry's ``e`` field (what the plan store writes with a version)."""
        return encode(event)

    def publish(self, events: list[EtaEvent]) -> list[str]:
        if not events:
            return []
        try:
            pipe = self.client.pipeline(transaction=False)
            for event in events:
                pipe.xadd(self.key, {"e": encode(event)}, maxlen=self.max_len, approximate=True)
            return [i.decode() if isinstance(i, bytes) else str(i) for i in pipe.execute()]
        except redis.exceptions.RedisError as error:
            raise StreamUnavailableError(f"ETA stream: Redis {type(error).__name__}") from error

    def last_id(self) -> str:
        try:
            newest = self.client.xrevrange(self.key, count=1)
        except redis.exceptions.RedisError as error:
            raise StreamUnavailableError(f"ETA stream: Redis {type(error).__name__}") from error
        return newest[0][0].decode() if newest else "0"

    def read(self, after: str, *, block: float = 0.0, count: int = 100) -> list[tuple[str, EtaEvent]]:
        try:
            # block in ms; below the client's socket timeout so a quiet stream is not an error
            wait = int(min(block, 0.5) * 1000)
            reply = self.client.xread({self.key: after}, count=count, block=wait or None)
        except redis.exceptions.RedisError as error:
            raise StreamUnavailableError(f"ETA stream: Redis {type(error).__name__}") from error
        return _readable([e for _, entries in reply or [] for e in entries], self.key)[0]

    def _ensure_group(self, group: str) -> None:
        try:
            self.client.xgroup_create(self.key, group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def group_read(
        self, group: str, consumer: str, *, block: float = 0.0, count: int = 100
    ) -> list[tuple[str, EtaEvent]]:
        try:
            self._ensure_group(group)
            wait = int(min(block, 0.5) * 1000)  # below the client's socket timeout
            new = self.client.xreadgroup(group, consumer, {self.key: ">"}, count=count, block=wait or None)
        except redis.exceptions.RedisError as error:
            raise StreamUnavailableError(f"ETA stream: Redis {type(error).__name__}") from error
        return self._acking_unreadable(group, [e for _, es in new or [] for e in es])

    def pending(
        self, group: str, consumer: str, *, count: int = 100, stale: float = 60.0
    ) -> list[tuple[str, EtaEvent]]:
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
            raise StreamUnavailableError(f"ETA stream: Redis {type(error).__name__}") from error
        # an entry trimmed from the stream comes back with no fields: nothing left to do for it (acked)
        return self._acking_unreadable(group, entries)

    def _acking_unreadable(self, group: str, entries: list) -> list[tuple[str, EtaEvent]]:
        out, bad = _readable(entries, self.key)
        if bad:
            try:
                self.client.xack(self.key, group, *bad)
            except redis.exceptions.RedisError as error:
                raise StreamUnavailableError(f"ETA stream: Redis {type(error).__name__}") from error
        return out

    def touch(self, group: str, consumer: str, ids: list[str]) -> None:
        if not ids:
            return
        try:
            self.client.xclaim(self.key, group, consumer, 0, ids, justid=True)
        except redis.exceptions.RedisError as error:
            raise StreamUnavailableError(f"ETA stream: Redis {type(error).__name__}") from error

    def ack(self, group: str, ids: list[str]) -> None:
        if not ids:
            return
        try:
            self.client.xack(self.key, group, *ids)
        except redis.exceptions.RedisError as error:
            raise StreamUnavailableError(f"ETA stream: Redis {type(error).__name__}") from error
