"""Memory and time of one planning request: in the server process and in its solver worker.

What it measures
----------------
For each day size (technicians x jobs) and case (travel model, kind of day, time limit), a fresh
process plays ``dispatch serve`` for one request: it starts the real solver pool
(``dispatch.bootstrap`` with one worker, started from a forkserver as in the server), reads the
request's wire bytes (a ``SolveRequest`` made beforehand by another process), parses and converts
them as the gRPC servicer does (``SolveRequest.FromString``, ``problem_from_proto``), calls
``PlanningService.solve`` and encodes the answer (``plan_to_proto``). Nothing else runs in it.

Peaks are resident memory (RSS) read from ``/proc/<pid>/status`` (``VmRSS`` now, ``VmHWM`` the
high-water mark), the mark being reset (``/proc/<pid>/clear_refs`` "5") as each phase begins, so
each phase has its own peak: numpy, protobuf, OR-Tools, VROOM and PyVRP allocate outside
``tracemalloc``. Two processes are measured:

- ``parent`` -- the server process: ``receive`` (the wire bytes), ``parse``, ``convert``,
  ``validate``, ``place`` (geocoding), ``travel matrix`` (``dispatch.matrix.day_matrix``),
  ``search (send, wait, receive)`` (pickling the problem and matrix to the worker, the plan back),
  ``retime``, ``label``, ``check``, ``day state``, ``eta events``, ``store``, ``answer``.
- ``worker`` -- the solver process: ``receive + unpickle`` (the problem and matrix), then
  ``solve`` with its parts: ``screen``, ``score``, ``vroom construct``, ``lns improve``,
  ``insertion``, ``ortools check`` (``model_refuses``), ``textbook`` (``pyvrp`` and the full
  ``ortools build``/``ortools load``), ``extract``. Its phases are recorded by the worker itself:
  the pool's worker entry is wrapped (``dispatch.solver.pool._worker_main``, in this process only)
  so that the worker writes each phase to a file as it begins and ends (a worker killed at its
  deadline leaves the phases it was in; its RSS is also sampled from outside every 0.05 s).

A process's *peak over baseline* is its high-water mark during the request less its RSS before
(the parent: service built and pool ready, nothing read yet; the worker: ready and idle, the
solver's libraries loaded). That difference is what one request costs; the baselines are what
every process costs anyway.

Cases (``--cases``, ``TRAVEL:DAY:SECONDS``):

- travel ``great_circle`` (coordinates: the server computes the matrix) or ``explicit`` (the
  request carries its own matrix, ``SolveRequest.travel_matrix``: the generated day's great-circle
  matrix over its ``jobs + 2 x technicians`` points, one row per point);
- day ``rich`` (``dispatch.examples.generate``: lunch breaks, emergencies, skills, parts: the search
  is VROOM's large neighbourhood search, OR-Tools only checks the routes, ``MODEL_CHECK_SHARE``),
  ``textbook`` (the same day without breaks and emergencies: PyVRP searches, then the full
  OR-Tools model is built and reads its routes, when PyVRP's dense matrices fit:
  ``warm_start.MAX_CELLS`` over profiles x points^2) or ``uniform`` (``textbook`` with every
  technician able to do every job and no pins: one profile, so PyVRP and the full OR-Tools model
  are used up to ~7,700 points -- the worker's worst case);
- the request's ``time_limit`` in seconds.

A run is stopped when the processes it started pass ``--max-rss-gib`` together or its wall time
passes ``--max-seconds``; the larger sizes of that case are then skipped.

How to read it
--------------
The table prints one row per run and process: peak RSS (absolute and over the baseline), that
excess per matrix cell (``B / point^2``: flat across sizes when the matrix dominates), the phase
holding the peak, and seconds (the parent: ``service.solve``, then the whole request; the worker:
its ``solve``), and the seconds of the travel matrix (parent) or of the largest OR-Tools model
built (worker). A worker killed at its deadline shows ``killed in <phases>`` and the largest RSS
sampled (every 0.05 s); its parent row shows the ``DeadlineError``. Per phase, ``--out`` (JSON)
has seconds, RSS before and after, and peak (``worker_phases``, ``parent_phases``); ``rows`` is the
table. Then a fit of the peak over baseline, all time limits together: the parent per travel
model (the kind of day does not change its work), the worker per travel model and search path
(``vroom``, or ``pyvrp+ortools``), leaving out workers killed at their deadline::

    bytes ~ a * points^2 + b * technicians * jobs + c * windows + base

``points = jobs + 2 x technicians`` (the day's matrix is points x points, ``dispatch.matrix.base``),
``windows`` the jobs' arrival windows counted one at least per job (``jobs x windows per job``).
Terms are fitted by least squares over every non-negative subset; the one kept is the best.
Compare ``a * points^2`` with the rest at the sizes you care about to see which term dominates.
The fit is only as good as the runs took one path: a worker that switches search (PyVRP and the
full OR-Tools model on small ``textbook``/``uniform`` days, VROOM on large ones or when the matrix
ate the budget) fits badly (``worst_relative_error``); read its rows per phase instead.
Seconds are wall time and move with the machine's load; memory does not.

Usage (from the repository root; Linux, for ``/proc``)::

    python benchmarks/request_memory.py
    python benchmarks/request_memory.py --sizes 10x100,25x250 --cases great_circle:rich:2 \\
        --out benchmarks/results/request_memory.json
    python benchmarks/request_memory.py --refit benchmarks/results/request_memory.json --out /tmp/again.json

The default grid (8 sizes x 6 cases) takes about 10 minutes on 2 cores and at most ~6 GB.
"""

# The library is imported where it is used: the driver stays small, and each measured process
# imports exactly what the server does.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SIZES = ("10x100", "25x250", "50x500", "100x1000", "100x2000", "200x2000", "200x3000", "500x5000")
CASES = (
    "great_circle:rich:2",
    "great_circle:rich:10",
    "explicit:rich:2",
    "great_circle:textbook:2",
    "great_circle:uniform:2",
    "great_circle:uniform:10",
)
TRAVEL = ("great_circle", "explicit")
DAYS = ("rich", "textbook", "uniform")
MIB = 1024 * 1024
#: Where the wrapped worker writes its phases (set by the measuring process, read by the worker).
WORKER_LOG_ENV = "REQUEST_MEMORY_WORKER_LOG"
#: The server's default ``max_request_bytes`` (``dispatch.config.Settings``): gRPC refuses larger requests.
GRPC_REQUEST_BYTES = 64 * MIB


# ---------------------------------------------------------------------------- /proc


def _status(pid: int | str = "self") -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of a process, in bytes (0 when unknown)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {"rss": 0, "hwm": 0}
    out = {}
    for key, name in (("VmRSS", "rss"), ("VmHWM", "hwm")):
        found = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        out[name] = int(found.group(1)) * 1024 if found else 0
    return out


def _reset_peak(pid: int | str = "self") -> bool:
    """Reset the process's ``VmHWM`` to its current RSS (Linux >= 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Phases:
    """Seconds, RSS after and peak RSS of nested phases of this process.

    The high-water mark is reset as each phase begins and ends; a phase's peak includes its
    sub-phases' (each is folded into its enclosing phase before the reset)."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        #: Called with each phase as it begins ({"enter": name}) and ends (the row).
        self.on_event = on_event
        self.rows: list[dict[str, Any]] = []
        self._stack: list[dict[str, Any]] = []
        self._seq = itertools.count()

    @contextlib.contextmanager
    def phase(self, name: str, **info: Any) -> Iterator[dict[str, Any]]:
        now = _status()
        if self._stack:
            self._stack[-1]["peak"] = max(self._stack[-1]["peak"], now["hwm"])
        _reset_peak()
        frame = {
            "phase": name,
            "seq": next(self._seq),  # the order phases began in (``rows`` is in the order they ended)
            "depth": len(self._stack),
            "rss_before": now["rss"],
            "peak": now["rss"],
            **info,
        }
        if self.on_event is not None:
            self.on_event({"enter": name, "seq": frame["seq"]})
        self._stack.append(frame)
        began = time.monotonic()
        try:
            yield frame
        finally:
            frame["seconds"] = round(time.monotonic() - began, 4)
            after = _status()
            self._stack.pop()
            frame["peak"] = max(frame["peak"], after["hwm"], after["rss"])
            frame["rss_after"] = after["rss"]
            self.rows.append(frame)
            if self.on_event is not None:
                self.on_event({"row": frame})
            if self._stack:
                self._stack[-1]["peak"] = max(self._stack[-1]["peak"], frame["peak"])
            _reset_peak()

    def wrap(self, owner: Any, attr: str, name: str, info: Callable[..., dict[str, Any]] | None = None) -> None:
        """Replace ``owner.attr`` (a function or method) by one timed as phase ``name`` (nothing if
        there is no such attribute: the code measured has moved on)."""
        original = getattr(owner, attr, None)
        if original is None:
            return

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name, **(info(*args, **kwargs) if info else {})):
                return original(*args, **kwargs)

        setattr(owner, attr, wrapped)


# ---------------------------------------------------------------------------- the requests


def parse_size(size: str) -> tuple[int, int]:
    technicians, jobs = (int(x) for x in size.lower().split("x"))
    return technicians, jobs


def make_request(size: str, travel: str, day: str, time_limit: float, path: Path) -> dict[str, Any]:
    """Write the case's ``SolveRequest`` wire bytes to ``path``; return what it holds."""
    import numpy as np
    from google.protobuf import json_format

    from dispatch.examples.generate import TRADES, generate
    from dispatch.matrix import GreatCircleProvider, problem_points
    from dispatch.server.convert import problem_from_proto
    from dispatch.v1 import dispatch_pb2 as pb

    technicians, jobs = parse_size(size)
    request = generate(technicians=technicians, jobs=jobs, seed=1, emergencies=None if day == "rich" else 0)
    if day != "rich":
        for tech in request["technicians"]:
            tech["breaks"] = []
    if day == "uniform":  # every technician can do every job: one routing profile
        skills = sorted({s for t in TRADES for s in t.skills})
        tools = sorted({x for t in TRADES for x in t.tools})
        parts = {p: 1000 for t in TRADES for p in t.parts}
        for tech in request["technicians"]:
            tech.update(skills=skills, tools=tools, parts=parts)
        for job in request["jobs"]:
            job.pop("pinned_technician_id", None)
    request["options"]["time_limit"] = f"{time_limit:g}s"
    message = json_format.ParseDict(request, pb.SolveRequest())
    windows = sum(max(1, len(j.get("time_windows", ()))) for j in request["jobs"])
    if travel == "explicit":
        problem, _ = problem_from_proto(message)
        points = problem_points(problem)
        durations, distances = GreatCircleProvider().matrix(points, points)
        np.fill_diagonal(durations, 0)
        np.fill_diagonal(distances, 0)
        for v, tech in enumerate(message.technicians):
            tech.start_location.CopyFrom(pb.Location(matrix_index=2 * v))
            tech.end_location.CopyFrom(pb.Location(matrix_index=2 * v + 1))
        for j, job in enumerate(message.jobs):
            job.location.CopyFrom(pb.Location(matrix_index=2 * technicians + j, address=job.location.address))
        message.travel_matrix.size = len(points)
        message.travel_matrix.durations_seconds.extend(durations.ravel().tolist())
        message.travel_matrix.distances_meters.extend(distances.ravel().tolist())
        message.options.travel_model = pb.TravelModel.Value("EXPLICIT")
    data = message.SerializeToString()
    path.write_bytes(data)
    return {
        "technicians": technicians,
        "jobs": jobs,
        "points": jobs + 2 * technicians,
        "windows": windows,
        "request_bytes": len(data),
    }


# ---------------------------------------------------------------------------- the worker


def _log_line(path: str | None, record: dict[str, Any]) -> None:
    """Append ``record`` (with this process's id) to the worker log, at once: a worker killed at its
    deadline leaves what it did up to then."""
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), **record}) + "\n")


class _TrackedConn:
    """The worker's end of the pool's pipe: times the receipt of each request, and logs the
    worker's idle RSS when it says it is ready."""

    def __init__(self, conn: Any, phases: Phases, log: str | None) -> None:
        self._conn = conn
        self._phases = phases
        self._log = log

    def recv(self) -> Any:
        self._conn.poll(None)  # wait outside the phase: only the receipt is measured
        with self._phases.phase("receive + unpickle"):
            return self._conn.recv()

    def send(self, message: Any) -> None:
        if message[0] == "ready":
            gc.collect()
            _log_line(self._log, {"idle_rss": _status()["rss"]})
        self._conn.send(message)


def hooked_worker(conn: Any, log_config: Any = None, niceness: int = 19) -> None:
    """The pool's worker (``dispatch.solver.pool._worker_main``), with its phases measured."""
    import dispatch.solver as solver
    from dispatch.solver import insertion, lns, pool, search

    log = os.environ.get(WORKER_LOG_ENV)
    phases = Phases(on_event=lambda record: _log_line(log, record))

    def nodes(problem: Any, matrix: Any, screening: Any) -> dict[str, Any]:
        return {"nodes": 2 * len(problem.technicians) + sum(1 for e in screening.eligible if e)}

    phases.wrap(solver, "solve", "solve")
    phases.wrap(solver, "screen", "screen")
    phases.wrap(search._Score, "__init__", "score")
    phases.wrap(search, "_textbook", "textbook")
    phases.wrap(search, "pyvrp_routes", "pyvrp")
    phases.wrap(search, "build", "ortools build", info=nodes)
    phases.wrap(search, "_load", "ortools load")
    phases.wrap(lns.Search, "construct", "vroom construct")
    phases.wrap(lns.Search, "improve", "lns improve")
    phases.wrap(insertion.Insertion, "fill", "insertion")
    phases.wrap(search, "model_refuses", "ortools check")
    phases.wrap(search, "routes_plan", "extract")
    tracked: Any = _TrackedConn(conn, phases, log)  # a Connection as far as the worker goes
    pool._worker_main(tracked, log_config, niceness)


# ---------------------------------------------------------------------------- one run (fresh process)


def measure(request_path: Path, result_path: Path) -> None:
    """Serve the request at ``request_path`` once, as ``dispatch serve`` would; write the figures."""
    import dispatch.service as service_module
    from dispatch.bootstrap import bootstrap
    from dispatch.config import Settings
    from dispatch.server.convert import plan_to_proto, problem_from_proto
    from dispatch.service import PlanningService
    from dispatch.solver import pool
    from dispatch.v1 import dispatch_pb2 as pb

    worker_log = Path(tempfile.mkstemp(prefix="request_memory_worker_", suffix=".jsonl")[1])
    os.environ[WORKER_LOG_ENV] = str(worker_log)  # before the pool's forkserver starts: it inherits it
    pool._worker_main = hooked_worker  # this process's pool only
    # One worker, at nice 0: the figures are the request's, not the machine's load.
    service = bootstrap(Settings(workers=1, worker_niceness=0))
    phases = Phases()
    for name, phase in (
        ("validate", "validate"),
        ("day_matrix", "travel matrix"),
        ("retime", "retime"),
        ("label", "label"),
        ("checked", "check"),
        ("initial_state", "day state"),
        ("eta_events", "eta events"),
    ):
        phases.wrap(service_module, name, phase)
    phases.wrap(PlanningService, "place", "place")
    phases.wrap(service.runner, "solve", "search (send, wait, receive)")
    phases.wrap(service.store, "put", "store")
    sampled: dict[int, int] = {}  # worker pid -> largest RSS seen (a worker killed leaves no peak)
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.05):
            for line in worker_log.read_text().splitlines():
                pid = json.loads(line)["pid"] if line.strip() else None
                if pid is not None:
                    sampled[pid] = max(sampled.get(pid, 0), _status(pid)["rss"])

    gc.collect()
    baseline = _status()
    out: dict[str, Any] = {"parent_pid": os.getpid(), "parent_baseline_rss": baseline["rss"]}
    error = ""
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.monotonic()
    with phases.phase("request"):
        with phases.phase("receive"):
            data = request_path.read_bytes()
        with phases.phase("parse"):
            request = pb.SolveRequest.FromString(data)
        del data
        with phases.phase("convert"):
            problem, shape = problem_from_proto(request)
        solve_began = time.monotonic()
        try:
            with phases.phase("service.solve"):
                plan = service.solve(problem, shape)
            out["solve_seconds"] = round(time.monotonic() - solve_began, 3)
            with phases.phase("answer"):
                answer = pb.SolveResponse(plan=plan_to_proto(plan)).SerializeToString()
            out["answer_bytes"] = len(answer)
            out["plan"] = {
                "status": plan.stats.solver_status,
                "solve_time": round(plan.stats.solve_time, 3),
                "assigned": len(plan.assigned_job_ids),
                "unassigned": len(plan.unassigned),
                "warnings": list(plan.stats.warnings),
            }
        except Exception as exc:  # noqa: BLE001 (a run that says so)
            out["solve_seconds"] = round(time.monotonic() - solve_began, 3)
            error = f"{type(exc).__name__}: {exc}"
    out["request_seconds"] = round(time.monotonic() - began, 3)
    out["error"] = error
    out["parent_phases"] = sorted(phases.rows, key=lambda r: r["seq"])
    sampling.set()
    sampler.join()
    lines = [json.loads(x) for x in worker_log.read_text().splitlines() if x.strip()]
    served = [x["pid"] for x in lines if "enter" in x]
    if served:  # the worker that took the request (a replacement may have started since)
        pid = served[0]
        mine = [x for x in lines if x["pid"] == pid]
        rows = [x["row"] for x in mine if "row" in x]
        done = {r["seq"] for r in rows}
        out["worker_pid"] = pid
        out["worker_idle_rss"] = next(x["idle_rss"] for x in mine if "idle_rss" in x)
        out["worker_phases"] = sorted(rows, key=lambda r: r["seq"])
        out["worker_unfinished"] = [x["enter"] for x in mine if "enter" in x and x["seq"] not in done]
        out["worker_sampled_rss"] = sampled.get(pid, 0)
    runner = service.runner
    respawn_by = time.monotonic() + 30.0  # a killed worker's replacement: let it start, then close
    while runner.restarts and not runner.pids() and time.monotonic() < respawn_by:  # type: ignore[attr-defined]
        time.sleep(0.1)
    runner.close()  # type: ignore[attr-defined]
    worker_log.unlink(missing_ok=True)  # after the replacement (if any) has said it is ready
    result_path.write_text(json.dumps(out))


# ---------------------------------------------------------------------------- the driver


def _children() -> dict[int, list[int]]:
    """Child pids per pid, from ``/proc``."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def _tree(root: int) -> list[int]:
    children, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def run_watched(argv: list[str], max_rss: int, max_seconds: float) -> dict[str, Any]:
    """Run ``argv`` in a new session; stop it (the whole session) when the RSS of its process tree
    passes ``max_rss`` bytes or its wall time ``max_seconds``. Returns why it ended, its wall time
    and the largest tree RSS sampled (every 0.1 s)."""
    began = time.monotonic()
    proc = subprocess.Popen(argv, start_new_session=True)
    sampled, stopped = 0, ""
    while proc.poll() is None:
        total = sum(_status(pid)["rss"] for pid in _tree(proc.pid))
        sampled = max(sampled, total)
        if total > max_rss:
            stopped = f"stopped: the processes' RSS passed {max_rss / MIB / 1024:g} GiB"
        elif time.monotonic() - began > max_seconds:
            stopped = f"stopped: over {max_seconds:g} s"
        if stopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.1)
    return {
        "returncode": proc.returncode,
        "stopped": stopped,
        "wall": round(time.monotonic() - began, 2),
        "tree_rss_sampled": sampled,
    }


def _peak(phases: list[dict[str, Any]]) -> tuple[int, str]:
    """The process's peak and the deepest phase that holds it."""
    if not phases:
        return 0, ""
    top = max(p["peak"] for p in phases)
    holding = [p for p in phases if p["peak"] == top]
    return top, max(holding, key=lambda p: p["depth"])["phase"]


def summarize(case: dict[str, Any], got: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per process of a finished run."""
    rows = []
    keys = ("size", "travel", "day", "time_limit", "technicians", "jobs", "points", "windows", "request_bytes")
    shape = {k: case[k] for k in keys}
    parent = got.get("parent_phases", [])
    peak, where = _peak(parent)
    phase_seconds = {p["phase"]: p["seconds"] for p in parent}
    rows.append(
        {
            **shape,
            "process": "parent",
            "peak_mib": round(peak / MIB, 1),
            "over_baseline_mib": round((peak - got["parent_baseline_rss"]) / MIB, 1),
            "baseline_mib": round(got["parent_baseline_rss"] / MIB, 1),
            "peak_phase": where,
            "seconds": got.get("solve_seconds"),
            "request_seconds": got.get("request_seconds"),
            "matrix_seconds": phase_seconds.get("travel matrix"),
            "error": got.get("error", ""),
        }
    )
    worker = got.get("worker_phases", [])
    if "worker_pid" in got:
        peak, where = _peak(worker)
        if got.get("worker_unfinished"):  # killed: its open phases never logged their peaks
            peak = max(peak, got.get("worker_sampled_rss", 0))
            where = f"killed in {' > '.join(got['worker_unfinished'])}"
        seconds = {p["phase"]: p["seconds"] for p in worker}
        names = {p["phase"] for p in worker} | set(got.get("worker_unfinished", []))
        builds = [p for p in worker if p["phase"] == "ortools build"]
        biggest = max(builds, key=lambda p: p["nodes"]) if builds else None
        rows.append(
            {
                **shape,
                "process": "worker",
                "peak_mib": round(peak / MIB, 1),
                "over_baseline_mib": round((peak - got["worker_idle_rss"]) / MIB, 1),
                "baseline_mib": round(got["worker_idle_rss"] / MIB, 1),
                "peak_phase": where,
                "seconds": seconds.get("solve"),
                "receive_seconds": seconds.get("receive + unpickle"),
                "screen_seconds": seconds.get("screen"),
                "ortools_build_seconds": biggest["seconds"] if biggest else None,
                "ortools_build_nodes": biggest["nodes"] if biggest else None,
                "status": got.get("plan", {}).get("status", ""),
                # PyVRP and the full OR-Tools model, or VROOM (OR-Tools only checks, in chunks).
                "path": "pyvrp+ortools" if "textbook" in names else "vroom",
                "killed": bool(got.get("worker_unfinished")),
            }
        )
    return rows


def fit(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Least squares of the peak over baseline on points^2, technicians x jobs, windows and a
    constant, over every subset of terms whose coefficients all come out non-negative: the
    subset with the smallest residual is kept (terms left out are 0)."""
    import numpy as np

    if len(rows) < 2:
        return None
    names = ("points2", "tech_jobs", "windows", "base")
    columns = np.array([[r["points"] ** 2, r["technicians"] * r["jobs"], r["windows"], 1.0] for r in rows], dtype=float)
    y = np.array([max(r["over_baseline_mib"], 0.0) * MIB for r in rows], dtype=float)
    best = None
    for k in range(1, len(names) + 1):
        for subset in itertools.combinations(range(len(names)), k):
            if len(rows) < len(subset):
                continue
            a = columns[:, subset]
            scale = a.max(axis=0)
            coef, *_ = np.linalg.lstsq(a / scale, y, rcond=None)
            coef = coef / scale
            if (coef < 0).any():
                continue
            residual = float(np.sum((a @ coef - y) ** 2))
            if best is None or residual < best[0] * 0.999:  # fewer terms on a tie
                best = (residual, subset, coef)
    if best is None:
        return None
    _, subset, coef = best
    full = dict.fromkeys(names, 0.0)
    for i, c in zip(subset, coef, strict=True):
        full[names[i]] = float(c)
    predicted = columns @ np.array([full[n] for n in names])
    worst = max(abs(p - t) / max(t, MIB) for p, t in zip(predicted, y, strict=True))
    return {
        "a_bytes_per_point2": round(full["points2"], 3),
        "b_bytes_per_tech_job": round(full["tech_jobs"], 1),
        "c_bytes_per_window": round(full["windows"], 1),
        "base_mib": round(full["base"] / MIB, 1),
        "terms": [names[i] for i in subset],
        "runs": len(rows),
        "worst_relative_error": round(worst, 3),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| size | travel | day | limit s | process | peak MiB | over baseline MiB | B / point^2 | peak phase "
        "| seconds | matrix / build s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if r.get("stopped"):
            lines.append(f"| {r['size']} | {r['travel']} | {r['day']} | {r['time_limit']:g} | - | {r['stopped']} |")
            continue
        extra = r.get("matrix_seconds") if r["process"] == "parent" else r.get("ortools_build_seconds")
        seconds = r.get("seconds")
        if r["process"] == "parent" and r.get("request_seconds") is not None:
            seconds = f"{r['seconds']} (request {r['request_seconds']})"
        lines.append(
            f"| {r['size']} | {r['travel']} | {r['day']} | {r['time_limit']:g} | {r['process']} | {r['peak_mib']:.0f} "
            f"| {r['over_baseline_mib']:.0f} | {r['over_baseline_mib'] * MIB / r['points'] ** 2:.0f} "
            f"| {r['peak_phase']} | {seconds} | {'' if extra is None else extra} |"
            + (f" {r['error']}" if r.get("error") else "")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="TECHNICIANSxJOBS, comma-separated")
    parser.add_argument("--cases", default=",".join(CASES), help="TRAVEL:DAY:SECONDS, comma-separated")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "request_memory.json")
    parser.add_argument("--refit", type=Path, help="measure nothing: table and fits again from this --out file")
    parser.add_argument("--max-rss-gib", type=float, default=6.0, help="stop a run past this (its processes together)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="stop a run past this wall time")
    parser.add_argument("--_make", nargs=5, metavar=("SIZE", "TRAVEL", "DAY", "LIMIT", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--_measure", nargs=2, metavar=("REQUEST", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._make:
        size, travel, day, limit, path = args._make
        meta = make_request(size, travel, day, float(limit), Path(path))
        Path(path + ".json").write_text(json.dumps(meta))
        return 0
    if args._measure:
        measure(Path(args._measure[0]), Path(args._measure[1]))
        return 0
    if args.refit:
        refit(args.refit, args.out, argv)
        return 0
    if not Path("/proc/self/clear_refs").exists():
        parser.error("needs Linux's /proc (VmHWM and clear_refs)")

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    cases = []
    for spec in args.cases.split(","):
        travel, day, limit = spec.strip().split(":")
        if travel not in TRAVEL or day not in DAYS:
            parser.error(f"bad case {spec!r}: TRAVEL in {TRAVEL}, DAY in {DAYS}")
        cases.append((travel, day, float(limit)))
    me = [sys.executable, str(Path(__file__).resolve())]
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="request_memory_"))
    for travel, day, limit in cases:
        stopped_at: int | None = None  # points of the smallest size stopped in this case
        for size in sizes:
            technicians, jobs = parse_size(size)
            case = {"size": size, "travel": travel, "day": day, "time_limit": limit}
            if stopped_at is not None and jobs + 2 * technicians >= stopped_at:
                print(f"{size} {travel}:{day}:{limit:g}: skipped (a smaller size was stopped)", flush=True)
                continue
            request = scratch / f"{size}-{travel}-{day}-{limit:g}.bin"
            made = subprocess.run([*me, "--_make", size, travel, day, str(limit), str(request)], check=False)
            if made.returncode != 0:
                print(f"{size} {travel}:{day}:{limit:g}: could not make the request", flush=True)
                continue
            case.update(json.loads(Path(str(request) + ".json").read_text()))
            result = scratch / "result.json"
            result.unlink(missing_ok=True)
            watched = run_watched(
                [*me, "--_measure", str(request), str(result)], int(args.max_rss_gib * 1024 * MIB), args.max_seconds
            )
            request.unlink(missing_ok=True)
            run = {**case, **watched}
            if result.exists() and not watched["stopped"]:
                got = json.loads(result.read_text())
                run.update(got)
                for row in summarize(case, got):
                    rows.append(row)
                    print(table([row]).splitlines()[-1], flush=True)
            else:
                run["stopped"] = watched["stopped"] or f"failed (exit code {watched['returncode']})"
                stopped_at = case["points"]
                rows.append({**case, "stopped": run["stopped"]})
                print(f"{size} {travel}:{day}:{limit:g}: {run['stopped']}", flush=True)
            runs.append(run)
            _write(args.out, argv, runs, rows, None)

    shutil.rmtree(scratch, ignore_errors=True)
    report(args.out, argv, runs, rows)
    return 0


def refit(path: Path, out: Path, argv: list[str] | None) -> None:
    """The table and fits again from the runs of an earlier ``--out`` file."""
    runs: list[dict[str, Any]] = json.loads(path.read_text())["runs"]
    rows: list[dict[str, Any]] = []
    for run in runs:
        rows += [dict(run)] if run.get("stopped") else summarize(run, run)
    report(out, argv, runs, rows)


def fits_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fits: the parent per travel model (the kind of day does not change its work), the worker
    per travel model and search path; a worker killed at its deadline is left out (its peak is
    only what it had reached)."""
    out: dict[str, Any] = {}
    done = [r for r in rows if not r.get("stopped")]
    for travel in TRAVEL:
        got = fit([r for r in done if r["process"] == "parent" and r["travel"] == travel])
        if got is not None:
            out[f"parent/{travel}"] = got
        for path in ("vroom", "pyvrp+ortools"):
            chosen = [
                r
                for r in done
                if r["process"] == "worker" and r["travel"] == travel and r["path"] == path and not r["killed"]
            ]
            got = fit(chosen)
            if got is not None:
                out[f"worker/{travel}/{path}"] = got
    return out


def report(out: Path, argv: list[str] | None, runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    fits = fits_of(rows)
    _write(out, argv, runs, rows, fits)
    print()
    print(table(rows))
    print()
    for key, value in fits.items():
        print(f"{key}: {json.dumps(value)}")
    print(f"\nwritten: {out}")


def _write(out: Path, argv: list[str] | None, runs: list[Any], rows: list[Any], fits: dict[str, Any] | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "command": [Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)],
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": rows,
        "fits": fits,
        "runs": runs,
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
