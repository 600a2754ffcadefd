"""The same picture as a static PNG (matplotlib, Agg backend: no display, no network).

Drawn with one collection per technician and kind of block, and one scatter per kind of stop,
so a 50-technician / 1,000-job day renders in a few seconds. Stop numbers are written when the
day has at most ``NUMBERED_STOPS`` stops (beyond that they overlap and cost more than they tell;
the HTML page numbers every stop).
"""

from __future__ import annotations

import math
from pathlib import Path

from dispatch.show.html import FILL
from dispatch.show.view import DayView

NUMBERED_STOPS = 300


def render(view: DayView, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 (only when a PNG is asked for)

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # noqa: PLC0415

    rows = max(1, len(view.lanes))
    gantt_h = 0.9 + 0.28 * rows
    map_h = 6.5 if view.has_map else 0.0
    fig = Figure(figsize=(14, map_h + gantt_h + 1.2), dpi=100)
    heights = [map_h, gantt_h] if view.has_map else [gantt_h]
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.25)
    fig.suptitle(f"{view.title}\n{view.summary}", fontsize=11)
    if view.has_map:
        _map(view, fig.add_subplot(grid[0]))
    _timeline(view, fig.add_subplot(grid[-1]), rows)
    fig.savefig(path, bbox_inches="tight")


def _map(view: DayView, ax) -> None:  # noqa: ANN001
    points = [p for lane in view.lanes for p in (lane.home, *(s.point for s in lane.stops)) if p]
    points += [u.point for u in view.unassigned if u.point]
    mean_lat = sum(p[0] for p in points) / len(points)
    ax.set_aspect(1 / math.cos(math.radians(mean_lat)))
    numbered = sum(len(lane.stops) for lane in view.lanes) <= NUMBERED_STOPS
    for lane in view.lanes:
        chain = [p for p in (lane.home, *(s.point for s in lane.stops), lane.end) if p]
        if len(chain) > 1:
            ax.plot([p[1] for p in chain], [p[0] for p in chain], "-", color=lane.colour, lw=1.4, alpha=0.85)
        stops = [(s.number, s.point) for s in lane.stops if s.point]
        _mark(ax, [point for _, point in stops], s=70, c=lane.colour, ec="white", lw=0.6, zorder=3)
        if numbered:
            for number, (lat, lon) in stops:
                ax.annotate(str(number), (lon, lat), ha="center", va="center", fontsize=6, color="w", zorder=4)
    homes = [lane for lane in view.lanes if lane.home]
    _mark(ax, [h.home for h in homes], s=60, marker="s", c=[h.colour for h in homes], ec="#222", zorder=3)
    every = [s for lane in view.lanes for s in lane.stops if s.point]
    _mark(ax, [s.point for s in every if s.emergency], s=150, facecolors="none", ec="#d00", lw=2)
    _mark(ax, [s.point for s in every if s.moved], s=300, facecolors="none", ec="black", lw=1.2, ls="--")
    loose = [u for u in view.unassigned if u.point]
    colours = ["#d00" if u.emergency else "#555" for u in loose]
    _mark(ax, [u.point for u in loose], s=60, marker="x", c=colours, lw=2)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title("Routes (squares: starts, numbers: stop order, red rings: emergencies, x: unassigned)", fontsize=9)


def _timeline(view: DayView, ax, rows: int) -> None:  # noqa: ANN001
    for row, lane in enumerate(view.lanes):
        y = rows - 1 - row
        windows = [(a, z - a) for b in lane.blocks for a, z in b.windows]
        if windows:
            ax.broken_barh(windows, (y - 0.4, 0.8), facecolors="#fde9a9", alpha=0.7, lw=0)
        for kind, half in (("drive", 0.15), ("wait", 0.15)):
            spans = [(b.start, b.end - b.start) for b in lane.blocks if b.kind == kind]
            if spans:
                ax.broken_barh(spans, (y - half, 2 * half), facecolors=FILL[kind], edgecolors="#888", lw=0.3)
        breaks = [(b.start, b.end - b.start) for b in lane.blocks if b.kind == "break"]
        if breaks:
            ax.broken_barh(breaks, (y - 0.3, 0.6), facecolors="white", edgecolors="#444", hatch="////", lw=0.5)
        work = [b for b in lane.blocks if b.kind == "work"]
        if work:
            edges = ["black" if b.moved else "#d00" if b.late else "#f08c00" if b.tight else "#888" for b in work]
            widths = [1.2 if b.moved or b.late or b.tight else 0.3 for b in work]
            styles = ["--" if b.moved else "-" for b in work]
            ax.broken_barh(
                [(b.start, b.end - b.start) for b in work],
                (y - 0.3, 0.6),
                facecolors=lane.colour,
                edgecolors=edges,
                linewidths=widths,
                linestyles=styles,
            )
            urgent = [(b.start, b.end - b.start) for b in work if b.emergency]
            if urgent:
                ax.broken_barh(urgent, (y + 0.3, 0.1), facecolors="#d00", lw=0)
    ax.set_xlim(view.t0, view.t1)
    ax.set_ylim(-0.6, rows - 0.4)
    ax.set_yticks(range(rows))
    ax.set_yticklabels([lane.name[:22] for lane in reversed(view.lanes)], fontsize=7 if rows > 30 else 8)
    first_hour = view.t0 - view.t0 % 3600 + 3600
    hours = list(range(first_hour, view.t1 + 1, 3600))
    ax.set_xticks(hours)
    ax.set_xticklabels([view.clock(t) for t in hours], fontsize=8)
    ax.grid(axis="x", color="#e4e4e4")
    ax.set_axisbelow(True)
    ax.set_title(
        f"Timeline ({view.tz.key}): grey drive, white wait, colour work, hatched break, yellow arrival window; "
        "red edge late, orange tight, dashed moved",
        fontsize=9,
    )


def _mark(ax, points: list, **style: object) -> None:  # noqa: ANN001
    """One scatter of (lat, lon) points on the map, in front of the routes unless told otherwise."""
    if points:
        style.setdefault("zorder", 4)
        ax.scatter([p[1] for p in points], [p[0] for p in points], **style)
