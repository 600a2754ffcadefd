"""Plans by ``plan_id`` with a version: in process by default, in Redis when configured.

A stored plan is the whole live day: the problem as known now, the current plan and the
facts of the day (``DayState``). Writes are optimistic: ``put(..., expected_version=n)``
succeeds only while version ``n`` is the current one, so two re-plans of the same version
never both land (the loser gets ``VersionConflictError``, never a lost update);
``expected_version=0`` creates a plan that must not exist yet (``PlanExistsError``).

A store that ``writes_events`` appends the version's ETA events to the ETA stream in the same
write as the plan (one Lua script in Redis; one lock in process): a version is never stored
without its texts, nor texted without being stored, whatever fails in between.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dispatch.domain import Answered, DayState, Plan, Problem, with_warnings
from dispatch.errors import FieldViolation, PlanExistsError, PlanNotFoundError, ProblemError, VersionConflictError

if TYPE_CHECKING:
    from dispatch.eta import EtaEvent

log = logging.getLogger("dispatch")


@dataclass(frozen=True, kw_only=True)
class StoredPlan:
    """One live day: ``plan.version`` is its version."""

    problem: Problem
    plan: Plan
    state: DayState = field(default_factory=DayState)

    @property
    def version(self) -> int:
        return self.plan.version


class PlanStore(Protocol):
    #: Whether ``put`` appends its ``events`` to the ETA stream itself, in the same write.
    writes_events: bool

    def get(self, plan_id: str) -> StoredPlan | None:
        """The current version of the plan, or ``None``."""
        ...

    def put(
        self, record: StoredPlan, *, expected_version: int | None = None, events: Sequence[EtaEvent] = ()
    ) -> StoredPlan:
        """Store ``record`` as the next version of its plan id and return it with that version.

        With ``expected_version``, the write succeeds only if that is the current version
        (``PlanNotFoundError`` if there is none, ``VersionConflictError`` if another one is);
        0 creates the plan, which must not exist (``PlanExistsError``). Without it, the plan is
        replaced whatever its version. ``events`` (their ``version`` the one written, so
        ``expected_version`` is required with them) go on the ETA stream in the same write
        when the store ``writes_events``; other stores refuse them.
        """
        ...


def next_version(record: StoredPlan, plan_id: str, current: int | None, expected: int | None) -> StoredPlan:
    """``record`` at the version after ``current``, or the error ``expected`` calls for."""
    if expected == 0:
        if current is not None:
            raise PlanExistsError(plan_id, current)
    elif expected is not None:
        if current is None:
            raise PlanNotFoundError(f"no plan {plan_id!r}")
        if current != expected:
            raise VersionConflictError(plan_id, expected, current)
    return dataclasses.replace(record, plan=dataclasses.replace(record.plan, version=(current or 0) + 1))


def check_events(events: Sequence[EtaEvent], expected: int | None, writes_events: bool) -> None:
    """Refuse events a store cannot write with the version they belong to."""
    if not events:
        return
    if not writes_events:
        raise ValueError("this store does not write ETA events: publish them after the put")
    if expected is None or any(e.version != expected + 1 for e in events):
        raise ValueError("ETA events are written with expected_version, each of version expected_version + 1")


#: Bytes the in-process store counts for a plan's parts (measured on generated days with
#: ``sys.getsizeof`` over the decoded objects, rounded up): a job with its windows and
#: customer, a technician, a visit, one fact of the day. An explicit travel matrix counts its
#: arrays' bytes.
JOB_BYTES = 2_500
TECHNICIAN_BYTES = 2_500
VISIT_BYTES = 1_000
FACT_BYTES = 300


def approx_bytes(record: StoredPlan) -> int:
    """About how much memory ``record`` holds: what the in-process store caps."""
    problem, plan, state = record.problem, record.plan, record.state
    matrix = problem.travel_matrix
    size = 0 if matrix is None else int(matrix.durations.nbytes + matrix.distances.nbytes)
    visits = sum(len(r.visits) for r in plan.routes)
    facts = (
        len(state.facts)
        + len(state.positions)
        + len(state.promises)
        + len(state.announced)
        + len(state.requests)
        + len(state.cancelled)
    )
    return (
        size
        + JOB_BYTES * len(problem.jobs)
        + TECHNICIAN_BYTES * len(problem.technicians)
        + VISIT_BYTES * visits
        + FACT_BYTES * facts
    )


class EventSink(Protocol):
    """This process's ETA stream (``dispatch.stream.MemoryEtaStream``)."""

    def publish(self, events: list[EtaEvent]) -> list[str]: ...


#: What the in-process store keeps at most, in bytes (``approx_bytes``; DISPATCH_MEMORY_STORE_BYTES).
MEMORY_STORE_BYTES = 512 * 1024 * 1024


class MemoryPlanStore:
    """The embedded default: the plans of this process, least recently used dropped first once
    they hold more than ``max_bytes`` (``approx_bytes``) or number more than ``max_plans``. The
    plan being written is always kept. With ``etas`` (the process's own stream), a version's ETA
    events are published under the same lock as its write."""

    def __init__(
        self,
        max_plans: int = 10_000,
        *,
        max_bytes: int = MEMORY_STORE_BYTES,
        etas: EventSink | None = None,
    ) -> None:
        self._plans: OrderedDict[str, tuple[StoredPlan, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_plans = max_plans
        self.max_bytes = max_bytes
        self.bytes = 0
        self.etas = etas
        self.writes_events = etas is not None

    def get(self, plan_id: str) -> StoredPlan | None:
        with self._lock:
            held = self._plans.get(plan_id)
            if held is None:
                return None
            self._plans.move_to_end(plan_id)
            return held[0]

    def put(
        self, record: StoredPlan, *, expected_version: int | None = None, events: Sequence[EtaEvent] = ()
    ) -> StoredPlan:
        check_events(events, expected_version, self.writes_events)
        plan_id = record.plan.plan_id
        size = approx_bytes(record)
        with self._lock:
            previous = self._plans.get(plan_id)
            stored = next_version(record, plan_id, previous[0].version if previous else None, expected_version)
            if previous is not None:
                self.bytes -= previous[1]
            self._plans[plan_id] = (stored, size)
            self.bytes += size
            self._plans.move_to_end(plan_id)
            while len(self._plans) > 1 and (len(self._plans) > self.max_plans or self.bytes > self.max_bytes):
                _, (_, dropped) = self._plans.popitem(last=False)
                self.bytes -= dropped
            if events and self.etas is not None:
                self.etas.publish(list(events))
            return stored


def plan_id_for(request_id: str) -> str:
    """The plan id of a ``Solve`` that names none: derived from its ``request_id`` (so a retry
    finds the plan its first call stored), else a new one."""
    if not request_id:
        return uuid.uuid4().hex
    return "r-" + hashlib.sha256(request_id.encode()).hexdigest()[:30]


def stored_answer(store: PlanStore, plan_id: str, request_id: str) -> tuple[StoredPlan, Answered] | None:
    """The plan as stored now and the answer ``request_id`` stored in it, if it stored one: what a
    call that lost a compare-and-set looks for (its own first attempt's write may have landed
    after its client gave up)."""
    record = store.get(plan_id) if request_id else None
    done = record.state.answered(request_id) if record is not None else None
    return None if record is None or done is None else (record, done)


def replayed(record: StoredPlan, done: Answered, fingerprint: str) -> Plan:
    """The answer to a retried request that already stored ``done.version`` of ``record``'s plan."""
    if done.fingerprint != fingerprint:
        raise ProblemError(
            [
                FieldViolation(
                    "request_id",
                    f"already used by another request (that stored version {done.version} of plan "
                    f"{record.plan.plan_id!r}): use a new request_id for a new request",
                )
            ]
        )
    log.info("request %s was answered before: plan %s v%d", done.request_id, record.plan.plan_id, done.version)
    if record.version == done.version:
        return record.plan
    return with_warnings(
        record.plan,
        f"request {done.request_id} was applied before, as version {done.version}; the plan has moved on since: "
        f"this is version {record.version}",
    )
