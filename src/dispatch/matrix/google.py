"""Google Maps Distance Matrix and Geocoding, through the real ``googlemaps`` client.

This module only talks to Google: it tiles a matrix into the fewest requests the API allows,
spends a shared elements-per-minute budget, and reads every element's status. Caching, the
great-circle fallback and traffic buckets are the caller's (``dispatch.matrix.cached_provider``).

What the client does and does not do (googlemaps 4.10): it retries HTTP 500/503/504 and
``OVER_QUERY_LIMIT`` with backoff until ``retry_timeout``, then raises ``Timeout``, which is not a
``TransportError``; a request timeout also raises ``Timeout``; it checks only the top-level
status, so each element's ``OK`` / ``ZERO_RESULTS`` / ``NOT_FOUND`` is read here; a 200 that is
not JSON raises ``ValueError``. Every one of these ends as a failed tile here, never as a crash.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import googlemaps
import numpy as np
import requests

from dispatch.config import GoogleSettings

log = logging.getLogger(__name__)


class RedactKey(logging.Filter):
    """Blank the ``key=`` query parameter in what the HTTP libraries log (urllib3 logs each URL at
    DEBUG, and the key travels in the URL)."""

    PATTERN = re.compile(r"(key=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("API queries_quota"):
            return False  # logged at INFO by every new googlemaps.Client (one per matrix call here)
        if "key=" in message:
            record.msg, record.args = self.PATTERN.sub(r"\1REDACTED", message), ()
        return True


for _name in ("urllib3.connectionpool", "googlemaps.client", "requests"):
    logging.getLogger(_name).addFilter(RedactKey())

#: The Distance Matrix API's limits per request (standard plan).
MAX_SIDE = 25
MAX_ELEMENTS = 100
#: Element statuses that mean "no route between these two places" (an answer, not a failure).
NO_ROUTE = frozenset({"ZERO_RESULTS", "NOT_FOUND", "MAX_ROUTE_LENGTH_EXCEEDED"})
OVER_BUDGET = "the elements-per-minute budget has no room before the deadline"
PAST_DEADLINE = "the deadline passed before the request could be sent"
NOT_SENT = frozenset({OVER_BUDGET, PAST_DEADLINE})

Point = tuple[float, float]


class ElementLimiter:
    """A token bucket of Distance Matrix elements per minute, shared by every request."""

    def __init__(self, per_minute: int) -> None:
        if per_minute <= 0:
            raise ValueError("elements per minute must be positive")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, elements: int, deadline: float | None = None) -> bool:
        """Take ``elements`` tokens, waiting for them; ``False`` if they would come after ``deadline``."""
        need = min(float(elements), self.capacity)
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= need:
                    self._tokens -= need
                    return True
                wait = (need - self._tokens) / self.rate
            if deadline is not None and now + wait > deadline:
                return False
            time.sleep(min(wait, 0.5))


@cache
def _strips(n: int, m: int, side: int, elements: int) -> tuple[int, tuple[int, ...]]:
    """Fewest requests for ``n`` origins x ``m`` destinations when the origins are cut into strips
    (each strip then cut into as few column blocks as its height allows): ``(count, heights)``."""
    best: list[tuple[float, tuple[int, ...]]] = [(0, ())] + [(math.inf, ())] * n
    for k in range(1, n + 1):
        for h in range(1, min(side, elements, k) + 1):
            width = min(side, elements // h)
            cost = best[k - h][0] + math.ceil(m / width)
            if cost < best[k][0]:
                best[k] = (cost, (*best[k - h][1], h))
    return int(best[n][0]), best[n][1]


def tiles(n: int, m: int, side: int = MAX_SIDE, elements: int = MAX_ELEMENTS) -> list[tuple[slice, slice]]:
    """Cover ``n x m`` with requests of at most ``side`` origins, ``side`` destinations and
    ``elements`` pairs (the Distance Matrix's 25, 25 and 100 by default), as few as strips allow
    (the better of cutting by origins or by destinations; ``ceil(n m / elements)`` whenever the
    sides divide evenly, e.g. 10 x 10 tiles for 60 x 60, 25 x 25 for the Routes API's 625)."""
    if n == 0 or m == 0:
        return []
    by_rows, by_cols = _strips(n, m, side, elements), _strips(m, n, side, elements)
    out: list[tuple[slice, slice]] = []
    if by_rows[0] <= by_cols[0]:
        top = 0
        for h in by_rows[1]:
            width = min(side, elements // h)
            out += [(slice(top, top + h), slice(c, min(m, c + width))) for c in range(0, m, width)]
            top += h
    else:
        left = 0
        for w in by_cols[1]:
            height = min(side, elements // w)
            out += [(slice(r, min(n, r + height)), slice(left, left + w)) for r in range(0, n, height)]
            left += w
    return out


@dataclass
class Fetched:
    """One matrix from Google. ``answered``: Google gave a figure or said there is no route
    (``no_route``); the rest failed (see ``errors``) and is the caller's to estimate."""

    durations: np.ndarray
    distances: np.ndarray
    answered: np.ndarray
    no_route: np.ndarray
    requests: int = 0
    elements: int = 0
    errors: list[str] = field(default_factory=list)

    @classmethod
    def nothing(cls, n: int, m: int, *errors: str) -> Fetched:
        """An ``n x m`` answer with nothing answered."""
        return cls(
            durations=np.zeros((n, m), dtype=np.int64),
            distances=np.zeros((n, m), dtype=np.int64),
            answered=np.zeros((n, m), dtype=bool),
            no_route=np.zeros((n, m), dtype=bool),
            errors=list(errors),
        )


class _BoundedClient(googlemaps.Client):
    """The client, with every attempt ending by ``until`` (``time.monotonic()``).

    googlemaps 4.10 checks ``retry_timeout`` *before* its backoff sleep (up to 1.5 x 0.5 x 1.5^(n-1)
    s before retry n) and gives every attempt the full read timeout, so a call kept retrying
    ``OVER_QUERY_LIMIT`` ended 2 s past a 3.5 s deadline and its solve missed the RPC deadline
    (tests/test_faults.py). Here a retry whose worst-case sleep would end past ``until`` is not
    made, and each attempt's timeouts stop at ``until``.
    """

    def __init__(self, *, until: float, connect_timeout: float, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(connect_timeout=connect_timeout, read_timeout=read_timeout, **kwargs)
        self.until, self.connect_timeout, self.read_timeout = until, connect_timeout, read_timeout

    def _request(
        self,
        url: str,
        params: Any,
        first_request_time: Any = None,
        retry_counter: int = 0,
        base_url: str | None = None,
        accepts_clientid: bool = True,
        extract_body: Any = None,
        requests_kwargs: dict[str, Any] | None = None,
        post_json: Any = None,
    ) -> Any:
        sleep = 0.75 * 1.5 ** (retry_counter - 1) if retry_counter > 0 else 0.0
        left = self.until - time.monotonic() - sleep
        if left < 0.05:
            raise googlemaps.exceptions.Timeout()
        timeout = (min(self.connect_timeout, left), min(self.read_timeout, left))
        requests_kwargs = {**(requests_kwargs or {}), "timeout": timeout}
        return super()._request(
            url,
            params,
            first_request_time,
            retry_counter,
            base_url,
            accepts_clientid,
            extract_body,
            requests_kwargs,
            post_json,
        )


class GoogleUnavailable(Exception):
    """Google could not answer (after the client's retries); the message is safe to show."""


class GoogleMaps:
    """Distance Matrix and Geocoding calls on one shared HTTP session."""

    name = "google"

    def __init__(
        self,
        settings: GoogleSettings,
        *,
        limiter: ElementLimiter | None = None,
        on_call: Callable[[bool, float, str], None] | None = None,
    ) -> None:
        self.settings = settings
        #: Told of every request sent: ``(ok, seconds, error)`` (the integration log).
        self.on_call = on_call
        self.limiter = limiter or ElementLimiter(settings.elements_per_minute)
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, settings.concurrency))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._pool = ThreadPoolExecutor(max(1, settings.concurrency), thread_name_prefix="google")
        try:
            self.client(None)  # the client checks the key's form: fail at start-up, not per request
        except ValueError as exc:
            raise ValueError(f"GOOGLE_MAPS_API_KEY: {exc}") from None

    def client(self, deadline: float | None) -> googlemaps.Client:
        """A client for one call: its retries and requests end at ``deadline`` (monotonic) at the latest."""
        s = self.settings
        left = s.retry_timeout if deadline is None else max(0.05, min(s.retry_timeout, deadline - time.monotonic()))
        return _BoundedClient(
            until=time.monotonic() + left,
            key=s.api_key,
            base_url=s.base_url,
            connect_timeout=min(s.connect_timeout, left),
            read_timeout=min(s.read_timeout, left),
            retry_timeout=left,
            queries_per_second=1000,
            queries_per_minute=60_000,
            requests_session=self.session,
        )

    def matrix(
        self,
        origins: Sequence[Point],
        destinations: Sequence[Point],
        *,
        departure: int | None = None,
        deadline: float | None = None,
    ) -> Fetched:
        """Durations (s; ``duration_in_traffic`` when ``departure``, a Unix time, is given) and
        distances (m) from every origin to every destination."""
        n, m = len(origins), len(destinations)
        out = Fetched.nothing(n, m)
        work = tiles(n, m, *self.limits(departure))
        lock = threading.Lock()

        def one(tile: tuple[slice, slice]) -> None:
            rows, cols = tile
            began = time.monotonic()
            error = self._admit((rows.stop - rows.start) * (cols.stop - cols.start), deadline) or self._tile(
                origins[rows], destinations[cols], departure, deadline, out, rows, cols
            )
            if error not in NOT_SENT:
                self._told(not error, time.monotonic() - began, error)
            with lock:
                if error not in NOT_SENT:
                    out.requests += 1
                    out.elements += (rows.stop - rows.start) * (cols.stop - cols.start)
                if error:
                    out.errors.append(error)

        if work:
            list(self._pool.map(one, work))
        return out

    def limits(self, departure: int | None) -> tuple[int, int]:
        """``(side, elements)``: the most origins (and destinations) and pairs one request may hold."""
        return MAX_SIDE, MAX_ELEMENTS

    def _admit(self, elements: int, deadline: float | None) -> str:
        """Why a request of ``elements`` cannot be sent ("" when it can): its deadline passed while it
        waited for a request thread, or the elements-per-minute budget has no room before it."""
        if deadline is not None and time.monotonic() >= deadline:
            return PAST_DEADLINE
        if not self.limiter.acquire(elements, deadline):
            return OVER_BUDGET
        return ""

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
        kwargs: dict[str, object] = {"mode": self.settings.mode}
        if departure is not None:
            kwargs.update(departure_time=int(departure), traffic_model=self.settings.traffic_model)
        try:
            reply = self.client(deadline).distance_matrix(list(origins), list(destinations), **kwargs)
            table = reply["rows"]
            if len(table) != len(origins) or any(len(r["elements"]) != len(destinations) for r in table):
                return "reply has the wrong shape"
            for i, row in enumerate(table):
                for k, element in enumerate(row["elements"]):
                    self._element(element, departure is not None, out, rows.start + i, cols.start + k)
        except googlemaps.exceptions.Timeout:
            return "timeout (the request, or the client's retries of 5xx / OVER_QUERY_LIMIT)"
        except googlemaps.exceptions.HTTPError as exc:
            return f"HTTP {exc.status_code}"
        except googlemaps.exceptions.TransportError as exc:
            return f"transport error ({type(exc.base_exception).__name__})"
        except googlemaps.exceptions.ApiError as exc:
            return f"API status {exc.status}"
        except ValueError:
            return "reply is not JSON, or holds a bad figure"
        except (KeyError, TypeError, AttributeError, IndexError, OverflowError):
            return "reply is malformed"
        return ""

    @staticmethod
    def _element(element: dict, traffic: bool, out: Fetched, i: int, k: int) -> None:
        status = element["status"]
        if status == "OK":
            timed = element.get("duration_in_traffic") if traffic else None
            seconds = int((timed or element["duration"])["value"])
            metres = int(element["distance"]["value"])
            if seconds < 0 or metres < 0:
                raise ValueError("negative figure")
            out.durations[i, k], out.distances[i, k] = seconds, metres
            out.answered[i, k] = True
        elif status in NO_ROUTE:
            out.no_route[i, k] = out.answered[i, k] = True
        # anything else (an unknown status) stays unanswered: estimated by the caller

    def geocode(self, address: str, *, deadline: float | None = None) -> Point | None:
        """The address's coordinates, or ``None`` if Google does not know it.

        Raises
        ------
        GoogleUnavailable
            Google did not answer (the address may well exist).
        """
        if deadline is not None and time.monotonic() >= deadline:
            raise GoogleUnavailable("geocoding: the deadline passed before the request could be sent")
        began = time.monotonic()
        try:
            point = self._geocode(address, deadline)
        except GoogleUnavailable as exc:
            self._told(False, time.monotonic() - began, str(exc))
            raise
        self._told(True, time.monotonic() - began, "")
        return point

    def _told(self, ok: bool, seconds: float, error: str) -> None:
        if self.on_call is not None:
            try:
                self.on_call(ok, seconds, error)
            except Exception:
                log.exception("google: recording a call failed")

    def _geocode(self, address: str, deadline: float | None) -> Point | None:
        try:
            results = self.client(deadline).geocode(address)
        except (KeyError, TypeError, AttributeError):
            raise GoogleUnavailable("geocoding failed: reply is malformed") from None
        except googlemaps.exceptions.Timeout:
            raise GoogleUnavailable("geocoding timed out") from None
        except googlemaps.exceptions.HTTPError as exc:
            raise GoogleUnavailable(f"geocoding failed: HTTP {exc.status_code}") from None
        except googlemaps.exceptions.TransportError as exc:
            raise GoogleUnavailable(f"geocoding failed: {type(exc.base_exception).__name__}") from None
        except googlemaps.exceptions.ApiError as exc:
            raise GoogleUnavailable(f"geocoding failed: API status {exc.status}") from None
        except ValueError:
            raise GoogleUnavailable("geocoding failed: reply is not JSON") from None
        try:
            if not results:
                return None
            where = results[0]["geometry"]["location"]
            lat, lng = float(where["lat"]), float(where["lng"])
        except (KeyError, TypeError, ValueError, IndexError):
            raise GoogleUnavailable("geocoding failed: reply is malformed") from None
        if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
            raise GoogleUnavailable("geocoding failed: coordinates out of range")
        return lat, lng

    def map(self, fn, items: Sequence):  # noqa: ANN001, ANN201
        """``fn`` over ``items`` on this client's request threads (at most ``concurrency`` at once)."""
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self.session.close()
