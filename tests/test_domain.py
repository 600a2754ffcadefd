"""Small pieces of the domain and the re-plan's travel look-ups."""

from __future__ import annotations

import dataclasses

import pytest

from dispatch import codec
from dispatch.domain import Location, Problem, TimeWindow, Visit, VisitStatus, evolve
from dispatch.matrix.great_circle import GreatCircleProvider
from dispatch.reopt.day import Legs
from tests.support.factories import job, problem, tech


def test_evolve_is_replace():
    visit = Visit(job_id="j1", arrival=10, start=20, end=80, travel_duration=10, travel_distance=900)
    moved = evolve(visit, arrival=110, start=120, end=180)
    assert moved == dataclasses.replace(visit, arrival=110, start=120, end=180)
    assert visit.start == 20  # the original is untouched
    assert moved.status is VisitStatus.PLANNED
    with pytest.raises(dataclasses.FrozenInstanceError):
        moved.start = 0  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field"):
        evolve(visit, begin=3)
    assert evolve(TimeWindow(start=1, end=2), end=5) == TimeWindow(start=1, end=5)


def test_a_problems_id_maps_are_its_own_after_evolve_and_codec():
    day = problem([tech("a"), tech("b")], [job("x", x=1), job("y", x=2)])
    assert day.technician_index == {"a": 0, "b": 1} and day.job_index == {"x": 0, "y": 1}
    fewer = evolve(day, jobs=day.jobs[1:], technicians=day.technicians[::-1])  # built from a day with its maps
    assert fewer.job_index == {"y": 0} and fewer.technician_index == {"b": 0, "a": 1}
    assert fewer == dataclasses.replace(day, jobs=day.jobs[1:], technicians=day.technicians[::-1])
    again = codec.loads(Problem, codec.dumps(day))
    assert codec.dumps(again) == codec.dumps(day) and again.job_index == day.job_index


class CountingProvider(GreatCircleProvider):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int]] = []

    def matrix(self, origins, destinations, departure=None, **kwargs):
        self.calls.append((len(origins), len(destinations)))
        return super().matrix(origins, destinations, departure, **kwargs)


def test_legs_asks_the_provider_once_for_all_the_history_needs():
    a, b, c = (Location(lat=39.7 + k / 100, lng=-105.0 + k / 50) for k in range(3))
    provider = CountingProvider()
    legs = Legs(provider, departure=0)
    legs.prefetch([(a, b), (a, c), (b, c), (a, b), (c, c)])
    assert provider.calls == [(2, 2)]  # origins a, b; destinations b, c
    for x, y in [(a, b), (a, c), (b, c)]:
        durations, distances = GreatCircleProvider().matrix([x], [y])
        assert legs(x, y) == (int(durations[0, 0]), int(distances[0, 0]))
    assert legs(c, c) == (0, 0)
    legs.prefetch([(a, b), (b, c)])
    assert provider.calls == [(2, 2)]  # all known: no new call
    legs(c, a)
    assert provider.calls == [(2, 2), (1, 1)]  # a leg nobody announced is still answered
