"""Readers for the public benchmark sets, and their conversion to ``SolveRequest`` JSON.

The full sets live outside the repository, in ``shared/benchmarks`` next to the checkout
(override with ``DISPATCH_BENCHMARKS_DIR``); see its ``README.md``. Without them the few instances
the tests need are read from ``benchmarks/data`` (``BUNDLED_DIR``). Three sets:

- ``solomon/`` (56 files, 100 customers) and ``homberger_200/`` (60 files, 200 customers):
  VRPTW in the Solomon text format, CRLF line endings, with ``BKS_distance_only.csv``
  and ``BKS_hierarchical.csv`` (columns ``instance,vehicles,distance``, original units).
- ``trsp_pillac2013/`` (56 files): Pillac, Guéret & Medaglia (2013) technician routing, Solomon
  customers plus a crew of 25 technicians with homes, skills, tools and spare parts, and
  ``REPORTED_pillac2013.csv`` (columns ``instance,objective,vehicles_K``).

Conversion follows the DIMACS 2021 / CVRPLIB distance-only convention: every number is scaled
by 10 and made an integer, the arc length is ``floor(10 * euclidean)``, travel time equals
distance (seconds = metres = the scaled number), and the fleet is capped at the file's vehicle
number. Time ``t`` (scaled) is ``EPOCH + t`` seconds. A plan's ``total_distance`` divided by 10
is therefore directly comparable with ``BKS_distance_only.csv`` (see ``dimacs_cost``).

Command line::

    python -m benchmarks.instances convert C101 --out c101.json [--time-limit 5] [--fleet 25]
    python -m benchmarks.instances list [--kind solomon|homberger|trsp]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: Environment variable overriding the shared benchmarks directory.
ENV_DIR = "DISPATCH_BENCHMARKS_DIR"
#: The instances the tests need, bundled with the repository (see its README.md).
BUNDLED_DIR = Path(__file__).resolve().parent / "data"
#: Time 0 of every converted instance.
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
#: DIMACS scaling: distances, times, and service durations are multiplied by this.
SCALE = 10

KINDS = ("solomon", "homberger", "trsp")
_FOLDERS = {"solomon": "solomon", "homberger": "homberger_200", "trsp": "trsp_pillac2013"}
_BKS_FILES = {"distance_only": "BKS_distance_only.csv", "hierarchical": "BKS_hierarchical.csv"}
_REPORTED_FILE = "REPORTED_pillac2013.csv"
#: TRSP instance files are ``<solomon name>.<requests>_<crew>-<skills>-<tools>-<parts>.txt``.
_TRSP_FILE = re.compile(r"^[A-Za-z0-9]+\.\d+_\d+-\d+-\d+-\d+$")

Number = int | float


# ---------------------------------------------------------------------------- files


def benchmarks_dir() -> Path:
    """The benchmarks directory: ``$DISPATCH_BENCHMARKS_DIR`` if set, else the shared full sets.

    Returns
    -------
    Path
        The override (which may not exist); else ``<checkout>/../shared/benchmarks`` if it is
        there; else the instances bundled with the repository (``BUNDLED_DIR``).
    """
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
    return shared if shared.is_dir() else BUNDLED_DIR


def full_sets() -> bool:
    """Whether the full sets are there (not only the bundled instances)."""
    return benchmarks_dir() != BUNDLED_DIR and (benchmarks_dir() / _FOLDERS["solomon"]).is_dir()


@dataclass(frozen=True)
class Instance:
    """One benchmark file.

    Attributes
    ----------
    name : str
        The file name without extension (``C101``, ``C1_2_1``, ``C101.100_25-5-5-5``),
        which is also the key of the set's reference-results table.
    kind : str
        ``"solomon"``, ``"homberger"`` or ``"trsp"``.
    path : Path
        The file.
    """

    name: str
    kind: str
    path: Path


def _natural_key(name: str) -> list[Any]:
    """Sort ``C1_2_2`` before ``C1_2_10``."""
    return [int(part) if part.isdigit() else part.upper() for part in re.split(r"(\d+)", name)]


def _listing(kind: str) -> list[Instance]:
    folder = benchmarks_dir() / _FOLDERS[kind]
    if not folder.is_dir():
        return []
    found = [
        Instance(p.stem, kind, p)
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() == ".txt" and (kind != "trsp" or _TRSP_FILE.match(p.stem))
    ]
    return sorted(found, key=lambda i: _natural_key(i.name))


def solomon_instances() -> list[Instance]:
    """The 56 Solomon (1987) VRPTW instances, 100 customers each (empty if the data is missing)."""
    return _listing("solomon")


def homberger_instances() -> list[Instance]:
    """The 60 Gehring & Homberger 200-customer VRPTW instances (empty if the data is missing)."""
    return _listing("homberger")


def trsp_instances() -> list[Instance]:
    """The 56 Pillac et al. (2013) TRSP instances (empty if the data is missing)."""
    return _listing("trsp")


def find_instance(name: str) -> Instance:
    """The instance called ``name`` (case-insensitive) in any set.

    Raises
    ------
    KeyError
        No set has it.
    """
    wanted = name.strip().upper()
    for inst in solomon_instances() + homberger_instances() + trsp_instances():
        if inst.name.upper() == wanted:
            return inst
    raise KeyError(f"no benchmark instance {name!r} under {benchmarks_dir()}")


# ---------------------------------------------------------------------------- reference results


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [{k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(f)]


def _lookup(files: Sequence[Path], name: str) -> dict[str, str] | None:
    wanted = name.strip().upper()
    for path in files:
        for row in _read_csv(path):
            if row.get("instance", "").upper() == wanted:
                return row
    return None


def bks_row(name: str, table: str = "distance_only") -> dict[str, str] | None:
    """The row of a best-known-solutions table for a Solomon or Homberger instance.

    Parameters
    ----------
    name : str
        Instance name, case-insensitive.
    table : str
        ``"distance_only"`` (DIMACS: truncated distances, fleet capped, minimise distance)
        or ``"hierarchical"`` (SINTEF: vehicles first, then double-precision distance).

    Returns
    -------
    dict or None
        ``{"instance", "vehicles", "distance"}`` as strings, or None if not listed.
    """
    base = benchmarks_dir()
    files = [base / _FOLDERS[k] / _BKS_FILES[table] for k in ("solomon", "homberger")]
    return _lookup(files, name)


def bks(name: str, table: str = "distance_only") -> float | None:
    """Best-known total distance of an instance, in the file's (unscaled) units.

    The default table is ``BKS_distance_only.csv`` (DIMACS convention), the one a plan
    converted by ``vrptw_request`` is comparable with: compare ``dimacs_cost(plan)``.

    Returns
    -------
    float or None
        The ``distance`` column, or None if the instance is not listed.
    """
    row = bks_row(name, table)
    return float(row["distance"]) if row else None


def reported(name: str) -> tuple[float, int] | None:
    """Published TRSP result (Pillac et al. 2013): ``(objective, technicians used)``.

    The objective is total working time in the file's units, with depot returns for missing
    tools and parts allowed; it is not comparable with ``dimacs_cost``.
    """
    row = _lookup([benchmarks_dir() / _FOLDERS["trsp"] / _REPORTED_FILE], name)
    return (float(row["objective"]), int(row["vehicles_K"])) if row else None


def dimacs_cost(plan: Any) -> float:
    """A plan's total distance in the instance's original units (comparable with ``bks``).

    Parameters
    ----------
    plan : int, float, mapping or object
        A total distance in matrix units (scaled by 10); a protobuf-JSON ``Plan`` or
        ``SolveResponse`` dict (``stats.total_distance_meters`` / ``totalDistanceMeters``);
        or a domain ``Plan`` (``plan.stats.total_distance``).

    Returns
    -------
    float
        The distance divided by ``SCALE``.
    """
    if isinstance(plan, bool):
        raise TypeError("expected a distance or a plan, got a bool")
    if isinstance(plan, int | float):
        return plan / SCALE
    if isinstance(plan, Mapping):
        if "plan" in plan:
            plan = plan["plan"]
        stats = plan.get("stats", {})
        total = stats.get("total_distance_meters", stats.get("totalDistanceMeters", 0))
        return int(total) / SCALE
    return plan.stats.total_distance / SCALE


# ---------------------------------------------------------------------------- VRPTW (Solomon, Homberger)


@dataclass(frozen=True)
class Site:
    """One row of a customer table: the depot (row 0) or a customer."""

    x: Number
    y: Number
    demand: Number
    ready: Number
    due: Number
    service: Number


@dataclass(frozen=True)
class VrptwData:
    """A parsed Solomon-format VRPTW instance, numbers as in the file.

    Attributes
    ----------
    name : str
        The file name without extension (``C101``, ``C1_2_1``); Homberger files spell it
        in lowercase on their first line, the BKS tables in uppercase, like the file name.
    vehicles, capacity : int
        The ``VEHICLE`` block: fleet size and vehicle capacity.
    sites : tuple of Site
        ``sites[0]`` is the depot (its due date closes the horizon), ``sites[i]`` customer i.
    """

    name: str
    vehicles: int
    capacity: int
    sites: tuple[Site, ...]

    @property
    def depot(self) -> Site:
        return self.sites[0]

    @property
    def customers(self) -> tuple[Site, ...]:
        return self.sites[1:]


def _number(token: str) -> Number:
    """``"45"`` -> 45, ``"45.5"`` -> 45.5; ValueError otherwise."""
    try:
        return int(token)
    except ValueError:
        return float(token)


def _numeric_rows(text: str) -> list[list[Number]]:
    """Every line made only of numbers (headers and blank lines dropped); CRLF-safe."""
    rows = []
    for line in text.splitlines():
        try:
            row = [_number(t) for t in line.split()]
        except ValueError:
            continue
        if row:
            rows.append(row)
    return rows


def read_vrptw(path: str | Path) -> VrptwData:
    """Parse a Solomon or Gehring & Homberger VRPTW file.

    Parameters
    ----------
    path : str or Path
        The instance file.

    Returns
    -------
    VrptwData

    Raises
    ------
    ValueError
        The file is not in the expected format.
    """
    path = Path(path)
    rows = _numeric_rows(path.read_text(encoding="utf-8"))
    fleet = [r for r in rows if len(r) == 2]
    table = [r for r in rows if len(r) == 7]
    if len(fleet) != 1 or len(table) < 2:
        raise ValueError(f"{path}: expected one 'NUMBER CAPACITY' line and a 7-column customer table")
    if [r[0] for r in table] != list(range(len(table))):
        raise ValueError(f"{path}: customer numbers must run 0, 1, 2, ... (0 = depot)")
    vehicles, capacity = (int(v) for v in fleet[0])
    sites = tuple(Site(*r[1:]) for r in table)
    return VrptwData(name=path.stem, vehicles=vehicles, capacity=capacity, sites=sites)


# ---------------------------------------------------------------------------- request JSON helpers


def dimacs_distance(a: tuple[Number, Number], b: tuple[Number, Number]) -> int:
    """``floor(SCALE * euclidean(a, b))``; exact (integer square root) for integer coordinates."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    if isinstance(dx, int) and isinstance(dy, int):
        return math.isqrt(SCALE * SCALE * (dx * dx + dy * dy))
    return math.floor(SCALE * math.hypot(dx, dy))


def dimacs_matrix(points: Sequence[tuple[Number, Number]]) -> list[int]:
    """Row-major ``len(points)``-square matrix of ``dimacs_distance``."""
    return [dimacs_distance(a, b) for a in points for b in points]


def scaled(value: Number) -> int:
    """A time or duration from the file, in seconds (``SCALE`` x, rounded)."""
    return value * SCALE if isinstance(value, int) else round(value * SCALE)


def timestamp(seconds: int) -> str:
    """RFC 3339 UTC timestamp ``seconds`` after ``EPOCH``."""
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    """Protobuf-JSON duration: ``90`` -> ``"90s"``, ``1.5`` -> ``"1.5s"``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def _window(ready: Number, due: Number) -> dict[str, str]:
    return {"start": timestamp(scaled(ready)), "end": timestamp(scaled(due))}


def _fleet_size(available: int, fleet: int | None) -> int:
    size = available if fleet is None else fleet
    if size < 1:
        raise ValueError(f"fleet must be at least 1, got {size}")
    return size


def _envelope(name: str, points: Sequence[tuple[Number, Number]], time_limit: float) -> dict[str, Any]:
    """The request fields every set shares: id, epoch, options, and the explicit matrix."""
    matrix = dimacs_matrix(points)
    return {
        "plan_id": name,
        "start_time": timestamp(0),
        "technicians": [],
        "jobs": [],
        "options": {"time_limit": duration(time_limit), "travel_model": "EXPLICIT"},
        "travel_matrix": {"size": len(points), "durations_seconds": matrix, "distances_meters": list(matrix)},
    }


def vehicle_id(k: int) -> str:
    """Technician id of the k-th vehicle (0-based): ``v01``, ``v02``, ..."""
    return f"v{k + 1:02d}"


def customer_id(n: int) -> str:
    """Job id of customer ``n`` (1-based, the file's number): ``c1``, ``c2``, ..."""
    return f"c{n}"


# ---------------------------------------------------------------------------- VRPTW -> request


def _vrptw_vehicle(k: int, data: VrptwData) -> dict[str, Any]:
    depot = {"matrix_index": 0}
    return {
        "id": vehicle_id(k),
        "start_location": depot,
        "end_location": dict(depot),
        "shift": _window(data.depot.ready, data.depot.due),
        "parts": {"capacity": data.capacity},
    }


def _vrptw_job(n: int, site: Site) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": customer_id(n),
        "location": {"matrix_index": n},
        "service_duration": duration(scaled(site.service)),
        "time_windows": [_window(site.ready, site.due)],
        "priority": "NORMAL",
    }
    if site.demand:
        job["required_parts"] = {"capacity": int(site.demand)}
    return job


def vrptw_request(data: VrptwData, *, time_limit: float = 5.0, fleet: int | None = None) -> dict[str, Any]:
    """A ``dispatch.v1.SolveRequest`` in protobuf JSON for a VRPTW instance (DIMACS convention).

    Matrix index 0 is the depot and index i customer i; every vehicle is a technician
    ``v01``.. based at the depot with the depot's window as shift and the vehicle capacity
    as stock of the part ``"capacity"``; every customer is a job ``c<i>`` needing its demand
    of ``"capacity"`` (omitted when 0), with its window and service time scaled by 10.

    Parameters
    ----------
    data : VrptwData
        From ``read_vrptw``.
    time_limit : float
        Search budget in seconds (``options.time_limit``).
    fleet : int, optional
        Number of vehicles; default the file's (the DIMACS cap). Larger values relax the cap.

    Returns
    -------
    dict
        Ready for ``json.dump`` or ``google.protobuf.json_format.ParseDict``.
    """
    request = _envelope(data.name, [(s.x, s.y) for s in data.sites], time_limit)
    request["technicians"] = [_vrptw_vehicle(k, data) for k in range(_fleet_size(data.vehicles, fleet))]
    request["jobs"] = [_vrptw_job(n, site) for n, site in enumerate(data.sites) if n > 0]
    return request


# ---------------------------------------------------------------------------- TRSP (Pillac et al. 2013)


@dataclass(frozen=True)
class TrspRow:
    """One row of a TRSP table: the depot, a technician (home) or a request.

    ``skills`` and ``tools`` are index sets; ``parts`` holds a quantity per spare-part type
    (a technician's stock, or a request's need; empty for the depot).
    """

    id: int
    x: Number
    y: Number
    ready: Number
    due: Number
    service: Number
    skills: tuple[int, ...]
    tools: tuple[int, ...]
    parts: tuple[int, ...]


@dataclass(frozen=True)
class TrspData:
    """A parsed TRSP instance.

    Attributes
    ----------
    name : str
        The file name without extension (``C101.100_25-5-5-5``).
    crew, skills, tools, part_types : int
        The ``INFO`` block.
    depot : TrspRow
        Row 0 (where technicians may restock in the original problem).
    technicians : tuple of TrspRow
        Rows 1..crew: home location, shift window, skills, tools, spare-part stock.
    requests : tuple of TrspRow
        Rows crew+1..: request ``id - crew`` is Solomon customer ``id - crew``.
    """

    name: str
    crew: int
    skills: int
    tools: int
    part_types: int
    depot: TrspRow
    technicians: tuple[TrspRow, ...]
    requests: tuple[TrspRow, ...]


def _int_list(token: str) -> tuple[int, ...]:
    """``"[1,3,4]"`` -> ``(1, 3, 4)``; ``"[]"`` -> ``()``."""
    inner = token.strip().removeprefix("[").removesuffix("]")
    return tuple(int(v) for v in inner.split(",") if v.strip())


def _trsp_row(line: str) -> TrspRow:
    head, *lists = re.split(r"\s+(?=\[)", line.strip())
    fields = head.split()
    if len(fields) != 6 or len(lists) != 3:
        raise ValueError(f"expected 6 numbers and 3 [lists]: {line!r}")
    ident, x, y, ready, due, service = (_number(f) for f in fields)
    return TrspRow(int(ident), x, y, ready, due, service, *(_int_list(t) for t in lists))


def read_trsp(path: str | Path) -> TrspData:
    """Parse a Pillac et al. (2013) TRSP file.

    Layout: a name line; ``INFO`` with ``CREW COUNT SKILLS TOOLS SPARE PARTS``; then one
    table ``ID X Y TWS TWE Serv SKILLS TOOLS SPARE PARTS`` whose rows are the depot (0),
    the technicians (1..crew) and the requests, the last three columns as ``[a,b,...]``.

    Raises
    ------
    ValueError
        The file is not in the expected format.
    """
    path = Path(path)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    info = next((i for i, line in enumerate(lines) if line.strip().upper() == "INFO"), None)
    if info is None or info + 2 >= len(lines):
        raise ValueError(f"{path}: no INFO block")
    crew, skills, tools, part_types = (int(v) for v in lines[info + 2].split())
    rows = [_trsp_row(line) for line in lines if "[" in line]
    if [r.id for r in rows] != list(range(len(rows))) or len(rows) <= crew + 1:
        raise ValueError(f"{path}: rows must run 0 (depot), 1..{crew} (technicians), then requests")
    return TrspData(
        path.stem, crew, skills, tools, part_types, rows[0], tuple(rows[1 : crew + 1]), tuple(rows[crew + 1 :])
    )


def _named(prefix: str, indices: Sequence[int]) -> list[str]:
    return [f"{prefix}{i}" for i in sorted(set(indices))]


def _part_map(quantities: Sequence[int]) -> dict[str, int]:
    return {f"part{k}": q for k, q in enumerate(quantities) if q}


def _trsp_technician(k: int, row: TrspRow) -> dict[str, Any]:
    home = {"matrix_index": row.id}
    return {
        "id": vehicle_id(k),
        "start_location": home,
        "end_location": dict(home),
        "shift": _window(row.ready, row.due),
        "skills": _named("skill", row.skills),
        "tools": _named("tool", row.tools),
        "parts": _part_map(row.parts),
    }


def _trsp_job(crew: int, row: TrspRow) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": customer_id(row.id - crew),
        "location": {"matrix_index": row.id},
        "service_duration": duration(scaled(row.service)),
        "time_windows": [_window(row.ready, row.due)],
        "required_skills": _named("skill", row.skills),
        "required_tools": _named("tool", row.tools),
        "priority": "NORMAL",
    }
    parts = _part_map(row.parts)
    if parts:
        job["required_parts"] = parts
    return job


def trsp_request(data: TrspData, *, time_limit: float = 5.0, fleet: int | None = None) -> dict[str, Any]:
    """A ``SolveRequest`` (protobuf JSON) for a TRSP instance, on the same scaled grid as VRPTW.

    Matrix indices are the file's row ids: 0 the depot (unused: no technician starts there),
    1..crew the technicians' homes, then the requests. Technician k (``v01``..) starts and
    ends at home within its window, with skills ``skill<i>``, tools ``tool<i>`` and its stock
    of ``part<i>``; request ``crew + n`` is job ``c<n>`` needing all its skills and tools
    and its quantity of each part.

    Our model has no mid-day restocking, so unlike the original problem a technician cannot
    fetch missing tools or parts at the depot: a request no technician can serve from the
    van is reported unassigned. The published objective (total working time) differs too.

    Parameters
    ----------
    data : TrspData
        From ``read_trsp``.
    time_limit : float
        Search budget in seconds.
    fleet : int, optional
        Use only the first ``fleet`` technicians; default the whole crew.
    """
    points = [(r.x, r.y) for r in (data.depot, *data.technicians, *data.requests)]
    request = _envelope(data.name, points, time_limit)
    size = min(_fleet_size(data.crew, fleet), data.crew)
    request["technicians"] = [_trsp_technician(k, row) for k, row in enumerate(data.technicians[:size])]
    request["jobs"] = [_trsp_job(data.crew, row) for row in data.requests]
    return request


# ---------------------------------------------------------------------------- any instance


def request_for(instance: Instance, *, time_limit: float = 5.0, fleet: int | None = None) -> dict[str, Any]:
    """Read and convert an instance of any set (see ``vrptw_request`` and ``trsp_request``)."""
    if instance.kind == "trsp":
        return trsp_request(read_trsp(instance.path), time_limit=time_limit, fleet=fleet)
    return vrptw_request(read_vrptw(instance.path), time_limit=time_limit, fleet=fleet)


# ---------------------------------------------------------------------------- CLI


def _convert(args: argparse.Namespace) -> int:
    try:
        instance = find_instance(args.name)
    except KeyError as e:
        print(e.args[0], file=sys.stderr)
        return 2
    request = request_for(instance, time_limit=args.time_limit, fleet=args.fleet)
    text = json.dumps(request, separators=(",", ":")) + "\n"
    if args.out in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(
            f"{instance.name} ({instance.kind}): {len(request['jobs'])} jobs, "
            f"{len(request['technicians'])} technicians -> {args.out}",
            file=sys.stderr,
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    for kind in kinds:
        for inst in _listing(kind):
            if kind == "trsp":
                ref = reported(inst.name)
                note = f"reported {ref[0]:g} with {ref[1]} technicians" if ref else ""
            else:
                best = bks(inst.name)
                note = f"BKS {best:g}" if best is not None else ""
            print(f"{kind:9} {inst.name:20} {note}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instances", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    convert = sub.add_parser("convert", help="write an instance as SolveRequest JSON")
    convert.add_argument("name", help="instance name, case-insensitive (C101, c1_2_1, C101.100_25-5-5-5)")
    convert.add_argument("--out", help="output file (default: standard output)")
    convert.add_argument("--time-limit", type=float, default=5.0, help="options.time_limit in seconds (default 5)")
    convert.add_argument("--fleet", type=int, help="number of vehicles (default: the instance's)")
    convert.set_defaults(run=_convert)
    listing = sub.add_parser("list", help="list the instances and their reference results")
    listing.add_argument("--kind", choices=KINDS)
    listing.set_defaults(run=_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.instances``."""
    args = _parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
