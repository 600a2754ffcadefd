"""The ``dispatch`` command line: the parser and ``main`` (exit codes: ``dispatch.cli.exits``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from dispatch import logs
from dispatch.cli.commands import (
    METRICS_PORT,
    _demo,
    _health,
    _notifier,
    _reoptimize,
    _serve,
    _show,
    _slots,
    _solve,
    _suggest,
    _validate,
)
from dispatch.cli.exits import EXIT_INVALID, EXIT_OK, HANDLED, exit_for

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")


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
    except HANDLED as exc:
        code, lines = exit_for(exc)
        for line in lines:
            print(line, file=sys.stderr)
        return code


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
    _balance_options(solve)
    solve.add_argument(
        "--tz", help="time zone of the printed clock times (e.g. America/Denver; default: the plan's, else UTC)"
    )
    solve.add_argument(
        "--replace",
        action="store_true",
        help="on a server: plan the day anew even if its plan_id already has a live day (else ALREADY_EXISTS)",
    )
    solve.add_argument(
        "--request-id",
        help="idempotency key: the same command re-run with it gets the plan the first run stored",
    )
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
    reopt.add_argument(
        "--tz", help="time zone of the printed clock times (e.g. America/Denver; default: the plan's, else UTC)"
    )
    reopt.set_defaults(run=_reoptimize)

    suggest = sub.add_parser(
        "suggest",
        help="who can go: rank the technicians who could take one more job into a stored plan (needs a server)",
        description=(
            "Ask a dispatch server which technicians could take JOB into the stored plan PLAN_ID, best first, "
            "and print one row per option: when each would arrive and start, the travel it adds, the visits "
            "it pushes, the jobs it leaves unassigned and the promised windows it breaks. Nothing is stored: "
            "to take an option, send the job as a new_job event with an assign (dispatch reoptimize). "
            "There is no in-process mode: the plan lives on the server (--server)."
        ),
    )
    suggest.add_argument("plan_id", metavar="PLAN_ID")
    suggest.add_argument(
        "job",
        metavar="JOB.json",
        type=Path,
        help="one Job in the protobuf JSON mapping (usually a new EMERGENCY; respond_within from --time)",
    )
    suggest.add_argument(
        "--server",
        default=os.environ.get("DISPATCH_SERVER", "localhost:50051"),
        help="host:port of the dispatch server holding the plan (default $DISPATCH_SERVER or localhost:50051)",
    )
    suggest.add_argument("--time", metavar="RFC3339", help="now, RFC 3339 (default: the server's clock)")
    suggest.add_argument(
        "--expected-version",
        type=int,
        metavar="V",
        help="the plan version to suggest against (default: the current one)",
    )
    suggest.add_argument("--max", type=int, metavar="N", help="at most N options (server default 5)")
    suggest.add_argument("--out", type=Path, metavar="RESP.json", help="write the SuggestTechniciansResponse JSON here")
    suggest.add_argument(
        "--tz", help="time zone of the printed clock times (e.g. America/Denver; default: the plan's, else UTC)"
    )
    suggest.set_defaults(run=_suggest)

    slots = sub.add_parser(
        "slots",
        help="when can you come: the arrival windows that fit one more job into a stored plan (needs a server)",
        description=(
            "Ask a dispatch server which arrival windows fit JOB into the stored plan PLAN_ID with every promise "
            "kept, best first: slots of --slot-length starting on the hour (the plan's time zone) inside the "
            "technicians' shifts over --days days. Nothing is stored: to book one, send the job as a new_job "
            "event whose time window is the slot (dispatch reoptimize)."
        ),
    )
    slots.add_argument("plan_id", metavar="PLAN_ID")
    slots.add_argument("job", metavar="JOB.json", type=Path, help="one Job in the protobuf JSON mapping")
    slots.add_argument("--slot-length", default="2h", metavar="LEN", help="e.g. 2h, 90m, 3600s (default 2h)")
    slots.add_argument("--days", type=int, default=1, metavar="N", help="days of slots from --time (default 1)")
    slots.add_argument(
        "--server",
        default=os.environ.get("DISPATCH_SERVER", "localhost:50051"),
        help="host:port of the dispatch server holding the plan (default $DISPATCH_SERVER or localhost:50051)",
    )
    slots.add_argument("--time", metavar="RFC3339", help="now, RFC 3339 (default: the server's clock)")
    slots.add_argument("--max", type=int, metavar="N", help="at most N slots (server default 5)")
    slots.add_argument("--out", type=Path, metavar="RESP.json", help="write the SuggestSlotsResponse JSON here")
    slots.add_argument("--tz", help="time zone of the printed clock times (default: the plan's, else UTC)")
    slots.set_defaults(run=_slots)

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
    show.add_argument(
        "--tz", help="time zone of the printed clock times (e.g. America/Denver; default: the plan's, else UTC)"
    )
    show.set_defaults(run=_show)

    demo = sub.add_parser("demo", help="plan the bundled example day on embedded defaults")
    demo.add_argument("--time-limit", type=float, default=None)
    _balance_options(demo)
    demo.add_argument("--out", type=Path)
    demo.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="as for solve")
    demo.add_argument(
        "--show-dir", type=Path, default=Path("dispatch-demo"), help="where the map/timeline HTML and PNG go"
    )
    demo.set_defaults(run=_demo)
    return parser


def _balance_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--balance",
        choices=["none", "work_time", "job_count"],
        help="spread the day fairly (overrides the file's options.balance)",
    )
    parser.add_argument("--balance-weight", type=float, help="what fairness is worth against driving (default 1)")


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
