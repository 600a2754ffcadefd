"""Corpora of malformed requests over gRPC (issue 7, bad input), for every RPC, sent to a
``dispatch serve`` process of their own: every one is answered ``INVALID_ARGUMENT`` naming the
fields, or meaningfully (a plan, ``NOT_FOUND`` for a plan never made, ``ABORTED`` for a stale
version); none crashes the server or hangs a worker, and the server's memory stays flat.

Hypothesis builds each corpus from valid requests and one to three mutations from a catalogue of
nasties (NaN and infinite coordinates, empty, duplicate, unicode and enormous ids, windows in 1970
or year 9999 or backwards, negative and enormous durations, unknown enum numbers, matrices of the
wrong size or with negatives, pins to unknown technicians, empty days; for re-plans, events about
jobs and technicians the day does not know, cancelled twice, progress out of order, thousands of
events, the dispatcher's overrides (assign, unassign, release, lock_route) of jobs cancelled, done or
under way, released twice, locks until year 1 or int64's end, change scopes out of range -- an assign
the day cannot honour is FAILED_PRECONDITION naming the event; for SuggestTechnicians, the Solve
corpus's bad jobs, no job, stale versions, option counts out of range; for Validate, plans with visits that are not the request's, times in year 1 …).
``derandomize`` makes them the same corpora on every run: regression tests.
"""

from __future__ import annotations

import copy
import math
import re
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import burst_pipe, small_day
from tests.support.redis_server import free_port
from tests.support.served import DispatchProcess
from tests.support.status import details, field_violations

# a library registers a throwaway Random with Hypothesis on import: its warning says nothing about this test
pytestmark = [pytest.mark.timeout(900), pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")]

BASE = small_day(jobs=6, time_limit="0.05s")
BASE["replace"] = True  # every request replays on the same plan ids: plan them anew


def corpus(examples: int):
    """Hypothesis settings of a corpus: ``examples`` requests, the same ones on every run."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )


ANSWERS = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
SEEN: dict[str, int] = {}
MEMORY: dict[str, float] = {}
#: The Solve corpus's refused requests, for a replay once the server has seen them all.
REFUSED: list[pb.SolveRequest] = []


@pytest.fixture(scope="module")
def remote():
    """A server of the corpora's own (two workers, metrics on a port of its own), logging errors only."""
    env = {"DISPATCH_WORKERS": "2", "DISPATCH_MAX_WAITING": "4", "DISPATCH_METRICS_PORT": str(free_port())}
    with DispatchProcess(env, args=["--log-level", "error"]) as server:
        yield server


@pytest.fixture(scope="module")
def stub(remote):
    return remote.stub


def test_the_server_memory_before_the_corpora(remote, stub):
    """Warm up (plans of every size the corpora send, a first refusal), then note the server's memory."""
    for _ in range(20):
        stub.Solve(json_format.ParseDict(copy.deepcopy(BASE), pb.SolveRequest()), timeout=30)
    bad = copy.deepcopy(BASE)
    bad["jobs"][0]["id"] = ""
    for _ in range(20):
        with pytest.raises(grpc.RpcError):
            stub.Solve(json_format.ParseDict(bad, pb.SolveRequest()), timeout=30)
    MEMORY["before"] = remote.metrics()["process_resident_memory_bytes"]


def _job(day: dict[str, Any], i: int) -> dict[str, Any]:
    return day["jobs"][i % len(day["jobs"])]


def _tech(day: dict[str, Any], i: int) -> dict[str, Any]:
    return day["technicians"][i % len(day["technicians"])]


BAD_NUMBERS = [math.nan, math.inf, -math.inf, 1e308, -91.0, 181.0, 0.0]
BAD_IDS = ["", " ", "x" * 100_000, "🚐\u0000id", "../../etc/passwd", "j\nk"]
BAD_STAMPS = ["1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-03-02T14:00:00Z"]
BAD_DURATIONS = ["-1s", "0s", "315576000000s", "-315576000000s", "0.000000001s", "86400000s"]
#: Time zones a console may send: unknown, path-like, huge, odd case, and good ones.
BAD_ZONES = ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "x" * 100_000, "america/denver", "UTC+7",
             "America/Denver\u0000", " ", "EST5EDT", "America/Denver", "Etc/GMT+7"]  # fmt: skip


def mutate(day: dict[str, Any], kind: str, i: int, pick: int) -> None:
    """Apply one nasty of ``kind`` to ``day`` (``i`` chooses the element, ``pick`` the value)."""
    job, tech = _job(day, i), _tech(day, i)
    if kind == "coordinate":
        target = job["location"] if pick % 2 else tech["start_location"]
        target["lat" if pick % 3 else "lng"] = BAD_NUMBERS[pick % len(BAD_NUMBERS)]
    elif kind == "job_id":
        job["id"] = BAD_IDS[pick % len(BAD_IDS)]
    elif kind == "duplicate_id":
        job["id"] = day["jobs"][0]["id"] if pick % 2 else job["id"]
        if not pick % 2:
            tech["id"] = day["technicians"][0]["id"]
            day["technicians"].append(copy.deepcopy(day["technicians"][0]))
        else:
            day["jobs"].append(copy.deepcopy(day["jobs"][0]))
    elif kind == "tech_id":
        tech["id"] = BAD_IDS[pick % len(BAD_IDS)]
    elif kind == "window":
        w = job.setdefault("time_windows", [{}])
        if not w:
            w.append({})
        w[0]["start"] = BAD_STAMPS[pick % len(BAD_STAMPS)]
        w[0]["end"] = BAD_STAMPS[(pick // 4) % len(BAD_STAMPS)]
    elif kind == "many_windows":
        job["time_windows"] = [copy.deepcopy(job["time_windows"][0])] * (1 + pick % 3000)
    elif kind == "shift":
        tech["shift"] = {"start": BAD_STAMPS[pick % 4], "end": BAD_STAMPS[(pick // 4) % 4]}
    elif kind == "break":
        tech["breaks"] = [{"window": tech["shift"], "duration": BAD_DURATIONS[pick % len(BAD_DURATIONS)]}]
    elif kind == "service_duration":
        job["service_duration"] = BAD_DURATIONS[pick % len(BAD_DURATIONS)]
    elif kind == "respond_within":
        job["priority"] = "EMERGENCY"
        job["respond_within"] = BAD_DURATIONS[pick % len(BAD_DURATIONS)]
    elif kind == "priority":
        job["priority"] = [99, -1, 4, 0][pick % 4]
    elif kind == "travel_model":
        day["options"]["travel_model"] = [99, 1, 2, -5][pick % 4]
    elif kind == "time_limit":
        day["options"]["time_limit"] = BAD_DURATIONS[pick % len(BAD_DURATIONS)]
    elif kind == "emergency_weight":
        day["options"]["emergency_weight"] = [-1, 1_001, 2**31 - 1, -(2**31)][pick % 4]
    elif kind == "parts":
        job["required_parts"] = {"filter_16x25": [-1, 0, 2**31 - 1][pick % 3]}
        tech["parts"] = {BAD_IDS[pick % len(BAD_IDS)] or "p": [-5, 2**31 - 1, 0][pick % 3]}
    elif kind == "skills":
        job["required_skills"] = [BAD_IDS[pick % len(BAD_IDS)]] * (1 + pick % 50)
    elif kind == "pin":
        job["pinned_technician_id"] = ["nobody", "", tech["id"], "x" * 5000][pick % 4]
    elif kind == "matrix":
        n = len(day["jobs"]) + 2 * len(day["technicians"])
        size = [n, n - 1, 0, 3, 100_000][pick % 5]
        values = [60] * (max(0, min(size, 500)) ** 2)
        if values and pick % 3 == 0:
            values[pick % len(values)] = -7
        day["options"]["travel_model"] = "EXPLICIT"
        day["travel_matrix"] = {"size": size, "durations_seconds": values}
        for k, place in enumerate(
            [j["location"] for j in day["jobs"]] + [t["start_location"] for t in day["technicians"]]
        ):
            place["matrix_index"] = [k, -1, 10**6, k][pick % 4] if k == i % 3 else k
    elif kind == "empty":
        day[["jobs", "technicians"][pick % 2]] = []
    elif kind == "start_time":
        day["start_time"] = BAD_STAMPS[pick % len(BAD_STAMPS)]
    elif kind == "plan_id":
        day["plan_id"] = BAD_IDS[pick % len(BAD_IDS)]
    elif kind == "phone":
        job["customer"]["phone"] = ["x" * 10_000, "", "+1 (303) 555-0199", "\u202e911"][pick % 4]
    elif kind == "location_missing":
        job["location"] = {} if pick % 2 else {"address": "x" * (1 + pick % 5000)}
    elif kind == "time_zone":
        day["time_zone"] = BAD_ZONES[pick % len(BAD_ZONES)]
    elif kind == "overtime":
        tech["overtime"] = [
            {"max_extra": BAD_DURATIONS[pick % len(BAD_DURATIONS)]},
            {"max_extra": "3600s", "cost_per_hour": BAD_NUMBERS[pick % len(BAD_NUMBERS)]},
            {"max_extra": "7200s", "cost_per_hour": 90},
        ][pick % 3]
    elif kind == "balance":
        options = day.setdefault("options", {})
        options["balance"] = ["WORK_TIME", "JOB_COUNT", "NONE", 7, -1][pick % 5]
        options["balance_weight"] = [*BAD_NUMBERS, 1.0, 100.0][pick % (len(BAD_NUMBERS) + 2)]
        if pick % 3 == 0:
            options["travel_cost_per_hour"] = BAD_NUMBERS[pick % len(BAD_NUMBERS)]
    elif kind == "shifts":
        mutate_shifts(tech, pick)
    elif kind == "days":
        job["earliest_day"], job["latest_day"] = BAD_DAYS[pick % len(BAD_DAYS)], BAD_DAYS[(pick // 8) % len(BAD_DAYS)]
    elif kind == "crew":
        job["technicians_required"] = [0, 1, 2, 3, 4, -1, 2**31 - 1][pick % 7]
        job["required_skills_any_member"] = [[], ["hvac"], ["nobody_has_this"], [""], ["x" * 5000]][(pick // 7) % 5]
    elif kind == "preferred":
        job["preferred_technician_ids"] = [*BAD_IDS, "mike", "rosa"][pick % 3 :][: 1 + pick % 4]


#: Local dates a console may send for earliest_day/latest_day: good ones, far ones, not dates.
BAD_DAYS = ["2026-03-02", "2026-03-03", "", "9999-12-31", "0001-01-01", "2026-02-30", "x" * 1000, "2026-3-2"]


def mutate_shifts(tech: dict[str, Any], pick: int) -> None:
    """``tech`` working several days: well (today and tomorrow) or badly (both shift and shifts,
    overlapping, unnamed, duplicated, reversed, too many)."""
    one = {"id": "today", "window": copy.deepcopy(tech["shift"]), "breaks": copy.deepcopy(tech.get("breaks", []))}
    later = copy.deepcopy(one)
    later["id"] = "tomorrow"
    for field in ("start", "end"):
        later["window"][field] = (
            later["window"][field].replace("2026-03-02", "2026-03-03").replace("2026-03-03T0", "2026-03-04T0")
        )
    shifts = [one, later]
    variant = pick % 7
    if variant == 1:
        later["window"] = copy.deepcopy(one["window"])  # overlapping
    elif variant == 2:
        later["id"] = "" if pick % 2 else "today"  # unnamed or duplicated
    elif variant == 3:
        later["window"] = {"start": later["window"]["end"], "end": later["window"]["start"]}  # reversed
    elif variant == 4:
        shifts = [{**copy.deepcopy(one), "id": f"s{k}"} for k in range(15 + pick % 100)]  # too many (and overlapping)
    elif variant == 5:
        later["start_location"] = {"lat": BAD_NUMBERS[pick % len(BAD_NUMBERS)], "lng": 0.0}
        later["parts"] = {"filter_16x25": -1 if pick % 2 else 2}
    tech["shifts"] = shifts
    if variant != 6:  # 6: shift and breaks left beside shifts (refused)
        tech.pop("shift", None)
        tech.pop("breaks", None)


KINDS = [
    "coordinate", "job_id", "duplicate_id", "tech_id", "window", "many_windows", "shift", "break",
    "service_duration", "respond_within", "priority", "travel_model", "time_limit", "emergency_weight", "parts",
    "skills", "pin", "matrix", "empty", "start_time", "plan_id", "phone", "location_missing", "time_zone",
    "overtime", "balance", "shifts", "days", "preferred", "crew",
]  # fmt: skip

MUTATIONS = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 50), st.integers(0, 10_000)), min_size=1, max_size=3
)


def request_of(mutations: list[tuple[str, int, int]]) -> pb.SolveRequest | None:
    day = copy.deepcopy(BASE)
    for kind, i, pick in mutations:
        if (kind in ("window", "shift", "break") and not day["jobs"]) or not day["technicians"] or not day["jobs"]:
            continue
        if kind in ("shift", "break", "shifts") and "shift" not in _tech(day, i):
            continue  # this technician already works in shifts
        mutate(day, kind, i, pick)
    try:
        return json_format.ParseDict(day, pb.SolveRequest())
    except json_format.ParseError:
        return None  # not even a SolveRequest (the client library refuses it): nothing to send


@corpus(1100)  # some are not even SolveRequests: at least 1,000 reach the server
@given(MUTATIONS)
def test_every_malformed_request_is_refused_by_field_or_planned_never_a_crash(stub, mutations):
    request = request_of(mutations)
    if request is None:
        SEEN["unparsable"] = SEEN.get("unparsable", 0) + 1
        return
    try:
        reply = stub.Solve(request, timeout=60)
        code = grpc.StatusCode.OK
    except grpc.RpcError as err:
        code = err.code()
        assert code in ANSWERS, (code, err.details(), mutations)
        assert field_violations(err), (err.details(), mutations)  # every refusal names its fields
        REFUSED.append(request)
    else:  # a plan: one the independent checker accepts
        check = stub.Validate(pb.ValidateRequest(request=request, plan=reply.plan), timeout=60)
        assert check.feasible, ([v.message for v in check.violations][:3], mutations)
    SEEN[code.name] = SEEN.get(code.name, 0) + 1


# ---------------------------------------------------------------------------- Reoptimize

LIVE = copy.deepcopy(BASE)
LIVE["plan_id"] = "live-base"
NOW = "2026-03-02T17:00:00Z"  # two hours into the day
LIVE_STATE: dict[str, Any] = {}
LIVE_ANSWERS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.FAILED_PRECONDITION,  # an assign the day cannot honour
}
TECH_IDS = ["mike", "rosa", "ghost", "", "x" * 5000]
JOB_IDS = ["job-0", "job-3", "job-5", "nobody", "", "🚐\u0000id"]


def live_plan(stub) -> pb.Plan:
    """The pristine live day: solved again after a re-plan that changed it."""
    if LIVE_STATE.get("dirty", True):
        LIVE_STATE["plan"] = stub.Solve(json_format.ParseDict(copy.deepcopy(LIVE), pb.SolveRequest()), timeout=30).plan
        LIVE_STATE["dirty"] = False
    return LIVE_STATE["plan"]


def event_of(kind: str, i: int, pick: int) -> list[dict[str, Any]]:
    """One to thousands of events of ``kind``, bad or good (``i`` and ``pick`` choose)."""
    if kind == "new_job":
        job = copy.deepcopy(_job(LIVE, i))
        job["id"] = f"new-{pick}"
        day = {"jobs": [job], "technicians": copy.deepcopy(LIVE["technicians"]), "options": {}}
        mutate(day, ["coordinate", "job_id", "service_duration", "respond_within", "priority", "skills", "window",
                     "location_missing", "phone", "pin"][pick % 10], 0, pick)  # fmt: skip
        if pick % 7 == 0:
            job["id"] = LIVE["jobs"][0]["id"]  # a job the day has already
        return [{"new_job": job}]
    if kind == "cancel":
        return [{"cancel_job": {"job_id": JOB_IDS[pick % len(JOB_IDS)]}}] * (1 + pick % 2)  # twice: a repeat
    if kind == "progress":
        progress: dict[str, Any] = {
            "technician_id": TECH_IDS[pick % len(TECH_IDS)],
            "kind": ["DEPARTED", "ARRIVED", "COMPLETED", "POSITION", 0, 99][(pick // 5) % 6],
            "job_id": JOB_IDS[(pick // 3) % len(JOB_IDS)],
        }
        if pick % 4 == 0:
            progress["location"] = {"lat": BAD_NUMBERS[pick % len(BAD_NUMBERS)], "lng": -104.9}
        if pick % 3 == 0:
            progress["time"] = BAD_STAMPS[pick % len(BAD_STAMPS)]
        if pick % 5 == 1:  # an invoice (COMPLETED only), its fields too long at times
            long = "x" * (10 + (pick % 3) * 1_000)
            progress["invoice"] = {"number": long, "total": "$249.00", "payment_link": BAD_IDS[pick % len(BAD_IDS)]}
        return [{"progress": progress}]
    if kind == "delay":
        return [{"delay": {"job_id": JOB_IDS[pick % len(JOB_IDS)], "extra": BAD_DURATIONS[i % len(BAD_DURATIONS)]}}]
    if kind == "unavailable":
        away: dict[str, Any] = {"technician_id": TECH_IDS[pick % len(TECH_IDS)]}
        if pick % 2:
            away["from"] = BAD_STAMPS[i % len(BAD_STAMPS)]
        return [{"technician_unavailable": away}]
    if kind == "added":
        tech = copy.deepcopy(_tech(LIVE, i))
        tech["id"] = ["extra", "mike", "", "x" * 5000][pick % 4]
        day = {"jobs": copy.deepcopy(LIVE["jobs"]), "technicians": [tech], "options": {}}
        mutate(day, ["coordinate", "shift", "break", "parts", "skills"][pick % 5], 0, pick)
        return [{"technician_added": tech}]
    if kind == "many":
        return [{"cancel_job": {"job_id": f"ghost-{k}"}} for k in range(1 + pick % 5000)]
    return [{}]  # an event that is none of them


LIVE_KINDS = ["new_job", "cancel", "progress", "delay", "unavailable", "added", "many", "empty",
              "plan_id", "version", "time", "options",
              "assign", "unassign", "release", "lock_route", "scope"]  # fmt: skip
OVERRIDE_KINDS = ["assign", "unassign", "release", "lock_route"]  # the dispatcher's overrides

OVERRIDE_JOB_IDS = ["job-0", "job-1", "job-3", "job-5", "nobody", "", "x" * 100_000, "🚐\u0000id"]
OVERRIDE_TECH_IDS = ["mike", "rosa", "mike", "ghost", "", "x" * 100_000]
#: lock_route.until as JSON: long ago, far ahead, just before and after now, beyond the 31 days a plan looks ahead.
UNTIL_STAMPS = [*BAD_STAMPS, "2026-03-02T16:00:00Z", "2026-03-02T19:30:00Z", "2026-04-15T00:00:00Z"]
#: Timestamps no JSON carries (seconds, nanos), set on the message after parsing: int64's ends, year 10000,
#: nanos out of their range.
_NOW_S = int(datetime(2026, 3, 2, 17, tzinfo=UTC).timestamp())
RAW_STAMPS = [(2**63 - 1, 0), (-(2**63), 0), (253402300800, 0), (_NOW_S + 3600, -1), (_NOW_S + 3600, 10**9),
              (_NOW_S, 2**31 - 1), (-1, -(2**31))]  # fmt: skip
SCOPES = [99, -1, 2**31 - 1, 1, 2, 3, 0]  # unknown numbers; TIMES_ONLY, RESEQUENCE, REASSIGN, unset


def override_of(kind: str, i: int, pick: int) -> tuple[list[dict[str, Any]], list[tuple[int, int, int]]]:
    """A dispatcher's override of ``kind`` (assign, unassign, release, lock_route) with bad ids or times, in
    a context that makes it wrong (the job cancelled, completed or under way, the technician gone, the
    event twice ...); and the (event offset, seconds, nanos) of the lock_route ``until``s to set raw."""
    job_id, tech_id = OVERRIDE_JOB_IDS[pick % len(OVERRIDE_JOB_IDS)], OVERRIDE_TECH_IDS[i % len(OVERRIDE_TECH_IDS)]
    other = "rosa" if tech_id == "mike" else "mike"
    raw: list[tuple[int, int, int]] = []
    if kind == "assign":
        event: dict[str, Any] = {"assign": {"job_id": job_id, "technician_id": tech_id}}
    elif kind == "unassign":
        event = {"unassign": {"job_id": job_id}}
    elif kind == "release":
        event = {"release": {"job_id": job_id}}
    else:
        lock: dict[str, Any] = {"technician_id": tech_id}
        u = (pick // 64) % (1 + len(UNTIL_STAMPS) + len(RAW_STAMPS))
        if 0 < u <= len(UNTIL_STAMPS):
            lock["until"] = UNTIL_STAMPS[u - 1]
        elif u > len(UNTIL_STAMPS):
            lock["until"] = NOW
            raw.append((0, *RAW_STAMPS[u - 1 - len(UNTIL_STAMPS)]))
        event = {"lock_route": lock}
    before: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    setup = (pick // 8) % 8
    if setup == 7 and kind == "assign":  # a job of a skill the technician lacks: FAILED_PRECONDITION
        event["assign"]["job_id"] = {"mike": "job-3", "rosa": "job-2"}.get(tech_id, job_id)
    if setup == 1:  # the job cancelled first
        before = [{"cancel_job": {"job_id": job_id}}]
    elif setup == 2:  # the job done
        before = [{"progress": {"technician_id": other, "kind": "COMPLETED", "job_id": job_id}}]
    elif setup == 3:  # the technician gone for the day
        before = [{"technician_unavailable": {"technician_id": tech_id}}]
    elif setup == 4:  # the job under way with someone else
        before = [{"progress": {"technician_id": other, "kind": "ARRIVED", "job_id": job_id}}]
    elif setup == 5:  # the event twice (released twice, held twice, assigned twice, locked twice)
        after = [copy.deepcopy(event)]
    elif setup == 6 and kind == "assign":  # a new job no technician can do, put on one: FAILED_PRECONDITION
        job = burst_pipe(id=f"unfit-{pick}", required_skills=["plumbing", "nobody-has-this"])
        event["assign"]["job_id"] = job["id"]
        before = [{"new_job": job}]
    elif setup == 6 and kind in ("unassign", "release"):  # held, released, released again
        before = [{"unassign": {"job_id": job_id}}, {"release": {"job_id": job_id}}] if kind == "release" else []
        after = [] if kind == "release" else [{"release": {"job_id": job_id}}, {"release": {"job_id": job_id}}]
    raw = [(k + len(before), s, n) for k, s, n in raw]
    return [*before, event, *after], raw


def replan_of(plan: pb.Plan, mutations: list[tuple[str, int, int]]) -> pb.ReoptimizeRequest | None:
    body: dict[str, Any] = {"plan_id": plan.plan_id, "expected_version": str(plan.version), "time": NOW, "events": []}
    body["options"] = {"time_limit": "0.2s"}
    raw: list[tuple[int, int, int]] = []  # lock_route untils no JSON carries
    for kind, i, pick in mutations:
        if kind == "plan_id":
            body["plan_id"] = BAD_IDS[pick % len(BAD_IDS)]
        elif kind == "version":
            body["expected_version"] = str([-1, 10**12, 0, plan.version + 1][pick % 4])
        elif kind == "time":
            body["time"] = BAD_STAMPS[pick % len(BAD_STAMPS)]
        elif kind == "options":
            body["options"] = {
                "time_limit": BAD_DURATIONS[pick % len(BAD_DURATIONS)],
                "reassign_penalty": BAD_DURATIONS[i % len(BAD_DURATIONS)],
                "promise_weight": [-5, 10**6, 0, 2**31 - 1][pick % 4],
                "emergency_weight": [2**31 - 1, -1, 3, 10**6][i % 4],
            }
        elif kind == "scope":
            body["options"]["change_scope"] = SCOPES[pick % len(SCOPES)]
        elif kind in OVERRIDE_KINDS:
            events, stamps = override_of(kind, i, pick)
            raw.extend((k + len(body["events"]), s, n) for k, s, n in stamps)
            body["events"].extend(events)
        else:
            body["events"].extend(event_of(kind, i, pick))
    try:
        request = json_format.ParseDict(body, pb.ReoptimizeRequest())
    except json_format.ParseError:
        return None
    for k, seconds, nanos in raw:
        request.events[k].lock_route.until.seconds = seconds
        request.events[k].lock_route.until.nanos = nanos
    return request


LIVE_MUTATIONS = st.lists(  # the dispatcher's overrides twice as often as the other kinds
    st.tuples(st.sampled_from([*LIVE_KINDS, *OVERRIDE_KINDS]), st.integers(0, 50), st.integers(0, 10_000)),
    min_size=1,
    max_size=3,
)


SOLVE_OPTIONS = set(pb.SolveOptions.DESCRIPTOR.fields_by_name)
EVENT_PATH = re.compile(r"events\[(\d+)\](?:\.(\w+))?")


def misnamed_replan_fields(fields: dict[str, str], request: pb.ReoptimizeRequest) -> list[str]:
    """The violations' paths that name no field of ``request``: an event's path names its index and its kind
    (``events[3].assign.job_id`` of an ``assign``), an option one of SolveOptions' fields."""
    wrong = []
    for path in fields:
        event = EVENT_PATH.match(path)
        if event:
            k = int(event[1])
            if k >= len(request.events) or event[2] != request.events[k].WhichOneof("event"):
                wrong.append(path)
        elif path.startswith("options."):
            if path.split(".")[1] not in SOLVE_OPTIONS:
                wrong.append(path)
        elif path not in ("plan_id", "expected_version", "time", "events", "…"):  # …: more than the details hold
            wrong.append(path)
    return wrong


@corpus(400)
@given(LIVE_MUTATIONS, st.booleans())
def test_every_malformed_replan_is_refused_by_field_or_answered_never_a_crash(stub, mutations, streaming):
    plan = live_plan(stub)
    request = replan_of(plan, mutations)
    if request is None:
        SEEN["replan unparsable"] = SEEN.get("replan unparsable", 0) + 1
        return
    if {kind for kind, _, _ in mutations} & {*OVERRIDE_KINDS, "scope"}:
        SEEN["replan with overrides or scope"] = SEEN.get("replan with overrides or scope", 0) + 1
    try:
        if streaming:
            updates = list(stub.ReoptimizeStream(request, timeout=30))
            reply = updates[-1].result
            assert updates[-1].final
        else:
            reply = stub.Reoptimize(request, timeout=30)
        code = grpc.StatusCode.OK
    except grpc.RpcError as err:
        code = err.code()
        assert code in LIVE_ANSWERS, (code, err.details(), mutations)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            fields = field_violations(err)
            assert fields, (err.details(), mutations)
            assert not misnamed_replan_fields(fields, request), (fields, mutations)
        elif code == grpc.StatusCode.FAILED_PRECONDITION:  # names each assign it cannot honour, and why
            failure = details(err, error_details_pb2.PreconditionFailure)
            assert failure is not None and failure.violations, (err.details(), mutations)
            for v in failure.violations:
                event = EVENT_PATH.fullmatch(v.subject)
                assert event and event[2] == "assign" == request.events[int(event[1])].WhichOneof("event"), v
                assert v.description, v
    else:
        # A mutated plan_id may name another stored plan (the Solve test stores plans under odd but valid ids).
        assert reply.plan.plan_id == request.plan_id
        assert request.plan_id != plan.plan_id or reply.plan.version > plan.version
        assert not [w for w in reply.plan.stats.warnings if w.startswith("checker")], reply.plan.stats.warnings
        LIVE_STATE["dirty"] = True
    SEEN[f"replan {code.name}"] = SEEN.get(f"replan {code.name}", 0) + 1


# ---------------------------------------------------------------------------- SuggestTechnicians

#: The Solve corpus's nasties that a lone job can carry (``known_id``: a job the day has already).
SUGGEST_JOB_KINDS = ["coordinate", "job_id", "window", "many_windows", "service_duration", "respond_within",
                     "priority", "parts", "skills", "pin", "phone", "location_missing", "matrix", "known_id"]  # fmt: skip
SUGGEST_KINDS = [*SUGGEST_JOB_KINDS, "no_job", "plan_id", "version", "time", "raw_time", "max_options"]
SUGGEST_ROOTS = ("job", "max_options", "plan_id", "expected_version", "time")


def suggestion_of(plan: pb.Plan, mutations: list[tuple[str, int, int]]) -> pb.SuggestTechniciansRequest | None:
    """A request for options for an emergency (or a copy of one of the day's jobs), with ``mutations``."""
    first = mutations[0][1]
    if first % 2:
        job = copy.deepcopy(_job(LIVE, first // 2))
        job["id"] = f"asked-{first}"
    else:
        job = burst_pipe(
            customer={"name": "Asker", "phone": "+13035550142"},
            time_windows=[{"start": NOW, "end": "2026-03-02T21:00:00Z"}],
        )
    body: dict[str, Any] = {"plan_id": plan.plan_id, "expected_version": str(plan.version), "time": NOW, "job": job}
    raw: tuple[int, int] | None = None
    for kind, i, pick in mutations:
        if kind == "known_id":
            job["id"] = _job(LIVE, pick)["id"]
        elif kind in SUGGEST_JOB_KINDS:
            day = {"jobs": [job], "technicians": copy.deepcopy(LIVE["technicians"]), "options": {}}
            mutate(day, kind, i, pick)
        elif kind == "no_job":
            body.pop("job", None)
        elif kind == "plan_id":
            body["plan_id"] = [*BAD_IDS, "never-made"][pick % (len(BAD_IDS) + 1)]
        elif kind == "version":
            body["expected_version"] = str([-1, 10**12, max(plan.version - 1, 0), plan.version + 1, -(2**63)][pick % 5])
        elif kind == "time":
            body["time"] = [*BAD_STAMPS, "2026-04-15T00:00:00Z", None][pick % (len(BAD_STAMPS) + 2)]
            if body["time"] is None:
                del body["time"]  # the server's clock
        elif kind == "raw_time":
            raw = RAW_STAMPS[pick % len(RAW_STAMPS)]
        elif kind == "max_options":
            body["max_options"] = [-1, -(2**31), 201, 2**31 - 1, 1, 200, 0][pick % 7]
    try:
        request = json_format.ParseDict(body, pb.SuggestTechniciansRequest())
    except json_format.ParseError:
        return None
    if raw is not None:
        request.time.seconds, request.time.nanos = raw
    return request


@corpus(500)
@given(
    st.lists(
        st.tuples(st.sampled_from(SUGGEST_KINDS), st.integers(0, 50), st.integers(0, 10_000)), min_size=1, max_size=3
    )
)
def test_every_malformed_suggest_request_is_refused_by_field_or_answered_never_a_crash(stub, mutations):
    plan = live_plan(stub)
    request = suggestion_of(plan, mutations)
    if request is None:
        SEEN["suggest unparsable"] = SEEN.get("suggest unparsable", 0) + 1
        return
    kinds = {kind for kind, _, _ in mutations}
    try:
        reply = stub.SuggestTechnicians(request, timeout=30)
        code = grpc.StatusCode.OK
    except grpc.RpcError as err:
        code = err.code()
        assert code in LIVE_ANSWERS - {grpc.StatusCode.FAILED_PRECONDITION}, (code, err.details(), mutations)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            fields = field_violations(err)
            assert fields, (err.details(), mutations)
            wrong = [f for f in fields if f != "…" and f.split(".")[0].split("[")[0] not in SUGGEST_ROOTS]
            assert not wrong, (fields, mutations)
        elif code == grpc.StatusCode.NOT_FOUND:  # a plan never made
            assert "plan_id" in kinds, (err.details(), mutations)
        elif code == grpc.StatusCode.ABORTED:  # a stale version (or the live one's, of another stored plan)
            assert kinds & {"version", "plan_id"}, (err.details(), mutations)
    else:
        # Options for the job, at most as many as asked, the feasible first; nothing stored.
        assert reply.plan_id == request.plan_id
        assert len(reply.options) <= (request.max_options or 5), (len(reply.options), mutations)
        feasible = [o.feasible for o in reply.options]
        assert feasible == sorted(feasible, reverse=True), feasible
        for option in reply.options:
            assert option.note, option
            assert not option.feasible or option.start.ToSeconds() >= option.arrival.ToSeconds(), option
        if request.plan_id == plan.plan_id:
            assert reply.plan_version == plan.version
            techs = [o.technician_id for o in reply.options]
            assert len(set(techs)) == len(techs) and set(techs) <= {t["id"] for t in LIVE["technicians"]}, techs
    SEEN[f"suggest {code.name}"] = SEEN.get(f"suggest {code.name}", 0) + 1


# ---------------------------------------------------------------------------- SuggestSlots

SLOT_KINDS = [
    *SUGGEST_JOB_KINDS,
    "no_job",
    "plan_id",
    "time",
    "slots",
    "many_slots",
    "slot_length",
    "days",
    "max_options",
]
SLOT_ROOTS = ("job", "max_options", "plan_id", "expected_version", "time", "slots", "slot_length", "days")


def slots_of(plan: pb.Plan, mutations: list[tuple[str, int, int]]) -> pb.SuggestSlotsRequest | None:
    """A "when can you come?" for a copy of one of the day's jobs, with ``mutations``."""
    job = copy.deepcopy(_job(LIVE, mutations[0][1]))
    job["id"] = f"asked-{mutations[0][1]}"
    body: dict[str, Any] = {"plan_id": plan.plan_id, "time": NOW, "job": job}
    for kind, i, pick in mutations:
        if kind == "known_id":
            job["id"] = _job(LIVE, pick)["id"]
        elif kind in SUGGEST_JOB_KINDS:
            day = {"jobs": [job], "technicians": copy.deepcopy(LIVE["technicians"]), "options": {}}
            mutate(day, kind, i, pick)
        elif kind == "no_job":
            body.pop("job", None)
        elif kind == "plan_id":
            body["plan_id"] = [*BAD_IDS, "never-made"][pick % (len(BAD_IDS) + 1)]
        elif kind == "time":
            body["time"] = [*BAD_STAMPS, "2026-04-15T00:00:00Z"][pick % (len(BAD_STAMPS) + 1)]
        elif kind == "slots":
            a, b = BAD_STAMPS[pick % len(BAD_STAMPS)], BAD_STAMPS[(pick // 4) % len(BAD_STAMPS)]
            body["slots"] = [{"start": a, "end": b}, {"start": NOW}]
        elif kind == "many_slots":
            body["slots"] = [{"start": NOW, "end": "2026-03-02T19:00:00Z"}] * (1 + pick % 400)
        elif kind == "slot_length":
            body["slot_length"] = BAD_DURATIONS[pick % len(BAD_DURATIONS)]
        elif kind == "days":
            body["days"] = [-1, 15, 2**31 - 1, 14, 1][pick % 5]
        elif kind == "max_options":
            body["max_options"] = [-1, -(2**31), 201, 2**31 - 1, 1, 200, 0][pick % 7]
    try:
        return json_format.ParseDict(body, pb.SuggestSlotsRequest())
    except json_format.ParseError:
        return None


@corpus(150)
@given(
    st.lists(st.tuples(st.sampled_from(SLOT_KINDS), st.integers(0, 50), st.integers(0, 10_000)), min_size=1, max_size=3)
)
def test_every_malformed_slots_request_is_refused_by_field_or_answered_never_a_crash(stub, mutations):
    plan = live_plan(stub)
    request = slots_of(plan, mutations)
    if request is None:
        SEEN["slots unparsable"] = SEEN.get("slots unparsable", 0) + 1
        return
    kinds = {kind for kind, _, _ in mutations}
    try:
        reply = stub.SuggestSlots(request, timeout=30)
        code = grpc.StatusCode.OK
    except grpc.RpcError as err:
        code = err.code()
        assert code in {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}, (code, err.details(), mutations)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            fields = field_violations(err)
            assert fields, (err.details(), mutations)
            wrong = [f for f in fields if f != "…" and f.split(".")[0].split("[")[0] not in SLOT_ROOTS]
            assert not wrong, (fields, mutations)
        else:
            assert "plan_id" in kinds, (err.details(), mutations)
    else:
        assert len(reply.options) <= (request.max_options or 5)
        for o in reply.options:
            assert o.window.start.ToSeconds() <= o.start.ToSeconds() <= o.window.end.ToSeconds(), o
    SEEN[f"slots {code.name}"] = SEEN.get(f"slots {code.name}", 0) + 1


# ---------------------------------------------------------------------------- NotifyCustomer

NOTIFY_ROOTS = ("kind", "plan_id", "job_id", "phone", "variables", "request_id")
NOTIFY_KINDS = ["kind", "plan_id", "job_id", "phone", "variables", "many_variables", "request_id", "both"]


def notice_of(plan: pb.Plan, mutations: list[tuple[str, int, int]]) -> pb.NotifyCustomerRequest | None:
    """A payment reminder for one of the day's customers (or a bare number), with ``mutations``."""
    body: dict[str, Any] = {
        "kind": "payment_reminder",
        "variables": {"invoice_number": "INV-1", "invoice_total": "$80.00"},
    }
    if mutations[0][1] % 2:
        body["phone"] = "+13035550142"
    else:
        body |= {"plan_id": plan.plan_id, "job_id": _job(LIVE, mutations[0][1])["id"]}
    for kind, i, pick in mutations:
        if kind == "kind":
            body["kind"] = ["en_route", "", "PAYMENT_REMINDER", "service_complete", "x" * 100_000, "🚐"][pick % 6]
        elif kind == "plan_id":
            body["plan_id"] = [*BAD_IDS, "never-made"][pick % (len(BAD_IDS) + 1)]
        elif kind == "job_id":
            body["job_id"] = [*OVERRIDE_JOB_IDS][pick % len(OVERRIDE_JOB_IDS)]
        elif kind == "phone":
            body["phone"] = ["x" * 10_000, "", "+1 (303) 555-0199", "\u202e911", "555-0199", "+0123456789"][pick % 6]
        elif kind == "variables":
            name = ["tracking_link", "eta", "", "x" * 5_000, "payment_link", "customer_name"][pick % 6]
            body["variables"][name] = ["", "x" * (1 + pick % 3) * 700, "🚐\u0000", "$1"][i % 4]
        elif kind == "many_variables":
            body["variables"] = {f"v{k}": "x" for k in range(1 + pick % 500)}
        elif kind == "request_id":
            body["request_id"] = ["a b", "x" * 129, "ok-1", "🚐", ""][pick % 5]
        elif kind == "both":
            body |= {"plan_id": plan.plan_id, "job_id": _job(LIVE, i)["id"], "phone": "+13035550142"}
    try:
        return json_format.ParseDict(body, pb.NotifyCustomerRequest())
    except json_format.ParseError:
        return None


@corpus(200)
@given(
    st.lists(
        st.tuples(st.sampled_from(NOTIFY_KINDS), st.integers(0, 50), st.integers(0, 10_000)), min_size=1, max_size=3
    )
)
def test_every_malformed_notify_request_is_refused_by_field_or_queued_never_a_crash(stub, mutations):
    plan = live_plan(stub)
    request = notice_of(plan, mutations)
    if request is None:
        SEEN["notify unparsable"] = SEEN.get("notify unparsable", 0) + 1
        return
    try:
        reply = stub.NotifyCustomer(request, timeout=30)
        code = grpc.StatusCode.OK
    except grpc.RpcError as err:
        code = err.code()
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, err.details(), mutations)
        fields = field_violations(err)
        assert fields, (err.details(), mutations)
        wrong = [f for f in fields if f != "…" and f.split(".")[0].split("[")[0] not in NOTIFY_ROOTS]
        assert not wrong, (fields, mutations)
    else:
        assert reply.message_key, mutations
    SEEN[f"notify {code.name}"] = SEEN.get(f"notify {code.name}", 0) + 1


# ---------------------------------------------------------------------------- Validate, GetPlan, WatchEtas


def plan_mutation(plan: pb.Plan, kind: str, i: int, pick: int) -> None:
    """One nasty in a plan sent back to Validate."""
    visits = [v for r in plan.routes for v in r.visits]
    if kind == "unknown_job" and visits:
        visits[i % len(visits)].job_id = JOB_IDS[pick % len(JOB_IDS)]
    elif kind == "twice" and visits:
        plan.routes[0].visits.add().CopyFrom(visits[i % len(visits)])
    elif kind == "times" and visits:
        visit = visits[i % len(visits)]
        seconds = [-62135596800, 253402300799, 0, -1][pick % 4]
        (visit.start if pick % 2 else visit.arrival).seconds = seconds
    elif kind == "travel" and visits:
        visits[i % len(visits)].travel_duration.seconds = [-5, 315576000000, 0][pick % 3]
    elif kind == "technician" and plan.routes:
        plan.routes[i % len(plan.routes)].technician_id = TECH_IDS[pick % len(TECH_IDS)]
    elif kind == "unassigned":
        plan.unassigned.add(job_id=JOB_IDS[pick % len(JOB_IDS)], reason=pick % 9)
    elif kind == "flood" and plan.routes:
        for _ in range(1 + pick % 3000):
            plan.routes[0].visits.add(job_id="flood")
    elif kind == "empty":
        plan.Clear()


PLAN_KINDS = ["unknown_job", "twice", "times", "travel", "technician", "unassigned", "flood", "empty"]


@corpus(200)
@given(
    st.lists(st.tuples(st.sampled_from(PLAN_KINDS), st.integers(0, 50), st.integers(0, 10_000)), min_size=1, max_size=3)
)
def test_every_malformed_plan_sent_to_validate_is_refused_by_field_or_checked(stub, mutations):
    plan = pb.Plan()
    plan.CopyFrom(live_plan(stub))
    for kind, i, pick in mutations:
        plan_mutation(plan, kind, i, pick)
    request = json_format.ParseDict(copy.deepcopy(LIVE), pb.SolveRequest())
    try:
        check = stub.Validate(pb.ValidateRequest(request=request, plan=plan), timeout=30)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and field_violations(err), (err.details(), mutations)
        outcome = "INVALID_ARGUMENT"
    else:
        assert check.feasible or all(v.code and v.message for v in check.violations)
        outcome = "feasible" if check.feasible else "violations"
    SEEN[f"validate {outcome}"] = SEEN.get(f"validate {outcome}", 0) + 1


@pytest.mark.parametrize(
    "plan_id", ["", " ", "x" * 100_000, "🚐\u0000id", "../../etc/passwd", "never-made", "live-base"]
)
def test_bad_ids_for_getplan_and_watchetas_are_answered(stub, plan_id):
    live_plan(stub)
    answers = []
    for call in (
        lambda: stub.GetPlan(pb.GetPlanRequest(plan_id=plan_id), timeout=10),
        lambda: next(iter(stub.WatchEtas(pb.WatchEtasRequest(plan_id=plan_id), timeout=0.5))),
        lambda: next(iter(stub.WatchEtas(pb.WatchEtasRequest(technician_id=plan_id), timeout=0.5))),
    ):
        try:
            call()
            answers.append(grpc.StatusCode.OK)
        except grpc.RpcError as err:
            answers.append(err.code())
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                assert field_violations(err), err.details()
    # refused by field, a plan never made, or (a watch that is open) nothing to say before its deadline;
    # any string can name a plan (the Solve corpus may have made one under these ids)
    found = [grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.DEADLINE_EXCEEDED]
    unknown = [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DEADLINE_EXCEEDED]
    if plan_id == "":
        assert answers == [grpc.StatusCode.INVALID_ARGUMENT] * 3
    elif plan_id == "live-base":
        assert answers == found
    else:
        assert answers in (found, unknown), (plan_id[:20], answers)


def test_the_server_is_whole_after_the_corpora(remote, stub):
    health = health_pb2_grpc.HealthStub(remote.channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=2).status == health_pb2.HealthCheckResponse.SERVING
    reply = stub.Solve(json_format.ParseDict(copy.deepcopy(BASE), pb.SolveRequest()), timeout=30)
    assert len(reply.plan.routes) >= 1  # the workers still plan
    figures = remote.metrics()
    assert figures["dispatch_solver_workers_busy"] == 0 and figures["dispatch_solver_queue_depth"] == 0  # none hung
    assert figures.get("dispatch_solver_worker_restarts_total", 0) == 0  # none crashed, none killed
    print(f"bad-input corpora: {SEEN}")
    if "OK" in SEEN or "INVALID_ARGUMENT" in SEEN:  # the Solve corpus ran here: mostly refusals, some plans
        sent = sum(n for k, n in SEEN.items() if " " not in k and k != "unparsable")
        assert sent >= 1000 and SEEN.get("INVALID_ARGUMENT", 0) > 0 and SEEN.get("OK", 0) > 0, SEEN
    if any(k.startswith("replan") for k in SEEN):
        assert SEEN.get("replan INVALID_ARGUMENT", 0) > 0 and SEEN.get("replan OK", 0) > 0, SEEN
        assert SEEN.get("replan FAILED_PRECONDITION", 0) > 0, SEEN  # an assign the day cannot honour, named
    if any(k.startswith("suggest") for k in SEEN):
        assert SEEN.get("suggest INVALID_ARGUMENT", 0) > 0 and SEEN.get("suggest OK", 0) > 0, SEEN
    if any(k.startswith("validate") for k in SEEN):
        assert SEEN.get("validate violations", 0) > 0, SEEN
    if REFUSED and "before" in MEMORY:
        # The first passes fill what is bounded by design (the newest plans, the ETA stream, the
        # allocator's pools: an id of 100,000 characters raises the high-water mark once); from
        # then on the same malformed requests leave the memory where it was.
        mib = 2**20

        def refuse_all() -> float:
            for request in REFUSED:
                with pytest.raises(grpc.RpcError):
                    stub.Solve(request, timeout=60)
            return remote.metrics()["process_resident_memory_bytes"] / mib

        after = [figures["process_resident_memory_bytes"] / mib] + [refuse_all() for _ in range(6)]
        print(
            f"server memory (MiB): {MEMORY['before'] / mib:.0f} warm; after the corpora and each of 6 more passes "
            f"of its {len(REFUSED)} malformed Solves: {', '.join(f'{m:.0f}' for m in after)}"
        )
        assert after[0] - MEMORY["before"] / mib < 80  # nothing like a request's size kept per request
        # flat once the allocator's pools are full: the last three passes (2,760 refusals) raise the
        # high-water mark of the first four by less than 8 MiB, under 3 KiB a refused request. RSS
        # goes up and down as the allocator returns pages, and how many passes fill its pools varies
        # from run to run (99, 100, 102, 103, 106, 106, 106 MiB in one; 104, 113, 112, 115, 116, 120,
        # 119 in another, on code before and after 2026-12-02 alike): a pass-by-pass bound of 4 MiB
        # failed now and then with no leak.
        assert max(after[4:]) - max(after[:4]) < 8, after
