"""The HTTP endpoint Twilio calls back: delivery status callbacks and customers' replies.

Twilio posts ``application/x-www-form-urlencoded`` forms to two URLs under one public base URL
(``https://dispatch.example.com/twilio``, say):

- ``<base>/status``: a message's delivery status changed (the ``StatusCallback`` given when it
  was sent): ``MessageSid``, ``MessageStatus`` (``queued``, ``sent``, ``delivered``,
  ``undelivered``, ``failed``…), ``ErrorCode`` (if any), ``To``, ``From``, ``AccountSid``. Goes to
  ``Notifier.delivery``; answered ``204``.
- ``<base>/inbound``: a customer texted our number (the number's "A message comes in" webhook):
  ``From``, ``To``, ``Body``, ``MessageSid``… Goes to ``Notifier.inbound``: STOP opts the number
  out, START back in; any other text is recorded on the replies stream (``WatchCustomerReplies``)
  and forwarded to the office phone, if one is set, before the answer (retried for up to 8 s:
  Twilio waits 15). Answered ``200`` with empty TwiML: we don't auto-reply, Twilio itself answers
  STOP and START. A reply is answered ``200`` even when Redis is down: it is then forwarded and
  logged (numbers masked) but not recorded (``dispatch.notify.replies``).

Each request carries ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the account's auth
token, of the full URL Twilio requested followed by every POST parameter's name and value,
sorted by name (``twilio.request_validator.RequestValidator``, which accepts the URL with and
without the default port). The URL checked is the configured public one plus ``/status`` or
``/inbound`` (plus the query string, if any), never one rebuilt from the ``Host`` header: behind a
proxy or a load balancer that is not the URL Twilio signed. A missing or wrong signature is
answered ``403`` and nothing is recorded.

Other answers: ``404`` (another path), ``405`` (another method), ``415`` (another content type),
``411`` / ``413`` (no ``Content-Length`` / a body over 64 kB), ``400`` (a required field missing,
named in the body), ``500`` (the notifier raised; logged without phone numbers). A client has
10 s from connecting to send its whole request, however it paces it, and one request per
connection; at most 64 connections are served at once: beyond that, the one waiting longest on
its client is dropped for the newcomer, or, when every one is being answered, the newcomer is
answered ``503`` (``dispatch.metrics.GuardedHTTPServer``, as for the metrics endpoint).

Configuration: the public URL is ``DISPATCH_TWILIO_WEBHOOK_URL`` (the base above, as entered in
Twilio's console; the status callback given to ``messages.create`` is that plus ``/status``), the
port ``DISPATCH_WEBHOOK_PORT``, the auth token ``TWILIO_AUTH_TOKEN``. Running it inside
``dispatch serve`` / ``dispatch notifier`` is done there.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator

from dispatch.metrics import ALL_INTERFACES, MAX_CONNECTIONS, REQUEST_DEADLINE, GuardedHandler, GuardedHTTPServer
from dispatch.notify.notifier import Notifier
from dispatch.notify.sms import mask

log = logging.getLogger("dispatch.notify")

STATUS_PATH = "/status"
INBOUND_PATH = "/inbound"
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
MAX_BODY = 64 * 1024
#: Seconds a client has from connecting to send its whole request (request line, headers, body),
#: whatever its pace: a timeout per read restarts with every byte, so a client trickling one byte
#: at a time would hold a thread forever. Twilio sends a callback at once.
DEADLINE = REQUEST_DEADLINE
#: Connections served at once, a thread each (``GuardedHTTPServer`` says what happens to the next).
CONNECTIONS = MAX_CONNECTIONS
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class WebhookServer:
    """Twilio's callbacks on ``host:port``, passed to ``notifier``.

    ``host`` is in gRPC's form, as ``dispatch serve --host``: ``[::]`` (every interface, IPv6 and
    IPv4), ``0.0.0.0``, ``127.0.0.1``, ``[::1]``, a name (``dispatch.metrics.listen_address``).

    Parameters
    ----------
    notifier
        Receives ``delivery(...)`` for status callbacks and ``inbound(...)`` for replies.
    auth_token
        The Twilio auth token the requests are signed with.
    public_url
        The base URL Twilio calls (``https://dispatch.example.com/twilio``); its path is the
        prefix this server answers under.
    deadline
        Seconds a connection has to send its whole request.
    max_connections
        Connections served at once.
    """

    def __init__(
        self,
        notifier: Notifier,
        *,
        auth_token: str,
        public_url: str,
        host: str = ALL_INTERFACES,
        port: int = 0,
        deadline: float = DEADLINE,
        max_connections: int = CONNECTIONS,
    ) -> None:
        self.notifier = notifier
        self.validator = RequestValidator(auth_token)
        self.public_url = public_url.rstrip("/")
        prefix = urlsplit(self.public_url).path
        self.routes = {prefix + STATUS_PATH: STATUS_PATH, prefix + INBOUND_PATH: INBOUND_PATH}
        self.host = host
        self.port = port
        self.deadline = deadline
        self.max_connections = max_connections
        self._httpd: GuardedHTTPServer | None = None

    def start(self) -> int:
        """Bind and serve on a daemon thread; returns the bound port."""
        self._httpd = GuardedHTTPServer(
            self.host,
            self.port,
            functools.partial(_Handler, webhook=self),
            name="twilio webhook",
            deadline=self.deadline,
            max_connections=self.max_connections,
            tracebacks=False,  # a traceback's values could hold a customer's number
        )
        self.port = int(self._httpd.server_address[1])
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="twilio-webhook", daemon=True
        ).start()
        log.info(
            "twilio webhook listening on %s port %d for %s", self._httpd.server_address[0], self.port, self.public_url
        )
        return self.port

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


class _Handler(GuardedHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: an unread (413) body never lingers

    def __init__(self, *args: Any, webhook: WebhookServer) -> None:
        self.webhook = webhook
        super().__init__(*args)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name; ruff cannot see GuardedHandler is one)
        parts = urlsplit(self.path)
        route = self.webhook.routes.get(parts.path)
        if route is None:
            return self._answer(404, "not found")
        if self.headers.get_content_type() != FORM:
            return self._answer(415, f"expected {FORM}")
        form = self._read_form()
        if form is None:
            return
        url = self.webhook.public_url + route + (f"?{parts.query}" if parts.query else "")
        signature = self.headers.get(SIGNATURE_HEADER, "")
        if not signature or not self.webhook.validator.validate(url, form, signature):
            log.warning("twilio webhook %s: missing or invalid %s", route, SIGNATURE_HEADER)
            return self._answer(403, "invalid signature")
        required = ("MessageSid", "MessageStatus") if route == STATUS_PATH else ("From",)
        missing = [name for name in required if not form.first(name)]
        if missing:
            return self._answer(400, f"missing {', '.join(missing)}")
        try:
            if route == STATUS_PATH:
                self.webhook.notifier.delivery(
                    form.first("MessageSid"),
                    form.first("MessageStatus"),
                    _int(form.first("ErrorCode")),
                    form.first("To"),
                )
            else:
                self.webhook.notifier.inbound(form.first("From"), form.first("Body"), form.first("MessageSid"))
        except Exception as exc:  # noqa: BLE001 (answered 500: Twilio retries; the server keeps serving)
            log.error("twilio webhook %s failed: %s: %s", route, type(exc).__name__, mask(str(exc)))
            return self._answer(500, "internal error")
        if route == STATUS_PATH:
            return self._answer(204)
        return self._answer(200, EMPTY_TWIML, "text/xml")

    def _read_form(self) -> _Form | None:
        """The posted form, or ``None`` when already answered (no length, too long)."""
        length = _int(self.headers.get("Content-Length", ""), default=-1)
        if length < 0:
            self._answer(411, "Content-Length required")
            return None
        if length > MAX_BODY:
            self._answer(413, f"body over {MAX_BODY} bytes")
            return None
        body = self.rfile.read(length).decode("utf-8", "replace")
        # Blank values are kept: they are signed too ("Body=" adds "Body" to the signed string).
        return _Form(parse_qs(body, keep_blank_values=True))

    def _not_allowed(self) -> None:
        if urlsplit(self.path).path not in self.webhook.routes:
            return self._answer(404, "not found")
        self._answer(405, "use POST", allow="POST")

    do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_allowed  # noqa: N815 (http.server's names)

    def _answer(
        self, code: int, body: str = "", content_type: str = "text/plain; charset=utf-8", allow: str = ""
    ) -> None:
        raw = body.encode()
        self.send_response(code)
        if allow:
            self.send_header("Allow", allow)
        if code != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if raw and self.command != "HEAD":
            self.wfile.write(raw)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: the query string or the body may hold a phone number.
        path = urlsplit(getattr(self, "path", "")).path
        log.debug("twilio webhook %s %s: %s", self.command, mask(path), code)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # http.server's own lines (errors, timeouts) quote the request line, query included


class _Form(dict[str, list[str]]):
    """A parsed form; ``getlist`` lets ``RequestValidator`` sign a repeated name as Twilio does."""

    def getlist(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> str:
        return self.get(name, [""])[0]


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except ValueError:
        return default
