"""The seed's five customer texts end to end: a real plan solved over gRPC by ``dispatch serve``
(in this process, its notifier texting through the fake Twilio API with the real ``twilio``
client), in the plan's own time zone, each text word for word as the seed's with the values
filled — the appointment confirmation (at once: the visit is sooner than 24 h), the en-route
text (a departure), the emergency text (an EMERGENCY called in), the service-complete text (a
COMPLETED report with its invoice) and the payment reminder (``NotifyCustomer``).

The day is Denver's (UTC-7 in March): Mike starts at 07:00 local next to Ann, whose visit is
booked 13:00-14:00 local. He can be there at 07:10 and waits: the confirmation gives the
booking, never the van's arrival, and never in UTC."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from google.protobuf import json_format

from dispatch.config import Settings
from dispatch.server.app import DispatchServer
from dispatch.v1 import dispatch_pb2 as pb
from dispatch.v1 import dispatch_pb2_grpc
from tests.support.fake_twilio import SID, TOKEN, FakeTwilio
from tests.support.status import field_violations

pytestmark = pytest.mark.timeout(180)

OURS = "+13035550000"
ANN, CARL, MIKE = "+17205550101", "+17205550103", "+13035551000"
#: Seconds a test waits for a text that should come within a second (never a verdict on speed).
PATIENCE = 30.0


def day() -> dict:
    """Tue 3 Mar 2026 in Denver (MST, UTC-7): Mike 07:00-17:00 local; Ann booked 13:00-14:00 local
    (20:00-21:00Z) a few hundred metres from his yard."""
    home = {"lat": 39.7392, "lng": -104.9903}
    return {
        "plan_id": "texts-denver",
        "start_time": "2026-03-03T14:00:00Z",
        "time_zone": "America/Denver",
        "options": {"time_limit": "2s"},
        "technicians": [
            {
                "id": "T1",
                "name": "Mike",
                "phone": MIKE,
                "start_location": home,
                "end_location": home,
                "shift": {"start": "2026-03-03T14:00:00Z", "end": "2026-03-04T00:00:00Z"},
                "skills": ["hvac"],
            }
        ],
        "jobs": [
            {
                "id": "ANN",
                "location": {"lat": 39.7420, "lng": -104.9903},
                "service_duration": "3600s",
                "time_windows": [{"start": "2026-03-03T20:00:00Z", "end": "2026-03-03T21:00:00Z"}],
                "required_skills": ["hvac"],
                "customer": {"name": "Ann", "phone": ANN},
                "service_type": "AC tune-up",
            },
        ],
    }


@pytest.fixture(scope="module")
def fake():
    server = FakeTwilio()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stub(fake, tmp_path_factory):
    """``dispatch serve`` in this process with Twilio (the fake) and a business's messages file that
    sets its name, emergency line and links, but no time zone (UTC): the plan's zone must win."""
    messages = tmp_path_factory.mktemp("texts") / "messages.json"
    messages.write_text(
        json.dumps(
            {
                "business_name": "Acme Air",
                "emergency_phone": "+13035550911",
                "tracking_link": "https://acme.example/t/{job_id}",
                "survey_link": "https://acme.example/s/{job_id}",
            }
        )
    )
    from dispatch.notify.sms import TwilioSettings  # noqa: PLC0415

    twilio = TwilioSettings(account_sid=SID, auth_token=TOKEN, from_number=OURS, base_url=fake.base_url, timeout=5.0)
    settings = Settings(worker_niceness=0, workers=1, twilio=twilio, messages_path=str(messages), eta_settle=0.5)
    srv = DispatchServer(settings, host="127.0.0.1", port=0)
    srv.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
    try:
        yield dispatch_pb2_grpc.DispatchStub(channel)
    finally:
        channel.close()
        srv.stop(grace=1)


def texts_to(fake: FakeTwilio, phone: str, count: int) -> list[str]:
    """The first ``count`` texts the fake Twilio got for ``phone``, waiting for them to come."""
    deadline = time.monotonic() + PATIENCE
    while len(fake.sent_to(phone)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return fake.sent_to(phone)


def replan(stub, events: list[dict], at: str) -> pb.Plan:
    request = json_format.ParseDict({"plan_id": "texts-denver", "events": events, "time": at}, pb.ReoptimizeRequest())
    request.options.time_limit.FromSeconds(1)
    return stub.Reoptimize(request, timeout=60).plan


def test_the_seeds_five_texts_from_a_real_plan_in_local_time(stub, fake):
    plan = stub.Solve(json_format.ParseDict(day(), pb.SolveRequest()), timeout=60).plan
    assert plan.time_zone == "America/Denver"
    ann = next(v for r in plan.routes for v in r.visits if v.job_id == "ANN")
    assert ann.start.ToJsonString() == "2026-03-03T20:00:00Z"  # 13:00 local: the booking opens

    # 1. appointment confirmation: the booked window, local, not the UTC arrival
    (confirmation,) = texts_to(fake, ANN, 1)
    assert confirmation == (
        "Hi Ann! Confirming your AC tune-up appointment on Tue 3 Mar at 13:00-14:00. "
        "Mike will call 30 min before arrival. Questions? Reply here!"
    )

    # 2. en route: Mike leaves for Ann at 12:45 local
    replan(
        stub,
        [{"progress": {"technician_id": "T1", "kind": "DEPARTED", "job_id": "ANN"}}],
        "2026-03-03T19:45:00Z",
    )
    en_route = texts_to(fake, ANN, 2)[1]
    assert en_route == (
        "Mike is on the way! ETA: 13:00. Track live: https://acme.example/t/ANN. "
        f"Call/text {MIKE} directly with questions."
    )

    # 3. service complete, with the invoice left at the door
    invoice = {"number": "INV-1042", "total": "$249.00", "payment_link": "https://pay.example/1042"}
    replan(
        stub,
        [
            {"progress": {"technician_id": "T1", "kind": "ARRIVED", "job_id": "ANN", "time": "2026-03-03T19:58:00Z"}},
            {"progress": {"technician_id": "T1", "kind": "COMPLETED", "job_id": "ANN", "invoice": invoice}},
        ],
        "2026-03-03T21:00:00Z",
    )
    complete = texts_to(fake, ANN, 3)[2]
    assert complete == (
        "Thanks for choosing Acme Air! Your AC tune-up is complete. Total: $249.00. "
        "Tell us how we did: https://acme.example/s/ANN"
    )

    # 4. payment reminder, asked for by the console; the same request twice texts once
    ask = pb.NotifyCustomerRequest(
        kind="payment_reminder",
        plan_id="texts-denver",
        job_id="ANN",
        variables={
            "invoice_number": "INV-1042",
            "invoice_total": "$249.00",
            "payment_link": "https://pay.example/1042",
        },
        request_id="overdue-INV-1042-1",
    )
    first = stub.NotifyCustomer(ask, timeout=10).message_key
    assert stub.NotifyCustomer(ask, timeout=10).message_key == first
    reminder = texts_to(fake, ANN, 4)[3]
    assert reminder == (
        "Hi Ann, a friendly reminder from Acme Air: invoice INV-1042 ($249.00) is due. "
        "Pay securely: https://pay.example/1042. Questions? Reply here!"
    )

    # 5. emergency: no heat at Carl's, called in at 15:00 local; Mike is the one who can go
    emergency = {
        "id": "CARL",
        "location": {"lat": 39.7500, "lng": -104.9800},
        "service_duration": "3600s",
        "required_skills": ["hvac"],
        "priority": "EMERGENCY",
        "respond_within": "7200s",
        "customer": {"name": "Carl", "phone": CARL},
        "service_type": "no heat",
    }
    after = replan(stub, [{"new_job": emergency}], "2026-03-03T22:00:00Z")
    carl = next(v for r in after.routes for v in r.visits if v.job_id == "CARL")
    minutes = -(-(carl.start.seconds - 1772575200) // 60)  # from the call (22:00Z) to the knock
    (urgent,) = texts_to(fake, CARL, 1)
    assert urgent == (
        "EMERGENCY SERVICE: We received your urgent no heat request. Mike will arrive within "
        f"{minutes} min. Emergency contact: +13035550911"
    )

    time.sleep(1.0)  # nothing more comes: each text once
    assert len(fake.sent_to(ANN)) == 4 and len(fake.sent_to(CARL)) == 1
    assert all("Z" not in t and "UTC" not in t for t in fake.sent_to(ANN))


def test_a_payment_reminder_to_a_bare_number_and_what_is_refused(stub, fake):
    ok = pb.NotifyCustomerRequest(
        kind="payment_reminder",
        phone="+1 (720) 555-0199",
        variables={"invoice_number": "INV-7", "invoice_total": "$80"},
    )
    stub.NotifyCustomer(ok, timeout=10)
    (text,) = texts_to(fake, "+17205550199", 1)
    assert text == "Hi, a friendly reminder from Acme Air: invoice INV-7 ($80) is due. Questions? Reply here!"

    cases = {
        "kind": pb.NotifyCustomerRequest(kind="en_route", phone="+17205550199"),
        "phone": pb.NotifyCustomerRequest(kind="payment_reminder", phone="555-0199"),
        "plan_id": pb.NotifyCustomerRequest(kind="payment_reminder", plan_id="nope", job_id="ANN"),
        "job_id": pb.NotifyCustomerRequest(kind="payment_reminder", plan_id="texts-denver", job_id="NOPE"),
        "variables['tracking_link']": pb.NotifyCustomerRequest(
            kind="payment_reminder", phone="+17205550199", variables={"tracking_link": "x"}
        ),
        "request_id": pb.NotifyCustomerRequest(kind="payment_reminder", phone="+17205550199", request_id="a b"),
    }
    for field, request in cases.items():
        with pytest.raises(grpc.RpcError) as refused:
            stub.NotifyCustomer(request, timeout=10)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in field_violations(refused.value), (field, field_violations(refused.value))


def test_an_unknown_time_zone_is_refused_naming_the_field(stub):
    request = json_format.ParseDict(
        {**day(), "plan_id": "bad-zone", "time_zone": "America/Springfield"}, pb.SolveRequest()
    )
    with pytest.raises(grpc.RpcError) as refused:
        stub.Solve(request, timeout=30)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "time_zone" in field_violations(refused.value)
