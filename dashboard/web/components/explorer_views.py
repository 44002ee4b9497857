"""What the Explorer page's callbacks do, as plain functions (testable without a browser).

Each function is the body of one callback of `dashboard/web/pages/explorer.py`: it reads the
viewer of the request (`viewer()`), masks before anything leaves the server, and records views
of the log in the log itself (`audit.view`): one event per listing the viewer opens (with the
filters used, and whether archived months were included) and one per event opened in the detail
panel (with the event as target).

The archive is passed in as `Locations` (where it is) by the page; a listing kept in the browser
names the archive files it reads, so those are checked against the archive before anything is
read from them (`_listing`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from dashboard.access.users import Actor
from dashboard.evidence.locations import Locations
from dashboard.filters import Filters
from dashboard.store import explorer, selflog
from dashboard.store.archive import archived_months
from dashboard.store.db import Database
from dashboard.store.explorer import Anchor, Snapshot, Sort
from dashboard.web.access import viewer
from dashboard.web.components import detail, views
from dashboard.when import in_zone

log = logging.getLogger(__name__)


#: a column of the grid: its id (the store's sort key), the row field it shows, its name in a link's
#: `sort=`, header, least width in px (what its usual values need), share of the room left over
#: (0: a fixed width), and how its cells are drawn.
@dataclass(frozen=True)
class Column:
    col_id: str
    field: str
    link: str
    header: str
    width: int
    flex: float
    cell_class: str | None = None


#: The columns, sized so all of them fit beside the sidebar from 1440 px wide (the grid is about
#: 1,090 px there, less its scroll bar) without a horizontal scroll bar; wider screens share the rest by `flex`. A value
#: longer than its column ends in "…" and is shown whole on hover (and in the detail panel).
COLUMNS: tuple[Column, ...] = (
    Column("occurred_at", "time", "time", "Time", 152, 0, "ex-cell-time"),
    Column("actor_name", "actor", "user", "User", 112, 0.9),
    Column("actor_role", "role", "role", "Role", 92, 0.6),
    Column("action", "action", "action", "Action", 166, 0.9, "ex-cell-mono"),
    Column("outcome", "outcome", "outcome", "Outcome", 80, 0),
    Column("ip", "ip", "ip", "IP address", 128, 0.3, "ex-cell-mono"),
    Column("geo_country", "place", "location", "Location", 112, 0.9),
    Column("target_name", "target", "target", "Target", 128, 1.6),
    Column("account_id", "account", "account", "Account", 100, 0.5),
)
_BY_LINK = {c.link: c for c in COLUMNS}
#: column id -> its name in a link (assets/explorer.js reads it from the grid's context)
SORT_NAMES: dict[str, str] = {c.col_id: c.link for c in COLUMNS}
_BY_ID = {c.col_id: c for c in COLUMNS}


def column_defs(tz: str, sort: Sort | None = None) -> list[dict[str, Any]]:
    """The grid's columns (every one sortable on the server), sorted as `sort` says (default: newest
    first); the time column names the zone it shows."""
    sort = sort or Sort()
    out: list[dict[str, Any]] = []
    for c in COLUMNS:
        col: dict[str, Any] = {
            "colId": c.col_id,
            "field": c.field,
            "headerName": f"{c.header} ({tz})" if c.col_id == "occurred_at" else c.header,
            "minWidth": c.width,
            "sortable": True,
            "sortingOrder": ["desc", "asc"] if c.col_id == "occurred_at" else ["asc", "desc"],
        }
        if c.flex:
            col["flex"] = c.flex
        else:
            col["width"] = c.width
        if c.cell_class:
            col["cellClass"] = c.cell_class
        if c.col_id == sort.column:
            col["sort"] = "desc" if sort.descending else "asc"
        if c.col_id == "occurred_at":
            # a long zone name wraps in the header instead of widening the column
            col.update(pinned="left", headerTooltip=f"Times in {tz}", wrapHeaderText=True, autoHeaderHeight=True)
        elif c.col_id == "outcome":
            col["cellRenderer"] = "ExplorerOutcome"
        else:
            col["tooltipField"] = c.field  # the whole value on hover when the column cuts it
        out.append(col)
    return out


# -- the view in the link: `#sort=user.asc&event=123` ----------------------------------------------------------
#: The Explorer keeps its own state in the link's fragment (after `#`): the shell owns the query
#: (the filters, rewritten to their canonical form and carried to the other pages), the fragment is
#: the page's. `sort=<field>.<asc|desc>` names the order (absent: newest first); `event=<seq>` the
#: event open in the detail panel.
def sort_text(sort: Sort) -> str:
    """`user.asc` for a link; "" for the default order (newest first)."""
    if sort == Sort():
        return ""
    return f"{_BY_ID[sort.column].link}.{'desc' if sort.descending else 'asc'}"


@dataclass(frozen=True)
class LinkView:
    """What a link's fragment asks for: the order, the open event, and what was not understood."""

    sort: Sort
    event: int | None
    problems: tuple[str, ...]


def _shown(text: str) -> str:
    return text if len(text) <= 40 and text.isprintable() else text[:40].encode("unicode_escape").decode() + "…"


def link_view(fragment: str | None) -> LinkView:
    """Read `#sort=user.asc&event=123` (the leading `#` optional); bad values are dropped with a note."""
    params = parse_qs((fragment or "").lstrip("#"), keep_blank_values=True)
    problems: list[str] = []
    sort = Sort()
    given = (params.get("sort") or [""])[-1].strip()
    if given:
        name, _, direction = given.rpartition(".")
        col = _BY_LINK.get(name)
        if col is None or direction not in ("asc", "desc"):
            fields = ", ".join(c.link for c in COLUMNS)
            problems.append(f"sort={_shown(given)} is not a column and direction ({fields}; .asc or .desc)")
        else:
            sort = Sort(col.col_id, direction == "desc")
    event: int | None = None
    seq = (params.get("event") or [""])[-1].strip()
    if seq:
        if seq.isdigit() and len(seq) <= 18:
            event = int(seq)
        else:
            problems.append(f"event={_shown(seq)} is not an event number")
    return LinkView(sort, event, tuple(problems))


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


def archive_switch(where: Locations) -> tuple[str, bool]:
    """The note beside the "Include archived months" switch, and whether the switch is disabled."""
    months = archived_months(where)
    if not months:
        return "Nothing is archived yet: every event is in the hot store.", True
    names = [m.month for m in months]
    span = names[0] if len(names) == 1 else f"{names[0]} to {names[-1]}"
    count = sum(m.rows - m.expired_rows for m in months)
    plural = "s" if len(names) != 1 else ""
    return f"Archived: {span} ({len(names)} month{plural}, {count:,} events), read from Parquet files.", False


def open_listing(
    db: Database,
    filters_data: Mapping[str, Any] | None,
    current_data: Any,
    reload: bool = False,
    now: datetime | None = None,
    archive: Locations | None = None,
) -> Snapshot | None:
    """The listing of the view in the `filters` store; None when it is the one already shown.

    A new listing is made (and its view recorded) when the filters change, when the archive is
    switched off, or on `reload` (the same filters, counted again now, with the events that
    arrived since; the page also reloads when the archive is switched on). With `archive` (the
    switch on), the listing includes the archived months its range overlaps.
    """
    snap = _new_snapshot(db, filters_data, current_data, reload, now, archive)
    if snap is not None:
        _record_listing(db, snap, archive)
    return snap


def open_listing_with_first(
    db: Database,
    filters_data: Mapping[str, Any] | None,
    current_data: Any,
    sort: Sort,
    *,
    masked: bool,
    reload: bool = False,
    archive: Locations | None = None,
) -> tuple[Snapshot, dict[str, Any] | None] | None:
    """`open_listing`, and its first page in order `sort` (`first_page`, masked as `masked` says).

    The page is read while the view is recorded (the record, a write to the log, is most of the
    listing's time); both finish before anything is returned, and if the record fails the error
    is raised and nothing is shown.
    """
    snap = _new_snapshot(db, filters_data, current_data, reload, None, archive)
    if snap is None:
        return None
    listing = snap.to_store()
    first, _ = views.in_parallel(
        lambda: first_page(db, listing, sort, archive=archive, masked=masked),
        lambda: _record_listing(db, snap, archive),  # in the request's thread: it names who is looking
    )
    return snap, first


def _new_snapshot(
    db: Database,
    filters_data: Mapping[str, Any] | None,
    current_data: Any,
    reload: bool,
    now: datetime | None,
    archive: Locations | None,
) -> Snapshot | None:
    if filters_data is None:
        return None
    filters = Filters.from_store(filters_data)
    current = Snapshot.from_store(current_data)
    switched_off = archive is None and current is not None and bool(current.archive)
    if current is not None and current.filters == filters and not reload and not switched_off:
        return None
    return explorer.snapshot(db, filters, now, archive=archive)


def _record_listing(db: Database, snap: Snapshot, archive: Locations | None) -> None:
    metadata: dict[str, Any] = {
        "events": snap.total,
        "as_of": snap.now.isoformat() + "Z",
        "include_archive": archive is not None,
    }
    if archive is not None:
        metadata["archive_months"] = snap.archive_months()
    _record_view(db, snap.filters, metadata=metadata)


def _listing(listing_data: Any, archive: Locations | None) -> Snapshot | None:
    """The listing kept in the browser; None when there is none or it names files that are not the archive's now.

    The browser could name any file: only the files of the committed archived months are read,
    and a listing made before a month was rewritten (a purge, an expiry) is stale.
    """
    snap = Snapshot.from_store(listing_data)
    if snap is None or not snap.archive:
        return snap
    if archive is None or not explorer.archive_is_current(snap, archive):
        log.info("explorer: a listing names archive files that are not the archive's now; it needs a reload")
        return None
    return snap


def listing_texts(snap: Snapshot) -> tuple[str, str]:
    """The count line and the "as of" line above the grid."""
    n = snap.total
    count = f"{n:,} event{'s' if n != 1 else ''}"
    local = in_zone(snap.now, snap.filters.zone)
    tz = snap.filters.tz
    asof = f"as of {local:%Y-%m-%d %H:%M:%S} {tz}"
    months = snap.archive_months()
    if months:
        asof += f", with archived {months[0] if len(months) == 1 else f'{months[0]} to {months[-1]}'}"
    return count, asof


def rows(
    db: Database,
    request: Any,
    listing_data: Any,
    anchors_data: Any,
    archive: Locations | None = None,
    masked: bool | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One page for the grid's infinite row model, and the anchors to keep for the next turn.

    `archive`: where the archive is (needed for a listing that includes archived months);
    `masked`: whether to mask the rows (default: as the request's viewer must see them).

    Raises:
        LookupError: when there is no listing yet (the grid asked before the page had one), or
            the listing's archive files are not the archive's any more.
    """
    snap = _listing(listing_data, archive)
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
    hide = viewer().masked if masked is None else masked
    page = explorer.page(db, snap, start, end - start, sort, anchors, masked=hide)
    kept = explorer.remember(anchors, page.anchor)
    return {"rowData": page.rows, "rowCount": snap.total}, {"key": key, "anchors": [a.to_json() for a in kept]}


def first_page(
    db: Database, listing_data: Any, sort: Sort, archive: Locations | None = None, masked: bool | None = None
) -> dict[str, Any] | None:
    """The listing's first page in order `sort`, made with the listing, for the grid's first request.

    The grid asks for it right after the listing arrives; assets/explorer.js (`rowsFor`) answers that
    request from this store, in the browser, when it is for rows [0, PAGE_SIZE) of this listing in
    this order, and sends any other request to the server (`rows`). The rows are masked for the
    viewer like any page. None when there is no listing to read.
    """
    model = [{"colId": sort.column, "sort": "desc" if sort.descending else "asc"}]
    request = {"startRow": 0, "endRow": explorer.PAGE_SIZE, "sortModel": model}
    try:
        response, anchors = rows(db, request, listing_data, None, archive=archive, masked=masked)
    except LookupError:
        return None
    snap = Snapshot.from_store(listing_data)
    return {
        "token": snap.token() if snap is not None else None,
        "endRow": explorer.PAGE_SIZE,
        "sort": model[0],
        "response": response,
        "anchors": anchors,
    }


def open_event(db: Database, seq: Any, listing_data: Any, archive: Locations | None = None) -> tuple[str, list[Any]]:
    """The detail panel's title and content for event `seq` (masked for the viewer), recorded as a view.

    An event of a listing that includes archived months is also looked for in its archive files.
    """
    snap = _listing(listing_data, archive)
    filters = snap.filters if snap else Filters()
    files = snap.archive if snap else ()
    try:
        number = int(seq)
    except (TypeError, ValueError):
        return "Event details", [detail.not_found(seq)]
    who = viewer()
    ev = explorer.event(db, number, masked=who.masked, raw=who.raw_json_allowed, archive=files)
    if ev is None:
        return "Event details", [detail.not_found(number)]
    _record_view(
        db,
        filters,
        target_type="event",
        target_id=str(ev.row["event_id"]),
        metadata={"panel": "detail", "seq": number, **({"archived": True} if ev.archived else {})},
    )
    groups = explorer.related(db, number, masked=who.masked, zone=filters.zone, archive=files)
    title = f"Event #{number}"
    return title, detail.body(ev, groups, filters.zone, filters.tz, who.masked)
