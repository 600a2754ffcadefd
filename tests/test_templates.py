"""Customer texts as rendered: every default with nothing known and with everything known (no
empty slot, at most two GSM-7 segments), the seed's texts word for word, optional clauses and
their validation, fallbacks, links, and clock times in the event's time zone."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from dispatch.eta import EtaEvent, EtaKind
from dispatch.notify.notifier import Notifier
from dispatch.notify.templates import DEFAULTS, Messages, TemplateError, segments
from dispatch.stream import MemoryEtaStream

PHONE = "+13035550199"
T0 = 1_772_470_800  # 2026-03-02T17:00:00Z: Mon 2 Mar, 10:00 in Denver
VISIT = T0 + 86_400 + 3 * 3600  # Tue 3 Mar, 13:00 in Denver (20:00 UTC)
#: The event that texts each message kind.
TEXTED_BY = {
    "en_route": EtaKind.DEPARTED,
    "emergency": EtaKind.EMERGENCY,
    "eta_update": EtaKind.MOVED,
    "appointment": EtaKind.PLANNED,
    "service_complete": EtaKind.SERVICE_COMPLETE,
    "payment_reminder": EtaKind.CUSTOMER_MESSAGE,
    "promise_broken": EtaKind.PROMISE_BROKEN,
    "emergency_received": EtaKind.EMERGENCY_RECEIVED,
}
INVOICE = {
    "invoice_number": "INV-2026-00417",
    "invoice_total": "$1,249.50",
    "payment_link": "https://pay.example/i/417",
}
FULL = Messages(
    business_name="Rocky Mountain Heating & Air",
    business_phone="+13035550123",
    emergency_phone="+13035550100",
    tracking_link="https://rmheating.example/track/{job_id}",
    survey_link="https://rmheating.example/rate/{job_id}",
    time_zone="America/Denver",
)
#: What a variable with no value must never leave behind.
HOLES = {
    "a brace": r"[{}]",
    "a bracket": r"[\[\]]",
    "': .'": r": \.",
    "':  '": r":  ",
    "' .'": r" \.",
    "'..'": r"\.\.",
    "' ,'": r" ,",
    "'()'": r"\(\)",
    "a trailing ':' or ','": r"[:,]\s*$",
    "a double space": r"  ",
    "'Hi !'": r"Hi !",
    "space at an end": r"^\s|\s$",
}


def visit(message: str, *, full: bool, **more) -> EtaEvent:
    """The event that texts ``message``: everything a text can use (``full``), or nothing optional."""
    kind = TEXTED_BY[message]
    variables = dict(INVOICE) if full and message in ("service_complete", "payment_reminder") else {}
    if kind is EtaKind.CUSTOMER_MESSAGE:
        variables["kind"] = message
    bare = kind is EtaKind.CUSTOMER_MESSAGE and not full  # a console's text to a bare phone number
    fields = {
        "plan_id": "" if bare else "denver-2026-03-03",
        "version": 2,
        "kind": kind,
        "job_id": "" if bare else "J0001234",
        "technician_id": "T01",
        "eta": VISIT,
        "window_start": VISIT,
        "window_end": VISIT + 3600,
        "at": VISIT - 35 * 60,
        "customer_phone": PHONE,
        "variables": variables,
        "reference": "r1",
    }
    if full:
        fields |= {
            "service_type": "water heater replacement",
            "customer_name": "Maximilian Fitzgerald-Hughes",
            "technician_name": "Christopher Alexander",
            "technician_phone": "+13035550101",
            "time_zone": "America/Denver",
        }
    return EtaEvent(**(fields | more))


def render(messages: Messages, event: EtaEvent) -> tuple[str, str]:
    return Notifier(MemoryEtaStream(), sms=None, messages=messages).text(event)


def holes(text: str) -> list[str]:
    return [name for name, pattern in HOLES.items() if re.search(pattern, text)]


def test_every_message_kind_has_a_default_and_an_event_that_texts_it():
    assert set(TEXTED_BY) == set(DEFAULTS)
    assert len(FULL.links("denver-2026-03-03", "J0001234")["tracking_link"]) == 40  # a realistic length
    for message in DEFAULTS:
        assert render(Messages(), visit(message, full=False))[0] == message


@pytest.mark.parametrize("full", [False, True], ids=["nothing-known", "everything-known"])
@pytest.mark.parametrize("message", sorted(DEFAULTS))
def test_every_default_renders_without_an_empty_slot_in_at_most_two_gsm7_segments(message, full):
    _, text = render(FULL if full else Messages(), visit(message, full=full))
    assert holes(text) == [], text
    parts = segments(text)
    assert parts.encoding == "GSM-7" and parts.segments <= 2, (text, parts)


MINIMAL_TEXTS = {
    "en_route": "Your technician is on the way! ETA: 20:00.",
    "emergency": "EMERGENCY SERVICE: We received your urgent service request. Your technician will arrive within 35 min.",
    "eta_update": "Your technician now expects to arrive between 20:00-21:00.",
    "appointment": (
        "Hi! Confirming your service appointment on Tue 3 Mar at 20:00-21:00. Your technician will call 30 min "
        "before arrival. Questions? Reply here!"
    ),
    "service_complete": "Thanks! Your service is complete.",
    "payment_reminder": "Hi, a friendly reminder: invoice is due. Questions? Reply here!",
    "promise_broken": "We're sorry - we can't make your service visit as planned today.",
    "emergency_received": (
        "EMERGENCY SERVICE: We received your urgent service request. All our technicians are busy now; our office "
        "will call you."
    ),
}


@pytest.mark.parametrize("message", sorted(DEFAULTS))
def test_with_nothing_known_a_default_loses_only_its_optional_sentences(message):
    """No tracking link: no "Track live"; no name: "Hi!"; no emergency line: no "Emergency
    contact"; no total, survey or payment link: none of their sentences; clock times in UTC."""
    assert render(Messages(), visit(message, full=False))[1] == MINIMAL_TEXTS[message]


SEED = {
    "en_route": (
        "{technician_name} is on the way! ETA: {eta}. Track live: {tracking_link}. "
        "Call/text {technician_phone} directly with questions."
    ),
    "emergency": (
        "EMERGENCY SERVICE: We received your urgent {service_type} request. {technician_name} will arrive "
        "within {eta}. Emergency contact: {emergency_phone}"
    ),
    "appointment": (
        "Hi {customer_name}! Confirming your {service_type} appointment on {appointment_date} at "
        "{appointment_time}. {technician_name} will call 30 min before arrival. Questions? Reply here!"
    ),
    "service_complete": (
        "Thanks for choosing {business_name}! Your {service_type} is complete. Total: {invoice_total}. "
        "Tell us how we did: {survey_link}"
    ),
    # not the seed's wording (unknown to us): ours, with the seed's variables
    "payment_reminder": (
        "Hi {customer_name}, a friendly reminder from {business_name}: invoice {invoice_number} "
        "({invoice_total}) is due. Pay securely: {payment_link}. Questions? Reply here!"
    ),
}
SEED_TEXTS = {
    "en_route": (
        "Christopher Alexander is on the way! ETA: 13:00. Track live: https://rmheating.example/track/J0001234. "
        "Call/text +13035550101 directly with questions."
    ),
    "emergency": (
        "EMERGENCY SERVICE: We received your urgent water heater replacement request. Christopher Alexander will "
        "arrive within 35 min. Emergency contact: +13035550100"
    ),
    "appointment": (
        "Hi Maximilian Fitzgerald-Hughes! Confirming your water heater replacement appointment on Tue 3 Mar at "
        "13:00-14:00. Christopher Alexander will call 30 min before arrival. Questions? Reply here!"
    ),
    "service_complete": (
        "Thanks for choosing Rocky Mountain Heating & Air! Your water heater replacement is complete. "
        "Total: $1,249.50. Tell us how we did: https://rmheating.example/rate/J0001234"
    ),
    "payment_reminder": (
        "Hi Maximilian Fitzgerald-Hughes, a friendly reminder from Rocky Mountain Heating & Air: invoice "
        "INV-2026-00417 ($1,249.50) is due. Pay securely: https://pay.example/i/417. Questions? Reply here!"
    ),
}


def test_a_file_with_the_seed_texts_loads_and_reads_them_word_for_word_as_the_defaults_do(tmp_path: Path):
    path = tmp_path / "messages.json"
    settings = {name: getattr(FULL, name) for name in ("business_name", "emergency_phone", "time_zone")}
    settings |= {"tracking_link": FULL.tracking_link, "survey_link": FULL.survey_link}
    path.write_text(json.dumps({**settings, "templates": SEED}))
    seeded = Messages.load(path)
    for message, expected in SEED_TEXTS.items():
        assert render(seeded, visit(message, full=True))[1] == expected
        assert render(FULL, visit(message, full=True))[1] == expected  # the defaults, everything known


def test_the_other_defaults_read_as_before_when_everything_is_known():
    assert render(FULL, visit("eta_update", full=True))[1] == (
        "Update from Rocky Mountain Heating & Air: Christopher Alexander now expects to arrive between 13:00-14:00."
    )
    assert render(FULL, visit("promise_broken", full=True))[1] == (
        "Rocky Mountain Heating & Air: we're sorry - we can't make your water heater replacement visit as planned "
        "today. Please call us at +13035550123 to rebook."
    )
    assert render(FULL, visit("emergency_received", full=True))[1] == (
        "EMERGENCY SERVICE: We received your urgent water heater replacement request. All our technicians are busy "
        "now; our office will call you. Emergency line: +13035550100"
    )


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{technician_name} is here.[ Track: {tracking_link}", r"templates\.en_route: '\[' without its '\]'"),
        ("{technician_name} is here.] Track: {tracking_link}", r"templates\.en_route: '\]' without its '\['"),
        ("[Hi[ {customer_name}]!] ETA {eta}", r"templates\.en_route: '\[' inside an optional clause"),
        ("[Acme] {technician_name} at {eta}", r"templates\.en_route: optional clause \[Acme\] has no variable"),
        ("{technician_name} at {eta}[]", r"templates\.en_route: optional clause \[\] has no variable"),
        ("{technician_name} at {eta}[ {tracking_lnk}]", r"templates\.en_route: unknown variable.*tracking_lnk"),
    ],
)
def test_bad_brackets_fail_when_the_file_is_loaded_naming_the_template(tmp_path: Path, template, error):
    path = tmp_path / "messages.json"
    path.write_text(json.dumps({"templates": {"en_route": template}}))
    with pytest.raises(TemplateError, match=error):
        Messages.load(path)


def test_a_business_template_drops_the_clauses_it_cannot_fill():
    own = Messages(
        templates={**DEFAULTS, "en_route": "[{business_name}: ]{technician_name} comes at {eta}[ ({eta_window})]."}
    )
    event = visit("en_route", full=False, technician_name="mike")
    assert render(own, event)[1] == "Mike comes at 20:00 (20:00-21:00)."  # a dropped opening: a capital
    named = Messages(templates=own.templates, business_name="acme")
    assert render(named, event)[1] == "acme: mike comes at 20:00 (20:00-21:00)."  # as written


def test_event_values_merge_in_and_empty_or_foreign_ones_count_for_nothing():
    event = visit(
        "payment_reminder",
        full=False,
        customer_name="Pat",
        variables={"kind": "payment_reminder", "invoice_number": "INV-9", "invoice_total": " ", "eta": "x"},
    )
    assert render(FULL, event)[1] == (
        "Hi Pat, a friendly reminder from Rocky Mountain Heating & Air: invoice INV-9 is due. Questions? Reply here!"
    )
    overridden = visit("service_complete", full=True, variables={"service_type": "furnace tune-up", "survey_link": ""})
    assert render(FULL, overridden)[1] == (
        "Thanks for choosing Rocky Mountain Heating & Air! Your furnace tune-up is complete. "
        "Tell us how we did: https://rmheating.example/rate/J0001234"
    )
    en_route = visit("en_route", full=True, variables={"invoice_total": "$5"})  # not a variable of en_route
    assert render(FULL, en_route)[1] == SEED_TEXTS["en_route"]


def test_a_link_needs_the_ids_it_uses():
    bare = visit("service_complete", full=True, plan_id="", job_id="")  # a console's text to a bare number
    assert render(FULL, bare)[1].endswith("is complete. Total: $1,249.50.")
    assert FULL.links("p", "j") == {
        "tracking_link": "https://rmheating.example/track/j",
        "survey_link": "https://rmheating.example/rate/j",
    }
    with pytest.raises(TemplateError, match="survey_link: unknown variable.*customer"):
        Messages(survey_link="https://x.example/{customer}")
    with pytest.raises(TemplateError, match="tracking_link: ValueError"):
        Messages(tracking_link="https://x.example/{job_id")


def test_a_setting_left_empty_outside_a_clause_is_warned_about_when_loaded(caplog):
    with caplog.at_level(logging.WARNING, logger="dispatch.notify"):
        Messages()  # the defaults put every setting in a clause
        assert caplog.text == ""
        Messages(templates={"eta_update": "{business_name}: ETA {eta}."})
    assert "templates.eta_update: business_name not set in the messages file" in caplog.text


def test_clock_times_are_in_the_events_time_zone_else_the_files_else_utc(caplog):
    planned = visit("appointment", full=True)
    assert "on Tue 3 Mar at 13:00-14:00" in render(FULL, planned)[1]  # the event's zone: Denver
    assert (
        "on Tue 3 Mar at 15:00-16:00" in render(FULL, visit("appointment", full=True, time_zone="America/New_York"))[1]
    )
    assert "on Tue 3 Mar at 13:00-14:00" in render(FULL, visit("appointment", full=True, time_zone=""))[1]  # the file's
    assert "on Tue 3 Mar at 20:00-21:00" in render(Messages(), visit("appointment", full=True, time_zone=""))[1]  # UTC
    with caplog.at_level(logging.WARNING, logger="dispatch.notify"):
        text = render(FULL, visit("appointment", full=True, time_zone="Mars/Olympus"))[1]
    assert "on Tue 3 Mar at 13:00-14:00" in text and "unknown time zone 'Mars/Olympus'" in caplog.text
    summer = visit("en_route", full=True, eta=T0 + 7 * 86_400)  # Mon 9 Mar 17:00 UTC: Denver is on MDT since the 8th
    assert "ETA: 11:00." in render(FULL, summer)[1]
