"""The thin Twilio layer: ``messages.create`` through the real ``twilio`` client, classified.

Credentials come from ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` (or the file
``TWILIO_AUTH_TOKEN_FILE`` names) and ``TWILIO_FROM_NUMBER`` (or ``TWILIO_MESSAGING_SERVICE_SID``); the API base URL from ``DISPATCH_TWILIO_BASE_URL`` (default
Twilio's), so tests and staging can point the client at a fake. The client is given its own
environment mapping, not ``os.environ``: ``TWILIO_EDGE``/``TWILIO_REGION`` there would rewrite
hosts (and an empty mapping would fall back to ``os.environ``).

Every outcome is one of: sent (a message SID), ``PERMANENT`` (the number or the request is wrong:
never retried), ``RETRY`` (429 / 5xx / refused connection: the request did not create a message)
or ``UNKNOWN`` (a timeout after the request left: it may have been sent; not blindly retried).
Phone numbers never reach a log line: ``mask`` them.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from dispatch.config import TwilioSettings
from dispatch.logs import mask

#: Twilio error codes that no retry can fix.
PERMANENT_CODES = frozenset({21211, 21214, 21217, 21407, 21408, 21610, 21612, 21614, 30003, 30005, 30006})
#: The recipient replied STOP (or is otherwise unsubscribed).
UNSUBSCRIBED = 21610
#: The number is not one a text can reach (invalid, unreachable, not a mobile): no other text to it will do better.
INVALID_NUMBER = frozenset({21211, 21214, 21217, 21614})
#: Twilio answers that are about the customer's number, not about Twilio: not errors of the integration.
CUSTOMER_SIDE = frozenset({21211, 21214, 21217, 21610, 21612, 21614, 30003, 30005, 30006})


class MaskPhones(logging.Filter):
    """Masks the numbers in what the HTTP libraries log, before any handler (or test) sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


for _name in ("twilio.http_client", "urllib3.connectionpool"):
    logging.getLogger(_name).addFilter(MaskPhones())
# The client logs every request and its headers at INFO: our own line per text says what matters.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


class BaseUrlHttpClient(TwilioHttpClient):
    """Sends what the client addresses to ``https://api.twilio.com`` to ``base_url`` instead."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base = urlsplit(base_url)

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        if self.base.netloc and self.base.netloc != parts.netloc:
            url = urlunsplit(
                (self.base.scheme, self.base.netloc, self.base.path.rstrip("/") + parts.path, parts.query, "")
            )
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


@dataclass(frozen=True)
class Outcome:
    status: str  # "SENT", "PERMANENT", "RETRY", "UNKNOWN"
    sid: str = ""
    code: int = 0
    detail: str = ""
    latency: float = 0.0


class Sms:
    """Sends one text; never raises for what Twilio or the network does."""

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self.client = Client(
            settings.account_sid,
            settings.auth_token,
            http_client=BaseUrlHttpClient(settings.base_url, settings.timeout),
            environment={"DISPATCH_TWILIO": "1"},  # not os.environ (see the module docstring)
        )

    def send(self, to: str, body: str) -> Outcome:
        s = self.settings
        kwargs: dict[str, str] = {"to": e164(to), "body": body}
        if s.messaging_service_sid:
            kwargs["messaging_service_sid"] = s.messaging_service_sid
        else:
            kwargs["from_"] = s.from_number
        if s.status_callback:
            kwargs["status_callback"] = s.status_callback
        began = time.monotonic()
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            took = time.monotonic() - began
            code = int(exc.code or 0)
            if exc.status in (401, 403, 404):  # our credentials or base URL: no text is at fault
                return Outcome("RETRY", code=code, detail=f"HTTP {exc.status}: check the Twilio settings", latency=took)
            if code in PERMANENT_CODES or (400 <= exc.status < 500 and exc.status != 429):
                return Outcome("PERMANENT", code=code, detail=f"HTTP {exc.status}", latency=took)
            return Outcome("RETRY", code=code, detail=f"HTTP {exc.status}", latency=took)
        except requests.exceptions.ConnectTimeout:
            return Outcome("RETRY", detail="connect timeout", latency=time.monotonic() - began)
        except requests.exceptions.ConnectionError as exc:
            # refused: nothing was sent; reset or closed after the request left: it may have been
            took = time.monotonic() - began
            if "NewConnectionError" in repr(exc) or "Connection refused" in str(exc):
                return Outcome("RETRY", detail="connection refused", latency=took)
            return Outcome("UNKNOWN", detail="connection lost", latency=took)
        except requests.exceptions.RequestException as exc:  # a read timeout, above all
            return Outcome("UNKNOWN", detail=type(exc).__name__, latency=time.monotonic() - began)
        return Outcome("SENT", sid=str(message.sid), latency=time.monotonic() - began)

    def find(self, to: str, body: str, since: float) -> str | None:
        """The SID of a message with ``body`` created for ``to`` since ``since`` (Unix time), if
        Twilio has one: how an ``UNKNOWN`` outcome is settled before anything is sent again.

        Not filtered on the date sent: Twilio leaves it empty while a message is accepted or queued
        (a long code sends about one a second), and such a message is on its way all the same.
        The newest 50 messages to the number are compared by body and creation time.

        Raises
        ------
        requests.exceptions.RequestException, TwilioRestException
            Twilio could not be asked.
        """
        after = datetime.fromtimestamp(since - 60, UTC)
        for message in self.client.messages.list(to=e164(to), limit=50):
            created = message.date_created
            if message.body == body and (created is None or created >= after):
                return str(message.sid)
        return None


def e164(phone: str) -> str:
    """``phone`` as Twilio wants it: ``+`` and digits. A number written with its ``+`` keeps its
    digits as they are ("+64 9 123 4567" is New Zealand, not +1 649); a 10-digit number without
    one (not accepted in requests, but older plans may hold it) gets the North American 1."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+"):
        return "+" + digits
    return "+" + ("1" + digits if len(digits) == 10 else digits)
