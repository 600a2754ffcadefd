"""The one objective every search and every comparison of plans uses, in plain Python.

Plans are compared lexicographically: more EMERGENCY jobs served, then HIGH, then NORMAL, then
LOW; then (re-plans) more of the customers who were told an ETA kept, so a promised job is
dropped only for more urgent work or when no feasible plan keeps it; then the lower cost. The cost is the travel time plus, per visit:

- ``emergency_weight`` per second an EMERGENCY job starts after the earliest moment any
  qualified technician could start it (``Screening.earliest``): the nearest free technician
  goes unless that breaks a promise or drops work;
- in re-plans, ``reassign_penalty`` for a committed job given to another technician, and
  ``promise_weight`` per second its service starts outside the promised window;
- ``reassign_penalty`` for a job served by none of its ``preferred_technician_ids``;

and, per route (a technician with no visit costs nothing):

- overtime: each second back past the shift end at the technician's ``Overtime.cost_per_hour``
  over ``travel_cost_per_hour`` (an hour of overtime at 90 when driving costs 60 weighs as 1.5 h
  of driving);
- balance (``options.balance``, ``balance_weight`` w): a convex price on each working day, so the
  cheapest way to carry the same work is to spread it. ``WORK_TIME``: w x work^2 / 28,800 s (work,
  departure to return, in seconds): an hour moved from a day 2 h longer than another saves
  w x 15 min. ``JOB_COUNT``: w x 300 s x visits^2: a visit moved from a route with two more visits
  than another saves w x 10 min.

OR-Tools' model (``dispatch.solver.model``) prices the same things, its drop penalties being
the lexicographic order in one number (``priority_penalties``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dispatch.domain import Balance, Plan, Priority, Problem, Technician, may_serve
from dispatch.solver.schedule import Timing
from dispatch.solver.screen import Screening

#: Priorities from the most to the least urgent: the order served counts are compared in.
URGENCY = tuple(sorted(Priority, reverse=True))
INT64_SAFE = 1 << 60
#: Balance: WORK_TIME costs weight x work^2 / this (seconds); JOB_COUNT weight x this x visits^2.
WORK_TIME_SCALE = 28_800
JOB_COUNT_SCALE = 300
#: The most an overtime second may weigh against a second of driving.
MAX_OVERTIME_RATE = 1_000.0


def preferences(problem: Problem) -> dict[int, frozenset[int]]:
    """Job index -> the technician indices (each shift of a technician named) it prefers."""
    out = {}
    for j, job in enumerate(problem.jobs):
        if job.preferred_technician_ids:
            out[j] = frozenset(
                v
                for v, t in enumerate(problem.technicians)
                if any(may_serve(p, t.id) for p in job.preferred_technician_ids)
            )
    return out


def overtime_rate(tech: Technician, travel_cost_per_hour: float) -> float:
    """What a second past ``tech``'s shift end costs, in seconds of driving."""
    if tech.overtime is None or tech.overtime.cost_per_hour <= 0:
        return 0.0
    return min(MAX_OVERTIME_RATE, tech.overtime.cost_per_hour / travel_cost_per_hour)


@dataclass(frozen=True)
class Objective:
    """What serving job ``j`` costs besides the travel, and how plans compare."""

    priority: tuple[Priority, ...]  # per job index
    earliest: tuple[int, ...]  # per job index: Screening.earliest
    emergency_weight: int
    owner: dict[int, int]  # job index -> committed technician index
    window: dict[int, tuple[int, int]]  # job index -> promised service-start window
    reassign_penalty: int
    promise_weight: int
    shift_end: tuple[int, ...] = ()  # per technician index
    overtime_rate: tuple[float, ...] = ()  # per technician index: cost per second past shift_end
    balance: Balance = Balance.NONE
    balance_weight: float = 0.0
    preferred: dict[int, frozenset[int]] = field(default_factory=dict)  # job index -> technician indices

    @classmethod
    def of(cls, problem: Problem, screening: Screening) -> Objective:
        techs, jobs = problem.technician_index, problem.job_index
        owner, window = {}, {}
        for c in problem.commitments:
            j = jobs.get(c.job_id)
            if j is None:
                continue
            if c.technician_id in techs:
                owner[j] = techs[c.technician_id]
            if c.window is not None:
                window[j] = (c.window.start, c.window.end)
        options = problem.options
        return cls(
            priority=tuple(job.priority for job in problem.jobs),
            earliest=tuple(screening.earliest),
            emergency_weight=options.emergency_weight,
            owner=owner,
            window=window,
            reassign_penalty=options.reassign_penalty,
            promise_weight=options.promise_weight,
            shift_end=tuple(t.shift.end for t in problem.technicians),
            overtime_rate=tuple(overtime_rate(t, options.travel_cost_per_hour) for t in problem.technicians),
            balance=options.balance if options.balance_weight > 0 else Balance.NONE,
            balance_weight=options.balance_weight,
            preferred=preferences(problem),
        )

    @property
    def stable(self) -> bool:
        """Whether re-plan stability costs apply (the problem has commitments)."""
        return bool(self.owner or self.window)

    def visit_cost(self, v: int, j: int, start: int) -> int:
        """What job ``j`` served by technician ``v`` from ``start`` costs besides the drive."""
        cost = 0
        if self.emergency_weight and self.priority[j] is Priority.EMERGENCY:
            cost += self.emergency_weight * max(0, start - self.earliest[j])
        owner = self.owner.get(j)
        if owner is not None and owner != v:
            cost += self.reassign_penalty
        liked = self.preferred.get(j)
        if liked is not None and v not in liked:
            cost += self.reassign_penalty
        w = self.window.get(j)
        if w is not None:
            cost += self.promise_weight * (max(0, start - max(w[1], 0)) + max(0, w[0] - start) * (w[0] > 0))
        return cost

    def day_cost(self, v: int, depart: int, end: int, visits: int) -> int:
        """What technician ``v``'s working day (``visits`` visits, out from ``depart`` to ``end``)
        costs besides its drives and visits: overtime and balance."""
        cost = 0.0
        if self.overtime_rate and self.overtime_rate[v]:
            cost += self.overtime_rate[v] * max(0, end - self.shift_end[v])
        if self.balance is Balance.WORK_TIME:
            cost += self.balance_weight * (end - depart) ** 2 / WORK_TIME_SCALE
        elif self.balance is Balance.JOB_COUNT:
            cost += self.balance_weight * JOB_COUNT_SCALE * visits**2
        return round(cost)

    @property
    def priced_days(self) -> bool:
        """Whether a route's length costs more than its drives (overtime or balance)."""
        return self.balance is not Balance.NONE or any(self.overtime_rate)

    def route_cost(self, v: int, route: Sequence[int], timing: Timing) -> int:
        """Travel (the way back included) plus the visits' and the day's costs; an idle technician
        costs nothing."""
        if not route:
            return 0
        visits = sum(self.visit_cost(v, j, s) for j, s in zip(route, timing.starts, strict=True))
        return timing.travel + visits + self.day_cost(v, timing.depart, timing.end, len(route))

    @property
    def promised(self) -> frozenset[int]:
        """The jobs whose customers were told an ETA (re-plans): they have a commitment."""
        return frozenset(self.owner) | frozenset(self.window)

    def served(self, jobs: Iterable[int]) -> tuple[int, int, int, int]:
        """How many of ``jobs`` are EMERGENCY, HIGH, NORMAL, LOW."""
        counts = dict.fromkeys(URGENCY, 0)
        for j in jobs:
            counts[self.priority[j]] += 1
        return tuple(counts[p] for p in URGENCY)  # type: ignore[return-value]

    def key(self, jobs: Iterable[int], cost: int) -> tuple[int, ...]:
        """Lower is better: the served counts (negated, most urgent first), the promised jobs
        served (negated), then the cost."""
        jobs = list(jobs)
        kept = len(self.promised.intersection(jobs)) if self.stable else 0
        return (*(-c for c in self.served(jobs)), -kept, cost)

    def plan_cost(self, problem: Problem, plan: Plan) -> int:
        """Travel plus the visits' costs of a plan of ``problem`` (built from any source)."""
        index, techs = problem.job_index, problem.technician_index
        cost = plan.stats.total_travel_duration
        for route in plan.routes:
            v = techs[route.technician_id]
            for visit in route.visits:
                cost += self.visit_cost(v, index[visit.job_id], visit.start)
            if route.visits:
                cost += self.day_cost(v, route.start, route.end, len(route.visits))
        return cost


def plan_score(problem: Problem, plan: Plan, objective: Objective) -> tuple[int, ...]:
    """Lower is better, compared lexicographically: unassigned jobs by priority (EMERGENCY first),
    then promised jobs unassigned, then travel plus the visits' costs -- the solver's objective
    (``Objective.key``), for plans from any source."""
    prio = {j.id: j.priority for j in problem.jobs}
    dropped = [sum(1 for u in plan.unassigned if prio.get(u.job_id) is p) for p in URGENCY]
    promised = {c.job_id for c in problem.commitments}
    broken = sum(1 for u in plan.unassigned if u.job_id in promised)
    return (*dropped, broken, objective.plan_cost(problem, plan))


def drop_penalties(problem: Problem, screening: Screening, max_arc: int, *, stable: bool) -> dict[Priority, int]:
    """The drop penalty of each priority for the jobs that passed ``screening``, ``max_arc`` the
    longest drive between the day's points (``priority_penalties``), with room for the emergency
    term and, when ``stable`` (a re-plan), the stability costs."""
    counts: dict[Priority, int] = {}
    for j, job in enumerate(problem.jobs):
        if screening.eligible[j]:
            counts[job.priority] = counts.get(job.priority, 0) + 1
    options = problem.options
    horizon = screening.horizon
    extra = options.reassign_penalty + options.promise_weight * horizon if stable else 0
    if any(job.preferred_technician_ids for job in problem.jobs):
        extra += options.reassign_penalty
    if counts.get(Priority.EMERGENCY):
        extra += options.emergency_weight * horizon
    # A job served can lengthen a day into overtime, and (balance) make its working day dearer.
    extra += math.ceil(
        max([0.0, *(overtime_rate(t, options.travel_cost_per_hour) for t in problem.technicians)]) * horizon
    )
    if options.balance is Balance.WORK_TIME:
        extra += math.ceil(options.balance_weight * horizon**2 / WORK_TIME_SCALE)
    elif options.balance is Balance.JOB_COUNT:
        extra += math.ceil(options.balance_weight * JOB_COUNT_SCALE * (2 * sum(counts.values()) + 1))
    return priority_penalties(counts, max(1, max_arc), extra)


def priority_penalties(counts: dict[Priority, int], max_arc: int, extra: int = 0) -> dict[Priority, int]:
    """Drop penalties, lexicographic by priority.

    Serving any job is worth more than the detour it costs (at most two arcs, plus
    ``extra``: the most its other costs can add -- the emergency term, and in a re-plan the
    stability costs), and dropping one job costs more than dropping every lower-priority job
    plus all travel, so an EMERGENCY is dropped only when no feasible insertion exists, then
    HIGH before NORMAL before LOW. When the exact rule would overflow int64 (thousands of jobs
    and very long arcs), each level outweighs only ``cap`` jobs of the levels below, with
    ``cap`` halved until dropping every job still fits.
    """
    n_total = sum(counts.values())
    per_job = 2 * max_arc + extra
    travel_bound = (n_total + 1) * per_job + 1
    cap = n_total
    while True:
        penalties: dict[Priority, int] = {}
        lower = travel_bound
        for prio in sorted(Priority):
            penalties[prio] = lower + (per_job + 1 if prio is Priority.LOW else 0)
            lower += min(counts.get(prio, 0), cap) * penalties[prio]
        total = travel_bound + sum(counts.get(p, 0) * penalties[p] for p in Priority)
        if total < INT64_SAFE or cap <= 1:
            return penalties
        cap //= 2
