"""The live day: apply events to a stored plan and re-plan what is left, fast then better.

``replan.reoptimize`` drives it: ``apply_events`` -> ``situation``
(history, visits under way, the re-plan problem) -> ``QuickPlanner`` (the first answer)
-> the solver, started from that answer -> ``Situation.assemble`` -> ``diff``.
"""

from dispatch.reopt.day import Situation, initial_state, situation
from dispatch.reopt.diff import PlanDiff, diff
from dispatch.reopt.events import apply_events
from dispatch.reopt.quick import QuickPlanner

__all__ = [
    "PlanDiff",
    "QuickPlanner",
    "Situation",
    "apply_events",
    "diff",
    "initial_state",
    "situation",
]
