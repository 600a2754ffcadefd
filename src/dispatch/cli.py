"""The ``dispatch`` command: ``serve``, ``solve``, ``reoptimize``, ``validate``, ``demo``.

Exit codes (one table, as the gRPC codes are in ``dispatch.server.errors``):
0 planned; 1 infrastructure failure (server unreachable, worker died, deadline);
2 invalid input (every bad field is printed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from google.protobuf import json_format

from dispatch.errors import DispatchError, ProblemError
from dispatch.v1 import dispatch_pb2 as pb

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2
EXAMPLE_DAY = Path(__file__).resolve().parent / "examples" / "metro_day.json"
EXAMPLE_TZ = "America/Denver"


class CliError(Exception):
    def __init__(self, code: int, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.code = code
        self.lines = lines


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.run(args) or EXIT_OK)
    except CliError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dispatch", description="Route optimisation for field-service crews.")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--host", default="[::]")
    serve.add_argument("--port", type=int, default=50051)
    serve.add_argument("--workers", type=int, default=None, help="solver processes (default 2, DISPATCH_WORKERS)")
    serve.add_argument(
        "--max-waiting", type=int, default=None, help="requests queued for a worker before RESOURCE_EXHAUSTED"
    )
    serve.set_defaults(run=_serve, log_level="info")

    solve = sub.add_parser("solve", help="plan a day from a SolveRequest JSON file")
    solve.add_argument("problem", type=Path, help="SolveRequest in the protobuf JSON mapping")
    solve.add_argument("--server", help="host:port of a dispatch server (default: solve in this process)")
    solve.add_argument("--out", type=Path, help="write the SolveResponse JSON here")
    solve.add_argument("--time-limit", type=float, help="seconds of search (overrides the file's options.time_limit)")
    solve.add_argument("--tz", default="UTC", help="time zone for the printed summary (e.g. America/Denver)")
    solve.set_defaults(run=_solve)

    reopt = sub.add_parser("reoptimize", help="send the day's events for a stored plan to a server and re-plan")
    reopt.add_argument("plan_id")
    reopt.add_argument("events", type=Path, help='JSON: the events array (or {"events": [...]}), protobuf JSON mapping')
    reopt.add_argument(
        "--server",
        default=os.environ.get("DISPATCH_SERVER", "localhost:50051"),
        help="host:port of the dispatch server holding the plan (default $DISPATCH_SERVER or localhost:50051)",
    )
    reopt.add_argument("--time", help="now, RFC 3339 (default: the server's clock)")
    reopt.add_argument(
        "--expected-version", type=int, help="the plan version the events apply to (default: the current one)"
    )
    reopt.add_argument("--time-limit", type=float, help="seconds to improve on the quick answer (server default 2)")
    reopt.add_argument("--out", type=Path, help="write the ReoptimizeResponse JSON here")
    reopt.add_argument("--tz", default="UTC", help="time zone for the printed summary")
    reopt.set_defaults(run=_reoptimize)

    validate = sub.add_parser("validate", help="check a plan (SolveResponse or Plan JSON) against a request")
    validate.add_argument("problem", type=Path)
    validate.add_argument("plan", type=Path)
    validate.add_argument("--server", help="host:port of a dispatch server (default: check in this process)")
    validate.set_defaults(run=_validate)

    demo = sub.add_parser("demo", help="plan the bundled example day on embedded defaults")
    demo.add_argument("--time-limit", type=float, default=None)
    demo.add_argument("--out", type=Path)
    demo.set_defaults(run=_demo)
    return parser


# ---------------------------------------------------------------------------- commands


def _serve(args: argparse.Namespace) -> int:
    from dispatch.server.app import serve  # noqa: PLC0415
    from dispatch.service import Settings  # noqa: PLC0415

    serve(Settings.from_env(workers=args.workers, max_waiting=args.max_waiting), host=args.host, port=args.port)
    return EXIT_OK


def _solve(args: argparse.Namespace) -> int:
    request = _read(args.problem, pb.SolveRequest())
    if args.time_limit is not None:
        request.options.time_limit.FromNanoseconds(int(args.time_limit * 1e9))
    response = _remote_solve(request, args.server) if args.server else _local_solve(request)
    _print_summary(request, response.plan, ZoneInfo(args.tz), sys.stdout)
    if args.out:
        args.out.write_text(_to_json(response))
        print(f"\nplan written to {args.out}")
    return EXIT_OK


def _reoptimize(args: argparse.Namespace) -> int:
    try:
        raw = json.loads(args.events.read_text())
    except OSError as exc:
        raise CliError(EXIT_INVALID, [f"{args.events}: {exc.strerror}"]) from None
    except json.JSONDecodeError as exc:
        raise CliError(EXIT_INVALID, [f"{args.events}: not JSON ({exc})"]) from None
    if isinstance(raw, list):
        raw = {"events": raw}
    if not isinstance(raw, dict) or set(raw) - {"events"}:
        raise CliError(EXIT_INVALID, [f'{args.events}: expected an array of events or {{"events": [...]}}'])
    request = _parse(raw, pb.ReoptimizeRequest(), args.events)
    request.plan_id = args.plan_id
    if args.time:
        try:
            request.time.FromJsonString(args.time)
        except ValueError as exc:
            raise CliError(EXIT_INVALID, [f"--time: not an RFC 3339 time ({exc})"]) from None
    if args.time_limit is not None:
        request.options.time_limit.FromNanoseconds(int(args.time_limit * 1e9))
    if args.expected_version is not None:
        request.expected_version = args.expected_version
    else:
        current = _call(args.server, "GetPlan", pb.GetPlanRequest(plan_id=args.plan_id), timeout=30)
        request.expected_version = current.plan.version  # type: ignore[attr-defined]
    limit = args.time_limit if args.time_limit is not None else 2.0
    response = _call(args.server, "Reoptimize", request, timeout=limit + 30)
    _print_diff(response, ZoneInfo(args.tz), sys.stdout)  # type: ignore[arg-type]
    if args.out:
        args.out.write_text(_to_json(response))
        print(f"\nplan written to {args.out}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    print(f"Example day: {EXAMPLE_DAY.name} (great-circle travel, no keys, no Redis)\n")
    argv = ["solve", str(EXAMPLE_DAY), "--tz", EXAMPLE_TZ]
    if args.time_limit is not None:
        argv += ["--time-limit", str(args.time_limit)]
    if args.out:
        argv += ["--out", str(args.out)]
    return _solve(_parser().parse_args(argv))


def _validate(args: argparse.Namespace) -> int:
    request = _read(args.problem, pb.SolveRequest())
    raw = json.loads(args.plan.read_text())
    plan = pb.Plan()
    _parse(raw.get("plan", raw), plan, args.plan)
    if args.server:
        response = _call(args.server, "Validate", pb.ValidateRequest(request=request, plan=plan), timeout=60)
        violations = [(v.code, v.message, v.technician_id, v.job_id) for v in response.violations]
    else:
        from dispatch.server.convert import plan_from_proto, problem_from_proto  # noqa: PLC0415
        from dispatch.service import bootstrap  # noqa: PLC0415

        problem, shape = problem_from_proto(request)
        domain_plan, plan_shape = plan_from_proto(plan, problem.epoch)
        try:
            found = bootstrap(pool=False).check(problem, domain_plan, shape + plan_shape)
        except ProblemError as exc:
            raise CliError(EXIT_INVALID, ["invalid input:", *(f"  {v}" for v in exc.violations)]) from None
        violations = [(v.code, v.message, v.technician_id, v.job_id) for v in found]
    if not violations:
        print("feasible: every constraint holds")
        return EXIT_OK
    for code, message, tech, job in violations:
        who = " ".join(x for x in (tech and f"technician {tech}", job and f"job {job}") if x)
        print(f"{code}: {message}" + (f" ({who})" if who else ""))
    return EXIT_INVALID


# ---------------------------------------------------------------------------- plumbing


def _read(path: Path, message: object) -> object:
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise CliError(EXIT_INVALID, [f"{path}: {exc.strerror}"]) from None
    except json.JSONDecodeError as exc:
        raise CliError(EXIT_INVALID, [f"{path}: not JSON ({exc})"]) from None
    return _parse(raw, message, path)


def _parse(raw: object, message: object, path: Path) -> object:
    try:
        json_format.ParseDict(raw, message)
    except json_format.ParseError as exc:
        raise CliError(EXIT_INVALID, [f"{path}: {exc}"]) from None
    return message


def _to_json(message: object) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2) + "\n"


def _local_solve(request: pb.SolveRequest) -> pb.SolveResponse:
    from dispatch.server.convert import plan_to_proto, problem_from_proto  # noqa: PLC0415
    from dispatch.service import bootstrap  # noqa: PLC0415

    problem, shape = problem_from_proto(request)
    try:
        plan = bootstrap(pool=False).solve(problem, shape)
    except ProblemError as exc:
        raise CliError(EXIT_INVALID, ["invalid request:", *(f"  {v}" for v in exc.violations)]) from None
    except DispatchError as exc:
        raise CliError(EXIT_FAILURE, [str(exc)]) from None
    return pb.SolveResponse(plan=plan_to_proto(plan))


def _remote_solve(request: pb.SolveRequest, server: str) -> pb.SolveResponse:
    limit = request.options.time_limit.ToTimedelta().total_seconds() if request.options.HasField("time_limit") else 10
    return _call(server, "Solve", request, timeout=limit + 30)


def _call(server: str, method: str, request: object, *, timeout: float) -> object:
    import grpc  # noqa: PLC0415

    from dispatch.v1 import dispatch_pb2_grpc  # noqa: PLC0415

    with grpc.insecure_channel(
        server,
        options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)],
    ) as channel:
        stub = dispatch_pb2_grpc.DispatchStub(channel)
        try:
            return getattr(stub, method)(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise _status_error(exc.code(), exc.details(), exc.trailing_metadata()) from None


def _status_error(code: object, details: str, metadata: object) -> CliError:
    import grpc  # noqa: PLC0415
    from google.rpc import error_details_pb2, status_pb2  # noqa: PLC0415

    lines = [f"{getattr(code, 'name', code)}: {details}"]
    for key, value in metadata or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    lines = ["invalid request:", *(f"  {v.field}: {v.description}" for v in bad.field_violations)]
    invalid = code in (grpc.StatusCode.INVALID_ARGUMENT,)
    return CliError(EXIT_INVALID if invalid else EXIT_FAILURE, lines)


def _print_diff(response: pb.ReoptimizeResponse, tz: ZoneInfo, out: TextIO) -> None:
    def clock(ts: object) -> str:
        return datetime.fromtimestamp(ts.seconds, UTC).astimezone(tz).strftime("%H:%M")  # type: ignore[attr-defined]

    plan, d = response.plan, response.diff
    s = plan.stats
    print(
        f"Plan {plan.plan_id} v{d.from_version} -> v{plan.version}: {s.jobs_assigned} assigned, "
        f"{s.jobs_unassigned} unassigned, status {s.solver_status}",
        file=out,
    )
    for a in d.newly_assigned:
        print(f"  assigned   {a.job_id} to {a.technician_id} at {clock(a.start)}", file=out)
    for r in d.reassigned:
        print(f"  reassigned {r.job_id}: {r.from_technician_id} -> {r.to_technician_id}", file=out)
    for u in d.newly_unassigned:
        print(f"  unassigned {u.job_id}: {pb.UnassignedReason.Name(u.reason)} — {u.detail}", file=out)
    for c in d.eta_changes:
        shift = int(c.change.seconds) // 60
        print(f"  eta        {c.job_id}: {clock(c.old_start)} -> {clock(c.new_start)} ({shift:+d} min)", file=out)
    if d.broken_promises:
        print(f"  promised windows broken: {', '.join(d.broken_promises)}", file=out)
    for warning in s.warnings:
        print(f"warning: {warning}", file=out)


def _print_summary(request: pb.SolveRequest, plan: pb.Plan, tz: ZoneInfo, out: TextIO) -> None:
    def clock(ts: object) -> str:
        return datetime.fromtimestamp(ts.seconds, UTC).astimezone(tz).strftime("%H:%M")  # type: ignore[attr-defined]

    def minutes(d: object) -> str:
        total = int(d.seconds) // 60  # type: ignore[attr-defined]
        return f"{total // 60}h{total % 60:02d}"

    names = {t.id: t.name or t.id for t in request.technicians}
    jobs = {j.id: j for j in request.jobs}
    day = datetime.fromtimestamp(plan.start_time.seconds, UTC).astimezone(tz).strftime("%a %d %b %Y")
    print(f"Plan {plan.plan_id} v{plan.version} for {day} ({tz.key}), status {plan.stats.solver_status}", file=out)
    print(f"{'technician':<22} {'jobs':>4} {'leaves':>6} {'back':>6} {'drive':>6}  route", file=out)
    for r in plan.routes:
        stops = " > ".join(
            ("!" if jobs[v.job_id].priority == pb.EMERGENCY else "") + f"{v.job_id}@{clock(v.start)}" for v in r.visits
        )
        print(
            f"{names.get(r.technician_id, r.technician_id)[:22]:<22} {len(r.visits):>4} {clock(r.start):>6} "
            f"{clock(r.end):>6} {minutes(r.travel_duration):>6}  {stops}",
            file=out,
        )
    idle = [names[t.id] for t in request.technicians if t.id not in {r.technician_id for r in plan.routes}]
    if idle:
        print(f"idle: {', '.join(idle)}", file=out)
    s = plan.stats
    print(
        f"\n{s.jobs_assigned} jobs assigned, {s.jobs_unassigned} unassigned; total drive {minutes(s.total_travel_duration)}, "
        f"{s.total_distance_meters / 1000:.1f} km; solved in {s.solve_time.ToTimedelta().total_seconds():.1f} s",
        file=out,
    )
    if plan.unassigned:
        print("unassigned:", file=out)
        for u in plan.unassigned:
            print(f"  {u.job_id}: {pb.UnassignedReason.Name(u.reason)} — {u.detail}", file=out)
    for warning in s.warnings:
        print(f"warning: {warning}", file=out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
