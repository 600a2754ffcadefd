"""Customers' replies reach a person: a signed inbound text posted to the real webhook goes onto
the replies stream (in process, or Redis's ``dispatch:replies``), is followed over real gRPC with
``WatchCustomerReplies``, is forwarded once to the office phone through the fake Twilio API (the
real ``twilio`` client pointed at it), and is counted; STOP and START are not. Redis down: the
reply is still forwarded and logged."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from urllib.parse import urlsplit

import grpc
import pytest
import redis
import requests
from prometheus_client import REGISTRY
from twilio.request_validator import RequestValidator

from dispatch.config import Settings
from dispatch.errors import ConfigError
from dispatch.notify.claims import MemoryClaims, RedisClaims
from dispatch.notify.notifier import Notifier
from dispatch.notify.replies import REPLIES_KEY, CustomerReply, last_text_key, redis_replies, remember_text
from dispatch.notify.sms import Sms, TwilioSettings
from dispatch.notify.webhook import EMPTY_TWIML, INBOUND_PATH, WebhookServer
from dispatch.redis_client import fail_fast_client
from dispatch.server.app import DispatchServer
from dispatch.stream import MemoryEtaStream, MemoryStream
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc
from tests.support.fake_twilio import SID, TOKEN, FakeTwilio
from tests.support.redis_server import free_port
from tests.support.status import field_violations

PHONE = "+13035550199"
OURS = "+13035550000"
OFFICE = "+13035550123"
PUBLIC = "https://dispatch.example.com/twilio"
#: Seconds a test waits for something that should take milliseconds (never a verdict on speed).
PATIENCE = 20.0


@pytest.fixture(scope="module")
def fake():
    server = FakeTwilio()
    yield server
    server.close()


@pytest.fixture
def twilio(fake):
    fake.reset()
    return TwilioSettings(account_sid=SID, auth_token=TOKEN, from_number=OURS, base_url=fake.base_url, timeout=2.0)


def text(body: str, phone: str = PHONE, sid: str | None = None) -> dict[str, str]:
    """A customer's message as Twilio posts it (each its own ``MessageSid`` unless given)."""
    return {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "From": phone,
        "To": OURS,
        "Body": body,
        "NumMedia": "0",
        "AccountSid": SID,
    }


def post(webhook: WebhookServer, form: dict[str, str]) -> requests.Response:
    """POST ``form`` to the webhook's inbound URL on loopback, signed as Twilio signs its public URL."""
    signed = webhook.public_url + INBOUND_PATH
    signature = RequestValidator(TOKEN).compute_signature(signed, form)
    path = urlsplit(webhook.public_url).path + INBOUND_PATH
    return requests.post(
        f"http://127.0.0.1:{webhook.port}{path}", data=form, headers={"X-Twilio-Signature": signature}, timeout=30
    )


def counted(forwarded: str) -> float:
    return REGISTRY.get_sample_value("dispatch_customer_replies_total", {"forwarded": forwarded}) or 0.0


def watch(stub: dispatch_pb2_grpc.DispatchStub, after: str, *, until: str) -> list[pb.CustomerReply]:
    """The replies ``WatchCustomerReplies(after)`` gives, up to the one with MessageSid ``until``."""
    got: list[pb.CustomerReply] = []
    call = stub.WatchCustomerReplies(pb.WatchCustomerRepliesRequest(after=after), timeout=PATIENCE)
    try:
        for reply in call:
            got.append(reply)
            if reply.message_sid == until:
                break
    finally:
        call.cancel()
    return got


# ---------------------------------------------------------------------------- dispatch serve, in process


@pytest.fixture(scope="module")
def served(fake):
    """``dispatch serve`` in this process with Twilio, its webhook and an office phone, no Redis:
    the in-process notifier and the servicer share one in-memory replies stream."""
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
    srv = DispatchServer(
        Settings(worker_niceness=0, workers=1, twilio=twilio, office_phone=OFFICE), host="127.0.0.1", port=0
    )
    srv.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
    try:
        yield srv, dispatch_pb2_grpc.DispatchStub(channel)
    finally:
        channel.close()
        srv.stop(grace=1)


def test_a_question_reaches_the_watchers_and_the_office_once(served, fake):
    srv, stub = served
    fake.reset()
    assert srv.notifier is not None and srv.notifier.webhook is not None
    webhook, notifier = srv.notifier.webhook, srv.notifier.notifier
    assert notifier.replies.stream is srv.replies  # one in-memory stream: the webhook's and the servicer's
    remember_text(notifier.claims, PHONE, "denver-2026-03-03", "J0042")  # as the policy does after a text
    before = counted("true")

    question = text("Can you come after 3? The gate code is 4411")
    answer = post(webhook, question)
    assert answer.status_code == 200 and answer.text == EMPTY_TWIML
    again = post(webhook, question)  # Twilio delivering it twice
    assert again.status_code == 200
    for form in (text("STOP"), text("start."), text("Sure, see you", phone=OFFICE)):  # keywords, the office itself
        assert post(webhook, form).status_code == 200
    marker = text("Thanks!", phone="+13035550177")
    assert post(webhook, marker).status_code == 200

    got = watch(stub, "0", until=marker["MessageSid"])
    assert [r.message_sid for r in got] == [question["MessageSid"], marker["MessageSid"]]
    first = got[0]
    assert (first.phone, first.body, first.plan_id, first.job_id) == (
        PHONE,
        "Can you come after 3? The gate code is 4411",
        "denver-2026-03-03",
        "J0042",
    )
    assert first.forwarded and first.id and abs(first.received_at.seconds - time.time()) < 3600
    assert not got[1].job_id and got[1].forwarded  # no text sent to that number: no job known
    assert fake.sent_to(OFFICE) == [
        f"Reply from {PHONE} (job J0042): Can you come after 3? The gate code is 4411",
        "Reply from +13035550177: Thanks!",
    ]
    assert fake.sent_to(PHONE) == []  # no auto-reply
    assert counted("true") - before == 2
    # resumed after an id: only what came later
    assert [r.message_sid for r in watch(stub, first.id, until=marker["MessageSid"])] == [marker["MessageSid"]]


def test_watching_from_now_gives_only_new_replies(served):
    srv, stub = served
    webhook = srv.notifier.webhook
    old = text("an old one")
    assert post(webhook, old).status_code == 200
    got: queue.Queue[pb.CustomerReply] = queue.Queue()
    call = stub.WatchCustomerReplies(pb.WatchCustomerRepliesRequest(after=""), timeout=PATIENCE + 10)

    def follow() -> None:
        try:
            for reply in call:
                got.put(reply)
        except grpc.RpcError:
            pass

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    sent: list[str] = []
    first = None
    deadline = time.monotonic() + PATIENCE
    try:
        # the watch starts at the stream's end once the server takes the call: post until one arrives
        while first is None and time.monotonic() < deadline:
            form = text(f"new one {len(sent)}")
            sent.append(form["MessageSid"])
            assert post(webhook, form).status_code == 200
            try:
                first = got.get(timeout=0.5)
            except queue.Empty:
                pass
    finally:
        call.cancel()
        reader.join(PATIENCE)
    assert first is not None, "no reply reached the watcher"
    assert first.message_sid in sent and first.message_sid != old["MessageSid"]


@pytest.mark.parametrize("after", ["abc", "-1", "12x", "1-2-3", "1700000000000-0", "1" * 40, " 1"])
def test_a_malformed_after_is_invalid_argument_naming_it(served, after):
    _, stub = served
    with pytest.raises(grpc.RpcError) as caught:
        next(iter(stub.WatchCustomerReplies(pb.WatchCustomerRepliesRequest(after=after), timeout=PATIENCE)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "after" in field_violations(caught.value)


# ---------------------------------------------------------------------------- the notifier alone


def make_webhook(notifier: Notifier) -> WebhookServer:
    server = WebhookServer(notifier, auth_token=TOKEN, public_url=PUBLIC, host="127.0.0.1")
    server.start()
    return server


def test_a_failed_forward_is_counted_and_the_reply_kept(twilio, fake, caplog):
    stream: MemoryStream[CustomerReply] = MemoryStream()
    notifier = Notifier(
        MemoryEtaStream(),
        sms=Sms(twilio),
        claims=MemoryClaims(),
        replies=stream,
        office_phone=OFFICE,
        sleep=lambda s: None,
    )
    server = make_webhook(notifier)
    try:
        fake.always = "500"  # Twilio failing throughout the forward's retries
        before = counted("false")
        with caplog.at_level(logging.INFO, logger="dispatch"):
            assert post(server, text("Is the tech still coming?")).status_code == 200
        [(_, reply)] = stream.read("0")
        assert not reply.forwarded and reply.body == "Is the tech still coming?"
        assert counted("false") - before == 1
        assert fake.tries[OFFICE] > 1 and fake.sent_to(OFFICE) == []
        assert "not forwarded" in caplog.text
        assert PHONE not in caplog.text and "3035550199" not in caplog.text and OFFICE not in caplog.text
    finally:
        server.close()


def test_without_an_office_phone_replies_are_recorded_not_forwarded(twilio, fake):
    notifier = Notifier(MemoryEtaStream(), sms=Sms(twilio), claims=MemoryClaims(), sleep=lambda s: None)
    server = make_webhook(notifier)
    try:
        assert post(server, text("hello?")).status_code == 200
        [(_, reply)] = notifier.replies.stream.read("0")
        assert reply.body == "hello?" and not reply.forwarded
        assert fake.messages == []
    finally:
        server.close()


# ---------------------------------------------------------------------------- Redis


def test_with_redis_a_reply_is_in_the_stream_and_another_process_sees_it(redis_url, twilio, fake):
    """The webhook of a ``dispatch notifier`` process writes ``dispatch:replies``; a ``dispatch serve``
    (here with Redis and without Twilio: no webhook of its own) follows it over gRPC, and any
    other client of the stream reads it."""
    client = fail_fast_client(redis_url, socket_timeout=1.0, connect_timeout=0.5)
    notifier = Notifier(
        MemoryEtaStream(),
        sms=Sms(twilio),
        claims=RedisClaims(client),
        replies=redis_replies(redis_url),
        office_phone=OFFICE,
        sleep=lambda s: None,
    )
    remember_text(notifier.claims, "(303) 555-0199", "p7", "J7")  # any spelling of the number
    assert 0 < client.ttl(last_text_key(PHONE)) <= 7 * 86_400
    srv = DispatchServer(Settings(worker_niceness=0, workers=1, redis_url=redis_url), host="127.0.0.1", port=0)
    srv.start()
    server = make_webhook(notifier)
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
    try:
        question = text("Running 10 min late myself, is that ok?")
        assert post(server, question).status_code == 200
        assert post(server, question).status_code == 200  # delivered twice: one record, one forward
        assert post(server, text("STOP")).status_code == 200
        marker = text("ok", phone="+13035550177")
        assert post(server, marker).status_code == 200

        got = watch(dispatch_pb2_grpc.DispatchStub(channel), "0", until=marker["MessageSid"])
        assert [(r.message_sid, r.job_id, r.plan_id, r.forwarded) for r in got] == [
            (question["MessageSid"], "J7", "p7", True),
            (marker["MessageSid"], "", "", True),
        ]
        other = redis_replies(redis_url)  # another process's client
        seen = other.read("0")
        assert [(i, r.message_sid) for i, r in seen] == [(r.id, r.message_sid) for r in got]
        raw = redis.Redis.from_url(redis_url).xrange(REPLIES_KEY)
        assert json.loads(raw[0][1][b"e"])["body"] == question["Body"]  # JSON entries
        assert fake.sent_to(OFFICE) == [
            f"Reply from {PHONE} (job J7): {question['Body']}",
            "Reply from +13035550177: ok",
        ]
    finally:
        channel.close()
        server.close()
        srv.stop(grace=1)


def test_redis_down_the_reply_is_still_forwarded_and_logged(twilio, fake, caplog):
    """Chosen degradation: without Redis a reply cannot be recorded nor told from one seen before;
    the webhook still answers 200, forwards it (once per MessageSid in this process) and logs it,
    its text included, numbers masked. STOP still fails (500), as before."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    notifier = Notifier(
        MemoryEtaStream(),
        sms=Sms(twilio),
        claims=RedisClaims(fail_fast_client(dead, socket_timeout=0.5, connect_timeout=0.5)),
        replies=redis_replies(dead, socket_timeout=0.5, connect_timeout=0.5),
        office_phone=OFFICE,
        sleep=lambda s: None,
    )
    server = make_webhook(notifier)
    before = counted("true")
    try:
        question = text("Please call me at 720 555 0142")
        with caplog.at_level(logging.INFO, logger="dispatch"):
            assert post(server, question).status_code == 200
            assert post(server, question).status_code == 200  # again: not forwarded twice by this process
            assert post(server, text("STOP")).status_code == 500
        assert fake.sent_to(OFFICE) == [f"Reply from {PHONE}: Please call me at 720 555 0142"]
        assert counted("true") - before == 2  # counted as received each time: it could not be told apart
        assert "NOT recorded" in caplog.text and "Please call me at" in caplog.text
        assert PHONE not in caplog.text and "3035550199" not in caplog.text and "7205550142" not in caplog.text
        assert "720 555 0142" not in caplog.text
    finally:
        server.close()


# ---------------------------------------------------------------------------- configuration


def test_the_office_phone_is_read_as_e164_and_a_bad_one_named():
    assert Settings.from_env({"DISPATCH_OFFICE_PHONE": "+1 (303) 555-0123"}).office_phone == OFFICE
    assert Settings.from_env({}).office_phone == ""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISPATCH_OFFICE_PHONE": "303-555-0123"})
    assert "DISPATCH_OFFICE_PHONE" in str(caught.value) and "0123" not in str(caught.value)  # the value is not shown


def test_stream_ids_are_checked_by_the_kind_of_stream(redis_url):
    memory, shared = MemoryStream(), redis_replies(redis_url)
    assert all(memory.valid_id(i) for i in ("0", "1", "42"))
    assert not any(memory.valid_id(i) for i in ("", "-1", "1-0", "x", "1" * 20))
    assert all(shared.valid_id(i) for i in ("0", "0-0", "1700000000000-5", "1700000000000", str(2**64 - 1)))
    assert not any(shared.valid_id(i) for i in ("", "-1", "1-", "1-2-3", "x", str(2**64), f"1-{2**64}"))
