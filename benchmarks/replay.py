"""Replay a dynamic day over gRPC: jobs released during the day, technicians following the plan.

From a shared Solomon or TRSP instance, a share (``--dynamism``, e.g. 0.1 0.5 0.9) of the jobs
is held back and each is released at a random time between the start of the day and the
last moment a technician leaving the depot could still reach it in its window (seed
fixed). The rest is solved at the start of the day. Then, in time order, for each release:

1. the technicians advance along the current plan: every visit whose planned end has
   passed is reported ``COMPLETED`` (at that time), every visit whose planned departure has
   passed is reported ``DEPARTED``;
2. ``ReoptimizeStream`` gets those reports and the ``new_job``, at the release time, against
   the current version;
3. the returned full-day plan is checked by the independent checker against the day as
   known so far (every job released until then), and its diff's broken promises counted.

With ``--overrides P``, the dispatcher overrules the optimizer at a share P of the events: the
same request also assigns a planned job to another technician (``assign``), takes one off the
board (``unassign``), returns a held one (``release``) or locks a technician's route
(``lock_route``, the whole day; a later lock of the same route lifts it). An ``assign`` the day
cannot honour is refused (FAILED_PRECONDITION) and the events are sent again without it. Every
later version is checked to honour every override standing: an assigned job on its technician,
a held job unassigned ``HELD_BY_DISPATCHER``, a locked route's visits on it in their order with
nothing among them.

At the end it solves the same jobs with everything known in advance (the same time limit
as the morning solve) and reports the travel ratio dynamic/static, jobs served, the
latency of the first and of the final plan per event, and the promised windows broken.
Usage::

    python -m benchmarks.replay C101 R101 RC101 --dynamism 0.1 0.5 0.9 [--out benchmarks/results/replay.md]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from benchmarks.health_under_load import percentile
from benchmarks.instances import find_instance, read_trsp, read_vrptw, trsp_request, vrptw_request
from benchmarks.serve import served
from dispatch.check import check_plan
from dispatch.matrix import ExplicitProvider, day_matrix
from dispatch.server.convert import plan_from_proto, problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc


def request_for(name: str, time_limit: float) -> dict[str, Any]:
    inst = find_instance(name)
    if inst.kind == "trsp":
        return trsp_request(read_trsp(inst.path), time_limit=time_limit)
    return vrptw_request(read_vrptw(inst.path), time_limit=time_limit)


def releases(request: dict[str, Any], share: float, rng: random.Random) -> dict[str, int]:
    """Job id -> release time (plan seconds) for ``share`` of the jobs (the rest: known at 0)."""
    size = request["travel_matrix"]["size"]
    durations = request["travel_matrix"]["durations_seconds"]
    epoch = _seconds(request["start_time"])
    homes = [t["start_location"]["matrix_index"] for t in request["technicians"]]
    jobs = list(request["jobs"])
    chosen = rng.sample(jobs, round(share * len(jobs)))
    out = {}
    for job in chosen:
        j = job["location"]["matrix_index"]
        reach = min(int(durations[h * size + j]) for h in homes)
        windows = job.get("time_windows") or []
        latest = max((_seconds(w["end"]) - epoch for w in windows), default=None)
        if latest is None:
            latest = max(_seconds(t["shift"]["end"]) for t in request["technicians"]) - epoch
        out[job["id"]] = rng.randint(0, max(0, latest - reach))
    return out


def _seconds(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


class Replay:
    def __init__(
        self,
        stub: dispatch_pb2_grpc.DispatchStub,
        request: dict[str, Any],
        reopt_limit: float,
        reassign_penalty: float | None = None,
    ) -> None:
        self.stub = stub
        self.request = request
        self.reopt_limit = reopt_limit
        self.options: dict[str, Any] = {"time_limit": f"{reopt_limit}s"}
        if reassign_penalty is not None:
            self.options["reassign_penalty"] = f"{reassign_penalty:g}s"
        self.epoch = _seconds(request["start_time"])
        self.reported: set[tuple[str, str]] = set()
        self.first: list[float] = []
        self.final: list[float] = []
        self.infeasible_versions = 0
        self.checked_versions = 0
        self.broken: set[str] = set()
        self.plan: pb.Plan | None = None
        # The dispatcher's overrides standing, and how often a version did not honour one.
        self.assigned: dict[str, str] = {}
        self.held: set[str] = set()
        self.locked: dict[str, list[str]] = {}
        self.overrides = 0
        self.refused = 0
        self.not_honoured = 0

    def progress(self, now: int) -> list[dict[str, Any]]:
        """Reports of the technicians following the current plan up to ``now`` (plan seconds)."""
        assert self.plan is not None
        events = []
        for route in self.plan.routes:
            for v in route.visits:
                if v.status == pb.VISIT_COMPLETED:
                    continue
                depart = v.arrival.seconds - v.travel_duration.seconds - self.epoch
                end = v.end.seconds - self.epoch
                if depart <= now and (v.job_id, "D") not in self.reported and v.status == pb.VISIT_PLANNED:
                    self.reported.add((v.job_id, "D"))
                    events.append(self._report(route.technician_id, "DEPARTED", v.job_id, depart))
                if end <= now and (v.job_id, "C") not in self.reported:
                    self.reported.add((v.job_id, "C"))
                    events.append(self._report(route.technician_id, "COMPLETED", v.job_id, end))
                if end > now:
                    break
        return events

    def _report(self, tech: str, kind: str, job_id: str, at: int) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(self.epoch + at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"progress": {"technician_id": tech, "kind": kind, "job_id": job_id, "time": stamp}}

    def override(self, now: int, rng: random.Random) -> dict[str, Any] | None:
        """One dispatcher's override of the current plan at ``now`` (plan seconds), or None."""
        assert self.plan is not None
        later = [
            (r.technician_id, v.job_id)
            for r in self.plan.routes
            for v in r.visits
            if v.status == pb.VISIT_PLANNED and v.arrival.seconds - v.travel_duration.seconds - self.epoch > now + 60
        ]
        later = [(t, j) for t, j in later if j not in self.assigned and not any(j in x for x in self.locked.values())]
        techs = [t["id"] for t in self.request["technicians"]]
        kinds = ["assign", "unassign", "lock"] + (["release"] if self.held else [])
        kind = rng.choice(kinds)
        if kind == "release":
            return {"release": {"job_id": rng.choice(sorted(self.held))}}
        if kind == "lock":
            tech = rng.choice(techs)
            return (
                {"lock_route": {"technician_id": tech}}
                if tech not in self.locked
                else {"lock_route": {"technician_id": tech, "until": self._stamp(now)}}
            )
        if not later:
            return None
        owner, job_id = rng.choice(later)
        if kind == "unassign":
            return {"unassign": {"job_id": job_id}}
        others = [t for t in techs if t != owner and t not in self.locked]
        return {"assign": {"job_id": job_id, "technician_id": rng.choice(others)}} if others else None

    def _stamp(self, at: int) -> str:
        return datetime.fromtimestamp(self.epoch + at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def took(self, action: dict[str, Any], now: int) -> None:
        """Record ``action``, sent with the re-plan about to be made."""
        assert self.plan is not None
        self.overrides += 1
        if "assign" in action:
            a = action["assign"]
            self.assigned[a["job_id"]] = a["technician_id"]
            self.held.discard(a["job_id"])
        elif "unassign" in action:
            self.held.add(action["unassign"]["job_id"])
            self.assigned.pop(action["unassign"]["job_id"], None)
        elif "release" in action:
            self.held.discard(action["release"]["job_id"])
            self.assigned.pop(action["release"]["job_id"], None)
        else:
            tech = action["lock_route"]["technician_id"]
            if "until" in action["lock_route"]:
                self.locked.pop(tech, None)
            else:
                route = next((r for r in self.plan.routes if r.technician_id == tech), None)
                self.locked[tech] = [v.job_id for v in route.visits if v.status != pb.VISIT_COMPLETED] if route else []

    def honoured(self, plan: pb.Plan) -> int:
        """How many standing overrides ``plan`` does not honour."""
        on = {v.job_id: r.technician_id for r in plan.routes for v in r.visits}
        done = {v.job_id for r in plan.routes for v in r.visits if v.status == pb.VISIT_COMPLETED}
        reasons = {u.job_id: u.reason for u in plan.unassigned}
        wrong = [f"{j} assigned to {t}, on {on.get(j)}" for j, t in self.assigned.items() if on.get(j) != t]
        wrong += [f"{j} held, {reasons.get(j)}" for j in self.held if reasons.get(j) != pb.HELD_BY_DISPATCHER]
        for tech, jobs in self.locked.items():
            route = next((r for r in plan.routes if r.technician_id == tech), None)
            rest = [v.job_id for v in route.visits if v.status != pb.VISIT_COMPLETED] if route else []
            keep = [j for j in jobs if j not in done]
            if rest[: len(keep)] != keep:
                wrong.append(f"{tech} locked {keep}, route {rest}")
        for w in wrong:
            print(f"  override not honoured in v{plan.version}: {w}", file=sys.stderr)
        return len(wrong)

    def reoptimize(
        self,
        now: int,
        events: list[dict[str, Any]],
        known: dict[str, Any],
        action: dict[str, Any] | None = None,
    ) -> None:
        assert self.plan is not None
        if action is not None:
            standing = (dict(self.assigned), set(self.held), dict(self.locked), self.overrides)
            self.took(action, now)  # the versions this re-plan stores must honour it already
            try:
                self._reoptimize(now, [*events, action], known)
                return
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
                self.assigned, self.held, self.locked, self.overrides = standing
                self.refused += 1  # the assign cannot fit: the dispatcher is told why; the rest goes on
        self._reoptimize(now, events, known)

    def _reoptimize(self, now: int, events: list[dict[str, Any]], known: dict[str, Any]) -> None:
        assert self.plan is not None
        request = json_format.ParseDict(
            {
                "plan_id": self.plan.plan_id,
                "expected_version": str(self.plan.version),
                "events": events,
                "options": self.options,
            },
            pb.ReoptimizeRequest(),
        )
        request.time.FromSeconds(self.epoch + now)
        began = time.perf_counter()
        first = None
        last = None
        for update in self.stub.ReoptimizeStream(request, timeout=self.reopt_limit + 60):
            if first is None:
                first = time.perf_counter() - began
            last = update.result
            self.check(update.result.plan, known)
        assert first is not None and last is not None
        self.first.append(first)
        self.final.append(time.perf_counter() - began)
        self.broken.update(last.diff.broken_promises)
        self.plan = last.plan

    def check(self, plan: pb.Plan, known: dict[str, Any]) -> None:
        """The whole day's plan against every rule of the day as known (independent checker)."""
        problem, _ = problem_from_proto(json_format.ParseDict(known, pb.SolveRequest()))
        assert problem.travel_matrix is not None
        domain_plan, _ = plan_from_proto(plan, problem.epoch)
        violations = check_plan(problem, day_matrix(problem, ExplicitProvider(problem.travel_matrix)), domain_plan)
        self.checked_versions += 1
        self.not_honoured += self.honoured(plan)
        if violations or any(w.startswith("checker") for w in plan.stats.warnings):
            self.infeasible_versions += 1
            for v in violations[:3]:
                print(f"  violation: {v.code} {v.message} ({v.technician_id} {v.job_id})", file=sys.stderr)


def replay(
    stub: dispatch_pb2_grpc.DispatchStub,
    name: str,
    share: float,
    *,
    solve_limit: float,
    reopt_limit: float,
    seed: int,
    reassign_penalty: float | None = None,
    overrides: float = 0.0,
) -> dict[str, Any]:
    full = request_for(name, solve_limit)
    rng = random.Random(f"{name}-{share}-{seed}")
    released = releases(full, share, rng)
    morning = copy.deepcopy(full)
    morning["plan_id"] = f"replay-{name}-{share}-{seed}-{rng.getrandbits(32):08x}"
    morning["jobs"] = [j for j in full["jobs"] if j["id"] not in released]
    run = Replay(stub, full, reopt_limit, reassign_penalty)
    run.plan = stub.Solve(json_format.ParseDict(morning, pb.SolveRequest()), timeout=solve_limit + 60).plan
    known = copy.deepcopy(morning)
    run.check(run.plan, known)
    by_id = {j["id"]: j for j in full["jobs"]}
    for job_id, at in sorted(released.items(), key=lambda kv: (kv[1], kv[0])):
        known["jobs"].append(by_id[job_id])
        reports = run.progress(at)
        action = run.override(at, rng) if overrides and rng.random() < overrides else None
        run.reoptimize(at, [*reports, {"new_job": by_id[job_id]}], known, action)
    static_request = copy.deepcopy(full)
    static_request["plan_id"] = morning["plan_id"] + "-static"
    static = stub.Solve(json_format.ParseDict(static_request, pb.SolveRequest()), timeout=solve_limit + 60).plan
    assert run.plan is not None
    return {
        "instance": name,
        "dynamism": share,
        "events": len(released),
        "served_dynamic": run.plan.stats.jobs_assigned,
        "served_static": static.stats.jobs_assigned,
        "travel_dynamic": run.plan.stats.total_travel_duration.seconds,
        "travel_static": static.stats.total_travel_duration.seconds,
        "first_p50": (percentile(run.first, 50) if run.first else float("nan")),
        "first_p95": (percentile(run.first, 95) if run.first else float("nan")),
        "first_p99": (percentile(run.first, 99) if run.first else float("nan")),
        "final_p50": (percentile(run.final, 50) if run.final else float("nan")),
        "final_p95": (percentile(run.final, 95) if run.final else float("nan")),
        "final_p99": (percentile(run.final, 99) if run.final else float("nan")),
        "versions_checked": run.checked_versions,
        "infeasible_versions": run.infeasible_versions,
        "broken_promises": len(run.broken),
        "overrides": run.overrides,
        "refused": run.refused,
        "not_honoured": run.not_honoured,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="+", help="Solomon or TRSP instance names, e.g. C101 R101 RC101")
    parser.add_argument("--dynamism", type=float, nargs="+", default=[0.1, 0.5, 0.9])
    parser.add_argument("--solve-time", type=float, default=5.0, help="time limit of the morning and static solves")
    parser.add_argument("--time-limit", type=float, default=1.0, help="re-plan time limit")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reassign-penalty", type=float, help="seconds per visit moved (default: the server's, 1800)")
    parser.add_argument("--server", help="host:port (default: start `dispatch serve` with two workers)")
    parser.add_argument("--overrides", type=float, default=0.0, help="share of events with a dispatcher's override")
    parser.add_argument("--out", type=Path, help="write a markdown table here")
    args = parser.parse_args(argv)

    rows = []
    with contextlib.ExitStack() as stack:
        address = args.server or stack.enter_context(served())
        channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
        stub = dispatch_pb2_grpc.DispatchStub(channel)
        for name in args.instances:
            for share in args.dynamism:
                row = replay(
                    stub,
                    name,
                    share,
                    solve_limit=args.solve_time,
                    reopt_limit=args.time_limit,
                    seed=args.seed,
                    reassign_penalty=args.reassign_penalty,
                    overrides=args.overrides,
                )
                rows.append(row)
                print(row, file=sys.stderr)
    penalty = "the server's (1800 s)" if args.reassign_penalty is None else f"{args.reassign_penalty:g} s"
    lines = [
        "# Dynamic-day replays",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.node()} ({platform.machine()}), a `dispatch serve` process "
        f"with 2 solver workers; morning/static solve {args.solve_time:g} s, re-plan time limit "
        f"{args.time_limit:g} s, reassign penalty {penalty}, seed {args.seed}.",
        f"Command: `python -m benchmarks.replay {' '.join(args.instances)} --dynamism "
        f"{' '.join(f'{d:g}' for d in args.dynamism)} --solve-time {args.solve_time:g} --time-limit {args.time_limit:g}"
        f"{'' if args.reassign_penalty is None else f' --reassign-penalty {args.reassign_penalty:g}'}"
        f"{f' --overrides {args.overrides:g}' if args.overrides else ''}`",
        "",
        "Latency in ms at the client (first = quick plan, final = last message). Travel in seconds (instance units x 10).",
        "",
        "| instance | dynamism | events | served dyn/static | travel dyn/static | ratio | first p50/p95/p99 "
        "| final p50/p95/p99 | versions checked | infeasible | promises broken "
        "| overrides (refused) | overrides not honoured |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["travel_dynamic"] / r["travel_static"] if r["travel_static"] else float("nan")
        lines.append(
            f"| {r['instance']} | {r['dynamism']:g} | {r['events']} | {r['served_dynamic']}/{r['served_static']} "
            f"| {r['travel_dynamic']}/{r['travel_static']} | {ratio:.3f} "
            f"| {r['first_p50'] * 1000:.0f}/{r['first_p95'] * 1000:.0f}/{r['first_p99'] * 1000:.0f} "
            f"| {r['final_p50'] * 1000:.0f}/{r['final_p95'] * 1000:.0f}/{r['final_p99'] * 1000:.0f} "
            f"| {r['versions_checked']} | {r['infeasible_versions']} | {r['broken_promises']} "
            f"| {r['overrides']} ({r['refused']}) | {r['not_honoured']} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0 if all(r["infeasible_versions"] == 0 and r["not_honoured"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
