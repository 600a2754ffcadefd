"""The commands: ``serve``, ``notifier``, ``health``, ``solve``, ``reoptimize``, ``suggest``,
``validate``, ``show``, ``demo`` (each ``(args) -> exit code``; errors they let through: ``exits.exit_for``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from google.protobuf import json_format
from google.protobuf.message import Message

from dispatch.domain import known_zone
from dispatch.errors import ProblemError
from dispatch.v1 import dispatch_pb2 as pb

if TYPE_CHECKING:
    from dispatch.config import Settings
    from dispatch.domain import Plan, Problem
    from dispatch.show.progress import ProgressBar

from dispatch.cli.exits import EXIT_FAILURE, EXIT_INVALID, EXIT_OK, CliError
from dispatch.cli.output import print_diff, print_slots, print_suggestions, print_summary
from dispatch.cli.remote import call

M = TypeVar("M", bound=Message)

EXAMPLE_DAY = Path(__file__).resolve().parent.parent / "examples" / "metro_day.json"
#: The Prometheus port of ``serve`` and ``notifier`` when neither DISPATCH_METRICS_PORT nor --metrics-port says.
METRICS_PORT = 9100


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    """The settings of the environment, with the command line's on top; the metrics port is
    9100 unless the environment or the command line says otherwise (and only a port asked for
    must be free)."""
    from dispatch.config import Settings  # noqa: PLC0415

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

    from dispatch.bootstrap import start_notifier  # noqa: PLC0415
    from dispatch.metrics import metrics_endpoint  # noqa: PLC0415
    from dispatch.notify.templates import TemplateError  # noqa: PLC0415
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
    response = call(args.server, "GetIntegrationHealth", pb.GetIntegrationHealthRequest(), timeout=10)
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
    _override(request, args)
    if args.replace:
        request.replace = True
    if args.request_id:
        request.request_id = args.request_id
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
    print_summary(request, response.plan, _zone(args.tz, response.plan.time_zone), sys.stdout)
    if args.out:
        args.out.write_text(_to_json(response))
        print(f"\nplan written to {args.out}")
    return response


def _reoptimize(args: argparse.Namespace) -> int:
    request = _read_events(args.events)
    request.plan_id = args.plan_id
    if args.time:
        _set_time(request, args.time)
    if args.time_limit is not None:
        request.options.time_limit.FromNanoseconds(int(args.time_limit * 1e9))
    if args.expected_version is not None:
        request.expected_version = args.expected_version
    else:
        current = call(args.server, "GetPlan", pb.GetPlanRequest(plan_id=args.plan_id), timeout=30)
        request.expected_version = current.plan.version  # type: ignore[attr-defined]
    limit = args.time_limit if args.time_limit is not None else 2.0
    response = call(args.server, "Reoptimize", request, timeout=limit + 30)
    print_diff(response, _zone(args.tz, response.plan.time_zone), sys.stdout)  # type: ignore[arg-type,attr-defined]
    if args.out:
        args.out.write_text(_to_json(response))
        print(f"\nplan written to {args.out}")
    return EXIT_OK


def _suggest(args: argparse.Namespace) -> int:
    """Who can go: the server's options for one more job in a stored plan, as a table."""
    _zone(args.tz)  # a bad --tz fails before the call
    if args.max is not None and args.max < 1:
        raise CliError(EXIT_INVALID, [f"--max: at least 1 option (got {args.max})"])
    raw = _load_json(args.job)
    if not isinstance(raw, dict):
        raise CliError(EXIT_INVALID, [f"{args.job}: expected one Job (a JSON object), got a JSON {type(raw).__name__}"])
    request = pb.SuggestTechniciansRequest(plan_id=args.plan_id, job=_parse(raw, pb.Job(), args.job))
    if args.time:
        _set_time(request, args.time)
    if args.expected_version is not None:
        request.expected_version = args.expected_version
    if args.max is not None:
        request.max_options = args.max
    response: pb.SuggestTechniciansResponse = call(args.server, "SuggestTechnicians", request, timeout=60)  # type: ignore[assignment]
    print_suggestions(response, request.job.id, _zone(args.tz, response.time_zone), sys.stdout)
    if args.out:
        args.out.write_text(_to_json(response))
        print(f"\noptions written to {args.out}")
    return EXIT_OK


def _slots(args: argparse.Namespace) -> int:
    """When can you come: the server's slots for one more job in a stored plan, as a table."""
    _zone(args.tz)  # a bad --tz fails before the call
    length = _length(args.slot_length)
    if args.max is not None and args.max < 1:
        raise CliError(EXIT_INVALID, [f"--max: at least 1 slot (got {args.max})"])
    raw = _load_json(args.job)
    if not isinstance(raw, dict):
        raise CliError(EXIT_INVALID, [f"{args.job}: expected one Job (a JSON object), got a JSON {type(raw).__name__}"])
    request = pb.SuggestSlotsRequest(plan_id=args.plan_id, job=_parse(raw, pb.Job(), args.job), days=args.days)
    request.slot_length.FromSeconds(length)
    if args.time:
        _set_time(request, args.time)
    if args.max is not None:
        request.max_options = args.max
    response: pb.SuggestSlotsResponse = call(args.server, "SuggestSlots", request, timeout=60)  # type: ignore[assignment]
    print_slots(response, request.job.id, _zone(args.tz, response.time_zone), sys.stdout)
    if args.out:
        args.out.write_text(_to_json(response))
        print(f"\nslots written to {args.out}")
    return EXIT_OK


def _length(text: str) -> int:
    """``--slot-length``: seconds from "2h", "90m", "3600s" or a bare number of seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    value, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(value) * units[unit]
    except ValueError:
        raise CliError(EXIT_INVALID, [f"--slot-length: not a length ({text!r}; e.g. 2h, 90m)"]) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise CliError(EXIT_INVALID, [f"--slot-length: must be positive (got {text!r})"])
    return round(seconds)


def _set_time(
    request: pb.ReoptimizeRequest | pb.SuggestTechniciansRequest | pb.SuggestSlotsRequest, value: str
) -> None:
    try:
        request.time.FromJsonString(value)
    except ValueError as exc:
        raise CliError(EXIT_INVALID, [f"--time: not an RFC 3339 time ({exc})"]) from None


def _zone(name: str | None, plan_zone: str = "") -> ZoneInfo:
    """``--tz`` if given, else the plan's time zone, else UTC."""
    if name is None:
        return ZoneInfo(plan_zone) if known_zone(plan_zone) else ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        raise CliError(EXIT_INVALID, [f"--tz: unknown time zone {name!r}"]) from None


def _read_events(path: Path) -> pb.ReoptimizeRequest:
    """A file holding the events array (or ``{"events": [...], "time": RFC 3339}``) as a ``ReoptimizeRequest``."""
    raw = _load_json(path)
    if isinstance(raw, list):
        raw = {"events": raw}
    if not isinstance(raw, dict) or set(raw) - {"events", "time"}:
        raise CliError(EXIT_INVALID, [f'{path}: expected an array of events or {{"events": [...], "time": ...}}'])
    return _parse(raw, pb.ReoptimizeRequest(), path)


def _override(request: pb.SolveRequest, args: argparse.Namespace) -> None:
    """The request's options as the command line says (``--time-limit``, ``--balance``, ``--balance-weight``)."""
    if args.time_limit is not None:
        request.options.time_limit.FromNanoseconds(int(args.time_limit * 1e9))
    if args.balance is not None:
        request.options.balance = pb.Balance.Value(args.balance.upper())
    if args.balance_weight is not None:
        request.options.balance_weight = args.balance_weight


def _demo(args: argparse.Namespace) -> int:
    print(f"Example day: {EXAMPLE_DAY.name} (great-circle travel, no keys, no Redis)\n")
    request = _read(EXAMPLE_DAY, pb.SolveRequest())
    _override(request, args)
    solve_args = argparse.Namespace(server=None, progress=args.progress, tz=None, out=args.out)
    response = _solve_request(request, solve_args)
    html, png = args.show_dir / "plan.html", args.show_dir / "plan.png"
    _draw(
        _domain_plan(response.plan), _domain_problem(request), _zone(None, response.plan.time_zone), html=html, png=png
    )
    print(f"\nmap and timeline: {html.resolve()}\n                  {png.resolve()}")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    if not args.html and not args.png:
        raise CliError(EXIT_INVALID, ["show: give --html FILE and/or --png FILE"])
    if args.plan and args.after:
        raise CliError(EXIT_INVALID, ["show: give the plan either as PLAN or as --after, not both"])
    after = args.plan or args.after
    if after is None:
        raise CliError(EXIT_INVALID, ["show: which plan? give PLAN (or --before and --after)"])
    _zone(args.tz)  # a bad --tz fails before anything is read
    loaded: list[Any] = []
    for path, load in ((after, _load_plan), (args.before, _load_plan), (args.request, _load_request)):
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
    drawn = _draw(
        _domain_plan(plan),
        _domain_problem(request) if request is not None else None,
        _zone(args.tz, plan.time_zone),
        html=args.html,
        png=args.png,
        before=_domain_plan(before) if before is not None else None,
    )
    for path in drawn:
        print(path)
    return EXIT_OK


def _load_plan(path: Path) -> pb.Plan:
    """A ``Plan`` from a JSON file holding a plan or a Solve/GetPlan/Reoptimize response."""
    raw = json.loads(path.read_text())
    if isinstance(raw, dict) and isinstance(raw.get("plan"), dict):
        raw = raw["plan"]
    return json_format.ParseDict(raw, pb.Plan())


def _load_request(path: Path) -> pb.SolveRequest:
    return json_format.ParseDict(json.loads(path.read_text()), pb.SolveRequest())


def _domain_plan(plan: pb.Plan) -> Plan:
    """``plan`` as the domain's, its times counted from its own ``start_time``. Drawn as it is:
    what does not parse (a missing time, an unknown reason) is not an error here."""
    from dispatch.server.convert import plan_from_proto  # noqa: PLC0415

    return plan_from_proto(plan, plan.start_time.seconds)[0]


def _domain_problem(request: pb.SolveRequest) -> Problem:
    """``request`` as the domain's ``Problem`` (drawn as it is, like ``_domain_plan``)."""
    from dispatch.horizon import expand  # noqa: PLC0415
    from dispatch.server.convert import problem_from_proto  # noqa: PLC0415

    problem = problem_from_proto(request)[0]
    try:
        return expand(problem)  # one technician per shift, as the plan's routes are
    except ProblemError:
        return problem


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
    plan: Plan,
    problem: Problem | None,
    tz: ZoneInfo,
    *,
    html: Path | None,
    png: Path | None,
    before: Plan | None = None,
) -> list[Path]:
    from dispatch.show import day_views  # noqa: PLC0415
    from dispatch.show import html as html_page  # noqa: PLC0415

    views = day_views(plan, problem, tz=tz, before=before)
    written = []
    if html:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(html_page.render(views), encoding="utf-8")
        written.append(html)
    if png:
        from dispatch.show import png as png_image  # noqa: PLC0415 (matplotlib only when asked)

        png.parent.mkdir(parents=True, exist_ok=True)
        for k, view in enumerate(views):  # several days: the first in PNG, the others beside it (-2, -3, ...)
            path = png if k == 0 else png.with_name(f"{png.stem}-{k + 1}{png.suffix}")
            png_image.render(view, path)
            written.append(path)
    return written


def _validate(args: argparse.Namespace) -> int:
    request = _read(args.problem, pb.SolveRequest())
    raw = json.loads(args.plan.read_text())
    plan = pb.Plan()
    _parse(raw.get("plan", raw), plan, args.plan)
    if args.server:
        response: Any = call(args.server, "Validate", pb.ValidateRequest(request=request, plan=plan), timeout=60)
        violations = [(v.code, v.message, v.technician_id, v.job_id) for v in response.violations]
    else:
        from dispatch.bootstrap import bootstrap  # noqa: PLC0415
        from dispatch.server.convert import plan_from_proto, problem_from_proto  # noqa: PLC0415

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


def _load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise CliError(EXIT_INVALID, [f"{path}: {exc.strerror}"]) from None
    except json.JSONDecodeError as exc:
        raise CliError(EXIT_INVALID, [f"{path}: not JSON ({exc})"]) from None


def _read(path: Path, message: M) -> M:
    return _parse(_load_json(path), message, path)


def _parse(raw: object, message: M, path: Path) -> M:
    try:
        json_format.ParseDict(raw, message)
    except json_format.ParseError as exc:
        raise CliError(EXIT_INVALID, [f"{path}: {exc}"]) from None
    return message


def _to_json(message: object) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2) + "\n"


def _local_solve(request: pb.SolveRequest, bar: ProgressBar | None = None) -> pb.SolveResponse:
    from dispatch.bootstrap import bootstrap  # noqa: PLC0415
    from dispatch.server.convert import plan_to_proto, problem_from_proto  # noqa: PLC0415

    problem, shape = problem_from_proto(request)
    progress = None if bar is None else (lambda p: bar.update(p.objective))
    plan = bootstrap(pool=False).solve(problem, shape, on_progress=progress)  # errors: exits.exit_for
    return pb.SolveResponse(plan=plan_to_proto(plan))


def _remote_solve(request: pb.SolveRequest, server: str, bar: ProgressBar | None = None) -> pb.SolveResponse:
    limit = request.options.time_limit.ToTimedelta().total_seconds() if request.options.HasField("time_limit") else 10
    if bar is None:
        return call(server, "Solve", request, timeout=limit + 30)  # type: ignore[return-value]
    plans: list[pb.Plan] = []

    def each(update: pb.SolveUpdate) -> None:
        if update.HasField("progress"):
            bar.update(update.progress.objective)
        elif update.HasField("plan"):
            plans.append(update.plan)

    call(server, "SolveStream", request, timeout=limit + 30, each=each)
    if not plans:
        raise CliError(EXIT_FAILURE, ["the server's solve stream ended without a plan"])
    return pb.SolveResponse(plan=plans[-1])
