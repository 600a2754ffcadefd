"""Plan stores: one contract for the in-process store and Redis, and Redis failing closed.

The Redis tests run a real redis-server on loopback (the ``redis_server`` fixture).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest
import redis

from dispatch.domain import DayState, ExplicitMatrix, Plan, Problem
from dispatch.errors import PlanExistsError, PlanNotFoundError, StoreUnavailableError, VersionConflictError
from dispatch.eta import EtaEvent, EtaKind
from dispatch.store import MemoryPlanStore, PlanStore, StoredPlan, approx_bytes
from dispatch.store.redis import RedisPlanStore
from dispatch.stream import EtaStream, MemoryEtaStream, RedisEtaStream
from tests.support.factories import job, problem, tech
from tests.support.redis_server import RedisServer, free_port


def record(plan_id: str = "day", *, now: int = 0) -> StoredPlan:
    """A one-technician, one-job day (no plan solved: the store does not care), facts at ``now``."""
    p: Problem = problem([tech("mike")], [job("a", x=3)], plan_id=plan_id)
    return StoredPlan(problem=p, plan=Plan(plan_id=plan_id, epoch=p.epoch, version=99), state=DayState(now=now))


@pytest.fixture(params=["memory", "redis"])
def make_store(request) -> Callable[[], PlanStore]:
    """Makes stores that share one set of plans: the process's memory, or one (emptied) redis-server."""
    if request.param == "memory":
        shared = MemoryPlanStore()
        return lambda: shared
    url = request.getfixturevalue("redis_url")
    return lambda: RedisPlanStore.from_url(url)


@pytest.fixture
def store(make_store) -> PlanStore:
    return make_store()


# ---------------------------------------------------------------------------- the contract


def test_a_missing_plan_is_none(store):
    assert store.get("nobody") is None


def test_the_first_put_is_version_1_and_get_returns_it(store):
    stored = store.put(record())
    assert stored.version == 1
    back = store.get("day")
    assert back is not None and back.version == 1
    assert back.state == DayState(now=0) and back.problem.jobs == stored.problem.jobs


def test_a_put_without_expected_version_replaces_and_bumps(store):
    store.put(record())
    assert store.put(record(now=60)).version == 2
    assert store.put(record(now=120)).version == 3
    assert store.get("day").state.now == 120


def test_a_put_at_the_expected_version_lands_as_the_next(store):
    store.put(record())
    stored = store.put(record(now=60), expected_version=1)
    assert stored.version == 2
    assert store.get("day").version == 2 and store.get("day").state.now == 60


def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(store):
    store.put(record())
    store.put(record(now=60))
    with pytest.raises(VersionConflictError, match="is at version 2, not 1") as conflict:
        store.put(record(now=999), expected_version=1)
    assert (conflict.value.plan_id, conflict.value.expected, conflict.value.current) == ("day", 1, 2)
    assert store.get("day").state.now == 60


def test_an_expected_version_of_a_missing_plan_is_not_found(store):
    with pytest.raises(PlanNotFoundError, match="no plan 'ghost'"):
        store.put(record("ghost"), expected_version=1)
    assert store.get("ghost") is None


def test_expected_version_0_creates_a_plan_that_must_not_exist(store):
    assert store.put(record("new"), expected_version=0).version == 1
    with pytest.raises(PlanExistsError, match="version 1") as err:
        store.put(record("new"), expected_version=0)
    assert err.value.current == 1
    assert store.get("new").version == 1


def eta(plan_id: str, version: int, job_id: str = "a") -> EtaEvent:
    return EtaEvent(
        plan_id=plan_id,
        version=version,
        kind=EtaKind.PLANNED,
        job_id=job_id,
        technician_id="mike",
        eta=3600,
        window_start=1800,
        window_end=5400,
        at=0,
    )


@pytest.fixture(params=["memory", "redis"])
def with_stream(request) -> tuple[PlanStore, EtaStream]:
    """A store that writes each version's ETA events with it, and the stream they go to."""
    if request.param == "memory":
        stream: EtaStream = MemoryEtaStream()
        return MemoryPlanStore(etas=stream), stream  # type: ignore[arg-type]
    url = request.getfixturevalue("redis_url")
    redis_stream = RedisEtaStream.from_url(url)
    return RedisPlanStore.from_url(url, etas=redis_stream), redis_stream


def test_a_version_and_its_eta_events_are_written_together_or_not_at_all(with_stream):
    store, stream = with_stream
    assert store.writes_events
    store.put(record("told"), expected_version=0, events=[eta("told", 1), eta("told", 1, "b")])
    assert [(e.version, e.job_id) for _, e in stream.read("0")] == [(1, "a"), (1, "b")]
    with pytest.raises(VersionConflictError):  # a stale write: neither the version nor its events
        store.put(record("told"), expected_version=0 + 2, events=[eta("told", 3)])
    with pytest.raises(ValueError, match="expected_version"):  # events name the version they belong to
        store.put(record("told"), expected_version=1, events=[eta("told", 7)])
    assert store.get("told").version == 1
    assert len(stream.read("0")) == 2
    store.put(record("told"), expected_version=1, events=[eta("told", 2)])
    assert [e.version for _, e in stream.read("0")] == [1, 1, 2]


def test_a_store_that_does_not_write_events_refuses_them(store):
    assert not store.writes_events
    with pytest.raises(ValueError, match="publish them"):
        store.put(record("x"), expected_version=0, events=[eta("x", 1)])


def test_the_memory_store_is_capped_by_bytes_and_keeps_the_newest():
    big = dataclasses.replace(
        record("big-0"),
        problem=dataclasses.replace(
            record("big-0").problem,
            travel_matrix=ExplicitMatrix(
                size=3, durations=np.zeros(1_000_000, dtype=np.int64), distances=np.zeros(1_000_000, dtype=np.int64)
            ),
        ),
    )
    size = approx_bytes(big)
    assert size > 16_000_000  # the matrix's arrays count
    store = MemoryPlanStore(max_bytes=3 * size + 1)
    for k in range(6):
        store.put(dataclasses.replace(big, plan=dataclasses.replace(big.plan, plan_id=f"big-{k}")))
    assert store.bytes <= 3 * size + 1
    assert [store.get(f"big-{k}") is not None for k in range(6)] == [False, False, False, True, True, True]
    alone = MemoryPlanStore(max_bytes=1)  # the plan being written is always kept
    assert alone.put(big).version == 1 and alone.get("big-0") is not None


def test_plans_are_kept_apart(store):
    store.put(record("a"))
    store.put(record("a"))
    assert store.put(record("b")).version == 1
    assert store.get("a").version == 2


def test_of_concurrent_puts_at_one_version_exactly_one_lands(make_store):
    """Eight threads (for Redis: alternating between two clients, as two servers would) re-plan version 1."""
    stores = [make_store(), make_store()]
    stores[0].put(record())
    start = threading.Barrier(8)
    won: list[int] = []
    lost: list[int] = []

    def replan(i: int) -> None:
        start.wait()
        try:
            stores[i % 2].put(record(now=i), expected_version=1)
            won.append(i)
        except VersionConflictError as conflict:
            assert conflict.current == 2
            lost.append(i)

    threads = [threading.Thread(target=replan, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 7
    assert stores[1].get("day").version == 2 and stores[1].get("day").state.now == won[0]


def test_memory_keeps_the_most_recently_used_plans():
    store = MemoryPlanStore(max_plans=2)
    store.put(record("a"))
    store.put(record("b"))
    store.get("a")  # a is now more recent than b
    store.put(record("c"))
    assert store.get("b") is None
    assert store.get("a") is not None and store.get("c") is not None


# ---------------------------------------------------------------------------- Redis


def test_redis_keeps_a_hash_of_version_and_json_record_with_a_ttl(redis_url):
    store = RedisPlanStore.from_url(redis_url, ttl=timedelta(hours=1))
    store.put(record())
    store.put(record(now=60))
    client = redis.Redis.from_url(redis_url)
    fields = client.hgetall("dispatch:plan:day")
    assert int(fields[b"version"]) == 2
    assert json.loads(zlib.decompress(fields[b"record"]))["state"]["now"] == 60  # JSON, not pickle
    assert 3500 < client.ttl("dispatch:plan:day") <= 3600


def test_redis_reads_skip_decoding_a_record_they_hold_and_never_serve_a_stale_one(redis_url, monkeypatch):
    """A store keeps the records it wrote or read; Redis says "same" while one is current."""
    from dispatch import codec  # noqa: PLC0415

    decoded = []
    loads = codec.loads
    monkeypatch.setattr(codec, "loads", lambda cls, payload: decoded.append(1) or loads(cls, payload))
    mine, other = RedisPlanStore.from_url(redis_url), RedisPlanStore.from_url(redis_url)
    written = mine.put(record(now=10))
    assert mine.get("day") == written
    assert decoded == []  # its own write: nothing decoded
    other.put(record(now=20), expected_version=1)  # another replica moves the plan on
    seen = mine.get("day")
    assert (seen.plan.version, seen.state.now, len(decoded)) == (2, 20, 1)
    assert mine.get("day") == seen and len(decoded) == 1  # held now
    redis.Redis.from_url(redis_url).delete("dispatch:plan:day")  # expired or deleted
    assert mine.get("day") is None
    mine.put(record(now=30))  # a new plan under the same id
    assert other.get("day").state.now == 30 and other.get("day").plan.version == 1


def test_redis_put_survives_a_flushed_script_cache(redis_url):
    """EVALSHA of an unknown script (a restarted or flushed Redis) loads it and runs."""
    store = RedisPlanStore.from_url(redis_url)
    store.put(record())
    redis.Redis.from_url(redis_url).script_flush()
    assert store.put(record(), expected_version=1).version == 2


def test_a_refused_port_is_unavailable_within_a_second():
    store = RedisPlanStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    began = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="plan store .*127.0.0.1"):
        store.put(record())
    with pytest.raises(StoreUnavailableError):
        store.get("day")
    assert time.monotonic() - began < 1.0


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_server_that_never_answers_is_unavailable_within_two_seconds(silent_port):
    store = RedisPlanStore.from_url(f"redis://127.0.0.1:{silent_port}/0")
    began = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="did not answer in time"):
        store.put(record())
    assert time.monotonic() - began < 2.0
    began = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        store.get("day")
    assert time.monotonic() - began < 2.0


def test_after_redis_is_killed_puts_fail_closed_and_work_again_once_it_is_back():
    with RedisServer() as server:
        store = RedisPlanStore.from_url(server.url)
        assert store.put(record()).version == 1
        server.kill()
        with pytest.raises(StoreUnavailableError):
            store.put(record())
        server.restart()  # empty: nothing is saved
        assert store.get("day") is None
        assert store.put(record()).version == 1
        server.kill()
        server.start()
        # The pooled connection is dead: the client notices, reconnects, and the write lands.
        assert store.put(record()).version == 1


def test_a_redis_put_repeated_after_a_lost_reply_reports_its_own_write(redis_url, monkeypatch):
    """redis-py retries a command once after a connection error, even if Redis ran it: the writer id
    makes the repeat a no-op that reports the version it wrote, not a conflict with itself."""
    store = RedisPlanStore.from_url(redis_url)
    store.put(record())
    monkeypatch.setattr("dispatch.store.redis.uuid.uuid4", lambda: uuid.UUID(int=7))
    assert store.put(record(now=60), expected_version=1).version == 2
    assert store.put(record(now=60), expected_version=1).version == 2  # the same put again
    assert store.get("day").version == 2
    monkeypatch.setattr("dispatch.store.redis.uuid.uuid4", lambda: uuid.UUID(int=8))
    with pytest.raises(VersionConflictError):
        store.put(record(now=60), expected_version=1)
