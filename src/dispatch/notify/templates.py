"""Customer texts: templates per message kind, checked when loaded, and SMS segment counting.

The defaults keep the seed's wording. A business overrides any of them (and sets its name,
emergency line, tracking link and time zone) in a JSON file (``DISPATCH_MESSAGES_FILE``)::

    {"business_name": "Acme Air", "emergency_phone": "+13035550100", "time_zone": "America/Denver",
     "tracking_link": "https://acme.example/t/{job_id}",
     "templates": {"en_route": "{technician_name} is coming, ETA {eta}."}}

A template may use only the variables of its kind (``VARIABLES``): an unknown or misspelt one
fails when the file is loaded, never when a text is sent.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULTS: dict[str, str] = {
    "en_route": (
        "{technician_name} is on the way! ETA: {eta}. Track live: {tracking_link}. "
        "Call/text {technician_phone} directly with questions."
    ),
    "emergency": (
        "EMERGENCY SERVICE: We received your urgent {service_type} request. {technician_name} will arrive "
        "within {eta}. Emergency contact: {emergency_phone}"
    ),
    "eta_update": "Update from {business_name}: {technician_name} now expects to arrive between {eta_window}.",
    "appointment": (
        "{business_name}: your {service_type} visit is confirmed for {date}, arrival between {eta_window}. "
        "Reply STOP to opt out."
    ),
    "service_complete": (
        "Thanks for choosing {business_name}! Your {service_type} is complete. Total: {invoice_total}. "
        "Tell us how we did: {survey_link}"
    ),
    "payment_reminder": "{business_name}: a friendly reminder that {invoice_total} is due. Questions? {business_phone}",
    "promise_broken": (
        "{business_name}: we're sorry - we can't make your {service_type} visit as planned today. "
        "Please call us at {business_phone} to rebook."
    ),
    "emergency_received": (
        "EMERGENCY SERVICE: We received your urgent {service_type} request. All our technicians are busy now; "
        "our office will call you. Emergency line: {emergency_phone}"
    ),
}

_COMMON = {"business_name", "business_phone", "customer_name", "technician_name", "technician_phone", "service_type"}
VARIABLES: dict[str, frozenset[str]] = {
    "en_route": frozenset(_COMMON | {"eta", "eta_window", "tracking_link"}),
    "emergency": frozenset(_COMMON | {"eta", "eta_window", "emergency_phone", "tracking_link"}),
    "eta_update": frozenset(_COMMON | {"eta", "eta_window", "tracking_link"}),
    "appointment": frozenset(_COMMON | {"eta", "eta_window", "date"}),
    "service_complete": frozenset(_COMMON | {"invoice_total", "survey_link"}),
    "payment_reminder": frozenset(_COMMON | {"invoice_total", "payment_link"}),
    #: The ETA (and window, date) the visit had.
    "promise_broken": frozenset(_COMMON | {"eta", "eta_window", "date"}),
    "emergency_received": frozenset(_COMMON | {"emergency_phone"}),
}

#: GSM 03.38 basic set, and the extension set (each costs two characters).
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


class TemplateError(ValueError):
    """A template or messages file that cannot be used; the message names the template."""


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # in the encoding's units (GSM-7 extension characters count 2)
    segments: int


def segments(text: str) -> Segments:
    """How many SMS segments ``text`` takes: GSM-7 160 characters in one, 153 each when split;
    UCS-2 (anything outside GSM-7) 70 in one, 67 each when split (UTF-16 code units)."""
    if all(c in GSM7 or c in GSM7_EXTENDED for c in text):
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        return Segments("GSM-7", units, 1 if units <= 160 else -(-units // 153))
    units = len(text.encode("utf-16-le")) // 2
    return Segments("UCS-2", units, 1 if units <= 70 else -(-units // 67))


@dataclass(frozen=True)
class Messages:
    """One business's texts and the values they share."""

    templates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULTS))
    business_name: str = ""
    business_phone: str = ""
    emergency_phone: str = ""
    #: May use {job_id} and {plan_id}.
    tracking_link: str = ""
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        for kind, text in self.templates.items():
            check(kind, text)
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise TemplateError(f"time_zone: unknown zone {self.time_zone!r}") from None

    @classmethod
    def load(cls, path: Path) -> Messages:
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TemplateError(f"{path}: {exc}") from None
        if not isinstance(raw, dict):
            raise TemplateError(f"{path}: expected an object")
        known = {"templates", "business_name", "business_phone", "emergency_phone", "tracking_link", "time_zone"}
        extra = set(raw) - known
        if extra:
            raise TemplateError(f"{path}: unknown keys {sorted(extra)}")
        templates = {**DEFAULTS, **raw.pop("templates", {})}
        return cls(templates=templates, **raw)

    def render(self, kind: str, values: Mapping[str, str]) -> str:
        shared = {
            "business_name": self.business_name,
            "business_phone": self.business_phone,
            "emergency_phone": self.emergency_phone,
        }
        return self.templates[kind].format_map({**shared, **values})


def check(kind: str, text: str) -> None:
    """Raise ``TemplateError`` unless ``text`` is a valid template of ``kind``."""
    if kind not in VARIABLES:
        raise TemplateError(f"templates.{kind}: unknown message kind (known: {', '.join(sorted(VARIABLES))})")
    try:
        used = {name for _, name, spec, conv in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise TemplateError(f"templates.{kind}: {exc}") from None
    bad = sorted(n for n in used if n not in VARIABLES[kind])
    if bad:
        raise TemplateError(
            f"templates.{kind}: unknown variable(s) {', '.join(bad)} (allowed: {', '.join(sorted(VARIABLES[kind]))})"
        )
    try:  # every value is text when sent: a format spec or an index text cannot take fails now, not then
        text.format_map({name: "x" for name in VARIABLES[kind]})
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise TemplateError(f"templates.{kind}: {type(exc).__name__}: {exc}") from None
