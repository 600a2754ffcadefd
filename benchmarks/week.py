"""A week in one plan (issue 21): a 5-day, 30-technician, 800-job horizon, side by side with VROOM.

The crew of a generated metro day works one shift a day (``shifts[]``, each with its lunch
break); the jobs are booked into windows spread over the five days, and 30 % of them may be done
any day of the week (``earliest_day``/``latest_day``, no window). Emergencies are today's.

- ``dispatch``: ``PlanningService.solve`` (the service path, in this process) with
  ``--time-limit`` (default 110 s): wall time from the request to the stored plan, jobs served by
  day, the week-long jobs served, the independent checker on every route.
- ``vroom``: VROOM 1.15 at exploration level 5 on the same technicians-per-shift and the same
  matrix, its local search stopped at the same budget (VROOM has no notion of a technician
  working several days: one vehicle per shift is how it, too, sees the week).
- A mid-week re-plan (Wednesday 10:00 local, one new job bookable Wednesday to Friday): the
  visits of the days before are compared with the plan's (history: nothing may move), and the
  visits moved on each later day are counted.

    .venv/bin/python -m benchmarks.week [--time-limit 110] [--out benchmarks/results/week.md]
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format

from benchmarks.rich_days import _vroom_plan
from dispatch.bootstrap import bootstrap
from dispatch.check import check_plan
from dispatch.config import Settings
from dispatch.domain import Plan, person_of, shift_of
from dispatch.examples.generate import DAY, at, generate_week
from dispatch.server.convert import problem_from_proto, replan_from_proto
from dispatch.solver.screen import screen
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import to_proto


def by_day(plan: Plan) -> Counter[str]:
    return Counter(shift_of(r.technician_id) for r in plan.routes for _ in r.visits)


def visits(plan: Plan) -> dict[str, tuple[str, int]]:
    return {v.job_id: (r.technician_id, plan.epoch + v.start) for r in plan.routes for v in r.visits}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--technicians", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=800)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=110.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    request = generate_week(technicians=args.technicians, jobs=args.jobs, days=args.days)
    request["options"]["time_limit"] = f"{args.time_limit:g}s"
    flexible = {j["id"] for j in request["jobs"] if j.get("earliest_day")}
    service = bootstrap(Settings(reopt_time_limit=2.0), pool=False)
    problem, bad = problem_from_proto(to_proto(request))
    assert not bad, bad

    began = time.monotonic()
    plan = service.solve(problem, replace=True)
    wall = time.monotonic() - began
    week, matrix = service.prepare(problem)
    violations = check_plan(week, matrix, plan)
    served = set(visits(plan))
    out = [
        f"Machine: {platform.machine()}, Python {platform.python_version()}; {datetime.now(UTC):%Y-%m-%d}; "
        f"{args.technicians} technicians x {args.days} shifts, {args.jobs} jobs ({len(flexible)} bookable any day).",
        "",
        "| solver | budget | wall | served | week-long jobs served | per day | drive | checker |",
        "|---|---|---|---|---|---|---|---|",
    ]
    days = " / ".join(str(n) for _, n in sorted(by_day(plan).items()))
    out.append(
        f"| dispatch | {args.time_limit:g} s | {wall:.1f} s | {len(served)}/{args.jobs} | "
        f"{len(flexible & served)}/{len(flexible)} | {days} | {plan.stats.total_travel_duration / 3600:.1f} h | "
        f"{len(violations)} violations |"
    )
    print("\n".join(out), flush=True)

    screening = screen(week, matrix)
    began = time.monotonic()
    theirs = _vroom_plan(week, matrix, screening, args.time_limit)
    vroom_wall = time.monotonic() - began
    their_served = set(visits(theirs))
    days = " / ".join(str(n) for _, n in sorted(by_day(theirs).items()))
    out.append(
        f"| vroom | {args.time_limit:g} s | {vroom_wall:.1f} s | {len(their_served)}/{args.jobs} | "
        f"{len(flexible & their_served)}/{len(flexible)} | {days} | {theirs.stats.total_travel_duration / 3600:.1f} h | "
        f"{len(check_plan(week, matrix, theirs))} violations |"
    )
    print(out[-1], flush=True)

    # Mid-week: Wednesday 10:00, one new job bookable Wednesday to Friday.
    wednesday = DAY.toordinal() + 1
    now = at(datetime.fromordinal(wednesday).date(), 10.0)
    like = copy.deepcopy(next(j for j in request["jobs"] if j["id"] in flexible))
    like.update(id="NEW", earliest_day=now.date().isoformat(), latest_day=request["technicians"][0]["shifts"][-1]["id"])
    replan = pb.ReoptimizeRequest(plan_id=plan.plan_id, expected_version=plan.version)
    replan.time.FromDatetime(now.astimezone(UTC))
    replan.events.add().new_job.CopyFrom(json_format.ParseDict(like, pb.Job()))
    replan.options.time_limit.FromSeconds(5)
    parsed, shape = replan_from_proto(replan)
    began = time.monotonic()
    after = service.reoptimize(parsed, shape).plan
    replan_wall = time.monotonic() - began
    old, new = visits(plan), visits(after)
    history = [j for j, (_, start) in old.items() if start < int(now.timestamp())]
    kept = sum(1 for j in history if new.get(j) == old[j])
    moved: Counter[str] = Counter(
        shift_of(old[j][0]) for j in old if j in new and new[j] != old[j] and old[j][1] >= int(now.timestamp())
    )
    where = next(
        (
            f"{person_of(r.technician_id)} on {shift_of(r.technician_id)}"
            for r in after.routes
            for v in r.visits
            if v.job_id == "NEW"
        ),
        "not placed",
    )
    out += [
        "",
        f"Mid-week re-plan at {now:%a %H:%M} local ({replan_wall:.1f} s): {kept}/{len(history)} visits before now "
        f"unchanged; visits moved after now, by day: {dict(sorted(moved.items())) or 'none'}; the new job: {where}.",
    ]
    print(out[-1], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
