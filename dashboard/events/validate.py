"""Batch validation and normalisation of raw events, run inside DuckDB.

Records arrive as JSON text with a position (line number or array index). A whole batch is
checked and normalised by a few vectorised SQL statements generated from `contract.FIELDS`:
parsing each event once, type and length checks, timestamp parsing to UTC, defaults and the
category. Addresses are classified in Python once per distinct value (validity, internal or
masked, geolocation). The result is an Arrow table of accepted events, ready for the store,
and a list of rejected records, each with every reason it was refused.

This runs on any DuckDB connection: the store's own (DuckDB backend) or an in-memory one
(any backend), so validation is the same whatever the database.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dashboard.events import contract
from dashboard.events.taxonomy import ACTION_CATEGORY
from dashboard.store.duck import run

if TYPE_CHECKING:
    import duckdb

    from dashboard.ingest.geo import GeoLocator

#: accepted events may be at most this far in the future (clock skew between systems).
MAX_FUTURE = timedelta(hours=24)
MIN_TIME = datetime(2000, 1, 1)

#: columns of an accepted batch, in order (the store's insert reads these names).
ACCEPTED_COLUMNS: tuple[str, ...] = (
    "pos",
    "event_id",
    "occurred_at",
    "account_id",
    "action",
    "category",
    "outcome",
    "reason",
    "actor_id",
    "actor_name",
    "actor_email",
    "actor_role",
    "actor_type",
    "target_type",
    "target_id",
    "target_name",
    "ip",
    "ip_scope",
    "geo_country",
    "geo_city",
    "geo_lat",
    "geo_lon",
    "user_agent",
    "session_id",
    "request_id",
    "changes",
    "metadata",
)


@dataclass
class Rejected:
    """A record that was refused, kept raw with every reason."""

    pos: int
    raw: str
    reason: str


@dataclass
class BatchResult:
    """What validation made of one batch."""

    accepted: pa.Table
    rejected: list[Rejected] = field(default_factory=list)


def _q(text: str) -> str:
    """Quote a constant of ours (never user input) as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


_PATHS = [f.path for f in contract.FIELDS] + ["actor", "target"]
_IDX = {p: i + 1 for i, p in enumerate(_PATHS)}  # DuckDB lists are 1-based


def _col(path: str) -> str:
    return path.replace(".", "_")


def _v(path: str) -> str:
    """The JSON value at a path (only for objects: changes, metadata, actor, target)."""
    return f"json_extract(j, {_q('$.' + path)})"


def _t(path: str) -> str:
    """The JSON type at a path (a column computed once per batch)."""
    return f"t_{_col(path)}"


def _s(path: str) -> str:
    """The value at a path as text (a column computed once per batch)."""
    return f"s_{_col(path)}"


def _present(path: str) -> str:
    return f"coalesce({_t(path)}, 'NULL') <> 'NULL'"


def _tname(type_expr: str) -> str:
    """SQL that names a JSON type the way a sender thinks of it."""
    return (
        f"(CASE WHEN {type_expr} IN ('UBIGINT', 'BIGINT', 'DOUBLE') THEN 'number' "
        f"WHEN {type_expr} = 'VARCHAR' THEN 'string' ELSE lower({type_expr}) END)"
    )


def _checks() -> list[tuple[str, str]]:
    """(condition that means the record is bad, SQL expression of the message)."""
    checks: list[tuple[str, str]] = []
    for f in contract.FIELDS:
        p = f.path
        if f.required:
            checks.append((f"NOT {_present(p)}", _q(f"{p} is missing")))
        if f.kind in ("string", "ip", "enum"):
            checks.append(
                (
                    f"{_present(p)} AND {_t(p)} <> 'VARCHAR'",
                    f"{_q(p + ' must be a string, got ')} || {_tname(_t(p))}",
                )
            )
        if f.max_length and f.kind in ("string", "ip"):
            checks.append(
                (
                    f"{_t(p)} = 'VARCHAR' AND length({_s(p)}) > {f.max_length}",
                    f"{_q(p + ' is ')} || length({_s(p)}) || {_q(f' characters, over the limit of {f.max_length}')}",
                )
            )
        if f.kind == "enum" and f.enum:
            allowed = ", ".join(_q(e) for e in f.enum)
            checks.append(
                (
                    f"{_t(p)} = 'VARCHAR' AND {_s(p)} NOT IN ({allowed})",
                    f"{_q(p + ' ')} || {_q(chr(39))} || {_s(p)} || {_q(chr(39))} || "
                    f"{_q(' is not one of ' + ', '.join(f.enum))}",
                )
            )
        if f.kind == "object":
            checks.append(
                (
                    f"{_present(p)} AND {_t(p)} <> 'OBJECT'",
                    f"{_q(p + ' must be an object, got ')} || {_tname(_t(p))}",
                )
            )
    checks += [
        (f"{_t('id')} = 'VARCHAR' AND length({_s('id')}) = 0", _q("id must not be empty")),
        (f"{_t('account_id')} = 'VARCHAR' AND length({_s('account_id')}) = 0", _q("account_id is empty")),
        (
            f"{_t('action')} = 'VARCHAR' AND NOT regexp_full_match({_s('action')}, {_q(contract.ACTION_PATTERN)})",
            f"{_q('action ' + chr(39))} || left({_s('action')}, 80) || "
            f"{_q(chr(39) + ' is not dotted lower case (like auth.login)')}",
        ),
        # occurred_at
        (
            f"{_t('occurred_at')} = 'VARCHAR' AND regexp_full_match({_s('occurred_at')}, "
            f"{_q(contract.RFC3339_NO_OFFSET_PATTERN)})",
            f"{_q('occurred_at ' + chr(39))} || {_s('occurred_at')} || "
            f"{_q(chr(39) + ' has no UTC offset (add Z or +HH:MM)')}",
        ),
        (
            f"{_t('occurred_at')} = 'VARCHAR' AND NOT regexp_full_match({_s('occurred_at')}, "
            f"{_q(contract.RFC3339_NO_OFFSET_PATTERN)}) AND NOT regexp_full_match({_s('occurred_at')}, "
            f"{_q(contract.RFC3339_PATTERN)})",
            f"{_q('occurred_at ' + chr(39))} || left({_s('occurred_at')}, 80) || "
            f"{_q(chr(39) + ' is not an RFC 3339 timestamp (like 2026-05-01T09:30:00Z)')}",
        ),
        (
            f"{_t('occurred_at')} NOT IN ('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE', 'NULL')",
            f"{_q('occurred_at must be a string or a number, got ')} || {_tname(_t('occurred_at'))}",
        ),
        ("ts_parsed_bad", _q("occurred_at is not a real calendar time")),
        (
            "ts_utc < $min_ts",
            f"{_q('occurred_at ')} || strftime(ts_utc, '%Y-%m-%dT%H:%M:%SZ') || {_q(' is before 2000-01-01')}",
        ),
        (
            "ts_utc > $max_ts",
            f"{_q('occurred_at ')} || strftime(ts_utc, '%Y-%m-%dT%H:%M:%SZ') || "
            f"{_q(' is more than 24 hours in the future')}",
        ),
        # actor
        (
            f"NOT {_present('actor')}",
            _q('actor is missing (send actor.id, or actor.type "system" for background jobs)'),
        ),
        (
            f"{_t('actor')} = 'OBJECT' AND NOT {_present('actor.id')} AND coalesce({_s('actor.type')}, '') <> 'system'",
            _q('actor.id is missing (send actor.type "system" for background jobs)'),
        ),
        *(
            (
                f"{_present(parent)} AND {_t(parent)} <> 'OBJECT'",
                f"{_q(parent + ' must be an object, got ')} || {_tname(_t(parent))}",
            )
            for parent in ("actor", "target")
        ),
        # changes: {field: [old, new]}
        (
            f"{_t('changes')} = 'OBJECT' AND NOT list_bool_and(list_transform("
            f"json_extract({_v('changes')}, '$.*'), lambda x: json_type(x) = 'ARRAY' AND json_array_length(x) = 2))",
            _q("changes must map each field to [old, new]"),
        ),
        (
            f"{_present('changes')} AND ({_present('before')} OR {_present('after')})",
            _q("send either changes or before/after, not both"),
        ),
        # unknown fields
        (
            "len(unknown_keys) > 0",
            f"{_q('unknown field ')} || array_to_string(list_transform(unknown_keys, lambda k: "
            f"{_q(chr(39))} || k || {_q(chr(39))}), ', ') || {_q(' (put extra data under metadata)')}",
        ),
    ]
    return checks


def _unknown_keys_sql() -> str:
    top = ", ".join(_q(k) for k in contract.TOP_LEVEL_KEYS)
    parts = [f"list_filter(coalesce(json_keys(j), []), lambda k: NOT list_contains([{top}], k))"]
    for parent, children in contract.NESTED_KEYS.items():
        allowed = ", ".join(_q(c) for c in children)
        parts.append(
            f"list_transform(list_filter(CASE WHEN {_t(parent)} = 'OBJECT' THEN json_keys({_v(parent)}) "
            f"ELSE [] END, lambda k: NOT list_contains([{allowed}], k)), lambda k: {_q(parent + '.')} || k)"
        )
    return "list_concat(" + ", ".join(parts) + ")"


def _build_sql() -> tuple[str, str, str]:
    paths = ", ".join(_q("$." + p) for p in _PATHS)
    unpack = ", ".join(f"tl[{_IDX[p]}] AS {_t(p)}, sl[{_IDX[p]}] AS {_s(p)}" for p in _PATHS)
    ts_local = (
        f"try_cast(regexp_extract({_s('occurred_at')}, '^([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})', 1) || ' ' || "
        f"regexp_extract({_s('occurred_at')}, '^.{{10}}.([0-9:]{{8}}(\\.[0-9]+)?)', 1) AS TIMESTAMP)"
    )
    offset_min = (
        f"CASE WHEN upper(right({_s('occurred_at')}, 1)) = 'Z' THEN 0 ELSE "
        f"(CASE WHEN substr(right({_s('occurred_at')}, 6), 1, 1) = '-' THEN -1 ELSE 1 END) * "
        f"(CAST(substr(right({_s('occurred_at')}, 5), 1, 2) AS INTEGER) * 60 + "
        f"CAST(substr(right({_s('occurred_at')}, 2), 1, 2) AS INTEGER)) END"
    )
    num = f"try_cast({_s('occurred_at')} AS DOUBLE)"
    ts_num = f"epoch_ms(CAST(round(CASE WHEN abs({num}) >= 1e11 THEN {num} ELSE {num} * 1000 END) AS BIGINT))"
    ts_string_ok = (
        f"{_t('occurred_at')} = 'VARCHAR' AND regexp_full_match({_s('occurred_at')}, {_q(contract.RFC3339_PATTERN)})"
    )
    phase1 = f"""
        WITH src AS (
            SELECT pos, raw, strlen(raw) AS nbytes,
                   CASE WHEN strlen(raw) <= {contract.MAX_EVENT_BYTES} AND json_valid(raw)
                        THEN raw END AS j
            FROM _raw_in
        ), parsed AS (
            SELECT pos, raw, nbytes, j, json_type(j) AS root,
                   CASE WHEN json_type(j) = 'OBJECT' THEN json_type(j, [{paths}]) END AS tl,
                   CASE WHEN json_type(j) = 'OBJECT' THEN json_extract_string(j, [{paths}]) END AS sl
            FROM src
        ), cols AS (
            SELECT pos, raw, nbytes, j, root, {unpack}
            FROM parsed
        ), typed AS (
            SELECT *,
                CASE WHEN {ts_string_ok} THEN {ts_local} - to_minutes({offset_min})
                     WHEN {_t("occurred_at")} IN ('UBIGINT', 'BIGINT', 'DOUBLE')
                          AND abs({num}) < 1e15 THEN {ts_num}
                END AS ts_raw,
                CASE WHEN root = 'OBJECT' THEN {_unknown_keys_sql()} END AS unknown_keys
            FROM cols
        )
        SELECT *, date_trunc('millisecond', ts_raw) AS ts_utc,
               ({ts_string_ok} AND ts_raw IS NULL) AS ts_parsed_bad
        FROM typed
    """
    checks = _checks()
    bad = " OR ".join(f"coalesce(({cond}), false)" for cond, _ in checks)
    reasons = ",\n".join(f"CASE WHEN {cond} THEN {msg} END" for cond, msg in checks)
    # Every row gets a cheap boolean; the message text is built only for the bad rows.
    phase2 = f"""
        SELECT *,
            (nbytes > {contract.MAX_EVENT_BYTES} OR j IS NULL OR root <> 'OBJECT' OR {bad}) AS bad
        FROM _p1
    """
    reason_sql = f"""
            CASE
                WHEN nbytes > {contract.MAX_EVENT_BYTES}
                    THEN 'event is ' || nbytes || ' bytes, over the limit of {contract.MAX_EVENT_BYTES}'
                WHEN j IS NULL THEN 'not valid JSON'
                WHEN root <> 'OBJECT'
                    THEN 'an event must be a JSON object, got ' || lower(replace(root, 'VARCHAR', 'string'))
                ELSE nullif(concat_ws('; ', {reasons}), '')
            END
    """
    return phase1, phase2, reason_sql


_PHASE1_SQL, _PHASE2_SQL, _REASON_SQL = _build_sql()

_FINAL_SQL = f"""
    SELECT c.pos,
        coalesce({_s("id")}, 'srv-' || CAST(uuid() AS VARCHAR)) AS event_id,
        c.ts_utc AS occurred_at,
        coalesce({_s("account_id")}, 'default') AS account_id,
        {_s("action")} AS action,
        coalesce(tax.category, 'other') AS category,
        coalesce({_s("outcome")}, 'success') AS outcome,
        {_s("reason")} AS reason,
        {_s("actor.id")} AS actor_id,
        {_s("actor.name")} AS actor_name,
        {_s("actor.email")} AS actor_email,
        {_s("actor.role")} AS actor_role,
        coalesce({_s("actor.type")}, 'user') AS actor_type,
        {_s("target.type")} AS target_type,
        {_s("target.id")} AS target_id,
        {_s("target.name")} AS target_name,
        ipi.ip AS ip,
        coalesce(ipi.scope, 'none') AS ip_scope,
        ipi.country AS geo_country,
        ipi.city AS geo_city,
        ipi.lat AS geo_lat,
        ipi.lon AS geo_lon,
        {_s("user_agent")} AS user_agent,
        {_s("session_id")} AS session_id,
        {_s("request_id")} AS request_id,
        CASE WHEN {_t("changes")} = 'OBJECT' THEN CAST(json({_v("changes")}) AS VARCHAR) END AS changes,
        CASE WHEN {_t("metadata")} = 'OBJECT' THEN CAST(json({_v("metadata")}) AS VARCHAR) END AS metadata,
        ({_present("before")} OR {_present("after")}) AS needs_before_after
    FROM _p2 c
    LEFT JOIN _taxonomy tax ON tax.action = {_s("action")}
    LEFT JOIN _ipinfo ipi ON ipi.text = {_s("ip")}
    WHERE NOT c.bad
    ORDER BY c.pos
"""

_TAXONOMY = pa.table(
    {"action": list(ACTION_CATEGORY), "category": list(ACTION_CATEGORY.values())},
)

_IPINFO_SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("ip", pa.string()),
        ("scope", pa.string()),
        ("country", pa.string()),
        ("city", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
    ]
)


def _json_error(raw: str) -> str:
    """Say where a record's JSON is broken (only called for the rare bad record)."""
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return "not valid JSON: nested too deeply"
    return "not valid JSON"


def _changes_from_before_after(raw: str) -> str | None:
    doc = json.loads(raw)
    before = doc.get("before") or {}
    after = doc.get("after") or {}
    keys = list(dict.fromkeys([*before, *after]))
    return json.dumps({k: [before.get(k), after.get(k)] for k in keys}, separators=(",", ":"))


def validate_batch(
    con: duckdb.DuckDBPyConnection,
    records: Sequence[tuple[int, str]] | pa.Table,
    geo: GeoLocator | None = None,
    now: datetime | None = None,
) -> BatchResult:
    """Validate and normalise one batch of raw JSON records.

    Args:
        con: a DuckDB connection or cursor, used for the vectorised checks (temp tables only).
        records: (position, JSON text) pairs, or an Arrow table with columns `pos` and `raw`.
        geo: locator for public addresses; without it addresses are classified but not placed.
        now: the reference time for the future-skew check (UTC).

    Returns:
        The accepted events as an Arrow table with `ACCEPTED_COLUMNS`, and the rejected records.
    """
    from dashboard.ingest.geo import GeoLocator, classify_ip

    if isinstance(records, pa.Table):
        raw_in = records.select(["pos", "raw"])
        raw_in = pa.Table.from_batches(raw_in.to_batches(max_chunksize=16_384))
    else:
        raw_in = pa.table({"pos": pa.array([p for p, _ in records], pa.int64()), "raw": [r for _, r in records]})
        raw_in = pa.Table.from_batches(raw_in.to_batches(max_chunksize=16_384))
    now_utc = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    bounds = {"min_ts": MIN_TIME, "max_ts": now_utc + MAX_FUTURE}
    con.register("_raw_in", raw_in)
    con.register("_taxonomy", _TAXONOMY)
    try:
        run(
            con,
            "CREATE OR REPLACE TEMP TABLE _p1 AS " + _PHASE1_SQL,
        )
        run(
            con,
            "CREATE OR REPLACE TEMP TABLE _p2 AS " + _PHASE2_SQL,
            bounds,
        )
        ip_texts = [r[0] for r in run(con, f"SELECT DISTINCT {_s('ip')} FROM _p2 WHERE {_t('ip')} = 'VARCHAR'")]
        infos = geo.locate_many(ip_texts) if isinstance(geo, GeoLocator) else {t: classify_ip(t) for t in ip_texts}
        bad_ips = {t: i for t, i in infos.items() if i.scope == "invalid"}
        ipinfo = pa.Table.from_pylist(
            [
                {
                    "text": t,
                    "ip": i.ip,
                    "scope": i.scope,
                    "country": i.country,
                    "city": i.city,
                    "lat": i.lat,
                    "lon": i.lon,
                }
                for t, i in infos.items()
                if i.scope != "invalid"
            ],
            schema=_IPINFO_SCHEMA,
        )
        con.register("_ipinfo", ipinfo)
        rejected_rows = run(
            con,
            f"SELECT pos, raw, CASE WHEN bad THEN {_REASON_SQL} END, "
            f"j IS NULL AND nbytes <= {contract.MAX_EVENT_BYTES}, "
            f"{_s('ip')} FROM _p2 WHERE bad "
            f"OR ({_t('ip')} = 'VARCHAR' AND {_s('ip')} IN (SELECT unnest($bad)))"
            " ORDER BY pos",
            {"bad": list(bad_ips) or [""], **bounds},
        )
        accepted = con.sql(_FINAL_SQL).to_arrow_table()
    finally:
        for name in ("_raw_in", "_taxonomy", "_ipinfo"):
            with contextlib.suppress(Exception):  # a view never registered needs no cleanup
                con.unregister(name)
        run(con, "DROP TABLE IF EXISTS _p1")
        run(con, "DROP TABLE IF EXISTS _p2")

    rejected: list[Rejected] = []
    bad_pos: set[int] = set()
    for pos, raw, reason, bad_json, ip_text in rejected_rows:
        reasons = [reason] if reason else []
        if raw.startswith("\x00") and raw.count("\x00") >= 2:
            _, why, raw = raw.split("\x00", 2)
            reasons = [why]
        elif bad_json:
            reasons = [_json_error(raw)]
        if ip_text in bad_ips:
            reasons.append(f"ip {ip_text!r} is not an IPv4 or IPv6 address")
        rejected.append(Rejected(pos=pos, raw=raw, reason="; ".join(reasons)))
        bad_pos.add(pos)
    if bad_pos:
        keep = pa.array([p not in bad_pos for p in accepted.column("pos").to_pylist()], pa.bool_())
        accepted = accepted.filter(keep)
    accepted = _apply_before_after(accepted, raw_in)
    return BatchResult(accepted=accepted.select(list(ACCEPTED_COLUMNS)), rejected=rejected)


def _apply_before_after(accepted: pa.Table, raw_in: pa.Table) -> pa.Table:
    flags = accepted.column("needs_before_after").to_pylist()
    if not any(flags):
        return accepted
    raw_by_pos = dict(zip(raw_in.column("pos").to_pylist(), raw_in.column("raw").to_pylist(), strict=True))
    changes = accepted.column("changes").to_pylist()
    for i, (flag, pos) in enumerate(zip(flags, accepted.column("pos").to_pylist(), strict=True)):
        if flag:
            changes[i] = _changes_from_before_after(raw_by_pos[pos])
    idx = accepted.schema.get_field_index("changes")
    return accepted.set_column(idx, "changes", pa.array(changes, pa.string()))


def validate_records(con: duckdb.DuckDBPyConnection, docs: Sequence[Any], now: datetime | None = None) -> BatchResult:
    """Validate Python objects (for tests and small callers): each is serialised to JSON first."""
    return validate_batch(con, [(i, json.dumps(d)) for i, d in enumerate(docs)], now=now)
