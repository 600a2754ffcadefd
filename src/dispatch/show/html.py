"""One self-contained HTML page: route map and timeline as inline SVG (no script, no network)."""

from __future__ import annotations

import math
from html import escape

from dispatch.show.view import Block, DayView, Lane

MAP_W, MAP_H, MAP_PAD = 960, 620, 30
LABEL_W, GANTT_W, ROW_H, AXIS_H = 170, 1080, 26, 28

#: Block fills on the timeline (work takes the technician's colour).
#: Breaks are hatched (a fill colour would read as one of the technicians').
FILL = {"drive": "#9aa5b1", "wait": "#ffffff", "break": "url(#break)"}
HATCH = (
    '<defs><pattern id="break" patternUnits="userSpaceOnUse" width="6" height="6">'
    '<rect width="6" height="6" fill="#fff"/><path d="M0,6 L6,0" stroke="#444" stroke-width="1.2"/></pattern></defs>'
)
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 6px; }
.summary { color: #555; } svg { background: #fafafa; border: 1px solid #ddd; }
svg text { font: 11px system-ui, sans-serif; } table { border-collapse: collapse; }
td, th { border-bottom: 1px solid #eee; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
.legend span { display: inline-block; margin-right: 14px; } .sw { width: 14px; height: 10px; display: inline-block;
  margin-right: 4px; border: 1px solid #888; vertical-align: middle; }
"""


def render(view: DayView | list[DayView]) -> str:
    """One page: the day, or (a plan of several days) one section per day, each with its map and
    timeline, under a list of the days."""
    views = view if isinstance(view, list) else [view]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(views[0].title)}</title><style>{STYLE}</style></head><body>",
    ]
    if len(views) > 1:
        parts.append(
            "<p>Days: " + " · ".join(f'<a href="#day{k}">{escape(v.title)}</a>' for k, v in enumerate(views)) + "</p>"
        )
    for k, v in enumerate(views):
        parts += _day(v, k)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _day(view: DayView, k: int) -> list[str]:
    parts = [
        f'<h1 id="day{k}">{escape(view.title)}</h1>',
        f'<p class="summary">{escape(view.summary)} · times in {escape(view.tz.key)}</p>',
    ]
    if view.moves:
        parts.append(f"<h2>What moved ({len(view.moves)})</h2><ul>")
        parts += [f"<li>{escape(line)}</li>" for line in view.moves]
        parts.append("</ul>")
    parts.append("<h2>Routes</h2>")
    if view.has_map:
        parts.append(_map(view))
    else:
        parts.append("<p>No map: the request was not given, or its places have no latitude/longitude.</p>")
    parts.append("<h2>Timeline</h2>")
    parts.append(_legend())
    parts.append(_timeline(view))
    parts.append(_unassigned(view))
    return parts


# ---------------------------------------------------------------------------- map


class _Projection:
    """Equirectangular around the day's mean latitude, fitted to the drawing."""

    def __init__(self, points: list[tuple[float, float]]) -> None:
        lats = [p[0] for p in points]
        lngs = [p[1] for p in points]
        self.kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
        self.lat1, self.lng0 = max(lats), min(lngs)
        width = max((max(lngs) - self.lng0) * self.kx, 1e-6)
        height = max(self.lat1 - min(lats), 1e-6)
        self.scale = min((MAP_W - 2 * MAP_PAD) / width, (MAP_H - 2 * MAP_PAD) / height)

    def __call__(self, p: tuple[float, float]) -> tuple[float, float]:
        return (MAP_PAD + (p[1] - self.lng0) * self.kx * self.scale, MAP_PAD + (self.lat1 - p[0]) * self.scale)


def _map(view: DayView) -> str:
    points = [p for lane in view.lanes for p in (lane.home, lane.end, *(s.point for s in lane.stops)) if p]
    points += [u.point for u in view.unassigned if u.point]
    xy = _Projection(points)
    out = [f'<svg id="map" width="{MAP_W}" height="{MAP_H}" viewBox="0 0 {MAP_W} {MAP_H}" role="img">']
    for lane in view.lanes:
        chain = [p for p in (lane.home, *(s.point for s in lane.stops), lane.end) if p]
        if len(chain) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, chain))
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{lane.colour}" stroke-width="2" opacity="0.85">'
                f"<title>{escape(lane.name)}</title></polyline>"
            )
        if lane.home:
            x, y = xy(lane.home)
            out.append(
                f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{lane.colour}" stroke="#222">'
                f"<title>{escape(lane.name)}: start</title></rect>"
            )
    for lane in view.lanes:
        for s in lane.stops:
            if not s.point:
                continue
            x, y = xy(s.point)
            tip = f"{lane.name} stop {s.number}: {s.job_id} at {view.clock(s.start)}"
            ring = ' stroke="#d00" stroke-width="3"' if s.emergency else ' stroke="#fff" stroke-width="1"'
            out.append(f'<g class="stop" data-job="{escape(s.job_id)}"><title>{escape(tip)}</title>')
            if s.moved:
                out.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="13" fill="none" stroke="#000" stroke-dasharray="3 2"/>'
                )
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="{lane.colour}"{ring}/>')
            out.append(f'<text x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle" fill="#fff">{s.number}</text></g>')
    for u in view.unassigned:
        if not u.point:
            continue
        x, y = xy(u.point)
        colour = "#d00" if u.emergency else "#555"
        tip = f"{u.job_id} unassigned: {u.reason} — {u.detail}"
        out.append(
            f'<g class="unassigned" data-job="{escape(u.job_id)}"><title>{escape(tip)}</title>'
            f'<path d="M{x - 6:.1f},{y - 6:.1f} L{x + 6:.1f},{y + 6:.1f} M{x - 6:.1f},{y + 6:.1f} '
            f'L{x + 6:.1f},{y - 6:.1f}" stroke="{colour}" stroke-width="3"/></g>'
        )
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------------------- timeline


def _legend() -> str:
    items = [
        ("drive", f"background:{FILL['drive']}"),
        ("wait", "background:#fff"),
        ("work (technician's colour)", "background:#1f77b4"),
        ("break", f"background:{FILL['break']}"),
        ("arrival window", "background:#fde9a9"),
        ("late", "background:#fff;border:2px solid #d00"),
        ("tight (< 15 min to window end)", "background:#fff;border:2px solid #f08c00"),
        ("moved since the earlier version", "background:#fff;border:2px dashed #000"),
        ("emergency", "background:#d00"),
    ]
    spans = "".join(f'<span><i class="sw" style="{style}"></i>{escape(name)}</span>' for name, style in items)
    return f'<p class="legend">{spans}</p>'


def _timeline(view: DayView) -> str:
    span = view.t1 - view.t0

    def x(t: int) -> float:
        return LABEL_W + (t - view.t0) / span * GANTT_W

    height = AXIS_H + ROW_H * max(1, len(view.lanes)) + 8
    width = LABEL_W + GANTT_W + 10
    out = [f'<svg id="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">', HATCH]
    first_hour = view.t0 - view.t0 % 3600 + 3600
    for t in range(first_hour, view.t1 + 1, 3600):
        out.append(f'<line x1="{x(t):.1f}" y1="{AXIS_H - 6}" x2="{x(t):.1f}" y2="{height}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{x(t):.1f}" y="{AXIS_H - 10}" text-anchor="middle">{view.clock(t)}</text>')
    for row, lane in enumerate(view.lanes):
        top = AXIS_H + row * ROW_H
        out.append(f'<text x="6" y="{top + ROW_H / 2 + 4:.1f}">{escape(lane.name[:24])}</text>')
        for b in lane.blocks:  # windows first: behind every block
            for a, z in b.windows:
                out.append(
                    f'<rect x="{x(a):.1f}" y="{top + 2}" width="{max(x(z) - x(a), 1):.1f}" height="{ROW_H - 4}" '
                    'fill="#fde9a9" opacity="0.7"/>'
                )
        out += [_block(view, b, lane, top, x) for b in lane.blocks]
    out.append("</svg>")
    return "\n".join(out)


def _block(view: DayView, b: Block, lane: Lane, top: int, x) -> str:  # noqa: ANN001
    fill = lane.colour if b.kind == "work" else FILL[b.kind]
    stroke, dash, width = "#888", "", 0.5
    if b.late:
        stroke, width = "#d00", 2.0
    elif b.tight:
        stroke, width = "#f08c00", 2.0
    if b.moved:
        stroke, dash, width = "#000", ' stroke-dasharray="4 2"', 2.0
    pad = 6 if b.kind in ("work", "break") else 9
    tip = f"{lane.name}: {b.kind}"
    if b.job_id:
        tip += f" {b.job_id}"
    tip += f" {view.clock(b.start)}–{view.clock(b.end)}"
    if b.kind == "work":
        windows = ", ".join(f"{view.clock(a)}–{view.clock(z)}" for a, z in b.windows) or "any time"
        tip += f"; window {windows}; {b.status.lower()}"
        tip += "; LATE" if b.late else "; tight" if b.tight else ""
        tip += "; EMERGENCY" if b.emergency else ""
    attrs = f'data-job="{escape(b.job_id)}"' if b.kind == "work" else ""
    rect = (
        f'<rect {attrs} x="{x(b.start):.1f}" y="{top + pad}" width="{max(x(b.end) - x(b.start), 1):.1f}" '
        f'height="{ROW_H - 2 * pad}" fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}>'
        f"<title>{escape(tip)}</title></rect>"
    )
    if b.emergency:
        rect += f'<rect x="{x(b.start):.1f}" y="{top + 2}" width="{max(x(b.end) - x(b.start), 1):.1f}" height="3" fill="#d00"/>'
    return rect


def _unassigned(view: DayView) -> str:
    out = [f"<h2>Unassigned ({len(view.unassigned)})</h2>"]
    if view.unassigned:
        out.append("<table><tr><th>job</th><th>reason</th><th>detail</th></tr>")
        for u in view.unassigned:
            job = f"{escape(u.job_id)}{' (EMERGENCY)' if u.emergency else ''}"
            out.append(f"<tr><td>{job}</td><td>{escape(u.reason)}</td><td>{escape(u.detail)}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>Every job is on a route.</p>")
    if view.idle:
        out.append(f"<p>Technicians without work: {escape(', '.join(view.idle))}</p>")
    return "\n".join(out)
