"""Travel given in the request: a size x size matrix addressed by ``Location.matrix_index``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dispatch.domain import ExplicitMatrix, Location
from dispatch.matrix.base import TravelReport


class ExplicitProvider:
    name = "explicit"
    knows_traffic = False

    def __init__(self, matrix: ExplicitMatrix) -> None:
        n = matrix.size
        self._durations = np.asarray(matrix.durations, dtype=np.int64).reshape(n, n)
        if len(matrix.distances):
            self._distances = np.asarray(matrix.distances, dtype=np.int64).reshape(n, n)
        else:
            self._distances = np.zeros((n, n), dtype=np.int64)

    def matrix(
        self,
        origins: Sequence[Location],
        destinations: Sequence[Location],
        departure: int | None = None,
        *,
        deadline: float | None = None,
        report: TravelReport | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = _indices(origins)
        cols = _indices(destinations)
        grid = np.ix_(rows, cols)
        return self._durations[grid], self._distances[grid]


def _indices(points: Sequence[Location]) -> np.ndarray:
    if any(p.matrix_index is None for p in points):
        raise ValueError("explicit travel needs matrix_index on every location")
    return np.array([p.matrix_index for p in points], dtype=np.int64)
