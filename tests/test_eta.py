"""ETAs, the customer window rule, ETA events on plan creation, moves, departures and emergencies,
broken promises and emergencies nobody can reach, the in-process and Redis streams, and WatchEtas
over gRPC."""

from __future__ import annotations

import dataclasses
import threading
import time

import grpc
import pytest

from dispatch.config import Settings
from dispatch.domain import (
    Announced,
    CancelJob,
    Customer,
    Delay,
    Invoice,
    NewJob,
    Plan,
    Priority,
    ProgressKind,
    Replan,
    Route,
    TechnicianProgress,
    Unassigned,
    UnassignedReason,
    Visit,
)
from dispatch.errors import ProblemError
from dispatch.eta import EtaKind, customer_window, eta_events, window_half_width
from dispatch.service import PlanningService
from dispatch.solver.runner import InProcessRunner
from dispatch.stream import MemoryEtaStream, RedisEtaStream, StreamUnavailableError
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.factories import EPOCH, HOUR, MIN, job, problem, tech, visit_of

pytestmark = pytest.mark.timeout(120)


def day():
    """Ann alone: five jobs along the road, wide windows, an hour apart or so."""
    return problem(
        [tech("ann", home=0), tech("bob", home=150)],
        [job(f"j{x}", x=x, windows=((0, 8 * HOUR),)) for x in (10, 20, 30, 40, 140)],
        time_limit=0.5,
    )


def all_events(stream, after="0"):
    return [e for _, e in stream.read(after, count=10_000)]


@pytest.fixture
def service():
    return PlanningService(runner=InProcessRunner(), settings=Settings(reopt_time_limit=0.3))


def test_the_window_widens_with_how_far_ahead_the_arrival_is():
    assert window_half_width(0) == 10 * MIN
    assert window_half_width(20 * MIN) == 15 * MIN  # 13 min, rounded out to 5
    assert window_half_width(2 * HOUR) == 30 * MIN  # 28 min
    assert window_half_width(6 * HOUR) == 60 * MIN  # capped
    assert all(
        window_half_width(a) <= window_half_width(b)
        for a, b in zip(range(0, 9 * HOUR, 600), range(600, 9 * HOUR + 600, 600), strict=True)
    )


def test_the_window_told_is_kept_inside_the_booked_window():
    booked = job("j", x=10, windows=((13 * HOUR, 14 * HOUR),))
    # the van arrives at 10:41 and waits; service starts at 13:00, six hours after "now" (07:00)
    assert customer_window(booked, 13 * HOUR, 7 * HOUR) == (13 * HOUR, 14 * HOUR)  # ± 60 min, cut to the booking
    assert customer_window(booked, 13 * HOUR + 50 * MIN, 13 * HOUR + 30 * MIN) == (
        13 * HOUR + 30 * MIN,
        14 * HOUR,
    )  # ± 15 min near the close: slid earlier to end at 14:00, as wide as the rule gives
    assert customer_window(booked, 13 * HOUR + 5 * MIN, 13 * HOUR) == (13 * HOUR, 13 * HOUR + 30 * MIN)  # ± 15, slid
    free = job("k", x=10)  # no booking: centred on the ETA
    assert customer_window(free, 13 * HOUR, 7 * HOUR) == (12 * HOUR, 14 * HOUR)
    late = job("l", x=10, windows=((8 * HOUR, 9 * HOUR),))  # started outside every booking: not clamped
    assert customer_window(late, 10 * HOUR, 9 * HOUR + 40 * MIN) == (9 * HOUR + 45 * MIN, 10 * HOUR + 15 * MIN)
    two = job("m", x=10, windows=((8 * HOUR, 9 * HOUR), (13 * HOUR, 14 * HOUR)))  # the booking holding the ETA
    assert customer_window(two, 8 * HOUR + 55 * MIN, 8 * HOUR) == (8 * HOUR + 20 * MIN, 9 * HOUR)
    for eta in range(13 * HOUR, 14 * HOUR + 1, 7 * MIN):
        for now in range(6 * HOUR, eta + 1, 23 * MIN):
            low, high = customer_window(booked, eta, now)
            assert 13 * HOUR <= low <= eta <= high <= 14 * HOUR


def test_an_early_van_waiting_for_the_booking_is_announced_at_the_service_start():
    """Booked 13:00-14:00, the van there at 10:41 and waiting 2 h 19 min: the ETA is 13:00 and
    the window told the booking (six hours ahead: ± 60 min, cut to it), never the arrival."""
    p = problem([tech("ann", home=0)], [job("late", x=10, windows=((13 * HOUR, 14 * HOUR),))])
    early = Visit(job_id="late", arrival=10 * HOUR + 41 * MIN, start=13 * HOUR, end=13 * HOUR + 30 * MIN,
                  travel_duration=600, travel_distance=0)  # fmt: skip
    plan = Plan(
        plan_id="test", epoch=EPOCH, routes=(Route(technician_id="ann", start=0, end=15 * HOUR, visits=(early,)),)
    )
    (e,), told = eta_events(p, plan, now=7 * HOUR)
    assert e.eta == EPOCH + 13 * HOUR and (e.window_start, e.window_end) == (EPOCH + 13 * HOUR, EPOCH + 14 * HOUR)
    assert told == (Announced(job_id="late", technician_id="ann", eta=13 * HOUR),)
    later = dataclasses.replace(early, arrival=12 * HOUR)  # the van comes later, the knock does not move
    moved, _ = eta_events(p, dataclasses.replace(plan, routes=(dataclasses.replace(plan.routes[0], visits=(later,)),)),
                          now=8 * HOUR, announced=told)  # fmt: skip
    assert moved == []


def test_a_plan_keeps_its_time_zone_and_its_events_carry_it(service):
    p = dataclasses.replace(day(), time_zone="America/Denver")
    plan = service.solve(p, replace=True)
    assert plan.time_zone == service.get_plan(plan.plan_id).plan.time_zone == "America/Denver"
    assert {e.time_zone for e in all_events(service.etas)} == {"America/Denver"}
    default = service.solve(dataclasses.replace(day(), plan_id="other"), replace=True)
    assert default.time_zone == "UTC"  # the service's default (the messages file's, else UTC)
    with pytest.raises(ProblemError) as bad:
        service.solve(dataclasses.replace(day(), plan_id="bad", time_zone="Mars/Olympus"), replace=True)
    assert [v.field for v in bad.value.violations] == ["time_zone"]


def test_a_completed_job_thanks_its_customer_once_with_the_invoice(service):
    plan = service.solve(day(), replace=True)
    ann = next(r for r in plan.routes if r.technician_id == "ann")
    done = ann.visits[0].job_id
    mark = service.etas.last_id()
    invoice = Invoice(number="INV-1042", total="$249.00", payment_link="https://pay.example/1042")
    report = TechnicianProgress(
        technician_id="ann", kind=ProgressKind.COMPLETED, job_id=done, time=-60, invoice=invoice
    )
    at = EPOCH + ann.visits[0].end + 60
    service.reoptimize(Replan(plan_id=plan.plan_id, time=at, events=(report,)))
    (thanks,) = [e for e in all_events(service.etas, mark) if e.kind is EtaKind.SERVICE_COMPLETE]
    assert (thanks.job_id, thanks.technician_id, thanks.technician_name) == (done, "ann", "Ann")
    assert thanks.variables == {
        "invoice_number": "INV-1042",
        "invoice_total": "$249.00",
        "payment_link": "https://pay.example/1042",
    }
    mark = service.etas.last_id()  # the console sends the report again: refused, nobody texted twice
    with pytest.raises(ProblemError, match="already completed"):
        service.reoptimize(Replan(plan_id=plan.plan_id, time=at + 60, events=(report,)))
    assert not all_events(service.etas, mark)


def test_a_new_plan_announces_every_visit_and_an_emergency_as_such(service):
    p = day()
    p = type(p)(
        **{**p.__dict__, "jobs": (*p.jobs, job("burst", x=25, priority=Priority.EMERGENCY, respond_within=2 * HOUR))}
    )
    plan = service.solve(p, replace=True)
    events = all_events(service.etas)
    assert {e.job_id for e in events} == set(plan.assigned_job_ids)
    kinds = {e.job_id: e.kind for e in events}
    assert kinds.pop("burst") is EtaKind.EMERGENCY and set(kinds.values()) == {EtaKind.PLANNED}
    for e in events:
        v = visit_of(plan, e.job_id)
        assert e.eta == EPOCH + v.start and e.version == plan.version == 1  # the service start
        low, high = customer_window(p.job(e.job_id), v.start, 0)
        assert (e.window_start, e.window_end) == (EPOCH + low, EPOCH + high)
        assert e.window_start <= e.eta <= e.window_end
    stored = service.get_plan(plan.plan_id).state
    assert {a.job_id for a in stored.announced} == set(plan.assigned_job_ids)


def test_a_delay_announces_the_moves_past_the_threshold_only(service):
    plan = service.solve(day(), replace=True)
    ann = next(r for r in plan.routes if r.technician_id == "ann")
    first = ann.visits[0].job_id
    mark = service.etas.last_id()
    # 5 minutes over: below the 10-minute threshold, nothing to tell
    service.reoptimize(Replan(plan_id=plan.plan_id, time=EPOCH + 5 * MIN, events=(Delay(job_id=first, extra=5 * MIN),)))
    assert all_events(service.etas, mark) == []
    mark = service.etas.last_id()
    # 25 more: every later visit of Ann's moves 30 min from what was told; Bob's do not move
    out = service.reoptimize(
        Replan(plan_id=plan.plan_id, time=EPOCH + 6 * MIN, events=(Delay(job_id=first, extra=30 * MIN),))
    )
    moved = all_events(service.etas, mark)
    later = [v.job_id for v in ann.visits[1:]]
    assert moved and {e.job_id for e in moved} <= set(later) and all(e.kind is EtaKind.MOVED for e in moved)
    assert all(e.eta - e.previous_eta >= 10 * MIN for e in moved)
    assert all(e.version > 1 for e in moved) and max(e.version for e in moved) <= out.plan.version
    assert len({e.job_id for e in moved}) == len(moved)  # once each, across the quick and the final answer


def test_a_departure_is_announced_once_with_its_eta(service):
    plan = service.solve(day(), replace=True)
    ann = next(r for r in plan.routes if r.technician_id == "ann")
    target = ann.visits[0].job_id
    mark = service.etas.last_id()
    service.reoptimize(
        Replan(
            plan_id=plan.plan_id,
            time=EPOCH + ann.start + 60,
            events=(TechnicianProgress(technician_id="ann", kind=ProgressKind.DEPARTED, job_id=target, time=-60),),
        )
    )
    departed = [e for e in all_events(service.etas, mark) if e.kind is EtaKind.DEPARTED]
    assert [e.job_id for e in departed] == [target]
    assert departed[0].technician_name == "Ann"


def test_an_emergency_called_in_is_announced_as_an_emergency(service):
    plan = service.solve(day(), replace=True)
    mark = service.etas.last_id()
    burst = job("burst", x=12, priority=Priority.EMERGENCY, respond_within=2 * HOUR)
    service.reoptimize(Replan(plan_id=plan.plan_id, time=EPOCH + HOUR, events=(NewJob(job=burst),)))
    events = all_events(service.etas, mark)
    assert [e.kind for e in events if e.job_id == "burst"] == [EtaKind.EMERGENCY]
    e = next(e for e in events if e.job_id == "burst")
    assert e.eta <= EPOCH + 3 * HOUR and e.priority is Priority.EMERGENCY


def test_a_cancelled_job_is_withdrawn_and_a_completed_one_is_not(service):
    plan = service.solve(day(), replace=True)
    ann = next(r for r in plan.routes if r.technician_id == "ann")
    done, cancelled = ann.visits[0].job_id, ann.visits[-1].job_id
    mark = service.etas.last_id()
    service.reoptimize(
        Replan(
            plan_id=plan.plan_id,
            time=EPOCH + ann.visits[0].end + 60,
            events=(
                TechnicianProgress(technician_id="ann", kind=ProgressKind.COMPLETED, job_id=done, time=-60),
                CancelJob(job_id=cancelled),
            ),
        )
    )
    withdrawn = [e for e in all_events(service.etas, mark) if e.kind is EtaKind.WITHDRAWN]
    assert [e.job_id for e in withdrawn] == [cancelled]  # the visit done is history, not withdrawn
    assert withdrawn[0].eta == EPOCH + visit_of(plan, cancelled).start  # what the customer was told
    assert cancelled not in {a.job_id for a in service.get_plan(plan.plan_id).state.announced}


def test_pure_events_against_what_was_announced():
    p = day()
    service = PlanningService(runner=InProcessRunner(), settings=Settings())
    plan = service.solve(p, replace=True)
    events, told = eta_events(p, plan, now=0)
    again, same = eta_events(p, plan, now=0, announced=told)
    assert len(events) == len(plan.assigned_job_ids) and again == [] and same == told


class BrokenStream(MemoryEtaStream):
    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def publish(self, events):
        if self.down:
            raise StreamUnavailableError("ETA stream: Redis ConnectionError")
        return super().publish(events)


def test_events_wait_in_an_outbox_while_the_stream_is_down():
    stream = BrokenStream()
    service = PlanningService(runner=InProcessRunner(), settings=Settings(), etas=stream)
    plan = service.solve(day(), replace=True)  # the plan is stored; its events wait
    assert service.eta_outbox == len(plan.assigned_job_ids)
    service.flush_etas()  # still down: still held
    assert service.eta_outbox == len(plan.assigned_job_ids)
    stream.down = False
    service.flush_etas()  # back: out without waiting for another plan (the server does this every second)
    assert service.eta_outbox == 0 and len(all_events(stream)) == len(plan.assigned_job_ids)
    service.solve(day(), replace=True)  # the same day planned anew: nobody's time changed, nobody is told again
    assert len(all_events(stream)) == len(plan.assigned_job_ids)


def test_the_redis_stream_carries_events_between_processes(redis_url):
    writer, reader = RedisEtaStream.from_url(redis_url), RedisEtaStream.from_url(redis_url)
    service = PlanningService(runner=InProcessRunner(), settings=Settings(), etas=writer)
    mark = reader.last_id()
    plan = service.solve(day(), replace=True)
    got = reader.read(mark, block=1.0, count=1000)
    assert {e.job_id for _, e in got} == set(plan.assigned_job_ids)
    assert reader.read(got[-1][0], block=0.2) == []  # nothing newer
    ids = [i for i, _ in got]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))


def test_a_redis_stream_that_is_down_is_unavailable():
    stream = RedisEtaStream.from_url("redis://127.0.0.1:9/0", socket_timeout=0.2, connect_timeout=0.1)
    with pytest.raises(StreamUnavailableError):
        stream.read("0")


# ---------------------------------------------------------------------------- over gRPC


def test_watch_etas_follows_a_plan_and_a_technician(stub):
    from tests.support.console_requests import burst_pipe, small_day, to_proto  # noqa: PLC0415

    plan = stub.Solve(to_proto(small_day()), timeout=30).plan
    got: list[pb.EtaUpdate] = []
    mike: list[pb.EtaUpdate] = []
    calls = [stub.WatchEtas(pb.WatchEtasRequest(plan_id=plan.plan_id), timeout=20)]
    calls.append(stub.WatchEtas(pb.WatchEtasRequest(technician_id="mike"), timeout=20))

    def follow(call, into):
        try:
            for update in call:
                into.append(update)
        except grpc.RpcError:
            pass

    threads = [threading.Thread(target=follow, args=(c, out)) for c, out in zip(calls, (got, mike), strict=True)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the watches are open
    burst = burst_pipe()
    from google.protobuf import json_format  # noqa: PLC0415

    request = json_format.ParseDict(
        {"plan_id": plan.plan_id, "time": "2026-03-02T16:00:00Z", "events": [{"new_job": burst}]},
        pb.ReoptimizeRequest(),
    )
    stub.Reoptimize(request, timeout=30)
    deadline = time.monotonic() + 10
    while not any(u.job_id == "burst" for u in got) and time.monotonic() < deadline:
        time.sleep(0.1)
    for c in calls:
        c.cancel()
    for t in threads:
        t.join(5)
    burst_updates = [u for u in got if u.job_id == "burst"]
    assert [u.kind for u in burst_updates] == [pb.ETA_EMERGENCY]
    assert burst_updates[0].technician_id == "rosa" and burst_updates[0].priority == pb.EMERGENCY
    assert all(u.plan_id == plan.plan_id for u in got)
    assert all(u.technician_id == "mike" for u in mike)


def test_watch_etas_needs_a_plan_or_a_technician_and_a_known_plan(stub):
    with pytest.raises(grpc.RpcError) as caught:
        next(iter(stub.WatchEtas(pb.WatchEtasRequest(), timeout=5)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        next(iter(stub.WatchEtas(pb.WatchEtasRequest(plan_id="never-solved"), timeout=5)))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# ---------------------------------------------------------------------------- broken promises, emergencies nobody can reach


def _day_with_burst():
    """Ann with j1 and j2; ``burst``, an emergency of Sam's; j1 and burst with customers."""
    jobs = [
        dataclasses.replace(job("j1", x=10), customer=Customer(name="Pat", phone="+13035550199"), service_type="AC"),
        job("j2", x=20),
        dataclasses.replace(
            job("burst", x=12, priority=Priority.EMERGENCY, respond_within=2 * HOUR),
            customer=Customer(name="Sam", phone="+13035550777"),
            service_type="burst pipe",
        ),
    ]
    return problem([tech("ann", home=0)], jobs)


def _plan(version, visits=(), unassigned=()):
    """Ann's route with ``visits`` ((job, arrival), ...), and ``unassigned`` ((job, reason), ...)."""
    route = Route(
        technician_id="ann",
        start=0,
        end=9 * HOUR,
        visits=tuple(
            Visit(job_id=j, arrival=a, start=a, end=a + 30 * MIN, travel_duration=0, travel_distance=0)
            for j, a in visits
        ),
    )
    return Plan(
        plan_id="test",
        epoch=EPOCH,
        version=version,
        routes=(route,),
        unassigned=tuple(Unassigned(job_id=j, reason=r, detail="why") for j, r in unassigned),
    )


def test_a_promise_no_plan_keeps_is_broken_and_a_held_or_cancelled_job_is_withdrawn():
    p = _day_with_burst()
    told = (
        Announced(job_id="j1", technician_id="ann", eta=HOUR),
        Announced(job_id="j2", technician_id="ann", eta=2 * HOUR),
        Announced(job_id="gone", technician_id="ann", eta=3 * HOUR),  # cancelled: left the day
    )
    plan = _plan(
        2,
        unassigned=(("j1", UnassignedReason.PROMISE_BROKEN), ("j2", UnassignedReason.HELD_BY_DISPATCHER)),
    )
    events, after = eta_events(p, plan, now=30 * MIN, announced=told, earlier_jobs=[job("gone", x=5)])
    kinds = {e.job_id: e.kind for e in events}
    assert kinds == {"j1": EtaKind.PROMISE_BROKEN, "j2": EtaKind.WITHDRAWN, "gone": EtaKind.WITHDRAWN}
    broken = next(e for e in events if e.job_id == "j1")
    assert (broken.eta, broken.technician_id, broken.at, broken.version) == (EPOCH + HOUR, "ann", EPOCH + 30 * MIN, 2)
    assert (broken.customer_name, broken.customer_phone, broken.service_type) == ("Pat", "+13035550199", "AC")
    assert broken.technician_name == "Ann" and broken.priority is Priority.NORMAL
    assert after == ()  # nothing stands: told once, not again
    assert eta_events(p, plan, now=40 * MIN, announced=after) == ([], ())


def test_an_emergency_nobody_can_reach_is_acknowledged_once_and_its_eta_told_when_assigned():
    p = _day_with_burst()
    v1 = _plan(1, visits=(("j1", HOUR),), unassigned=(("burst", UnassignedReason.CAPACITY_EXHAUSTED),))
    events, told = eta_events(p, v1, now=10 * MIN)
    received = [e for e in events if e.job_id == "burst"]
    assert [e.kind for e in received] == [EtaKind.EMERGENCY_RECEIVED]
    e = received[0]
    assert e.technician_id == "" and e.eta == e.window_start == e.window_end == e.at == EPOCH + 10 * MIN
    assert (e.priority, e.service_type, e.customer_name, e.customer_phone) == (
        Priority.EMERGENCY,
        "burst pipe",
        "Sam",
        "+13035550777",
    )
    assert Announced(job_id="burst", technician_id="", eta=10 * MIN) in told  # recorded: no ETA standing
    # still unassigned in the next versions (even held by the dispatcher): not again, and nothing withdrawn
    v2 = _plan(2, visits=(("j1", HOUR),), unassigned=(("burst", UnassignedReason.NO_REACHABLE_WINDOW),))
    events, told = eta_events(p, v2, now=20 * MIN, announced=told)
    assert events == [] and Announced(job_id="burst", technician_id="", eta=10 * MIN) in told
    v3 = _plan(3, visits=(("j1", HOUR),), unassigned=(("burst", UnassignedReason.HELD_BY_DISPATCHER),))
    events, told = eta_events(p, v3, now=25 * MIN, announced=told)
    assert events == [] and {a.job_id for a in told} == {"j1", "burst"}
    # assigned at last: the emergency text with its ETA, not a move
    v4 = _plan(4, visits=(("burst", 50 * MIN), ("j1", 2 * HOUR)))
    events, told = eta_events(p, v4, now=30 * MIN, announced=told)
    assert [(e.job_id, e.kind) for e in events if e.job_id == "burst"] == [("burst", EtaKind.EMERGENCY)]
    burst = next(e for e in events if e.job_id == "burst")
    assert burst.technician_id == "ann" and burst.eta == EPOCH + 50 * MIN and burst.previous_eta == 0
    assert Announced(job_id="burst", technician_id="ann", eta=50 * MIN) in told


def test_an_emergency_whose_customer_was_told_something_is_not_acknowledged_again():
    p = _day_with_burst()
    # held by the dispatcher before anyone was told: the office calls, no acknowledgement
    held = _plan(1, unassigned=(("burst", UnassignedReason.HELD_BY_DISPATCHER),))
    assert eta_events(p, held, now=0) == ([], ())
    # told an ETA, then the promise broken: the apology, never "received" after it
    told = (Announced(job_id="burst", technician_id="ann", eta=HOUR),)
    broken = _plan(2, unassigned=(("burst", UnassignedReason.PROMISE_BROKEN),))
    events, told = eta_events(p, broken, now=10 * MIN, announced=told)
    assert [e.kind for e in events] == [EtaKind.PROMISE_BROKEN]
    again = _plan(3, unassigned=(("burst", UnassignedReason.CAPACITY_EXHAUSTED),))
    events, told = eta_events(p, again, now=20 * MIN, announced=told)
    assert events == [] and [a.technician_id for a in told] == [""]
    # cancelled: the acknowledgement entry goes, with no withdrawal
    empty = _plan(4)
    assert eta_events(p, empty, now=30 * MIN, announced=told) == ([], ())
