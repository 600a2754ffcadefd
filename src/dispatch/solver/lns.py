"""The search for the days crews really have: VROOM builds the plan, then re-solves it a few
routes at a time for as long as the budget lasts.

1. **Parts.** Technicians who share no job (trades rarely do) make independent parts of the
   day; a part of more than ``MAX_PART_JOBS`` jobs is split further into zones around the
   technicians' homes, because VROOM's work grows faster than the jobs. VROOM builds the
   parts one after the other, the most urgent work first, each with a share of the
   construction budget for its size; the first is always built, so a plan is never empty
   while a job can be served. A part not reached in time keeps its jobs for the neighbourhoods
   (and the caller's last insertion pass), which say so when they never got to them.
2. **Neighbourhoods** (large neighbourhood search, in the manner of POPMUSIC): a few routes
   near each other and the unserved jobs near them are re-solved by VROOM at full
   exploration; the new routes replace the old only when the objective
   (``dispatch.solver.objective``, served jobs by priority, then cost) prefers them.
   Neighbourhoods are drawn around a random route, around an unserved job, or around an
   EMERGENCY that starts later than the earliest any qualified technician could: VROOM sees
   no cost in a late start, so that one is re-solved with its start capped nearer the
   earliest, and an emergency already served keeps at most its start (plus a little) in every
   neighbourhood.
3. In a re-plan (the problem has commitments), every other neighbourhood is re-solved with
   its committed jobs held to their technician and promised window, so VROOM proposes
   changes the stability costs can accept.
4. **Crews** (jobs for several technicians, ``groups``): VROOM cannot start two visits together,
   so before it builds the day each crew is given a start where it fits on routes holding only
   crews, its members pinned there (VROOM's ``within``); after the build, and every tenth of the
   search, served crews are synchronised and re-pinned and unserved ones placed together. A
   neighbourhood's result that serves part of a crew is refused, and a crew's members are never
   offered one at a time.

Routes are always timed by ``RouteTimer`` and costed by the objective here, never taken on
VROOM's word.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dispatch.domain import Balance, Priority, Problem
from dispatch.matrix import DayMatrix
from dispatch.solver.groups import groups, place, synchronise
from dispatch.solver.insertion import Insertion
from dispatch.solver.objective import Objective
from dispatch.solver.schedule import RouteTimer, Timing
from dispatch.solver.screen import Screening
from dispatch.solver.vroom_routes import MAX_EXPLORATION, vroom_routes

log = logging.getLogger("dispatch")

#: A part of more jobs than this is split into zones before VROOM builds it.
MAX_PART_JOBS = 400
#: Share of the budget for building the parts (VROOM's own local search included); the rest
#: goes to the neighbourhoods.
CONSTRUCTION_SHARE = 0.3
#: Routes in a neighbourhood, and the most jobs in one (unserved ones included).
NEIGHBOURHOOD_ROUTES = (2, 5)
NEIGHBOURHOOD_JOBS = 60
#: Days with overtime or balance: the share of the search's moves that take one visit off a day (one
#: of the longest, or any, even odds) to where it costs least (``Search._relocate``) instead of
#: re-solving a neighbourhood.
RELOCATE_SHARE = 0.3
#: Seconds VROOM may search one neighbourhood.
NEIGHBOURHOOD_TIMEOUT = 1.0
#: The search stops before its deadline once this many moves in a row, per technician who can work
#: (at least ``STALL_MIN``), found nothing better: a small day is settled long before a default
#: time limit (two technicians and six jobs: in a tenth of a second, not 10 s); a large one rarely
#: stalls that long.
STALL_PER_TECHNICIAN = 20
STALL_MIN = 50
#: Days with crews: the share of the search's time between two rounds of ``Search.crews`` (crews
#: re-synchronised, the unserved ones placed together), and the fewest seconds between them.
CREW_ROUND_SHARE = 0.1
CREW_ROUND_MIN = 0.5
#: Share of the construction budget for choosing the crews' starts before VROOM builds the day.
CREWS_FIRST_SHARE = 0.25
#: A neighbourhood seen before is solved with its drive costs up to this share higher at random.
NOISE = 0.15
#: An emergency served this many seconds after its earliest possible start is worth a
#: neighbourhood of its own; one already served may start at most this much later in another.
EMERGENCY_SLACK = 300
#: Neighbourhoods tried around one late emergency before it is left as it is.
EMERGENCY_ATTEMPTS = 4
#: VROOM's time per candidate solution, per (job^2 x technician), seconds, to build it, and to
#: build it and take it to its first local optimum (2026 EPYC cores: 41 technicians x 327 jobs,
#: 0.4 s to build 32 candidates, 1.3-3.4 s to their first local optima).
CONSTRUCTION_COST = 3.5e-9
SEARCH_COST = 2.5e-8


@dataclass(frozen=True)
class _Hood:
    """A neighbourhood: technicians whose routes are re-solved, unserved jobs offered to them,
    narrowed service starts and technicians per job (``vroom_routes``), and whether it holds the
    re-plan's commitments (``mode``)."""

    technicians: list[int]
    extra: list[int]
    within: dict[int, tuple[int, int]]
    allowed: dict[int, list[int]]
    mode: str
    #: Shorter days asked of VROOM (``vroom_routes``' ``caps``): overtime and balance.
    caps: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Part:
    """Technicians and the jobs VROOM builds routes for together."""

    technicians: tuple[int, ...]
    jobs: tuple[int, ...]
    urgency: int  # the most urgent priority among the jobs


class Search:
    """Routes (job indices per technician index) improved in place until a deadline."""

    def __init__(
        self,
        problem: Problem,
        matrix: DayMatrix,
        screening: Screening,
        objective: Objective,
        timer: RouteTimer,
        *,
        seed: int = 1,
        on_improvement: Callable[[], None] | None = None,
    ) -> None:
        self.problem = problem
        self.matrix = matrix
        self.screening = screening
        self.objective = objective
        self.timer = timer
        self.rng = random.Random(seed)
        self.on_improvement = on_improvement
        m = len(problem.technicians)
        self.routes: dict[int, list[int]] = {v: [] for v in range(m)}
        self.costs: dict[int, int] = dict.fromkeys(range(m), 0)
        self.timings: dict[int, Timing | None] = {}
        self.eligible = [j for j in range(len(problem.jobs)) if screening.eligible[j]]
        self.components = components(screening, m)
        self.component_of = {v: c for c, (techs, _) in enumerate(self.components) for v in techs}
        self.emergency_attempts: dict[int, int] = {}
        self.seen: set[tuple[frozenset[int], frozenset[int]]] = set()
        #: Re-plans: neighbourhoods that held their commitments or not, as [improved, tried].
        self.modes = {"held": [0, 0], "free": [0, 0]}
        self.stats = {"parts": 0, "neighbourhoods": 0, "improved": 0}
        self._insertion: Insertion | None = None
        #: Jobs for several technicians (``groups``): each crew's members, and each member's windows
        #: before ``crews`` pinned a served crew's members to one start (the timer's windows, and
        #: VROOM's ``within`` in every neighbourhood), so that re-solving keeps them together.
        self.crew_members = groups(timer)
        self.crew_of = {j: gid for gid, js in self.crew_members.items() for j in js}
        self._unpinned = {j: list(timer.windows[j]) for j in self.crew_of}
        self.pins: dict[int, int] = {}
        #: Members of the crews the last ``crews`` round could not place (tried against the routes).
        self.crews_left: set[int] = set()

    # ------------------------------------------------------------------ state

    def served(self) -> set[int]:
        return {j for r in self.routes.values() for j in r}

    def unserved(self) -> list[int]:
        served = self.served()
        return [j for j in self.eligible if j not in served]

    def cost(self) -> int:
        return sum(self.costs.values())

    def _set(self, v: int, route: list[int], timing: Timing) -> None:
        self.routes[v] = route
        self.timings[v] = timing
        self.costs[v] = self.objective.route_cost(v, route, timing)

    def load(self, routes: dict[int, list[int]]) -> None:
        """Start from ``routes``; a route with no timing keeps the visits that still fit."""
        for v, route in routes.items():
            route = [j for j in route if v in self.screening.eligible[j]]
            if self.timer.timing(v, route) is None:
                route = self.timer.fit(v, route)
            timing = self.timer.timing(v, route)
            if timing is not None:
                self._set(v, route, timing)

    def crews(self, until: float | None = None) -> None:
        """Every crew served started together (``groups.synchronise``: at its latest member's start, or
        placed anew together, or taken off), then each crew no member of which is served placed
        together where it fits (``groups.place``) until ``until`` (``time.monotonic()``); the served
        crews' starts pinned. VROOM places a crew's members as independent jobs: without this they
        end the search apart and are dropped at the finish, their room taken by others."""
        if not self.crew_members:
            return
        for j, windows in self._unpinned.items():  # a crew may start earlier now than where it was pinned
            self.timer.windows[j] = windows
        routes, _, _ = synchronise(self.problem, self.timer, self.routes, self.screening.eligible)
        served = {j for r in routes.values() for j in r}
        self.crews_left = set()
        for js in self._crew_order():
            if served.intersection(js):
                continue
            if (until is not None and time.monotonic() > until) or not place(
                self.problem, self.timer, routes, self.screening.eligible, js, {}
            ):
                self.crews_left.update(js)
        self._read_pins()
        touched = {v for v, r in self.routes.items() if self.crew_of.keys() & set(r)}
        touched |= {v for v, r in routes.items() if r != self.routes.get(v)}
        for v in touched:
            route = routes.get(v, [])
            timing = self.timer.timing(v, route)
            if timing is None:  # synchronise and place keep every route timed: never expected
                log.warning("search: technician %d's route has no timing after the crews' round", v)
                continue
            self._set(v, route, timing)

    def _read_pins(self) -> None:
        """``pins`` from the timer: the members whose windows ``groups`` narrowed to their crew's start."""
        self.pins = {j: w[0][0] for j, w0 in self._unpinned.items() if (w := self.timer.windows[j]) != w0}

    def _crew_order(self) -> list[list[int]]:
        """The crews' members, the most urgent crew first."""
        return sorted(self.crew_members.values(), key=lambda js: (-int(self.objective.priority[js[0]]), js[0]))

    def _crews_first(self, until: float) -> dict[int, tuple[int, int]]:
        """Each crew's start, chosen before VROOM builds the day (VROOM cannot start two visits
        together): the crews placed together one after the other, the most urgent first, on routes
        that hold only crews (``groups.place``) until ``until``; their members pinned to those starts,
        which are VROOM's ``within``. VROOM fits the other jobs around them (or leaves a crew out:
        ``crews`` then places it again where the day has room)."""
        if not self.crew_members:
            return {}
        routes: dict[int, list[int]] = {v: [] for v in range(len(self.problem.technicians))}
        for js in self._crew_order():
            if time.monotonic() > until:
                break
            place(self.problem, self.timer, routes, self.screening.eligible, js, {})
        self._read_pins()
        return {j: (t, t) for j, t in self.pins.items()}

    def _whole(self, techs: Sequence[int], new: dict[int, list[int]]) -> bool:
        """Whether ``new`` routes for ``techs`` leave every crew whole: all of its members served or none."""
        if not self.crew_members:
            return True
        chosen = set(techs)
        served = {j for v, r in self.routes.items() if v not in chosen for j in r if j in self.crew_of}
        served |= {j for r in new.values() for j in r if j in self.crew_of}
        gids = {self.crew_of[j] for j in served}
        return all(all(j in served for j in self.crew_members[g]) for g in gids)

    # ------------------------------------------------------------------ parts

    def construct(self, deadline: float) -> None:
        """Build every part's routes with VROOM, most urgent first, each with its share of the
        time left until ``deadline``; the first part is built whatever the time."""
        parts = sorted(
            (p for c in self.components for p in zones(self.matrix, *c, self.screening, self.problem)),
            key=lambda p: (-p.urgency, -len(p.jobs)),
        )
        left = sum(len(p.jobs) for p in parts)
        scale = 1.0  # VROOM's measured time over the estimate, as parts are built
        within = self._crews_first(time.monotonic() + CREWS_FIRST_SHARE * max(0.0, deadline - time.monotonic()))
        for k, part in enumerate(parts):
            began = time.monotonic()
            share = max(0.0, deadline - began) * len(part.jobs) / max(left, 1)
            left -= len(part.jobs)
            effort = vroom_effort(len(part.technicians), len(part.jobs), share, scale)
            if effort is None:
                if k > 0:
                    log.info("search: no time to build %d part(s) of %d jobs", len(parts) - k, left + len(part.jobs))
                    break
                effort = (0, 0.0)  # the first part whatever the time: a plan is never empty
            exploration, timeout = effort
            routes = vroom_routes(
                self.problem,
                self.matrix,
                self.screening,
                part.technicians,
                part.jobs,
                exploration=exploration,
                timeout=timeout,
                within=within,
            )
            # VROOM searches until its timeout once its first local optima are reached: time past both
            # says the estimate is low for this day.
            expected = max(
                timeout, vroom_time(len(part.technicians), len(part.jobs), exploration, searched=timeout > 0)
            )
            scale = min(8.0, max(scale, (time.monotonic() - began) / max(expected, 1e-3)))
            self.stats["parts"] += 1
            for v, route in (routes or {}).items():
                route = self.timer.apart(route)  # VROOM cannot keep a crew's members on different vans
                timing = self.timer.timing(v, route)
                if timing is not None:
                    self._set(v, route, timing)
                else:
                    log.warning("search: VROOM's route for technician %d has no timing here; left out", v)
        if self.on_improvement is not None:
            self.on_improvement()

    # ------------------------------------------------------------------ neighbourhoods

    def improve(self, deadline: float) -> None:
        """Re-solve neighbourhoods until ``deadline`` (a neighbourhood is started only while the
        time one took on average is left), or until the search has stalled (``STALL_PER_TECHNICIAN``)."""
        spent, tries, stalled = 0.0, 0, 0
        every = max(CREW_ROUND_MIN, CREW_ROUND_SHARE * (deadline - time.monotonic()))
        crews_at = time.monotonic() + every
        stall = STALL_PER_TECHNICIAN * max(1, sum(1 for v in self.routes if self.timer.bounds[v] is not None))
        stall = max(STALL_MIN, stall)
        while True:
            now = time.monotonic()
            average = spent / tries if tries else 0.05
            if now + average > deadline:
                break
            if stalled >= stall:
                log.info(
                    "search: %d moves in a row found nothing better: stopped %.1f s early", stalled, deadline - now
                )
                break
            before = self.objective.key(self.served(), self.cost())
            if self.crew_members and now >= crews_at:
                self.crews(until=now + CREW_ROUND_SHARE * max(0.0, deadline - now))
                crews_at = time.monotonic() + every
            busy = [v for v, r in self.routes.items() if r]
            if busy and self.objective.priced_days and self.rng.random() < RELOCATE_SHARE:
                self._relocate(self._longest_day(busy) if self.rng.random() < 0.5 else self.rng.choice(busy))
            else:
                hood = self._neighbourhood()
                if hood is None:
                    break
                self._resolve(hood, timeout=min(NEIGHBOURHOOD_TIMEOUT, max(0.0, deadline - now - average)))
            spent += time.monotonic() - now
            tries += 1
            stalled = stalled + 1 if self.objective.key(self.served(), self.cost()) >= before else 0
        log.debug("search: %s, re-plan modes %s", self.stats, self.modes)

    def _neighbourhood(self) -> _Hood | None:
        """Routes to re-solve, the unserved jobs to offer them, and how (see ``vroom_routes``)."""
        late = self._late_emergencies()
        unserved = [j for j in self.unserved() if j not in self.crew_of]  # crews are placed together (crews)
        balancing = False
        busy = [v for v, r in self.routes.items() if r]
        fresh = (
            [j for v in busy for j in self.routes[v] if j not in self.objective.owner] if self.objective.stable else []
        )
        draw = self.rng.random()
        within: dict[int, tuple[int, int]] = {}
        seed: int | None = None
        if late and draw < 0.25:
            seed = self.rng.choice(late)
            self.emergency_attempts[seed] = self.emergency_attempts.get(seed, 0) + 1
            delay = self._start(seed) - self.objective.earliest[seed]
            within[seed] = (0, self.objective.earliest[seed] + delay // 2)
        elif unserved and (draw < 0.5 or not busy):
            seed = self._pick_unserved(unserved)
        elif fresh and draw < 0.6:
            seed = self.rng.choice(fresh)  # a re-plan's new work: where it went is not promised yet
        elif not busy:
            return None
        if seed is not None:
            techs = self._nearest(self.screening.eligible[seed], [self.matrix.job_point(seed)], self._size())
            owner = next((v for v in busy if seed in self.routes[v]), None)
        elif balancing := self._balancing():
            # One of the longest days of a part of the day with one of its shortest (an idle technician
            # of the part included), and whoever is nearest the long one: re-solved with capped days.
            owner = self._longest_day(busy)
            part = self.components[self.component_of[owner]][0]
            short = self.rng.choice(sorted((v for v in part if v != owner), key=self._load)[:2] or [owner])
            techs = list(dict.fromkeys([owner, short, *self._nearest(part, self._points(owner), self._size())]))
            techs = techs[: max(2, self._size())]
        else:
            owner = self.rng.choice(busy)
            techs = self._nearest(self.components[self.component_of[owner]][0], self._points(owner), self._size())
        if owner is not None and owner not in techs:
            techs[-1] = owner
        chosen = set(techs)
        routed = sum(len(self.routes[v]) for v in techs)
        candidates = [j for j in unserved if j != seed and chosen.intersection(self.screening.eligible[j])]
        extra = self._closest_jobs(candidates, techs, max(4, NEIGHBOURHOOD_JOBS - routed))
        if seed in unserved:
            extra = [seed, *extra]
        for v in techs:
            for j in self.routes[v]:
                if (
                    j not in within
                    and self.objective.priority[j] is Priority.EMERGENCY
                    and self.objective.emergency_weight
                ):
                    within[j] = (0, self._start(j) + EMERGENCY_SLACK)
        allowed: dict[int, list[int]] = {}
        held = self.objective.stable and self._hold()
        if held:
            # Hold commitments: each committed job stays with its technician, in its promised window.
            for v in techs:
                for j in self.routes[v]:
                    owner = self.objective.owner.get(j)
                    if owner is not None and owner in chosen:
                        allowed[j] = [owner]
                    window = self.objective.window.get(j)
                    if window is not None and j not in within:
                        within[j] = window
        for v in techs:
            for j in self.routes[v]:
                if j in self.pins:  # a crew's member keeps the start its crew shares
                    lo, hi = within.get(j, (self.pins[j], self.pins[j]))
                    within[j] = (max(lo, self.pins[j]), min(hi, self.pins[j]))
        capped = self.objective.priced_days and (balancing or self.rng.random() < 0.5)
        caps = self._caps(techs, extra) if capped else {}
        return _Hood(techs, extra, within, allowed, "held" if held else "free", caps)

    def _relocate(self, v: int) -> None:
        """Move one visit off technician ``v``'s day to wherever it costs least (``Insertion``), if
        that lowers the objective: VROOM prices neither overtime nor an uneven day, so the
        neighbourhoods alone rarely propose this."""
        self.stats["relocations"] = self.stats.get("relocations", 0) + 1
        if self._insertion is None:
            self._insertion = Insertion(self.problem, self.matrix, self.screening, self.objective, self.timer)
        route = self.routes[v]
        for j in self.rng.sample(route, len(route)):
            rest = [k for k in route if k != j]
            timing = self.timer.timing(v, rest)
            if timing is None:
                continue
            routes, costs = dict(self.routes), dict(self.costs)
            routes[v], costs[v] = rest, self.objective.route_cost(v, rest, timing)
            best = self._insertion.best_insertion(j, routes, costs)
            if best is None:
                continue
            u, new, cost, _ = best
            if sum(costs.values()) - costs[u] + cost >= self.cost():
                continue
            new_timing = self.timer.timing(u, new)
            if new_timing is None:
                continue
            if u != v:
                self._set(v, rest, timing)
            self._set(u, new, new_timing)
            self.stats["improved"] += 1
            if self.on_improvement is not None:
                self.on_improvement()
            return

    def _balancing(self) -> bool:
        """Whether the next neighbourhood is drawn around one of the longest days (half of them
        when the day is balanced)."""
        return self.objective.balance is not Balance.NONE and self.rng.random() < 0.5

    def _load(self, v: int) -> int:
        """Technician ``v``'s day as balance measures it (without balance: its overtime)."""
        if self.objective.balance is Balance.JOB_COUNT:
            return len(self.routes[v])
        timing = self.timings.get(v)
        if timing is None or not self.routes[v]:
            return 0
        if self.objective.balance is Balance.NONE:
            return max(0, timing.end - self.objective.shift_end[v])
        return timing.end - timing.depart

    def _longest_day(self, busy: list[int]) -> int:
        """One of the two longest days of a random part of the day (technicians who share jobs: work
        moves only between them)."""
        part = self.rng.choice(sorted({self.component_of[v] for v in busy}))
        return self.rng.choice(
            sorted((v for v in busy if self.component_of[v] == part), key=self._load, reverse=True)[:2]
        )

    def _caps(self, techs: list[int], extra: list[int]) -> dict[int, tuple[int | None, int | None]]:
        """Days VROOM is asked to keep to in a neighbourhood: back by the shift end (no overtime),
        and with balance, no longer than the neighbourhood's average day (plus up to an hour, at
        random: sharing work adds drives) or no more than its average visit count (plus 0 or 1)."""
        obj = self.objective
        caps: dict[int, tuple[int | None, int | None]] = {}
        jobs = sum(len(self.routes[v]) for v in techs) + len(extra)
        work = sum(self._load(v) for v in techs) + sum(self.problem.jobs[j].service_duration for j in extra)
        for v in techs:
            latest: int | None = obj.shift_end[v] if obj.overtime_rate[v] else None
            most: int | None = None
            if obj.balance is Balance.WORK_TIME:
                timing, bounds = self.timings.get(v), self.timer.bounds[v]
                depart = timing.depart if timing is not None and self.routes[v] else bounds[0] if bounds else 0
                cap = depart + work // len(techs) + self.rng.randrange(3600)
                latest = cap if latest is None else min(latest, cap)
            elif obj.balance is Balance.JOB_COUNT:
                most = -(-jobs // len(techs)) + self.rng.randrange(2)
            caps[v] = (latest, most)
        return caps

    def _hold(self) -> bool:
        """Whether the next re-plan neighbourhood holds its commitments: as often as holding has
        paid off so far, against not holding (both start even)."""
        rate = {mode: (won + 1) / (tried + 2) for mode, (won, tried) in self.modes.items()}
        return self.rng.random() < rate["held"] / (rate["held"] + rate["free"])

    def _resolve(self, hood: _Hood, *, timeout: float) -> None:
        """Re-solve the neighbourhood's routes with its unserved jobs; keep the result if better."""
        self.stats["neighbourhoods"] += 1
        self.modes[hood.mode][1] += 1
        techs = hood.technicians
        old_jobs = [j for v in techs for j in self.routes[v]]
        jobs = old_jobs + hood.extra
        exploration = MAX_EXPLORATION if len(jobs) <= 40 else 3
        key = (frozenset(techs), frozenset(jobs))
        noise = (NOISE, self.rng.randrange(1 << 30)) if key in self.seen else None
        self.seen.add(key)
        new = vroom_routes(
            self.problem,
            self.matrix,
            self.screening,
            techs,
            jobs,
            exploration=exploration,
            timeout=timeout,
            within=hood.within,
            allowed=hood.allowed,
            noise=noise,
            caps=hood.caps,
        )
        if new is None:
            return
        timings = {}
        new = {v: self.timer.apart(r) for v, r in new.items()}
        for v in techs:
            timing = self.timer.timing(v, new.get(v, []))
            if timing is None:
                log.debug("search: VROOM's route for technician %d has no timing here", v)
                return
            timings[v] = timing
        if not self._whole(techs, new):
            return
        old = self.objective.key(old_jobs, sum(self.costs[v] for v in techs))
        cost = sum(self.objective.route_cost(v, new.get(v, []), timings[v]) for v in techs)
        better = self.objective.key([j for v in techs for j in new.get(v, [])], cost)
        if better >= old:
            return
        for v in techs:
            self._set(v, new.get(v, []), timings[v])
        self.stats["improved"] += 1
        self.modes[hood.mode][0] += 1
        if self.on_improvement is not None:
            self.on_improvement()

    # ------------------------------------------------------------------ helpers

    def _size(self) -> int:
        return self.rng.randint(*NEIGHBOURHOOD_ROUTES)

    def _points(self, v: int) -> list[int]:
        m = self.matrix
        return [m.start_point(v), *(m.job_point(j) for j in self.routes[v])]

    def _nearest(self, candidates: Sequence[int], points: list[int], k: int) -> list[int]:
        """The ``k`` technicians of ``candidates`` whose start or visits are closest to ``points``."""
        candidates = list(dict.fromkeys(candidates))
        if len(candidates) <= k:
            return candidates
        theirs, owner = [], []
        for i, v in enumerate(candidates):
            pts = self._points(v)
            theirs += pts
            owner += [i] * len(pts)
        d = self.matrix.durations[np.ix_(np.asarray(points), np.asarray(theirs))].min(axis=0)
        closest = np.full(len(candidates), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(closest, np.asarray(owner), d)
        order = np.argsort(closest + self._jitter(len(candidates), closest), kind="stable")
        return [candidates[i] for i in order[:k]]

    def _jitter(self, n: int, d: np.ndarray) -> np.ndarray:
        """Up to a tenth of each distance at random, so neighbourhoods around one place vary."""
        return np.asarray([int(x * 0.1 * self.rng.random()) for x in d], dtype=np.int64)

    def _closest_jobs(self, jobs: list[int], techs: list[int], k: int) -> list[int]:
        if len(jobs) <= k:
            return jobs
        points = [p for v in techs for p in self._points(v)]
        m = self.matrix
        d = m.durations[np.ix_(np.asarray(points), np.asarray([m.job_point(j) for j in jobs]))].min(axis=0)
        urgency = np.asarray([-int(self.objective.priority[j]) for j in jobs])
        order = np.lexsort((d, urgency))
        return [jobs[i] for i in order[:k]]

    def _pick_unserved(self, unserved: list[int]) -> int:
        """An unserved job, the more urgent the likelier."""
        weights = [4 ** int(self.objective.priority[j]) for j in unserved]
        return self.rng.choices(unserved, weights=weights)[0]

    def _start(self, j: int) -> int:
        for v, route in self.routes.items():
            if j in route:
                timing = self.timings[v]
                assert timing is not None
                return timing.starts[route.index(j)]
        raise KeyError(j)

    def _late_emergencies(self) -> list[int]:
        if not self.objective.emergency_weight:
            return []
        out = []
        for v, route in self.routes.items():
            timing = self.timings.get(v)
            for j, start in zip(route, timing.starts if timing else [], strict=False):
                if (
                    self.objective.priority[j] is Priority.EMERGENCY
                    and start - self.objective.earliest[j] > EMERGENCY_SLACK
                    and self.emergency_attempts.get(j, 0) < EMERGENCY_ATTEMPTS
                ):
                    out.append(j)
        return out


# ---------------------------------------------------------------------------- parts of the day


def components(screening: Screening, technicians: int) -> list[tuple[list[int], list[int]]]:
    """Technicians and jobs in independent groups: no job of one group may go to a technician
    of another (union-find over each job's eligible technicians). Idle-only technicians
    (eligible for nothing) are left out."""
    parent = list(range(technicians))

    def find(v: int) -> int:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for eligible in screening.eligible:
        for v in eligible[1:]:
            a, b = find(eligible[0]), find(v)
            if a != b:
                parent[b] = a
    techs: dict[int, list[int]] = {}
    jobs: dict[int, list[int]] = {}
    for j, eligible in enumerate(screening.eligible):
        if eligible:
            jobs.setdefault(find(eligible[0]), []).append(j)
    for v in range(technicians):
        if find(v) in jobs:
            techs.setdefault(find(v), []).append(v)
    return [(techs[root], jobs[root]) for root in sorted(jobs)]


def zones(
    matrix: DayMatrix, technicians: list[int], jobs: list[int], screening: Screening, problem: Problem
) -> list[Part]:
    """``technicians`` and ``jobs`` in parts of at most about ``MAX_PART_JOBS`` jobs: zones around
    technicians' homes spread far apart (farthest-point seeds), each technician in the zone of
    the nearest seed, each job in the zone of its nearest eligible technician."""
    k = math.ceil(len(jobs) / MAX_PART_JOBS)
    if k <= 1:
        return [Part(tuple(technicians), tuple(jobs), _urgency(problem, jobs))]
    homes = np.asarray([matrix.start_point(v) for v in technicians])
    d = matrix.durations[np.ix_(homes, homes)]
    d = d + d.T
    seeds = [0]
    far = d[0].copy()
    for _ in range(min(k, len(technicians)) - 1):
        nxt = int(np.argmax(far))
        seeds.append(nxt)
        far = np.minimum(far, d[nxt])
    zone_of = {v: int(np.argmin(d[i, seeds])) for i, v in enumerate(technicians)}
    points = np.asarray([matrix.job_point(j) for j in jobs])
    reach = matrix.durations[np.ix_(homes, points)]
    row = {v: i for i, v in enumerate(technicians)}
    members: dict[int, list[int]] = {}
    for c, j in enumerate(jobs):
        nearest = min(screening.eligible[j], key=lambda v: reach[row[v], c])
        members.setdefault(zone_of[nearest], []).append(j)
    out = []
    for z in sorted(members):
        crew = [v for v in technicians if zone_of[v] == z]
        out.append(Part(tuple(crew), tuple(members[z]), _urgency(problem, members[z])))
    return out


def _urgency(problem: Problem, jobs: Sequence[int]) -> int:
    return max((int(problem.jobs[j].priority) for j in jobs), default=0)


def vroom_time(technicians: int, jobs: int, exploration: int, *, searched: bool) -> float:
    """Seconds VROOM takes at least on a part: its candidate solutions built, and (``searched``)
    each taken to its first local optimum -- its ``timeout`` is only looked at after that."""
    candidates = 4 * (exploration + 1) + (4 if exploration >= 4 else 0) + (4 if exploration >= MAX_EXPLORATION else 0)
    per_candidate = SEARCH_COST if searched else CONSTRUCTION_COST
    return candidates * per_candidate * jobs * jobs * max(technicians, 1)


def vroom_effort(technicians: int, jobs: int, seconds: float, scale: float = 1.0) -> tuple[int, float] | None:
    """``(exploration, timeout)`` for VROOM to build a part in about ``seconds``: the highest level
    whose first local optima fit (``scale``: measured over estimated so far), else the lowest level
    without a local search; ``None`` if not even that fits."""
    for level in range(MAX_EXPLORATION, -1, -1):
        if scale * vroom_time(technicians, jobs, level, searched=True) <= seconds:
            return level, seconds
    if scale * vroom_time(technicians, jobs, 0, searched=False) <= seconds:
        return 0, 0.0
    return None
