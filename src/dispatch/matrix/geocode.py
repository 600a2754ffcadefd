"""Places given only by their address, geocoded (travel model GOOGLE), and the job points of a
day that have no coordinates."""

from __future__ import annotations

import dataclasses

from dispatch.domain import GOOGLE_MODELS, Location, Problem
from dispatch.errors import FieldViolation, ProblemError, ProviderUnavailableError
from dispatch.matrix.base import job_point
from dispatch.matrix.cached_provider import CachedProvider, GoogleUnavailable


def place(
    problem: Problem, google: CachedProvider | None, *, deadline: float | None = None
) -> tuple[Problem, dict[int, str]]:
    """Geocode the locations given only as an address (travel_model GOOGLE or ROUTES).

    Returns the problem with coordinates filled in, and the job points that could not be
    placed (point -> why; those jobs end unassigned, ``ADDRESS_NOT_FOUND``).

    Raises
    ------
    ProblemError
        A technician's address that Google cannot find.
    ProviderUnavailableError
        A technician's address could not be geocoded because Google did not answer.
    """
    if problem.options.travel_model not in GOOGLE_MODELS or google is None:
        return problem, {}
    bad: list[FieldViolation] = []
    unplaced: dict[int, str] = {}

    wanted = [
        loc.address
        for loc in (
            *(t.start_location for t in problem.technicians),
            *(t.end_location for t in problem.technicians),
            *(j.location for j in problem.jobs),
        )
        if loc.lat is None or loc.lng is None
    ]
    found = google.geocode_many(wanted, deadline=deadline) if wanted else {}

    def where(loc: Location) -> tuple[Location, str | None]:
        """The located place, or why not: "" (Google does not know it) or Google's failure."""
        if loc.lat is not None and loc.lng is not None:
            return loc, None
        point = found[loc.address]
        if isinstance(point, GoogleUnavailable):
            return loc, f"{point} for {loc.address!r}"
        if point is None:
            return loc, ""
        return dataclasses.replace(loc, lat=point[0], lng=point[1]), None

    techs = list(problem.technicians)
    for v, tech in enumerate(techs):
        places: dict[str, Location] = {}
        for name in ("start_location", "end_location"):
            if name == "end_location" and tech.end_location == tech.start_location:
                places[name] = places["start_location"]  # one place: asked and reported once
                continue
            loc, why = where(getattr(tech, name))
            if why == "":
                bad.append(FieldViolation(f"technicians[{v}].{name}.address", "Google cannot find this address"))
            elif why is not None:
                raise ProviderUnavailableError(f"technicians[{v}].{name}: {why}")
            places[name] = loc
        techs[v] = dataclasses.replace(
            tech, start_location=places["start_location"], end_location=places["end_location"]
        )
    if bad:
        raise ProblemError(bad)
    jobs = list(problem.jobs)
    for k, job in enumerate(jobs):
        loc, why = where(job.location)
        if why is not None:
            unplaced[job_point(problem, k)] = why or f"Google cannot find the address {loc.address!r}"
        elif loc is not job.location:
            jobs[k] = dataclasses.replace(job, location=loc)
    return dataclasses.replace(problem, technicians=tuple(techs), jobs=tuple(jobs)), unplaced


def unplaced_points(problem: Problem) -> dict[int, str]:
    """Job points with no coordinates (an address Google could not find when the day was planned)."""
    return {
        job_point(problem, k): f"Google cannot find the address {job.location.address!r}"
        for k, job in enumerate(problem.jobs)
        if job.location.matrix_index is None and (job.location.lat is None or job.location.lng is None)
    }
