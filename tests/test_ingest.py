"""Ingest through the command line into a real store (a DuckDB file; some tests on PostgreSQL too)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard.store.db import Database
from tests.conftest import cli, event, run_cli


def write_ndjson(path: Path, docs: list[object], extra_lines: list[str] = ()) -> Path:
    lines = [json.dumps(d) for d in docs] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def count(db_path: Path | str, sql: str) -> int:
    with Database(db_path) as db, db.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar() or 0)


def test_ndjson_ingest_counts_duplicates_and_quarantine(tmp_path: Path, store_target: Path | str) -> None:
    docs = [event(id=f"e{i}", occurred_at=f"2026-05-01T09:{i:02d}:00Z") for i in range(50)]
    src = write_ndjson(
        tmp_path / "events.ndjson",
        docs,
        [
            '{"id": "bad1", "occurred_at": "2026-05-01T09:30:00", "action": "auth.login", "actor": {"id": "u"}}',
            "{not json",
            json.dumps(docs[0]),  # same id again inside the file
        ],
    )
    out = cli("ingest", str(src), "--db", str(store_target), "--json")
    summary = json.loads(out.stdout)
    assert (summary["accepted"], summary["duplicates"], summary["rejected"]) == (50, 1, 2)
    reasons = {r["position"]: r["reason"] for r in summary["rejections"]}
    assert "has no UTC offset" in reasons[51]
    assert reasons[52].startswith("not valid JSON")

    again = json.loads(cli("ingest", str(src), "--db", str(store_target), "--json").stdout)
    assert (again["accepted"], again["duplicates"]) == (0, 51)
    assert count(store_target, "SELECT count(*) FROM events") == 50

    quarantine = json.loads(cli("quarantine", "list", "--db", str(store_target), "--json").stdout)
    assert {q["position"] for q in quarantine} == {"line 51", "line 52"}
    assert any(q["raw"] == "{not json" and q["source"] == "file:events.ndjson" for q in quarantine)


def test_human_summary(tmp_path: Path, store_target: Path | str) -> None:
    src = write_ndjson(tmp_path / "a.ndjson", [event(id="x1"), event(id="x2", ip="300.0.0.1")])
    out = cli("ingest", str(src), "--db", str(store_target))
    assert "accepted 1, duplicates 0, rejected 1" in out.stdout
    assert "rejected at 2: ip '300.0.0.1' is not an IPv4 or IPv6 address" in out.stdout


def test_json_array_and_gzip(tmp_path: Path, db_path: Path) -> None:
    docs = [event(id=f"a{i}") for i in range(10)]
    path = tmp_path / "events.json.gz"
    with gzip.open(path, "wt") as fh:
        json.dump(docs, fh, indent=2)
    summary = json.loads(cli("ingest", str(path), "--db", str(db_path), "--json").stdout)
    assert summary["accepted"] == 10


def test_broken_json_array_keeps_the_rest_in_quarantine(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("[" + json.dumps(event(id="ok1")) + ', {"id": "b", oops} ]')
    summary = json.loads(cli("ingest", str(path), "--db", str(db_path), "--json").stdout)
    assert summary["accepted"] == 1
    assert summary["rejected"] == 1
    assert "JSON array broken at element 1" in summary["rejections"][0]["reason"]


def test_csv_with_dotted_columns(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "events.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "occurred_at", "action", "outcome", "actor.id", "actor.role", "ip", "changes"])
        writer.writerow(
            [
                "c1",
                "1777627800",
                "agent.role_change",
                "success",
                "u1",
                "administrator",
                "8.8.8.8",
                '{"role": ["agent", "administrator"]}',
            ]
        )
        writer.writerow(["c2", "2026-05-01T09:30:00Z", "auth.login", "failure", "u2", "agent", "10.0.0.5", ""])
        writer.writerow(["c3", "2026-05-01T09:30:00Z", "auth.login", "sometimes", "u2", "agent", "", ""])
    summary = json.loads(cli("ingest", str(path), "--db", str(db_path), "--json").stdout)
    assert (summary["accepted"], summary["rejected"]) == (2, 1)
    assert summary["rejections"][0]["position"] == 4  # the line number in the file
    with Database(db_path) as db, db.connect() as conn:
        row = conn.execute(sa.text("SELECT changes, actor_role, ip_scope FROM events WHERE event_id = 'c1'")).one()
    assert json.loads(row[0]) == {"role": ["agent", "administrator"]}
    assert row[1] == "administrator"


def test_files_from_windows_tools_with_a_byte_order_mark(tmp_path: Path, db_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    (tmp_path / "a.ndjson").write_bytes(bom + (json.dumps(event(id="bom1")) + "\n").encode())
    (tmp_path / "b.json").write_bytes(bom + json.dumps([event(id="bom2")]).encode())
    (tmp_path / "c.csv").write_bytes(bom + b"id,occurred_at,action,actor.id\nbom3,2026-05-01T09:30:00Z,auth.login,u1\n")
    (tmp_path / "d.ndjson.gz").write_bytes(gzip.compress(bom + (json.dumps(event(id="bom4")) + "\n").encode()))
    names = [str(tmp_path / n) for n in ("a.ndjson", "b.json", "c.csv", "d.ndjson.gz")]
    summary = json.loads(cli("ingest", *names, "--db", str(db_path), "--json").stdout)
    assert (summary["accepted"], summary["rejected"]) == (4, 0), summary
    assert count(db_path, "SELECT count(*) FROM events WHERE event_id LIKE 'bom%'") == 4


def test_unusable_epoch_times_are_rejected_and_the_rest_stored(tmp_path: Path, db_path: Path) -> None:
    lines = [
        '{"id": "t-nan", "occurred_at": NaN, "action": "auth.login", "actor": {"id": "u1"}}',
        '{"id": "t-1e15", "occurred_at": 1e15, "action": "auth.login", "actor": {"id": "u1"}}',
        '{"id": "t-1e300", "occurred_at": -1e300, "action": "auth.login", "actor": {"id": "u1"}}',
        '{"id": "t-ok", "occurred_at": 1777600000, "action": "auth.login", "actor": {"id": "u1"}}',
    ]
    src = tmp_path / "epochs.ndjson"
    src.write_text("\n".join(lines) + "\n")
    summary = json.loads(cli("ingest", str(src), "--db", str(db_path), "--json").stdout)
    assert (summary["accepted"], summary["rejected"]) == (1, 3)
    reasons = {r["position"]: r["reason"] for r in summary["rejections"]}
    assert reasons[1] == "occurred_at NaN is not a usable epoch time (seconds or milliseconds since 1970)"
    assert reasons[2].endswith("is not a usable epoch time (seconds or milliseconds since 1970)")
    assert reasons[3].endswith("is not a usable epoch time (seconds or milliseconds since 1970)")
    assert count(db_path, "SELECT count(*) FROM events WHERE event_id = 't-ok'") == 1


def test_missing_file_is_a_clear_error(tmp_path: Path, db_path: Path) -> None:
    proc = cli("ingest", str(tmp_path / "nope.ndjson"), "--db", str(db_path), check=False)
    assert proc.returncode == 1
    assert "no such file" in proc.stderr


def test_large_file_streams_in_batches(tmp_path: Path, store_target: Path | str) -> None:
    docs = [event(id=f"big{i}", occurred_at=f"2026-05-01T10:{i % 60:02d}:{i % 59:02d}Z") for i in range(2500)]
    src = write_ndjson(tmp_path / "big.ndjson", docs)
    out = cli("ingest", str(src), "--db", str(store_target), "--json", env={"AUDITDASH_BATCH_SIZE": "1000"})
    assert json.loads(out.stdout)["accepted"] == 2500
    # three batches, three links of the chain
    assert count(store_target, "SELECT count(*) FROM chain_batches") == 3
    assert count(store_target, "SELECT max(seq) - min(seq) + 1 FROM events") == 2500


def test_cli_refuses_a_database_held_by_another_process(tmp_path: Path, db_path: Path) -> None:
    from tests.conftest import start_server, stop_server

    srv = start_server(db_path, tmp_path, tmp_path / "srv.log")
    try:
        src = write_ndjson(tmp_path / "a.ndjson", [event()])
        proc = run_cli("ingest", str(src), "--db", str(db_path), check=False)
        assert proc.returncode == 3
        assert f"{db_path} is in use by the auditdash server (process {srv.proc.pid}" in proc.stderr
        assert "--server URL --token TOKEN" in proc.stderr
    finally:
        stop_server(srv)


@pytest.mark.parametrize("cmd", [["stats"], ["tokens", "list"], ["quarantine", "list"]])
def test_summaries_have_json(db_path: Path, cmd: list[str]) -> None:
    Database(db_path).close()  # these read a store: a path that names none is refused
    out = cli(*cmd, "--db", str(db_path), "--json")
    json.loads(out.stdout)


def test_batches_validated_from_several_threads_at_once(db_path: Path) -> None:
    """API requests validate side by side: each call has its own cursor on the validation engine."""
    from concurrent.futures import ThreadPoolExecutor

    from dashboard.ingest.pipeline import Ingestor

    with Database(db_path) as db:
        ingestor = Ingestor(db)

        def check(n: int) -> tuple[list[str], list[str]]:
            docs = [event(id=f"t{n}-{i}", actor={"id": f"u{n}"}) for i in range(300)]
            docs.append(event(id=f"t{n}-bad", outcome="maybe"))
            result = ingestor.validate([(i, json.dumps(d)) for i, d in enumerate(docs)])
            return result.accepted.column("actor_id").to_pylist(), [r.reason for r in result.rejected]

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(check, range(12)))
    for n, (actors, reasons) in enumerate(results):
        assert actors == [f"u{n}"] * 300
        assert reasons == ["outcome 'maybe' is not one of success, failure, unknown"]
