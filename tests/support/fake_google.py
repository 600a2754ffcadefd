"""A loopback HTTP server that speaks the Distance Matrix and Geocoding JSON, and the Routes API's
``computeRouteMatrix`` REST form, for the real clients (``googlemaps``; ``google-maps-routing``).

Travel is haversine x 1.3 at 40 km/h; with ``departure_time``, ``duration_in_traffic`` is that
times ``rush`` when the departure's UTC hour is in ``rush_hours``. It enforces the API's limits
(25 origins, 25 destinations, 100 elements: a request over them gets ``MAX_ELEMENTS_EXCEEDED`` /
``MAX_DIMENSIONS_EXCEEDED``), answers ``ZERO_RESULTS`` for pairs touching an ``islands`` place,
and plays ``script``: per request, ``"ok"``, ``"500"``, ``"over_query_limit"``, ``"denied"``,
``"garbage"``, ``"empty"`` (``{}``), ``"list"`` (``[]``), ``"element_error"`` or ``"slow:<seconds>"`` (then the answer). It counts
requests and elements.

The Routes API (``POST /distanceMatrix/v2:computeRouteMatrix``) checks ``X-Goog-Api-Key`` (403
``PERMISSION_DENIED`` otherwise) and ``X-Goog-FieldMask`` (400 without one), refuses more than 625
elements (100 with ``TRAFFIC_AWARE_OPTIMAL``; 400 ``INVALID_ARGUMENT``), answers the elements as a
JSON array in a shuffled order, ``condition: ROUTE_NOT_FOUND`` for pairs touching an island, and
with ``TRAFFIC_AWARE`` a ``duration`` ``rush`` times the ``staticDuration`` in ``rush_hours``. Its
script actions: ``"ok"``, ``"500"``, ``"503"``, ``"429"``, ``"denied"``, ``"garbage"``,
``"element_error"`` (the first element of the answer fails on its own), ``"omit"`` (one element
missing) and ``"slow:<seconds>"``.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import deque
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from tests.support.loopback import LoopbackHTTP

KEY = "AIzaFAKE-dispatch-tests-0000000000000"
#: ``routingPreference`` as the client sends it (numbers: ``enum-encoding=int``) or as JSON names.
PREFERENCES = {1: "TRAFFIC_UNAWARE", 2: "TRAFFIC_AWARE", 3: "TRAFFIC_AWARE_OPTIMAL"}


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
        #: Routes API: the headers and bodies of the requests it was sent.
        self.route_headers: list[dict[str, str]] = []
        self.route_bodies: list[dict] = []
        self.shuffle = random.Random(7)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                fake.handle(self)

            def do_POST(self) -> None:
                fake.handle_routes(self)

        self.http = LoopbackHTTP(Handler)
        self.port, self.base_url = self.http.port, self.http.base_url

    def close(self) -> None:
        self.http.close()

    def reset(self) -> None:
        with self.lock:
            self.requests = self.elements = self.geocodes = 0
            self.paths.clear()
            self.departures.clear()
            self.route_headers.clear()
            self.route_bodies.clear()
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

    def handle_routes(self, h: BaseHTTPRequestHandler) -> None:
        """``POST /distanceMatrix/v2:computeRouteMatrix`` as the Routes API answers it."""
        url = urlparse(h.path)
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self.lock:
            self.paths.append(url.path)
            self.route_headers.append(headers)
            action = self.script.popleft() if self.script else self.always
        if action.startswith("slow:"):
            time.sleep(float(action.split(":", 1)[1]))
            action = "ok"
        if url.path != "/distanceMatrix/v2:computeRouteMatrix":
            return _error(h, 404, "NOT_FOUND", "no such method")
        if action in ("500", "503", "429"):
            status = {"500": "INTERNAL", "503": "UNAVAILABLE", "429": "RESOURCE_EXHAUSTED"}[action]
            return _error(h, int(action), status, "try again")
        if action == "garbage":
            return self.send_raw(h, 200, b"<html>not json</html>")
        if headers.get("x-goog-api-key") != KEY or action == "denied":
            return _error(h, 403, "PERMISSION_DENIED", "The provided API key is invalid.")
        if not headers.get("x-goog-fieldmask"):
            return _error(h, 400, "INVALID_ARGUMENT", "FieldMask is a required parameter.")
        body = json.loads(raw or b"{}")
        with self.lock:
            self.route_bodies.append(body)
        origins = [_point(o) for o in body.get("origins", [])]
        destinations = [_point(d) for d in body.get("destinations", [])]
        preference = PREFERENCES.get(body.get("routingPreference", 1), body.get("routingPreference"))
        cap = 100 if preference == "TRAFFIC_AWARE_OPTIMAL" else 625
        if not origins or not destinations or len(origins) * len(destinations) > cap:
            return _error(h, 400, "INVALID_ARGUMENT", f"at most {cap} elements, at least one origin and destination")
        departure = None
        if preference != "TRAFFIC_UNAWARE" and "departureTime" in body:
            stamp = body["departureTime"].replace("Z", "+00:00")
            departure = int(datetime.fromisoformat(stamp).timestamp())
        with self.lock:
            self.requests += 1
            self.elements += len(origins) * len(destinations)
            self.departures.append(departure)
        factor = self.rush if departure is not None and time.gmtime(departure).tm_hour in self.rush_hours else 1.0
        elements = []
        for i, o in enumerate(origins):
            for k, d in enumerate(destinations):
                element: dict[str, object] = {"originIndex": i, "destinationIndex": k, "status": {}}
                if (o in self.islands) != (d in self.islands):
                    element["condition"] = "ROUTE_NOT_FOUND"
                else:
                    metres = round(_haversine(o, d) * 1.3)
                    seconds = math.ceil(metres / (40 / 3.6))
                    element |= {
                        "condition": "ROUTE_EXISTS",
                        "distanceMeters": metres,
                        "duration": f"{math.ceil(seconds * factor)}s",
                        "staticDuration": f"{seconds}s",
                    }
                elements.append(
                    {k: v for k, v in element.items() if v not in (0, {})}
                )  # proto3 JSON leaves defaults out
        with self.lock:
            self.shuffle.shuffle(elements)  # the API gives no order
        if action == "element_error":
            elements[0] = {**elements[0], "status": {"code": 13, "message": "internal error for this pair"}}
            elements[0].pop("condition", None)
        if action == "omit":
            elements.pop()
        self.send(h, 200, elements)

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


def _point(waypoint: dict) -> tuple[float, float]:
    where = waypoint["waypoint"]["location"]["latLng"]
    return float(where.get("latitude", 0.0)), float(where.get("longitude", 0.0))


def _error(h: BaseHTTPRequestHandler, code: int, status: str, message: str) -> None:
    """A Google API error body, as the Routes API sends one."""
    FakeGoogle.send(h, code, {"error": {"code": code, "message": message, "status": status}})


def _parse(text: str) -> tuple[float, float]:
    lat, lng = text.split(",")
    return float(lat), float(lng)


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, h)))
