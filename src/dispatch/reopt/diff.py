"""What a re-plan changed, as a dispatcher (and the customer texts) need it."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.domain import Commitment, Plan, Unassigned


@dataclass(frozen=True, kw_only=True)
class Reassignment:
    job_id: str
    from_technician_id: str
    to_technician_id: str


@dataclass(frozen=True, kw_only=True)
class Resequence:
    """Same technician, another place in the order of the visits both plans share."""

    job_id: str
    technician_id: str
    old_position: int
    new_position: int


@dataclass(frozen=True, kw_only=True)
class EtaChange:
    """A visit in both plans whose service start moved (plan seconds)."""

    job_id: str
    technician_id: str
    old_start: int
    new_start: int


@dataclass(frozen=True, kw_only=True)
class Assignment:
    """A job served by the new plan that the old one did not serve (new, or unassigned before)."""

    job_id: str
    technician_id: str
    start: int


@dataclass(frozen=True, kw_only=True)
class PlanDiff:
    from_version: int
    to_version: int
    reassigned: tuple[Reassignment, ...] = ()
    resequenced: tuple[Resequence, ...] = ()
    newly_unassigned: tuple[Unassigned, ...] = ()
    eta_changes: tuple[EtaChange, ...] = ()
    newly_assigned: tuple[Assignment, ...] = ()
    #: Jobs whose new start is outside the window their customer was promised.
    broken_promises: tuple[str, ...] = ()


def diff(old: Plan, new: Plan, promises: tuple[Commitment, ...] = ()) -> PlanDiff:
    """Compare two versions of one day (same epoch)."""
    before = {v.job_id: (r.technician_id, v.start) for r in old.routes for v in r.visits}
    after = {v.job_id: (r.technician_id, v.start) for r in new.routes for v in r.visits}
    reassigned, eta, assigned = [], [], []
    for route in new.routes:
        for visit in route.visits:
            was = before.get(visit.job_id)
            if was is None:
                assigned.append(Assignment(job_id=visit.job_id, technician_id=route.technician_id, start=visit.start))
                continue
            if was[0] != route.technician_id:
                reassigned.append(
                    Reassignment(job_id=visit.job_id, from_technician_id=was[0], to_technician_id=route.technician_id)
                )
            if was[1] != visit.start:
                eta.append(
                    EtaChange(
                        job_id=visit.job_id,
                        technician_id=route.technician_id,
                        old_start=was[1],
                        new_start=visit.start,
                    )
                )
    resequenced = []
    old_routes = {r.technician_id: [v.job_id for v in r.visits] for r in old.routes}
    for route in new.routes:
        now_ids = [v.job_id for v in route.visits]
        was_ids = old_routes.get(route.technician_id, [])
        shared = set(now_ids) & set(was_ids)
        old_order = [j for j in was_ids if j in shared]
        new_order = [j for j in now_ids if j in shared]
        for j in new_order:
            if old_order.index(j) != new_order.index(j):
                resequenced.append(
                    Resequence(
                        job_id=j,
                        technician_id=route.technician_id,
                        old_position=was_ids.index(j),
                        new_position=now_ids.index(j),
                    )
                )
    was_unassigned = {u.job_id for u in old.unassigned}
    newly_unassigned = tuple(u for u in new.unassigned if u.job_id not in was_unassigned)
    broken = tuple(
        c.job_id
        for c in promises
        if c.window is not None and c.job_id in after and not c.window.contains(after[c.job_id][1])
    )
    return PlanDiff(
        from_version=old.version,
        to_version=new.version,
        reassigned=tuple(reassigned),
        resequenced=tuple(resequenced),
        newly_unassigned=newly_unassigned,
        eta_changes=tuple(eta),
        newly_assigned=tuple(assigned),
        broken_promises=broken,
    )
