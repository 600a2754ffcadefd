"""Google's Routes API route matrix (``computeRouteMatrix``), through Google's own client
(``google-maps-routing``, its REST transport): the successor of the Distance Matrix API, which
Google lists as legacy and new Cloud projects can no longer enable.

It is the same kind of source as ``GoogleMaps`` (which it extends, keeping its geocoding, its
shared elements-per-minute budget, its request threads and the integration log), so the
``CachedProvider`` in front of it caches, single-flights and falls back to the great-circle
model exactly as for the legacy model. What differs is the request:

- ``POST {DISPATCH_GOOGLE_ROUTES_URL}/distanceMatrix/v2:computeRouteMatrix`` with the key in
  ``X-Goog-Api-Key`` and a field mask (``X-Goog-FieldMask``) asking only for
  ``originIndex,destinationIndex,status,condition,duration,staticDuration,distanceMeters``;
- at most 625 elements a request (100 with ``TRAFFIC_AWARE_OPTIMAL``) and no limit per side for
  coordinates (the 50-waypoint limit applies to addresses and place ids, which are geocoded
  first), so a 500 x 500 matrix is 400 requests of 25 x 25;
- the reply is a stream of elements in any order, each with its own ``status`` (an error for
  that pair only: estimated by the caller, like a failed request) and ``condition``
  (``ROUTE_NOT_FOUND``: no road between the two, an answer, never a zero);
- without traffic ``TRAFFIC_UNAWARE``; with a departure time ``TRAFFIC_AWARE`` (or
  ``TRAFFIC_AWARE_OPTIMAL``, ``DISPATCH_GOOGLE_ROUTES_TRAFFIC``) and ``duration`` is the time in
  traffic at that departure.

The client library does not retry a server-streaming call: 429 and 5xx are retried here with
backoff while the deadline allows, and every attempt's timeout stops at the deadline; 400, 401,
403 and 404 are our request or our settings (a wrong key) and are not retried.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import requests

from dispatch.config import GoogleSettings
from dispatch.matrix.google import ElementLimiter, Fetched, GoogleMaps, Point

with warnings.catch_warnings():  # google-api-core warns at import about grpcio versions: not ours to fix here
    warnings.simplefilter("ignore", FutureWarning)
    from google.api_core import exceptions as api_exceptions
    from google.api_core.client_options import ClientOptions
    from google.maps import routing_v2
    from google.maps.routing_v2.services.routes.transports.rest import RoutesRestInterceptor, RoutesRestTransport
    from google.protobuf import timestamp_pb2
    from google.type import latlng_pb2

#: The Routes API's limits per request for coordinates: elements, and elements with TRAFFIC_AWARE_OPTIMAL.
MAX_ROUTE_ELEMENTS = 625
MAX_OPTIMAL_ELEMENTS = 100
#: Only what a travel matrix needs (a smaller answer, and billed at the Essentials rate).
FIELD_MASK = "originIndex,destinationIndex,status,condition,duration,staticDuration,distanceMeters"
#: Answers worth another try (rate limits, Google's own failures), and the first pause between tries.
RETRIED = (
    api_exceptions.TooManyRequests,
    api_exceptions.InternalServerError,
    api_exceptions.BadGateway,
    api_exceptions.ServiceUnavailable,
    api_exceptions.GatewayTimeout,
)
BACKOFF = 0.5
#: How much of a streamed answer is read at once (see ``_WholeChunks``).
CHUNK = 64 * 1024


class _WholeChunks(RoutesRestInterceptor):
    """The REST transport's stream reader (google-api-core 2.44 ``ResponseIterator``) asks the
    HTTP response for one character at a time: 0.5 s of Python for a 625-element answer (~90 KB),
    most of a matrix's time. Its parser takes chunks of any size, so the answer is read in
    ``CHUNK``-byte pieces instead, through the transport's own interceptor hook. (It sets the
    iterator's ``_response_itr``: google-api-core is pinned, and tests/test_routes.py reads a
    streamed answer through it.)"""

    def post_compute_route_matrix(self, response: Any) -> Any:
        response._response_itr = response._response.iter_content(chunk_size=CHUNK, decode_unicode=True)
        return response


def _waypoint(point: Point) -> dict[str, Any]:
    lat, lng = point
    location = routing_v2.Location(lat_lng=latlng_pb2.LatLng(latitude=lat, longitude=lng))
    return {"waypoint": routing_v2.Waypoint(location=location)}


def _seconds(value: timedelta | None) -> int:
    return round(value.total_seconds()) if value is not None else 0


class GoogleRoutes(GoogleMaps):
    """The Routes API's route matrix (geocoding stays the Geocoding API's, as in ``GoogleMaps``)."""

    name = "google_routes"

    def __init__(
        self,
        settings: GoogleSettings,
        *,
        limiter: ElementLimiter | None = None,
        on_call: Callable[[bool, float, str], None] | None = None,
    ) -> None:
        super().__init__(settings, limiter=limiter, on_call=on_call)
        options = ClientOptions(api_endpoint=settings.routes_url, api_key=settings.api_key)
        transport = functools.partial(RoutesRestTransport, interceptor=_WholeChunks())
        self.routes = routing_v2.RoutesClient(transport=transport, client_options=options)

    def limits(self, departure: int | None) -> tuple[int, int]:
        optimal = departure is not None and self.settings.routes_traffic == "TRAFFIC_AWARE_OPTIMAL"
        cap = MAX_OPTIMAL_ELEMENTS if optimal else MAX_ROUTE_ELEMENTS
        return cap, cap

    def request(
        self, origins: Sequence[Point], destinations: Sequence[Point], departure: int | None
    ) -> routing_v2.ComputeRouteMatrixRequest:
        """The ``computeRouteMatrix`` body: driving, with traffic at ``departure`` (Unix s) if given."""
        body = routing_v2.ComputeRouteMatrixRequest(
            origins=[routing_v2.RouteMatrixOrigin(**_waypoint(p)) for p in origins],
            destinations=[routing_v2.RouteMatrixDestination(**_waypoint(p)) for p in destinations],
            travel_mode=routing_v2.RouteTravelMode.DRIVE,
            routing_preference=routing_v2.RoutingPreference.TRAFFIC_UNAWARE,
        )
        if departure is not None:
            body.routing_preference = getattr(routing_v2.RoutingPreference, self.settings.routes_traffic)
            body.departure_time = timestamp_pb2.Timestamp(seconds=int(departure))
        return body

    def _tile(
        self,
        origins: Sequence[Point],
        destinations: Sequence[Point],
        departure: int | None,
        deadline: float | None,
        out: Fetched,
        rows: slice,
        cols: slice,
    ) -> str:
        """Fill one tile of ``out`` (admitted: ``_admit``); return "" or what went wrong. Never raises."""
        s = self.settings
        until = time.monotonic() + (
            s.retry_timeout if deadline is None else min(s.retry_timeout, deadline - time.monotonic())
        )
        body = self.request(origins, destinations, departure)
        attempt = 0
        while True:
            left = until - time.monotonic()
            if left < 0.05:
                return "timeout (the request, or the retries of 429 / 5xx)"
            try:
                elements = self.routes.compute_route_matrix(
                    request=body,
                    metadata=[("x-goog-fieldmask", FIELD_MASK)],
                    timeout=min(s.read_timeout, left),
                    retry=None,
                )
                for element in elements:
                    self._route_element(element, len(origins), len(destinations), out, rows.start, cols.start)
                return ""
            except RETRIED as exc:
                error = f"HTTP {exc.code}" if exc.code else type(exc).__name__
            except api_exceptions.GoogleAPICallError as exc:
                return f"HTTP {exc.code} {type(exc).__name__}" if exc.code else type(exc).__name__
            except requests.Timeout:
                error = "timeout"
            except requests.RequestException as exc:
                error = f"transport error ({type(exc).__name__})"
            except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError):
                return "reply is malformed"
            pause = BACKOFF * 1.5**attempt
            if time.monotonic() + pause + 0.05 >= until:
                return f"{error}, and no time left to try again"
            time.sleep(pause)
            attempt += 1

    @staticmethod
    def _route_element(
        element: routing_v2.RouteMatrixElement, n: int, m: int, out: Fetched, top: int, left: int
    ) -> None:
        """Record one pair's answer: a figure, no route, or nothing (its own error: estimated later)."""
        i, k = element.origin_index, element.destination_index
        if not (0 <= i < n and 0 <= k < m):
            raise ValueError("element index out of range")
        if element.status.code != 0:
            return  # this pair failed: the caller estimates it
        if element.condition == routing_v2.RouteMatrixElementCondition.ROUTE_NOT_FOUND:
            out.no_route[top + i, left + k] = out.answered[top + i, left + k] = True
            return
        if element.condition != routing_v2.RouteMatrixElementCondition.ROUTE_EXISTS:
            return  # unspecified: not an answer
        seconds, metres = _seconds(element.duration), int(element.distance_meters)
        if seconds < 0 or metres < 0:
            raise ValueError("negative figure")
        out.durations[top + i, left + k], out.distances[top + i, left + k] = seconds, metres
        out.answered[top + i, left + k] = True
