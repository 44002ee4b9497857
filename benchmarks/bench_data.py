"""Ten million synthetic audit events, generated inside DuckDB in a few minutes (rollups built after).

The shape follows the demo generator (a support team, sessions of conversation work, logins
with occasional failures, attackers from hosting ranges, rare role changes) at a larger scale:
600 users in three accounts, about 20,000 distinct addresses, events in time order (as
ingestion writes them, so DuckDB's min/max indexes prune by time). Everything is a pure
function of the row number, so a given size always gives the same table.

The store is a valid one, as the writer would leave it: every event carries its hash in the
current canonical form (with a salt derived from its row number: a bench store holds no secret),
and one chain batch links them all from the genesis hash. A server can take writes on it (signing
in records to the audit log, the next batch chains to this one) and `verify` finds it intact.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from dashboard.events.taxonomy import ACTION_CATEGORY
from dashboard.ingest.geo_demo_ips import ATTACKER_IPS, DEMO_IPS
from dashboard.store import rollups
from dashboard.store.db import Database
from dashboard.store.writer import EMPTY_DIGEST, EVENT_HASH_SQL, GENESIS_HASH, HASH_VERSION, batch_hash

#: (action, weight per 10,000 events); what is left over is conversation.view.
ACTION_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("message.create", 2500),
    ("label.assign", 900),
    ("conversation.assign", 800),
    ("conversation.resolve", 800),
    ("auth.login", 700),
    ("auth.logout", 600),
    ("auth.mfa_challenge", 450),
    ("macro.execute", 300),
    ("conversation.reopen", 150),
    ("message.edit", 40),
    ("label.unassign", 80),
    ("conversation.unassign", 60),
    ("bot.update", 10),
    ("settings.update", 5),
    ("agent.update", 4),
    ("auth.password_change", 3),
    ("auth.account_locked", 3),
    ("agent.role_change", 1),
    ("agent.permission_change", 1),
    ("label.create", 1),
    ("integration.update", 1),
)
USERS = 600
ATTACKER_SHARE = 0.35  # of failed logins


def _values(rows: list[tuple[object, ...]]) -> str:
    def lit(v: object) -> str:
        if isinstance(v, str):
            return "'" + v.replace("'", "''") + "'"
        return repr(v)

    return ", ".join("(" + ", ".join(lit(v) for v in row) + ")" for row in rows)


#: rows generated per statement, and DuckDB's memory while generating (100 million rows fit)
CHUNK = 5_000_000
MEMORY_LIMIT = "6GB"


def generate(path: Path, events: int = 10_000_000, days: int = 90, end: datetime | None = None) -> float:
    """Create `path` with `events` events over `days` days up to `end`; return the seconds it took."""
    started = time.perf_counter()
    end = end or datetime.now().replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    span_ms = days * 86_400_000
    with Database(path) as db, db.raw() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")  # beyond it, DuckDB spills to disk
        actions = []
        low = 0
        for name, weight in ACTION_WEIGHTS:
            actions.append((name, ACTION_CATEGORY[name], low, low + weight))
            low += weight
        actions.append(("conversation.view", "conversation", low, 10_000))
        con.execute(
            f"CREATE TEMP TABLE b_actions(action VARCHAR, category VARCHAR, lo INT, hi INT); "
            f"INSERT INTO b_actions VALUES {_values(actions)}"
        )
        places = [(i, *p) for i, p in enumerate(DEMO_IPS)]
        con.execute(
            "CREATE TEMP TABLE b_places(k INT, ip VARCHAR, country VARCHAR, city VARCHAR, lat DOUBLE, lon DOUBLE); "
            f"INSERT INTO b_places VALUES {_values(places)}"
        )
        attackers = [(i, *p) for i, p in enumerate(ATTACKER_IPS)]
        con.execute(
            "CREATE TEMP TABLE b_attackers(k INT, ip VARCHAR, country VARCHAR, city VARCHAR, lat DOUBLE, lon DOUBLE);"
            f" INSERT INTO b_attackers VALUES {_values(attackers)}"
        )
        n_places, n_attackers = len(places), len(attackers)
        for lo in range(0, events, CHUNK):  # in chunks: one sort of 100 million wide rows does not fit
            _insert(con, lo, min(events, lo + CHUNK), events, start, span_ms, n_places, n_attackers)
        _link(con, end)
        con.execute("INSERT INTO meta VALUES ('benchmark', 'true')")
        # the rows went in behind the writer's back: count them into the rollups as a repair would
        con.execute("BEGIN TRANSACTION")
        rollups.rebuild(con)
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    return time.perf_counter() - started


def _insert(
    con: duckdb.DuckDBPyConnection,
    lo: int,
    hi: int,
    events: int,
    start: datetime,
    span_ms: int,
    n_places: int,
    n_attackers: int,
) -> None:
    """Rows `lo` .. `hi` - 1 of `events` (each a pure function of its number)."""
    con.execute(
        f"""
            INSERT INTO events BY NAME
            SELECT s.*, {EVENT_HASH_SQL} AS hash FROM (
            WITH base AS (
                SELECT i,
                       TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'
                         + to_milliseconds(CAST(i * {span_ms}::DOUBLE / {events} AS BIGINT)) AS t,
                       hash(i, 1) % 10000 AS r_action,
                       hash(i, 2) % 1000 AS r_fail,
                       -- skewed: a few users do much of the work
                       CAST(floor(pow((hash(i, 3) % 100000) / 100000.0, 1.6) * {USERS}) AS INT) AS u,
                       hash(i, 4) % 1000 AS r_ip,
                       hash(i, 5) AS r_misc
                FROM range({lo}, {hi}) r(i)
            ),
            e AS (
                SELECT b.*, a.action, a.category,
                       CASE WHEN a.action = 'auth.login' AND b.r_fail < 90 THEN 'failure'
                            WHEN a.action = 'auth.mfa_challenge' AND b.r_fail < 25 THEN 'failure'
                            WHEN a.action = 'auth.account_locked' THEN 'failure'
                            ELSE 'success' END AS outcome
                FROM base b JOIN b_actions a ON b.r_action >= a.lo AND b.r_action < a.hi
            ),
            g AS (
                SELECT e.*,
                       e.outcome = 'failure' AND e.r_ip < {int(ATTACKER_SHARE * 1000)} AS attacker,
                       (e.u * 7 + CASE WHEN e.r_ip > 985 THEN e.r_misc % 5 ELSE 0 END) % {n_places} AS place
                FROM e
            )
            SELECT
                i + 1 AS seq,
                'bench-' || i AS event_id,
                t AS occurred_at,
                t AS received_at,
                CASE u % 3 WHEN 0 THEN 'acme-support' WHEN 1 THEN 'acme-eu' ELSE 'acme-labs' END AS account_id,
                action, category, outcome,
                CASE WHEN outcome = 'failure' THEN
                     CASE WHEN action = 'auth.account_locked' THEN 'locked'
                          WHEN action = 'auth.mfa_challenge' OR r_fail % 5 = 0 THEN 'mfa_failed'
                          ELSE 'bad_password' END END AS reason,
                'u' || u AS actor_id,
                'Agent ' || u || ' Example' AS actor_name,
                'agent' || u || '@acme.example' AS actor_email,
                CASE WHEN u % 97 = 0 THEN 'administrator' WHEN u % 13 = 0 THEN 'supervisor' ELSE 'agent' END
                    AS actor_role,
                'user' AS actor_type,
                CASE WHEN category IN ('conversation', 'labels') THEN 'conversation'
                     WHEN category = 'agent_management' THEN 'agent' END AS target_type,
                CASE WHEN category IN ('conversation', 'labels') THEN CAST(100000 + r_misc % 400000 AS VARCHAR)
                     WHEN category = 'agent_management' THEN 'u' || (r_misc % {USERS}) END AS target_id,
                CASE WHEN category IN ('conversation', 'labels') THEN '#' || (100000 + r_misc % 400000)
                     WHEN category = 'agent_management' THEN 'Agent ' || (r_misc % {USERS}) || ' Example' END
                    AS target_name,
                CASE WHEN attacker THEN
                         split_part(x.ip, '.', 1) || '.' || split_part(x.ip, '.', 2) || '.'
                         || split_part(x.ip, '.', 3) || '.' || (1 + r_misc % 200)
                     ELSE split_part(p.ip, '.', 1) || '.' || split_part(p.ip, '.', 2) || '.'
                         || ((CAST(split_part(p.ip, '.', 3) AS INT) + u % 64) % 256) || '.'
                         || (1 + (u * 31 + r_ip % 3) % 250)
                END AS ip,
                'public' AS ip_scope,
                CASE WHEN attacker THEN x.country ELSE p.country END AS geo_country,
                CASE WHEN attacker THEN x.city ELSE p.city END AS geo_city,
                CASE WHEN attacker THEN x.lat ELSE p.lat END AS geo_lat,
                CASE WHEN attacker THEN x.lon ELSE p.lon END AS geo_lon,
                'Mozilla/5.0 (bench)' AS user_agent,
                'sess-' || u || '-' || (i // 400) AS session_id,
                'req-' || i AS request_id,
                CASE WHEN action = 'agent.role_change' THEN '{{"role":["agent","supervisor"]}}'
                     WHEN action = 'agent.permission_change'
                         THEN '{{"permissions":[["conversation_manage"],["conversation_manage","report_view"]]}}'
                     WHEN action = 'settings.update' THEN '{{"auto_assign":[false,true]}}' END AS changes,
                NULL AS metadata,
                'bench' AS source,
                1 AS batch_id,
                md5('bench-salt:' || i) AS salt,
                CAST(NULL AS VARCHAR) AS erased
            FROM g
            JOIN b_places p ON p.k = g.place
            JOIN b_attackers x ON x.k = g.r_misc % {n_attackers}
            ORDER BY i
            ) s
            """
    )


def _link(con: duckdb.DuckDBPyConnection, received: datetime) -> None:
    """The chain batch of the generated events (batch 1, from the genesis hash), as the writer links one."""
    (row,) = con.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchall()
    count = int(row[0])
    if not count or int(row[1]) != count:
        raise RuntimeError(f"the generated events are not numbered 1..{count}")
    digest = hashlib.sha256()
    reader = con.sql("SELECT hash FROM events ORDER BY seq").to_arrow_reader(1_000_000)
    for chunk in reader:
        digest.update("".join(chunk.column(0).to_pylist()).encode())
    events_digest = digest.hexdigest()
    own = batch_hash(
        GENESIS_HASH,
        1,
        1,
        count,
        count,
        events_digest,
        version=HASH_VERSION,
        quarantine_count=0,
        quarantine_digest=EMPTY_DIGEST,
        skipped=None,
    )
    con.execute(
        "INSERT INTO chain_batches (batch_id, first_seq, last_seq, event_count, received_at, source, "
        "events_digest, prev_hash, hash, version, quarantine_count, quarantine_digest) "
        "VALUES (1, 1, ?, ?, ?, 'bench', ?, ?, ?, ?, 0, ?)",
        [count, count, received, events_digest, GENESIS_HASH, own, HASH_VERSION, EMPTY_DIGEST],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="Generate a bench store of synthetic events.")
    ap.add_argument("path", type=Path, help="the DuckDB file to create (must not exist)")
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=90)
    args = ap.parse_args()
    if args.path.exists():
        raise SystemExit(f"{args.path} exists already: choose another path")
    print(f"{args.events:,} events in {args.path}: {generate(args.path, args.events, args.days):.0f} s")


if __name__ == "__main__":
    main()
