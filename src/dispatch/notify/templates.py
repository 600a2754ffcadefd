"""Customer texts: templates per message kind, checked when loaded, rendered without empty holes,
and SMS segment counting.

The defaults keep the seed's wording: rendered with every value known, each reads word for word
as the seed's text. The seed's payment reminder was not available to us: that default is ours,
written in the seed's voice (it uses the seed's ``{invoice_number}`` and ``{payment_link}``).

A business overrides any of them (and sets its name, phones, links and time zone) in a JSON
file (``DISPATCH_MESSAGES_FILE``)::

    {"business_name": "Acme Air", "emergency_phone": "+13035550100", "time_zone": "America/Denver",
     "tracking_link": "https://acme.example/t/{job_id}", "survey_link": "https://acme.example/s/{job_id}",
     "templates": {"en_route": "{technician_name} is coming, ETA {eta}.[ Track: {tracking_link}]"}}

Template syntax:

- ``{name}`` is a variable. A template may use only the variables of its kind (``VARIABLES``):
  an unknown or misspelt one fails when the file is loaded, never when a text is sent. The links
  may use ``{job_id}`` and ``{plan_id}``; a link whose id the text lacks (a text to a bare phone
  number) counts as missing.
- ``[...]`` is an optional clause: it is left out when any variable in it has no value (empty, or
  only spaces), so a missing value never leaves a hole such as "Track live: ." -- put the words
  that only make sense with the value inside: ``ETA: {eta}.[ Track live: {tracking_link}.]``,
  ``Hi[ {customer_name}]!``. Clauses do not nest; each holds at least one variable; brackets are
  syntax only (a text never shows one). An unbalanced, nested or empty clause fails when loaded,
  naming the template.
- A few values a sentence cannot do without have a fallback instead (``FALLBACKS``):
  "Your technician", "service". Every other value may be missing: outside a clause, it renders
  empty (a file setting used so while the file leaves it unset is warned about when loaded).
- After rendering, runs of spaces become one, the text is trimmed, and a text whose opening
  clause was dropped starts with a capital ("[{business_name}: ]we're sorry" -> "We're sorry").
"""

from __future__ import annotations

import functools
import json
import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger("dispatch.notify")

DEFAULTS: dict[str, str] = {
    "en_route": (
        "{technician_name} is on the way! ETA: {eta}.[ Track live: {tracking_link}.]"
        "[ Call/text {technician_phone} directly with questions.]"
    ),
    "emergency": (
        "EMERGENCY SERVICE: We received your urgent {service_type} request. {technician_name} will arrive "
        "within {eta}.[ Emergency contact: {emergency_phone}]"
    ),
    "eta_update": "[Update from {business_name}: ]{technician_name} now expects to arrive between {eta_window}.",
    "appointment": (
        "Hi[ {customer_name}]! Confirming your {service_type} appointment on {appointment_date} at "
        "{appointment_time}. {technician_name} will call 30 min before arrival. Questions? Reply here!"
    ),
    "service_complete": (
        "Thanks[ for choosing {business_name}]! Your {service_type} is complete.[ Total: {invoice_total}.]"
        "[ Tell us how we did: {survey_link}]"
    ),
    "payment_reminder": (
        "Hi[ {customer_name}], a friendly reminder[ from {business_name}]: invoice[ {invoice_number}]"
        "[ ({invoice_total})] is due.[ Pay securely: {payment_link}.] Questions? Reply here!"
    ),
    "promise_broken": (
        "[{business_name}: ]we're sorry - we can't make your {service_type} visit as planned today."
        "[ Please call us at {business_phone} to rebook.]"
    ),
    "emergency_received": (
        "EMERGENCY SERVICE: We received your urgent {service_type} request. All our technicians are busy now; "
        "our office will call you.[ Emergency line: {emergency_phone}]"
    ),
}

#: The message kinds a console may ask for (``NotifyCustomer``; an ``EtaKind.CUSTOMER_MESSAGE``
#: names one in ``variables["kind"]``): those no plan change sends.
REQUESTED_KINDS = ("payment_reminder", "service_complete")

_COMMON = {"business_name", "business_phone", "customer_name", "technician_name", "technician_phone", "service_type"}
#: The visit's day and the window told ("date" is the older name of "appointment_date").
_VISIT = {"eta", "eta_window", "date", "appointment_date", "appointment_time"}
_INVOICE = {"invoice_number", "invoice_total", "payment_link"}
VARIABLES: dict[str, frozenset[str]] = {
    "en_route": frozenset(_COMMON | {"eta", "eta_window", "tracking_link"}),
    "emergency": frozenset(_COMMON | {"eta", "eta_window", "emergency_phone", "tracking_link"}),
    "eta_update": frozenset(_COMMON | {"eta", "eta_window", "tracking_link"}),
    "appointment": frozenset(_COMMON | _VISIT),
    "service_complete": frozenset(_COMMON | _INVOICE | {"survey_link"}),
    "payment_reminder": frozenset(_COMMON | _INVOICE),
    #: The ETA (and window, date) the visit had.
    "promise_broken": frozenset(_COMMON | _VISIT),
    "emergency_received": frozenset(_COMMON | {"emergency_phone"}),
}
#: What a missing value reads as where a sentence cannot do without it.
FALLBACKS: dict[str, str] = {"technician_name": "Your technician", "service_type": "service"}
#: Values the messages file sets for every text, and the ids its links may use.
SETTINGS = ("business_name", "business_phone", "emergency_phone", "tracking_link", "survey_link")
LINKS = ("tracking_link", "survey_link")
LINK_IDS = frozenset({"job_id", "plan_id"})

#: GSM 03.38 basic set, and the extension set (each costs two characters).
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")

_FORMATTER = string.Formatter()


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
class _Field:
    """One ``{name!conversion:spec}`` of a template."""

    name: str
    conversion: str | None
    spec: str

    def render(self, values: Mapping[str, str]) -> str:
        value = _FORMATTER.convert_field(values.get(self.name, ""), self.conversion)
        return str(_FORMATTER.format_field(value, self.spec))


@dataclass(frozen=True)
class _Clause:
    """A run of a template: text and variables, left out (``optional``) when one of them has no value."""

    pieces: tuple[str | _Field, ...]
    optional: bool

    @property
    def names(self) -> set[str]:
        return {p.name for p in self.pieces if isinstance(p, _Field)}

    def render(self, values: Mapping[str, str]) -> str | None:
        """The clause's text; ``None`` when it is dropped."""
        if self.optional and not all(values.get(name) for name in self.names):
            return None
        return "".join(p if isinstance(p, str) else p.render(values) for p in self.pieces)


@functools.lru_cache(maxsize=256)
def _parse(kind: str, text: str) -> tuple[_Clause, ...]:
    """``text`` as clauses (cached: every text renders its template); ``TemplateError`` naming
    ``kind`` for bad ``{}`` syntax or brackets that are unbalanced, nested or hold no variable."""
    where = f"templates.{kind}"
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    clauses: list[_Clause] = []
    pieces: list[str | _Field] = []
    optional = False

    def close() -> None:
        clause = _Clause(tuple(pieces), optional)
        if optional and not clause.names:
            shown = "".join(p for p in pieces if isinstance(p, str))
            raise TemplateError(f"{where}: optional clause [{shown}] has no variable (brackets are syntax only)")
        if pieces:
            clauses.append(clause)
        pieces.clear()

    for literal, name, spec, conversion in parsed:
        for part in re.split(r"([\[\]])", literal):
            if part == "[":
                if optional:
                    raise TemplateError(f"{where}: '[' inside an optional clause (clauses do not nest)")
                close()
                optional = True
            elif part == "]":
                if not optional:
                    raise TemplateError(f"{where}: ']' without its '['")
                close()
                optional = False
            elif part:
                pieces.append(part)
        if name is not None:
            pieces.append(_Field(name, conversion, spec or ""))
    if optional:
        raise TemplateError(f"{where}: '[' without its ']'")
    close()
    return tuple(clauses)


def _bare(kind: str, text: str) -> set[str]:
    """The variables ``text`` uses outside optional clauses."""
    return {name for clause in _parse(kind, text) if not clause.optional for name in clause.names}


def _fill(kind: str, text: str, values: Mapping[str, str]) -> str:
    """Render ``text``: clauses whose values are all there, spaces tidied (a dropped clause must
    not leave two in a row), a capital first letter when the opening clause was dropped."""
    clauses = _parse(kind, text)
    parts = [clause.render(values) for clause in clauses]
    out = re.sub(" {2,}", " ", "".join(p for p in parts if p is not None)).strip()
    if parts and parts[0] is None:
        out = out[:1].upper() + out[1:]
    return out


@dataclass(frozen=True)
class Messages:
    """One business's texts and the values they share."""

    templates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULTS))
    business_name: str = ""
    business_phone: str = ""
    emergency_phone: str = ""
    #: May use {job_id} and {plan_id}.
    tracking_link: str = ""
    #: Where a customer rates the visit; may use {job_id} and {plan_id}.
    survey_link: str = ""
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        for kind, text in self.templates.items():
            check(kind, text)
        for name in LINKS:
            _check_link(name, getattr(self, name))
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise TemplateError(f"time_zone: unknown zone {self.time_zone!r}") from None
        self._warn_unset()

    def _warn_unset(self) -> None:
        """Log the templates that use a setting this file leaves empty outside a clause: each of
        their texts would show an empty slot (the file still loads: a business may be mid-setup)."""
        unset = {name for name in SETTINGS if not getattr(self, name).strip()}
        for kind, text in self.templates.items():
            holes = sorted(unset & _bare(kind, text))
            if holes:
                log.warning(
                    "templates.%s: %s not set in the messages file and not in an optional clause: texts will show "
                    "an empty slot",
                    kind,
                    ", ".join(holes),
                )

    @classmethod
    def load(cls, path: Path) -> Messages:
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TemplateError(f"{path}: {exc}") from None
        if not isinstance(raw, dict):
            raise TemplateError(f"{path}: expected an object")
        extra = set(raw) - {"templates", "time_zone", *SETTINGS}
        if extra:
            raise TemplateError(f"{path}: unknown keys {sorted(extra)}")
        templates = {**DEFAULTS, **raw.pop("templates", {})}
        return cls(templates=templates, **raw)

    def links(self, plan_id: str, job_id: str) -> dict[str, str]:
        """The links of one visit; a link that needs an id the text lacks is no link ("")."""
        ids = {"plan_id": plan_id, "job_id": job_id}
        out = {}
        for name in LINKS:
            link = getattr(self, name)
            used = {n for _, n, _, _ in _FORMATTER.parse(link) if n is not None}
            out[name] = link.format_map(ids) if all(ids[n] for n in used) else ""
        return out

    def render(self, kind: str, values: Mapping[str, str]) -> str:
        """The ``kind`` text with ``values`` over this file's settings; values that are only
        spaces count as missing."""
        shared = {name: getattr(self, name) for name in ("business_name", "business_phone", "emergency_phone")}
        known = {name: value.strip() for name, value in {**shared, **values}.items()}
        filled = {**known, **{name: known.get(name) or fallback for name, fallback in FALLBACKS.items()}}
        return _fill(kind, self.templates[kind], filled)


def check(kind: str, text: str) -> None:
    """Raise ``TemplateError`` unless ``text`` is a valid template of ``kind``."""
    if kind not in VARIABLES:
        raise TemplateError(f"templates.{kind}: unknown message kind (known: {', '.join(sorted(VARIABLES))})")
    used = {name for clause in _parse(kind, text) for name in clause.names}
    bad = sorted(n for n in used if n not in VARIABLES[kind])
    if bad:
        raise TemplateError(
            f"templates.{kind}: unknown variable(s) {', '.join(bad)} (allowed: {', '.join(sorted(VARIABLES[kind]))})"
        )
    try:  # every value is text when sent: a format spec or a conversion text cannot take fails now, not then
        _fill(kind, text, dict.fromkeys(VARIABLES[kind], "x"))
    except (ValueError, TypeError) as exc:
        raise TemplateError(f"templates.{kind}: {type(exc).__name__}: {exc}") from None


def _check_link(name: str, link: str) -> None:
    """Raise ``TemplateError`` unless ``link`` uses only ``{job_id}`` and ``{plan_id}``: a link is
    filled in for every text, so a misspelt id fails when the file is loaded."""
    try:
        used = {n for _, n, _, _ in _FORMATTER.parse(link) if n is not None}
        link.format_map(dict.fromkeys(used | LINK_IDS, "x"))
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        raise TemplateError(f"{name}: {type(exc).__name__}: {exc}") from None
    bad = sorted(used - LINK_IDS)
    if bad:
        raise TemplateError(f"{name}: unknown variable(s) {', '.join(bad)} (allowed: job_id, plan_id)")
