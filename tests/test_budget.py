"""The time one call may take (``dispatch.budget``): verdicts that hold however fast the machine is."""

from __future__ import annotations

import time

from dispatch.budget import Budget


def test_without_a_deadline_only_the_limit_counts():
    budget = Budget(began=100.0, limit=10.0)
    assert budget.answer_by() is None
    assert budget.by(4.0) == 104.0
    assert budget.by(4.0, before_answer=1.0) == 104.0  # no answer due: nothing to keep back


def test_a_deadline_ends_every_step_before_the_answer_is_due():
    budget = Budget(began=100.0, limit=10.0, deadline=103.0, margin=0.5)
    assert budget.answer_by() == 102.5
    assert budget.by(4.0) == 102.5
    assert budget.by(4.0, before_answer=1.0) == 101.5
    assert budget.by(1.0, before_answer=1.0) == 101.0  # its own share ends first


def test_seconds_left_keeps_back_what_follows_and_has_a_floor_but_never_passes_the_deadline():
    fresh = Budget.start(10.0)
    assert 0 < fresh.seconds_left(keep=2.0) <= 8.0
    spent = Budget(began=time.monotonic() - 60.0, limit=10.0)
    assert spent.seconds_left() == 0.0  # the limit is spent: nothing left, never negative
    assert spent.seconds_left(floor=1.0) == 1.0  # a search still gets its floor
    late = Budget(began=time.monotonic() - 60.0, limit=100.0, deadline=time.monotonic() - 1.0)
    assert late.seconds_left(floor=1.0) < 0  # the caller has gone: no time, whatever the floor
    assert late.by(50.0) < time.monotonic()
