"""The explorer's queries: one page of the filtered events at a time, one event in full, its context.

A listing is a `Snapshot`: the filters resolved at one instant plus the highest sequence number
stored at that instant, so every page of one listing describes the same set of rows even while
new events arrive (and the total stays true). Paging never reads more than it returns:

* the order is total (the sort column, then time, then `seq`), so a page is defined by the
  row just before it;
* a page next to one already served (the browser keeps the first and last `seq` of the last
  few pages, see `Anchor`) is read by *keyset*: "the next 50 rows after this row", which
  DuckDB answers from the top of a sorted scan whatever the depth;
* the first pages are read from the top, the last pages from the bottom (the order reversed);
* in other orders than time, the sort column's histogram over the listing (rows per value,
  computed once per listing and order) says which values hold the page, so only their rows are
  read and sorted, in a time window DuckDB can skip row groups outside of (`_read_by_values`);
* only a jump to the middle of a long listing with no anchor near it falls back to OFFSET
  (in time order, or in a column with more values than a histogram may hold).

docs/PERFORMANCE.md ("Explorer") has the measurements behind this.

A listing made with the archive included (`snapshot(..., archive=...)`) names the Parquet files
of the archived months its range overlaps; every statement of that listing (the count, the
pages, the histograms, anchor lookups, the detail panel) is the same statement rewritten to read
"hot UNION ALL those files" instead of `events` (`over`). A hot-only listing runs its statements
unchanged.

Masking is decided by the caller (`masked`, from `viewer().masked`) and applied here, before
rows leave the server: addresses keep their network part, names are shortened.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any, NamedTuple, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.util import ClauseAdapter

from dashboard.events import jsontext
from dashboard.events.taxonomy import CATEGORY_TITLES
from dashboard.filters import Filters, View
from dashboard.privacy import mask_ip, shorten_name
from dashboard.store import rollups
from dashboard.store.archive import ArchiveSite, archive_files, archived_months, union_relation
from dashboard.store.db import Database
from dashboard.store.schema import events
from dashboard.when import in_zone

E = events.c

#: sortable columns: the grid's column id -> the column. Nothing else reaches ORDER BY.
SORT_COLUMNS: dict[str, sa.Column[Any]] = {
    "occurred_at": E.occurred_at,
    "actor_name": E.actor_name,
    "actor_role": E.actor_role,
    "action": E.action,
    "category": E.category,
    "outcome": E.outcome,
    "ip": E.ip,
    "geo_country": E.geo_country,
    "target_name": E.target_name,
    "account_id": E.account_id,
}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
#: how many anchors (pages already served) the browser keeps per listing.
MAX_ANCHORS = 12
#: target types that name a person (their names are shortened for masked viewers).
PERSON_TARGETS = frozenset({"agent", "user", "contact", "customer", "member"})
#: how far from an event its request and session are looked for (keeps the lookup to a few row groups).
CONTEXT_WINDOW = timedelta(hours=24)
CONTEXT_LIMIT = 25

#: the columns one grid row needs (the detail panel reads the whole row).
_LIST_COLUMNS = (
    E.seq,
    E.event_id,
    E.occurred_at,
    E.account_id,
    E.action,
    E.category,
    E.outcome,
    E.reason,
    E.actor_id,
    E.actor_name,
    E.actor_role,
    E.actor_type,
    E.target_type,
    E.target_id,
    E.target_name,
    E.ip,
    E.ip_scope,
    E.geo_city,
    E.geo_country,
)


# -- sorting ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sort:
    """The order of a listing: one allow-listed column and a direction (time breaks ties, newest first)."""

    column: str = "occurred_at"
    descending: bool = True

    @classmethod
    def from_grid(cls, sort_model: Any) -> Sort:
        """The grid's `sortModel` ([{"colId": ..., "sort": "asc"}]); unknown columns give the default order."""
        if isinstance(sort_model, list) and sort_model and isinstance(sort_model[0], Mapping):
            col = sort_model[0].get("colId")
            direction = sort_model[0].get("sort")
            if col in SORT_COLUMNS and direction in ("asc", "desc"):
                return cls(str(col), direction == "desc")
        return cls()

    def key(self) -> str:
        """`occurred_at:desc`: names the order in anchors."""
        return f"{self.column}:{'desc' if self.descending else 'asc'}"


@dataclass(frozen=True)
class _Key:
    column: sa.ColumnElement[Any]
    descending: bool
    nullable: bool


def _order_keys(sort: Sort) -> list[_Key]:
    """The total order of a sort: the column (empty values last), then newest first, then `seq`."""
    if sort.column == "occurred_at":
        return [_Key(E.occurred_at, sort.descending, False), _Key(E.seq, sort.descending, False)]
    return [
        _Key(SORT_COLUMNS[sort.column], sort.descending, True),
        _Key(E.occurred_at, True, False),
        _Key(E.seq, True, False),
    ]


def _order_by(keys: Sequence[_Key], reverse: bool) -> list[sa.ColumnElement[Any]]:
    out: list[sa.ColumnElement[Any]] = []
    for k in keys:
        desc = k.descending != reverse
        expr = k.column.desc() if desc else k.column.asc()
        if k.nullable:
            # forward: empty values last in either direction; reversed: first
            expr = expr.nulls_first() if reverse else expr.nulls_last()
        out.append(expr)
    return out


def order_clause(sort: Sort, reverse: bool = False) -> list[sa.ColumnElement[Any]]:
    """The ORDER BY of a sort (reversed: the same rows from the other end)."""
    return _order_by(_order_keys(sort), reverse)


def _beyond(key: _Key, value: Any, reverse: bool) -> sa.ColumnElement[bool] | None:
    """Rows strictly after `value` on this key, in the (possibly reversed) order; None: no row is."""
    desc = key.descending != reverse
    nulls_first = key.nullable and reverse
    col = key.column
    if value is None:
        # after an empty value: nothing when empties come last, every filled value when they come first
        return col.is_not(None) if nulls_first else None
    cmp = col < value if desc else col > value
    if key.nullable and not nulls_first:
        return sa.or_(cmp, col.is_(None))
    return cmp


def _equal(key: _Key, value: Any) -> sa.ColumnElement[bool]:
    return key.column.is_(None) if value is None else key.column == value


def _after(keys: Sequence[_Key], values: Sequence[Any], reverse: bool) -> sa.ColumnElement[bool]:
    """Keyset condition: rows after the row with sort values `values` (a lexicographic comparison)."""
    ors: list[sa.ColumnElement[bool]] = []
    for i, key in enumerate(keys):
        beyond = _beyond(key, values[i], reverse)
        if beyond is None:
            continue
        ors.append(sa.and_(*(_equal(k, v) for k, v in zip(keys[:i], values[:i], strict=True)), beyond))
    cond = sa.or_(*ors) if ors else sa.false()
    # The same bound on the first key alone lets the scan skip whole row groups by their min/max.
    first, v0 = keys[0], values[0]
    if v0 is not None:
        desc = first.descending != reverse
        bound = first.column <= v0 if desc else first.column >= v0
        if first.nullable and not reverse:
            bound = sa.or_(bound, first.column.is_(None))
        cond = sa.and_(bound, cond)
    return cond


# -- the listing ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """A listing: the filters resolved at `now`, over the events stored up to `max_seq`.

    Attributes:
        filters: the view.
        now: the instant relative ranges resolve at (naive UTC).
        max_seq: the highest sequence number when the listing was made.
        total: how many events the listing holds.
    """

    filters: Filters
    now: datetime
    max_seq: int
    total: int
    archive: tuple[str, ...] = ()
    """The archive's Parquet files the listing reads besides the hot store (empty: hot only)."""

    @property
    def view(self) -> View:
        """The filters resolved at the listing's `now` (the same `View` the pages' charts use)."""
        return View.of(self.filters, self.now)

    def where(self) -> sa.ColumnElement[bool]:
        """The listing's WHERE clause."""
        return sa.and_(self.view.where(), E.seq <= self.max_seq)

    def token(self) -> str:
        """A short id of the listing (anchors of another listing are ignored)."""
        text = f"{self.filters.to_query()}|{self.now.isoformat()}|{self.max_seq}"
        if self.archive:
            text += "|" + "|".join(self.archive)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def range(self) -> tuple[datetime, datetime]:
        """The listing's time range, naive UTC [start, end)."""
        view = self.view
        return view.start, view.end

    def to_store(self) -> dict[str, Any]:
        """JSON for a `dcc.Store`."""
        return {
            "filters": self.filters.to_store(),
            "now": self.now.isoformat(),
            "max_seq": self.max_seq,
            "total": self.total,
            "archive": list(self.archive),
            "token": self.token(),
        }

    @classmethod
    def from_store(cls, data: Any) -> Snapshot | None:
        """The inverse of `to_store`; None when the data is missing or not well-formed.

        The archive files are taken as given: a caller that got the data from a browser checks
        them against the archive (`archive_is_current`) before reading them.
        """
        if not isinstance(data, Mapping):
            return None
        archive = data.get("archive") or []
        if not isinstance(archive, list) or not all(isinstance(f, str) for f in archive):
            return None
        try:
            now = datetime.fromisoformat(str(data["now"])).replace(tzinfo=None)
            filters = Filters.from_store(data.get("filters"))
            return cls(filters, now, int(data["max_seq"]), int(data["total"]), tuple(archive))
        except (KeyError, TypeError, ValueError):
            return None

    def archive_months(self) -> list[str]:
        """The archived months the listing reads (YYYY-MM, from the file names)."""
        return [_month_of(f) for f in self.archive]


def _month_of(path: str) -> str:
    return PurePath(path).name[:7]  # the archive names its files YYYY-MM.rN.parquet


_Stmt = TypeVar("_Stmt", bound=sa.sql.ClauseElement)


def read_from(source: sa.FromClause, stmt: _Stmt) -> _Stmt:
    """`stmt` rewritten to read `source` (a relation with the columns of `events`) where it reads `events`."""
    return cast(_Stmt, ClauseAdapter(source).traverse(stmt))


def over(snap: Snapshot, stmt: _Stmt) -> _Stmt:
    """`stmt` over the listing's events: unchanged for a hot-only listing, else reading hot UNION ALL its archive.

    The union is bounded by the listing's range in both branches, so DuckDB skips the row
    groups outside it in the table and in the Parquet files alike.
    """
    if not snap.archive:
        return stmt
    start, end = snap.range()
    return read_from(union_relation(snap.archive, start, end), stmt)


def archive_is_current(snap: Snapshot, where: ArchiveSite) -> bool:
    """Whether every archive file the listing names is a file of a committed archived month now.

    A listing kept in the browser names the files it reads: only files of the archive are read,
    and a month rewritten since the listing was made (a purge or expiry) makes it stale.
    """
    return not snap.archive or set(snap.archive) <= set(archive_files(where))


def snapshot(
    db: Database, filters: Filters, now: datetime | None = None, archive: ArchiveSite | None = None
) -> Snapshot:
    """Resolve `filters` now and count the events of the listing.

    Args:
        db: the store.
        filters: the view.
        now: the instant relative ranges resolve at (default: now).
        archive: where the archive is, to include the archived months the range overlaps
            (read from their Parquet files); None: the hot store only.
    """
    instant = now or datetime.now(UTC)
    if instant.tzinfo is not None:
        instant = instant.astimezone(UTC)
    instant = instant.replace(tzinfo=None, microsecond=0)
    files: tuple[str, ...] = ()
    last_archived = 0
    if archive is not None:
        months = archived_months(archive, *Snapshot(filters, instant, 0, 0).range())
        files = tuple(str(archive.archive_dir / m.file) for m in months)
        last_archived = max((m.last_seq for m in months), default=0)
    with db.connect() as conn:
        max_seq = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(E.seq), 0))).scalar() or 0)
        # an archived event is older than every hot one, except when the hot store is empty
        snap = Snapshot(filters, instant, max(max_seq, last_archived), 0, files)
        if files:
            count = sa.select(sa.func.count()).select_from(events).where(snap.where())
            total = int(conn.execute(over(snap, count)).scalar() or 0)
        else:
            # the rollups where they answer (dashboard.store.rollups): in this transaction they
            # count exactly the events up to `max_seq`, as the raw count would
            src = rollups.source(conn, snap.view, ())
            total = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(src.c.n), 0))).scalar() or 0)
    return Snapshot(filters, instant, snap.max_seq, total, files)


# -- pages --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Anchor:
    """A page already served: it starts at row `start` and holds `count` rows, `first_seq` to `last_seq`."""

    start: int
    count: int
    first_seq: int
    last_seq: int

    def to_json(self) -> list[int]:
        """Compact JSON: [start, count, first_seq, last_seq]."""
        return [self.start, self.count, self.first_seq, self.last_seq]

    @classmethod
    def from_json(cls, value: Any) -> Anchor | None:
        """The inverse of `to_json` (None when not well-formed)."""
        if isinstance(value, list) and len(value) == 4 and all(isinstance(v, int) for v in value):
            return cls(*value)
        return None


@dataclass(frozen=True)
class Plan:
    """How a page is read: from the top, the bottom, or next to an anchor, skipping `skip` rows."""

    how: str  # "top", "bottom", "after", "before"
    skip: int
    limit: int
    seq: int | None = None  # the anchor row for "after" / "before"

    @property
    def reverse(self) -> bool:
        """Whether the rows are read in the reversed order (and turned round afterwards)."""
        return self.how in ("bottom", "before")


def plan(start: int, limit: int, total: int, anchors: Sequence[Anchor] = ()) -> Plan:
    """The cheapest way to read rows [start, start + limit): the one that skips the fewest rows."""
    limit = max(0, min(limit, total - start))
    options = [Plan("top", start, limit), Plan("bottom", max(0, total - start - limit), limit)]
    for a in anchors:
        end = a.start + a.count
        if start >= end:
            options.append(Plan("after", start - end, limit, a.last_seq))
        if start + limit <= a.start:
            options.append(Plan("before", a.start - start - limit, limit, a.first_seq))
    return min(options, key=lambda p: (p.skip, p.how not in ("after", "before")))


@dataclass(frozen=True)
class Page:
    """One page of a listing, ready for the grid."""

    start: int
    rows: list[dict[str, Any]]
    plan: Plan
    anchor: Anchor | None = None


def statement(
    snap: Snapshot,
    sort: Sort,
    p: Plan,
    anchor_values: Sequence[Any] | None = None,
    window: sa.ColumnElement[bool] | None = None,
) -> sa.Select[Any]:
    """The SELECT of a page read by plan `p` (`anchor_values`: the sort values of the plan's anchor
    row; `window`: a further condition on time, `_read_by_time`)."""
    keys = _order_keys(sort)
    conds = [snap.where()]
    if anchor_values is not None:
        conds.append(_after(keys, anchor_values, p.reverse))
    if window is not None:
        conds.append(window)
    stmt = sa.select(*_LIST_COLUMNS).where(*conds).order_by(*_order_by(keys, p.reverse)).limit(p.limit)
    stmt = stmt.offset(p.skip) if p.skip else stmt
    if snap.filters.text and not snap.archive:
        # free text matches by equality on values (docs/architecture.md): the page's sequence
        # numbers are found reading a few columns, then their rows, in one statement
        chosen = stmt.with_only_columns(E.seq).correlate(None).scalar_subquery()
        return sa.select(*_LIST_COLUMNS).where(E.seq.in_(chosen)).order_by(*_order_by(keys, p.reverse))
    return over(snap, stmt)


def anchor_values(conn: Connection, sort: Sort, seq: int, snap: Snapshot | None = None) -> list[Any] | None:
    """The sort values of the row `seq` (None when it is gone); looked up in the listing `snap` when given."""
    keys = _order_keys(sort)
    stmt = sa.select(*(k.column for k in keys)).where(E.seq == seq)
    row = conn.execute(over(snap, stmt) if snap is not None else stmt).first()
    return list(row) if row is not None else None


def page(
    db: Database,
    snap: Snapshot,
    start: int,
    limit: int = PAGE_SIZE,
    sort: Sort | None = None,
    anchors: Sequence[Anchor] = (),
    masked: bool = False,
) -> Page:
    """Rows [start, start + limit) of the listing in `sort` order, shaped for the grid (masked if asked)."""
    sort = sort or Sort()
    start = max(0, int(start))
    limit = max(0, min(int(limit), MAX_PAGE_SIZE))
    p = plan(start, limit, snap.total, anchors)
    if p.limit == 0:
        return Page(start, [], p)
    with db.connect() as conn:
        by_values = None
        if sort.column != "occurred_at":
            by_values = _read_by_values(conn, snap, sort, start, p.limit, anchors)
        if by_values is not None:
            p, rows = by_values
        else:
            values = None
            if p.seq is not None:
                values = anchor_values(conn, sort, p.seq, snap)
                if values is None:  # the anchor row is gone (retention): read without it
                    p = plan(start, limit, snap.total)
            rows = _read_by_time(conn, snap, sort, p, values)
    if p.reverse:
        rows.reverse()
    zone = snap.filters.zone
    shaped = [grid_row(r, zone, masked) for r in rows]
    anchor = Anchor(start, len(rows), int(rows[0]["seq"]), int(rows[-1]["seq"])) if rows else None
    return Page(start, shaped, p, anchor)


#: a page in time order is first looked for in a slice of the range at the end it is read from,
#: sized to hold this many times the rows it needs if the listing's events were spread evenly
WINDOW_MARGIN = 4
#: each slice that held too few rows is followed by one this many times as long
WINDOW_GROWTH = 8


def _read_by_time(
    conn: Connection, snap: Snapshot, sort: Sort, p: Plan, values: Sequence[Any] | None
) -> list[dict[str, Any]]:
    """The rows of plan `p` (no anchor) in time order, read from the end of the range they are
    read from: the newest (or oldest) slice of the range first, a longer one when it held too few.

    Every event outside a slice comes after every event inside it in the reading order, so a slice
    that holds the plan's rows (the rows it skips, then a full page) holds exactly the rows the
    whole range would give; DuckDB skips the row groups outside it. A listing over a year of 100 M
    events read every row group of its range for a first page (1.4 s for a free-text view).
    """
    need = p.skip + p.limit
    start, end = snap.range()
    span = end - start
    if sort.column != "occurred_at" or values is not None or need * WINDOW_MARGIN >= snap.total:
        return _fetch(conn, statement(snap, sort, p, values))
    newest_first = sort.descending != p.reverse
    width = span * (need * WINDOW_MARGIN / snap.total)
    while width < span:
        window = E.occurred_at >= end - width if newest_first else E.occurred_at < start + width
        rows = _fetch(conn, statement(snap, sort, p, values, window))
        if len(rows) >= p.limit:
            return rows
        width *= WINDOW_GROWTH
    return _fetch(conn, statement(snap, sort, p, values))


def _fetch(conn: Connection, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(stmt).mappings().fetchall()]


# -- other orders, by the counts of each value ----------------------------------------------------------------
#: a sort column with more distinct values than this in a listing is read with one sorted scan
#: per page (`statement`): its histogram would cost more to build and hold than it saves.
HISTOGRAM_MAX_VALUES = 50_000
#: histograms kept per database (one per listing and sort column, least recently used dropped).
HISTOGRAMS_KEPT = 32


class Group(NamedTuple):
    """The rows of a listing that hold one value of the sort column (None: no value)."""

    value: Any
    rows: int
    first: datetime
    """When the oldest of them happened."""
    last: datetime
    """When the newest of them happened."""


@dataclass(frozen=True)
class Histogram:
    """How many rows of a listing hold each value of a sort column, and over which time.

    Attributes:
        filled: one group per value, in ascending order of the values (the database's own
            order: it sorted them).
        empty: the rows with no value (they come last in either direction), if any.
    """

    filled: tuple[Group, ...]
    empty: Group | None
    _layouts: dict[bool, tuple[list[Group], list[int]]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def total(self) -> int:
        """How many rows the listing holds."""
        return sum(g.rows for g in self.filled) + (self.empty.rows if self.empty else 0)

    def groups(self, descending: bool) -> list[Group]:
        """The groups in the listing's order."""
        out = list(reversed(self.filled)) if descending else list(self.filled)
        if self.empty is not None:
            out.append(self.empty)
        return out

    def layout(self, descending: bool) -> tuple[list[Group], list[int]]:
        """The groups in the listing's order and where each starts: group i holds rows [bounds[i], bounds[i + 1])."""
        found = self._layouts.get(descending)
        if found is None:
            groups = self.groups(descending)
            found = self._layouts[descending] = (groups, [0, *itertools.accumulate(g.rows for g in groups)])
        return found


_histograms: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[str, str], Histogram | None]] = (
    weakref.WeakKeyDictionary()
)
_histograms_lock = threading.Lock()
#: per database and column: the smallest listing in which the column had too many values
_too_many: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()


def histogram(conn: Connection, snap: Snapshot, column: str) -> Histogram | None:
    """The histogram of a sort column over a listing (None: more than `HISTOGRAM_MAX_VALUES` values).

    A listing never changes (`Snapshot`), so its histogram is computed once (one aggregate, no
    sort of the rows) and kept for the listing's later pages.
    """
    key = (snap.token(), column)
    with _histograms_lock:
        kept = _histograms.setdefault(conn.engine, OrderedDict())
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
        # a listing at least as large as one where this column had too many values: do not try
        overflowed = _too_many.setdefault(conn.engine, {}).get(column)
        if overflowed is not None and snap.total >= overflowed:
            return None
    col = SORT_COLUMNS[column]
    stmt = (
        sa.select(col, sa.func.count(), sa.func.min(E.occurred_at), sa.func.max(E.occurred_at))
        .where(snap.where())
        .group_by(col)
        .order_by(col.asc().nulls_last())
        .limit(HISTOGRAM_MAX_VALUES + 2)  # the values, the empty ones, and one more: too many
    )
    groups = [Group(*row) for row in conn.execute(over(snap, stmt)).fetchall()]
    filled = tuple(g for g in groups if g.value is not None)
    found = None
    if len(filled) <= HISTOGRAM_MAX_VALUES:
        found = Histogram(filled, next((g for g in groups if g.value is None), None))
    with _histograms_lock:
        if found is None:
            sizes = _too_many.setdefault(conn.engine, {})
            sizes[column] = min(snap.total, sizes.get(column, snap.total))
        kept[key] = found
        while len(kept) > HISTOGRAMS_KEPT:
            kept.popitem(last=False)
    return found


def _member(key: _Key, values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """Rows whose sort value is one of `values` (None: the empty ones)."""
    filled = [v for v in values if v is not None]
    conds: list[sa.ColumnElement[bool]] = []
    if filled:
        conds.append(key.column == filled[0] if len(filled) == 1 else key.column.in_(filled))
    if len(filled) < len(values):
        conds.append(key.column.is_(None))
    return sa.or_(*conds)


#: how many times the rows a page needs the first guess of a time window should hold.
WINDOW_MARGIN = 4


def _read_by_values(
    conn: Connection, snap: Snapshot, sort: Sort, start: int, limit: int, anchors: Sequence[Anchor]
) -> tuple[Plan, list[dict[str, Any]]] | None:
    """Rows [start, start + limit) in a non-time order, found with the column's histogram.

    The histogram says which values hold the page's rows and where each value starts, so the
    page is read from the rows of those values only: `col IN (values)` in the full order, with a
    small OFFSET inside them (from the first value's start, from the last value's end, or after
    an anchor row of the browser inside the first or last value, whichever skips the fewest).
    These rows are contiguous in the total order, so this is the same page as the plain
    `ORDER BY ... LIMIT/OFFSET` over the whole listing (tests/test_explorer.py compares them),
    but it costs a filtered scan of the column and a sort of a few values' rows instead of a
    sort of the whole listing. The scan is bounded by the values' oldest and newest times, and a
    page inside one value first tries a time window at the end it is read from (`WINDOW_MARGIN`),
    so DuckDB skips the row groups outside by their min/max. Returns None when the column has too
    many values for a histogram (the caller then reads the page with one sorted `SELECT`).
    """
    hist = histogram(conn, snap, sort.column)
    if hist is None:
        return None
    groups, bounds = hist.layout(sort.descending)
    end = min(start + limit, bounds[-1])
    if end <= start:
        return Plan("top", 0, 0), []
    first = bisect.bisect_right(bounds, start) - 1
    last = bisect.bisect_right(bounds, end - 1) - 1
    chosen = groups[first : last + 1]
    values = [g.value for g in chosen]
    # (skip, plan): from the first value's start, from the last value's end, next to an anchor
    options: list[Plan] = [
        Plan("top", start - bounds[first], end - start),
        Plan("bottom", bounds[last + 1] - end, end - start),
    ]
    for a in anchors:
        a_end = a.start + a.count
        if bounds[first] <= a_end - 1 and a_end <= start:  # its last row is in the first value
            options.append(Plan("after", start - a_end, end - start, a.last_seq))
        if a.start <= bounds[last + 1] - 1 and end <= a.start:  # its first row is in the last value
            options.append(Plan("before", a.start - end, end - start, a.first_seq))
    keys = _order_keys(sort)
    for p in sorted(options, key=lambda o: (o.skip, o.how not in ("after", "before"))):
        member = _member(keys[0], values)
        since = min(g.first for g in chosen)  # every row of these values lies in [since, until]
        until = max(g.last for g in chosen)
        if p.seq is not None:
            anchor = anchor_values(conn, sort, p.seq, snap)
            edge, rest = (values[0], values[1:]) if p.how == "after" else (values[-1], values[:-1])
            if anchor is None or anchor[0] != edge:  # gone, or not where the browser saw it
                continue
            # the rows of the anchor's value beyond the anchor row, and the other values whole
            within = sa.and_(_equal(keys[0], edge), _after(keys[1:], anchor[1:], p.reverse))
            member = sa.or_(within, _member(keys[0], rest)) if rest else within
            if len(chosen) == 1:  # the rows beyond the anchor: on the far side of its time
                since, until = (anchor[1], until) if p.reverse else (since, anchor[1])
        stmt = (
            sa.select(*_LIST_COLUMNS).where(snap.where(), member).order_by(*_order_by(keys, p.reverse)).limit(p.limit)
        )
        if p.skip:
            stmt = stmt.offset(p.skip)
        # one value: its rows in time order from one end, so first try a window at that end
        # that should hold the rows needed (the value's rate over its time), widened if short
        rate = chosen[0].rows / max((chosen[0].last - chosen[0].first).total_seconds(), 1.0)
        need = WINDOW_MARGIN * (p.skip + p.limit) / rate if len(chosen) == 1 else math.inf
        while True:
            lo, hi = since, until
            if need < (until - since).total_seconds():
                step = timedelta(seconds=need)
                lo, hi = (since, since + step) if p.reverse else (until - step, until)
            rows = _fetch(conn, over(snap, stmt.where(E.occurred_at >= lo, E.occurred_at <= hi)))
            if len(rows) >= p.limit or (lo, hi) == (since, until):
                return p, rows
            need *= 8
    return None  # pragma: no cover - "top" and "bottom" need no anchor


def remember(anchors: Sequence[Anchor], new: Anchor | None) -> list[Anchor]:
    """The anchors to keep after serving `new`: the most recent `MAX_ANCHORS`, one per start row."""
    kept = [a for a in anchors if new is None or a.start != new.start]
    if new is not None:
        kept.append(new)
    return kept[-MAX_ANCHORS:]


# -- shaping rows for people ----------------------------------------------------------------------------
def utc_text(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds: 2026-11-09T12:07:05.308Z."""
    return value.isoformat(timespec="milliseconds") + "Z"


def shown_name(name: str | None, masked: bool) -> str | None:
    """A person's name as the viewer may see it."""
    return shorten_name(name) if masked else name


def shown_ip(ip: str | None, masked: bool) -> str | None:
    """An address as the viewer may see it."""
    if ip is None:
        return None
    return mask_ip(ip) if masked else ip


def place_text(row: Mapping[str, Any]) -> str:
    """Where an address is: "Hamburg, DE", "internal network", "masked by the sender", or ""."""
    scope = row.get("ip_scope")
    if scope == "internal":
        return "internal network"
    if scope == "masked":
        return "masked by the sender"
    parts = [p for p in (row.get("geo_city"), row.get("geo_country")) if p]
    return ", ".join(parts)


def actor_text(row: Mapping[str, Any], masked: bool) -> str:
    """Who acted: the (shortened) name, else the id, else the kind of actor."""
    name = shown_name(row.get("actor_name"), masked)
    return str(name or row.get("actor_id") or row.get("actor_type") or "unknown")


def target_text(row: Mapping[str, Any], masked: bool) -> str:
    """What was acted on: "agent · Bilal S." / "conversation · #179959"."""
    kind = row.get("target_type")
    name = row.get("target_name")
    if masked and kind in PERSON_TARGETS:
        name = shorten_name(name)
    label = name or row.get("target_id")
    if not kind and not label:
        return ""
    return " · ".join(str(p) for p in (kind, label) if p)


def grid_row(row: Mapping[str, Any], zone: Any, masked: bool) -> dict[str, Any]:
    """One event as a grid row (JSON-ready; masked for masked viewers)."""
    when = in_zone(row["occurred_at"], zone)
    return {
        "id": str(row["seq"]),  # the grid's row id (AG Grid wants text)
        "seq": int(row["seq"]),
        "time": f"{when:%Y-%m-%d %H:%M:%S}",
        "actor": actor_text(row, masked),
        "actor_id": row.get("actor_id"),
        "role": row.get("actor_role") or "",
        "action": row["action"],
        "category": CATEGORY_TITLES.get(row["category"], row["category"]),
        "outcome": row["outcome"],
        "reason": row.get("reason") or "",
        "ip": shown_ip(row.get("ip"), masked) or "",
        "place": place_text(row),
        "target": target_text(row, masked),
        "account": row["account_id"],
    }


# -- one event and its context ---------------------------------------------------------------------------
_SENSITIVE_KEYS = ("name", "email", "e-mail", "mail", "ip", "address", "phone")


def _mask_value(key: str, value: Any) -> Any:
    """A value of `changes` or `metadata` as a masked viewer may see it (by the key's meaning)."""
    low = key.lower()
    if isinstance(value, Mapping):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if not isinstance(value, str):
        return value
    is_address = low == "ip" or low.endswith(("_ip", ".ip")) or ("address" in low and "@" not in value)
    if is_address:
        return mask_ip(value)
    if "@" in value or any(s in low for s in _SENSITIVE_KEYS):
        return shorten_name(value)
    return value


def _json_object(text: str | None) -> dict[str, Any] | None:
    """Stored `changes` / `metadata` text as an object; what cannot be read as its placeholder (never raises)."""
    return jsontext.decode_object(text)


@dataclass(frozen=True)
class Change:
    """One changed field: before and after, as text."""

    field: str
    before: str | None
    after: str | None

    @property
    def kind(self) -> str:
        """added (no value before), removed (none after) or changed."""
        if self.before is None and self.after is not None:
            return "added"
        if self.after is None and self.before is not None:
            return "removed"
        return "changed"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return jsontext.dumps(value, sort_keys=True)
    return str(value)


def changes_of(changes: Mapping[str, Any] | None) -> list[Change]:
    """`{"role": ["agent", "supervisor"]}` -> [Change("role", "agent", "supervisor")], fields in order."""
    out: list[Change] = []
    if jsontext.is_unreadable(changes):
        assert changes is not None
        note = f"{changes[jsontext.UNREADABLE_KEY]} (stored text SHA-256 {changes['raw_sha256']})"
        return [Change("(unreadable)", None, note)]
    for name, pair in (changes or {}).items():
        if isinstance(pair, list) and len(pair) == 2:
            out.append(Change(str(name), _text(pair[0]), _text(pair[1])))
        else:
            out.append(Change(str(name), None, _text(pair)))
    return out


@dataclass(frozen=True)
class Event:
    """One stored event as a viewer may see it.

    `row` holds the stored columns (masked for masked viewers); `changes` and `metadata` are
    the parsed JSON objects (masked too); `raw` is the full stored record, only when asked for.
    """

    row: dict[str, Any]
    changes: list[Change]
    metadata: dict[str, Any] | None
    raw: dict[str, Any] | None = field(default=None)
    archived: bool = False
    """Whether it was read from the archive's Parquet files (it is not in the hot store)."""


def _raw_record(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = utc_text(value)
        elif key in ("changes", "metadata"):
            out[key] = _json_object(value)
        else:
            out[key] = value
    return out


def _one(conn: Connection, stmt: sa.Select[Any], archive: Sequence[str]) -> tuple[Any, bool]:
    """The first row of `stmt` from the hot store, else (with `archive`) from those files; and whether archived."""
    found = conn.execute(stmt).mappings().first()
    if found is None and archive:
        return conn.execute(read_from(union_relation(archive), stmt)).mappings().first(), True
    return found, False


def event(db: Database, seq: int, masked: bool = False, raw: bool = False, archive: Sequence[str] = ()) -> Event | None:
    """The event with sequence number `seq` (None if there is none).

    `archive`: the archive files of the listing it was opened from (`Snapshot.archive`); the
    event is looked for there when the hot store does not hold it.
    """
    with db.connect() as conn:
        found, archived = _one(conn, sa.select(events).where(E.seq == int(seq)), archive)
    if found is None:
        return None
    row = dict(found)
    changes = _json_object(row.get("changes"))
    metadata = _json_object(row.get("metadata"))
    record = _raw_record(row) if raw else None
    if masked:
        row["actor_name"] = shorten_name(row.get("actor_name"))
        row["actor_email"] = shorten_name(row.get("actor_email"))
        row["ip"] = shown_ip(row.get("ip"), True)
        if row.get("target_type") in PERSON_TARGETS:
            row["target_name"] = shorten_name(row.get("target_name"))
        changes = {k: _mask_value(k, v) for k, v in (changes or {}).items()} if changes else changes
        metadata = {k: _mask_value(k, v) for k, v in metadata.items()} if metadata else metadata
        row["changes"] = jsontext.dumps(changes) if changes else None
        row["metadata"] = jsontext.dumps(metadata) if metadata else None
        record = None  # masked viewers never get the raw record
    return Event(row, changes_of(changes), metadata, record, archived)


@dataclass(frozen=True)
class Related:
    """The other events of one request or session near an event."""

    kind: str  # "request" or "session"
    value: str
    rows: list[dict[str, Any]]
    total: int
    """How many other events of that request/session lie within `CONTEXT_WINDOW` of the event."""


def related(
    db: Database,
    seq: int,
    masked: bool = False,
    zone: Any = UTC,
    limit: int = CONTEXT_LIMIT,
    archive: Sequence[str] = (),
) -> list[Related]:
    """The other events of the same request and of the same session, nearest in time first, then in time order.

    Only events within `CONTEXT_WINDOW` of the event are looked at: requests last seconds and
    sessions a working day, and the window lets the database skip all other row groups.
    `archive`: the archive files of the listing (`Snapshot.archive`), read besides the hot store.
    """
    out: list[Related] = []
    with db.connect() as conn:
        me, _ = _one(conn, sa.select(E.occurred_at, E.request_id, E.session_id).where(E.seq == int(seq)), archive)
        if me is None:
            return out
        when, request_id, session_id = me["occurred_at"], me["request_id"], me["session_id"]
        lo, hi = when - CONTEXT_WINDOW, when + CONTEXT_WINDOW
        source = union_relation(archive, lo, hi + timedelta(microseconds=1)) if archive else None

        def read(stmt: _Stmt) -> _Stmt:
            return read_from(source, stmt) if source is not None else stmt

        window = sa.and_(E.occurred_at >= lo, E.occurred_at <= hi)
        for kind, col, value in (("request", E.request_id, request_id), ("session", E.session_id, session_id)):
            if not value:
                continue
            cond = sa.and_(window, col == value, E.seq != int(seq))
            total = int(conn.execute(read(sa.select(sa.func.count()).select_from(events).where(cond))).scalar() or 0)
            if not total:
                continue
            # the nearest `limit` on each side, then the nearest `limit` of those (portable SQL, no date maths)
            before = (
                conn.execute(
                    read(
                        sa.select(*_LIST_COLUMNS)
                        .where(cond, E.occurred_at <= when)
                        .order_by(E.occurred_at.desc(), E.seq.desc())
                        .limit(limit)
                    )
                )
                .mappings()
                .fetchall()
            )  # DuckDB: read a result to the end before the next statement
            after = (
                conn.execute(
                    read(
                        sa.select(*_LIST_COLUMNS)
                        .where(cond, E.occurred_at > when)
                        .order_by(E.occurred_at.asc(), E.seq.asc())
                        .limit(limit)
                    )
                )
                .mappings()
                .fetchall()
            )
            nearest = sorted([*map(dict, before), *map(dict, after)], key=lambda r: abs(r["occurred_at"] - when))
            rows = sorted(nearest[:limit], key=lambda r: (r["occurred_at"], r["seq"]))
            out.append(Related(kind, str(value), [grid_row(r, zone, masked) for r in rows], total))
    return out
