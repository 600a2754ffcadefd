"""Logging for operators: one JSON object per line (or plain text at a terminal), each with the
request id of the RPC it belongs to, phone numbers masked, secrets blanked and customers' places
left out of request URLs, whoever logged it.

``configure()`` is called once by the CLI. Everything else logs through
``logging.getLogger("dispatch...")`` as usual; the id of the request being served comes from
``request_id`` (a context variable the gRPC layer sets), so no call site passes it along.
Masking and redaction happen in the one handler, so a third-party library's log line
(urllib3 printing a URL, grpc printing a peer) cannot leak a number or a key either.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

#: The id of the request being served in this context ("" outside a request).
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# An E.164 number (``+`` and 7 to 15 digits, separators allowed) or a North American one
# (``303-555-0199``, ``(303) 555-0199``, ``1 303 555 0199``, ``3035550199``). Not an ISO date
# (``2026-03-03``), a clock time or a port: plan ids and timestamps stay readable.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d(?:[\s().-]{0,2}\d){6,14}|(?:1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4})(?![\w])"
)

# Where a customer is, in the URLs and bodies HTTP clients log at DEBUG (urllib3 prints each
# Google request line: ``origins=39.74,-104.99|...``, ``address=1600+Main+St``): the value goes.
_PLACES = re.compile(r"(?i)\b(origins|destinations|address|latlng|place_id|components|waypoints)=([^&\s\"']+)")

#: The attributes every LogRecord has (and ``rid``, which ``TextFormatter`` adds): anything else on a
#: record came from ``extra=`` and is logged.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName", "rid"}

_secrets: set[str] = set()
_HANDLER = "dispatch"
#: What ``configure`` was last called with (for child processes to log the same way).
_configured: tuple[str, str] | None = None
_secrets_lock = threading.Lock()


def mask(text: str) -> str:
    """``text`` with every phone number reduced to its last two digits (``*********99``)."""

    def hide(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        return "*" * (len(digits) - 2) + digits[-2:]

    return _PHONE.sub(hide, text)


def mask_phone(phone: str) -> str:
    """A phone number known to be one, in whatever form it was given (national ``020 7946 0958``,
    ``0044…``, ``303-555-0199 x12``): every digit but the last two hidden. ``mask`` finds numbers
    in free text, and only the forms it can tell from dates and ids."""
    digits = re.sub(r"\D", "", phone)
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def redact(*secrets: str) -> None:
    """Never log these strings (API keys, tokens, passwords): the handler blanks them in every line.
    Called where a secret is read from the environment."""
    with _secrets_lock:
        _secrets.update(s for s in secrets if s and len(s) >= 4)


def scrub(text: str) -> str:
    """``text`` with the registered secrets blanked, places in request URLs dropped and phone
    numbers masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    if "=" in text:
        text = _PLACES.sub(r"\1=[PLACES]", text)
    return mask(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (RFC 3339, UTC, ms), ``level``, ``logger``, ``message``,
    ``request_id`` when serving one, ``exception`` with the traceback, and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, object] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        rid = getattr(record, "request_id", "") or request_id.get()
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value if isinstance(value, int | float | bool) or value is None else scrub(str(value))
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger [request id]: message``, masked and redacted like the JSON lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", "") or request_id.get()
        record.rid = f" [{rid}]" if rid else ""
        return scrub(super().format(record))


def configure(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr) as JSON lines (``fmt="json"``) or text, at ``level``."""
    global _configured
    _configured = (level, fmt)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:  # ours from an earlier call only
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))


def configured() -> tuple[str, str] | None:
    """``(level, fmt)`` of the last ``configure`` in this process, if any: a child process passes it on."""
    return _configured


def in_context(target: Callable[..., Any]) -> Callable[..., Any]:
    """``target`` bound to the caller's context: a thread started with it logs under the request id
    of the RPC that started it (threads do not inherit context variables)."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.run(target, *args, **kwargs)
