"""TRSP (Pillac, Guéret, Medaglia 2013) through the service path, against the published results.

Each instance (25 technicians with homes, shifts, skills, tools and spare parts; 100
requests) is converted to an ``EXPLICIT`` request (DIMACS: floor(10 d), times x10), solved
by ``PlanningService.solve`` and checked by the independent checker. Our objective is travel
time (DIMACS distance); to set it beside the published objective, total working time, this
reports for each plan, in the instance's units (our figures / 10):

- ``working``: the sum over technicians of (return home - departure), i.e. travel +
  service + waiting, with departures as late as the plan allows;
- ``travel+service``: travel plus service times of the served requests.

Depot returns to pick up missing tools and parts, allowed in the original problem, are not
modelled: a request that no technician can serve with what is on the van is unassigned
with its reason, so the published objective (all requests served) and ours are not the
same problem. Usage::

    python -m benchmarks.trsp [--time-limit 5] [--limit N] [--out benchmarks/results/trsp-5s]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from google.protobuf import json_format

from benchmarks.instances import SCALE, read_trsp, reported, trsp_instances, trsp_request
from dispatch.bootstrap import bootstrap
from dispatch.check import check_plan
from dispatch.server.convert import problem_from_proto
from dispatch.v1 import dispatch_pb2 as pb

FIELDS = [
    "instance",
    "reported_objective",
    "reported_technicians",
    "assigned",
    "unassigned",
    "reasons",
    "working",
    "travel_service",
    "travel",
    "technicians",
    "feasible",
    "time_s",
]


def run_instance(path: Path, time_limit: float) -> dict[str, object]:
    """Solve one TRSP instance and return its row (figures in the instance's units)."""
    request = trsp_request(read_trsp(path), time_limit=time_limit)
    service = bootstrap(pool=False)
    problem, shape = problem_from_proto(json_format.ParseDict(request, pb.SolveRequest()))
    began = time.monotonic()
    plan = service.solve(problem, shape)
    elapsed = time.monotonic() - began
    checked, matrix = service.prepare(problem)
    violations = check_plan(checked, matrix, plan)
    service = {j.id: j.service_duration for j in checked.jobs}
    served = plan.assigned_job_ids
    name = path.name.removesuffix(".txt")
    published = reported(name) or (float("nan"), 0)
    return {
        "instance": name,
        "reported_objective": published[0],
        "reported_technicians": published[1],
        "assigned": len(served),
        "unassigned": len(plan.unassigned),
        "reasons": " ".join(f"{k}:{v}" for k, v in sorted(Counter(u.reason.value for u in plan.unassigned).items())),
        "working": sum(r.end - r.start for r in plan.routes) / SCALE,
        "travel_service": (plan.stats.total_travel_duration + sum(service[j] for j in served)) / SCALE,
        "travel": plan.stats.total_travel_duration / SCALE,
        "technicians": sum(1 for r in plan.routes if r.visits),
        "feasible": not violations,
        "time_s": round(elapsed, 2),
    }


def markdown(rows: list[dict[str, object]], time_limit: float) -> str:
    lines = [
        f"TRSP (Pillac 2013), {len(rows)} instances, {time_limit:g} s each, 1 core. Figures in the instance's units.",
        "",
        "| instance | published objective (K) | ours: working | ours: travel+service | travel | techs"
        " | assigned | unassigned (reasons) | feasible |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['instance']} | {r['reported_objective']:.1f} ({r['reported_technicians']}) | {r['working']:.1f}"
            f" | {r['travel_service']:.1f} | {r['travel']:.1f} | {r['technicians']} | {r['assigned']}"
            f" | {r['unassigned']} {('(' + str(r['reasons']) + ')') if r['reasons'] else ''} | {r['feasible']} |"
        )
    full = [r for r in rows if r["unassigned"] == 0]
    lines += [
        "",
        f"All requests served in {len(full)}/{len(rows)} instances; infeasible plans: "
        f"{sum(not r['feasible'] for r in rows)}.",
    ]
    if full:
        ratio = [float(r["travel_service"]) / float(r["reported_objective"]) for r in full]
        lines.append(
            f"Where all requests are served: ours (travel+service) / published, mean {statistics.mean(ratio):.3f},"
            f" min {min(ratio):.3f}, max {max(ratio):.3f}."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--limit", type=int, help="only the first N instances")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/trsp-5s"))
    args = parser.parse_args(argv)
    instances = trsp_instances()[: args.limit]
    rows = []
    for k, instance in enumerate(instances, 1):
        rows.append(run_instance(instance.path, args.time_limit))
        r = rows[-1]
        print(
            f"\r[{k}/{len(instances)}] {r['instance']}: {r['assigned']} served, working {r['working']:.0f}",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    text = markdown(rows, args.time_limit)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0 if all(r["feasible"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
