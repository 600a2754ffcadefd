"""A loopback HTTP server that speaks the Twilio Messages API (2010-04-01), for the real client.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` creates a message (basic auth checked: 401 /
20003 otherwise); ``GET`` of the same path lists them (``To`` filter). ``script`` plays, per create:
``"ok"``, ``"429"`` (20429), ``"500"``, ``"21211"`` (invalid number), ``"21610"`` (unsubscribed),
``"slow:<s>"`` (answer after ``s`` seconds: the message is created all the same) or ``"drop"``
(create the message, then close the connection without answering). ``numbers`` answers per
recipient (``"21211"``, ``"21610"``), ``fail_for(seconds, ["429", "500"])`` makes every create fail
(cycling through the answers) for a while. ``callbacks=True``: for a message created with a
``StatusCallback``, post ``sent`` then ``delivered`` to it, signed as Twilio signs them.
``arrivals`` holds ``(monotonic time, to)`` of each message created; ``tries`` counts creates per
recipient.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import requests
from twilio.request_validator import RequestValidator

from tests.support.loopback import LoopbackHTTP

SID = "AC" + "0" * 32
TOKEN = "fake-auth-token-0123456789abcdef"


class FakeTwilio:
    def __init__(self, *, callbacks: bool = False) -> None:
        self.messages: list[dict] = []
        self.attempts = 0
        self.script: deque[str] = deque()
        self.always = "ok"
        self.numbers: dict[str, str] = {}
        self.arrivals: list[tuple[float, str]] = []
        self.tries: Counter[str] = Counter()
        self.callbacks = callbacks
        self.callbacks_failed = 0
        #: Seconds a list (GET) takes to answer.
        self.list_delay = 0.0
        self._outage_until = 0.0
        self._outage: itertools.cycle[str] = itertools.cycle(["ok"])
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                fake.create(self)

            def do_GET(self) -> None:
                fake.list(self)

        self.http = LoopbackHTTP(Handler)
        self.port, self.base_url = self.http.port, self.http.base_url

    def close(self) -> None:
        self.http.close()

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.script.clear()
            self.attempts = 0
            self.always = "ok"
            self.numbers.clear()
            self.arrivals.clear()
            self.tries.clear()
            self._outage_until = 0.0
            self.list_delay = 0.0

    def fail_for(self, seconds: float, answers: list[str]) -> None:
        """Every create fails, with ``answers`` in turn, for the next ``seconds``."""
        with self.lock:
            self._outage = itertools.cycle(answers)
            self._outage_until = time.monotonic() + seconds

    def sent_to(self, phone: str) -> list[str]:
        with self.lock:
            return [m["body"] for m in self.messages if m["to"] == phone]

    # ------------------------------------------------------------------ answers

    def _authorised(self, h: BaseHTTPRequestHandler) -> bool:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if h.headers.get("Authorization") == expected and f"/Accounts/{SID}/" in h.path:
            return True
        self.send(h, 401, {"code": 20003, "message": "Authenticate", "status": 401})
        return False

    def create(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(h.rfile.read(length).decode()).items()}
        if not self._authorised(h):
            return
        to = form.get("To", "")
        with self.lock:
            self.attempts += 1
            self.tries[to] += 1
            if time.monotonic() < self._outage_until:
                action = next(self._outage)
            elif to in self.numbers:
                action = self.numbers[to]
            else:
                action = self.script.popleft() if self.script else self.always
        if action in ("429", "500", "21211", "21610"):
            status, code = {"429": (429, 20429), "500": (500, 20500), "21211": (400, 21211), "21610": (400, 21610)}[
                action
            ]
            return self.send(h, status, {"code": code, "message": f"fake error {code}", "status": status})
        message = {
            "sid": f"SM{len(self.messages):032x}",
            "account_sid": SID,
            "to": form.get("To", ""),
            "from": form.get("From", ""),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "status": "queued",
            "status_callback": form.get("StatusCallback"),
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "date_sent": None,  # as Twilio: empty while the message is queued
            "num_segments": "1",
            "direction": "outbound-api",
            "uri": f"/2010-04-01/Accounts/{SID}/Messages/SM.json",
        }
        with self.lock:
            self.messages.append(message)
            self.arrivals.append((time.monotonic(), message["to"]))
        if self.callbacks and message["status_callback"]:
            threading.Thread(target=self._report, args=(message,), daemon=True).start()
        if action.startswith("slow:"):
            time.sleep(float(action.split(":", 1)[1]))
        if action == "drop":
            h.close_connection = True
            h.connection.close()
            return
        self.send(h, 201, message)

    def list(self, h: BaseHTTPRequestHandler) -> None:
        if not self._authorised(h):
            return
        time.sleep(self.list_delay)
        query = {k: v[0] for k, v in parse_qs(urlparse(h.path).query).items()}
        with self.lock:
            found = [m for m in self.messages if "To" not in query or m["to"] == query["To"]]
        self.send(
            h,
            200,
            {
                "messages": found[::-1],
                "page": 0,
                "page_size": 50,
                "first_page_uri": h.path,
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": h.path,
                "start": 0,
                "end": len(found),
            },
        )

    def _report(self, message: dict) -> None:
        """Post the message's delivery as Twilio would: ``sent``, then ``delivered``, signed."""
        url = message["status_callback"]
        for status in ("sent", "delivered"):
            form = {
                "MessageSid": message["sid"],
                "SmsSid": message["sid"],
                "MessageStatus": status,
                "To": message["to"],
                "From": message["from"] or "",
                "AccountSid": SID,
            }
            signature = RequestValidator(TOKEN).compute_signature(url, form)
            try:
                answer = requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=5)
                ok = answer.status_code == 204
            except requests.RequestException:
                ok = False
            if not ok:
                with self.lock:
                    self.callbacks_failed += 1

    @staticmethod
    def send(h: BaseHTTPRequestHandler, code: int, body: object) -> None:
        raw = json.dumps(body).encode()
        try:
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw)))
            h.end_headers()
            h.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
