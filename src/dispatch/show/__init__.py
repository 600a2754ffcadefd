"""Pictures of a plan for dispatchers: a route map and a technician timeline.

``view.day_view`` turns a plan (and, when given, its request) into what is drawn; ``html``
renders it as one self-contained page (inline SVG, no script, no network) and ``png`` as a
static image with matplotlib's Agg backend. Presentation only: it reads the protobuf
messages the CLI and consoles exchange and knows nothing of the solver.
"""

from dispatch.show.view import DayView, day_view, load_plan, load_request

__all__ = ["DayView", "day_view", "load_plan", "load_request"]
