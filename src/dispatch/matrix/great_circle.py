"""The embedded default: haversine distance x a road-circuity factor, at an average speed.

Defaults (urban service areas): circuity 1.35 (street networks run 1.2-1.4 x the
straight line) and 35 km/h door to door, so 10 km as the crow flies is 13.5 km and
23 min. Both are settings (``DISPATCH_GC_CIRCUITY``, ``DISPATCH_GC_SPEED_KMH``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dispatch.domain import Location
from dispatch.matrix.base import TravelReport

EARTH_RADIUS_M = 6_371_008.8
DEFAULT_CIRCUITY = 1.35
DEFAULT_SPEED_KMH = 35.0


class GreatCircleProvider:
    name = "great_circle"
    knows_traffic = False

    def __init__(self, *, circuity: float = DEFAULT_CIRCUITY, speed_kmh: float = DEFAULT_SPEED_KMH) -> None:
        if not circuity >= 1.0:
            raise ValueError("circuity must be >= 1")
        if not speed_kmh > 0:
            raise ValueError("speed_kmh must be > 0")
        self.circuity = circuity
        self.speed_mps = speed_kmh / 3.6

    def matrix(
        self,
        origins: Sequence[Location],
        destinations: Sequence[Location],
        departure: int | None = None,
        *,
        deadline: float | None = None,
        report: TravelReport | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        lat1, lng1 = _radians(origins)
        lat2, lng2 = _radians(destinations)
        dlat = lat2[None, :] - lat1[:, None]
        dlng = lng2[None, :] - lng1[:, None]
        a = np.sin(dlat / 2) ** 2 + np.cos(lat1)[:, None] * np.cos(lat2)[None, :] * np.sin(dlng / 2) ** 2
        crow = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
        road = crow * self.circuity
        distances = np.rint(road).astype(np.int64)
        durations = np.ceil(road / self.speed_mps).astype(np.int64)
        return durations, distances


def _radians(points: Sequence[Location]) -> tuple[np.ndarray, np.ndarray]:
    lat = np.array([p.lat if p.lat is not None else np.nan for p in points], dtype=float)
    lng = np.array([p.lng if p.lng is not None else np.nan for p in points], dtype=float)
    if np.isnan(lat).any() or np.isnan(lng).any():
        raise ValueError("great-circle travel needs lat and lng on every location")
    return np.radians(lat), np.radians(lng)
