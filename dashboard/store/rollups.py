"""Rollups: pre-aggregated counts of the events, kept in step with them, and the queries' source.

The pages' figures are counts grouped by a few columns. Reading months of raw events on every
filter change costs in proportion to the log; these tables hold the same counts per UTC bucket
(`occurred_at` is the bucket's start) and per value of the columns the pages group and filter
by, so their size follows the number of distinct combinations, not of events:

* `rollup_activity_{15m,1h,1d}`: per account, category, action, outcome, role and country;
* `rollup_actor_{1d,7d}`: the same without the action, per person;
* `rollup_person_{1d,7d}`: per person and action (a view narrowed to actions, or to people);
* `rollup_address_{1d,7d}`: per person (with type and name), address and place;
* `rollup_address_action_7d`: the same per action, by week (a view narrowed to actions);
* `events_notable`: the rare events the security figures read (failures, lockouts, role and
  permission changes), whole rows, so any filter applies to them.

Upkeep (`add_rows`, `remove_rows`) runs in the transaction that stores, purges or restores the
events (a small batch appends its counts, so a key may have several rows until a fold: readers
sum `n`); `rebuild` recomputes everything from `events` (the migration, a repair). `source` gives a
query the rows to count: the rollups for the whole buckets of the range and the raw events for
the parts at its edges, or the raw events alone when a filter needs them (an address on a table
without addresses, a time of day in a zone whose offsets do not fall on the buckets, free text
that needs a scan).
Either way the counts are the same (tests/test_rollups.py compares them).
"""

# SQL here is built from the fixed names of our own tables and columns (schema.py), values bound:
# ruff: noqa: S608
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import duckdb
import sqlalchemy as sa

from dashboard.events.taxonomy import LOCKOUT_ACTIONS, activity_actions
from dashboard.filters import TextSearch, View, text_scan
from dashboard.store import schema
from dashboard.store.duck import one, run

log = logging.getLogger(__name__)

#: role and permission changes (the Security page lists them with their values)
CHANGE_ACTIONS: tuple[str, ...] = activity_actions("Role changes", "Permission updates")


@dataclass(frozen=True)
class Rollup:
    """One rollup table: its columns besides `occurred_at` and `n`, and its bucket in seconds."""

    table: sa.Table
    grain: int

    @property
    def dims(self) -> tuple[str, ...]:
        """The grouped columns."""
        return tuple(c.name for c in self.table.columns if c.name not in ("occurred_at", "n"))


#: every rollup, finest first within a family (a family: the same columns)
ROLLUPS: tuple[Rollup, ...] = (
    Rollup(schema.rollup_activity_15m, 900),
    Rollup(schema.rollup_activity_1h, 3600),
    Rollup(schema.rollup_activity_1d, 86400),
    Rollup(schema.rollup_actor_1d, 86400),
    Rollup(schema.rollup_actor_7d, 7 * 86400),
    Rollup(schema.rollup_person_1d, 86400),
    Rollup(schema.rollup_person_7d, 7 * 86400),
    Rollup(schema.rollup_address_1d, 86400),
    Rollup(schema.rollup_address_7d, 7 * 86400),
    Rollup(schema.rollup_address_action_7d, 7 * 86400),
)
NOTABLE = schema.events_notable
STATE = schema.rollup_state
_EVENT_COLUMNS = ", ".join(c.name for c in schema.events.columns)


def notable_sql(alias: str) -> str:
    """SQL condition: the row (of `events`, by `alias`) belongs in `events_notable`."""
    quoted = ", ".join(f"'{a}'" for a in (*LOCKOUT_ACTIONS, *CHANGE_ACTIONS))
    return f"({alias}.outcome = 'failure' OR {alias}.action IN ({quoted}))"


def notable_condition(table: sa.Table) -> sa.ColumnElement[bool]:
    """The same condition as `notable_sql`, on an events-shaped table."""
    c = table.c
    return sa.or_(c.outcome == "failure", c.action.in_((*LOCKOUT_ACTIONS, *CHANGE_ACTIONS)))


# -- upkeep --------------------------------------------------------------------------------------------
def _bucket_sql(grain: int) -> str:
    if grain == 86400:
        return "date_trunc('day', occurred_at)"
    if grain == 3600:
        return "date_trunc('hour', occurred_at)"
    # counted from 1970-01-01 (weeks start on Thursdays), as `_pieces` cuts ranges
    return f"time_bucket(INTERVAL '{grain} seconds', occurred_at, TIMESTAMP '1970-01-01')"


def _merge(con: duckdb.DuckDBPyConnection, rollup: Rollup, rows_sql: str, params: Any, sign: int) -> None:
    """Add (`sign` 1) or take away (-1) the counts of the rows `rows_sql` selects (events-shaped),
    or with 0 only fold the rows of their keys into one each; a key's rows are summed, however many."""
    name, dims = rollup.table.name, rollup.dims
    cols = ", ".join(dims)
    run(
        con,
        f"CREATE OR REPLACE TEMP TABLE _rollup_delta AS SELECT {_bucket_sql(rollup.grain)} AS occurred_at, "
        f"{cols}, {sign} * count(*) AS n FROM ({rows_sql}) GROUP BY ALL",
        params,
    )
    low, high = run(con, "SELECT min(occurred_at), max(occurred_at) FROM _rollup_delta")[0]
    if low is None:
        return
    same = " AND ".join(["t.occurred_at = d.occurred_at", *(f"t.{d} IS NOT DISTINCT FROM d.{d}" for d in dims)])
    span = "t.occurred_at >= $low AND t.occurred_at <= $high"
    run(
        con,
        f"CREATE OR REPLACE TEMP TABLE _rollup_merged AS SELECT occurred_at, {cols}, sum(n) AS n FROM ("
        f"SELECT t.* FROM {name} t WHERE {span} AND EXISTS (SELECT 1 FROM _rollup_delta d WHERE {same}) "
        "UNION ALL SELECT * FROM _rollup_delta) GROUP BY ALL",
        {"low": low, "high": high},
    )
    run(
        con,
        f"DELETE FROM {name} t WHERE {span} AND EXISTS (SELECT 1 FROM _rollup_delta d WHERE {same})",
        {"low": low, "high": high},
    )
    # a count below zero means the rollup was out of step already (rows deleted outside auditdash):
    # the state then differs too, and the queries read the raw events until a rebuild
    run(con, f"INSERT INTO {name} SELECT occurred_at, {cols}, n FROM _rollup_merged WHERE n > 0")
    run(con, "DROP TABLE IF EXISTS _rollup_delta")
    run(con, "DROP TABLE IF EXISTS _rollup_merged")


#: a batch of at most this many events, all numbered past the highest sequence number counted
#: (the writer's small batches: a page view's audit record, a small API post), appends its grouped
#: counts (`_append`) instead of merging them into the stored rows (`_merge`): a key may then have
#: several rows, which every reader sums (`sum(n)`, docs/architecture.md "Rollups")
SMALL_BATCH = 256
#: a batch that takes a multiple of this number (or steps over one) folds the rows of the keys of
#: the events numbered since the multiple before (`_fold`): at most about this many events' counts
#: are ever held in more than one row
FOLD_EVERY = 1024


def add_rows(con: duckdb.DuckDBPyConnection, rows_sql: str, params: Any = None) -> None:
    """Count in the events `rows_sql` selects (all columns of `events`), about to be or just stored.

    Call it inside the transaction that stores them. A small batch past the highest sequence number
    counted (`SMALL_BATCH`) appends its counts (about a dozen statements), a larger one, or one
    below that number (a restore, an erasure), merges them (`_merge`); either way a batch past a
    multiple of `FOLD_EVERY` then folds the duplicate keys of the events numbered since the last one."""
    n, total, low, top, high = one(
        con,
        f"SELECT count(*), coalesce(sum(seq), 0), min(seq), max(seq), (SELECT max(high) FROM {TEXT_STATE.name}) "
        f"FROM ({rows_sql})",
        params,
    )
    if not n:
        return
    past_end = high is not None and int(low) > int(high)
    if past_end and n <= SMALL_BATCH:
        run(con, f"CREATE OR REPLACE TEMP TABLE _rollup_batch AS SELECT * FROM ({rows_sql})", params)
        try:
            _append(con, "_rollup_batch", int(n), int(total), int(top))
            if int(top) // FOLD_EVERY > int(high) // FOLD_EVERY:
                _fold(con, (int(high) // FOLD_EVERY) * FOLD_EVERY, int(top), "_rollup_batch")
        finally:
            run(con, "DROP TABLE IF EXISTS _rollup_batch")
        return
    for rollup in ROLLUPS:
        _merge(con, rollup, rows_sql, params, 1)
    run(con, f"INSERT INTO {NOTABLE.name} SELECT {_EVENT_COLUMNS} FROM ({rows_sql}) r WHERE {notable_sql('r')}", params)
    _count(con, rows_sql, params, 1)
    _text_upkeep(con, rows_sql, params, 1)
    if past_end and int(top) // FOLD_EVERY > int(high) // FOLD_EVERY:
        _fold(con, (int(high) // FOLD_EVERY) * FOLD_EVERY, int(top), None)


def _append(con: duckdb.DuckDBPyConnection, batch: str, n: int, total: int, top: int) -> None:
    """Count in the events of table `batch` (numbered past the highest counted) by appending their
    grouped counts: one `INSERT ... GROUP BY` per rollup and per free-text table, no read of the
    stored counts. Matches found before for a free text still hold (topped up from `high`)."""
    for rollup in ROLLUPS:
        cols = ", ".join(rollup.dims)
        run(
            con,
            f"INSERT INTO {rollup.table.name} (occurred_at, {cols}, n) "
            f"SELECT {_bucket_sql(rollup.grain)}, {cols}, count(*) FROM {batch} GROUP BY ALL",
        )
    run(con, f"INSERT INTO {NOTABLE.name} SELECT {_EVENT_COLUMNS} FROM {batch} r WHERE {notable_sql('r')}")
    run(
        con,
        f"UPDATE {STATE.name} SET events = events + $n, seq_sum = seq_sum + $total",
        {"n": n, "total": total},
    )
    for table, dims in TEXT_VALUES:
        cols = ", ".join(dims)
        run(
            con,
            f"INSERT INTO {table.name} ({cols}, n) SELECT {cols}, count(*) FROM {batch} "
            f"WHERE {_any_present(dims)} GROUP BY ALL",
        )
    run(con, f"UPDATE {TEXT_STATE.name} SET high = greatest(high, $top)", {"top": top})


def _fold(con: duckdb.DuckDBPyConnection, after: int, top: int, batch: str | None) -> None:
    """Fold into one row each the counts of every key of the events numbered in (`after`, `top`]
    (and of table `batch`, when it may not be stored yet): a merge of nothing (`_merge` with
    `sign` 0) sums a key's rows into one. The sums, so every figure, stay as they are."""
    rows = "SELECT * FROM events WHERE seq > $after AND seq <= $top"
    if batch is not None:
        rows += f" UNION ALL SELECT * FROM {batch}"
    params = {"after": after, "top": top}
    for rollup in ROLLUPS:
        _merge(con, rollup, rows, params, 0)
    for table, dims in TEXT_VALUES:
        _merge_text(con, table, dims, rows, params, 0)


def _count(con: duckdb.DuckDBPyConnection, rows_sql: str, params: Any, sign: int) -> None:
    run(
        con,
        f"UPDATE {STATE.name} SET events = events + {sign} * s.n, seq_sum = seq_sum + {sign} * s.total "
        f"FROM (SELECT count(*) AS n, coalesce(sum(seq), 0) AS total FROM ({rows_sql})) s",
        params,
    )


def remove_rows(con: duckdb.DuckDBPyConnection, where_sql: str, params: Any = None) -> int:
    """Take away the stored events matching `where_sql` (a condition on `events`), before they are
    deleted in the same transaction; returns how many there are."""
    run(
        con,
        f"CREATE OR REPLACE TEMP TABLE _rollup_gone AS SELECT * FROM events WHERE {where_sql}",
        params,
    )
    try:
        count = int(run(con, "SELECT count(*) FROM _rollup_gone")[0][0])
        if count:
            for rollup in ROLLUPS:
                _merge(con, rollup, "SELECT * FROM _rollup_gone", None, -1)
            run(con, f"DELETE FROM {NOTABLE.name} WHERE seq IN (SELECT seq FROM _rollup_gone)")
            _count(con, "SELECT * FROM _rollup_gone", None, -1)
            _text_upkeep(con, "SELECT * FROM _rollup_gone", None, -1)
        return count
    finally:
        run(con, "DROP TABLE IF EXISTS _rollup_gone")


def rebuild_postgres(cur: Any) -> None:
    """`rebuild` on PostgreSQL, with a psycopg cursor in the caller's transaction (`auditdash
    migrate` after copying events)."""
    from dashboard.store.backend import postgres

    postgres.rebuild_rollups(cur, [(r.table, r.grain) for r in ROLLUPS], notable_sql("e"))
    postgres.rebuild_text(cur, TEXT_VALUES)


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every rollup from `events` (the caller holds the write lock and a transaction)."""
    for rollup in ROLLUPS:
        run(con, f"DELETE FROM {rollup.table.name}")
        _fill(con, rollup)
    run(con, f"DELETE FROM {NOTABLE.name}")
    run(con, f"INSERT INTO {NOTABLE.name} SELECT {_EVENT_COLUMNS} FROM events e WHERE {notable_sql('e')} ORDER BY seq")
    run(con, f"DELETE FROM {STATE.name}")
    run(con, f"INSERT INTO {STATE.name} SELECT count(*), coalesce(sum(seq), 0) FROM events")
    if run(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'text_state'")[0][0]:
        rebuild_text(con)


def rebuild_step(conn: sa.Connection) -> None:
    """The migration step: build the rollups of the events a store holds already."""
    if conn.dialect.name == "postgresql":  # the same tables and counts in PostgreSQL's words
        from dashboard.store.backend import postgres

        postgres.create_counted(conn, [r.table for r in ROLLUPS] + [NOTABLE, STATE])
        with postgres.driver_cursor(conn) as cur:
            postgres.rebuild_rollups(cur, [(r.table, r.grain) for r in ROLLUPS], notable_sql("e"))
        return
    driver = conn.connection.driver_connection
    con = cast(duckdb.DuckDBPyConnection, getattr(driver, "_ConnectionWrapper__c", driver))
    schema.metadata.create_all(conn, tables=[r.table for r in ROLLUPS] + [NOTABLE, STATE])
    rebuild(con)


def reshape_step(conn: sa.Connection, tables: Sequence[sa.Table]) -> None:
    """A migration step for rollups that are new or gained columns: each of `tables` that the store
    lacks, or whose stored table lacks one of its columns, is made (again) and filled from `events`
    (a store made since has them: nothing to do). The other rollups and `rollup_state` stay as they
    are: these tables count the same events, so a store in step stays in step."""
    chosen = [r for r in ROLLUPS if r.table in tables]
    query = sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = :t AND table_schema = current_schema()"
    )
    stale = [r for r in chosen if set(r.dims) - {str(c[0]) for c in conn.execute(query, {"t": r.table.name})}]
    if not stale:
        return
    if conn.dialect.name == "postgresql":
        from dashboard.store.backend import postgres

        # the chain lock first, as every writer takes it: a writer left running waits, no deadlock
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": postgres.CHAIN_LOCK})
        for r in stale:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {r.table.name}"))
        postgres.create_counted(conn, [r.table for r in stale])
        with postgres.driver_cursor(conn) as cur:
            postgres.fill_rollups(cur, [(r.table, r.grain) for r in stale])
        return
    driver = conn.connection.driver_connection
    con = cast(duckdb.DuckDBPyConnection, getattr(driver, "_ConnectionWrapper__c", driver))
    for r in stale:
        run(con, f"DROP TABLE IF EXISTS {r.table.name}")
    schema.metadata.create_all(conn, tables=[r.table for r in stale])
    for r in stale:
        _fill(con, r)


def _fill(con: duckdb.DuckDBPyConnection, rollup: Rollup) -> None:
    """Fill the (empty) rollup from `events`."""
    cols = ", ".join(rollup.dims)
    run(
        con,
        f"INSERT INTO {rollup.table.name} SELECT {_bucket_sql(rollup.grain)} AS occurred_at, {cols}, count(*) "
        f"FROM events GROUP BY ALL ORDER BY 1",
    )


def differences(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Where the rollups disagree with `events` (empty when they agree): for checks and tests."""
    out = []
    for rollup in ROLLUPS:
        cols = ", ".join(rollup.dims)
        raw = f"SELECT {_bucket_sql(rollup.grain)} AS occurred_at, {cols}, count(*) AS n FROM events GROUP BY ALL"
        kept = f"SELECT occurred_at, {cols}, sum(n) AS n FROM {rollup.table.name} GROUP BY ALL HAVING sum(n) <> 0"
        n = run(
            con,
            f"SELECT count(*) FROM (({raw}) EXCEPT ALL ({kept})) "
            f"UNION ALL SELECT count(*) FROM (({kept}) EXCEPT ALL ({raw}))",
        )
        if n[0][0] or n[1][0]:
            out.append(f"{rollup.table.name}: {n[0][0]} groups missing, {n[1][0]} extra")
    raw_notable = f"SELECT seq FROM events e WHERE {notable_sql('e')}"
    n = run(con, f"SELECT count(*) FROM (({raw_notable}) EXCEPT ALL (SELECT seq FROM {NOTABLE.name}))")[0][0]
    m = run(con, f"SELECT count(*) FROM ((SELECT seq FROM {NOTABLE.name}) EXCEPT ALL ({raw_notable}))")[0][0]
    if n or m:
        out.append(f"{NOTABLE.name}: {n} events missing, {m} extra")
    for table, dims in TEXT_VALUES:
        cols = ", ".join(dims)
        raw = f"SELECT {cols}, count(*) AS n FROM events WHERE {_any_present(dims)} GROUP BY ALL"
        # a value may have several rows (appended by small batches, not folded yet): their sum counts
        kept = f"SELECT {cols}, sum(n) AS n FROM {table.name} GROUP BY ALL"
        n = run(
            con,
            f"SELECT count(*) FROM (({raw}) EXCEPT ALL ({kept})) "
            f"UNION ALL SELECT count(*) FROM (({kept}) EXCEPT ALL ({raw}))",
        )
        if n[0][0] or n[1][0]:
            out.append(f"{table.name}: {n[0][0]} values missing, {n[1][0]} extra")
    return out


# -- reading -------------------------------------------------------------------------------------------
_raw_only: ContextVar[bool] = ContextVar("rollups_raw_only", default=False)
#: how long a check that the rollups count the stored events holds (seconds); the check itself
#: reads the events' count and the sum of their sequence numbers (a few ms at 10 million events on
#: DuckDB); on PostgreSQL it reads the events' tally kept by triggers (`_tally_in_step`)
CHECK_S = 2.0
_checked: weakref.WeakKeyDictionary[Any, tuple[float, bool]] = weakref.WeakKeyDictionary()
_checked_lock = threading.Lock()


def in_step(conn: sa.Connection) -> bool:
    """Whether the rollups count exactly the stored events (by number and sum of sequence numbers).

    They always do when only auditdash writes; rows inserted, deleted or renumbered behind its
    back (which `auditdash verify` reports) make the queries read the raw events until `rebuild`.
    On PostgreSQL with the events' tally the check reads no event (`_tally_in_step`); elsewhere
    (DuckDB, Citus) it counts them (`_counted_in_step`)."""
    now = time.monotonic()
    with _checked_lock:
        seen = _checked.get(conn.engine)
    if seen is not None and now - seen[0] < CHECK_S:
        return seen[1]
    try:
        ok = _tally_in_step(conn) if conn.dialect.name == "postgresql" else _counted_in_step(conn)
    except sa.exc.DBAPIError:  # a store without rollups (read-only, made by an older auditdash)
        conn.rollback()
        ok = False
    if not ok and (seen is None or seen[1]):
        log.warning("the rollups of %s do not count the stored events: figures read the raw events", conn.engine.url)
    with _checked_lock:
        _checked[conn.engine] = (now, ok)
    return ok


def _counted_in_step(conn: sa.Connection) -> bool:
    """`rollup_state` against the count and sum of `seq` of every event (a scan of `seq`)."""
    state = sa.select(STATE.c.events, STATE.c.seq_sum).limit(1).subquery()
    live = sa.select(sa.func.count().label("n"), sa.func.coalesce(sa.func.sum(schema.events.c.seq), 0).label("s"))
    live_q = live.subquery()
    query = sa.select(state.c.events, state.c.seq_sum, live_q.c.n, live_q.c.s)
    row = conn.execute(query.select_from(live_q.outerjoin(state, sa.true()))).one()
    return row[0] is not None and int(row[0]) == int(row[2]) and int(row[1]) == int(row[3])


def _tally_in_step(conn: sa.Connection) -> bool:
    """On PostgreSQL: `rollup_state` against the events' tally (`backend/postgres.py`, kept by
    statement triggers on `events` and each partition; two one-row reads and the catalog, the
    same time at any number of events); the full count where the store has no tally (Citus)."""
    from dashboard.store.backend import postgres

    if not postgres.has_tally(conn):
        return _counted_in_step(conn)
    return postgres.tally_in_step(conn)


def forget_checks() -> None:
    """Drop the remembered checks (after a rebuild, and in tests)."""
    with _checked_lock:
        _checked.clear()


def raw_only_now() -> bool:
    """Whether queries are to read the raw events only (inside `raw_only`)."""
    return _raw_only.get()


@contextlib.contextmanager
def raw_only() -> Iterator[None]:
    """Within the block, queries read the raw events only (to compare both ways, and to measure)."""
    token = _raw_only.set(True)
    try:
        yield
    finally:
        _raw_only.reset(token)


#: the columns each filter of a view reads (Filters.conditions)
_FILTER_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("actor_id",),
    "roles": ("actor_role",),
    "actions": ("action",),
    "outcome": ("outcome",),
    "countries": ("geo_country",),
    "accounts": ("account_id",),
    "ip": ("ip",),
}


def _needed(view: View) -> set[str] | None:
    """The columns the view's conditions read, or None when only raw events can answer (text)."""
    f = view.filters
    if f.text:
        return None
    cols = {"category"}  # the categories, or the dashboard's own activity left out
    for key, names in _FILTER_COLUMNS.items():
        if getattr(f, key):
            cols.update(names)
    return cols


def _epoch(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1)).total_seconds())


def _time_unit(view: View) -> int:
    """The largest bucket (seconds, dividing a day) on which the view's local clock is whole:
    every offset and every change of offset in the range falls on it."""
    unit = 86400
    for i, (at, off) in enumerate(view.segments):
        unit = math.gcd(unit, int(off.total_seconds()) % 86400 or 86400)
        if i:
            unit = math.gcd(unit, _epoch(at) % 86400 or 86400)
    return unit


def _pieces(start: datetime, end: datetime, grains: Sequence[int]) -> list[tuple[int | None, datetime, datetime]]:
    """[start, end) as whole buckets of the coarsest grain, then finer ones at the edges, then raw."""
    if start >= end:
        return []
    if not grains:
        return [(None, start, end)]
    g = grains[0]
    s, e = _epoch(start), _epoch(end)
    a, b = -(-s // g) * g, e // g * g
    if a >= b:
        return _pieces(start, end, grains[1:])
    base = datetime(1970, 1, 1)
    lo, hi = base + timedelta(seconds=a), base + timedelta(seconds=b)
    return [*_pieces(start, lo, grains[1:]), (g, lo, hi), *_pieces(hi, end, grains[1:])]


def plan(
    view: View, columns: Sequence[str], clock: int | None = None, usable: bool = True
) -> list[tuple[Rollup | None, datetime, datetime]]:
    """Which table answers each part of the view's range: (rollup or None for raw events, from, to).

    `columns`: what the query groups by; `clock`: the bucket (seconds) the query reads
    `occurred_at` at, None when it reads no time. A view with hours or weekdays reads the local
    clock at the hour.
    """
    needed = _needed(view)
    if needed is None or not usable or _raw_only.get():
        return [(None, view.start, view.end)]
    needed |= set(columns)
    unit = _time_unit(view)
    limit = math.gcd(clock, unit) if clock else None
    if view.filters.hours or view.filters.weekdays:
        limit = math.gcd(limit or 3600, math.gcd(3600, unit))
    families: dict[tuple[str, ...], list[Rollup]] = {}
    for r in ROLLUPS:
        if needed <= set(r.dims) and (limit is None or limit % r.grain == 0):
            families.setdefault(r.dims, []).append(r)
    if not families:
        return [(None, view.start, view.end)]
    # the family with the fewest columns (the smallest tables), its coarsest grain first
    smallest: list[Rollup] = min(families.values(), key=lambda rs: len(rs[0].dims))
    chosen = sorted(smallest, key=lambda r: -r.grain)
    by_grain = {r.grain: r for r in chosen}
    return [(by_grain[g] if g is not None else None, a, b) for g, a, b in _pieces(view.start, view.end, list(by_grain))]


def source(conn: sa.Connection, view: View, columns: Sequence[str], clock: int | None = None) -> sa.Subquery:
    """The view's rows to count: `occurred_at` (at least to `clock` seconds), `columns`, and `n`,
    the number of events each row stands for; from the rollups where they can answer."""
    parts: list[sa.Select[Any]] = []
    usable = not _raw_only.get() and in_step(conn)
    split = _text_split(conn, view) if usable and view.filters.text else None
    if split is not None:  # free text: the people it matches from the rollups, other matches raw
        bare, ids, seqs = split
        for rollup, a, b in plan(bare, (*columns, "actor_id"), clock, usable) if ids else ():
            table = rollup.table if rollup else schema.events
            c = table.c
            n = c.n if rollup else sa.literal(1, sa.BigInteger)
            cols = [c.occurred_at, *(c[name] for name in columns), n.label("n")]
            parts.append(
                sa.select(*cols).where(
                    bare.where(table), _one_of(c.actor_id, ids, sa.String), c.occurred_at >= a, c.occurred_at < b
                )
            )
        if seqs:
            e = schema.events.c
            rest = [_one_of(e.seq, seqs, sa.BigInteger)]
            if ids:  # not counted above
                rest.append(sa.or_(e.actor_id.is_(None), sa.not_(_one_of(e.actor_id, ids, sa.String))))
            cols = [e.occurred_at, *(e[name] for name in columns), sa.literal(1, sa.BigInteger).label("n")]
            parts.append(sa.select(*cols).where(bare.where(schema.events), *rest))
    else:
        for rollup, a, b in plan(view, columns, clock, usable):
            table = rollup.table if rollup else schema.events
            c = table.c
            n = c.n if rollup else sa.literal(1, sa.BigInteger)
            cols = [c.occurred_at, *(c[name] for name in columns), n.label("n")]
            parts.append(sa.select(*cols).where(view.where(table), c.occurred_at >= a, c.occurred_at < b))
    if not parts:  # an empty range
        table = schema.events
        parts.append(
            sa.select(
                table.c.occurred_at, *(table.c[name] for name in columns), sa.literal(1, sa.BigInteger).label("n")
            ).where(sa.false())
        )
    if len(parts) == 1:
        return parts[0].subquery("src")
    return sa.union_all(*parts).subquery("src")


def notable(conn: sa.Connection) -> sa.Table:
    """The table the failures, lockouts and changes are read from (all their columns):
    `events_notable`, where every filter applies as on `events` (`events` itself in `raw_only`)."""
    return schema.events if _raw_only.get() or not in_step(conn) else NOTABLE


# -- free-text search ----------------------------------------------------------------------------------
# A view's free text (`Filters.text`, a `TextSearch` condition) is a case-insensitive substring of
# any of six columns. Scanning them for months of events costs about a second; instead, before a
# statement runs, `_rewrite_text` replaces the condition on `events` / `events_notable` by the same
# rows found by equality: the people whose id, name or e-mail contains the text (from the few
# distinct actors in `text_actors`), or the sequence numbers of the events whose target or changes
# contain it (found once per text, by the ids of the matching targets in `text_targets` where they
# decide it, and kept, topped up as events arrive). `source` counts the people's events from the
# rollups. Each store's answer is exactly the scan's (tests/test_text_search.py).
TEXT_ACTORS = schema.text_actors
TEXT_TARGETS = schema.text_targets
TEXT_STATE = schema.text_state
ACTOR_TEXT = ("actor_id", "actor_name", "actor_email")
OTHER_TEXT = ("target_id", "target_name", "changes")
#: the distinct values kept, and their columns
TEXT_VALUES: tuple[tuple[sa.Table, tuple[str, ...]], ...] = (
    (TEXT_ACTORS, ACTOR_TEXT),
    (TEXT_TARGETS, ("target_id", "target_name")),
)
#: above this many events matching by target or changes, the condition scans those columns
TEXT_SEQ_LIMIT = 200_000
#: above this many matching people (or targets), the condition scans their columns
TEXT_ACTOR_LIMIT = 20_000
_TEXT_CACHE_SIZE = 64


def _any_present(dims: Sequence[str]) -> str:
    return "(" + " OR ".join(f"{d} IS NOT NULL" for d in dims) + ")"


def _merge_text(
    con: duckdb.DuckDBPyConnection, table: sa.Table, dims: Sequence[str], rows_sql: str, params: Any, sign: int
) -> None:
    """Add (`sign` 1) or take away (-1) the values the rows `rows_sql` selects carry (0: fold each
    value's rows into one); a value no event carries any more is deleted (an erased name does not
    stay behind)."""
    cols = ", ".join(dims)
    run(
        con,
        f"CREATE OR REPLACE TEMP TABLE _text_delta AS SELECT {cols}, {sign} * count(*) AS n "
        f"FROM ({rows_sql}) WHERE {_any_present(dims)} GROUP BY ALL",
        params,
    )
    same = " AND ".join(f"t.{d} IS NOT DISTINCT FROM d.{d}" for d in dims)
    run(
        con,
        f"CREATE OR REPLACE TEMP TABLE _text_merged AS SELECT {cols}, sum(n) AS n FROM ("
        f"SELECT t.* FROM {table.name} t WHERE EXISTS (SELECT 1 FROM _text_delta d WHERE {same}) "
        "UNION ALL SELECT * FROM _text_delta) GROUP BY ALL",
    )
    run(con, f"DELETE FROM {table.name} t WHERE EXISTS (SELECT 1 FROM _text_delta d WHERE {same})")
    run(con, f"INSERT INTO {table.name} SELECT {cols}, n FROM _text_merged WHERE n > 0")
    run(con, "DROP TABLE IF EXISTS _text_delta")
    run(con, "DROP TABLE IF EXISTS _text_merged")


def _text_upkeep(con: duckdb.DuckDBPyConnection, rows_sql: str, params: Any, sign: int) -> None:
    """Keep the distinct values and the state in step with events added or taken away."""
    for table, dims in TEXT_VALUES:
        _merge_text(con, table, dims, rows_sql, params, sign)
    if sign < 0:  # removed (purge, erasure): matches found before no longer hold
        run(con, f"UPDATE {TEXT_STATE.name} SET generation = generation + 1")
        return
    # appended after the highest sequence number: matches found before still hold and are topped
    # up; restored below it: they are found again
    run(
        con,
        f"UPDATE {TEXT_STATE.name} SET generation = generation + CASE WHEN s.low <= high THEN 1 ELSE 0 END, "
        f"high = greatest(high, s.top) FROM (SELECT min(seq) AS low, max(seq) AS top FROM ({rows_sql})) s "
        "WHERE s.low IS NOT NULL",
        params,
    )


def rebuild_text(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the distinct values from `events` (the caller holds the write lock and a transaction)."""
    for table, dims in TEXT_VALUES:
        cols = ", ".join(dims)
        run(con, f"DELETE FROM {table.name}")
        run(
            con,
            f"INSERT INTO {table.name} SELECT {cols}, count(*) FROM events WHERE {_any_present(dims)} "
            "GROUP BY ALL ORDER BY ALL",
        )
    generation = run(con, f"SELECT coalesce(max(generation), 0) + 1 FROM {TEXT_STATE.name}")[0][0]
    run(con, f"DELETE FROM {TEXT_STATE.name}")
    run(
        con,
        f"INSERT INTO {TEXT_STATE.name} SELECT $g, coalesce(max(seq), 0) FROM events",
        {"g": generation},
    )


def text_step(conn: sa.Connection) -> None:
    """The migration step: the free-text search's tables, filled from the events stored."""
    if conn.dialect.name == "postgresql":
        from dashboard.store.backend import postgres

        postgres.create_counted(conn, [TEXT_ACTORS, TEXT_TARGETS, TEXT_STATE])
        with postgres.driver_cursor(conn) as cur:
            postgres.rebuild_text(cur, TEXT_VALUES)
        return
    driver = conn.connection.driver_connection
    con = cast(duckdb.DuckDBPyConnection, getattr(driver, "_ConnectionWrapper__c", driver))
    schema.metadata.create_all(conn, tables=[TEXT_ACTORS, TEXT_TARGETS, TEXT_STATE])
    rebuild_text(con)


@dataclass(frozen=True)
class TextMatch:
    """What a free text matches in one state of a store: the people (`actor_id`) whose id, name or
    e-mail contains it, and the events whose target or changes contain it; None: scan those columns."""

    actor_ids: tuple[str, ...] | None
    seqs: tuple[int, ...] | None
    generation: int
    high: int


_text_cache: weakref.WeakKeyDictionary[Any, dict[str, TextMatch]] = weakref.WeakKeyDictionary()
_text_lock = threading.Lock()
#: engines whose store has no free-text tables (made by an older auditdash and opened read-only)
_text_absent: weakref.WeakSet[Any] = weakref.WeakSet()


def _actor_ids(conn: sa.Connection, text: str) -> tuple[str, ...] | None:
    """The people the text matches, when "actor_id is one of them" selects exactly the events whose
    actor columns match: no matching actor without an id, and no other name or e-mail under those ids."""
    a = TEXT_ACTORS
    hit = text_scan(a, text, ACTOR_TEXT)
    ids = [r[0] for r in conn.execute(sa.select(a.c.actor_id).where(hit).distinct())]
    if None in ids or len(ids) > TEXT_ACTOR_LIMIT:
        return None
    if ids:
        other = conn.execute(
            sa.select(sa.func.count())
            .select_from(a)
            .where(a.c.actor_id.in_(ids), sa.not_(sa.func.coalesce(hit, sa.false())))
        ).scalar()
        if other:
            return None
    return tuple(sorted(ids))


def _seqs(conn: sa.Connection, text: str, after: int, high: int) -> tuple[int, ...] | None:
    """The events in (after, high] whose target or changes contain the text (None: too many)."""
    t, e = TEXT_TARGETS, schema.events
    hit = text_scan(t, text, ("target_id", "target_name"))
    ids = [r[0] for r in conn.execute(sa.select(t.c.target_id).where(hit).distinct().limit(TEXT_ACTOR_LIMIT + 1))]
    changes = text_scan(e, text, ("changes",))
    if not ids:
        found = changes
    elif None in ids or len(ids) > TEXT_ACTOR_LIMIT:
        found = text_scan(e, text, OTHER_TEXT)
    else:  # by target id, when no other name under those ids misses the text
        other = conn.execute(
            sa.select(sa.func.count())
            .select_from(t)
            .where(_one_of(t.c.target_id, ids, sa.String), sa.not_(sa.func.coalesce(hit, sa.false())))
        ).scalar()
        found = text_scan(e, text, OTHER_TEXT) if other else sa.or_(_one_of(e.c.target_id, ids, sa.String), changes)
    rows = conn.execute(
        sa.select(e.c.seq).where(e.c.seq > after, e.c.seq <= high, found).limit(TEXT_SEQ_LIMIT + 1)
    ).all()
    if len(rows) > TEXT_SEQ_LIMIT:
        return None
    return tuple(r[0] for r in rows)


def resolve_text(conn: sa.Connection, text: str) -> TextMatch | None:
    """What `text` matches in the store `conn` reads (None: the store cannot tell; scan)."""
    engine = conn.engine
    if engine in _text_absent:
        return None
    try:
        state = conn.execute(sa.select(TEXT_STATE.c.generation, TEXT_STATE.c.high).limit(1)).first()
    except sa.exc.DBAPIError:  # a store made before the free-text tables, opened read-only
        conn.rollback()
        _text_absent.add(engine)
        return None
    if state is None:
        return None
    generation, high = int(state[0]), int(state[1])
    with _text_lock:
        known = _text_cache.get(engine, {}).get(text)
    if known is not None and known.generation == generation and known.high == high:
        return known
    actor_ids = _actor_ids(conn, text)
    if known is not None and known.generation == generation and known.high < high and known.seqs is not None:
        more = _seqs(conn, text, known.high, high)  # only events appended since
        seqs = None if more is None or len(known.seqs) + len(more) > TEXT_SEQ_LIMIT else known.seqs + more
    else:
        seqs = _seqs(conn, text, -(2**62), high)
    match = TextMatch(actor_ids, seqs, generation, high)
    with _text_lock:
        entries = _text_cache.setdefault(engine, {})
        entries.pop(text, None)
        entries[text] = match
        while len(entries) > _TEXT_CACHE_SIZE:
            entries.pop(next(iter(entries)))
    return match


def _one_of(column: sa.ColumnElement[Any], values: Sequence[Any], kind: Any) -> sa.ColumnElement[bool]:
    """`column` equals one of `values`, the list bound as one parameter (`= ANY(?)`): DuckDB probes
    a hash of it, where `IN (?, ?, ...)` of hundreds of values inside an OR is compared one by one."""
    return column == sa.any_(sa.bindparam(None, list(values), type_=sa.ARRAY(kind)))


def text_condition(table: sa.Table, text: str, match: TextMatch) -> sa.ColumnElement[bool]:
    """The rows of `table` (`events` or `events_notable`) whose TEXT_COLUMNS contain `text`, by `match`."""
    c = table.c
    parts: list[sa.ColumnElement[bool]] = []
    if match.actor_ids is None:
        parts.append(text_scan(table, text, ACTOR_TEXT))
    elif match.actor_ids:
        parts.append(_one_of(c.actor_id, match.actor_ids, sa.String))
    if match.seqs is None:
        parts.append(text_scan(table, text, OTHER_TEXT))
    elif match.seqs:
        parts.append(_one_of(c.seq, match.seqs, sa.BigInteger))
    if not parts:
        return sa.false()
    return sa.or_(*parts).self_group(against=sa.sql.operators.and_)


@sa.event.listens_for(sa.engine.Engine, "before_execute", retval=True)
def _rewrite_text(
    conn: sa.Connection, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
) -> tuple[Any, Any, Any]:
    """Before a statement runs on a DuckDB or PostgreSQL store: its free-text conditions on `events` and
    `events_notable` found by equality (`resolve_text`), when the store's tables are in step."""
    if conn.dialect.name not in ("duckdb", "postgresql") or not isinstance(clauseelement, sa.sql.ClauseElement):
        return clauseelement, multiparams, params
    searches = [
        e
        for e in sa.sql.visitors.iterate(clauseelement)
        if isinstance(e, TextSearch) and (e.table is schema.events or e.table is NOTABLE)
    ]
    if not searches or _raw_only.get() or not in_step(conn):
        return clauseelement, multiparams, params
    matches = {s.text: resolve_text(conn, s.text) for s in searches}

    def replace(element: Any, **kw: Any) -> Any:
        if isinstance(element, TextSearch):
            match = matches.get(element.text)
            if match is not None and (element.table is schema.events or element.table is NOTABLE):
                return text_condition(element.table, element.text, match)
        return None

    options: dict[str, Any] = {}
    return sa.sql.visitors.replacement_traverse(clauseelement, options, replace), multiparams, params


def forget_text_matches() -> None:
    """Drop the kept matches of free text (they are found again; for tests and measurements)."""
    with _text_lock:
        _text_cache.clear()


def _text_split(conn: sa.Connection, view: View) -> tuple[View, tuple[str, ...], tuple[int, ...]] | None:
    """A view with free text as the view without it, the people the text matches (whose events the
    rollups count) and the other events it matches; None when the text needs a scan."""
    text = view.filters.text
    match = resolve_text(conn, text) if text else None
    if match is None or match.actor_ids is None or match.seqs is None:
        return None
    bare = dataclasses.replace(view, filters=dataclasses.replace(view.filters, text=None))
    return bare, match.actor_ids, match.seqs
