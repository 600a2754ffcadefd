"""The OR-Tools routing model of a dispatch day: one ``add_<constraint>()`` per rule family.

Only this package imports OR-Tools. Nodes are the technicians' start and end
points (``2 v``, ``2 v + 1``) followed by the jobs that passed screening; ``Model``
holds the one mapping between job indices, matrix points and solver nodes.
Transit data goes in as matrices and vectors, never as Python callbacks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from ortools.constraint_solver import pywrapcp

from dispatch.domain import Priority, Problem
from dispatch.matrix import DayMatrix
from dispatch.solver.objective import drop_penalties
from dispatch.solver.screen import Screening, pending_breaks, service_windows, shift_bounds

TIME = "time"
MOVED = "moved"
PART_PREFIX = "part:"


@dataclass
class Model:
    problem: Problem
    matrix: DayMatrix
    screening: Screening
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    points: list[int]  # node -> matrix point
    job_of_node: dict[int, int]  # node -> job index (jobs in the model only)
    breaks: dict[int, list[pywrapcp.IntervalVar]] = field(default_factory=dict)
    penalties: dict[Priority, int] = field(default_factory=dict)
    #: True when re-plan stability costs are in the objective (``add_stability``).
    stable: bool = False

    @property
    def time(self) -> pywrapcp.RoutingDimension:
        return self.routing.GetDimensionOrDie(TIME)

    def job_index(self, job: int) -> int:
        """Routing index of a job in the model."""
        return int(self.manager.NodeToIndex(self.node_of_job[job]))

    @property
    def node_of_job(self) -> dict[int, int]:
        return {j: n for n, j in self.job_of_node.items()}


def build(problem: Problem, matrix: DayMatrix, screening: Screening) -> Model:
    """Build the routing model for every job that passed ``screening``."""
    m = len(problem.technicians)
    jobs = [j for j in range(len(problem.jobs)) if screening.eligible[j]]
    points = [p for v in range(m) for p in (matrix.start_point(v), matrix.end_point(v))]
    points += [matrix.job_point(j) for j in jobs]
    manager = pywrapcp.RoutingIndexManager(len(points), m, [2 * v for v in range(m)], [2 * v + 1 for v in range(m)])
    model = Model(
        problem=problem,
        matrix=matrix,
        screening=screening,
        manager=manager,
        routing=pywrapcp.RoutingModel(manager),
        points=points,
        job_of_node={2 * m + k: j for k, j in enumerate(jobs)},
    )
    travel = _travel_matrix(model)
    add_travel_cost(model, travel)
    add_time(model, travel)
    add_breaks(model)
    add_qualifications(model)
    add_parts(model)
    add_stability(model)
    add_emergency_response(model)
    add_priorities(model, travel)
    return model


def _travel_matrix(model: Model) -> np.ndarray:
    """Node-to-node travel seconds; an idle technician's start->end arc costs nothing. A pair with
    no route (``UNREACHABLE``) becomes one second past the horizon: never driven, and it does not
    inflate the drop penalties, which scale with the longest arc."""
    idx = np.asarray(model.points, dtype=np.int64)
    travel: np.ndarray = np.minimum(model.matrix.durations[np.ix_(idx, idx)], model.screening.horizon + 1)
    for v in range(len(model.problem.technicians)):
        travel[2 * v, 2 * v + 1] = 0  # unused route: the technician does not drive
    return travel


def add_travel_cost(model: Model, travel: np.ndarray) -> None:
    """The objective is total travel time (plus drop penalties, see ``add_priorities``)."""
    cost = model.routing.RegisterTransitMatrix(travel.tolist())
    model.routing.SetArcCostEvaluatorOfAllVehicles(cost)


def _service_by_node(model: Model) -> list[int]:
    service = [0] * len(model.points)
    for node, j in model.job_of_node.items():
        service[node] = model.problem.jobs[j].service_duration
    return service


def add_time(model: Model, travel: np.ndarray) -> None:
    """Service starts inside an arrival window (waiting allowed) and within ``respond_within``;
    each technician leaves no earlier than shift start and is back by shift end."""
    horizon = model.screening.horizon
    service = np.asarray(_service_by_node(model), dtype=np.int64)
    transit = model.routing.RegisterTransitMatrix((travel + service[:, None]).tolist())
    model.routing.AddDimension(transit, horizon, horizon, False, TIME)
    time = model.time
    for node, j in model.job_of_node.items():
        windows = service_windows(model.problem.jobs[j], horizon)
        cumul = time.CumulVar(model.manager.NodeToIndex(node))
        cumul.SetRange(windows[0][0], windows[-1][1])
        for (_, b), (a, _) in itertools.pairwise(windows):
            cumul.RemoveInterval(b + 1, a - 1)
    for v, tech in enumerate(model.problem.technicians):
        lo, hi = shift_bounds(tech) or (0, 0)
        time.CumulVar(model.routing.Start(v)).SetRange(lo, hi)
        time.CumulVar(model.routing.End(v)).SetRange(lo, hi)
    # Earliest service starts and returns; then the latest departure that keeps them.
    for node in model.job_of_node:
        model.routing.AddVariableMinimizedByFinalizer(time.CumulVar(model.manager.NodeToIndex(node)))
    for v in range(len(model.problem.technicians)):
        model.routing.AddVariableMinimizedByFinalizer(time.CumulVar(model.routing.End(v)))
    for v in range(len(model.problem.technicians)):
        model.routing.AddVariableMaximizedByFinalizer(time.CumulVar(model.routing.Start(v)))


def add_breaks(model: Model) -> None:
    """Each break lies inside its window and never during a service; it may fall before
    departure, after the return, or interrupt a drive. A break whose window has passed is history."""
    solver = model.routing.solver()
    service = _service_by_node(model)
    visit_transit = [0] * model.routing.Size()
    for index in range(model.routing.Size()):
        visit_transit[index] = service[model.manager.IndexToNode(index)]
    for v, tech in enumerate(model.problem.technicians):
        intervals = []
        for k, brk in enumerate(pending_breaks(tech)):
            earliest, latest = max(brk.window.start, 0), brk.window.end - brk.duration
            intervals.append(solver.FixedDurationIntervalVar(earliest, latest, brk.duration, False, f"break {v} {k}"))
        if intervals:
            model.time.SetBreakIntervalsOfVehicle(intervals, v, visit_transit)
            model.breaks[v] = intervals


def add_qualifications(model: Model) -> None:
    """Skills, tools, pins and van stock are hard: a job goes only to an eligible technician."""
    m = len(model.problem.technicians)
    for node, j in model.job_of_node.items():
        vehicles = model.screening.eligible[j]
        if len(vehicles) < m:
            # SetAllowedVehiclesForIndex's absl::Span argument takes no Python sequence in the
            # 9.15 SWIG wrapper (TypeError); the vehicle variable's domain is the same rule
            # (-1: the job may still be dropped).
            model.routing.VehicleVar(model.manager.NodeToIndex(node)).SetValues([-1, *vehicles])


def add_parts(model: Model) -> None:
    """One capacity dimension per part type: a route uses at most the van's stock."""
    names = sorted({p for j in model.job_of_node.values() for p, q in model.problem.jobs[j].required_parts if q > 0})
    for name in names:
        demand = [0] * len(model.points)
        for node, j in model.job_of_node.items():
            demand[node] = dict(model.problem.jobs[j].required_parts).get(name, 0)
        stock = [t.stock(name) for t in model.problem.technicians]
        callback = model.routing.RegisterUnaryTransitVector(demand)
        model.routing.AddDimensionWithVehicleCapacity(callback, 0, stock, True, PART_PREFIX + name)


def add_stability(model: Model) -> None:
    """Re-plans: customers keep what they were told unless changing it is worth it. A committed
    job costs ``reassign_penalty`` on another technician (a per-technician count dimension whose
    span is priced), and ``promise_weight`` per second its service starts outside the promised
    window (soft bounds). A commitment to a technician no longer in the day costs nothing to move."""
    problem, routing, manager = model.problem, model.routing, model.manager
    if not problem.commitments:
        return
    options = problem.options
    tech_index, job_index = problem.technician_index, problem.job_index
    node_of_job = model.node_of_job
    m = len(problem.technicians)
    moved = [[0] * len(model.points) for _ in range(m)]
    any_moved = False
    for c in problem.commitments:
        node = node_of_job.get(job_index.get(c.job_id, -1))
        if node is None:
            continue
        owner = tech_index.get(c.technician_id)
        if owner is not None and options.reassign_penalty > 0:
            for v in range(m):
                if v != owner:
                    moved[v][node] = 1
                    any_moved = True
        if c.window is not None and options.promise_weight > 0:
            index = manager.NodeToIndex(node)
            model.time.SetCumulVarSoftUpperBound(index, max(c.window.end, 0), options.promise_weight)
            if c.window.start > 0:
                model.time.SetCumulVarSoftLowerBound(index, c.window.start, options.promise_weight)
    if any_moved:
        callbacks = [routing.RegisterUnaryTransitVector(moved[v]) for v in range(m)]
        routing.AddDimensionWithVehicleTransits(callbacks, 0, len(model.points), True, MOVED)
        routing.GetDimensionOrDie(MOVED).SetSpanCostCoefficientForAllVehicles(options.reassign_penalty)
    model.stable = True


def add_emergency_response(model: Model) -> None:
    """An EMERGENCY job costs ``emergency_weight`` per second its service starts after the earliest
    moment any qualified technician could start it (a soft upper bound: one per variable, so for
    an emergency a re-plan promised a window this replaces the promise's upper bound)."""
    weight = model.problem.options.emergency_weight
    if weight <= 0:
        return
    for node, j in model.job_of_node.items():
        if model.problem.jobs[j].priority is Priority.EMERGENCY:
            index = model.manager.NodeToIndex(node)
            model.time.SetCumulVarSoftUpperBound(index, max(model.screening.earliest[j], 0), weight)


def add_priorities(model: Model, travel: np.ndarray) -> None:
    """Every job may be dropped, at the penalty of its priority."""
    longest = int(travel.max(initial=0))
    model.penalties = drop_penalties(model.problem, model.screening, longest, stable=model.stable)
    for node, j in model.job_of_node.items():
        penalty = model.penalties[model.problem.jobs[j].priority]
        model.routing.AddDisjunction([model.manager.NodeToIndex(node)], penalty)
