"""Structured logs: one JSON object per line with the request id of the RPC being served, phone
numbers masked and secrets blanked whoever logged them; ``--log-level`` before or after the command."""

from __future__ import annotations

import io
import json
import logging
import threading

import grpc
import pytest

from dispatch import cli, logs
from dispatch.cli import parser as cli_parser
from dispatch.v1 import dispatch_pb2 as pb
from tests.support.console_requests import small_day, to_proto


@pytest.fixture
def captured():
    """What the ``dispatch`` loggers write at INFO through the JSON formatter, as parsed lines."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("dispatch")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    lines: list[dict] = []

    def read() -> list[dict]:
        lines[:] = [json.loads(line) for line in out.getvalue().splitlines()]
        return lines

    yield read
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_line_is_one_json_object_with_the_request_id_and_extra_fields(captured):
    log = logging.getLogger("dispatch.test")
    logs.request_id.set("req-1")
    try:
        log.info("planned %d jobs", 3, extra={"plan_id": "p1", "jobs": 3})
        try:
            raise ValueError("boom +13035550199")
        except ValueError:
            log.exception("failed for %s", "(303) 555-0199")
    finally:
        logs.request_id.set("")
    log.warning("outside a request")
    first, failure, outside = captured()
    assert first["message"] == "planned 3 jobs" and first["request_id"] == "req-1"
    assert first["plan_id"] == "p1" and first["jobs"] == 3 and first["level"] == "INFO"
    assert first["logger"] == "dispatch.test" and first["time"].endswith("Z")
    assert failure["message"] == "failed for ********99" and "ValueError: boom *********99" in failure["exception"]
    assert "request_id" not in outside


def test_phone_numbers_are_masked_but_dates_ids_and_ports_are_not():
    text = "plan denver-2026-03-03 at 2026-03-03T14:30:00Z on 127.0.0.1:50051, job J0001234, 12.5 s"
    assert logs.mask(text) == text
    for phone in ("+13035550199", "+1 (303) 555-0199", "303-555-0199", "(303) 555-0199", "3035550199", "+442079460958"):
        masked = logs.mask(f"to {phone}.")
        assert masked.endswith("99.") or masked.endswith("58."), masked
        assert "555" not in masked and "*" in masked


def test_a_known_phone_number_is_masked_whatever_its_form():
    for phone in ("020 7946 0958", "0044 20 7946 0958", "303-555-0199 x12", "06 12 34 56 78", "+13035550199"):
        masked = logs.mask_phone(phone)
        digits = "".join(c for c in phone if c.isdigit())
        assert masked == "*" * (len(digits) - 2) + digits[-2:], (phone, masked)
    assert logs.mask_phone("") == "" and logs.mask_phone("7") == "7"


def test_registered_secrets_are_blanked_in_every_line():
    logs.redact("tok-0123456789abcdef")
    assert logs.scrub("Authorization: Bearer tok-0123456789abcdef") == "Authorization: Bearer [REDACTED]"
    formatter = logs.TextFormatter()
    record = logging.LogRecord("urllib3", logging.DEBUG, "", 0, "GET /?t=%s", ("tok-0123456789abcdef",), None)
    assert "tok-0123456789abcdef" not in formatter.format(record)


def test_places_in_request_urls_logged_by_http_clients_are_left_out():
    """urllib3 at DEBUG prints every Google request line: where the customers are goes, the rest stays."""
    formatter = logs.JsonFormatter()
    line = (
        '%s "GET /maps/api/distancematrix/json?origins=39.74%%2C-104.99%%7C39.75%%2C-104.98'
        '&destinations=enc%%3Aabc%%3A&key=K HTTP/1.1" 200 812'
    )
    record = logging.LogRecord("urllib3", logging.DEBUG, "", 0, line, ("https://maps.googleapis.com:443",), None)
    first = json.loads(formatter.format(record))["message"]
    assert "39.74" not in first and "enc" not in first and "origins=[PLACES]&destinations=[PLACES]" in first
    assert "distancematrix/json" in first and "200 812" in first
    geocode = "GET /maps/api/geocode/json?address=1600+Main+St%2C+Denver&key=K"
    second = logs.TextFormatter().format(logging.LogRecord("googlemaps", logging.DEBUG, "", 0, geocode, (), None))
    assert "Main" not in second and "address=[PLACES]" in second


def test_every_line_logged_while_serving_an_rpc_carries_its_request_id(stub, captured):
    reply, call = stub.Solve.with_call(
        to_proto(small_day(jobs=2)), metadata=(("x-request-id", "console-abc.1"),), timeout=30
    )
    assert ("x-request-id", "console-abc.1") in call.initial_metadata()
    _, call = stub.GetPlan.with_call(pb.GetPlanRequest(plan_id=reply.plan.plan_id), timeout=5)
    made = dict(call.initial_metadata())["x-request-id"]  # none given: one is made
    assert len(made) == 16
    with pytest.raises(grpc.RpcError):  # an id that is not one (too long) is replaced too
        stub.GetPlan(pb.GetPlanRequest(plan_id="nope"), metadata=(("x-request-id", "x" * 200),), timeout=5)
    lines = captured()
    solve = [e for e in lines if e.get("request_id") == "console-abc.1"]
    assert [e["message"].split()[0] for e in solve][-2:] == ["solved", "Solve"]
    assert solve[-1]["rpc"] == "Solve" and solve[-1]["code"] == "OK"
    assert any(e.get("request_id") == made and e.get("code") == "OK" for e in lines)
    refused = [e for e in lines if e.get("code") == "NOT_FOUND"]
    assert refused and len(refused[-1]["request_id"]) == 16
    # a stream's worker thread logs under the id of the call that started it
    list(stub.SolveStream(to_proto(small_day(jobs=2)), metadata=(("x-request-id", "stream-9"),), timeout=30))
    assert any(e.get("request_id") == "stream-9" and "solved" in e["message"] for e in captured())


def test_in_context_carries_the_request_id_into_a_thread():
    seen = []
    logs.request_id.set("outer")
    try:
        thread = threading.Thread(target=logs.in_context(lambda: seen.append(logs.request_id.get())))
    finally:
        logs.request_id.set("")
    thread.start()
    thread.join()
    assert seen == ["outer"]


def test_log_level_and_format_before_or_after_the_command():
    parser = cli_parser._parser()
    args = parser.parse_args(["--log-level", "debug", "serve"])
    assert args.log_level == "debug" and args.default_log_format == "json"
    args = parser.parse_args(["serve", "--log-level", "error", "--log-format", "text"])
    assert (args.log_level, args.log_format) == ("error", "text")
    args = parser.parse_args(["solve", "day.json"])
    assert (args.log_level, args.default_log_level, args.default_log_format) == (None, "warning", "text")


def test_a_log_setting_that_is_none_of_the_choices_is_named(monkeypatch, capsys):
    monkeypatch.setenv("DISPATCH_LOG_LEVEL", "chatty")
    assert cli.main(["solve", "day.json"]) == 2
    assert "DISPATCH_LOG_LEVEL='chatty': one of debug, info, warning, error" in capsys.readouterr().err
    monkeypatch.setenv("DISPATCH_LOG_LEVEL", "DEBUG")  # any case
    monkeypatch.setenv("DISPATCH_LOG_FORMAT", "xml")
    assert cli.main(["solve", "day.json"]) == 2
    assert "DISPATCH_LOG_FORMAT='xml'" in capsys.readouterr().err
