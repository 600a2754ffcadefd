"""A loopback HTTP server that speaks the Distance Matrix and Geocoding JSON, for the real client.

Travel is haversine x 1.3 at 40 km/h; with ``departure_time``, ``duration_in_traffic`` is that
times ``rush`` when the departure's UTC hour is in ``rush_hours``. It enforces the API's limits
(25 origins, 25 destinations, 100 elements: a request over them gets ``MAX_ELEMENTS_EXCEEDED`` /
``MAX_DIMENSIONS_EXCEEDED``), answers ``ZERO_RESULTS`` for pairs touching an ``islands`` place,
and plays ``script``: per request, ``"ok"``, ``"500"``, ``"over_query_limit"``, ``"denied"``,
``"garbage"``, ``"empty"`` (``{}``), ``"list"`` (``[]``), ``"element_error"`` or ``"slow:<seconds>"`` (then the answer). It counts
requests and elements.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from tests.support.loopback import LoopbackHTTP

KEY = "AIzaFAKE-dispatch-tests-0000000000000"


class FakeGoogle:
    def __init__(self) -> None:
        self.requests = 0
        self.elements = 0
        self.geocodes = 0
        self.paths: list[str] = []
        self.departures: list[int | None] = []
        self.script: deque[str] = deque()
        self.always = "ok"  # what to do when the script is empty
        self.islands: set[tuple[float, float]] = set()
        self.addresses: dict[str, tuple[float, float]] = {}
        self.rush_hours = range(14, 17)
        self.rush = 1.5
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                fake.handle(self)

        self.http = LoopbackHTTP(Handler)
        self.port, self.base_url = self.http.port, self.http.base_url

    def close(self) -> None:
        self.http.close()

    def reset(self) -> None:
        with self.lock:
            self.requests = self.elements = self.geocodes = 0
            self.paths.clear()
            self.departures.clear()
            self.script.clear()
            self.always = "ok"

    # ------------------------------------------------------------------ answers

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.lock:
            self.paths.append(url.path)
            action = self.script.popleft() if self.script else self.always
        if action.startswith("slow:"):
            time.sleep(float(action.split(":", 1)[1]))
            action = "ok"
        if action == "500":
            return self.send(h, 500, {"error": "internal"})
        if action == "garbage":
            return self.send_raw(h, 200, b"<html>not json</html>")
        if action == "empty":
            return self.send(h, 200, {})  # JSON, but no status at all
        if action == "list":
            return self.send(h, 200, [])
        if q.get("key") != KEY or action == "denied":
            return self.send(h, 200, {"status": "REQUEST_DENIED", "error_message": "The provided API key is invalid."})
        if action == "over_query_limit":
            return self.send(h, 200, {"status": "OVER_QUERY_LIMIT", "error_message": "slow down"})
        if url.path == "/maps/api/distancematrix/json":
            return self.matrix(h, q, element_error=action == "element_error")
        if url.path == "/maps/api/geocode/json":
            return self.geocode(h, q)
        return self.send(h, 404, {"error": "not found"})

    def matrix(self, h: BaseHTTPRequestHandler, q: dict[str, str], *, element_error: bool) -> None:
        origins = [_parse(p) for p in q.get("origins", "").split("|") if p]
        destinations = [_parse(p) for p in q.get("destinations", "").split("|") if p]
        with self.lock:
            self.requests += 1
            self.elements += len(origins) * len(destinations)
            departure = int(q["departure_time"]) if "departure_time" in q else None
            self.departures.append(departure)
        if not origins or not destinations:
            return self.send(h, 200, {"status": "INVALID_REQUEST"})
        if len(origins) > 25 or len(destinations) > 25:
            return self.send(h, 200, {"status": "MAX_DIMENSIONS_EXCEEDED"})
        if len(origins) * len(destinations) > 100:
            return self.send(h, 200, {"status": "MAX_ELEMENTS_EXCEEDED"})
        factor = 1.0
        if departure is not None and time.gmtime(departure).tm_hour in self.rush_hours:
            factor = self.rush
        rows = []
        for o in origins:
            elements = []
            for d in destinations:
                if element_error:
                    elements.append({"status": "UNKNOWN_ERROR"})
                elif (o in self.islands) != (d in self.islands):
                    elements.append({"status": "ZERO_RESULTS"})
                else:
                    metres = round(_haversine(o, d) * 1.3)
                    seconds = math.ceil(metres / (40 / 3.6))
                    element = {
                        "status": "OK",
                        "distance": {"value": metres, "text": f"{metres / 1000:.1f} km"},
                        "duration": {"value": seconds, "text": f"{seconds // 60} mins"},
                    }
                    if departure is not None:
                        element["duration_in_traffic"] = {"value": math.ceil(seconds * factor), "text": ""}
                    elements.append(element)
            rows.append({"elements": elements})
        self.send(
            h,
            200,
            {
                "status": "OK",
                "origin_addresses": [f"{o[0]},{o[1]}" for o in origins],
                "destination_addresses": [f"{d[0]},{d[1]}" for d in destinations],
                "rows": rows,
            },
        )

    def geocode(self, h: BaseHTTPRequestHandler, q: dict[str, str]) -> None:
        with self.lock:
            self.geocodes += 1
        where = self.addresses.get(q.get("address", ""))
        if where is None:
            return self.send(h, 200, {"status": "ZERO_RESULTS", "results": []})
        result = {
            "formatted_address": q["address"],
            "geometry": {"location": {"lat": where[0], "lng": where[1]}, "location_type": "ROOFTOP"},
        }
        self.send(h, 200, {"status": "OK", "results": [result]})

    @staticmethod
    def send(h: BaseHTTPRequestHandler, code: int, body: object) -> None:
        FakeGoogle.send_raw(h, code, json.dumps(body).encode())

    @staticmethod
    def send_raw(h: BaseHTTPRequestHandler, code: int, raw: bytes) -> None:
        try:
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw)))
            h.end_headers()
            h.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


def _parse(text: str) -> tuple[float, float]:
    lat, lng = text.split(",")
    return float(lat), float(lng)


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, h)))
