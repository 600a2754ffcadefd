"""The solver pool's deadline: a plan the worker has sent is taken, however late the caller's
thread comes back to read it."""

from __future__ import annotations

import time

import pytest

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
