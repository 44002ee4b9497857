"""Text no store can keep: U+0000 (NUL) and UTF-16 surrogates without their pair.

PostgreSQL's text (and jsonb) cannot hold U+0000, and a lone surrogate (`\\ud800`) is not a Unicode
character at all. The contract is the same on both engines: such a record is quarantined with a
reason naming the field and the character's place, and the rest of its batch is stored, by every
input path (a file, the HTTP ingest API, an importer). A raw line with a literal NUL (not JSON) is
quarantined with that character kept as U+2400, so that the quarantine moves between the engines.
See docs/events.md, "Hostile input".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard import cli
from dashboard.access.tokens import create_token
from dashboard.config import Settings
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, event


@pytest.fixture(autouse=True)
def _geo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITDASH_GEO_DIR", str(GEO_DIR))


def line(doc: dict[str, Any]) -> str:
    return json.dumps(doc)  # ensure_ascii: NUL as \u0000, an astral character as a surrogate pair


#: (NDJSON line, the reason's start) for records every engine must refuse, one field each
REFUSED = [
    (line(event(id="nul-name", actor={"id": "u1", "name": "Ana\x00Souza"})), "actor.name holds the character U+0000"),
    (line(event(id="nul-id\x00")), "id holds the character U+0000 (NUL) at character 7"),
    (line(event(id="nul-key", metadata={"a\x00b": 1})), "the name of a field in metadata ('a\\x00b') holds"),
    (line(event(id="nul-deep", changes={"role": ["agent", "x\x00"]})), "changes.role[1] holds the character U+0000"),
    (
        line(event(id="lone-high"))[:-1] + ', "metadata": {"note": ["ok", "a\\ud800b"]}}',
        "metadata.note[1] holds \\ud800 at character 2, half of a UTF-16 surrogate pair",
    ),
    (
        line(event(id="lone-low"))[:-1] + ', "reason": "\\udc00"}',
        "reason holds \\udc00 at character 1",
    ),
]
#: records that look alike but are fine: stored on both engines
KEPT = [
    line(event(id="pair", metadata={"smile": "\U0001f600"})),  # a surrogate pair: one character
    line(event(id="spelled", metadata={"text": "\\u0000"})),  # the six characters \u0000, not a NUL
    line(event(id="plain")),
]


def _ndjson(path: Path, extra: tuple[str, ...] | list[str] = ()) -> Path:
    lines = [KEPT[0], *(text for text, _ in REFUSED), *KEPT[1:], *extra]
    path.write_text("\n".join(lines) + "\n")
    return path


def _ingest(target: Path | str, path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = cli.main(["ingest", str(path), "--db", str(target), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    summary: dict[str, Any] = json.loads(out.out)
    return summary


def _rows(target: Path | str, sql: str) -> list[tuple[Any, ...]]:
    with Database(target) as db, db.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_a_file_with_nul_or_a_lone_surrogate_is_stored_but_those_records(
    backend: str, store_target: Path | str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = '{"id": "raw\x00nul"}'  # a literal NUL: not JSON at all
    path = _ndjson(tmp_path / "nul.ndjson", [forged])
    summary = _ingest(store_target, path, capsys)
    assert (summary["accepted"], summary["rejected"]) == (3, len(REFUSED) + 1)
    lines = {r["position"]: r["reason"] for r in summary["rejections"]}
    for i, (_, reason) in enumerate(REFUSED, start=2):  # line 1 is KEPT[0]
        assert lines[i].startswith(reason), (i, lines[i])
    # every event kept is readable as JSON by the engine itself, and nothing holds a NUL
    assert sorted(r[0] for r in _rows(store_target, "SELECT event_id FROM events")) == ["pair", "plain", "spelled"]
    if backend == "postgres":
        meta = _rows(store_target, "SELECT CAST(metadata AS JSONB) ->> 'smile' FROM events WHERE event_id = 'pair'")
        assert meta == [("\U0001f600",)]
    # the quarantine says where (line N) and why; the raw text is kept, a literal NUL as U+2400
    quarantined = _rows(store_target, "SELECT position, reason, raw FROM quarantine ORDER BY id")
    assert [q[0] for q in quarantined] == [f"line {n}" for n in range(2, len(REFUSED) + 2)] + [
        f"line {len(REFUSED) + 4}"
    ]
    assert [q[2] for q in quarantined[:-1]] == [text for text, _ in REFUSED]
    _, reason, raw = quarantined[-1]
    assert raw == '{"id": "raw\u2400nul"}'
    assert reason.startswith("not valid JSON") and "NUL character (U+0000) is kept as \u2400 (U+2400)" in reason
    listing = cli.main(["quarantine", "list", "--db", str(store_target), "--limit", "100"])
    out = capsys.readouterr().out
    assert listing == 0 and "\x00" not in out and "actor.name holds the character U+0000" in out


def test_the_api_answers_the_same_as_a_file(
    backend: str, store_target: Path | str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dashboard.web.app import create_app

    with Database(store_target) as db:
        settings = Settings(db_path=store_target, geo_dir=GEO_DIR, reports_dir=tmp_path / "reports")  # type: ignore[arg-type]
        app = create_app(settings, db)
        _, token = create_token(db, "sender")
        client = app.server.test_client()
        body = _ndjson(tmp_path / "body.ndjson").read_bytes()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
        reply = client.post("/api/v1/events", data=body, headers=headers)
        assert reply.status_code == 200, reply.get_data(as_text=True)
        answer = reply.get_json()
        assert (answer["accepted"], answer["rejected_total"]) == (3, len(REFUSED))
        reasons = {r["line"]: r["reason"] for r in answer["rejected"]}
        for i, (_, reason) in enumerate(REFUSED, start=2):
            assert reasons[i].startswith(reason)
        # the same records as a JSON array: positions are the array's indexes
        array = "[" + ", ".join([KEPT[0].replace("pair", "pair2"), REFUSED[0][0]]) + "]"
        reply = client.post("/api/v1/events", data=array, headers={**headers, "Content-Type": "application/json"})
        assert reply.status_code == 200, reply.get_data(as_text=True)
        answer = reply.get_json()
        assert answer["accepted"] == 1 and answer["rejected_total"] == 1
        assert answer["rejected"][0]["reason"].startswith("actor.name holds the character U+0000")
        with db.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM events WHERE account_id = 'acme'")).scalar() == 4
    # the chain over what was stored and quarantined verifies on either engine
    assert cli.main(["verify", "--db", str(store_target)]) == 0, capsys.readouterr()


def test_csv_cells_and_imported_formats_go_through_the_same_rule(
    store_target: Path | str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = tmp_path / "nul.csv"
    csv_path.write_text(
        "id,occurred_at,action,actor.id,actor.name\n"
        "c1,2026-05-01T09:30:00Z,auth.login,u1,Ana\n"
        "c2,2026-05-01T09:31:00Z,auth.login,u2,B\x00en\n",
        encoding="utf-8",
    )
    summary = _ingest(store_target, csv_path, capsys)
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert summary["rejections"][0]["position"] == 3
    assert summary["rejections"][0]["reason"].startswith("actor.name holds the character U+0000 (NUL) at character 2")
    # an importer's output is validated by the same rule (Chatwoot's audit log entries here)
    entry = {
        "id": 91,
        "auditable_type": "User",
        "action": "sign_in",
        "user_id": 7,
        "username": "ag\x00ent@example.com",
        "created_at": 1777700000,
        "remote_address": "81.2.69.142",
    }
    chatwoot = tmp_path / "chatwoot.ndjson"
    chatwoot.write_text(json.dumps(entry) + "\n")
    code = cli.main(["ingest", "--format", "chatwoot", str(chatwoot), "--db", str(store_target), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    assert (result["accepted"], result["rejected"]) == (0, 1), result
    assert "holds the character U+0000" in result["rejections"][0]["reason"]


def test_a_duckdb_store_with_such_quarantined_records_moves_to_postgresql(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source.duckdb"
    _ingest(source, _ndjson(tmp_path / "nul.ndjson", ['{"raw": "\x00"}']), capsys)
    code = cli.main(["migrate", "--from", str(source), "--to", pg_url, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert json.loads(out.out)["verify"]["ok"] is True
    assert _rows(pg_url, "SELECT raw FROM quarantine ORDER BY id")[-1] == ('{"raw": "\u2400"}',)
    assert _rows(pg_url, "SELECT count(*) FROM events WHERE account_id = 'acme'") == [(3,)]
