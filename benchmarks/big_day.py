"""A large generated day through the service path: time against the limit, peak memory, checker.

Generates a ``--technicians`` x ``--jobs`` Denver day, solves it in this process exactly as a
solver worker does (``PlanningService.solve``: validate, great-circle matrix, OR-Tools, checker),
and prints the wall time against the time limit, the peak resident memory of the process and
what was planned. Usage::

    python -m benchmarks.big_day [--technicians 50] [--jobs 1000] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from google.protobuf import json_format

from dispatch.bootstrap import bootstrap
from dispatch.check import check_plan
from dispatch.examples.generate import generate
from dispatch.server.convert import problem_from_proto
from dispatch.show.progress import ProgressBar
from dispatch.v1 import dispatch_pb2 as pb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--technicians", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar with the best cost so far on stderr (default: when stderr is a terminal)",
    )
    args = parser.parse_args(argv)

    day = generate(technicians=args.technicians, jobs=args.jobs, seed=args.seed)
    day["options"]["time_limit"] = f"{args.time_limit}s"
    request = json_format.ParseDict(day, pb.SolveRequest())
    service = bootstrap(pool=False)
    began = time.monotonic()
    problem, shape = problem_from_proto(request)
    with ProgressBar(args.time_limit, enabled=args.progress) as bar:
        plan = service.solve(problem, shape, on_progress=(lambda p: bar.update(p.objective)) if bar.enabled else None)
    wall = time.monotonic() - began
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    checked, matrix = service.prepare(problem)
    violations = check_plan(checked, matrix, plan)
    reasons: dict[str, int] = {}
    for u in plan.unassigned:
        reasons[u.reason.value] = reasons.get(u.reason.value, 0) + 1
    print(
        f"{args.technicians} technicians x {args.jobs} jobs, time limit {args.time_limit:g} s: "
        f"wall {wall:.1f} s (solver {plan.stats.solve_time:.1f} s), peak RSS {peak_mib:.0f} MiB; "
        f"{len(plan.assigned_job_ids)} assigned, unassigned {reasons or 0}; "
        f"travel {plan.stats.total_travel_duration / 3600:.1f} h; checker: "
        f"{'feasible' if not violations else f'{len(violations)} violations'}"
    )
    within = wall <= args.time_limit + 1.0
    return 0 if within and peak_mib < 1024 and not violations else 1


if __name__ == "__main__":
    sys.exit(main())
