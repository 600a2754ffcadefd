"""The Twilio webhook on loopback: real server, real ``requests`` posts signed with Twilio's own
``RequestValidator``, the real notifier (memory and a real Redis) and the fake Twilio API for
the texts that follow a STOP or a START."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import redis
import requests
from twilio.request_validator import RequestValidator

from dispatch.eta import EtaEvent, EtaKind
from dispatch.notify.claims import MemoryClaims, RedisClaims
from dispatch.notify.notifier import Notifier
from dispatch.notify.outcome import Handled
from dispatch.notify.sms import Sms, TwilioSettings
from dispatch.notify.webhook import EMPTY_TWIML, INBOUND_PATH, MAX_BODY, STATUS_PATH, WebhookServer
from dispatch.server.convert import problem_from_proto
from dispatch.stream import MemoryEtaStream
from tests.support.fake_twilio import SID, TOKEN, FakeTwilio

#: What Twilio is configured to call: a proxy in front of the server, so not the URL requests use.
PUBLIC = "https://dispatch.example.com/twilio"
PHONE = "+13035550199"
OURS = "+13035550000"
T0 = 1_772_470_800  # 2026-03-02T17:00:00Z


@pytest.fixture(scope="module")
def fake():
    server = FakeTwilio()
    yield server
    server.close()


@pytest.fixture
def twilio(fake):
    fake.reset()
    return TwilioSettings(account_sid=SID, auth_token=TOKEN, from_number=OURS, base_url=fake.base_url, timeout=1.0)


@pytest.fixture
def notifier(twilio):
    return Notifier(MemoryEtaStream(), sms=Sms(twilio), claims=MemoryClaims(), sleep=lambda s: None)


@pytest.fixture
def webhook(notifier):
    """The webhook for ``notifier`` on a free loopback port, answering under ``/twilio``."""
    server = WebhookServer(notifier, auth_token=TOKEN, public_url=PUBLIC, host="127.0.0.1")
    server.start()
    yield server
    server.close()


def post(server: WebhookServer, path: str, params: dict[str, str], *, signed_for: str | None = None, **kw):
    """POST ``params`` to ``/twilio<path>`` on loopback, signed as Twilio signs ``PUBLIC + path``
    (or ``signed_for``; ``signed_for=""`` sends no signature)."""
    url = PUBLIC + path if signed_for is None else signed_for
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params)} if url else {}
    headers.update(kw.pop("headers", {}))
    return requests.post(f"http://127.0.0.1:{server.port}/twilio{path}", data=params, headers=headers, timeout=5, **kw)


def status(sid="SM1", state="delivered", code="", to=PHONE) -> dict[str, str]:
    """A status callback's form, as Twilio posts it (``ErrorCode`` only when there is one)."""
    form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": state, "To": to, "From": OURS, "AccountSid": SID}
    return form | ({"ErrorCode": code} if code else {})


def reply(body: str, phone=PHONE) -> dict[str, str]:
    """A customer's message (each its own ``MessageSid``, as Twilio gives them)."""
    return {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": phone,
        "To": OURS,
        "Body": body,
        "NumMedia": "0",
        "AccountSid": SID,
    }


def event(job="j1", phone=PHONE) -> EtaEvent:
    eta = T0 + 40 * 60
    return EtaEvent(
        plan_id="p1",
        version=1,
        kind=EtaKind.DEPARTED,
        job_id=job,
        technician_id="mike",
        eta=eta,
        window_start=eta - 900,
        window_end=eta + 900,
        at=T0,
        customer_name="Pat",
        customer_phone=phone,
        technician_name="Mike",
    )


# ---------------------------------------------------------------------------- status callbacks


def test_a_signed_status_callback_records_the_status(webhook, notifier):
    answer = post(webhook, STATUS_PATH, status("SM1", "sent"))
    assert answer.status_code == 204 and answer.content == b""
    assert notifier.delivery_status("SM1") == "sent"
    assert post(webhook, STATUS_PATH, status("SM1", "delivered")).status_code == 204
    assert notifier.delivery_status("SM1") == "delivered"
    assert post(webhook, STATUS_PATH, status("SM2", "sent", code="not a number")).status_code == 204
    assert notifier.delivery_status("SM2") == "sent"  # a non-integer ErrorCode counts as none
    assert post(webhook, STATUS_PATH, status("SM1", "sent")).status_code == 204  # a late callback
    assert notifier.delivery_status("SM1") == "delivered"  # never goes back


def test_undelivered_counts_as_an_error_and_21610_opts_the_number_out(webhook, notifier):
    assert post(webhook, STATUS_PATH, status("SM1", "undelivered", code="30003")).status_code == 204
    assert notifier.delivery_status("SM1") == "undelivered:30003"
    assert notifier.integrations.report("twilio").errors == 0  # an unreachable handset is not Twilio failing
    assert post(webhook, STATUS_PATH, status("SM3", "undelivered", code="30007")).status_code == 204  # filtered
    health = notifier.integrations.report("twilio")
    assert health.errors == 1 and "30007" in health.last_error
    assert not notifier.opted_out(PHONE)
    assert post(webhook, STATUS_PATH, status("SM2", "failed", code="21610")).status_code == 204
    assert notifier.delivery_status("SM2") == "failed:21610"
    assert notifier.opted_out(PHONE)
    assert notifier.handle(event()) is Handled.SKIPPED_OPTED_OUT


# ---------------------------------------------------------------------------- replies


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_stop_ends_the_texts_and_start_resumes_them(store, twilio, fake, request):
    claims = (
        MemoryClaims() if store == "memory" else RedisClaims(redis.Redis.from_url(request.getfixturevalue("redis_url")))
    )
    notifier = Notifier(MemoryEtaStream(), sms=Sms(twilio), claims=claims, sleep=lambda s: None)
    server = WebhookServer(notifier, auth_token=TOKEN, public_url=PUBLIC + "/", host="127.0.0.1")
    server.start()
    try:
        assert notifier.handle(event("j1")) is Handled.SENT
        answer = post(server, INBOUND_PATH, reply(" stop "))
        assert answer.status_code == 200 and answer.text == EMPTY_TWIML
        assert answer.headers["Content-Type"] == "text/xml"
        assert notifier.handle(event("j2")) is Handled.SKIPPED_OPTED_OUT
        assert len(fake.sent_to(PHONE)) == 1
        assert post(server, INBOUND_PATH, reply("Thanks, see you then")).status_code == 200  # to the office
        assert notifier.handle(event("j3")) is Handled.SKIPPED_OPTED_OUT
        assert notifier.opted_out("+1 (303) 555-" + PHONE[-4:]) and notifier.opted_out(PHONE[2:])  # any spelling
        assert post(server, INBOUND_PATH, reply("Yes, I'll be home")).status_code == 200  # not the START keyword
        assert notifier.handle(event("j3b")) is Handled.SKIPPED_OPTED_OUT
        assert post(server, INBOUND_PATH, reply("START")).status_code == 200
        assert notifier.handle(event("j4")) is Handled.SENT
        assert len(fake.sent_to(PHONE)) == 2
        assert post(server, INBOUND_PATH, reply("Cancel my 3pm visit")).status_code == 200  # not an opt-out
        assert notifier.handle(event("j5")) is Handled.SENT
        assert post(server, INBOUND_PATH, reply("Stop.")).status_code == 200
        assert notifier.handle(event("j6")) is Handled.SKIPPED_OPTED_OUT
        start = reply("START")
        assert post(server, INBOUND_PATH, start).status_code == 200
        assert post(server, INBOUND_PATH, reply("STOP")).status_code == 200
        assert post(server, INBOUND_PATH, start).status_code == 200  # the signed START replayed: counted once
        assert notifier.handle(event("j7")) is Handled.SKIPPED_OPTED_OUT
        # the other replies are left to the office: on the replies stream (not the keywords), each once
        bodies = [r.body for _, r in notifier.replies.stream.read("0")]
        assert bodies == ["Thanks, see you then", "Yes, I'll be home", "Cancel my 3pm visit"]
    finally:
        server.close()


# ---------------------------------------------------------------------------- refusals


def test_requests_without_a_valid_signature_are_refused_and_change_nothing(webhook, notifier):
    local = f"http://127.0.0.1:{webhook.port}/twilio"
    refused = [
        post(webhook, STATUS_PATH, status(), headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}),
        post(webhook, STATUS_PATH, status(), signed_for=PUBLIC + INBOUND_PATH),  # another endpoint's URL
        post(webhook, STATUS_PATH, status(), signed_for=local + STATUS_PATH),  # the URL rebuilt from Host
        post(webhook, STATUS_PATH, status(), signed_for=""),  # no header
        post(webhook, INBOUND_PATH, reply("STOP"), signed_for=""),
        post(webhook, INBOUND_PATH, reply("STOP"), signed_for=PUBLIC + STATUS_PATH),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert notifier.delivery_status("SM1") is None and not notifier.opted_out(PHONE)
    assert notifier.integrations.report("twilio").attempts == 0
    # the signature covers the parameters: a signed "delivered" cannot be turned into a "failed 21610"
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + STATUS_PATH, status())
    forged = post(webhook, STATUS_PATH, status(state="failed", code="21610"), headers={"X-Twilio-Signature": signature})
    assert forged.status_code == 403 and not notifier.opted_out(PHONE)


def test_malformed_requests_are_refused(webhook, notifier):
    no_sid = status()
    del no_sid["MessageSid"]
    answer = post(webhook, STATUS_PATH, no_sid)
    assert answer.status_code == 400 and "MessageSid" in answer.text
    no_from = reply("STOP")
    del no_from["From"]
    answer = post(webhook, INBOUND_PATH, no_from)
    assert answer.status_code == 400 and "From" in answer.text
    huge = status() | {"Padding": "x" * MAX_BODY}
    assert post(webhook, STATUS_PATH, huge).status_code == 413
    as_json = requests.post(f"http://127.0.0.1:{webhook.port}/twilio/status", json=status(), timeout=5)
    assert as_json.status_code == 415
    got = requests.get(f"http://127.0.0.1:{webhook.port}/twilio/status", timeout=5)
    assert got.status_code == 405 and got.headers["Allow"] == "POST"
    assert post(webhook, "/elsewhere", status(), signed_for=PUBLIC + "/elsewhere").status_code == 404
    assert requests.post(f"http://127.0.0.1:{webhook.port}/status", data=status(), timeout=5).status_code == 404
    assert notifier.delivery_status("SM1") is None


def test_a_failing_notifier_is_a_500_logged_without_the_phone(twilio, caplog):
    class Broken(MemoryClaims):
        def opt_out(self, phone: str) -> None:
            raise RuntimeError(f"cannot store {phone}")

    notifier = Notifier(MemoryEtaStream(), sms=Sms(twilio), claims=Broken())
    server = WebhookServer(notifier, auth_token=TOKEN, public_url=PUBLIC, host="127.0.0.1")
    server.start()
    try:
        with caplog.at_level(logging.DEBUG):
            assert post(server, INBOUND_PATH, reply("STOP")).status_code == 500
            assert post(server, INBOUND_PATH, reply("hello")).status_code == 200  # still serving
    finally:
        server.close()
    assert "RuntimeError" in caplog.text and "*********99" in caplog.text
    assert PHONE not in caplog.text and "3035550199" not in caplog.text


def test_phone_numbers_never_reach_the_log(webhook, caplog):
    with caplog.at_level(logging.DEBUG):
        post(webhook, STATUS_PATH, status("SM1", "undelivered", code="30003"))
        post(webhook, STATUS_PATH, status("SM2", "failed", code="21610"))
        post(webhook, INBOUND_PATH, reply("STOP"))
        post(webhook, INBOUND_PATH, reply("START"))
        post(webhook, INBOUND_PATH, reply("STOP"), signed_for="")
        post(webhook, f"{STATUS_PATH}?To={PHONE}", status())
        post(webhook, f"/{PHONE}", status())
    assert "twilio webhook POST /twilio/status: 204" in caplog.text
    assert "*********99" in caplog.text  # the notifier's own lines, masked
    assert PHONE not in caplog.text and "3035550199" not in caplog.text


def test_dispatch_serve_runs_the_webhook_and_twilio_status_callbacks_reach_it():
    from dispatch.config import Settings  # noqa: PLC0415
    from dispatch.server.app import DispatchServer  # noqa: PLC0415
    from tests.support.console_requests import small_day, to_proto  # noqa: PLC0415
    from tests.support.redis_server import free_port  # noqa: PLC0415

    fake = FakeTwilio(callbacks=True)
    port = free_port()
    twilio = TwilioSettings(
        account_sid=SID,
        auth_token=TOKEN,
        from_number=OURS,
        base_url=fake.base_url,
        timeout=2.0,
        webhook_url=f"http://127.0.0.1:{port}/twilio",
        webhook_port=port,
    )
    srv = DispatchServer(Settings(worker_niceness=0, workers=1, twilio=twilio), host="127.0.0.1", port=0)
    srv.start()
    try:
        srv.service.solve(*problem_from_proto(to_proto(small_day())))
        assert srv.notifier is not None and srv.notifier.webhook is not None
        notifier = srv.notifier.notifier
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            sids = [m["sid"] for m in fake.messages]
            if sids and all(notifier.delivery_status(sid) == "delivered" for sid in sids):
                break
            time.sleep(0.05)
        assert fake.messages and all(m["status_callback"] == twilio.webhook_url + "/status" for m in fake.messages)
        assert all(notifier.delivery_status(m["sid"]) == "delivered" for m in fake.messages)
        assert fake.callbacks_failed == 0
    finally:
        srv.stop(grace=1)
        fake.close()
