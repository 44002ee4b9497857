"""What the Explorer page's callbacks do, as plain functions (testable without a browser).

Each function is the body of one callback of `dashboard/web/pages/explorer.py`: it reads the
viewer of the request (`viewer()`), masks before anything leaves the server, and records views
of the log in the log itself (`audit.view`): one event per listing the viewer opens (with the
filters used) and one per event opened in the detail panel (with the event as target).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dashboard.filters import Filters
from dashboard.store import explorer, selflog
from dashboard.store.db import Database
from dashboard.store.explorer import Anchor, Snapshot, Sort
from dashboard.store.users import Actor
from dashboard.web.access import viewer
from dashboard.web.components import detail

log = logging.getLogger(__name__)

#: columns of the grid: (column id = sort key, row field, header, width, sortable)
_COLUMNS: tuple[tuple[str, str, str, int, float], ...] = (
    ("occurred_at", "time", "Time", 190, 0),
    ("actor_name", "actor", "User", 130, 1.3),
    ("actor_role", "role", "Role", 110, 0.8),
    ("action", "action", "Action", 190, 1.6),
    ("outcome", "outcome", "Outcome", 105, 0),
    ("ip", "ip", "IP address", 130, 1.1),
    ("geo_country", "place", "Location", 130, 1.2),
    ("target_name", "target", "Target", 150, 1.4),
    ("account_id", "account", "Account", 110, 0.8),
)


def column_defs(tz: str) -> list[dict[str, Any]]:
    """The grid's columns (every one sortable on the server); the time column names the zone it shows."""
    out: list[dict[str, Any]] = []
    for col_id, field, header, width, flex in _COLUMNS:
        col: dict[str, Any] = {
            "colId": col_id,
            "field": field,
            "headerName": f"{header} ({tz})" if col_id == "occurred_at" else header,
            "minWidth": width,
            "sortable": True,
            "sortingOrder": ["desc", "asc"] if col_id == "occurred_at" else ["asc", "desc"],
        }
        if flex:
            col["flex"] = flex
        else:
            col["width"] = width
        if col_id == "occurred_at":
            col.update(sort="desc", pinned="left", cellClass="ex-cell-time", headerTooltip=f"Times in {tz}")
        if col_id == "outcome":
            col["cellRenderer"] = "ExplorerOutcome"
        if col_id in ("ip", "action"):
            col["cellClass"] = "ex-cell-mono"
        out.append(col)
    return out


def audit_actor() -> Actor:
    """Who is looking, for the audit log: the signed-in session, else the request's viewer."""
    from dashboard.web.auth import request_actor  # the login layer; imported late (it imports the app state)

    actor = request_actor()
    if actor.name == "system":
        who = viewer()
        return Actor(who.username, who.role)
    return actor


def _record_view(db: Database, filters: Filters, **fields: Any) -> None:
    actor = audit_actor()
    metadata = {"page": "explorer", "filters": filters.to_query(), **fields.pop("metadata", {})}
    # PCI DSS 10.2.1.1: every read of the audit log is itself logged; if that fails, nothing is shown.
    selflog.record(db, "audit.view", actor.name, **actor.audit(), metadata=metadata, **fields)


def open_listing(
    db: Database,
    filters_data: Mapping[str, Any] | None,
    current_data: Any,
    reload: bool = False,
    now: datetime | None = None,
) -> Snapshot | None:
    """The listing of the view in the `filters` store; None when it is the one already shown.

    A new listing is made (and its view recorded) when the filters change, or on `reload` (the
    same filters, counted again now, with the events that arrived since).
    """
    if filters_data is None:
        return None
    filters = Filters.from_store(filters_data)
    current = Snapshot.from_store(current_data)
    if current is not None and current.filters == filters and not reload:
        return None
    snap = explorer.snapshot(db, filters, now)
    _record_view(db, filters, metadata={"events": snap.total, "as_of": snap.now.isoformat() + "Z"})
    return snap


def listing_texts(snap: Snapshot) -> tuple[str, str]:
    """The count line and the "as of" line above the grid."""
    n = snap.total
    count = f"{n:,} event{'s' if n != 1 else ''}"
    local = explorer.local_time(snap.now, snap.filters.zone)
    tz = snap.filters.tz
    return count, f"as of {local:%Y-%m-%d %H:%M:%S} {tz}"


def rows(db: Database, request: Any, listing_data: Any, anchors_data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """One page for the grid's infinite row model, and the anchors to keep for the next turn.

    Raises:
        LookupError: when there is no listing yet (the grid asked before the page had one).
    """
    snap = Snapshot.from_store(listing_data)
    if snap is None or not isinstance(request, Mapping):
        raise LookupError("no listing yet")
    start = int(request.get("startRow") or 0)
    end = int(request.get("endRow") or start + explorer.PAGE_SIZE)
    sort = Sort.from_grid(request.get("sortModel"))
    key = f"{snap.token()}|{sort.key()}"
    anchors: list[Anchor] = []
    if isinstance(anchors_data, Mapping) and anchors_data.get("key") == key:
        found = (Anchor.from_json(a) for a in anchors_data.get("anchors") or [])
        anchors = [a for a in found if a is not None]
    page = explorer.page(db, snap, start, end - start, sort, anchors, masked=viewer().masked)
    kept = explorer.remember(anchors, page.anchor)
    return {"rowData": page.rows, "rowCount": snap.total}, {"key": key, "anchors": [a.to_json() for a in kept]}


def open_event(db: Database, seq: Any, listing_data: Any) -> tuple[str, list[Any]]:
    """The detail panel's title and content for event `seq` (masked for the viewer), recorded as a view."""
    snap = Snapshot.from_store(listing_data)
    filters = snap.filters if snap else Filters()
    try:
        number = int(seq)
    except (TypeError, ValueError):
        return "Event details", [detail.not_found(seq)]
    who = viewer()
    ev = explorer.event(db, number, masked=who.masked, raw=who.raw_json_allowed)
    if ev is None:
        return "Event details", [detail.not_found(number)]
    _record_view(
        db,
        filters,
        target_type="event",
        target_id=str(ev.row["event_id"]),
        metadata={"panel": "detail", "seq": number},
    )
    groups = explorer.related(db, number, masked=who.masked, zone=filters.zone)
    title = f"Event #{number}"
    return title, detail.body(ev, groups, filters.zone, filters.tz, who.masked)
