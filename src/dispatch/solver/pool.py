"""Solver worker processes: one solve per worker, hard kill on deadline, respawn on death.

OR-Tools holds the GIL for a whole search and can abort the process on malformed
input (a failed CHECK), so every search runs in a child process. Children come from
a ``forkserver`` started before any gRPC thread exists, with the solver pre-imported,
so a replacement worker is ready in well under a second.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from dispatch import logs
from dispatch.domain import Plan, Problem
from dispatch.errors import DeadlineError, DispatchError, OverloadedError, WorkerCrashedError
from dispatch.matrix import DayMatrix
from dispatch.solver.runner import SearchCall

log = logging.getLogger("dispatch")

#: Extra seconds a worker gets past its search budget before it is killed, when the caller would
#: wait longer: ``GRACE`` plus ``GRACE_SHARE`` of the budget. This guards against a runaway worker
#: only; the search itself finishes inside its budget (``stats.solve_time``, benchmarks/). A worker
#: slowed down by a busy machine (it runs at nice 19) still returns its plan to a caller who waits:
#: with 2 s, a 6-job day of 1 s was killed once on a loaded CI machine while its client waited 30 s.
GRACE = 10.0
GRACE_SHARE = 0.5
#: The shortest search worth starting: a request that cannot get a worker while this much of its
#: time is left is refused (RESOURCE_EXHAUSTED) rather than timed out.
MIN_SEARCH = 0.25
#: Solver processes run at the lowest CPU priority: they still take every idle cycle, but yield to the
#: gRPC front at once. 50 clients on 2 cores (benchmarks/load.py, 2026-12-01): health p99 9.2-9.9 ms
#: at nice 10, 7.6-8.4 ms at 19, solve throughput the same (0.9 plans/s).
WORKER_NICENESS = 19


@dataclass
class _Worker:
    process: mp.process.BaseProcess
    conn: Connection
    number: int

    @property
    def pid(self) -> int | None:
        return self.process.pid


def _worker_main(conn: Connection, log_config: tuple[str, str] | None = None, niceness: int = WORKER_NICENESS) -> None:
    """Child process: solve requests from ``conn`` until it closes, logging as the parent does."""
    if log_config is not None:
        logs.configure(*log_config)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Searches yield the CPU to the server process, so health checks and request parsing stay
    # fast while every core is solving (p99 health 9.5 ms at nice 0 vs the 10 ms budget on 2 cores,
    # with two solves alone; under 50 clients see WORKER_NICENESS).
    os.nice(niceness)
    # The searches' libraries (OR-Tools, VROOM, PyVRP: ~1 s on an idle core, several at nice 19 on a
    # busy machine) load before the worker says it is ready, not inside the first request's budget.
    from dispatch.solver import (  # noqa: PLC0415 (the searches load in the child only)
        search,  # noqa: F401
        solve,
    )

    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        problem, matrix, time_limit, progress, start = message

        def report(p: object) -> None:
            conn.send(("progress", p))

        try:
            plan = solve(problem, matrix, time_limit=time_limit, on_progress=report if progress else None, start=start)
        except DispatchError as exc:
            conn.send(("error", type(exc).__name__, str(exc)))
        except Exception as exc:
            log.exception("solver failed")
            conn.send(("error", "RuntimeError", f"{type(exc).__name__}: {exc}"))
        else:
            conn.send(("plan", plan))


def _last_word(conn: Connection) -> tuple[Any, ...] | None:
    """The worker's answer (a plan or an error) if it is waiting in ``conn``, progress skipped."""
    while conn.poll(0):
        reply: tuple[Any, ...] = conn.recv()
        if reply[0] != "progress":
            return reply
    return None


class SolverPool:
    """A fixed set of solver processes shared by all requests.

    Parameters
    ----------
    workers
        Number of solver processes (one per core is the rule).
    max_waiting
        Requests that may wait for a free worker; beyond that ``OverloadedError``.
    niceness
        The workers' CPU niceness (``WORKER_NICENESS`` unless set).
    grace
        Seconds past a search's budget (plus ``GRACE_SHARE`` of it) before a worker is killed.
    """

    def __init__(
        self, workers: int = 2, *, max_waiting: int = 8, niceness: int = WORKER_NICENESS, grace: float = GRACE
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.size = workers
        self.grace = grace
        self.niceness = niceness
        self.max_waiting = max_waiting
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(["dispatch.solver.search", "dispatch.solver.pool"])
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._busy: dict[int, int | None] = {}  # worker number -> pid
        self._closed = False
        self._numbers = iter(range(1, 1 << 62))
        #: Workers killed and replaced, by why: "deadline", "cancelled" (the caller went away), "crashed",
        #: "died_idle" (found dead when a request came for it).
        self.restarts_by_reason: dict[str, int] = {}
        self.started = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 120.0) -> None:
        """Start every worker and wait until each has imported the solver."""
        workers = [self._spawn() for _ in range(self.size)]
        for worker in workers:
            self._await_ready(worker, timeout)
            self._idle.put(worker)
        self.started.set()
        log.info("solver pool ready", extra={"workers": self.size})

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main, args=(child, logs.configured(), self.niceness), daemon=True, name="dispatch-solver"
        )
        process.start()
        child.close()
        return _Worker(process=process, conn=parent, number=next(self._numbers))

    @staticmethod
    def _await_ready(worker: _Worker, timeout: float) -> None:
        if not worker.conn.poll(timeout):
            worker.process.kill()
            raise RuntimeError("solver worker did not start")
        kind, _pid = worker.conn.recv()
        if kind != "ready":
            raise RuntimeError(f"solver worker sent {kind!r} before ready")

    def _replace(self, worker: _Worker, reason: str) -> None:
        """Kill ``worker`` and put a fresh one in the pool (in the background)."""
        with self._lock:
            self.restarts_by_reason[reason] = self.restarts_by_reason.get(reason, 0) + 1
        _kill(worker)

        def respawn() -> None:
            if self._closed:
                return
            try:
                fresh = self._spawn()
                self._await_ready(fresh, 120.0)
            except Exception:
                log.exception("could not start a replacement solver worker")
                return
            self._idle.put(fresh)

        threading.Thread(target=respawn, name="dispatch-respawn", daemon=True).start()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            _kill(worker)

    @property
    def restarts(self) -> int:
        """Workers killed and replaced since the pool started."""
        return sum(self.restarts_by_reason.values())

    def pids(self) -> list[int]:
        """Process ids of the idle workers (for operators and tests)."""
        return [w.pid for w in list(self._idle.queue) if w.pid is not None]

    @property
    def busy(self) -> int:
        return len(self._busy)

    def busy_pids(self) -> list[int]:
        """Process ids of the workers solving right now."""
        with self._lock:
            return [pid for pid in self._busy.values() if pid is not None]

    @property
    def waiting(self) -> int:
        return self._waiting

    # ------------------------------------------------------------------ solving

    def solve(self, call: SearchCall) -> Plan:
        """Solve in a worker; raise ``DeadlineError``, ``WorkerCrashedError`` or ``OverloadedError``.

        The search must be over when the answer is due (``call.budget.answer_by()``): a request
        waits for a worker only while a search of ``MIN_SEARCH`` would still fit (then
        ``OverloadedError``: the client can try again, or another replica, before its deadline —
        not a timeout), the search is cut to what is left after the wait, and the worker is killed
        at the caller's deadline, or ``grace`` seconds plus ``GRACE_SHARE`` of ``time_limit`` after
        ``time_limit`` if that is sooner.
        """
        time_limit = call.time_limit
        deadline = None if call.budget is None else call.budget.deadline
        search_by = None if call.budget is None else call.budget.answer_by()
        worker = self._acquire(None if search_by is None else search_by - MIN_SEARCH)
        if call.cancelled is not None and call.cancelled():  # gone while it waited: the worker stays as it is
            self._idle.put(worker)
            raise DeadlineError("the caller went away while waiting for a solver worker")
        if search_by is not None:
            time_limit = min(time_limit, max(search_by - time.monotonic(), 0.05))
        with self._lock:
            self._busy[worker.number] = worker.pid
        try:
            message = (call.problem, call.matrix, time_limit, call.on_progress is not None, call.start)
            return self._run(worker, message, deadline, call.on_progress, call.cancelled)
        finally:
            with self._lock:
                self._busy.pop(worker.number, None)

    def admit(self) -> None:
        """Raise ``OverloadedError`` now if a solve would be refused for want of room: the server
        asks before converting and validating a request it could not run anyway."""
        with self._lock:
            self._check_room()

    def _check_room(self) -> None:
        if self._closed:
            raise OverloadedError("the solver pool is shutting down")
        if self._idle.empty() and self._waiting >= self.max_waiting:
            raise OverloadedError(f"all {self.size} solver workers are busy and {self._waiting} requests are waiting")

    def _acquire(self, latest: float | None) -> _Worker:
        """An idle worker, waited for until ``latest`` (``time.monotonic()``) at most."""
        with self._lock:
            self._check_room()
            self._waiting += 1
        try:
            while True:
                wait = None if latest is None else max(0.0, latest - time.monotonic())
                try:
                    worker = self._idle.get(timeout=wait)
                except queue.Empty:
                    raise OverloadedError(
                        f"all {self.size} solver workers stayed busy: none was free in time for the request's "
                        "deadline (try again, or another replica)"
                    ) from None
                if worker.process.is_alive():
                    return worker
                # killed while idle (the OOM killer, an operator): replaced, and the request waits for
                # the next free worker instead of failing on a dead one
                log.warning(
                    "solver worker %s died while idle (exit code %s): replaced", worker.pid, worker.process.exitcode
                )
                self._replace(worker, "died_idle")
        finally:
            with self._lock:
                self._waiting -= 1

    def _run(
        self,
        worker: _Worker,
        message: tuple[Problem, DayMatrix, float, bool, dict[int, list[int]] | None],
        deadline: float | None,
        on_progress: Callable[[object], None] | None,
        cancelled: Callable[[], bool] | None,
    ) -> Plan:
        time_limit = message[2]
        grace = self.grace + GRACE_SHARE * time_limit
        kill_at = time.monotonic() + time_limit + grace
        if deadline is not None:
            kill_at = min(kill_at, deadline)
        try:
            worker.conn.send(message)
            while True:
                left = kill_at - time.monotonic()
                if left <= 0:
                    # The plan may be waiting already: this thread can wake late (a long garbage
                    # collection in the server, a callback streaming progress to a slow client).
                    reply = _last_word(worker.conn)
                    if reply is None:
                        self._replace(worker, "deadline")
                        raise DeadlineError(f"solve did not finish within {time_limit:.1f} s (+{grace:.1f} s grace)")
                else:
                    if cancelled is not None and cancelled():
                        self._replace(worker, "cancelled")
                        raise DeadlineError("the caller went away; the solve was stopped")
                    if not worker.conn.poll(min(left, 0.1)):
                        continue
                    reply = worker.conn.recv()
                if reply[0] == "progress":
                    if on_progress is not None:
                        on_progress(reply[1])
                    continue
                self._idle.put(worker)
                if reply[0] == "plan":
                    plan: Plan = reply[1]
                    return plan
                _, kind, text = reply
                raise _error(kind, text)
        except (EOFError, OSError, BrokenPipeError):
            code = worker.process.exitcode
            self._replace(worker, "crashed")
            log.error("solver worker %s died (exit code %s)", worker.pid, code)
            raise WorkerCrashedError(
                f"the solver worker died while solving (exit code {code}); a fresh worker has been started"
            ) from None


def _error(kind: str, text: str) -> DispatchError | RuntimeError:
    if kind == "DeadlineError":
        return DeadlineError(text)
    return RuntimeError(text)


def _kill(worker: _Worker) -> None:
    try:
        worker.process.kill()
        worker.process.join(timeout=5)
    except Exception:  # noqa: BLE001
        pass
    worker.conn.close()
