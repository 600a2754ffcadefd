"""The notifier against a loopback fake of the Twilio Messages API, with the real twilio client;
templates, segments, dedupe (memory and a real Redis), opt-outs, retries and settling."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import threading
import time
from pathlib import Path

import pytest
import redis

from dispatch import cli
from dispatch.domain import Priority
from dispatch.eta import EtaEvent, EtaKind
from dispatch.notify.claims import MemoryClaims, RedisClaims
from dispatch.notify.health import IntegrationLog, RedisIntegrationLog
from dispatch.notify.notifier import Notifier
from dispatch.notify.outcome import Handled
from dispatch.notify.policy import TOLD, text_key
from dispatch.notify.replies import phone_keys
from dispatch.notify.sms import Sms, TwilioSettings, e164, mask
from dispatch.notify.templates import Messages, TemplateError, segments
from dispatch.stream import MemoryEtaStream, RedisEtaStream, encode
from tests.support.fake_twilio import SID, TOKEN, FakeTwilio

PHONE = "+13035550199"
T0 = 1_772_470_800  # 2026-03-02T17:00:00Z, 10:00 in Denver


@pytest.fixture(scope="module")
def fake():
    server = FakeTwilio()
    yield server
    server.close()


@pytest.fixture
def twilio(fake):
    fake.reset()
    return TwilioSettings(
        account_sid=SID, auth_token=TOKEN, from_number="+13035550000", base_url=fake.base_url, timeout=1.0
    )


def event(kind=EtaKind.DEPARTED, job="j1", eta=T0 + 40 * 60, phone=PHONE, **more) -> EtaEvent:
    return EtaEvent(
        plan_id="p1",
        version=more.pop("version", 2),
        kind=kind,
        job_id=job,
        technician_id="mike",
        eta=eta,
        window_start=eta - 900,
        window_end=eta + 900,
        at=T0,
        service_type=more.pop("service_type", "AC repair"),
        customer_name="Pat",
        customer_phone=phone,
        technician_name="Mike",
        technician_phone="+13035550101",
        **more,
    )


MESSAGES = Messages(
    business_name="Acme Air",
    emergency_phone="+13035550100",
    tracking_link="https://acme.example/t/{job_id}",
    time_zone="America/Denver",
)


def notifier(twilio, **kw) -> Notifier:
    kw.setdefault("lease", 0.0)  # one handler at a time here: an unfinished claim is settled at once
    kw.setdefault("settle", 0.0)  # moves texted at once (unless back to what was told): held moves have their test
    messages = kw.pop("messages", MESSAGES)
    return Notifier(
        MemoryEtaStream(), sms=Sms(twilio) if twilio else None, messages=messages, sleep=lambda s: None, **kw
    )


def claims_in(store: str, request: pytest.FixtureRequest) -> MemoryClaims | RedisClaims:
    """Claims in memory, or in the test suite's (emptied) redis-server."""
    if store == "memory":
        return MemoryClaims()
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    client.flushdb()
    return RedisClaims(client)


# ---------------------------------------------------------------------------- templates


def test_the_seed_wording_is_the_default_and_renders_in_the_business_time_zone(twilio):
    n = notifier(twilio)
    kind, text = n.text(event())
    assert kind == "en_route"
    assert text == (
        "Mike is on the way! ETA: 10:40. Track live: https://acme.example/t/j1. "
        "Call/text +13035550101 directly with questions."
    )
    kind, text = n.text(
        event(EtaKind.EMERGENCY, eta=T0 + 35 * 60, priority=Priority.EMERGENCY, service_type="plumbing")
    )
    assert kind == "emergency"
    assert text == (
        "EMERGENCY SERVICE: We received your urgent plumbing request. Mike will arrive within 35 min. "
        "Emergency contact: +13035550100"
    )


def test_a_template_with_an_unknown_variable_fails_when_loaded(tmp_path: Path):
    path = tmp_path / "messages.json"
    path.write_text('{"templates": {"en_route": "{technician_name} comes at {eta_time}"}}')
    with pytest.raises(TemplateError, match="en_route: unknown variable.*eta_time"):
        Messages.load(path)
    path.write_text('{"templates": {"en_route": "{technician_name} comes at {eta}"}, "business_name": "X"}')
    assert Messages.load(path).templates["en_route"] == "{technician_name} comes at {eta}"
    path.write_text('{"templates": {"en_route": "{technician_name} at {eta:d}"}}')  # fails at load, not when sent
    with pytest.raises(TemplateError, match="en_route: ValueError"):
        Messages.load(path)
    path.write_text('{"templates": {"invoice": "hi"}}')
    with pytest.raises(TemplateError, match="unknown message kind"):
        Messages.load(path)


def test_segments_count_gsm7_and_ucs2():
    assert segments("a" * 160) == segments("a" * 160) and segments("a" * 160).segments == 1
    assert segments("a" * 161).segments == 2 and segments("a" * 306).segments == 2 and segments("a" * 307).segments == 3
    assert segments("€" * 80).characters == 160 and segments("€" * 81).segments == 2  # extension: 2 each
    assert segments("ETA 10:40 🚐").encoding == "UCS-2" and segments("é" * 70).encoding == "GSM-7"
    assert segments("ü" * 10 + "ł" * 60).segments == 1 and segments("ł" * 71).segments == 2


# ---------------------------------------------------------------------------- sending


def test_a_departure_is_texted_once(twilio, fake):
    n = notifier(twilio)
    assert n.handle(event()) is Handled.SENT
    assert n.handle(event()) is Handled.DUPLICATE
    assert n.handle(event(eta=T0 + 45 * 60)) is Handled.DUPLICATE  # same 10-minute ETA bucket
    assert len(fake.sent_to(PHONE)) == 1
    assert n.integrations.report("twilio").status == "healthy"


def test_without_credentials_the_text_goes_to_the_log_with_the_phone_masked(caplog):
    n = notifier(None)
    with caplog.at_level(logging.INFO, logger="dispatch.notify"):
        assert n.handle(event()) is Handled.LOGGED
    assert "Mike is on the way!" in caplog.text and PHONE not in caplog.text and "*********99" in caplog.text


def test_ids_with_colons_never_share_a_dedupe_key(twilio, fake):
    """Plan ``a:b`` with job ``c`` and plan ``a`` with job ``b:c`` are two customers: each is texted."""
    n = notifier(twilio)
    one = dataclasses.replace(event(job="c"), plan_id="a:b")
    two = dataclasses.replace(event(job="b:c", phone="+13035550123"), plan_id="a")
    assert text_key(one, "en_route") != text_key(two, "en_route")
    assert n.handle(one) is Handled.SENT and n.handle(two) is Handled.SENT and fake.attempts == 2
    assert text_key(event(), "en_route").startswith("dispatch:sms:p1:j1:")  # plain ids: the keys they always had


def test_permanent_errors_are_not_retried_and_stop_is_respected(twilio, fake, caplog):
    n = notifier(twilio)
    fake.script.append("21211")
    with caplog.at_level(logging.DEBUG):
        assert n.handle(event()) is Handled.FAILED
    assert n.claims.get(text_key(event(), "en_route")) == "failed:21211"  # the code, in the claim
    assert fake.attempts == 1 and n.handle(event()) is Handled.SKIPPED_OPTED_OUT and fake.attempts == 1
    assert n.handle(event(job="j4", kind=EtaKind.MOVED)) is Handled.SKIPPED_OPTED_OUT  # an invalid number stays invalid
    assert fake.attempts == 1
    fake.script.append("21610")
    assert n.handle(event(job="j2", phone="+13035550123")) is Handled.FAILED
    assert n.claims.get(text_key(event(job="j2"), "en_route")) == "failed:21610"
    assert n.handle(event(job="j3", phone="+13035550123", kind=EtaKind.MOVED)) is Handled.SKIPPED_OPTED_OUT
    assert fake.attempts == 2
    assert "+13035550123" not in caplog.text and PHONE not in caplog.text


def test_rate_limits_and_server_errors_are_retried_until_sent_once(twilio, fake):
    n = notifier(twilio)
    fake.script.extend(["429", "500", "429", "500"])
    assert n.handle(event()) is Handled.SENT
    assert fake.attempts == 5 and len(fake.sent_to(PHONE)) == 1
    health = n.integrations.report("twilio")
    assert health.attempts == 5 and health.errors == 4 and health.status == "warning"


def test_every_attempt_is_counted_for_prometheus_by_result_and_error_code(twilio, fake):
    from prometheus_client import REGISTRY  # noqa: PLC0415

    def count(result: str, code: str) -> float:
        labels = {"kind": "en_route", "result": result, "code": code}
        return REGISTRY.get_sample_value("dispatch_texts_total", labels) or 0.0

    before = {key: count(*key) for key in (("retried", "20429"), ("sent", ""), ("failed", "21211"))}
    n = notifier(twilio)
    fake.script.extend(["429", "ok", "21211"])
    assert n.handle(event()) is Handled.SENT
    assert n.handle(event(job="j2", phone="+13035550123")) is Handled.FAILED
    assert {key: count(*key) - was for key, was in before.items()} == {
        ("retried", "20429"): 1,
        ("sent", ""): 1,
        ("failed", "21211"): 1,
    }


def test_a_create_that_timed_out_is_settled_not_resent(twilio, fake):
    n = notifier(twilio)
    fake.script.append("slow:2")  # the client gives up after 1 s; the message was created
    assert n.handle(event()) is Handled.RETRY
    time.sleep(1.2)
    assert n.handle(event()) is Handled.DUPLICATE  # Twilio has it: not sent again
    assert len(fake.sent_to(PHONE)) == 1
    fake.script.append("drop")  # created, then the connection closes without an answer
    assert n.handle(event(job="j9")) is Handled.RETRY
    assert n.handle(event(job="j9")) is Handled.DUPLICATE
    assert len(fake.sent_to(PHONE)) == 2


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_an_appointment_is_confirmed_24_hours_before_with_the_eta_then_current(store, twilio, fake, request):
    now = [float(T0)]
    claims = claims_in(store, request)
    n = notifier(twilio, claims=claims, clock=lambda: now[0])
    visit = T0 + 3 * 86_400  # three days ahead
    assert n.handle(event(EtaKind.PLANNED, eta=visit)) is Handled.SCHEDULED and not fake.messages
    moved = event(EtaKind.MOVED, eta=visit + 2 * 3600, previous_eta=visit)
    assert n.handle(moved) is Handled.RESCHEDULED and not fake.messages  # nothing was told yet: no update
    assert n.handle(event(EtaKind.PLANNED, job="j2", eta=visit)) is Handled.SCHEDULED
    assert n.handle(event(EtaKind.WITHDRAWN, job="j2", eta=visit)) is Handled.WITHDRAWN  # cancelled: never confirmed
    now[0] = visit - 86_400 + 60  # 24 h before the first ETA, not yet before the moved one
    assert n.send_due() == [] and not fake.messages
    now[0] = visit + 2 * 3600 - 86_400 + 1
    assert n.send_due() == [Handled.SENT]
    assert len(fake.messages) == 1 and "on Thu 5 Mar at 11:45-12:15" in fake.messages[0]["body"]  # the moved ETA
    assert n.send_due() == [] and len(fake.messages) == 1
    assert n.handle(event(EtaKind.PLANNED, job="j3", eta=int(now[0]) + 3600)) is Handled.SENT  # within 24 h: at once


def test_a_broken_promise_is_an_apology_with_the_office_number_and_drops_the_confirmation(twilio, fake):
    now = [float(T0)]
    n = notifier(twilio, clock=lambda: now[0], messages=dataclasses.replace(MESSAGES, business_phone="+13035550123"))
    visit = T0 + 3 * 86_400
    assert n.handle(event(EtaKind.PLANNED, eta=visit, version=1)) is Handled.SCHEDULED  # confirmed later
    broken = event(EtaKind.PROMISE_BROKEN, eta=visit, version=2)
    assert n.handle(broken) is Handled.SENT
    assert n.handle(broken) is Handled.DUPLICATE  # replayed: texted once
    assert fake.sent_to(PHONE) == [
        "Acme Air: we're sorry - we can't make your AC repair visit as planned today. "
        "Please call us at +13035550123 to rebook."
    ]
    now[0] = visit  # the confirmation was dropped: never sent
    assert n.send_due() == [] and len(fake.messages) == 1
    assert n.handle(event(EtaKind.MOVED, eta=visit + 3600, version=1)) is Handled.STALE  # older than the apology


APOLOGY = (
    "Acme Air: we're sorry - we can't make your AC repair visit as planned today. "
    "Please call us at +13035550123 to rebook."
)


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_broken_promise_the_final_answer_takes_back_is_not_apologised_for(store, twilio, fake, request):
    """A re-plan's quick answer drops a promised job, its final answer (the next version, seconds
    later) places it again: the apology is held, then dropped; the customer gets the normal text."""
    now = [float(T0)]
    n = notifier(
        twilio,
        claims=claims_in(store, request),
        clock=lambda: now[0],
        settle=30.0,
        messages=dataclasses.replace(MESSAGES, business_phone="+13035550123"),
    )
    visit = T0 + 3 * 3600
    assert n.handle(event(EtaKind.PLANNED, eta=visit, version=1)) is Handled.SENT  # confirmed: 13:00
    broken = event(EtaKind.PROMISE_BROKEN, eta=visit, version=2)  # the quick answer
    assert n.handle(broken) is Handled.HELD and len(fake.messages) == 1
    now[0] += 2
    assert n.handle(event(EtaKind.PLANNED, eta=visit + 600, version=3)) is Handled.SENT  # the final answer
    assert n.handle(broken) is Handled.STALE  # replayed after the final answer: out of date
    now[0] += 31
    assert n.send_due() == []  # nothing held any more
    bodies = fake.sent_to(PHONE)
    assert len(bodies) == 2 and all("Confirming your" in b for b in bodies) and APOLOGY not in bodies


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_broken_promise_that_holds_is_apologised_for_once_after_the_settle_period(store, twilio, fake, request):
    now = [float(T0)]
    claims = claims_in(store, request)
    kw = {
        "claims": claims,
        "clock": lambda: now[0],
        "settle": 30.0,
        "messages": dataclasses.replace(MESSAGES, business_phone="+13035550123"),
    }
    n = notifier(twilio, **kw)
    visit = T0 + 3 * 3600
    assert n.handle(event(EtaKind.PLANNED, eta=visit, version=1)) is Handled.SENT
    broken = event(EtaKind.PROMISE_BROKEN, eta=visit, version=2)
    assert n.handle(broken) is Handled.HELD
    now[0] += 20
    assert n.send_due() == [] and len(fake.messages) == 1  # still settling
    n = notifier(twilio, **kw)  # a restart: the held apology is kept with the claims
    assert n.handle(broken) is Handled.HELD  # replayed (unacknowledged): held again in its one slot
    now[0] += 31
    assert n.send_due() == [Handled.SENT]
    assert fake.sent_to(PHONE)[1:] == [APOLOGY]
    assert n.send_due() == []
    assert n.handle(broken) is Handled.HELD  # replayed once more, after the text
    now[0] += 31
    assert n.send_due() == [Handled.DUPLICATE] and fake.sent_to(PHONE)[1:] == [APOLOGY]  # texted once


def test_an_emergency_nobody_can_reach_is_acknowledged_at_once_with_the_emergency_line(twilio, fake):
    n = notifier(twilio, clock=lambda: float(T0))
    received = dataclasses.replace(
        event(EtaKind.EMERGENCY_RECEIVED, eta=T0, priority=Priority.EMERGENCY, service_type="burst pipe"),
        technician_id="",
        technician_name="",
        technician_phone="",
        window_start=T0,
        window_end=T0,
    )
    assert n.handle(received) is Handled.SENT
    assert n.handle(received) is Handled.DUPLICATE  # replayed: texted once
    [body] = fake.sent_to(PHONE)
    assert body == (
        "EMERGENCY SERVICE: We received your urgent burst pipe request. All our technicians are busy now; "
        "our office will call you. Emergency line: +13035550100"
    )
    assert (segments(body).encoding, segments(body).segments) == ("GSM-7", 1)
    # assigned later: the emergency text with its ETA goes out too
    later = event(EtaKind.EMERGENCY, eta=T0 + 35 * 60, version=3, priority=Priority.EMERGENCY)
    assert n.handle(later) is Handled.SENT and "will arrive within 35 min" in fake.messages[-1]["body"]


def test_a_held_move_caught_mid_send_is_settled_before_a_departure_drops_it(twilio, fake):
    now = [float(T0)]
    n = notifier(twilio, clock=lambda: now[0], settle=30.0)
    moved = event(EtaKind.MOVED, eta=T0 + 3600, version=3)
    assert n.handle(moved) is Handled.HELD
    _, body = n.text(moved)  # a notifier sent it and died before recording it: Twilio has it, the claim does not
    assert n.sms.send(PHONE, body).status == "SENT"
    key = text_key(moved, "eta_update")
    n.claims.set(key, f"sending:{time.time() - 1:.3f}")
    assert n.handle(event(EtaKind.DEPARTED, eta=T0 + 3600, version=4)) is Handled.SENT
    assert n.claims.get(key) == f"sent:{fake.messages[0]['sid']}"  # settled, not resent
    now[0] += 31
    assert n.send_due() == [] and len(fake.messages) == 2


def test_a_customer_without_a_phone_is_skipped(twilio):
    assert notifier(twilio).handle(event(phone="")) is Handled.SKIPPED_NO_PHONE


# ---------------------------------------------------------------------------- completed visits, console texts

INVOICE = {"invoice_number": "INV-1042", "invoice_total": "$189.00", "payment_link": "https://pay.example/i/1042"}
SURVEYED = dataclasses.replace(MESSAGES, survey_link="https://acme.example/s/{job_id}")


def customer_message(reference: str, kind: str = "payment_reminder", phone: str = PHONE) -> EtaEvent:
    """A text the console asked for, to a bare phone number (no plan, no job)."""
    return EtaEvent(
        plan_id="",
        version=0,
        kind=EtaKind.CUSTOMER_MESSAGE,
        job_id="",
        technician_id="",
        eta=T0,
        window_start=T0,
        window_end=T0,
        at=T0,
        customer_name="Pat",
        customer_phone=phone,
        time_zone="America/Denver",
        variables={**INVOICE, "kind": kind},
        reference=reference,
    )


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_completed_visit_is_thanked_once_and_what_was_still_to_come_for_it_is_dropped(store, twilio, fake, request):
    now = [float(T0)]
    n = notifier(twilio, claims=claims_in(store, request), clock=lambda: now[0], settle=30.0, messages=SURVEYED)
    visit = T0 + 3 * 3600
    assert n.handle(event(EtaKind.PLANNED, eta=visit, version=1)) is Handled.SENT  # told: 13:00
    assert n.handle(event(EtaKind.MOVED, eta=visit + 3600, previous_eta=visit, version=2)) is Handled.HELD
    other = event(EtaKind.PLANNED, job="j2", eta=T0 + 3 * 86_400, phone="+13035550123", version=1)
    assert n.handle(other) is Handled.SCHEDULED  # confirmed later, unless the visit is over by then
    done = event(EtaKind.SERVICE_COMPLETE, eta=T0 + 600, version=3, variables=dict(INVOICE))
    assert n.handle(done) is Handled.SENT
    assert n.handle(done) is Handled.DUPLICATE  # replayed: texted once
    assert fake.sent_to(PHONE)[1:] == [
        "Thanks for choosing Acme Air! Your AC repair is complete. Total: $189.00. "
        "Tell us how we did: https://acme.example/s/j1"
    ]
    assert n.claims.get(TOLD + "p1:j1") == str(visit)  # no ETA in it: what the customer was told stands
    assert n.handle(dataclasses.replace(other, kind=EtaKind.SERVICE_COMPLETE, version=2, eta=T0 + 900)) is Handled.SENT
    now[0] = T0 + 3 * 86_400
    assert n.send_due() == []  # the held move and the other visit's confirmation were dropped
    assert len(fake.sent_to(PHONE)) == 2 and fake.sent_to("+13035550123")[0].startswith("Thanks for choosing")


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_payment_reminder_to_a_bare_number_is_texted_once_per_reference(store, twilio, fake, request):
    n = notifier(twilio, claims=claims_in(store, request))
    first = customer_message("INV-1042:2026-03-02")
    assert n.handle(first) is Handled.SENT
    assert n.handle(first) is Handled.DUPLICATE  # the same request again
    assert n.handle(customer_message("INV-1042:2026-03-02", phone="(303) 555-0199")) is Handled.DUPLICATE
    assert n.handle(customer_message("INV-1042:2026-03-09")) is Handled.SENT  # a week later: a new reference
    reminder = (
        "Hi Pat, a friendly reminder from Acme Air: invoice INV-1042 ($189.00) is due. "
        "Pay securely: https://pay.example/i/1042. Questions? Reply here!"
    )
    assert fake.sent_to(PHONE) == [reminder, reminder]
    assert text_key(first, "payment_reminder") == "dispatch:sms:msg:13035550199:payment_reminder:INV-1042%3A2026-03-02"
    assert n.claims.get(TOLD + ":") is None  # no visit, no ETA told
    thanks = customer_message("r7", kind="service_complete")
    assert n.handle(thanks) is Handled.SENT  # no job for the survey link: no survey sentence
    assert fake.sent_to(PHONE)[-1] == "Thanks for choosing Acme Air! Your service is complete. Total: $189.00."


def test_an_opted_out_number_gets_no_completion_or_console_text(twilio, fake):
    n = notifier(twilio)
    n.inbound(PHONE, "STOP", "SM1")
    done = event(EtaKind.SERVICE_COMPLETE, eta=T0, variables=dict(INVOICE))
    assert n.handle(done) is Handled.SKIPPED_OPTED_OUT
    assert n.handle(customer_message("r1")) is Handled.SKIPPED_OPTED_OUT
    assert n.handle(customer_message("r1", phone="")) is Handled.SKIPPED_NO_PHONE
    assert not fake.messages


def test_a_console_text_of_an_unknown_kind_is_dropped_as_stale(twilio, fake, caplog):
    n = notifier(twilio)
    with caplog.at_level(logging.WARNING, logger="dispatch.notify"):
        assert n.handle(customer_message("r1", kind="en_route")) is Handled.STALE  # not one a console may ask for
        assert n.handle(customer_message("r2", kind="invoice")) is Handled.STALE
        assert n.handle(dataclasses.replace(customer_message("r3"), variables={})) is Handled.STALE
    assert not fake.messages and "a customer message of unknown kind 'invoice': dropped" in caplog.text


def test_claims_in_a_redis_that_is_down_leave_the_event_for_later(twilio, fake, caplog):
    n = notifier(twilio, claims=RedisClaims(redis.Redis(port=1, socket_connect_timeout=0.2)))  # nothing listens
    with caplog.at_level(logging.WARNING, logger="dispatch.notify"):
        assert n.handle(event()) is Handled.RETRY and not fake.messages
    assert "notifier: Redis ConnectionError; the DEPARTED event of job j1 is tried again" in caplog.text


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_health_statuses(backend, request):
    now = [10_000_000.0]
    if backend == "redis":
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        client.flushdb()
        log = RedisIntegrationLog(client, clock=lambda: now[0])
    else:
        log = IntegrationLog(clock=lambda: now[0])
    assert log.report("twilio").status == "stale"
    for _ in range(20):
        log.record("twilio", ok=True, latency=0.1)
    assert log.report("twilio").status == "healthy"
    log.record("twilio", ok=False, latency=0.1, error=20429)
    assert log.report("twilio").status == "healthy"  # 20 / 21 = 95.2 %
    log.record("twilio", ok=False, latency=0.1, error=20429)
    assert log.report("twilio").status == "warning"
    for _ in range(9):
        log.record("twilio", ok=False, latency=0.1, error=500)
    report = log.report("twilio")
    assert report.status == "degraded" and report.last_error == "500" and report.attempts == 31
    assert report.mean_latency == pytest.approx(0.1)
    assert [h.integration for h in log.reports()] == ["google", "google_routes", "twilio"]
    now[0] += 3_601
    assert log.report("twilio").status == "stale"
    now[0] += 86_400
    assert log.report("twilio").attempts == 0 and log.report("twilio").last_error == ""


def test_processes_sharing_redis_share_the_health_report_and_redis_failing_loses_no_count(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys("dispatch:integrations*") or ["none"])
    server, notifier_process = RedisIntegrationLog(client), RedisIntegrationLog(client)
    notifier_process.record("twilio", ok=True, latency=0.2)
    server.record("google", ok=False, latency=1.0, error="HTTP 500")
    assert server.report("twilio").attempts == 1 and notifier_process.report("google").errors == 1
    down = RedisIntegrationLog(redis.Redis(port=1, socket_connect_timeout=0.2))  # nothing listens there
    down.record("twilio", ok=True, latency=0.1)
    report = down.report("twilio")
    assert report.attempts == 1 and report.notes and "only this process" in report.notes[0]


def test_mask_keeps_only_the_last_two_digits():
    assert mask("to +1 (303) 555-0199 and 3035550123") == "to *********99 and ********23"


def test_numbers_go_to_twilio_in_e164_however_they_were_written(twilio, fake):
    assert e164("(303) 555-0199") == "+13035550199" == e164("+13035550199") == e164("1-303-555-0199")
    assert e164("+44 20 7946 0958") == "+442079460958"
    assert e164("+64 9 123 4567") == "+6491234567"  # ten digits after a "+": New Zealand, not +1 649
    # an opt-out stored under the key such a number had before still counts; START lifts both
    assert phone_keys("+64 9 123 4567") == ("6491234567", "16491234567") and phone_keys("+13035550199") == (
        "13035550199",
    )
    assert notifier(twilio).handle(event(phone="(303) 555-0199")) is Handled.SENT
    assert [m["to"] for m in fake.messages] == ["+13035550199"]


# ---------------------------------------------------------------------------- the loop, restarts


def test_a_restarted_notifier_resumes_and_sends_nothing_twice(twilio, fake, redis_url):
    client = redis.Redis.from_url(redis_url)
    stream = RedisEtaStream.from_url(redis_url)
    events = [event(job=f"j{k}", phone=f"+1303555{k:04d}") for k in range(20)]
    stream.publish(events[:10])
    first = Notifier(stream, sms=Sms(twilio), messages=MESSAGES, claims=RedisClaims(client))
    thread, stop = first.start("n1")
    deadline = time.monotonic() + 10
    while len(fake.messages) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    # the notifier "crashed" after sending j10's text but before acknowledging it
    stream.publish(events[10:])
    crashed = Notifier(stream, sms=Sms(twilio), messages=MESSAGES, claims=RedisClaims(client))
    batch = stream.group_read("notifier", "n1", count=1)
    assert crashed.handle(batch[0][1]) is Handled.SENT  # sent, never acknowledged
    again = Notifier(stream, sms=Sms(twilio), messages=MESSAGES, claims=RedisClaims(client))
    thread, stop = again.start("n1")  # same consumer: its pending entry comes first
    deadline = time.monotonic() + 10
    while len(fake.messages) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    stop.set()
    thread.join(5)
    sent = [m["to"] for m in fake.messages]
    assert sorted(sent) == sorted(e.customer_phone for e in events)  # each exactly once
    assert client.xpending("dispatch:etas", "notifier")["pending"] == 0


def test_a_claim_still_being_worked_on_is_left_alone_until_its_lease_runs_out(twilio, fake):
    n = notifier(twilio, lease=30.0)
    key = text_key(event(), "en_route")
    n.claims.set(key, f"sending:{time.time():.3f}")  # another sender, mid-retry
    assert n.handle(event()) is Handled.RETRY and not fake.messages
    n.claims.set(key, f"sending:{time.time() - 31:.0f}")  # its lease ran out: settled with Twilio, then sent
    assert n.handle(event()) is Handled.SENT and len(fake.messages) == 1


def test_a_claim_an_earlier_run_of_the_same_consumer_left_is_settled_once_its_request_timed_out(twilio, fake):
    n = notifier(twilio, lease=30.0)
    assert n.orphan_grace == twilio.timeout + 5  # its last create has reached Twilio or failed by then
    n.consumer, n.run_id = "serve-a", "serve-a/run2"
    key = text_key(event(), "en_route")
    young, old = time.time() - 1, time.time() - n.orphan_grace - 1
    n.claims.set(key, f"sending:{old:.3f}:serve-b/run1")  # another consumer, maybe alive: the lease holds
    assert n.handle(event()) is Handled.RETRY and not fake.messages
    n.claims.set(key, f"sending:{old:.3f}:serve-a/run2")  # this run's own sender, mid-retry
    assert n.handle(event()) is Handled.RETRY and not fake.messages
    n.claims.set(key, f"sending:{young:.3f}:serve-a/run1")  # this consumer before a restart, just now:
    assert n.handle(event()) is Handled.RETRY and not fake.messages  # its create may still be on its way
    n.claims.set(key, f"sending:{old:.3f}:serve-a/run1")  # dead, and its request long done
    assert n.handle(event()) is Handled.SENT and len(fake.messages) == 1


def test_a_text_found_at_twilio_after_a_crash_counts_as_told(twilio, fake):
    """Killed after Twilio took the text, before its claim said so: the restarted notifier finds
    it there and does not send it again; and the customer has that ETA now, so a later move back
    to the ETA told before is news."""
    n = notifier(twilio, lease=30.0)
    n.consumer, n.run_id = "serve-a", "serve-a/run2"
    first = event(kind=EtaKind.DEPARTED, eta=T0 + 40 * 60)
    assert n.handle(first) is Handled.SENT  # told T0 + 40 min
    moved = event(kind=EtaKind.MOVED, eta=T0 + 80 * 60, version=3)
    kind, body = n.text(moved)
    key = text_key(moved, kind)
    assert n.sms.send(moved.customer_phone, body).status == "SENT"  # at Twilio: the crash came before the claim
    n.claims.set(key, f"sending:{time.time() - n.orphan_grace - 1:.3f}:serve-a/run1")
    assert n.handle(moved) is Handled.DUPLICATE and len(fake.messages) == 2  # settled, not sent again
    back = event(kind=EtaKind.MOVED, eta=T0 + 42 * 60, version=4)  # near the first ETA, far from the one told
    assert n.handle(back) is Handled.SENT and len(fake.messages) == 3


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_two_handlers_finding_the_same_abandoned_claim_send_one_text(store, twilio, fake, request):
    claims = claims_in(store, request)
    key = text_key(event(), "en_route")
    claims.set(key, f"sending:{time.time() - 120:.3f}")  # its sender died two minutes ago
    fake.list_delay = 0.3  # both are asking Twilio at the same time
    a, b = notifier(twilio, claims=claims, lease=45.0), notifier(twilio, claims=claims, lease=45.0)
    outcomes: list[Handled] = []
    threads = [threading.Thread(target=lambda n=n: outcomes.append(n.handle(event()))) for n in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == [Handled.RETRY, Handled.SENT] and len(fake.messages) == 1
    assert a.handle(event()) is Handled.DUPLICATE and len(fake.messages) == 1


def test_an_older_version_of_a_visit_is_dropped_when_a_later_one_was_handled(twilio, fake):
    n = notifier(twilio)
    assert n.handle(event(EtaKind.MOVED, eta=T0 + 3600, version=7)) is Handled.SENT
    assert n.handle(event(EtaKind.MOVED, eta=T0 + 1800, version=5)) is Handled.STALE  # came late: out of date
    assert n.handle(event(EtaKind.DEPARTED, eta=T0 + 1800, version=5)) is Handled.SENT  # a departure still happened
    assert n.handle(event(EtaKind.MOVED, eta=T0 + 3600, version=9)) is Handled.SENT  # back to an earlier ETA: told
    assert len(fake.messages) == 3


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_moved_eta_is_texted_once_it_has_held_and_only_if_it_is_news(store, twilio, fake, request):
    now = [float(T0)]
    claims = claims_in(store, request)
    n = notifier(twilio, claims=claims, clock=lambda: now[0], settle=30.0)
    visit = T0 + 3 * 3600
    assert n.handle(event(EtaKind.PLANNED, eta=visit, version=1)) is Handled.SENT  # told: 13:00
    # a re-plan's quick answer moves it 40 min, its final answer puts it back: nothing to tell
    assert n.handle(event(EtaKind.MOVED, eta=visit + 2400, previous_eta=visit, version=2)) is Handled.HELD
    assert n.handle(event(EtaKind.MOVED, eta=visit, previous_eta=visit + 2400, version=3)) is Handled.HELD
    now[0] += 31
    assert n.send_due() == [Handled.UNCHANGED] and len(fake.messages) == 1
    # a move that holds is told once, with the latest ETA
    assert n.handle(event(EtaKind.MOVED, eta=visit + 1800, previous_eta=visit, version=4)) is Handled.HELD
    assert n.handle(event(EtaKind.MOVED, eta=visit + 2400, previous_eta=visit, version=5)) is Handled.HELD
    assert n.send_due() == [] and len(fake.messages) == 1  # not yet: still settling
    now[0] += 31
    assert n.send_due() == [Handled.SENT] and len(fake.messages) == 2
    assert "13:25-13:55" in fake.messages[1]["body"]  # 13:40 ± 15 min (the event's window)
    assert n.send_due() == []
    # the technician departs: the en-route text carries the ETA, a move held meanwhile is dropped
    assert n.handle(event(EtaKind.MOVED, eta=visit + 3600, previous_eta=visit + 2400, version=6)) is Handled.HELD
    assert n.handle(event(EtaKind.DEPARTED, eta=visit + 3600, version=7)) is Handled.SENT
    now[0] += 31
    assert n.send_due() == [] and len(fake.messages) == 3


def test_a_bad_entry_on_the_stream_is_skipped_and_the_loop_goes_on(twilio, fake, redis_url):
    client = redis.Redis.from_url(redis_url)
    client.delete("dispatch:etas")
    stream = RedisEtaStream.from_url(redis_url)
    client.xadd("dispatch:etas", {"e": b'{"kind": "COMPLETED"}'})  # a newer server's kind, or garbage
    client.xadd("dispatch:etas", {"e": b"not json"})
    stream.publish([event(EtaKind.EMERGENCY, priority=Priority.EMERGENCY)])
    n = Notifier(stream, sms=Sms(twilio), messages=MESSAGES, claims=MemoryClaims())
    thread, stop = n.start()
    began = time.monotonic()
    while not fake.messages and time.monotonic() - began < 10:
        time.sleep(0.02)
    alive = thread.is_alive()
    stop.set()
    thread.join(5)
    assert alive and len(fake.messages) == 1
    assert client.xpending("dispatch:etas", "notifier")["pending"] == 0  # the bad ones acknowledged too


def test_events_published_long_ago_are_not_texted(twilio, fake, redis_url):
    client = redis.Redis.from_url(redis_url)
    client.delete("dispatch:etas")
    stream = RedisEtaStream.from_url(redis_url)
    old_ms = int((time.time() - 7 * 3600) * 1000)
    client.xadd("dispatch:etas", {"e": encode(event(job="old"))}, id=f"{old_ms}-0")
    stream.publish([event(job="new", phone="+13035550177")])
    n = Notifier(stream, sms=Sms(twilio), messages=MESSAGES, claims=MemoryClaims())
    thread, stop = n.start()
    began = time.monotonic()
    while not fake.messages and time.monotonic() - began < 10:
        time.sleep(0.02)
    time.sleep(0.3)
    stop.set()
    thread.join(5)
    assert [m["to"] for m in fake.messages] == ["+13035550177"]


def test_a_text_that_keeps_failing_does_not_hold_up_an_emergency(twilio, fake):
    stream = MemoryEtaStream()
    n = Notifier(stream, sms=Sms(twilio), messages=MESSAGES, claims=MemoryClaims(), senders=2, retry_for=30)
    fake.always = "500"
    thread, stop = n.start()
    stream.publish([event(job="stuck", phone="+13035550111")])
    time.sleep(0.5)  # the first text is failing and being retried
    fake.always = "ok"
    fake.script.extend(["500"] * 3)  # a few more failures for whoever asks next...
    stream.publish([event(EtaKind.EMERGENCY, job="urgent", phone="+13035550222", priority=Priority.EMERGENCY)])
    began = time.monotonic()
    while not fake.sent_to("+13035550222") and time.monotonic() - began < 20:
        time.sleep(0.02)
    urgent = time.monotonic() - began
    while not fake.sent_to("+13035550111") and time.monotonic() - began < 40:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert len(fake.sent_to("+13035550222")) == 1 and len(fake.sent_to("+13035550111")) == 1
    assert urgent < 10, urgent  # not behind the stuck text's backoff


def test_a_dead_consumers_events_are_taken_over_and_a_live_ones_are_not(redis_url):
    for stream in (MemoryEtaStream(), RedisEtaStream.from_url(redis_url)):
        if isinstance(stream, RedisEtaStream):
            stream.client.delete("dispatch:etas")
        stream.publish([event(job="a"), event(job="b")])
        assert [e.job_id for _, e in stream.group_read("g", "alive", count=1)] == ["a"]
        assert [e.job_id for _, e in stream.group_read("g", "dead", count=1)] == ["b"]
        time.sleep(0.3)
        ids = [i for i, _ in stream.pending("g", "alive", stale=10)]
        stream.touch("g", "alive", ids)
        taken = stream.pending("g", "new", stale=0.2)
        assert [e.job_id for _, e in taken] == ["b"]  # "alive" touched its event; "dead" did not
        assert stream.pending("g", "alive", stale=10)[0][1].job_id == "a"
        stream.ack("g", [i for i, _ in taken] + ids)
        assert stream.pending("g", "new", stale=0) == [] and stream.group_read("g", "new") == []


def test_the_in_process_loop_texts_events_as_they_come(twilio, fake):
    stream = MemoryEtaStream()
    n = Notifier(stream, sms=Sms(twilio), messages=MESSAGES, claims=MemoryClaims())
    thread, stop = n.start()
    began = time.monotonic()
    stream.publish([event(EtaKind.EMERGENCY, priority=Priority.EMERGENCY)])
    while not fake.messages and time.monotonic() - began < 5:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert fake.messages and fake.messages[0]["body"].startswith("EMERGENCY SERVICE")
    assert threading.active_count() >= 1


# ---------------------------------------------------------------------------- end to end


def test_an_emergency_called_in_over_grpc_is_texted_within_seconds(twilio, fake):
    import grpc  # noqa: PLC0415
    from google.protobuf import json_format  # noqa: PLC0415

    from dispatch.config import Settings  # noqa: PLC0415
    from dispatch.server.app import DispatchServer  # noqa: PLC0415
    from dispatch.v1 import dispatch_pb2 as pb  # noqa: PLC0415
    from dispatch.v1 import dispatch_pb2_grpc  # noqa: PLC0415
    from tests.support.console_requests import burst_pipe, small_day, to_proto  # noqa: PLC0415

    srv = DispatchServer(Settings(worker_niceness=0, workers=1, twilio=twilio), host="127.0.0.1", port=0)
    srv.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            stub = dispatch_pb2_grpc.DispatchStub(channel)
            plan = stub.Solve(to_proto(small_day()), timeout=30).plan
            deadline = time.monotonic() + 10
            while len(fake.messages) < len(plan.routes[0].visits) and time.monotonic() < deadline:
                time.sleep(0.05)
            confirmations = len(fake.messages)
            assert confirmations >= len(plan.routes[0].visits)  # an appointment text per planned visit
            assert all("Confirming your" in m["body"] for m in fake.messages)
            burst = burst_pipe(customer={"name": "Sam", "phone": "+13035550777"}, service_type="burst pipe")
            request = json_format.ParseDict(
                {"plan_id": plan.plan_id, "time": "2026-03-02T16:00:00Z", "events": [{"new_job": burst}]},
                pb.ReoptimizeRequest(),
            )
            began = time.monotonic()
            stub.Reoptimize(request, timeout=30)
            while not fake.sent_to("+13035550777") and time.monotonic() - began < 10:
                time.sleep(0.01)
            took = time.monotonic() - began
            texts = fake.sent_to("+13035550777")
            assert len(texts) == 1 and texts[0].startswith("EMERGENCY SERVICE: We received your urgent burst pipe")
            assert took < 5, took
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["health", "--server", f"127.0.0.1:{srv.port}"])
        assert code == 0, out.getvalue()
        rows = {line.split()[0]: line.split() for line in out.getvalue().splitlines()[1:-1]}
        assert rows["twilio"][1:3] == ["healthy", "yes"] and int(rows["twilio"][3]) == len(fake.messages)
        assert rows["google"][1:3] == ["stale", "no"]
        for _ in range(11):  # as a Twilio outage would leave it
            srv.service.integrations.record("twilio", ok=False, latency=0.01, error="HTTP 500")
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert cli.main(["health", "--server", f"127.0.0.1:{srv.port}", "--json"]) == 1
        assert '"status": "degraded"' in out.getvalue()
    finally:
        srv.stop(grace=1)
