"""Jobs for several technicians together: the members of a group start at the same moment.

A job with ``technicians_required`` n is n planner jobs (``domain.member_id``, made by
``dispatch.horizon``). The searches place them like any job; where routes become a plan
(``extract.routes_plan``, which the search and the quick re-plan both go through) each group is
synchronised: its members' service starts are pinned to the latest of them (the others wait on site)
and their routes re-timed. A group that cannot start together -- a member not placed, two members with
one technician, a route that cannot take the wait -- is taken off every route and left unassigned.
Groups are taken in order; a group pinned earlier stays pinned, so a later one that would move it is
the one dropped. Members not in the problem (a re-plan's history: a member under way or done) bind
nothing.
"""

from __future__ import annotations

from collections import defaultdict

from dispatch.domain import Problem, Unassigned, UnassignedReason, person_of
from dispatch.solver.schedule import RouteTimer


def groups(timer: RouteTimer) -> dict[str, list[int]]:
    """Job indices of each group with more than one member in the timer's problem (``RouteTimer.crew``)."""
    out: dict[str, list[int]] = defaultdict(list)
    for j, gid in sorted(timer.crew.items()):
        out[gid].append(j)
    return {g: js for g, js in out.items() if len(js) > 1}


def synchronise(
    problem: Problem, timer: RouteTimer, routes: dict[int, list[int]], eligible: list[list[int]]
) -> tuple[dict[int, list[int]], dict[int, Unassigned], dict[int, list[tuple[int, int]]]]:
    """``routes`` with every group started together, or placed anew together (``eligible``: who may
    serve each job), or taken off (a new dict; lists copied); the
    members taken off with their reason; and the windows of ``timer`` it pinned (job index -> the
    windows before), for the caller to restore once the plan is built."""
    crews = groups(timer)
    routes = {v: list(r) for v, r in routes.items()}
    dropped: dict[int, Unassigned] = {}
    saved: dict[int, list[tuple[int, int]]] = {}
    if not crews:
        return routes, dropped, saved
    where = {j: v for v, r in routes.items() for j in r}
    for _, js in sorted(crews.items()):
        placed = [j for j in js if j in where]
        if not placed:
            continue
        persons = {person_of(problem.technicians[where[j]].id) for j in placed}
        why = ""
        if len(placed) < len(js):
            why = f"needs {len(js)} technicians together; only {len(placed)} could be placed"
        elif len(persons) < len(placed):
            why = f"needs {len(js)} different technicians together"
        else:
            starts = {}
            for j in js:
                v = where[j]
                timing = timer.timing(v, routes[v])
                starts[j] = timing.starts[routes[v].index(j)] if timing is not None else None
            if any(s is None for s in starts.values()):
                why = "a member's route has no timing"
            else:
                start = max(s for s in starts.values() if s is not None)
                before = {j: timer.windows[j] for j in js}
                for j in js:
                    timer.windows[j] = [(start, start)]
                if all(timer.timing(v, routes[v]) is not None for v in {where[j] for j in js}):
                    saved.update({j: w for j, w in before.items() if j not in saved})
                    continue
                for j, w in before.items():
                    timer.windows[j] = w
                why = f"needs {len(js)} technicians starting together; their routes cannot wait for one another"
        for j in placed:
            routes[where[j]].remove(j)
            del where[j]
        if place(problem, timer, routes, eligible, js, saved):
            where.update({j: v for v, r in routes.items() for j in r if j in js})
            continue
        for j in js:
            dropped[j] = Unassigned(job_id=problem.jobs[j].id, reason=UnassignedReason.CAPACITY_EXHAUSTED, detail=why)
    return routes, dropped, saved


#: Places tried for a crew's first member, the cheapest first, each with every place for the others.
FIRST_PLACES = 12


def place(
    problem: Problem,
    timer: RouteTimer,
    routes: dict[int, list[int]],
    eligible: list[list[int]],
    js: list[int],
    saved: dict[int, list[tuple[int, int]]],
) -> bool:
    """Put the crew ``js`` (none of them on a route) in together: its first member where it adds the
    least driving (of ``FIRST_PLACES``), the others at that start on other technicians' routes, each
    where it adds the least; ``False`` (nothing changed) if no such places exist."""
    first, others = js[0], js[1:]
    for v, pos, start in _places(timer, routes, eligible[first], first)[:FIRST_PLACES]:
        before = {j: timer.windows[j] for j in js}
        for j in js:
            timer.windows[j] = [(start, start)]
        chosen = {first: (v, pos)}
        trial = {u: list(r) for u, r in routes.items()}
        trial[v].insert(pos, first)
        persons = {person_of(problem.technicians[v].id)}
        for j in others:
            options = [
                (u, p)
                for u, p, _ in _places(timer, trial, eligible[j], j)
                if person_of(problem.technicians[u].id) not in persons
            ]
            if not options:
                break
            u, p = options[0]
            trial[u].insert(p, j)
            chosen[j] = (u, p)
            persons.add(person_of(problem.technicians[u].id))
        if len(chosen) == len(js) and all(timer.timing(u, trial[u]) is not None for u, _ in chosen.values()):
            routes.update({u: trial[u] for u, _ in chosen.values()})
            saved.update({j: w for j, w in before.items() if j not in saved})
            return True
        for j, w in before.items():
            timer.windows[j] = w
    return False


def _places(timer: RouteTimer, routes: dict[int, list[int]], vehicles: list[int], j: int) -> list[tuple[int, int, int]]:
    """``(technician, position, service start)`` where job ``j`` fits into ``routes``, the least added
    driving first."""
    m = timer.matrix
    point = m.job_point(j)
    out = []
    for v in vehicles:
        route = routes.get(v, [])
        stops = [m.start_point(v), *(m.job_point(k) for k in route), m.end_point(v)]
        for pos in range(len(route) + 1):
            a, b = stops[pos], stops[pos + 1]
            added = m.duration(a, point) + m.duration(point, b) - (m.duration(a, b) if route else 0)
            out.append((added, v, pos))
    out.sort()
    found = []
    for _, v, pos in out:
        trial = [*routes.get(v, [])[:pos], j, *routes.get(v, [])[pos:]]
        timing = timer.timing(v, trial)
        if timing is not None:
            found.append((v, pos, timing.starts[pos]))
            if len(found) >= FIRST_PLACES:
                break
    return found
