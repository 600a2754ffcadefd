"""Travel-time caches: in process (LRU) or in Redis, one class, one key layout, two row stores.

An entry is one origin-destination pair in a *space*: ``{provider}:{mode}:{bucket}`` where the
bucket is ``static`` or a traffic bucket (``traffic:<weekday>T<HHMM>Z``). Places are keyed by their
coordinates rounded to 5 decimals (``place_key``: ``"39.73920,-104.99030"``): at most 0.56 m off in
latitude and less in longitude, well under a second of driving, so two requests for one address
share entries even when their geocodes differ in the 6th decimal.

A *row* holds one origin's entries in one space, under ``dispatch:tt:{space}:{origin}``: a byte
string of 20-byte entries (destination code, duration s — ``NO_ROUTE`` when Google found none —,
distance m, expiry as Unix time). Writers append (Redis ``APPEND`` is atomic, so replicas never
lose each other's entries); readers take the newest unexpired entry per destination and rewrite a
row that is mostly stale. Each pair keeps its own TTL this way (Redis 7.0 has no per-field
expiry), and reading a 500 x 500 matrix is 500 values in one pipeline, decoded by numpy.

Redis is a cache here, so it fails open: short timeouts, one retry after a connection error, and
a circuit breaker. While the breaker is open (``cooldown`` seconds after a failure) the cache
answers "nothing cached" at once and drops writes; then one call probes Redis again.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
import redis

from dispatch.redis_client import fail_fast_client

log = logging.getLogger(__name__)

NO_ROUTE = 0xFFFFFFFF
KEY_DECIMALS = 5
_ENTRY = np.dtype([("dest", "<i8"), ("duration", "<u4"), ("distance", "<u4"), ("expires", "<u4")])
#: Bytes written per pipeline round trip.
PIPELINE_BYTES = 512 * 1024
#: Rewrite a row when fewer than this share of its entries are current.
COMPACT_BELOW = 0.5
T = TypeVar("T")


def place_key(lat: float, lng: float) -> str:
    """The cache key of a place: its coordinates rounded to ``KEY_DECIMALS`` decimals."""
    # + 0.0: a -0.000001 rounds to -0.0, which must key the same place as 0.0
    return f"{round(lat, KEY_DECIMALS) + 0.0:.{KEY_DECIMALS}f},{round(lng, KEY_DECIMALS) + 0.0:.{KEY_DECIMALS}f}"


def place_code(key: str) -> int:
    """A ``place_key`` as one int64 (destinations inside a row)."""
    lat, lng = key.split(",")
    return ((round(float(lat) * 10**KEY_DECIMALS) + 9_000_000) << 32) | (
        round(float(lng) * 10**KEY_DECIMALS) + 18_000_000
    )


def address_key(address: str) -> str:
    """The cache key of an address: case, spacing and commas do not matter."""
    norm = " ".join(address.lower().replace(",", " ").split())
    return hashlib.sha256(norm.encode()).hexdigest()[:32]


@dataclass
class Counters:
    """What the travel layer did since the process started (for the metrics endpoint)."""

    cache_hits: int = 0
    cache_misses: int = 0
    cache_errors: int = 0
    cache_writes_dropped: int = 0
    breaker_opened: int = 0
    provider_requests: int = 0
    provider_elements: int = 0
    provider_errors: int = 0
    fallback_elements: int = 0
    unreachable_elements: int = 0
    geocode_requests: int = 0
    geocode_hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class RowStore(Protocol):
    """Where rows live. Every method may raise; ``TravelCache`` decides what a failure means."""

    def get_rows(self, keys: Sequence[str]) -> list[bytes | None]: ...

    def append_rows(self, rows: dict[str, bytes], ttl: int) -> None: ...

    def replace_row(self, key: str, expected_length: int, blob: bytes) -> None:
        """Set the row to ``blob`` unless it changed (grew) since it was read."""
        ...

    def get_value(self, key: str) -> bytes | None: ...

    def set_value(self, key: str, value: bytes, ttl: int) -> None: ...


class MemoryRows:
    """Rows in this process: an LRU bounded by the number of entries held."""

    name = "memory"

    def __init__(self, max_entries: int = 2_000_000) -> None:
        self.max_entries = max_entries
        self._rows: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._values: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get_rows(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.time()
        out: list[bytes | None] = []
        with self._lock:
            for key in keys:
                held = self._rows.get(key)
                if held is None or held[1] < now:
                    out.append(None)
                else:
                    self._rows.move_to_end(key)
                    out.append(held[0])
        return out

    def append_rows(self, rows: dict[str, bytes], ttl: int) -> None:
        until = time.time() + ttl
        with self._lock:
            for key, blob in rows.items():
                old = self._rows.pop(key, (b"", 0.0))[0]
                self._rows[key] = (old + blob, until)
                self._size += len(blob) // _ENTRY.itemsize
            while self._size > self.max_entries and self._rows:
                _, (dropped, _) = self._rows.popitem(last=False)
                self._size -= len(dropped) // _ENTRY.itemsize

    def replace_row(self, key: str, expected_length: int, blob: bytes) -> None:
        with self._lock:
            held = self._rows.get(key)
            if held is not None and len(held[0]) == expected_length:
                self._rows[key] = (blob, held[1])
                self._size += (len(blob) - expected_length) // _ENTRY.itemsize

    def get_value(self, key: str) -> bytes | None:
        with self._lock:
            held = self._values.get(key)
        return held[0] if held is not None and held[1] >= time.time() else None

    def set_value(self, key: str, value: bytes, ttl: int) -> None:
        with self._lock:
            self._values[key] = (value, time.time() + ttl)
            self._values.move_to_end(key)
            while len(self._values) > 100_000:
                self._values.popitem(last=False)


_REPLACE = """
if redis.call('STRLEN', KEYS[1]) == tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""


class RedisRows:
    """Rows in Redis, shared by every replica."""

    name = "redis"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._replace = client.register_script(_REPLACE)

    def get_rows(self, keys: Sequence[str]) -> list[bytes | None]:
        return list(self.client.mget(keys)) if keys else []

    def append_rows(self, rows: dict[str, bytes], ttl: int) -> None:
        """In pipelines of about ``PIPELINE_BYTES``: each round trip stays well inside the socket timeout."""
        pipe, size = self.client.pipeline(transaction=False), 0
        for key, blob in rows.items():
            pipe.append(key, blob)
            pipe.expire(key, ttl)
            size += len(blob)
            if size >= PIPELINE_BYTES:
                pipe.execute()
                size = 0
        pipe.execute()

    def replace_row(self, key: str, expected_length: int, blob: bytes) -> None:
        self._replace(keys=[key], args=[expected_length, blob])

    def get_value(self, key: str) -> bytes | None:
        return self.client.get(key)

    def set_value(self, key: str, value: bytes, ttl: int) -> None:
        self.client.set(key, value, ex=ttl)


class Breaker:
    """Open for ``cooldown`` seconds after a failure; then one caller at a time probes."""

    def __init__(self, cooldown: float, counters: Counters) -> None:
        self.cooldown = cooldown
        self.counters = counters
        self._open_until = 0.0
        self._probing = False
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            if self._open_until == 0.0:
                return True
            if time.monotonic() < self._open_until or self._probing:
                return False
            self._probing = True  # half open: this caller tries
            return True

    def success(self) -> None:
        with self._lock:
            self._open_until, self._probing = 0.0, False

    def failure(self) -> None:
        with self._lock:
            if self._open_until == 0.0:
                self.counters.add(breaker_opened=1)
            self._open_until, self._probing = time.monotonic() + self.cooldown, False

    @property
    def is_open(self) -> bool:
        return self._open_until != 0.0


class TravelCache:
    """Pairs and geocodes on a ``RowStore``; never raises for a store failure (it fails open)."""

    def __init__(self, rows: RowStore, *, counters: Counters | None = None, cooldown: float = 5.0) -> None:
        self.rows = rows
        self.name = getattr(rows, "name", type(rows).__name__)
        self.counters = counters or Counters()
        self.breaker = Breaker(cooldown, self.counters)

    @classmethod
    def memory(cls, *, max_entries: int = 2_000_000, counters: Counters | None = None) -> TravelCache:
        return cls(MemoryRows(max_entries), counters=counters)

    @classmethod
    def redis(
        cls,
        url: str,
        *,
        socket_timeout: float = 0.2,
        connect_timeout: float = 0.1,
        cooldown: float = 5.0,
        counters: Counters | None = None,
    ) -> TravelCache:
        """A cache on a new client for ``url``. redis-py 8's defaults block a call for seconds to a
        minute when Redis is down or silent; here a call waits at most ``connect_timeout`` to
        connect and ``socket_timeout`` for each read, and retries once after a connection error."""
        client = fail_fast_client(url, socket_timeout=socket_timeout, connect_timeout=connect_timeout)
        return cls(RedisRows(client), counters=counters, cooldown=cooldown)

    def _guarded(self, what: str, call: Callable[[], T], fallback: T) -> T:
        if not self.breaker.allow():
            return fallback
        try:
            result = call()
        except (redis.exceptions.RedisError, OSError) as error:
            self.counters.add(cache_errors=1)
            if not self.breaker.is_open:
                log.warning(
                    "travel cache: %s %s failed (%s); going on without it", self.name, what, type(error).__name__
                )
            self.breaker.failure()
            return fallback
        self.breaker.success()
        return result

    @staticmethod
    def row_key(space: str, origin: str) -> str:
        return f"dispatch:tt:{space}:{origin}"

    def get(
        self, space: str, origins: Sequence[str], destinations: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(durations, distances, found)`` for every pair; durations are ``NO_ROUTE`` for no route."""
        n, m = len(origins), len(destinations)
        durations = np.zeros((n, m), dtype=np.int64)
        distances = np.zeros((n, m), dtype=np.int64)
        found = np.zeros((n, m), dtype=bool)
        if n == 0 or m == 0:
            return durations, distances, found
        keys = [self.row_key(space, o) for o in origins]
        nothing: list[bytes | None] = [None] * n
        blobs = self._guarded("read", lambda: self.rows.get_rows(keys), nothing)
        wanted = np.array([place_code(d) for d in destinations], dtype=np.int64)
        sizes = np.array([len(b) // _ENTRY.itemsize if b else 0 for b in blobs], dtype=np.int64)
        if not sizes.any():
            return durations, distances, found
        # every row's entries at once: row number, destination column, newest entry per pair
        entries = np.frombuffer(b"".join(b for b in blobs if b), dtype=_ENTRY)
        row = np.repeat(np.arange(n), sizes)
        order = np.argsort(wanted, kind="stable")
        at = np.minimum(np.searchsorted(wanted, entries["dest"], sorter=order), m - 1)
        col = order[at]
        live = entries["expires"] > int(time.time())
        keep = live & (wanted[col] == entries["dest"])
        pair = row * m + col
        # appended in time order: the newest entry of a pair is its last, the first of the reversed
        newest = np.flatnonzero(keep)[::-1]
        pairs, first = np.unique(pair[newest], return_index=True)
        chosen = newest[first]
        durations.flat[pairs] = entries["duration"][chosen]
        distances.flat[pairs] = entries["distance"][chosen]
        found.flat[pairs] = True
        # a row mostly made of expired or superseded entries is rewritten (superseded ones are
        # only counted among the destinations asked here, so a row serving other days is left be)
        stale = sizes - np.bincount(row[live], minlength=n) + np.bincount(row[keep], minlength=n)
        stale -= np.bincount(row[chosen], minlength=n)
        for i in np.flatnonzero(stale > (1 - COMPACT_BELOW) * sizes).tolist():
            self._compact(keys[i], int(sizes[i]) * _ENTRY.itemsize, blobs[i] or b"")
        return durations, distances, found

    def _compact(self, key: str, length: int, blob: bytes) -> None:
        """Rewrite one row with its newest unexpired entry per destination."""
        entries = np.frombuffer(blob, dtype=_ENTRY)
        live = entries[entries["expires"] > int(time.time())][::-1]
        _, first = np.unique(live["dest"], return_index=True)
        current = live[np.sort(first)][::-1]
        self._guarded("compaction", lambda: self.rows.replace_row(key, length, current.tobytes()), None)

    def put(
        self,
        space: str,
        origins: Sequence[str],
        destinations: Sequence[str],
        durations: np.ndarray,
        distances: np.ndarray,
        keep: np.ndarray,
        ttl: int,
    ) -> None:
        """Store the pairs where ``keep`` is true for ``ttl`` seconds."""
        codes = np.array([place_code(d) for d in destinations], dtype=np.int64)
        expires = int(time.time()) + ttl
        rows: dict[str, bytes] = {}
        for i in np.flatnonzero(keep.any(axis=1)).tolist():
            cols = np.flatnonzero(keep[i])
            entries = np.empty(len(cols), dtype=_ENTRY)
            entries["dest"] = codes[cols]
            entries["duration"] = np.clip(durations[i, cols], 0, NO_ROUTE)
            entries["distance"] = np.clip(distances[i, cols], 0, NO_ROUTE - 1)
            entries["expires"] = expires
            rows[self.row_key(space, origins[i])] = entries.tobytes()
        if rows and not self._guarded("write", functools.partial(_appended, self.rows, rows, ttl), False):
            self.counters.add(cache_writes_dropped=int(keep.sum()))

    def get_place(self, address: str) -> tuple[bool, tuple[float, float] | None]:
        """``(known, point)``: a cached geocode (``point`` None: Google does not know the address)."""
        raw = self._guarded("read", lambda: self.rows.get_value(f"dispatch:geo:{address_key(address)}"), None)
        if raw is None:
            return False, None
        if raw == b"":
            return True, None
        lat, lng = struct.unpack("<dd", raw)
        return True, (lat, lng)

    def put_place(self, address: str, point: tuple[float, float] | None, ttl: int) -> None:
        raw = b"" if point is None else struct.pack("<dd", *point)
        self._guarded("write", lambda: self.rows.set_value(f"dispatch:geo:{address_key(address)}", raw, ttl), None)


def _appended(store: RowStore, rows: dict[str, bytes], ttl: int) -> bool:
    """Append ``rows`` to ``store``; True once done (``TravelCache._guarded`` answers False for a failure)."""
    store.append_rows(rows, ttl)
    return True
