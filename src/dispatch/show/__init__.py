"""Pictures of a plan for dispatchers: a route map and a technician timeline.

``view.day_view`` turns a plan (and, when given, its problem) into what is drawn (``day_views``:
one per day of a plan of several days); ``html`` renders it as one self-contained page (inline SVG, no script, no network) and ``png`` as a
static image with matplotlib's Agg backend. Presentation only: it draws the domain's ``Plan``
and ``Problem`` and knows nothing of the solver or the wire format (the CLI reads the files).
"""

from dispatch.show.view import DayView, day_view, day_views

__all__ = ["DayView", "day_view", "day_views"]
