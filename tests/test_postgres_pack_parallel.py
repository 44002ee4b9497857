"""A pack on PostgreSQL when the server runs its statements in parallel workers: the functions a
pack calls must be allowed there (a plpgsql function with an EXCEPTION block is not), and one an
earlier auditdash made PARALLEL SAFE is corrected."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from dashboard.store.backend import postgres
from tests.conftest import cli, event

PARALLEL_ALWAYS = (
    "SET force_parallel_mode = on",
    "SET parallel_setup_cost = 0",
    "SET parallel_tuple_cost = 0",
    "SET min_parallel_table_scan_size = 0",
)


def test_a_pack_is_built_with_parallel_plans_forced(pg_url: str, tmp_path: Path) -> None:
    env = {"AUDITDASH_HOME": str(tmp_path)}
    sent = tmp_path / "e.ndjson"
    docs = [event(id=f"p{i}", occurred_at=f"2026-06-0{1 + i % 9}T08:00:00Z", metadata={"n": i}) for i in range(40)]
    sent.write_text("".join(json.dumps(d) + "\n" for d in docs))
    cli("ingest", "--db", pg_url, str(sent), env=env)
    plain = pg_url.replace("+psycopg", "")
    database = plain.rsplit("/", 1)[1]
    with psycopg.connect(plain, autocommit=True) as conn:
        # as an earlier auditdash made it: PARALLEL SAFE, which a parallel plan cannot run
        conn.execute(
            "CREATE FUNCTION json_valid(doc TEXT) RETURNS BOOLEAN LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE "
            "AS $$ BEGIN PERFORM CAST(doc AS JSON); RETURN true; EXCEPTION WHEN others THEN RETURN false; END $$"
        )
        for setting in PARALLEL_ALWAYS:
            conn.execute(f"ALTER DATABASE {database} {setting}")
    postgres._READ_FUNCTIONS_MADE.clear()
    out = tmp_path / "packs"
    done = cli(
        "report", "--db", pg_url, "--from", "2026-06-01", "--to", "2026-06-30", "--tz", "UTC",
        "--format", "csv,json", "--out", str(out), env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    csv_files = list(out.rglob("*.csv"))
    assert csv_files and len(csv_files[0].read_text().splitlines()) == 41  # the header and 40 events
    with psycopg.connect(plain) as conn:
        parallel = conn.execute("SELECT proparallel FROM pg_proc WHERE oid = to_regprocedure('json_valid(text)')")
        assert parallel.fetchone() == ("u",)
