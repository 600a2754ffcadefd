"""The JSON codec: every domain object the plan store keeps comes back equal, and stays plain JSON."""

from __future__ import annotations

import dataclasses
import json
import zlib

import numpy as np
import pytest

from dispatch import codec
from dispatch.domain import (
    Assign,
    CancelJob,
    Commitment,
    Customer,
    DayState,
    Delay,
    Event,
    ExplicitMatrix,
    Job,
    Location,
    LockRoute,
    NewJob,
    Plan,
    PlanStats,
    Position,
    Priority,
    Problem,
    ProgressKind,
    Release,
    Replan,
    Route,
    ScheduledBreak,
    TechnicianAdded,
    TechnicianProgress,
    TechnicianUnavailable,
    Unassign,
    Unassigned,
    UnassignedReason,
    Visit,
    VisitFact,
    VisitStatus,
)
from dispatch.store import StoredPlan
from tests.support.factories import HOUR, MIN, job, problem, tech, window


def assert_same(a: object, b: object, path: str = "$") -> None:
    """``a == b``, comparing arrays by value (a dataclass's ``==`` cannot)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), path
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def round_trip(obj: object) -> object:
    """``obj`` through ``to_json``, real JSON text and ``from_json``, and through ``dumps``/``loads``."""
    via_json = codec.from_json(type(obj), json.loads(json.dumps(codec.to_json(obj))))
    via_bytes = codec.loads(type(obj), codec.dumps(obj))
    assert_same(via_json, via_bytes)
    return via_bytes


@pytest.fixture
def day() -> Problem:
    """Two technicians (breaks, stock, skills) and four jobs (windows, priorities, an emergency) on the road matrix."""
    p = problem(
        [
            tech("mike", home=0, skills=("hvac", "epa_608"), parts={"filter_16x25": 4, "capacitor": 1},
                 breaks=((4 * HOUR, 5 * HOUR, 30 * MIN),)),
            tech("rosa", home=50, end=60, tools=("ladder",), shift=(HOUR, 10 * HOUR)),
        ],
        [
            job("a", x=10, windows=((0, 2 * HOUR), (4 * HOUR, 6 * HOUR)), skills=("hvac",), parts={"filter_16x25": 1}),
            job("b", x=20, priority=Priority.HIGH, tools=("ladder",)),
            job("c", x=30, priority=Priority.EMERGENCY, respond_within=2 * HOUR, pinned="rosa"),
            job("d", x=40, priority=Priority.LOW, service=90 * MIN),
        ],
    )  # fmt: skip
    customer = Customer(name="Ada Ng", phone="+13035550100")
    located = Location(lat=39.7392, lng=-104.9903, matrix_index=10, address="1437 Bannock St, Denver")
    first = dataclasses.replace(p.jobs[0], customer=customer, location=located, service_type="tune-up")
    return dataclasses.replace(
        p,
        jobs=(first, *p.jobs[1:]),
        commitments=(Commitment(job_id="a", technician_id="mike", window=window(HOUR, 2 * HOUR)),),
    )


def test_a_problem_with_its_travel_matrix_comes_back_equal(day):
    back = round_trip(day)
    assert_same(back, day)
    assert back.travel_matrix.durations.dtype == np.int64 and back.travel_matrix.durations.flags.writeable
    assert back.technicians[0].skills == frozenset({"hvac", "epa_608"})
    assert back.jobs[0].time_windows[1] == window(4 * HOUR, 6 * HOUR)


def test_a_matrix_is_base64_of_little_endian_bytes_with_a_dtype_tag(day):
    encoded = codec.to_json(day)["travel_matrix"]
    assert encoded["size"] == 200
    assert encoded["durations"]["dtype"] == "<i8" and encoded["durations"]["shape"] == [200 * 200]
    assert isinstance(encoded["durations"]["base64"], str)
    big_endian = ExplicitMatrix(
        size=2, durations=np.array([1, 2, 3, 4], dtype=">i8"), distances=np.array([], dtype=np.int64)
    )
    back = codec.from_json(ExplicitMatrix, codec.to_json(big_endian))
    assert back.durations.tolist() == [1, 2, 3, 4] and back.durations.dtype == np.int64
    assert back.distances.shape == (0,)


def test_a_plan_with_routes_breaks_and_unassigned_jobs_comes_back_equal():
    plan = Plan(
        plan_id="denver-0302",
        epoch=1_772_463_600,
        version=3,
        routes=(
            Route(
                technician_id="mike",
                start=0,
                end=8 * HOUR,
                visits=(
                    Visit(job_id="a", arrival=600, start=3600, end=5400, travel_duration=600, travel_distance=10_000,
                          status=VisitStatus.COMPLETED),
                    Visit(job_id="b", arrival=6000, start=6000, end=7800, travel_duration=600, travel_distance=10_000),
                ),
                breaks=(ScheduledBreak(start=4 * HOUR, end=4 * HOUR + 1800),),
                return_travel_duration=1200,
                return_distance=20_000,
            ),
            Route(technician_id="rosa", start=HOUR, end=HOUR),
        ),
        unassigned=(Unassigned(job_id="d", reason=UnassignedReason.NO_QUALIFIED_TECHNICIAN, detail="needs hvac"),),
        stats=PlanStats(total_travel_duration=2400, total_distance=40_000, objective=2400, solver_status="SUCCESS",
                        solve_time=0.25, warnings=("job d: no technician has hvac",)),
    )  # fmt: skip
    assert round_trip(plan) == plan


def test_a_day_state_with_facts_positions_breaks_and_promises_comes_back_equal():
    state = DayState(
        now=3 * HOUR,
        facts=(
            VisitFact(job_id="a", technician_id="mike", departed=0, arrived=600, completed=5400),
            VisitFact(job_id="b", technician_id="mike", departed=5400, reported=False),
        ),
        positions=(Position(technician_id="rosa", location=Location(lat=39.75, lng=-105.0), time=2 * HOUR),),
        cancelled=("e",),
        unavailable=(("sam", 2 * HOUR),),
        taken_breaks=(("mike", ScheduledBreak(start=HOUR, end=HOUR + 900)),),
        promises=(
            Commitment(job_id="b", technician_id="mike", window=window(HOUR, 3 * HOUR)),
            Commitment(job_id="c", technician_id="rosa"),
        ),
    )
    assert round_trip(state) == state
    assert codec.to_json(state)["taken_breaks"] == [["mike", {"start": HOUR, "end": HOUR + 900}]]


EVENTS: list[Event] = [
    NewJob(job=job("n", x=5, priority=Priority.EMERGENCY, respond_within=HOUR, skills=("gas",))),
    CancelJob(job_id="b"),
    TechnicianProgress(technician_id="mike", kind=ProgressKind.ARRIVED, time=600, job_id="a"),
    TechnicianProgress(technician_id="rosa", kind=ProgressKind.POSITION, time=700, location=Location(matrix_index=55)),
    Delay(job_id="a", extra=20 * MIN),
    TechnicianUnavailable(technician_id="rosa", start=5 * HOUR),
    TechnicianAdded(technician=tech("sam", home=100, skills=("gas",), breaks=((3 * HOUR, 4 * HOUR, 900),))),
    Assign(job_id="n", technician_id="sam"),
    Unassign(job_id="a"),
    Release(job_id="a"),
    LockRoute(technician_id="mike", until=2 * HOUR),
    LockRoute(technician_id="rosa"),
]


def test_every_event_type_is_covered():
    assert {type(e) for e in EVENTS} == set(Event.__args__)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_each_event_comes_back_equal(event):
    assert round_trip(event) == event


def test_a_replan_tags_its_events_with_their_type():
    replan = Replan(plan_id="denver-0302", time=1_772_470_000, events=tuple(EVENTS), expected_version=2, time_limit=1.5)
    assert round_trip(replan) == replan
    encoded = codec.to_json(replan)
    assert [e["type"] for e in encoded["events"]] == [type(e).__name__ for e in EVENTS]
    assert encoded["reassign_penalty"] is None
    assert round_trip(Replan(plan_id="p", time=0)) == Replan(plan_id="p", time=0)


def test_a_stored_plan_comes_back_equal(day):
    stored = StoredPlan(problem=day, plan=Plan(plan_id=day.plan_id, epoch=day.epoch), state=DayState(now=60))
    assert_same(round_trip(stored), stored)


def test_equal_objects_give_equal_bytes_and_the_bytes_are_compressed_json():
    a = tech("mike", skills=("hvac", "epa_608", "gas"))
    b = tech("mike", skills=("gas", "hvac", "epa_608"))
    assert codec.dumps(a) == codec.dumps(b)
    text = json.loads(zlib.decompress(codec.dumps(a)))
    assert text["skills"] == ["epa_608", "gas", "hvac"]


def test_enums_are_stored_by_value():
    encoded = codec.to_json(job("a", x=1, priority=Priority.HIGH))
    assert encoded["priority"] == 3
    assert codec.to_json(Unassigned(job_id="a", reason=UnassignedReason.UNREACHABLE))["reason"] == "UNREACHABLE"


def test_missing_fields_take_their_defaults_and_unknown_fields_are_refused():
    assert codec.from_json(Visit, {"job_id": "a", "arrival": 1, "start": 2, "end": 3, "travel_duration": 1,
                                   "travel_distance": 5}).status is VisitStatus.PLANNED  # fmt: skip
    with pytest.raises(ValueError, match=r"\$: unknown fields \['colour'\]"):
        codec.from_json(CancelJob, {"job_id": "a", "colour": "red"})


def test_values_of_the_wrong_shape_are_refused_with_their_path():
    with pytest.raises(ValueError, match=r"\$\.shift\.start: expected int, got str"):
        codec.from_json(type(tech("x")), {**codec.to_json(tech("x")), "shift": {"start": "8am", "end": 1}})
    with pytest.raises(ValueError, match=r"\$\.events\[0\]\.type: 'Explode' is not one of"):
        codec.from_json(Replan, {"plan_id": "p", "time": 0, "events": [{"type": "Explode"}]})
    with pytest.raises(ValueError, match=r"\$\.priority: 9 is not a Priority"):
        codec.from_json(Job, {**codec.to_json(job("a", x=1)), "priority": 9})
    with pytest.raises(ValueError, match="arrays of object are not stored"):
        codec.from_json(ExplicitMatrix, {"size": 1, "durations": {"dtype": "|O", "shape": [1], "base64": ""},
                                         "distances": {"dtype": "<i8", "shape": [0], "base64": ""}})  # fmt: skip


def test_what_is_not_a_domain_value_is_refused():
    with pytest.raises(TypeError, match="cannot encode"):
        codec.to_json(DayState(cancelled=(object(),)))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- records already written

#: A stored plan as the codec wrote it before it compiled per-type codecs (zlib's default level then).
WRITTEN = (
    '{"problem":{"plan_id":"denver-0302","epoch":1772463600,"technicians":[{"id":"mike","name":"Mike","phone":"",'
    '"start_location":{"lat":null,"lng":null,"matrix_index":0,"address":""},"end_location":{"lat":null,"lng":null,'
    '"matrix_index":0,"address":""},"shift":{"start":0,"end":32400},"breaks":[{"window":{"start":14400,"end":18000},'
    '"duration":1800}],"skills":["epa_608","hvac"],"tools":[],"parts":[["capacitor",1]]}],"jobs":[{"id":"a",'
    '"location":{"lat":null,"lng":null,"matrix_index":1,"address":""},"service_duration":1800,"time_windows":'
    '[{"start":0,"end":7200}],"required_skills":["hvac"],"required_tools":[],"required_parts":[],"priority":3,'
    '"pinned_technician_id":"","customer":{"name":"","phone":""},"service_type":"","respond_within":null}],'
    '"options":{"time_limit":10.0,"travel_model":"GREAT_CIRCLE","reassign_penalty":1800,"promise_weight":3},'
    '"travel_matrix":{"size":2,"durations":{"dtype":"<i8","shape":[4],"base64":"AAAAAAAAAABYAgAAAAAAAFgCAAAAAAAA'
    'AAAAAAAAAAA="},"distances":{"dtype":"<i8","shape":[0],"base64":""}},"commitments":[]},"plan":{"plan_id":'
    '"denver-0302","epoch":1772463600,"version":2,"routes":[{"technician_id":"mike","start":0,"end":3000,"visits":'
    '[{"job_id":"a","arrival":600,"start":600,"end":2400,"travel_duration":600,"travel_distance":10000,"status":'
    '"ON_SITE"}],"breaks":[],"return_travel_duration":600,"return_distance":10000}],"unassigned":[],"stats":'
    '{"total_travel_duration":1200,"total_distance":20000,"objective":0,"solver_status":"SUCCESS","solve_time":0.25,'
    '"warnings":[]}},"state":{"now":900,"facts":[{"job_id":"a","technician_id":"mike","departed":0,"arrived":600,'
    '"completed":null,"reported":true}],"positions":[],"cancelled":[],"unavailable":[],"taken_breaks":[["mike",'
    '{"start":3600,"end":4500}]],"promises":[{"job_id":"a","technician_id":"mike","window":{"start":0,"end":3600}}]}}'
)


@pytest.fixture
def written() -> StoredPlan:
    """The stored plan in ``WRITTEN``: one technician, one job on site, a two-row matrix, a fact, a break, a promise."""
    p = Problem(
        plan_id="denver-0302",
        epoch=1_772_463_600,
        technicians=(tech("mike", skills=("hvac", "epa_608"), parts={"capacitor": 1},
                          breaks=((4 * HOUR, 5 * HOUR, 30 * MIN),)),),
        jobs=(job("a", x=1, windows=((0, 2 * HOUR),), skills=("hvac",), priority=Priority.HIGH),),
        travel_matrix=ExplicitMatrix(size=2, durations=np.array([0, 600, 600, 0]), distances=np.array([], dtype=np.int64)),
    )  # fmt: skip
    visit = Visit(job_id="a", arrival=600, start=600, end=2400, travel_duration=600, travel_distance=10_000,
                  status=VisitStatus.ON_SITE)  # fmt: skip
    plan = Plan(
        plan_id=p.plan_id,
        epoch=p.epoch,
        version=2,
        routes=(Route(technician_id="mike", start=0, end=3000, visits=(visit,), return_travel_duration=600,
                      return_distance=10_000),),
        stats=PlanStats(total_travel_duration=1200, total_distance=20_000, solver_status="SUCCESS", solve_time=0.25),
    )  # fmt: skip
    state = DayState(
        now=900,
        facts=(VisitFact(job_id="a", technician_id="mike", departed=0, arrived=600),),
        taken_breaks=(("mike", ScheduledBreak(start=HOUR, end=HOUR + 900)),),
        promises=(Commitment(job_id="a", technician_id="mike", window=window(0, HOUR)),),
    )
    return StoredPlan(problem=p, plan=plan, state=state)


#: Fields added (with defaults) since ``WRITTEN`` was recorded: travel sources and traffic (issue 4), ETAs (issue 6).
ADDED_SINCE = {
    "traffic",
    "emergency_weight",
    "travel_source",
    "return_travel_source",
    "travel_requests",
    "travel_estimated_pairs",
    "requests",  # DayState: idempotency keys (2026-12)
    "travel_unreachable_pairs",
    "announced",  # ETAs told to customers (issue 6)
    "held",  # DayState: jobs the dispatcher holds (issue 18)
    "locks",  # DayState: locked routes (issue 18)
    "time_zone",  # Problem and Plan: the business's time zone (issue 19)
    "overtime",  # Technician (allowed) and Route (used): issue 21
    "balance",  # SolveOptions: fair days (issue 21)
    "balance_weight",
    "travel_cost_per_hour",
    "shifts",  # Technician: several days (issue 21)
    "earliest_day",  # Job: several days (issue 21)
    "latest_day",
    "preferred_technician_ids",
    "technicians_required",  # Job: crews (issue 21)
    "required_skills_any_member",
}


def _without_added(value):
    if isinstance(value, dict):
        return {k: _without_added(v) for k, v in value.items() if k not in ADDED_SINCE}
    if isinstance(value, list):
        return [_without_added(v) for v in value]
    return value


def test_a_record_written_earlier_still_loads_and_is_written_the_same(written):
    assert_same(codec.loads(StoredPlan, zlib.compress(WRITTEN.encode())), written)
    # the same bytes for every field it had: fields are only ever added, in order, with defaults
    assert json.dumps(_without_added(codec.to_json(written)), separators=(",", ":")) == WRITTEN
    stored = json.loads(zlib.decompress(codec.dumps(written)).decode())
    assert json.dumps(_without_added(stored), separators=(",", ":")) == WRITTEN


def test_decoded_objects_are_ordinary_frozen_dataclasses(written):
    back = codec.loads(StoredPlan, codec.dumps(written))
    visit = back.plan.routes[0].visits[0]
    assert hash(visit) == hash(written.plan.routes[0].visits[0])
    assert dataclasses.replace(back.plan, version=3).routes == written.plan.routes
    with pytest.raises(dataclasses.FrozenInstanceError):
        visit.start = 0  # type: ignore[misc]


def test_fields_missing_deep_in_a_record_take_their_defaults(written):
    data = json.loads(WRITTEN)
    del data["problem"]["jobs"][0]["customer"], data["plan"]["routes"][0]["visits"][0]["status"]
    back = codec.from_json(StoredPlan, data)
    assert back.problem.jobs[0].customer == Customer()
    assert back.plan.routes[0].visits[0].status is VisitStatus.PLANNED
    assert back.state == written.state


def test_a_missing_required_field_is_refused_with_its_path():
    data = json.loads(WRITTEN)
    del data["plan"]["routes"][0]["visits"][0]["arrival"]
    with pytest.raises(ValueError, match=r"\$\.plan\.routes\[0\]\.visits\[0\]: missing fields \['arrival'\] for Visit"):
        codec.from_json(StoredPlan, data)


def test_a_value_that_cannot_be_encoded_is_refused_with_its_path():
    with pytest.raises(TypeError, match=r"\$\.state\.cancelled\[1\]: cannot encode object"):
        codec.to_json(StoredPlan(problem=problem([], []), plan=Plan(plan_id="p", epoch=0),
                                 state=DayState(cancelled=("a", object()))))  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(TypeError, match=r"\$\.events\[0\]: Plan is not a member of"):
        codec.to_json(Replan(plan_id="p", time=0, events=(Plan(plan_id="p", epoch=0),)))  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Node:
    """A dataclass that refers to itself."""

    name: str
    children: tuple[_Node, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Normalised:
    """A dataclass whose ``__post_init__`` must run when it is decoded."""

    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.strip())


def test_a_dataclass_may_refer_to_itself_and_a_post_init_runs():
    tree = _Node(name="root", children=(_Node(name="a"), _Node(name="b", children=(_Node(name="c"),))))
    assert round_trip(tree) == tree
    assert codec.from_json(_Normalised, {"name": " mike "}) == _Normalised(name="mike")
