"""A corpus of malformed requests over gRPC (issue 7, bad input): every one is answered
``INVALID_ARGUMENT`` naming the fields, or with a plan; none crashes the server or hangs a worker.

Hypothesis builds the corpus from a valid small day and one to three mutations from a catalogue
of nasties (NaN and infinite coordinates, empty, duplicate, unicode and enormous ids, windows in
1970 or year 9999 or backwards, negative and enormous durations, unknown enum numbers, matrices of
the wrong size or with negatives, pins to unknown technicians, empty days …). ``derandomize``
makes it the same corpus on every run: a regression test.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.v1 import dispatch_pb2 as pb
from tests.console_requests import small_day
from tests.test_server import field_violations

# a library registers a throwaway Random with Hypothesis on import: its warning says nothing about this test
pytestmark = [pytest.mark.timeout(900), pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")]

BASE = small_day(jobs=6, time_limit="0.2s")
ANSWERS = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
SEEN: dict[str, int] = {}


def _job(day: dict[str, Any], i: int) -> dict[str, Any]:
    return day["jobs"][i % len(day["jobs"])]


def _tech(day: dict[str, Any], i: int) -> dict[str, Any]:
    return day["technicians"][i % len(day["technicians"])]


BAD_NUMBERS = [math.nan, math.inf, -math.inf, 1e308, -91.0, 181.0, 0.0]
BAD_IDS = ["", " ", "x" * 100_000, "🚐\u0000id", "../../etc/passwd", "j\nk"]
BAD_STAMPS = ["1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-03-02T14:00:00Z"]
BAD_DURATIONS = ["-1s", "0s", "315576000000s", "-315576000000s", "0.000000001s", "86400000s"]


def mutate(day: dict[str, Any], kind: str, i: int, pick: int) -> None:  # noqa: C901, PLR0912
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


KINDS = [
    "coordinate", "job_id", "duplicate_id", "tech_id", "window", "many_windows", "shift", "break",
    "service_duration", "respond_within", "priority", "travel_model", "time_limit", "parts", "skills", "pin",
    "matrix", "empty", "start_time", "plan_id", "phone", "location_missing",
]  # fmt: skip

MUTATIONS = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 50), st.integers(0, 10_000)), min_size=1, max_size=3
)


def request_of(mutations: list[tuple[str, int, int]]) -> pb.SolveRequest | None:
    day = copy.deepcopy(BASE)
    for kind, i, pick in mutations:
        if (kind in ("window", "shift", "break") and not day["jobs"]) or not day["technicians"] or not day["jobs"]:
            continue
        mutate(day, kind, i, pick)
    try:
        return json_format.ParseDict(day, pb.SolveRequest())
    except json_format.ParseError:
        return None  # not even a SolveRequest (the client library refuses it): nothing to send


@settings(
    max_examples=1100,  # some are not even SolveRequests: at least 1,000 reach the server
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
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
    else:  # a plan: one the independent checker accepts
        check = stub.Validate(pb.ValidateRequest(request=request, plan=reply.plan), timeout=60)
        assert check.feasible, ([v.message for v in check.violations][:3], mutations)
    SEEN[code.name] = SEEN.get(code.name, 0) + 1


def test_the_server_is_whole_after_the_corpus(channel, stub):
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=2).status == health_pb2.HealthCheckResponse.SERVING
    reply = stub.Solve(json_format.ParseDict(copy.deepcopy(BASE), pb.SolveRequest()), timeout=30)
    assert len(reply.plan.routes) >= 1  # the workers still plan
    print(f"bad-input corpus: {SEEN}")
    if SEEN:  # the corpus ran in this session: it was mostly refusals, some plans
        sent = sum(n for k, n in SEEN.items() if k != "unparsable")
        assert sent >= 1000 and SEEN.get("INVALID_ARGUMENT", 0) > 0 and SEEN.get("OK", 0) > 0, SEEN
