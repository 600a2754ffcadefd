"""The ``dispatch`` command: ``serve``, ``solve``, ``reoptimize``, ``validate``, ``show``, ``demo``.

Exit codes (one table, as the gRPC codes are in ``dispatch.server.errors``):
0 planned; 1 infrastructure failure (server unreachable, worker died, deadline);
2 invalid input (every bad field is printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo

from google.protobuf import json_format

from dispatch import logs
from dispatch.errors import ConfigError, DispatchError, ProblemError
from dispatch.v1 import dispatch_pb2 as pb

if TYPE_CHECKING:
    from dispatch.service import Settings
    from dispatch.show.progress import ProgressBar

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2
EXAMPLE_DAY = Path(__file__).resolve().parent / "examples" / "metro_day.json"
EXAMPLE_TZ = "America/Denver"
#: The Prometheus port of ``serve`` and ``notifier`` when neither DISPATCH_METRICS_PORT nor --metrics-port says.
METRICS_PORT = 9100


class CliError(Exception):
    def __init__(self, code: int, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.code = code
        self.lines = lines


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fmt = args.log_format or os.environ.get("DISPATCH_LOG_FORMAT") or args.default_log_format
    level = args.log_level or os.environ.get("DISPATCH_LOG_LEVEL", "").lower() or args.default_log_level
    for name, value, allowed in (("DISPATCH_LOG_FORMAT", fmt, LOG_FORMATS), ("DISPATCH_LOG_LEVEL", level, LOG_LEVELS)):
        if value not in allowed:
            print(f"{name}={value!r}: one of {', '.join(allowed)}", file=sys.stderr)
            return EXIT_INVALID
    logs.configure(level, fmt)
    try:
        return int(args.run(args) or EXIT_OK)
    except CliError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.code
    except ConfigError as exc:  # the environment: named, never a secret's value
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")


def _logging_options(parser: argparse.ArgumentParser, *, default: object = None) -> None:
    """``--log-level`` and ``--log-format``, before or after the command name."""
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default=default, help="default: info for serve and notifier, else warning"
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=default,
        help="JSON lines (default for serve and notifier) or text (default for the others); DISPATCH_LOG_FORMAT",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dispatch", description="Route optimisation for field-service crews.")
    _logging_options(parser)
    parser.set_defaults(default_log_level="warning", default_log_format="text")
    common = argparse.ArgumentParser(add_help=False)
    _logging_options(common, default=argparse.SUPPRESS)  # after the command: wins over one before it
    sub = parser.add_subparsers(required=True, metavar="COMMAND", parser_class=_with(common))

    serve = sub.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--host", default="[::]")
    serve.add_argument("--port", type=int, default=50051)
    serve.add_argument("--workers", type=int, default=None, help="solver processes (default 2, DISPATCH_WORKERS)")
    serve.add_argument(
        "--max-waiting", type=int, default=None, help="requests queued for a worker before RESOURCE_EXHAUSTED"
    )
    _metrics_option(serve)
    serve.set_defaults(run=_serve, default_log_level="info", default_log_format="json")

    notifier = sub.add_parser(
        "notifier", help="text customers from the ETA stream in Redis (DISPATCH_REDIS_URL), as its own process"
    )
    notifier.add_argument("--consumer", default=None, help="this process's name in the consumer group")
    _metrics_option(notifier)
    notifier.set_defaults(run=_notifier, default_log_level="info", default_log_format="json")

    health = sub.add_parser(
        "health", help="the integrations' health (Google, Twilio) as a server reports it; exit 1 if one is degraded"
    )
    health.add_argument(
        "--server",
        default=os.environ.get("DISPATCH_SERVER", "localhost:50051"),
        help="host:port of a dispatch server (default $DISPATCH_SERVER or localhost:50051)",
    )
    health.add_argument("--json", action="store_true", help="print the GetIntegrationHealthResponse as JSON")
    health.set_defaults(run=_health)

    solve = sub.add_parser("solve", help="plan a day from a SolveRequest JSON file")
    solve.add_argument("problem", type=Path, help="SolveRequest in the protobuf JSON mapping")
    solve.add_argument("--server", help="host:port of a dispatch server (default: solve in this process)")
    solve.add_argument("--out", type=Path, help="write the SolveResponse JSON here")
    solve.add_argument("--time-limit", type=float, help="seconds of search (overrides the file's options.time_limit)")
    solve.add_argument("--tz", default="UTC", help="time zone for the printed summary (e.g. America/Denver)")
    solve.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar with the best cost so far on stderr (default: when stderr is a terminal)",
    )
    solve.set_defaults(run=_solve)

    reopt = sub.add_parser("reoptimize", help="send the day's events for a stored plan to a server and re-plan")
    reopt.add_argument("plan_id")
    reopt.add_argument(
        "events", type=Path, help='JSON: the events array, or {"events": [...], "time": RFC 3339} (protobuf JSON)'
    )
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

    show = sub.add_parser("show", help="draw a plan: route map and timeline as HTML and/or PNG")
    show.add_argument("plan", type=Path, nargs="?", help="plan JSON (a Plan or a Solve/GetPlan/Reoptimize response)")
    show.add_argument("--request", type=Path, help="the SolveRequest JSON: places, windows, names, priorities")
    show.add_argument(
        "--events",
        type=Path,
        action="append",
        default=[],
        help="events file(s) sent since: their new jobs and technicians",
    )
    show.add_argument("--before", type=Path, help="an earlier version of the plan: what moved is highlighted")
    show.add_argument("--after", type=Path, help="the later version (instead of PLAN)")
    show.add_argument("--html", type=Path, help="write a self-contained HTML page here")
    show.add_argument("--png", type=Path, help="write a PNG image here")
    show.add_argument("--tz", default="UTC", help="time zone of the clock times (e.g. America/Denver)")
    show.set_defaults(run=_show)

    demo = sub.add_parser("demo", help="plan the bundled example day on embedded defaults")
    demo.add_argument("--time-limit", type=float, default=None)
    demo.add_argument("--out", type=Path)
    demo.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="as for solve")
    demo.add_argument(
        "--show-dir", type=Path, default=Path("dispatch-demo"), help="where the map/timeline HTML and PNG go"
    )
    demo.set_defaults(run=_demo)
    return parser


# ---------------------------------------------------------------------------- commands


def _metrics_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help=f"Prometheus /metrics, /healthz, /readyz (default {METRICS_PORT}, DISPATCH_METRICS_PORT; 0: none)",
    )


def _with(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    """A parser class whose every instance (each command) also takes ``common``'s options."""

    class Command(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("parents", [common])
            super().__init__(*args, **kwargs)

    return Command


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    """The settings of the environment, with the command line's on top; the metrics port is
    9100 unless the environment or the command line says otherwise (and only a port asked for
    must be free)."""
    from dispatch.service import Settings  # noqa: PLC0415

    asked = args.metrics_port is not None or bool(os.environ.get("DISPATCH_METRICS_PORT"))
    settings = Settings.from_env(metrics_port=args.metrics_port, **overrides)
    if not asked:
        settings = dataclasses.replace(settings, metrics_port=METRICS_PORT, metrics_required=False)
    elif args.metrics_port == 0:
        settings = dataclasses.replace(settings, metrics_port=None)
    return settings


def _serve(args: argparse.Namespace) -> int:
    from dispatch.server.app import serve  # noqa: PLC0415

    settings = _settings(args, workers=args.workers, max_waiting=args.max_waiting)
    try:
        serve(settings, host=args.host, port=args.port)
    except RuntimeError as exc:  # a port that cannot be bound, workers that cannot start
        raise CliError(EXIT_FAILURE, [f"dispatch serve: {exc}"]) from None
    return EXIT_OK


def _notifier(args: argparse.Namespace) -> int:
    """Run the notifier until SIGTERM or SIGINT; a restart resumes what it had not finished."""
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import socket  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from dispatch.metrics import metrics_endpoint  # noqa: PLC0415
    from dispatch.notify.templates import TemplateError  # noqa: PLC0415
    from dispatch.service import start_notifier  # noqa: PLC0415
    from dispatch.stream import RedisEtaStream  # noqa: PLC0415

    settings = _settings(args)
    if not settings.redis_url:
        raise CliError(EXIT_INVALID, ["dispatch notifier reads the ETA stream in Redis: set DISPATCH_REDIS_URL"])
    consumer = args.consumer or f"{socket.gethostname()}-{os.getpid()}"
    try:
        run = start_notifier(settings, RedisEtaStream.from_url(settings.redis_url), consumer)
    except TemplateError as exc:
        raise CliError(EXIT_INVALID, [str(exc)]) from None
    except OSError as exc:
        raise CliError(EXIT_FAILURE, [f"DISPATCH_WEBHOOK_PORT: {exc}"]) from None
    try:
        endpoint = metrics_endpoint(settings.metrics_port, required=settings.metrics_required)
    except RuntimeError as exc:
        run.stop()
        raise CliError(EXIT_FAILURE, [str(exc)]) from None
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    mode = "Twilio" if settings.twilio else "the log (no Twilio credentials)"
    hook = f", Twilio webhook on port {run.webhook.port}" if run.webhook is not None else ""  # type: ignore[attr-defined]
    print(f"notifier {consumer}: texts to {mode}{hook}", flush=True)
    while run.thread.is_alive() and not stopping.wait(0.5):
        pass
    run.stop()
    if endpoint is not None:
        endpoint.close()
    return EXIT_OK


def _health(args: argparse.Namespace) -> int:
    response = _call(args.server, "GetIntegrationHealth", pb.GetIntegrationHealthRequest(), timeout=10)
    reports = list(response.integrations)  # type: ignore[attr-defined]
    if args.json:
        print(_to_json(response), end="")
    else:
        print(
            f"{'integration':<12} {'status':<9} {'configured':<10} {'calls':>7} {'errors':>6} {'success':>7} "
            f"{'latency':>8}  last activity (UTC)   last error"
        )
        for h in reports:
            last = h.last_activity.ToDatetime().strftime("%Y-%m-%d %H:%M:%S") if h.HasField("last_activity") else "-"
            latency = f"{h.mean_latency.ToMilliseconds()} ms" if h.attempts else "-"
            rate = f"{h.success_rate:.1%}" if h.attempts else "-"
            print(
                f"{h.integration:<12} {h.status:<9} {'yes' if h.configured else 'no':<10} {h.attempts:>7} "
                f"{h.errors:>6} {rate:>7} {latency:>8}  {last:<20}  {h.last_error or '-'}"
            )
            for note in h.notes:
                print(f"{'':<12} note: {note}")
        window = reports[0].window.seconds if reports else 0
        print(f"(over the last {window / 3600:g} h)")
    return EXIT_FAILURE if any(h.status == "degraded" for h in reports) else EXIT_OK


def _solve(args: argparse.Namespace) -> int:
    request = _read(args.problem, pb.SolveRequest())
    if args.time_limit is not None:
        request.options.time_limit.FromNanoseconds(int(args.time_limit * 1e9))
    _solve_request(request, args)
    return EXIT_OK


def _solve_request(request: pb.SolveRequest, args: argparse.Namespace) -> pb.SolveResponse:
    from dispatch.show.progress import ProgressBar  # noqa: PLC0415

    limit = request.options.time_limit.ToTimedelta().total_seconds() if request.options.HasField("time_limit") else 10
    with ProgressBar(limit, enabled=args.progress) as bar:
        if args.server:
            response = _remote_solve(request, args.server, bar if bar.enabled else None)
        else:
            response = _local_solve(request, bar if bar.enabled else None)
    _print_summary(request, response.plan, ZoneInfo(args.tz), sys.stdout)
    if args.out:
        args.out.write_text(_to_json(response))
        print(f"\nplan written to {args.out}")
    return response


def _reoptimize(args: argparse.Namespace) -> int:
    request = _read_events(args.events)
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


def _read_events(path: Path) -> pb.ReoptimizeRequest:
    """A file holding the events array (or ``{"events": [...], "time": RFC 3339}``) as a ``ReoptimizeRequest``."""
    raw = _load_json(path)
    if isinstance(raw, list):
        raw = {"events": raw}
    if not isinstance(raw, dict) or set(raw) - {"events", "time"}:
        raise CliError(EXIT_INVALID, [f'{path}: expected an array of events or {{"events": [...], "time": ...}}'])
    return _parse(raw, pb.ReoptimizeRequest(), path)  # type: ignore[return-value]


def _demo(args: argparse.Namespace) -> int:
    print(f"Example day: {EXAMPLE_DAY.name} (great-circle travel, no keys, no Redis)\n")
    request = _read(EXAMPLE_DAY, pb.SolveRequest())
    if args.time_limit is not None:
        request.options.time_limit.FromNanoseconds(int(args.time_limit * 1e9))
    solve_args = argparse.Namespace(server=None, progress=args.progress, tz=EXAMPLE_TZ, out=args.out)
    response = _solve_request(request, solve_args)
    html, png = args.show_dir / "plan.html", args.show_dir / "plan.png"
    _draw(response.plan, request, ZoneInfo(EXAMPLE_TZ), html=html, png=png)
    print(f"\nmap and timeline: {html.resolve()}\n                  {png.resolve()}")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from dispatch.show import load_plan, load_request  # noqa: PLC0415

    if not args.html and not args.png:
        raise CliError(EXIT_INVALID, ["show: give --html FILE and/or --png FILE"])
    if args.plan and args.after:
        raise CliError(EXIT_INVALID, ["show: give the plan either as PLAN or as --after, not both"])
    after = args.plan or args.after
    if after is None:
        raise CliError(EXIT_INVALID, ["show: which plan? give PLAN (or --before and --after)"])
    try:
        tz = ZoneInfo(args.tz)
    except (KeyError, ValueError):
        raise CliError(EXIT_INVALID, [f"--tz: unknown time zone {args.tz!r}"]) from None
    loaded = []
    for path, load in ((after, load_plan), (args.before, load_plan), (args.request, load_request)):
        if path is None:
            loaded.append(None)
            continue
        try:
            loaded.append(load(path))
        except OSError as exc:
            raise CliError(EXIT_INVALID, [f"{path}: {exc.strerror}"]) from None
        except (ValueError, json_format.ParseError) as exc:  # JSONDecodeError is a ValueError
            raise CliError(EXIT_INVALID, [f"{path}: {exc}"]) from None
    plan, before, request = loaded
    if args.events:
        if request is None:
            raise CliError(EXIT_INVALID, ["show: --events adds to the day of --request; give --request too"])
        for path in args.events:
            _add_events(request, _read_events(path))
    for path in _draw(plan, request, tz, html=args.html, png=args.png, before=before):
        print(path)
    return EXIT_OK


def _add_events(request: pb.SolveRequest, events: pb.ReoptimizeRequest) -> None:
    """The jobs and technicians that ``events`` brought into the day, added to ``request``."""
    for event in events.events:
        if event.HasField("new_job"):
            job = request.jobs.add()
            job.CopyFrom(event.new_job)
            # An event's respond_within counts from the event, the request's from its start;
            # with no time in the file the deadline is unknown here, and not drawn.
            if job.HasField("respond_within") and events.HasField("time"):
                since_start = events.time.seconds - request.start_time.seconds
                job.respond_within.FromSeconds(job.respond_within.seconds + since_start)
            else:
                job.ClearField("respond_within")
        elif event.HasField("technician_added"):  # new, or the same technician with a longer shift
            added = event.technician_added
            known = next((t for t in request.technicians if t.id == added.id), None)
            (known or request.technicians.add()).CopyFrom(added)


def _draw(
    plan: pb.Plan,
    request: pb.SolveRequest | None,
    tz: ZoneInfo,
    *,
    html: Path | None,
    png: Path | None,
    before: pb.Plan | None = None,
) -> list[Path]:
    from dispatch.show import day_view  # noqa: PLC0415
    from dispatch.show import html as html_page  # noqa: PLC0415

    view = day_view(plan, request, tz=tz, before=before)
    written = []
    if html:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(html_page.render(view), encoding="utf-8")
        written.append(html)
    if png:
        from dispatch.show import png as png_image  # noqa: PLC0415 (matplotlib only when asked)

        png.parent.mkdir(parents=True, exist_ok=True)
        png_image.render(view, png)
        written.append(png)
    return written


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


def _load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise CliError(EXIT_INVALID, [f"{path}: {exc.strerror}"]) from None
    except json.JSONDecodeError as exc:
        raise CliError(EXIT_INVALID, [f"{path}: not JSON ({exc})"]) from None


def _read(path: Path, message: object) -> object:
    return _parse(_load_json(path), message, path)


def _parse(raw: object, message: object, path: Path) -> object:
    try:
        json_format.ParseDict(raw, message)
    except json_format.ParseError as exc:
        raise CliError(EXIT_INVALID, [f"{path}: {exc}"]) from None
    return message


def _to_json(message: object) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2) + "\n"


def _local_solve(request: pb.SolveRequest, bar: ProgressBar | None = None) -> pb.SolveResponse:
    from dispatch.server.convert import plan_to_proto, problem_from_proto  # noqa: PLC0415
    from dispatch.service import bootstrap  # noqa: PLC0415

    problem, shape = problem_from_proto(request)
    progress = None if bar is None else (lambda p: bar.update(p.objective))  # type: ignore[attr-defined]
    try:
        plan = bootstrap(pool=False).solve(problem, shape, on_progress=progress)
    except ProblemError as exc:
        raise CliError(EXIT_INVALID, ["invalid request:", *(f"  {v}" for v in exc.violations)]) from None
    except DispatchError as exc:
        raise CliError(EXIT_FAILURE, [str(exc)]) from None
    return pb.SolveResponse(plan=plan_to_proto(plan))


def _remote_solve(request: pb.SolveRequest, server: str, bar: ProgressBar | None = None) -> pb.SolveResponse:
    limit = request.options.time_limit.ToTimedelta().total_seconds() if request.options.HasField("time_limit") else 10
    if bar is None:
        return _call(server, "Solve", request, timeout=limit + 30)  # type: ignore[return-value]
    plans: list[pb.Plan] = []

    def each(update: pb.SolveUpdate) -> None:
        if update.HasField("progress"):
            bar.update(update.progress.objective)
        elif update.HasField("plan"):
            plans.append(update.plan)

    _call(server, "SolveStream", request, timeout=limit + 30, each=each)
    if not plans:
        raise CliError(EXIT_FAILURE, ["the server's solve stream ended without a plan"])
    return pb.SolveResponse(plan=plans[-1])


def _call(
    server: str, method: str, request: object, *, timeout: float, each: Callable[[Any], None] | None = None
) -> object:
    """The reply of ``method``; for a streaming method, ``each`` gets every message as it comes."""
    import grpc  # noqa: PLC0415

    from dispatch.server.client import channel as connect  # noqa: PLC0415
    from dispatch.v1 import dispatch_pb2_grpc  # noqa: PLC0415

    with connect(server) as channel:
        stub = dispatch_pb2_grpc.DispatchStub(channel)
        try:
            reply = getattr(stub, method)(request, timeout=timeout)
            if each is None:
                return reply
            for message in reply:
                each(message)
            return None
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
