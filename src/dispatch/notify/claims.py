"""What the notifier remembers, in memory or in Redis (shared by every notifier): the dedupe
claims of texts, the last plan version handled per job, opted-out numbers, and the texts
scheduled for later (held moves, appointment confirmations).

``RedisClaims`` is the only part of the notifier that touches Redis: a Redis error becomes
``ClaimsUnavailableError``, which the notifier answers by trying again later."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar

import redis

from dispatch.errors import DispatchError

CLAIM_TTL = 7 * 86_400
OPTED_OUT = "dispatch:sms:opted_out"
#: Appointment confirmations waiting for their time: the events by (plan, job), and when each is due.
SCHEDULED = "dispatch:sms:scheduled"
DUE = "dispatch:sms:due"
_UNSCHEDULE = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and (ARGV[2] == '' or held == ARGV[2]) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 0
"""
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
_ADVANCE = """
local seen = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) < seen then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def key_part(name: str) -> str:
    """An id as one part of a ``:``-separated key: ``%`` and ``:`` escaped, so that plan ``a:b`` with
    job ``c`` and plan ``a`` with job ``b:c`` never share a key (an id without them is unchanged)."""
    return name.replace("%", "%25").replace(":", "%3A") if ("%" in name or ":" in name) else name


class ClaimsUnavailableError(DispatchError):
    """The notifier's claims (Redis) cannot be reached; ``kind`` names the Redis error
    (``ConnectionError``, ``TimeoutError``…). What was being done is tried again later."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"notifier claims: Redis {kind}")


def _unavailable_on_redis_error(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """``method``, raising ``ClaimsUnavailableError`` for any Redis error."""

    @functools.wraps(method)
    def translated(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except redis.exceptions.RedisError as error:
            raise ClaimsUnavailableError(type(error).__name__) from error

    return translated


class Claims(Protocol):
    """Dedupe keys and opt-outs: in memory, or in Redis (shared by notifier processes). Any method
    may raise ``ClaimsUnavailableError`` (the store cannot be reached)."""

    def claim(self, key: str, value: str) -> str | None:
        """Set ``key`` to ``value`` if absent: ``None``; else the value it holds."""
        ...

    def set(self, key: str, value: str) -> None: ...

    def get(self, key: str) -> str | None: ...

    def take_over(self, key: str, held: str, value: str) -> bool:
        """Set ``key`` to ``value`` if it still holds ``held``: whether it did (one taker wins)."""
        ...

    def advance(self, slot: str, version: int) -> bool:
        """Record ``version`` as the latest handled for ``slot``; ``False`` if a later one was."""
        ...

    def opted_out(self, phone: str) -> bool: ...

    def opt_out(self, phone: str) -> None: ...

    def opt_in(self, phone: str) -> None: ...

    def schedule(self, slot: str, due: float, payload: bytes) -> None:
        """Keep ``payload`` (an encoded event) for ``slot`` until ``due`` (Unix time), replacing any."""
        ...

    def scheduled(self, slot: str) -> bytes | None: ...

    def due(self, now: float, count: int) -> list[tuple[str, bytes]]:
        """Up to ``count`` scheduled ``(slot, payload)`` whose time has come, earliest first."""
        ...

    def unschedule(self, slot: str, payload: bytes | None = None) -> None:
        """Drop ``slot`` (only if it still holds ``payload``, when given)."""
        ...


class MemoryClaims:
    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._out: set[str] = set()
        self._later: dict[str, tuple[float, bytes]] = {}
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, value: str) -> str | None:
        with self._lock:
            held = self._keys.get(key)
            if held is None:
                self._keys[key] = value
            return held

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._keys[key] = value

    def get(self, key: str) -> str | None:
        return self._keys.get(key)

    def take_over(self, key: str, held: str, value: str) -> bool:
        with self._lock:
            if self._keys.get(key) != held:
                return False
            self._keys[key] = value
            return True

    def advance(self, slot: str, version: int) -> bool:
        with self._lock:
            if version < self._versions.get(slot, -1):
                return False
            self._versions[slot] = version
            return True

    def opted_out(self, phone: str) -> bool:
        return phone in self._out

    def opt_out(self, phone: str) -> None:
        with self._lock:
            self._out.add(phone)

    def opt_in(self, phone: str) -> None:
        with self._lock:
            self._out.discard(phone)

    def schedule(self, slot: str, due: float, payload: bytes) -> None:
        with self._lock:
            self._later[slot] = (due, payload)

    def scheduled(self, slot: str) -> bytes | None:
        held = self._later.get(slot)
        return held[1] if held else None

    def due(self, now: float, count: int) -> list[tuple[str, bytes]]:
        with self._lock:
            ready = sorted((due, slot, payload) for slot, (due, payload) in self._later.items() if due <= now)
        return [(slot, payload) for _, slot, payload in ready[:count]]

    def unschedule(self, slot: str, payload: bytes | None = None) -> None:
        with self._lock:
            held = self._later.get(slot)
            if held is not None and (payload is None or held[1] == payload):
                del self._later[slot]


class RedisClaims:
    """Claims in Redis, shared by every notifier. Raises ``ClaimsUnavailableError`` when Redis fails."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @_unavailable_on_redis_error
    def claim(self, key: str, value: str) -> str | None:
        if self.client.set(key, value, nx=True, ex=CLAIM_TTL):
            return None
        held = self.client.get(key)
        return held.decode() if held is not None else self.claim(key, value)

    @_unavailable_on_redis_error
    def set(self, key: str, value: str) -> None:
        self.client.set(key, value, ex=CLAIM_TTL)

    @_unavailable_on_redis_error
    def get(self, key: str) -> str | None:
        held = self.client.get(key)
        return held.decode() if held is not None else None

    @_unavailable_on_redis_error
    def take_over(self, key: str, held: str, value: str) -> bool:
        return bool(self.client.eval(_TAKE_OVER, 1, key, held, value, CLAIM_TTL))

    @_unavailable_on_redis_error
    def advance(self, slot: str, version: int) -> bool:
        return bool(self.client.eval(_ADVANCE, 1, f"dispatch:sms:version:{slot}", version, CLAIM_TTL))

    @_unavailable_on_redis_error
    def opted_out(self, phone: str) -> bool:
        return bool(self.client.sismember(OPTED_OUT, phone))

    @_unavailable_on_redis_error
    def opt_out(self, phone: str) -> None:
        self.client.sadd(OPTED_OUT, phone)

    @_unavailable_on_redis_error
    def opt_in(self, phone: str) -> None:
        self.client.srem(OPTED_OUT, phone)

    @_unavailable_on_redis_error
    def schedule(self, slot: str, due: float, payload: bytes) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(SCHEDULED, slot, payload)
        pipe.zadd(DUE, {slot: due})
        pipe.execute()

    @_unavailable_on_redis_error
    def scheduled(self, slot: str) -> bytes | None:
        return self.client.hget(SCHEDULED, slot)

    @_unavailable_on_redis_error
    def due(self, now: float, count: int) -> list[tuple[str, bytes]]:
        slots = self.client.zrangebyscore(DUE, "-inf", now, start=0, num=count)
        if not slots:
            return []
        payloads = self.client.hmget(SCHEDULED, slots)
        return [(slot.decode(), payload) for slot, payload in zip(slots, payloads, strict=True) if payload]

    @_unavailable_on_redis_error
    def unschedule(self, slot: str, payload: bytes | None = None) -> None:
        self.client.eval(_UNSCHEDULE, 2, SCHEDULED, DUE, slot, payload if payload is not None else b"")
