"""A remote travel source behind a cache, with the great-circle model for what it cannot answer.

``CachedProvider.matrix`` keys each place (``travel_cache.place_key``), reads every pair from the cache,
asks the source only for the pairs it lacks (the rows it lacks entirely, then the columns the
other rows lack: a new job costs one row and one column, not a new matrix), stores what the
source answered, and estimates the rest with the great-circle model, saying so in the report.
Identical fetches running at once in this process share one request (single flight).

Traffic: a departure time maps to a bucket of ``traffic_bucket`` seconds (UTC, by weekday and
time of day, e.g. ``traffic:2T0800Z`` for Tuesdays 08:00-09:00 UTC). Google only predicts
traffic for departures from now on, so a bucket in the past is asked for the same weekday and
time in a coming week (typical traffic, which is what a plan for that hour needs anyway).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime

import numpy as np

from dispatch.config import CachePolicy
from dispatch.domain import Location
from dispatch.matrix.base import UNREACHABLE, MatrixProvider, TravelReport
from dispatch.matrix.google import Fetched, GoogleMaps, GoogleUnavailable
from dispatch.matrix.travel_cache import NO_ROUTE, Counters, TravelCache, place_key

WEEK = 7 * 86_400


class CachedProvider:
    """``MatrixProvider`` over a ``GoogleMaps`` source, a ``TravelCache`` and a fallback model."""

    knows_traffic = True

    def __init__(
        self,
        source: GoogleMaps,
        cache: TravelCache,
        fallback: MatrixProvider,
        *,
        policy: CachePolicy | None = None,
        counters: Counters | None = None,
    ) -> None:
        self.source = source
        self.cache = cache
        self.fallback = fallback
        self.policy = policy or CachePolicy()
        self.counters = counters or Counters()
        self.name = source.name
        self._flights: dict[tuple, Future] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ buckets

    def bucket_start(self, departure: int) -> int:
        """The Unix time the bucket holding ``departure`` starts."""
        return departure - departure % self.policy.traffic_bucket

    def space(self, departure: int | None) -> str:
        base = f"{self.source.name}:{self.source.settings.mode}"
        if departure is None:
            return f"{base}:static"
        start = datetime.fromtimestamp(self.bucket_start(departure), UTC)
        return f"{base}:traffic:{start.isoweekday()}T{start:%H%M}Z"

    def asked_departure(self, departure: int) -> int:
        """The bucket's start, moved on by whole weeks until it is not in the past."""
        start = self.bucket_start(departure)
        now = int(time.time())
        if start < now:
            start += -(-(now - start) // WEEK) * WEEK
        return start

    # ------------------------------------------------------------------ matrix

    def matrix(
        self,
        origins: Sequence[Location],
        destinations: Sequence[Location],
        departure: int | None = None,
        *,
        deadline: float | None = None,
        report: TravelReport | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        report = report if report is not None else TravelReport()
        row_keys, row_of = _keys(origins)
        col_keys, col_of = _keys(destinations)
        space = self.space(departure)
        durations, distances, found = self.cache.get(space, row_keys, col_keys)
        hits = int(found.sum())
        self.counters.add(cache_hits=hits, cache_misses=found.size - hits)
        report.cache_hits += hits
        estimated = np.zeros(found.shape, dtype=bool)
        for rows, cols in _rectangles(~found):
            fetched = self._fetch(space, [row_keys[i] for i in rows], [col_keys[k] for k in cols], departure, deadline)
            block = np.ix_(rows, cols)
            wanted = ~found[block]
            got = fetched.answered & wanted
            durations[block] = np.where(got, np.where(fetched.no_route, NO_ROUTE, fetched.durations), durations[block])
            distances[block] = np.where(got, fetched.distances, distances[block])
            found[block] |= got
            report.requests += fetched.requests
            report.elements += fetched.elements
            if fetched.errors:
                shown = "; ".join(sorted(set(fetched.errors))[:3])
                report.warnings.append(
                    f"{self.name}: {len(fetched.errors)} request(s) failed ({shown}); "
                    "those pairs are great-circle estimates"
                )
            missed = wanted & ~fetched.answered
            if missed.any():
                estimated[block] |= missed
        if estimated.any():
            rows, cols = np.flatnonzero(estimated.any(axis=1)), np.flatnonzero(estimated.any(axis=0))
            guess_d, guess_m = self.fallback.matrix(
                [_point(row_keys[i]) for i in rows], [_point(col_keys[k]) for k in cols]
            )
            block = np.ix_(rows, cols)
            durations[block] = np.where(estimated[block], guess_d, durations[block])
            distances[block] = np.where(estimated[block], guess_m, distances[block])
            self.counters.add(fallback_elements=int(estimated.sum()))
        no_route = durations == NO_ROUTE
        durations[no_route] = UNREACHABLE
        if no_route.any():
            self.counters.add(unreachable_elements=int(no_route.sum()))
        full = np.ix_(row_of, col_of)
        report.estimated = estimated[full]
        return durations[full], distances[full]

    def _fetch(
        self, space: str, rows: list[str], cols: list[str], departure: int | None, deadline: float | None
    ) -> Fetched:
        """Ask the source for ``rows x cols`` (shared with an identical fetch in flight) and cache the answers."""
        key = (space, tuple(rows), tuple(cols))
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = Future()
        assert flight is not None
        if not leader:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return flight.result(timeout=wait)
            except FutureTimeout:
                return Fetched.nothing(
                    len(rows), len(cols), "the deadline passed waiting for the same request in flight"
                )
        try:
            asked = None if departure is None else self.asked_departure(departure)
            fetched = self.source.matrix(
                [_point_tuple(k) for k in rows], [_point_tuple(k) for k in cols], departure=asked, deadline=deadline
            )
            self.counters.add(
                provider_requests=fetched.requests,
                provider_elements=fetched.elements,
                provider_errors=len(fetched.errors),
            )
            ttl = self.policy.static_ttl if departure is None else self.policy.traffic_ttl
            codes = np.where(fetched.no_route, NO_ROUTE, fetched.durations)
            self.cache.put(space, rows, cols, codes, fetched.distances, fetched.answered, ttl)
            flight.set_result(fetched)
            return fetched
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)

    # ------------------------------------------------------------------ places

    def geocode(self, address: str, *, deadline: float | None = None) -> tuple[float, float] | None:
        """Coordinates of ``address`` (cached), ``None`` if Google does not know it.

        Raises
        ------
        GoogleUnavailable
            Not cached and Google could not be asked.
        """
        known, point = self.cache.get_place(address)
        if known:
            self.counters.add(geocode_hits=1)
            return point
        self.counters.add(geocode_requests=1)
        point = self.source.geocode(address, deadline=deadline)
        ttl = self.policy.place_ttl if point is not None else self.policy.place_missing_ttl
        self.cache.put_place(address, point, ttl)
        return point

    def geocode_many(
        self, addresses: Sequence[str], *, deadline: float | None = None
    ) -> dict[str, tuple[float, float] | None | GoogleUnavailable]:
        """``geocode`` for each distinct address, several at once: address -> point, ``None``
        (not found) or the ``GoogleUnavailable`` raised for it."""

        def one(address: str) -> tuple[float, float] | None | GoogleUnavailable:
            try:
                return self.geocode(address, deadline=deadline)
            except GoogleUnavailable as exc:
                return exc

        distinct = list(dict.fromkeys(addresses))
        return dict(zip(distinct, self.source.map(one, distinct), strict=True))


def _keys(points: Sequence[Location]) -> tuple[list[str], np.ndarray]:
    """Distinct place keys in first-seen order, and each point's index among them."""
    index: dict[str, int] = {}
    of = []
    for p in points:
        if p.lat is None or p.lng is None:
            raise ValueError("a remote travel source needs lat and lng (geocode addresses first)")
        of.append(index.setdefault(place_key(p.lat, p.lng), len(index)))
    return list(index), np.array(of, dtype=np.int64)


def _point_tuple(key: str) -> tuple[float, float]:
    lat, lng = key.split(",")
    return float(lat), float(lng)


def _point(key: str) -> Location:
    lat, lng = _point_tuple(key)
    return Location(lat=lat, lng=lng)


def _rectangles(missing: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rectangles of rows x columns covering every missing pair: the rows missing entirely
    against every column, then the other rows against the columns they miss."""
    if not missing.any():
        return []
    every = np.arange(missing.shape[1])
    whole = np.asarray(missing.all(axis=1), dtype=bool)
    out = []
    if whole.any():
        out.append((np.flatnonzero(whole), every))
    rest = missing & ~whole[:, None]
    if rest.any():
        out.append((np.flatnonzero(rest.any(axis=1)), np.flatnonzero(rest.any(axis=0))))
    return out


__all__ = ["CachePolicy", "CachedProvider", "GoogleUnavailable"]
