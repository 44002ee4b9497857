"""Aggregate queries behind the dashboard's charts (SQLAlchemy Core; no SQL strings).

Every chart is computed here, in the database, from the filtered view: the browser only ever
receives aggregates (and the explorer's one page of rows). Each function takes an open
connection (one per callback, so a page's queries share it) and a `View`: the filters resolved
at one instant, so all the charts of a page describe exactly the same period.

Time zones: events are stored in naive UTC, and people read them in their own zone. Converting
every row with the database's time-zone functions costs 5 to 15 times a plain bucketing (see
docs/PERFORMANCE.md), so:

* charts over many rows (the timeline) bucket in UTC at a granularity that divides every UTC
  offset the zone uses in the period (an hour for most zones, 30 or 15 minutes for India or
  Nepal), and the buckets are moved to local time and merged into local buckets in Python
  (at most a few thousand rows);
* charts over few rows (failed logins) shift each row by the zone's offset in SQL: a `CASE`
  over the DST transitions in the period (`local_time`), with the offsets as bound parameters.

Both are exact across daylight-saving changes.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.events import jsontext, taxonomy
from dashboard.events.taxonomy import FAILED_LOGIN_OUTCOME, LOCKOUT_ACTIONS, activity_actions
from dashboard.filters import View, local_clock
from dashboard.privacy import mask_ipv4_sql
from dashboard.store import rollups
from dashboard.store.schema import alerts as alerts_table
from dashboard.store.schema import events, rollup_actor_1d

E = events.c
log = logging.getLogger(__name__)


#: a failed login (the one definition: `dashboard.events.taxonomy`), re-exported for the pages.
FAILED_LOGIN_ACTIONS: tuple[str, ...] = taxonomy.FAILED_LOGIN_ACTIONS
#: permission and role changes, shown with their before -> after values.
CHANGE_ACTIONS: tuple[str, ...] = activity_actions("Role changes", "Permission updates")

WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# the view (filters resolved at one instant) is `dashboard.filters.View`; re-exported here for the
# queries' callers, which pass one to every function of this module.


# -- time zones -------------------------------------------------------------------------------------------
# The offsets and the CASE that applies them live with the filter model, whose weekday and hour
# filters shift rows the same way (dashboard.filters imports nothing from here).
def local_time(column: sa.ColumnElement[Any], view: View) -> sa.ColumnElement[Any]:
    """`column` (naive UTC) as naive local time in the view's zone, exact across DST changes."""
    return local_clock(column, view.segments)


def _offset_unit(view: View) -> int:
    """The largest granularity (seconds, up to an hour) that divides every offset of the view."""
    unit = 3600
    for _, off in view.segments:
        unit = math.gcd(unit, int(off.total_seconds()) % 86400 or 3600)
    return unit


def _utc_bucket(column: sa.ColumnElement[Any], seconds: int) -> sa.ColumnElement[Any]:
    """Start of the UTC bucket of `seconds` that holds each value (DuckDB functions live here)."""
    if seconds == 3600:
        return sa.func.date_trunc("hour", column)
    if seconds == 86400:
        return sa.func.date_trunc("day", column)
    return sa.func.time_bucket(sa.literal(timedelta(seconds=seconds), sa.Interval), column)


# -- buckets -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bucket:
    """A bar width of the timeline."""

    seconds: int
    label: str

    @property
    def per(self) -> str:
        """For titles: 'per hour', 'per 15 minutes'."""
        return "per " + self.label.removeprefix("1 ")


BUCKETS: tuple[Bucket, ...] = (
    Bucket(60, "1 minute"),
    Bucket(300, "5 minutes"),
    Bucket(900, "15 minutes"),
    Bucket(1800, "30 minutes"),
    Bucket(3600, "1 hour"),
    Bucket(3 * 3600, "3 hours"),
    Bucket(6 * 3600, "6 hours"),
    Bucket(86400, "1 day"),
    Bucket(7 * 86400, "1 week"),
)
#: the most bars a timeline shows (a 7-day view is 168 hourly bars; 90 days are 90 daily bars).
MAX_BARS = 180


def choose_bucket(start: datetime, end: datetime) -> Bucket:
    """The narrowest bar width that shows the range in at most `MAX_BARS` bars (minutes to weeks)."""
    span = (end - start).total_seconds()
    for bucket in BUCKETS:
        if span / bucket.seconds <= MAX_BARS:
            return bucket
    return BUCKETS[-1]


def floor_bucket(local: datetime, bucket: Bucket) -> datetime:
    """A naive local time floored to the start of its local bucket (days from midnight, weeks from Monday)."""
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket.seconds < 86400:
        since = int((local - midnight).total_seconds())
        return midnight + timedelta(seconds=since - since % bucket.seconds)
    if bucket.seconds == 86400:
        return midnight
    return midnight - timedelta(days=midnight.weekday())


# -- helpers ----------------------------------------------------------------------------------------------
def _frame(conn: Connection, stmt: sa.Executable, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of `stmt` as a DataFrame.

    Text columns stay plain Python objects with None for missing values: pandas' own string
    type would turn None into NaN (which is truthy) and costs a conversion on every use.
    """
    return records_frame(conn.execute(stmt).fetchall(), columns)


def records_frame(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as a DataFrame whose text columns hold str or None (see `_frame`)."""
    data: dict[str, Any] = {}
    for i, name in enumerate(columns):
        values = [r[i] for r in rows]
        sample = next((v for v in values if v is not None), None)
        data[name] = pd.Series(values, dtype=object) if sample is None or isinstance(sample, str) else values
    return pd.DataFrame(data, columns=list(columns))


@dataclass(frozen=True)
class Rows:
    """A small query result as plain Python: column names and row tuples.

    The page callbacks read these: for the few to few thousand rows a chart gets, a pandas
    DataFrame cost more to build and to read than the query's own Python side (docs/PERFORMANCE.md,
    "Dashboard"). `frame()` gives the DataFrame the PDF packs and the `DataFrame` functions return.
    """

    columns: tuple[str, ...]
    data: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.data)

    @property
    def empty(self) -> bool:
        """Whether there is no row."""
        return not self.data

    def __getitem__(self, name: str) -> list[Any]:
        """One column's values."""
        i = self.columns.index(name)
        return [r[i] for r in self.data]

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.data]

    def head(self, n: int) -> Rows:
        """The first `n` rows."""
        return Rows(self.columns, self.data[:n])

    def frame(self) -> pd.DataFrame:
        """As a DataFrame (text columns as str or None, see `records_frame`)."""
        return records_frame(self.data, self.columns)

    @classmethod
    def of(cls, frame: pd.DataFrame | Rows) -> Rows:
        """A DataFrame's rows (a `Rows` is returned as it is)."""
        if isinstance(frame, Rows):
            return frame
        return cls(tuple(str(c) for c in frame.columns), list(frame.itertuples(index=False, name=None)))


def _rows(conn: Connection, stmt: sa.Executable, columns: Sequence[str]) -> Rows:
    return Rows(tuple(columns), [tuple(r) for r in conn.execute(stmt).fetchall()])


def _ratio(part: Any, whole: Any) -> float:
    return int(part) / int(whole) if whole else 0.0


_COUNT = sa.func.count()
_FAILURES = sa.func.count().filter(E.outcome == "failure")


# -- sources: the rollups where they answer, raw events where they must (dashboard.store.rollups) --------
def _events(src: sa.Subquery) -> sa.ColumnElement[Any]:
    """The number of events of a group of source rows."""
    return sa.func.coalesce(sa.func.sum(src.c.n), 0)


def _failures(src: sa.Subquery) -> sa.ColumnElement[Any]:
    """The failed events of a group of source rows."""
    return sa.func.coalesce(sa.func.sum(src.c.n).filter(src.c.outcome == "failure"), 0)


def failed_login_on(table: sa.Table) -> sa.ColumnElement[bool]:
    """`predicates.failed_login` on an events-shaped table (the notable events)."""
    return sa.and_(table.c.action.in_(FAILED_LOGIN_ACTIONS), table.c.outcome == FAILED_LOGIN_OUTCOME)


def lockout_on(table: sa.Table) -> sa.ColumnElement[bool]:
    """`predicates.lockout` on an events-shaped table."""
    return table.c.action.in_(LOCKOUT_ACTIONS)


# -- Overview ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Headline:
    """The headline figures of a view."""

    events: int
    failed_logins: int
    users: int
    ips: int
    open_alerts: int | None
    """None when the alerts table does not exist (detection not installed)."""


def _distinct_count(column: sa.ColumnElement[Any], *where: sa.ColumnElement[bool]) -> sa.ScalarSelect[Any]:
    """`count(DISTINCT column)` as a count of a DISTINCT subquery: the same number (NULL left out),
    hashed instead of sorted on PostgreSQL (the 90-day people and addresses of 10 M events: 290 and
    530 ms as `count(DISTINCT)`, about a quarter of that this way); DuckDB plans both alike."""
    values = sa.select(column).where(column.is_not(None), *where).distinct().subquery()
    return sa.select(sa.func.count()).select_from(values).scalar_subquery()


def headline(conn: Connection, view: View) -> Headline:
    """Events, failed logins, distinct users, distinct addresses, and open alerts when there are alerts."""
    alerts = _open_alerts_query(conn, view)
    everything = rollups.source(conn, view, ())
    people = rollups.source(conn, view, ("actor_id", "actor_type"))
    places = rollups.source(conn, view, ("ip",))
    n = rollups.notable(conn)
    figures: list[sa.ColumnElement[Any]] = [
        sa.select(_events(everything)).scalar_subquery(),
        sa.select(_COUNT).select_from(n).where(view.where(n), failed_login_on(n)).scalar_subquery(),
        _distinct_count(people.c.actor_id, people.c.actor_type == "user"),
        _distinct_count(places.c.ip),
    ]
    if alerts is not None:  # in the same statement: one round trip less on every filter change
        figures.append(alerts.scalar_subquery())
    row = conn.execute(sa.select(*figures)).one()
    return Headline(
        int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4] or 0) if alerts is not None else None
    )


def open_alerts(conn: Connection, view: View) -> int | None:
    """Alerts not resolved yet (of the filtered accounts and users), or None without an alerts table."""
    stmt = _open_alerts_query(conn, view)
    return None if stmt is None else int(conn.execute(stmt).scalar() or 0)


def _open_alerts_query(conn: Connection, view: View) -> sa.Select[Any] | None:
    if not _has_table(conn, "alerts"):  # detection never set up in this store
        return None
    conds: list[sa.ColumnElement[bool]] = [alerts_table.c.status != "resolved"]
    if view.filters.accounts:
        conds.append(alerts_table.c.account_id.in_(view.filters.accounts))
    if view.filters.users:
        conds.append(alerts_table.c.key_user.in_(view.filters.users))
    return sa.select(sa.func.count()).select_from(alerts_table).where(*conds)


_tables_seen: weakref.WeakKeyDictionary[Any, dict[str, float]] = weakref.WeakKeyDictionary()


def _has_table(conn: Connection, name: str) -> bool:
    """Whether the table exists; a table once seen is remembered, a missing one asked again after a minute."""
    seen = _tables_seen.setdefault(conn.engine, {})
    when = seen.get(name)
    now = time.monotonic()
    if when is not None and (when == math.inf or now - when < 60):
        return when == math.inf
    present = sa.inspect(conn).has_table(name)
    seen[name] = math.inf if present else now
    return present


@dataclass(frozen=True)
class Timeline:
    """Events per local bucket and category."""

    rows: Rows
    """Columns: bucket (naive local start), category, events; sorted by bucket."""
    bucket: Bucket
    start: datetime
    """Local start of the range (for the axis)."""
    end: datetime
    tz: str

    @property
    def frame(self) -> pd.DataFrame:
        """`rows` as a DataFrame (bucket as datetime64, events as int64)."""
        return pd.DataFrame(
            {
                "bucket": pd.Series(self.rows["bucket"], dtype="datetime64[us]"),
                "category": pd.Series(self.rows["category"], dtype=object),
                "events": pd.Series(self.rows["events"], dtype="int64"),
            }
        )


def timeline(conn: Connection, view: View) -> Timeline:
    """Events over time stacked by category; the bar width follows the range (minutes to weeks)."""
    bucket = choose_bucket(view.start, view.end)
    sql_seconds = math.gcd(bucket.seconds, _offset_unit(view))
    src = rollups.source(conn, view, ("category",), clock=sql_seconds)
    utc_bucket = _utc_bucket(src.c.occurred_at, sql_seconds).label("b")
    stmt = sa.select(utc_bucket, src.c.category, _events(src)).group_by(utc_bucket, src.c.category)
    # a few thousand rows at most: plain Python is faster here than pandas' machinery
    counts: dict[tuple[datetime, str], int] = defaultdict(int)
    starts = [s for s, _ in view.segments]
    local_bucket: dict[datetime, datetime] = {}  # per UTC bucket (the categories share them)
    for utc, category, n in conn.execute(stmt).fetchall():
        local_start = local_bucket.get(utc)
        if local_start is None:
            local = utc + view.segments[bisect.bisect_right(starts, utc) - 1][1] if utc >= starts[0] else utc
            local_start = local_bucket[utc] = floor_bucket(local, bucket)
        counts[(local_start, str(category))] += int(n)
    rows = Rows(("bucket", "category", "events"), [(b, c, counts[(b, c)]) for b, c in sorted(counts)])
    return Timeline(rows, bucket, view.local_start, view.local_end, view.tz)


def top_users_rows(conn: Connection, view: View, limit: int = 10) -> Rows:
    """The busiest people (actor type `user`): actor_id, actor_name, actor_role, events, failures."""
    src = rollups.source(conn, view, ("actor_id", "actor_name", "actor_role", "actor_type", "outcome"))
    s = src.c
    stmt = (
        sa.select(
            s.actor_id,
            sa.func.max(s.actor_name),
            sa.func.max(s.actor_role),
            _events(src).label("events"),
            _failures(src),
        )
        .where(s.actor_type == "user", s.actor_id.is_not(None))
        .group_by(s.actor_id)
        .order_by(sa.desc("events"), s.actor_id)
        .limit(limit)
    )
    return _rows(conn, stmt, ["actor_id", "actor_name", "actor_role", "events", "failures"])


def top_users(conn: Connection, view: View, limit: int = 10) -> pd.DataFrame:
    """`top_users_rows` as a DataFrame."""
    return top_users_rows(conn, view, limit).frame()


def top_actions(conn: Connection, view: View, limit: int = 10) -> pd.DataFrame:
    """The most frequent actions: action, category, events, failures."""
    return action_counts_rows(conn, view).head(limit).frame()


def action_counts_rows(conn: Connection, view: View) -> Rows:
    """Events per action: action, category, events, failures; largest first.

    One scan serves both the busiest actions and the events per category (see
    `rank_actions` and `categories_of`), which a page showing both needs.
    """
    src = rollups.source(conn, view, ("action", "category", "outcome"))
    s = src.c
    stmt = (
        sa.select(s.action, sa.func.max(s.category), _events(src).label("events"), _failures(src))
        .group_by(s.action)
        .order_by(sa.desc("events"), s.action)
    )
    rows = conn.execute(stmt).fetchall()
    return Rows(("action", "category", "events", "failures"), [(a, c, int(n), int(f)) for a, c, n, f in rows])


def action_counts(conn: Connection, view: View) -> pd.DataFrame:
    """`action_counts_rows` as a DataFrame."""
    return action_counts_rows(conn, view).frame()


def categories_of(actions: pd.DataFrame | Rows) -> pd.DataFrame:
    """`by_category` computed from `action_counts`."""
    return category_rows(Rows.of(actions)).frame()


def category_rows(actions: Rows) -> Rows:
    """Events per category (category, events, failures; largest first) from `action_counts_rows`."""
    totals: dict[str, list[int]] = {}
    for _, category, n, f in actions.data:
        t = totals.setdefault(str(category), [0, 0])
        t[0] += int(n)
        t[1] += int(f)
    order = sorted(totals, key=lambda c: (-totals[c][0], c))
    return Rows(("category", "events", "failures"), [(c, totals[c][0], totals[c][1]) for c in order])


def by_category(conn: Connection, view: View) -> pd.DataFrame:
    """Events per category: category, events, failures; largest first."""
    src = rollups.source(conn, view, ("category", "outcome"))
    s = src.c
    stmt = (
        sa.select(s.category, _events(src).label("events"), _failures(src))
        .group_by(s.category)
        .order_by(sa.desc("events"), s.category)
    )
    rows = [(c, int(n), int(f)) for c, n, f in conn.execute(stmt).fetchall()]
    return records_frame(rows, ["category", "events", "failures"])


# -- Security ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SecuritySummary:
    """The headline figures of the security page."""

    failed_logins: int
    lockouts: int
    failing_users: int
    failing_ips: int


def security_summary(conn: Connection, view: View) -> SecuritySummary:
    """Failed logins, account lockouts, and the people and addresses they came from."""
    n = rollups.notable(conn)
    failed, locked = failed_login_on(n), lockout_on(n)
    row = conn.execute(
        sa.select(
            sa.func.count().filter(failed),
            sa.func.count().filter(locked),
            sa.func.count(sa.distinct(n.c.actor_id)).filter(failed),
            sa.func.count(sa.distinct(n.c.ip)).filter(failed),
        ).where(view.where(n), sa.or_(failed, locked))
    ).one()
    return SecuritySummary(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def failed_logins_by_weekday_hour(conn: Connection, view: View) -> pd.DataFrame:
    """Failed logins per local weekday (rows Mon..Sun) and hour of day (columns 0..23), zeros included."""
    counts = np.array(weekday_hour_counts(conn, view), dtype=np.int64)
    return pd.DataFrame(counts, index=pd.Index(WEEKDAYS, name="weekday"), columns=pd.Index(range(24), name="hour"))


def weekday_hour_counts(conn: Connection, view: View) -> list[list[int]]:
    """`failed_logins_by_weekday_hour` as 7 lists (Mon..Sun) of 24 counts."""
    n = rollups.notable(conn)
    local = local_time(n.c.occurred_at, view)
    dow = sa.extract("isodow", local).label("dow")
    hour = sa.extract("hour", local).label("hour")
    stmt = sa.select(dow, hour, _COUNT).where(view.where(n), failed_login_on(n)).group_by(dow, hour)
    counts = [[0] * 24 for _ in WEEKDAYS]
    for dow_v, hour_v, count in conn.execute(stmt).fetchall():
        counts[int(dow_v) - 1][int(hour_v)] += int(count)
    return counts


def failed_logins_by_user_day_rows(conn: Connection, view: View, limit: int = 20) -> Rows:
    """Failed logins per person and local day, for the `limit` people with the most.

    Columns: actor_id, actor_name, day (naive local midnight), failures. People who failed
    without a known actor id (unknown user names) are grouped as actor_id ''.
    """
    n = rollups.notable(conn)
    N = n.c
    failed = [view.where(n), failed_login_on(n)]
    who = sa.func.coalesce(N.actor_id, "").label("who")
    top = (
        sa.select(who, sa.func.max(N.actor_name).label("name"), _COUNT.label("total"))
        .where(*failed)
        .group_by(who)
        .order_by(sa.desc("total"), who)
        .limit(limit)
        .cte("top_users")
    )
    day = sa.func.date_trunc("day", local_time(N.occurred_at, view)).label("day")
    stmt = (
        sa.select(top.c.who, top.c.name, day, _COUNT)
        .select_from(n.join(top, sa.func.coalesce(N.actor_id, "") == top.c.who))
        .where(*failed)
        .group_by(top.c.who, top.c.name, top.c.total, day)
        .order_by(sa.desc(top.c.total), top.c.who, day)
    )
    return _rows(conn, stmt, ["actor_id", "actor_name", "day", "failures"])


def failed_logins_by_user_day(conn: Connection, view: View, limit: int = 20) -> pd.DataFrame:
    """`failed_logins_by_user_day_rows` as a DataFrame."""
    return failed_logins_by_user_day_rows(conn, view, limit).frame()


def failures_by_reason_rows(conn: Connection, view: View) -> Rows:
    """Failed events per reason and action: reason ('unspecified' when none), action, failures."""
    n = rollups.notable(conn)
    reason = sa.func.coalesce(n.c.reason, "unspecified").label("reason")
    stmt = (
        sa.select(reason, n.c.action, _COUNT.label("failures"))
        .where(view.where(n), n.c.outcome == "failure")
        .group_by(reason, n.c.action)
        .order_by(sa.desc("failures"), reason, n.c.action)
    )
    return _rows(conn, stmt, ["reason", "action", "failures"])


def failures_by_reason(conn: Connection, view: View) -> pd.DataFrame:
    """`failures_by_reason_rows` as a DataFrame."""
    return failures_by_reason_rows(conn, view).frame()


def top_addresses(conn: Connection, view: View, limit: int = 15, masked: bool = False) -> pd.DataFrame:
    """`top_address_rows` as a DataFrame."""
    frame = top_address_rows(conn, view, limit, masked).frame()
    frame["events"] = frame["events"].astype("int64")
    frame["failures"] = frame["failures"].astype("int64")
    frame["failure_ratio"] = frame["failure_ratio"].astype("float64")
    return frame


def top_address_rows(conn: Connection, view: View, limit: int = 15, masked: bool = False) -> Rows:
    """Addresses with the most failures (then events): ip, country, city, events, failures, users, failure_ratio.

    With `masked`, IPv4 addresses are grouped by their /24 in the database (the person sees
    `203.0.113.x`, counted once); the caller masks what remains (IPv6).
    """
    # per address and person first (cheap), then per address: counting distinct people in one
    # pass over all rows costs twice as much
    src = rollups.source(conn, view, ("ip", "actor_id", "geo_country", "geo_city", "outcome"))
    s = src.c
    key = (mask_ipv4_sql(s.ip) if masked else s.ip).label("k")
    fine = (
        sa.select(
            key,
            s.actor_id.label("actor"),
            sa.func.max(s.geo_country).label("country"),
            sa.func.max(s.geo_city).label("city"),
            _events(src).label("n"),
            _failures(src).label("f"),
        )
        .where(s.ip.is_not(None))
        .group_by(key, s.actor_id)
        .cte("per_ip_person")
    )
    a = fine.c
    stmt = (
        sa.select(
            a.k,
            sa.func.max(a.country),
            sa.func.max(a.city),
            sa.func.sum(a.n).label("events"),
            sa.func.sum(a.f).label("failures"),
            sa.func.count(a.actor),
        )
        .group_by(a.k)
        .order_by(sa.desc("failures"), sa.desc("events"), a.k)
        .limit(limit)
    )
    out = [
        (ip, country, city, int(n), int(f), int(users), _ratio(f, n))
        for ip, country, city, n, f, users in conn.execute(stmt).fetchall()
    ]
    return Rows(("ip", "country", "city", "events", "failures", "users", "failure_ratio"), out)


def permission_changes(conn: Connection, view: View, limit: int = 50) -> pd.DataFrame:
    """`permission_change_rows` as a DataFrame."""
    return permission_change_rows(conn, view, limit).frame()


def permission_change_rows(conn: Connection, view: View, limit: int = 50) -> Rows:
    """Role and permission changes, newest first, one row per changed field.

    Columns: occurred_at (naive local), actor_id, actor_name, action, target_id, target_name,
    field, before, after (values as readable text).
    """
    n = rollups.notable(conn)
    N = n.c
    stmt = (
        sa.select(N.occurred_at, N.actor_id, N.actor_name, N.action, N.target_id, N.target_name, N.changes)
        .where(view.where(n), N.action.in_(CHANGE_ACTIONS))
        .order_by(N.occurred_at.desc(), N.seq.desc())
        .limit(limit)
    )
    out: list[tuple[Any, ...]] = []
    for when, actor_id, actor_name, action, target_id, target_name, changes in conn.execute(stmt).fetchall():
        local = view.local(when)
        for name, before, after in changed_fields(changes):
            out.append((local, actor_id, actor_name, action, target_id, target_name, name, before, after))
    columns = (
        "occurred_at",
        "actor_id",
        "actor_name",
        "action",
        "target_id",
        "target_name",
        "field",
        "before",
        "after",
    )
    return Rows(columns, out)


def _text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) if value else "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def changed_fields(changes: str | None) -> list[tuple[str, str, str]]:
    """An event's `changes` as readable rows.

    `{"role": ["agent", "supervisor"]}` -> `[("role", "agent", "supervisor")]`.
    """
    if not changes:
        return [("(not recorded)", "", "")]
    data = jsontext.decode_object(changes)  # never raises, whatever the store holds
    if jsontext.is_unreadable(data):
        assert data is not None
        return [("(unreadable)", "", f"{data[jsontext.UNREADABLE_KEY]} (stored text SHA-256 {data['raw_sha256']})")]
    if not isinstance(data, dict) or not data:
        return [("(not recorded)", "", "")]
    rows = []
    for name, pair in data.items():
        if isinstance(pair, list) and len(pair) == 2:
            rows.append((str(name), _text(pair[0]), _text(pair[1])))
        else:
            rows.append((str(name), "", _text(pair)))
    return rows


_changed_fields = changed_fields  # the name the compliance packs first used


# -- the map ---------------------------------------------------------------------------------------------------
def map_points(conn: Connection, view: View, masked: bool = False) -> pd.DataFrame:
    """`map_point_rows` as a DataFrame."""
    frame = map_point_rows(conn, view, masked).frame()
    frame["events"] = frame["events"].astype("int64")
    frame["failures"] = frame["failures"].astype("int64")
    frame["failure_share"] = frame["failure_share"].astype("float64")
    return frame


def map_point_rows(conn: Connection, view: View, masked: bool = False) -> Rows:
    """Places at city level: lat, lon, city, country, events, failures, failure_share, ips, users, top_ip.

    `top_ip` is the address with the most events at that place (ties: the lowest); with
    `masked` addresses are counted and shown by network, as `top_addresses` does.
    One scan groups by place, address and person; the roll-ups run on that small result.
    """
    src = rollups.source(conn, view, ("geo_lat", "geo_lon", "ip", "actor_id", "geo_city", "geo_country", "outcome"))
    s = src.c
    key = (mask_ipv4_sql(s.ip) if masked else s.ip).label("k")
    fine = (
        sa.select(
            s.geo_lat.label("lat"),
            s.geo_lon.label("lon"),
            key,
            s.actor_id.label("actor"),
            sa.func.max(s.geo_city).label("city"),
            sa.func.max(s.geo_country).label("country"),
            _events(src).label("n"),
            _failures(src).label("f"),
        )
        .where(s.geo_lat.is_not(None), s.geo_lon.is_not(None))
        .group_by(s.geo_lat, s.geo_lon, key, s.actor_id)
        .cte("per_ip_person")
    )
    a = fine.c
    per_ip = (
        sa.select(
            a.lat,
            a.lon,
            a.k,
            sa.func.max(a.city).label("city"),
            sa.func.max(a.country).label("country"),
            sa.func.sum(a.n).label("n"),
            sa.func.sum(a.f).label("f"),
        )
        .group_by(a.lat, a.lon, a.k)
        .cte("per_ip")
    )
    people = (
        sa.select(a.lat, a.lon, sa.func.count(sa.distinct(a.actor)).label("u")).group_by(a.lat, a.lon).cte("per_place")
    )
    p, u = per_ip.c, people.c
    stmt = (
        sa.select(
            p.lat,
            p.lon,
            sa.func.max(p.city),
            sa.func.max(p.country),
            sa.func.sum(p.n).label("events"),
            sa.func.sum(p.f),
            sa.func.count(),
            sa.func.max(u.u),
            sa.func.first(p.k).aggregate_order_by(p.n.desc(), p.k),
        )
        .select_from(per_ip.join(people, sa.and_(u.lat == p.lat, u.lon == p.lon)))
        .group_by(p.lat, p.lon)
        .order_by(sa.desc("events"), p.lat, p.lon)
    )
    columns = ("lat", "lon", "city", "country", "events", "failures", "ips", "users", "top_ip", "failure_share")
    out = [
        (lat, lon, city, country, int(n), int(f), int(ips), int(users), top, _ratio(f, n))
        for lat, lon, city, country, n, f, ips, users, top in conn.execute(stmt).fetchall()
    ]
    return Rows(columns, out)


def country_totals(conn: Connection, view: View, unplaced_only: bool = True) -> pd.DataFrame:
    """`country_total_rows` as a DataFrame."""
    frame = country_total_rows(conn, view, unplaced_only).frame()
    frame["failure_share"] = frame["failure_share"].astype("float64")
    return frame


def country_total_rows(conn: Connection, view: View, unplaced_only: bool = True) -> Rows:
    """Events per country: country, events, failures, failure_share.

    With `unplaced_only` (the map's fallback), only events with a country but no coordinates
    count: the ones a city-level point cannot show.
    """
    src = rollups.source(conn, view, ("geo_country", "geo_lat", "outcome"))
    s = src.c
    conds = [s.geo_country.is_not(None)]
    if unplaced_only:
        conds.append(s.geo_lat.is_(None))
    stmt = (
        sa.select(s.geo_country, _events(src).label("events"), _failures(src))
        .where(*conds)
        .group_by(s.geo_country)
        .order_by(sa.desc("events"), s.geo_country)
    )
    out = [(c, int(n), int(f), _ratio(f, n)) for c, n, f in conn.execute(stmt).fetchall()]
    return Rows(("country", "events", "failures", "failure_share"), out)


@dataclass
class FirstSeen:
    """When each person was first seen from each country, over the whole log (kept up to date).

    Answering "is this country new to this person?" from the events table means reading a
    person's whole history on every filter change (about a second on 10 million events). The
    answer only grows with new events, so it is computed once per process and then extended
    with the events stored since (their `seq` is higher), and rebuilt every `REBUILD_S`
    (so purges and restores are reflected).
    """

    pairs: dict[tuple[str, str], datetime] = field(default_factory=dict)
    #: the sequence number of an event at that first instant, per (person, country)
    first_seqs: dict[tuple[str, str], int] = field(default_factory=dict)
    people: dict[str, datetime] = field(default_factory=dict)
    last_seq: int = 0
    built_at: float = 0.0
    extended_at: float = 0.0

    REBUILD_S: ClassVar[float] = 3600.0
    #: how often new events are folded in. A pair missing from the index counts as first seen
    #: in the view, so a slightly stale index still flags a brand-new country correctly.
    EXTEND_S: ClassVar[float] = 10.0

    def build(self, conn: Connection) -> None:
        """Fill an empty index: from the rollups when they are in step with the events, else as `extend`.

        A person's first day from a country is in `rollup_actor_1d`; the first event is then read
        from that day's events of that person and country only (an index range per pair on
        PostgreSQL) instead of grouping the whole log (10 M events: 30-40 s on PostgreSQL under
        load, about 1-3 s this way). `last_seq` is read first: anything stored meanwhile is
        folded in again by the next `extend` (a minimum is the same however often it is taken)."""
        if rollups.raw_only_now() or not rollups.in_step(conn):
            self.extend(conn)
            return
        top = int(conn.execute(sa.select(sa.func.max(E.seq))).scalar() or 0)
        R = rollup_actor_1d.c
        days = (
            sa.select(R.actor_id, R.geo_country, R.occurred_at)
            .where(R.actor_id.is_not(None), R.geo_country.is_not(None))
            .group_by(R.actor_id, R.geo_country, R.occurred_at)
            .having(sa.func.sum(R.n) > 0)
            .subquery("days")
        )
        firsts = (
            sa.select(days.c.actor_id, days.c.geo_country, sa.func.min(days.c.occurred_at).label("day"))
            .group_by(days.c.actor_id, days.c.geo_country)
            .subquery("firsts")
        )
        on = sa.and_(
            E.actor_id == firsts.c.actor_id,
            E.geo_country == firsts.c.geo_country,
            E.occurred_at >= firsts.c.day,
            E.occurred_at < firsts.c.day + sa.literal(timedelta(days=1), sa.Interval),
        )
        order = sa.func.row_number().over(partition_by=(E.actor_id, E.geo_country), order_by=(E.occurred_at, E.seq))
        ranked = (
            sa.select(E.actor_id, E.geo_country, E.occurred_at, E.seq, order.label("r"))
            .select_from(firsts.join(events, on))
            .subquery("ranked")
        )
        stmt = sa.select(ranked.c.actor_id, ranked.c.geo_country, ranked.c.occurred_at, ranked.c.seq).where(
            ranked.c.r == 1
        )
        for actor, country, first, seq in conn.execute(stmt).fetchall():
            self._fold(str(actor), str(country), first, int(seq))
        self.last_seq = max(self.last_seq, top)

    def _fold(self, actor: str, country: str, first: datetime, seq: int) -> None:
        key = (actor, country)
        if key not in self.pairs or first < self.pairs[key]:
            self.pairs[key] = first
            self.first_seqs[key] = seq
        if actor not in self.people or first < self.people[actor]:
            self.people[actor] = first

    def extend(self, conn: Connection) -> None:
        """Fold in the events stored after `last_seq`."""
        stmt = (
            sa.select(
                E.actor_id,
                E.geo_country,
                sa.func.min(E.occurred_at),
                sa.func.max(E.seq),
                sa.func.arg_min(E.seq, E.occurred_at),
            )
            .where(E.seq > self.last_seq, E.actor_id.is_not(None), E.geo_country.is_not(None))
            .group_by(E.actor_id, E.geo_country)
        )
        for actor, country, first, top, first_seq in conn.execute(stmt).fetchall():
            self._fold(str(actor), str(country), first, int(first_seq))
            self.last_seq = max(self.last_seq, int(top))
        # events without a country still move `last_seq` on
        top_seq = conn.execute(sa.select(sa.func.max(E.seq))).scalar()
        self.last_seq = max(self.last_seq, int(top_seq or 0))


_first_seen: weakref.WeakKeyDictionary[Any, FirstSeen] = weakref.WeakKeyDictionary()
_first_seen_lock = threading.Lock()


def first_seen(conn: Connection) -> FirstSeen:
    """The first-seen index of the database behind `conn`, brought up to date.

    The first call builds it (the caller waits); every `REBUILD_S` after, a fresh one (purges and
    restores reflected) is built in a thread of its own while callers keep reading the current one,
    extended as usual, so no page view waits for a rebuild."""
    with _first_seen_lock:
        index = _first_seen.get(conn.engine)
        if index is None:
            index = FirstSeen(built_at=time.monotonic())
            index.build(conn)
            index.extended_at = time.monotonic()
            _first_seen[conn.engine] = index
        elif time.monotonic() - index.built_at > FirstSeen.REBUILD_S and conn.engine not in _rebuilding:
            _rebuilding.add(conn.engine)
            threading.Thread(target=_rebuild, args=(conn.engine,), name="first-seen-rebuild", daemon=True).start()
        if time.monotonic() - index.extended_at >= FirstSeen.EXTEND_S:
            index.extend(conn)
            index.extended_at = time.monotonic()
        return index


#: engines whose first-seen index is being rebuilt in the background
_rebuilding: weakref.WeakSet[Any] = weakref.WeakSet()


def _rebuild(engine: Any) -> None:
    """Build a fresh first-seen index for `engine` and put it in place of the current one."""
    try:
        fresh = FirstSeen(built_at=time.monotonic())
        with engine.connect() as conn:
            fresh.build(conn)
        fresh.extended_at = time.monotonic()
        with _first_seen_lock:
            _first_seen[engine] = fresh
    except Exception:  # the current index stays; the next call past REBUILD_S tries again
        log.exception("rebuilding the first-seen index failed; the current one stays in use")
        with _first_seen_lock:
            current = _first_seen.get(engine)
            if current is not None:
                current.built_at = time.monotonic()
    finally:
        _rebuilding.discard(engine)


def new_countries(conn: Connection, view: View, limit: int = 100) -> pd.DataFrame:
    """`new_country_rows` as a DataFrame."""
    frame = new_country_rows(conn, view, limit).frame()
    frame["first_seen"] = pd.Series(frame["first_seen"], dtype="datetime64[us]")
    return frame


def new_country_rows(conn: Connection, view: View, limit: int = 100) -> Rows:
    """Countries new to a person: first seen from that country inside the view, after being seen elsewhere.

    A person's history is every stored event of theirs (whatever the other filters), so a
    country counts as new only if it never appeared for them before, and only for someone seen
    before from another country (a newcomer's first country is not "new").

    Columns: actor_id, actor_name, country, first_seen (naive local), ip, city, lat, lon, events
    (the first sighting's address and place, whatever the filters; the view's events from that
    country). The filters choose which countries are listed (those of which the view keeps an event)
    and what is counted, not what "first seen" means: under a sign-in filter a country first seen
    through a message is still new since that message, shown with its address.

    The people's countries and events come from the rollups (whatever the filters: `rollups.source`
    reads the raw events where the rollups cannot answer); the first sighting is the event the
    first-seen index names, read by its sequence number. People with events stored after the index
    was last extended, pairs the index does not know and first sightings purged or erased since are
    read from the raw events (the first event the view keeps stands in for a first sighting that is
    gone), as is everything in `rollups.raw_only`.
    """
    index = first_seen(conn)
    rows: list[tuple[Any, ...]] = []
    redo: set[str] | None = None  # people read from the raw events; None: everyone
    if not rollups.raw_only_now() and rollups.in_step(conn):
        redo = set()
        src = rollups.source(conn, view, ("actor_id", "geo_country", "actor_name"))
        pairs = conn.execute(
            sa.select(src.c.actor_id, src.c.geo_country, sa.func.max(src.c.actor_name), _events(src))
            .where(src.c.actor_id.is_not(None), src.c.geo_country.is_not(None))
            .group_by(src.c.actor_id, src.c.geo_country)
        ).fetchall()
        late = sa.select(E.actor_id).where(
            view.where(), E.seq > index.last_seq, E.actor_id.is_not(None), E.geo_country.is_not(None)
        )
        redo.update(str(a) for (a,) in conn.execute(late.distinct()).fetchall())
        candidates: dict[int, tuple[Any, ...]] = {}
        for actor, country, name, n in pairs:
            key = (str(actor), str(country))
            since = index.pairs.get(key)
            if since is None or key not in index.first_seqs:
                redo.add(key[0])
                continue
            person = index.people.get(actor, since)
            if view.start <= since < view.end and person < since:
                candidates[index.first_seqs[key]] = (actor, name, country, since, int(n))
        rows = _sighted(conn, candidates, redo, limit)
        if len(redo) > 1000:
            rows, redo = [], None
    if redo is None or redo:
        rows += _new_country_raw(conn, view, index, redo)
    rows.sort(key=_shown_order)
    columns = ("actor_id", "actor_name", "country", "first_seen", "ip", "city", "lat", "lon", "events")
    return Rows(columns, [(*r[:3], view.local(r[3]), *r[4:]) for r in rows[:limit]])


def _shown_order(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The order new countries are listed in: newest first sighting first, then by person and country
    (row: actor_id, actor_name, country, first seen, ...)."""
    return (-_instant(row[3]), str(row[0]), str(row[2]))


def _instant(value: Any) -> float:
    """A naive UTC datetime as seconds (for sorting newest first)."""
    return (value - _EPOCH).total_seconds()


_EPOCH = datetime(1970, 1, 1)
#: first sightings read at once by `_sighted` (at least twice the rows shown)
SIGHTINGS_AT_ONCE = 200


def _sighted(
    conn: Connection, candidates: Mapping[int, tuple[Any, ...]], redo: set[str], limit: int
) -> list[tuple[Any, ...]]:
    """The rows of `new_country_rows` for the candidates (first sighting's seq -> actor, name, country,
    since, events) of people not in `redo`, with their first sighting's address and place.

    Only the first `limit` rows in the listed order are shown, so first sightings are read in that
    order, a few hundred at a time, until `limit` rows are found (a view over months can hold
    thousands of candidates: reading every first sighting cost tens of milliseconds for rows never
    shown). A person whose first sighting is gone (purged or erased since) joins `redo` (read from
    the raw events), with every row of theirs."""
    ranked = sorted(candidates.items(), key=lambda kv: _shown_order(kv[1]))
    rows: list[tuple[Any, ...]] = []
    step = max(2 * limit, SIGHTINGS_AT_ONCE)
    for start in range(0, len(ranked), step):
        if sum(1 for r in rows if str(r[0]) not in redo) >= limit:
            break
        chunk = [(seq, c) for seq, c in ranked[start : start + step] if str(c[0]) not in redo]
        found = _first_sightings(conn, (seq for seq, _ in chunk))
        redo.update(str(c[0]) for seq, c in chunk if seq not in found)
        rows += [(*c[:4], *found[seq], c[4]) for seq, c in chunk if seq in found]
    return [r for r in rows if str(r[0]) not in redo]


def _first_sightings(conn: Connection, firsts: Iterable[int]) -> dict[int, tuple[Any, ...]]:
    """The address and place (ip, city, lat, lon) of first sightings, by the sequence numbers the
    first-seen index names, whatever the view's filters (they choose which countries are listed and
    count their events, not what "first seen" means); one semi-join on the list of sequence numbers
    (an IN list of thousands costs seconds). An event purged or erased since is missing."""
    wanted = sorted(set(firsts))
    if not wanted:
        return {}
    listed = sa.bindparam("first_seqs", wanted, type_=sa.ARRAY(sa.BigInteger))
    stmt = sa.select(E.seq, E.ip, E.geo_city, E.geo_lat, E.geo_lon).where(E.seq.in_(sa.select(sa.func.unnest(listed))))
    return {int(r[0]): tuple(r[1:]) for r in conn.execute(stmt).fetchall()}


def _new_country_raw(conn: Connection, view: View, index: FirstSeen, people: set[str] | None) -> list[tuple[Any, ...]]:
    """`new_country_rows` from the raw events, for `people` (None: everyone)."""
    conds = [view.where(), E.actor_id.is_not(None), E.geo_country.is_not(None)]
    if people is not None:
        conds.append(E.actor_id.in_(sorted(people)))
    stmt = (
        sa.select(
            E.actor_id,
            E.geo_country,
            sa.func.max(E.actor_name),
            sa.func.min(E.occurred_at),
            sa.func.arg_min(E.ip, E.occurred_at),
            sa.func.arg_min(E.geo_city, E.occurred_at),
            sa.func.arg_min(E.geo_lat, E.occurred_at),
            sa.func.arg_min(E.geo_lon, E.occurred_at),
            _COUNT,
        )
        .where(*conds)
        .group_by(E.actor_id, E.geo_country)
    )
    rows = []
    for actor, country, name, first, ip, city, lat, lon, n in conn.execute(stmt).fetchall():
        since = index.pairs.get((actor, country), first)
        person = index.people.get(actor, since)
        if view.start <= since < view.end and since <= first and person < since:
            rows.append((actor, name, country, since, ip, city, lat, lon, int(n)))
    # the place of the first sighting where the index names it (the filters may leave it out)
    firsts = [index.first_seqs.get((str(r[0]), str(r[2])), -1) for r in rows]
    places = _first_sightings(conn, (q for q in firsts if q >= 0))
    return [(*r[:4], *places[q], r[8]) if q in places else r for r, q in zip(rows, firsts, strict=True)]


# -- the sidebar's choices ---------------------------------------------------------------------------------------
def distinct_values(conn: Connection, column: str, limit: int = 500) -> list[str]:
    """The distinct non-empty values of an allow-listed column (roles, countries, accounts), sorted."""
    allowed = {"actor_role", "geo_country", "account_id"}
    if column not in allowed:
        raise ValueError(f"{column!r} is not one of {sorted(allowed)}")
    col = events.c[column]
    stmt = sa.select(col).where(col.is_not(None)).group_by(col).order_by(col).limit(limit)
    return [str(r[0]) for r in conn.execute(stmt).fetchall() if r[0] != ""]


def actor_directory(conn: Connection, limit: int = 50_000) -> pd.DataFrame:
    """Everyone who acted as a person: actor_id, actor_name, actor_email, events (busiest first)."""
    stmt = (
        sa.select(E.actor_id, sa.func.max(E.actor_name), sa.func.max(E.actor_email), _COUNT.label("events"))
        .where(E.actor_id.is_not(None), E.actor_type == "user")
        .group_by(E.actor_id)
        .order_by(sa.desc("events"), E.actor_id)
        .limit(limit)
    )
    return _frame(conn, stmt, ["actor_id", "actor_name", "actor_email", "events"])
