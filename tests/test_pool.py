"""The solver pool's deadline: a plan the worker has sent is taken, however late the caller's
thread comes back to read it."""

from __future__ import annotations

import threading
import time

import pytest

from dispatch.errors import DeadlineError
from dispatch.solver.pool import GRACE_SHARE, SolverPool
from dispatch.solver.runner import SearchCall
from tests.support.factories import job, matrix_for, problem, tech


@pytest.fixture(scope="module")
def pool():
    workers = SolverPool(1, niceness=0, grace=1.0)
    workers.start()
    yield workers
    workers.close()


def test_a_plan_waiting_in_the_pipe_is_taken_after_the_kill_time(pool):
    p = problem([tech("a")], [job("x", x=3), job("y", x=5)], time_limit=0.3)
    calls: list[float] = []

    def slow_reader(_progress: object) -> None:  # the server's thread held up (a long GC, a slow client)
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(0.3 + 1.0 + GRACE_SHARE * 0.3 + 2.0)  # past the kill time; the worker has long sent its plan

    plan = pool.solve(SearchCall(problem=p, matrix=matrix_for(p), time_limit=0.3, on_progress=slow_reader))
    assert calls and sorted(plan.assigned_job_ids) == ["x", "y"]
    assert pool.restarts_by_reason.get("deadline", 0) == 0


def test_a_call_whose_caller_left_while_it_waited_leaves_the_worker_alone(pool):
    """A queued call whose client went away is dropped when a worker frees up: that worker is not
    killed and started again for nothing."""
    p = problem([tech("a")], [job("x", x=3), job("y", x=5)], time_limit=0.3)
    first = threading.Thread(target=pool.solve, args=(SearchCall(problem=p, matrix=matrix_for(p), time_limit=0.5),))
    first.start()  # holds the only worker
    while pool._idle.qsize():  # the first call has taken the worker
        time.sleep(0.01)
    restarts = dict(pool.restarts_by_reason)
    with pytest.raises(DeadlineError, match="went away while waiting"):
        pool.solve(SearchCall(problem=p, matrix=matrix_for(p), time_limit=0.3, cancelled=lambda: True))
    first.join()
    assert pool.restarts_by_reason == restarts
    plan = pool.solve(SearchCall(problem=p, matrix=matrix_for(p), time_limit=0.3))  # the worker still serves
    assert sorted(plan.assigned_job_ids) == ["x", "y"]


def test_a_worker_killed_while_idle_is_replaced_and_the_next_call_is_served(pool):
    """The OOM killer or an operator kills an idle worker: the next call is not sent to the dead
    one (it failed INTERNAL) but waits for its replacement."""
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415

    (worker,) = list(pool._idle.queue)
    pid = worker.pid
    os.kill(pid, signal.SIGKILL)
    worker.process.join(30)  # dead before the call comes
    assert not worker.process.is_alive()
    p = problem([tech("a")], [job("x", x=3), job("y", x=5)], time_limit=0.3)
    plan = pool.solve(SearchCall(problem=p, matrix=matrix_for(p), time_limit=0.3))
    assert sorted(plan.assigned_job_ids) == ["x", "y"]
    assert pool.restarts_by_reason.get("died_idle") == 1
    assert pool.pids() and pool.pids()[0] != pid
