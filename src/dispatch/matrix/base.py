"""The travel-matrix interface and the day's point order.

A day's points are ordered once, here: technician ``v`` starts at point ``2 v``
and ends at point ``2 v + 1``; job ``j`` is point ``2 m + j`` (``m`` technicians).
The solver's node indices and the checker's look-ups both use this order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dispatch.domain import Location, Problem


class MatrixProvider(Protocol):
    """Anything that can time and measure trips between places."""

    name: str

    def matrix(
        self,
        origins: Sequence[Location],
        destinations: Sequence[Location],
        departure: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(durations, distances)``: int64 arrays ``len(origins) x len(destinations)``.

        ``durations`` in seconds, ``distances`` in metres; ``departure`` is a Unix time for
        providers that know traffic (ignored by the others).
        """
        ...


def problem_points(problem: Problem) -> list[Location]:
    """The day's points in the canonical order (see the module docstring)."""
    points: list[Location] = []
    for tech in problem.technicians:
        points.append(tech.start_location)
        points.append(tech.end_location)
    points.extend(job.location for job in problem.jobs)
    return points


@dataclass(frozen=True)
class DayMatrix:
    """Durations (s) and distances (m) between all points of a day, in the canonical order."""

    durations: np.ndarray
    distances: np.ndarray
    num_technicians: int
    source: str = ""

    def __post_init__(self) -> None:
        if self.durations.shape != self.distances.shape or self.durations.ndim != 2:
            raise ValueError("durations and distances must be square and of one shape")

    @staticmethod
    def start_point(vehicle: int) -> int:
        return 2 * vehicle

    @staticmethod
    def end_point(vehicle: int) -> int:
        return 2 * vehicle + 1

    def job_point(self, job: int) -> int:
        return 2 * self.num_technicians + job

    @property
    def size(self) -> int:
        return int(self.durations.shape[0])

    def duration(self, a: int, b: int) -> int:
        return int(self.durations[a, b])

    def distance(self, a: int, b: int) -> int:
        return int(self.distances[a, b])


def day_matrix(problem: Problem, provider: MatrixProvider) -> DayMatrix:
    """Build the day's full matrix with ``provider``; the diagonal is zero."""
    points = problem_points(problem)
    durations, distances = provider.matrix(points, points, departure=problem.epoch)
    durations = np.asarray(durations, dtype=np.int64)
    distances = np.asarray(distances, dtype=np.int64)
    np.fill_diagonal(durations, 0)
    np.fill_diagonal(distances, 0)
    return DayMatrix(
        durations=durations,
        distances=distances,
        num_technicians=len(problem.technicians),
        source=provider.name,
    )
