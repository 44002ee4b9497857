"""Hostile input through every ingest path: files read by `auditdash ingest` (in process) and
bodies posted to `POST /api/v1/events` (Flask test client), each on a real DuckDB file.

What is checked is what a person sees: the counts the command and the API answer, what
`auditdash quarantine list` shows, and what the store holds afterwards.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from dashboard import cli
from dashboard.access.tokens import create_token
from dashboard.config import Settings
from dashboard.events import contract
from dashboard.events.validate import validate_batch
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, event

DEEP = 3_000


def line(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False)


def nested(depth: int, leaf: str = "1") -> str:
    """JSON text of arrays nested `depth` levels deep."""
    return "[" * depth + leaf + "]" * depth


def with_raw(doc: dict[str, Any], field: str, text: str) -> str:
    """The event as JSON text with `field` set to raw JSON text (which Python could not write)."""
    base = line({k: v for k, v in doc.items() if k != field})
    return base[:-1] + f', "{field}": {text}}}'


# -- the corpus: hostile records that are well-formed JSON text -----------------------------------


def hostile_corpus(prefix: str) -> tuple[list[str], int, int]:
    """NDJSON lines (blank ones included), and how many records are to be accepted and rejected."""
    ok = [
        line(event(id=f"{prefix}-ok")),
        line(event(id=f"{prefix}-seps", metadata={"note": "a\u2028b\u2029c\u0085d"}, user_agent="x\u2028y")),
        line(event(id=f"{prefix}-crlf")) + "\r",
        with_raw(event(id=f"{prefix}-32deep"), "metadata", "{" + '"a": ' + nested(31) + "}"),
        line(event(id=f"{prefix}-ctl", metadata={"c": "\x01\x1b[31m\x7f"})),
        line(event(id=f"{prefix}-bignum", metadata={"n": 1e308, "i": 10**300})),
    ]
    bad = [
        with_raw(event(id=f"{prefix}-deep"), "metadata", '{"a": ' + nested(DEEP) + "}"),
        with_raw(event(id=f"{prefix}-deepchanges"), "changes", '{"role": ' + nested(40) + "}"),
        with_raw(event(id=f"{prefix}-before"), "before", '{"x": ' + nested(40) + "}"),
        with_raw(event(id=f"{prefix}-nan"), "metadata", '{"x": NaN}'),
        with_raw(event(id=f"{prefix}-inf"), "metadata", '{"x": [1, Infinity]}'),
        with_raw(event(id=f"{prefix}-ninf"), "metadata", '{"x": {"y": -Infinity}}'),
        with_raw(event(id=f"{prefix}-1e999"), "metadata", '{"x": 1e999}'),
        with_raw(event(id=f"{prefix}-hugeint"), "metadata", '{"x": ' + "9" * 400 + "}"),
        line(event(id=f"{prefix}-big", metadata={"blob": "x" * (contract.MAX_EVENT_BYTES + 10)})),
        line(event(id=f"{prefix}-esc", action="auth.\x1b[2Jlogin\nrejected at 1: forged")),
        "[1, 2]",
        "5",
        '"text"',
        "null",
        line(event(id=f"{prefix}-unknown", extra=1)),
        line(event(id=f"{prefix}-nul", metadata={"c": "\x00"})),  # no store keeps U+0000
    ]
    lines = [ok[0], "", "   ", *ok[1:], "\t", *bad]
    return lines, len(ok), len(bad)


# -- in-process CLI and test-client API ---------------------------------------------------------------


def run_ingest(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """`auditdash ingest ARGS --json` in this process: its summary (it must succeed)."""
    code = cli.main(["ingest", *args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    summary: dict[str, Any] = json.loads(out.out)
    return summary


def quarantine_text(capsys: pytest.CaptureFixture[str], db_path: Path) -> str:
    assert cli.main(["quarantine", "list", "--db", str(db_path), "--limit", "1000"]) == 0
    return capsys.readouterr().out


def quarantine_rows(db_path: Path) -> list[dict[str, Any]]:
    with Database(db_path) as db, db.connect() as conn:
        rows = conn.execute(sa.text("SELECT position, reason, raw FROM quarantine ORDER BY id")).mappings()
        return [dict(r) for r in rows]


def stored(db_path: Path, sql: str) -> Any:
    with Database(db_path) as db, db.connect() as conn:
        return conn.execute(sa.text(sql)).scalar()


class Api:
    """The app over its own database file, with an ingest token."""

    def __init__(self, tmp: Path, **settings: Any) -> None:
        from dashboard.web.app import create_app

        self.db = Database(tmp / "api.duckdb")
        app = create_app(Settings(db_path=self.db.path, geo_dir=GEO_DIR, **settings), self.db)
        _, self.token = create_token(self.db, "hostile")
        self.client = app.server.test_client()

    def post(self, body: bytes, content_type: str = "application/json", **headers: str) -> tuple[int, Any]:
        reply = self.client.post(
            "/api/v1/events",
            data=body,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type, **headers},
        )
        return reply.status_code, reply.get_json(silent=True)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    a = Api(tmp_path)
    try:
        yield a
    finally:
        a.db.close()


@pytest.fixture(autouse=True)
def _geo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITDASH_GEO_DIR", str(GEO_DIR))


# -- accept the same inputs the same way --------------------------------------------------------------


def test_the_same_corpus_gets_the_same_counts_from_every_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api: Api
) -> None:
    lines, n_ok, n_bad = hostile_corpus("same")
    text = "\n".join(lines) + "\n"
    records = [x for x in lines if x.strip()]
    array_text = "[\n" + ",\n".join(records) + "\n]"
    (tmp_path / "c.ndjson").write_text(text, encoding="utf-8")
    (tmp_path / "c.ndjson.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "c.json").write_text(array_text, encoding="utf-8")

    answers = {}
    for name in ("c.ndjson", "c.ndjson.gz", "c.json"):
        db = tmp_path / f"{name}.duckdb"
        summary = run_ingest(capsys, str(tmp_path / name), "--db", str(db))
        answers[name] = (summary["accepted"], summary["rejected"])
    status, reply = api.post(text.encode(), "application/x-ndjson")
    assert status == 200, reply
    answers["api ndjson"] = (reply["accepted"], reply["rejected_total"])
    api2 = Api(tmp_path / "second")
    try:
        status, reply = api2.post(array_text.encode())
        assert status == 200, reply
        answers["api array"] = (reply["accepted"], reply["rejected_total"])
    finally:
        api2.db.close()
    assert set(answers.values()) == {(n_ok, n_bad)}, answers

    # the same positions from the file and the body (blank lines counted, U+2028 is no line end)
    summary = run_ingest(capsys, str(tmp_path / "c.ndjson"), "--db", str(tmp_path / "again.duckdb"))
    file_lines = sorted(r["position"] for r in summary["rejections"])
    api_lines = sorted(r["line"] for r in reply_rejections(tmp_path, text))
    assert file_lines == api_lines


def reply_rejections(tmp: Path, text: str) -> list[dict[str, Any]]:
    a = Api(tmp / "third")
    try:
        status, reply = a.post(text.encode(), "application/x-ndjson")
        assert status == 200
        return list(reply["rejected"])
    finally:
        a.db.close()


# -- nesting ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["metadata", "changes", "before", "after"])
def test_deep_nesting_is_refused_naming_the_field_and_the_limit(field: str) -> None:
    doc = event(id="deep")
    inner = '{"role": ' + nested(DEEP) + "}" if field != "metadata" else '{"a": ' + nested(DEEP) + "}"
    result = validate_batch(duckdb.connect(), [(1, with_raw(doc, field, inner))])
    assert result.accepted.num_rows == 0
    assert result.rejected[0].reason == f"{field} is nested {DEEP + 1:,} levels deep, over the limit of 32"


def test_nesting_up_to_the_limit_is_accepted() -> None:
    doc = event(id="edge")
    at_limit = with_raw(doc, "metadata", '{"a": ' + nested(31) + "}")  # metadata itself is level 1
    over = with_raw(doc, "metadata", '{"a": ' + nested(32) + "}")
    result = validate_batch(duckdb.connect(), [(1, at_limit), (2, over)])
    assert result.accepted.column("pos").to_pylist() == [1]
    assert result.rejected[0].reason == "metadata is nested 33 levels deep, over the limit of 32"


def test_a_100k_deep_array_body_gets_an_answer_not_a_500(api: Api) -> None:
    status, reply = api.post(nested(100_000).encode())
    assert status == 200
    assert reply["accepted"] == 0 and reply["rejected_total"] == 1
    assert "over the limit of 65536 bytes" in reply["rejected"][0]["reason"]
    # small enough to be an event, deep enough to break a recursive parser
    body = "[" + with_raw(event(id="d1"), "metadata", '{"a": ' + nested(DEEP) + "}") + "]"
    status, reply = api.post(body.encode())
    assert status == 200
    assert reply["rejected"] == [
        {"index": 0, "reason": f"metadata is nested {DEEP + 1:,} levels deep, over the limit of 32"}
    ]


def test_a_deep_record_in_a_json_array_file_is_quarantined(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = with_raw(event(id="f-deep"), "metadata", '{"a": ' + nested(DEEP) + "}")
    path = tmp_path / "deep.json"
    path.write_text("[" + deep + ", " + line(event(id="f-ok")) + ", " + nested(50_000) + "]")
    db = tmp_path / "d.duckdb"
    summary = run_ingest(capsys, str(path), "--db", str(db))
    assert (summary["accepted"], summary["rejected"]) == (1, 2)
    assert summary["rejections"][0]["reason"] == f"metadata is nested {DEEP + 1:,} levels deep, over the limit of 32"


# -- NaN and Infinity ------------------------------------------------------------------------------------


def test_non_finite_numbers_are_refused_naming_the_field(api: Api) -> None:
    docs = [event(id="n1", metadata={"x": float("nan")}), event(id="n2", metadata={"deep": {"l": [1, float("inf")]}})]
    status, reply = api.post(json.dumps(docs).encode())  # Python writes NaN and Infinity
    assert status == 200
    assert reply["accepted"] == 0
    assert [r["reason"] for r in reply["rejected"]] == [
        "metadata.x is NaN, which JSON does not have (strict JSON only: no NaN or Infinity)",
        "metadata.deep.l[1] is Infinity, which JSON does not have (strict JSON only: no NaN or Infinity)",
    ]
    status, reply = api.post(with_raw(event(id="n3"), "metadata", '{"x": 1e999}').encode(), "application/x-ndjson")
    assert reply["rejected"] == [
        {"line": 1, "reason": "metadata.x is 1e999, too large for a 64-bit float (strict JSON only: finite numbers)"}
    ]


IMPORTS = {
    "okta": {"uuid": "o1", "published": "2026-05-01T09:30:00Z", "eventType": "user.session.start",
             "actor": {"id": "u1"}, "outcome": {"result": "FAILURE", "reason": float("nan")}},
    "ocsf": {"class_uid": 3002, "activity_id": 1, "time": 1777627800000, "type_uid": float("inf"),
             "actor": {"user": {"uid": "u1"}}, "metadata": {"uid": "x1"}},
    "ecs": {"@timestamp": "2026-05-01T09:30:00Z", "event": {"category": "authentication", "type": "start",
            "action": float("-inf")}, "user": {"id": "u1"}},
    "chatwoot": {"id": 7, "auditable_type": "Label", "action": "create", "user_id": 1,
                 "created_at": "2026-05-01T09:30:00Z", "version": float("nan")},
}  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(IMPORTS))
def test_no_importer_stores_a_non_finite_number(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"{fmt}.ndjson"
    path.write_text(json.dumps(IMPORTS[fmt]) + "\n" + json.dumps({**IMPORTS[fmt], "class_uid": float("nan")}) + "\n")
    db = tmp_path / "i.duckdb"
    summary = run_ingest(capsys, "--format", fmt, str(path), "--db", str(db))
    assert summary["accepted"] == 0 and summary["rejected"] == 2, summary
    assert all(
        "NaN" in r["reason"] or "Infinity" in r["reason"] or "cannot read" in r["reason"] for r in summary["rejections"]
    )


def test_csv_cells_cannot_smuggle_non_finite_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "n.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "occurred_at", "action", "actor.id", "metadata"])
        w.writerow(["c1", "2026-05-01T09:30:00Z", "auth.login", "u1", '{"a": NaN}'])
        w.writerow(["c2", "2026-05-01T09:30:00Z", "auth.login", "u1", '{"a": 1e999}'])
        w.writerow(["c3", "2026-05-01T09:30:00Z", "auth.login", "u1", '{"a": ' + "9" * 5000 + "}"])
        w.writerow(["c4", "2026-05-01T09:30:00Z", "auth.login", "u1", '{"a": 1.5}'])
    db = tmp_path / "n.duckdb"
    summary = run_ingest(capsys, str(path), "--db", str(db))
    assert (summary["accepted"], summary["rejected"]) == (1, 3), summary
    assert stored(db, "SELECT count(*) FROM events WHERE metadata ~ '(NaN|Infinity)'") == 0


# -- one line splitter --------------------------------------------------------------------------------


def test_unicode_line_separators_are_characters_not_line_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api: Api
) -> None:
    docs = [
        event(id=f"sep{i}", metadata={"t": f"a{c}b"}, actor={"id": f"u{c}"})
        for i, c in enumerate("\u2028\u2029\u0085\x0b\x0c\x1c")
    ]
    text = "\r\n".join(line(d) for d in docs) + "\r\n"
    path = tmp_path / "seps.ndjson"
    path.write_bytes(text.encode())
    db = tmp_path / "s.duckdb"
    summary = run_ingest(capsys, str(path), "--db", str(db))
    assert (summary["accepted"], summary["rejected"]) == (6, 0)
    status, reply = api.post(text.encode(), "application/x-ndjson")
    assert (status, reply["accepted"], reply["rejected_total"]) == (200, 6, 0)
    assert stored(db, "SELECT count(*) FROM events WHERE metadata LIKE '%' || chr(8232) || '%'") == 1


# -- long lines and records ------------------------------------------------------------------------------


def test_a_line_longer_than_a_block_is_counted_and_an_excerpt_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = 20 << 20  # past the 8 MiB the reader holds at once
    path = tmp_path / "long.ndjson.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write((line(event(id="before")) + "\n").encode())
        fh.write(b'{"id": "' + b"x" * size + b'"}\n')
        fh.write((line(event(id="after")) + "\n").encode())
    db = tmp_path / "l.duckdb"
    summary = run_ingest(capsys, str(path), "--db", str(db))
    assert (summary["accepted"], summary["rejected"]) == (2, 1)
    assert summary["rejections"] == [
        {"position": 2, "reason": f"{size + 10:,} bytes, over the limit of 65536 bytes (64 KiB) of one event"}
    ]
    (q,) = quarantine_rows(db)
    assert q["position"] == "line 2"
    assert len(q["raw"]) < 2 * contract.EXCERPT_CHARS and q["raw"].startswith('{"id": "xxx')


def test_a_long_element_of_a_json_array_file_is_skipped_to_its_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "long.json"
    blob = '{"id": "big", "metadata": {"s": "' + "\\" + '"' + "y" * (3 << 20) + '", "t": [' + "[]," * 1000 + "[]]}}"
    path.write_text("[" + line(event(id="a1")) + "," + blob + "," + line(event(id="a2")) + "]")
    db = tmp_path / "la.duckdb"
    summary = run_ingest(capsys, str(path), "--db", str(db))
    assert (summary["accepted"], summary["rejected"]) == (2, 1), summary
    assert summary["rejections"][0]["position"] == 1
    assert "over the limit of 65536 bytes" in summary["rejections"][0]["reason"]


def test_csv_huge_cell_bad_utf8_and_extra_cells_are_quarantined_with_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        b"id,occurred_at,action,actor.id,actor.name",
        b"c1,2026-05-01T09:30:00Z,auth.login,u1,Ana",
        b"c2,2026-05-01T09:30:00Z,auth.login,u1,An\xff\xfea",
        b'c3,2026-05-01T09:30:00Z,auth.login,u1,"' + b"z" * 200_000 + b'"',
        b"c4,2026-05-01T09:30:00Z,auth.login,u1,Ana,surplus",
        b"c5,2026-05-01T09:30:00Z,auth.login,u1,Ana",
    ]
    path = tmp_path / "h.csv"
    path.write_bytes(b"\r\n".join(rows) + b"\r\n")
    db = tmp_path / "h.duckdb"
    summary = run_ingest(capsys, str(path), "--db", str(db))
    assert (summary["accepted"], summary["rejected"]) == (2, 3)
    reasons = {r["position"]: r["reason"] for r in summary["rejections"]}
    assert reasons[3] == "column 'actor.name': not UTF-8: byte 0xff at character 3"
    assert "line 4 is not valid CSV: field larger than field limit" in reasons[4]
    assert reasons[5] == "6 cells, but the header names 5 columns"
    assert stored(db, "SELECT count(*) FROM events WHERE actor_name LIKE '%' || chr(65533) || '%'") == 0
    raw3 = next(q["raw"] for q in quarantine_rows(db) if q["position"] == "line 3")
    assert "An\\xff\\xfea" in raw3  # the bad bytes are shown, not replaced


def test_bad_utf8_is_refused_with_its_place_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api: Api
) -> None:
    good, bad = line(event(id="u-ok")).encode(), b'{"id": "u-bad", "note": "\xc3\x28"}'
    (tmp_path / "b.ndjson").write_bytes(good + b"\n" + bad + b"\n")
    (tmp_path / "b.json").write_bytes(b"[" + good + b",\n" + bad + b"]")
    db = tmp_path / "b.duckdb"
    summary = run_ingest(capsys, str(tmp_path / "b.ndjson"), str(tmp_path / "b.json"), "--db", str(db))
    assert (summary["accepted"], summary["rejected"]) == (1, 2)
    reasons = [r["reason"] for r in summary["rejections"]]
    assert reasons == ["not UTF-8: byte 0xc3 at column 26", "not UTF-8: byte 0xc3 at character 26"]
    status, reply = api.post(good + b"\n" + bad + b"\n", "application/x-ndjson")
    assert status == 400
    assert reply == {
        "error": "body is not UTF-8: byte 0xc3 on line 2, column 26",
        "line": 2,
        "column": 26,
        "position": len(good) + 1 + 25,
    }


# -- the quarantine cannot be flooded ---------------------------------------------------------------------


def test_rejected_records_past_the_limit_are_counted_in_one_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITDASH_QUARANTINE_MAX_RECORDS", "10")
    monkeypatch.setenv("AUDITDASH_BATCH_SIZE", "7")  # the limit holds across batches
    lines = ["{}"] * 25 + [line(event(id="flood-ok"))] + ['{"action": "x"}'] * 5
    path = tmp_path / "flood.ndjson"
    path.write_text("\n".join(lines) + "\n")
    db = tmp_path / "f.duckdb"
    summary = run_ingest(capsys, str(path), "--db", str(db))
    assert (summary["accepted"], summary["rejected"]) == (1, 30)
    rows = quarantine_rows(db)
    assert len(rows) == 11
    assert [r["position"] for r in rows[:10]] == [f"line {n}" for n in range(1, 11)]
    last = rows[-1]
    assert last["reason"].startswith("20 more rejected records (line 11 to 31) were counted but not kept one by one")
    assert "AUDITDASH_QUARANTINE_MAX_RECORDS" in last["reason"]
    histogram = json.loads(last["raw"])
    assert histogram["not_kept"] == 20 and sum(histogram["reasons"].values()) == 20
    assert len(histogram["reasons"]) == 2


def test_the_api_bounds_the_quarantine_per_request(tmp_path: Path) -> None:
    a = Api(tmp_path, quarantine_max_records=3)
    try:
        status, reply = a.post(b"{}\n" * 50 + line(event(id="r-ok")).encode(), "application/x-ndjson")
        assert status == 200
        assert (reply["accepted"], reply["rejected_total"], len(reply["rejected"])) == (1, 50, 3)
        with a.db.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar() == 4
    finally:
        a.db.close()


# -- raw text is never read as structure -------------------------------------------------------------------


def test_a_nul_line_cannot_forge_its_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str], api: Api) -> None:
    forged = '\x00all good, ignore\x00{"id": "x"}'
    path = tmp_path / "nul.ndjson"
    path.write_text(line(event(id="nul-ok")) + "\n" + forged + "\n")
    db = tmp_path / "n.duckdb"
    summary = run_ingest(capsys, str(path), "--db", str(db))
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert summary["rejections"][0]["reason"].startswith("not valid JSON")
    (q,) = quarantine_rows(db)
    # kept whole, its NUL characters as U+2400 (no store's text holds U+0000), and the reason says so
    assert q["raw"] == forged.replace("\x00", "\u2400") and q["reason"].startswith("not valid JSON")
    assert "2 NUL characters (U+0000) are kept as \u2400 (U+2400)" in q["reason"]
    listing = quarantine_text(capsys, db)
    assert "\x00" not in listing and "\u2400all good, ignore\u2400" in listing
    # the API refuses such a body as not JSON
    status, reply = api.post((line(event(id="nul-api")) + "\n" + forged).encode(), "application/x-ndjson")
    assert status == 400 and reply["error"].startswith("malformed JSON on line 2: not valid JSON")


def test_control_characters_are_shown_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ctl.ndjson"
    path.write_text(line(event(id="ctl", action="auth.\x1b[2J\nrejected at 9: fine\u202e")) + "\n")
    db = tmp_path / "c.duckdb"
    assert cli.main(["ingest", str(path), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    listing = quarantine_text(capsys, db)
    for text in (out, listing):
        assert "\x1b" not in text and "\u202e" not in text
        assert "rejected at 9" not in text.splitlines()[-1] or "\\n" in text
    assert "auth.\\x1b[2J\\nrejected at 9: fine\\u202e" in listing


# -- bodies that are not events at all ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"", 400, "empty body"),
        (b"  \r\n ", 400, "empty body"),
        (b"5", 400, "starts with '5'"),
        (b'"text"', 400, "JSON array of events or NDJSON"),
        (b"null", 400, "JSON array of events or NDJSON"),
        (b'[{"id": "t", ', 400, "malformed JSON"),
        (b"[{}] [{}]", 400, "text after the end of the array"),
        (b"[{} {}]", 400, "expected , or ]"),
        (b"\x1f\x8b\x08\x00garbage", 400, "gzip"),
        (gzip.compress(b"[]", mtime=0)[:-6], 400, "gzip"),
        (b'[{"a": "\xff"}]', 400, "not UTF-8: byte 0xff on line 1, column 9"),
        (b'{"id": 1}\n{"broken": \n', 400, "malformed JSON on line 2"),
    ],
)
def test_bodies_that_are_not_events_get_400_naming_the_problem(api: Api, body: bytes, status: int, words: str) -> None:
    got, reply = api.post(body)
    assert got == status, reply
    assert words in reply["error"]


def test_gzip_bodies_are_read_and_bounded(tmp_path: Path) -> None:
    a = Api(tmp_path, max_body_bytes=4096)
    try:
        status, reply = a.post(gzip.compress(json.dumps([event(id="gz1")]).encode()))
        assert (status, reply["accepted"]) == (200, 1)
        bomb = gzip.compress(b"[" + b" " * (1 << 20) + b"]")
        status, reply = a.post(bomb, **{"Content-Encoding": "gzip"})
        assert status == 413 and "decompresses to more than 4,096 bytes" in reply["error"]
    finally:
        a.db.close()


def test_a_damaged_gzip_file_is_an_error_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(gzip.compress((line(event(id="g")) + "\n").encode() * 2000)[:-40])
    code = cli.main(["ingest", str(path), "--db", str(tmp_path / "g.duckdb")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: {path}: the gzip data is damaged or cut short" in err


def test_huge_numbers_and_odd_shapes_in_an_array_are_rejected_one_by_one(api: Api) -> None:
    body = "[" + ", ".join(["9" * 5000, "[1, 2]", '"s"', "null", "1e999", line(event(id="odd-ok"))]) + "]"
    status, reply = api.post(body.encode(), "application/x-www-form-urlencoded")
    assert status == 200, reply
    assert (reply["accepted"], reply["rejected_total"]) == (1, 5)
    assert [r["index"] for r in reply["rejected"]] == [0, 1, 2, 3, 4]


def test_reader_positions_match_for_a_body_and_a_file(tmp_path: Path) -> None:
    from dashboard.ingest.readers import read_body, read_ndjson_tables

    data = b'{"a":1}\r\n\n\xe2\x80\xa8\n{"b":"\xe2\x80\xa8"}\n'
    _, body = read_body(data, 100)
    (table,) = read_ndjson_tables(io.BytesIO(data), 100)
    assert body[0].equals(table)  # type: ignore[union-attr]
    # U+2028 alone on a line is a record (not JSON), not a blank line
    assert table.column("pos").to_pylist() == [1, 3, 4]


def test_importers_refuse_deep_records_and_still_read_large_pages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep_okta = '{"uuid": "o9", "published": "2026-05-01T09:30:00Z", "debugContext": ' + nested(DEEP) + "}"
    okta = tmp_path / "okta.ndjson"
    okta.write_text(deep_okta + "\n" + json.dumps(IMPORTS["okta"] | {"outcome": {"result": "SUCCESS"}}) + "\n")
    summary = run_ingest(capsys, "--format", "okta", str(okta), "--db", str(tmp_path / "o.duckdb"))
    assert (summary["accepted"], summary["rejected"]) == (1, 1), summary
    assert summary["rejections"][0]["reason"] == (
        f"a value of this okta record is nested {DEEP:,} levels deep, over the limit of 32"
    )
    # a Chatwoot page may be larger than one event: it is read entry by entry
    entries = [
        {"id": i, "auditable_type": "Label", "action": "create", "user_id": 1, "created_at": "2026-05-01T09:30:00Z",
         "comment": "c" * 2000}
        for i in range(1, 61)
    ]  # fmt: skip
    page = tmp_path / "page.ndjson"
    page.write_text(json.dumps({"audit_logs": entries}) + "\n")
    assert page.stat().st_size > contract.MAX_EVENT_BYTES
    summary = run_ingest(capsys, "--format", "chatwoot", str(page), "--db", str(tmp_path / "c.duckdb"))
    assert (summary["accepted"], summary["rejected"]) == (60, 0), summary
