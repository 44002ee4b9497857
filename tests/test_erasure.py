"""Erasure of one person (docs/integrity.md, "Erasure"): a real store with batches of canonical forms
2 and 3, three archived months and a signed checkpoint, on DuckDB and on PostgreSQL (the same tests,
parametrised by `backend`: the store built once per engine, copied for each test). After `auditdash
erase` the chain verifies, the person's name, e-mail address, address and user agent are nowhere in
the database (on DuckDB its file too), the archive's Parquet files or a pack built afterwards, and
every other event is unchanged; a legal hold refuses the erasure; marking events erased by hand is
found; the page is for admins only.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from dashboard.access.users import Actor, create_user
from dashboard.cli import main as auditdash
from dashboard.config import Settings
from dashboard.events.validate import validate_records
from dashboard.evidence.checkpoints import write_checkpoint
from dashboard.evidence.pack_proof import verify_pack
from dashboard.evidence.verify import verify
from dashboard.filters import Filters
from dashboard.packs.build import PackSettings, build_pack
from dashboard.packs.model import PackRequest
from dashboard.retention.archive_write import _mirror
from dashboard.retention.erasure import ErasureRefused, erase
from dashboard.retention.holds import add_hold
from dashboard.retention.policy import RetentionError, RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.store import writer
from dashboard.store.archive import Manifest, file_sha256, manifest_path, read_manifests
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, event, sign_in
from tests.tamper_sql import Target, fresh_copy, home_for_module, is_pg, locations, tamper, template_store, verified
from tests.test_rollups import differences

NOW = datetime(2026, 11, 20, 12, 0)  # hot cutoff 2026-08-01: May, June and July are archived
ADMIN = Actor("ana.admin", "admin")
ZOE = {"id": "u-zoe", "name": "Zoë Quill-Varga", "email": "zoe.quill@example.org", "role": "agent"}
ZOE_IP = "198.51.100.77"
ZOE_UA = "QuillBrowser/7.3 (zoe-unique-ua)"
#: what must be gone, as bytes (the name also as JSON writes it escaped)
SECRETS = [
    s.encode()
    for s in ("zoe.quill@example.org", "Zoë Quill-Varga", "Quill-Varga", "Zo\\u00eb Quill", ZOE_IP, "zoe-unique-ua")
]
#: columns an erasure never changes (other code counts on them)
FIXED = ("seq", "event_id", "occurred_at", "account_id", "action", "category", "outcome", "actor_id", "actor_role")
FIXED += ("actor_type", "target_type", "target_id", "geo_country", "batch_id", "hash")


def _docs() -> list[dict[str, Any]]:
    """120 events, May to October: Zoë acts in every 6th, is the target of every 10th, and is named
    in the free texts of two events of other people."""
    start, docs = datetime(2026, 5, 1), []
    for i in range(120):
        when = start + timedelta(hours=36 * i)
        doc = event(
            id=f"e{i}",
            occurred_at=when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{i:03d}Z",
            actor={"id": f"u{i % 3}", "name": f"Agent {i % 3}", "email": f"agent{i % 3}@example.com", "role": "agent"},
            action=("auth.login", "message.create", "conversation.view")[i % 3],
            ip=f"10.0.0.{i % 3 + 1}",
        )
        if i % 6 == 0:
            doc.update(actor=ZOE, ip=ZOE_IP, user_agent=ZOE_UA, changes={"status": ["open", "resolved"]})
        elif i % 10 == 1:
            doc.update(action="user.update", target={"type": "user", "id": "u-zoe", "name": ZOE["name"]})
        elif i == 17:
            doc.update(metadata={"note": "password reset asked by zoe.quill@example.org", "ticket": 4711})
        elif i == 23:
            doc.update(outcome="failure", reason=f"account of {ZOE['name']} locked")
        docs.append(doc)
    return docs


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home folder of the module's own: the archive and keys of its PostgreSQL stores live there."""
    yield from home_for_module(tmp_path_factory)


def _build(db: Database, target: Target) -> None:
    """The store: batches 1-2 in canonical form 2 (before form 3 existed), the rest in form 3, a
    checkpoint, then May-July archived."""
    docs = _docs()
    for k in range(0, len(docs), 20):
        with pytest.MonkeyPatch.context() as patch:
            if k < 40:
                patch.setattr(writer, "HASH_VERSION", 2)
            with db.raw() as con:
                checked = validate_records(con, docs[k : k + 20], now=NOW)
            assert not checked.rejected, checked.rejected
            writer.store_batch(db, checked.accepted, [], "test")
    write_checkpoint(db, locations(target), "test")
    result = run_purge(db, locations(target), RetentionPolicy(), ADMIN, now=NOW)
    assert result.written == ["2026-05", "2026-06", "2026-07"], result


_TEMPLATES: dict[str, Target] = {}


@pytest.fixture
def template(backend: str, request: pytest.FixtureRequest) -> Target:
    """The store on the test's engine, built once per engine (each test works on a `_copy`)."""
    if backend not in _TEMPLATES:
        _TEMPLATES[backend] = template_store(request, backend, "erasure", _build)
    return _TEMPLATES[backend]


@pytest.fixture
def copy(template: Target, request: pytest.FixtureRequest) -> Target:
    """A fresh copy of the template: the database with its checkpoint file, keys and archive."""
    target = fresh_copy(template, request)
    shutil.copytree(locations(template).archive_dir, locations(target).archive_dir)
    return target


def _all_rows(target: Target) -> dict[int, dict[str, Any]]:
    """Every event, hot and archived (hot wins), by seq: the archive's files as anyone reads them,
    the hot store through a connection of the store."""
    out: dict[int, dict[str, Any]] = {}
    files = [str(p) for p in locations(target).archive_dir.glob("*.parquet")]
    if files:
        with duckdb.connect() as con:
            cur = con.execute("SELECT * FROM read_parquet($1)", [files])
            names = [d[0] for d in cur.description]
            for values in cur.fetchall():
                row = dict(zip(names, values, strict=True))
                out[row["seq"]] = row
    with Database(target) as db, db.connect() as conn:
        for row in conn.execute(sa.text("SELECT * FROM events")).mappings():
            out[row["seq"]] = dict(row)
    return out


def _found(data: bytes) -> list[bytes]:
    return [s for s in SECRETS if s in data]


def _database_text(target: Target) -> str:
    """Every text value of every table of the database (what it holds, decoded)."""
    parts = []
    with Database(target) as db, db.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            parts += [str(tuple(r)) for r in conn.exec_driver_sql(f'SELECT * FROM "{table}"')]  # noqa: S608
    return "\n".join(parts)


def test_erase_a_person_everywhere_and_the_chain_still_verifies(copy: Target, tmp_path: Path) -> None:
    path = copy
    before = _all_rows(path)
    assert _found(_database_text(path).encode())  # the person is there to start with
    assert any(_found(json.dumps(r, default=str, ensure_ascii=False).encode()) for r in before.values())

    assert auditdash(["erase", "--db", str(path), "--subject", "zoe.quill@example.org", "--reason", "DSR-12"]) == 0
    where = locations(path)

    checked = verified(path)
    assert checked.ok, checked.summary()
    with Database(path) as db:
        assert differences(db) == []  # the pre-aggregated counts follow the erased values
    assert checked.archived_events > 0 and any("erased events" in n for n in checked.notes)
    # nowhere: the database's text, on DuckDB its file (compacted), the archive's files and what they
    # hold (PostgreSQL keeps old row versions in its files until VACUUM: docs/integrity.md, "Old bytes")
    assert not _found(_database_text(path).encode())
    if not is_pg(path):
        assert not _found(path.read_bytes())
        for wal in path.parent.glob("*.wal"):
            assert not _found(wal.read_bytes()), wal
    archive = where.archive_dir
    for parquet in archive.glob("*.parquet"):
        assert not _found(parquet.read_bytes()), parquet
        assert not _found(str(pq.read_table(parquet).to_pylist()).encode()), parquet
    for manifest in archive.glob("*.manifest.json"):
        assert not _found(manifest.read_bytes())

    after = _all_rows(path)
    erased = {s for s, r in after.items() if r["erased"] is not None}
    zoe_events = {s for s, r in before.items() if r["actor_id"] == "u-zoe" or r["target_id"] == "u-zoe"}
    named = {s for s, r in before.items() if r["event_id"] in ("e17", "e23")}
    assert erased == zoe_events | named and len(zoe_events) == 32
    # others' events are exactly as they were; erased ones keep every column other code counts on
    for seq, row in before.items():
        if seq in erased:
            assert {c: after[seq][c] for c in FIXED} == {c: row[c] for c in FIXED}
        elif row["action"] != "audit.erase":
            assert after[seq] == row, seq
    shown = [after[s] for s in zoe_events]
    pseudonym = next(r["actor_name"] for r in shown if r["actor_id"] == "u-zoe")
    assert re.fullmatch(r"erased-[0-9a-f]{8}", pseudonym)
    assert all(r["ip"] is None and r["user_agent"] is None for r in shown if r["actor_id"] == "u-zoe")
    assert after[next(s for s in named if after[s]["event_id"] == "e17")]["metadata"] == json.dumps(
        {"note": f"password reset asked by {pseudonym}", "ticket": 4711}, separators=(",", ":")
    )
    # the erasure record: what, when, by whom, why, without the data
    record = [r for r in after.values() if r["action"] == "audit.erase"]
    assert len(record) == 1 and record[0]["actor_id"].startswith("cli:")
    meta = json.loads(record[0]["metadata"])
    assert meta["reason"] == "DSR-12" and meta["events"] == len(erased) and meta["subject_ids"] == ["u-zoe"]
    assert meta["hash_kept_events"] == len([s for s in erased if s <= 40]) > 0  # form 2 batches: 1..40
    assert set(meta["months"]) == {"2026-05", "2026-06", "2026-07"}

    # a pack built now: nothing of the person in any of its files, and it verifies offline
    with Database(path) as db:
        settings = PackSettings(reports_dir=tmp_path / "reports", settings=Settings(db_path=path, geo_dir=GEO_DIR))
        request = PackRequest(
            filters=Filters.from_query({"from": "2026-05-01", "to": "2026-11-19"}),
            formats=("csv", "json", "zip"),
            actor=Actor("cora", "compliance"),
            role="compliance",
            now=NOW.replace(tzinfo=UTC),
        )
        built = build_pack(db, settings, request)
    zpath = next(p for p in built.paths() if p.suffix == ".zip")
    with zipfile.ZipFile(zpath) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    assert pseudonym.encode() in members["proof/events.ndjson"]
    archived = len([r for r in after.values() if r["occurred_at"] and r["occurred_at"] < datetime(2026, 8, 1)])
    if is_pg(path):  # a pack cannot read archived months in place there: it counts them, "not included"
        assert built.events == len([r for r in after.values() if r["source"] == "test"]) - archived
        assert built.manifest["archived_not_included"]["events"] == archived
    else:
        assert built.events >= 100  # archived months included
    for name, data in members.items():
        assert not _found(data), name
    assert not _found(zpath.read_bytes())
    assert where.public_key_path is not None
    report = verify_pack(zpath, [where.public_key_path])
    assert report.ok, report.lines()


def test_a_legal_hold_wins_and_nothing_changes(copy: Target) -> None:
    path = copy
    with Database(path) as db:
        # only e23 (June 4th, archived) lies in it: someone else's event naming her in its reason
        period = add_hold(db, ADMIN, "matter 17", start=datetime(2026, 6, 4), end=datetime(2026, 6, 5))
    before = _all_rows(path)
    with Database(path) as db:
        where = locations(path)
        with pytest.raises(ErasureRefused, match=rf"legal hold {period.id} \(events from 2026-06-04.*matter 17"):
            erase(db, where, ADMIN, "u-zoe", "DSR-13")
        person = add_hold(db, ADMIN, "matter 18", user_id="u-zoe")
        with pytest.raises(ErasureRefused, match=rf"legal hold {person.id} \(events of user u-zoe"):
            erase(db, where, ADMIN, "zoe.quill@example.org", "DSR-13")
        with pytest.raises(RetentionError, match="needs a reason"):
            erase(db, where, ADMIN, "u-zoe", "  ")
    after = _all_rows(path)
    assert [r["action"] for s, r in after.items() if s not in before] == ["audit.hold"]  # the second hold
    assert {s: r for s, r in after.items() if s in before} == before
    assert not any(r["action"] == "audit.erase" for r in after.values())


def test_erasures_made_by_hand_are_found(copy: Target) -> None:
    path = copy
    with Database(path) as db:
        result = erase(db, locations(path), ADMIN, "u-zoe", "DSR-14")
    assert verified(path).ok
    # an erased form 3 field whose recorded commitment is replaced: its event no longer verifies
    rows = _all_rows(path)
    seq = max(s for s, r in rows.items() if r["actor_id"] == "u-zoe")
    original = rows[seq]["erased"]
    patched = json.loads(original)
    patched["c"]["actor_email"] = "0" * 64
    tamper(path, "UPDATE events SET erased = ? WHERE seq = ?", params=[json.dumps(patched), seq])
    first = verified(path).first
    assert first is not None and (first.kind, first.seq, first.where) == ("altered", seq, "hot store")
    tamper(path, "UPDATE events SET erased = ? WHERE seq = ?", params=[original, seq])
    assert verified(path).ok
    # someone else's event marked erased in the real erasure's name, with the commitment of its real
    # name recorded, and its name changed: the hash still verifies, the erasure record does not list it
    other = max(s for s, r in rows.items() if r["actor_id"] == "u1" and r["erased"] is None)
    with duckdb.connect() as con:  # the commitment, computed as the writer does, from the event's values
        con.register("events", pa.Table.from_pylist([{c: rows[other][c] for c in ("salt", "erased", "actor_name")}]))
        commitment = con.execute(f"SELECT {writer.commitment_sql('actor_name')} FROM events").fetchone()  # noqa: S608
    assert commitment and commitment[0]
    mark = {"by": {"actor_name": [result.erasure_id]}, "c": {"actor_name": commitment[0]}}
    tamper(path, "UPDATE events SET erased = ?, actor_name = 'someone' WHERE seq = ?", params=[json.dumps(mark), other])
    first = verified(path).first
    assert first is not None, "an erasure made by hand went unnoticed"
    assert (first.kind, first.where) == ("altered", f"erasure {result.erasure_id}"), first.describe()
    assert "not those its record" in first.detail


def _login(flask_app: Any, username: str, password: str) -> Any:
    return sign_in(flask_app, username, password)


class _ErasurePage:
    """The Erasure page's component ids (dashboard/web/pages/erasure.py). The module is not imported
    here: Dash imports the pages folder itself, and a second import under the package's name would
    register the page twice in that test process (duplicate paths for every later app)."""

    SUBJECT = "admin-erasure-subject"
    REASON = "admin-erasure-reason"
    CONFIRM = "admin-erasure-confirm"
    RUN = "admin-erasure-run"
    NOTICE = "admin-erasure-notice"
    HISTORY = "admin-erasure-history"


def _erase_payload(subject: str, reason: str, confirm: str) -> dict[str, Any]:
    page = _ErasurePage
    return {
        "output": f"..{page.NOTICE}.children...{page.HISTORY}.children..",
        "outputs": [{"id": page.NOTICE, "property": "children"}, {"id": page.HISTORY, "property": "children"}],
        "inputs": [{"id": page.RUN, "property": "n_clicks", "value": 1}],
        "state": [
            {"id": page.SUBJECT, "property": "value", "value": subject},
            {"id": page.REASON, "property": "value", "value": reason},
            {"id": page.CONFIRM, "property": "value", "value": confirm},
        ],
        "changedPropIds": [f"{page.RUN}.n_clicks"],
    }


def test_the_page_is_for_admins_only(copy: Target) -> None:
    from dashboard.web.app import create_app

    path = copy
    password = "erasure-page-password"
    db = Database(path)
    try:
        create_user(db, "ada", "admin", password)
        create_user(db, "cora", "compliance", password)
        app = create_app(Settings(db_path=path, geo_dir=GEO_DIR), db)
        app.server.test_client().get("/healthz")
        admin, compliance = _login(app.server, "ada", password), _login(app.server, "cora", password)

        def post(client: Any, payload: dict[str, Any]) -> Any:
            token = client.get_cookie("_csrf_token").value
            return client.post("/_dash-update-component", json=payload, headers={"X-CSRFToken": token})

        refused = post(compliance, _erase_payload("u-zoe", "DSR-16", "u-zoe"))
        assert refused.status_code in (401, 403), refused.get_data(as_text=True)
        unconfirmed = post(admin, _erase_payload("u-zoe", "DSR-16", "u-zo"))
        assert unconfirmed.status_code == 200 and "nothing was erased" in unconfirmed.get_data(as_text=True)
        no_reason = post(admin, _erase_payload("u-zoe", " ", "u-zoe"))
        assert "needs a reason" in no_reason.get_data(as_text=True)
        with db.connect() as conn:
            assert not conn.exec_driver_sql("SELECT count(*) FROM events WHERE erased IS NOT NULL").scalar()
        done = post(admin, _erase_payload("u-zoe", "DSR-16", "u-zoe"))
        text = done.get_data(as_text=True)
        assert done.status_code == 200 and "Done: erasure er-" in text and "DSR-16" in text, text
        assert verify(db, locations(path)).ok
    finally:
        db.close()


def test_a_month_archived_before_schema_12_is_read_verified_and_erased(copy: Target) -> None:
    """An archive file written before `salt` and `erased` existed (events of forms 1-2 only)."""
    path = copy
    archive = locations(path).archive_dir
    manifests, _ = read_manifests(archive)
    may = manifests["2026-05"]
    old = archive / may.file
    con = duckdb.connect()
    try:
        con.execute(
            "COPY (SELECT * EXCLUDE (salt, erased) FROM read_parquet($1) ORDER BY seq) TO $2 (FORMAT parquet)",
            [str(old), str(old) + ".x"],
        )
    finally:
        con.close()
    Path(str(old) + ".x").replace(old)
    assert "salt" not in pq.read_schema(old).names
    rewritten = Manifest(**{**may.to_json(), "sha256": file_sha256(old), "bytes": old.stat().st_size})
    manifest_path(archive, "2026-05").write_text(json.dumps(rewritten.to_json(), indent=2) + "\n")
    with Database(path) as db:
        _mirror(db, rewritten)
        assert verify(db, locations(path)).ok
        result = erase(db, locations(path), ADMIN, "u-zoe", "DSR-17")
        assert "2026-05" in result.months
        checked = verify(db, locations(path))
        assert checked.ok, checked.summary()
        with pytest.raises(RetentionError, match="nothing of 'u-zoe' left to erase"):
            erase(db, locations(path), ADMIN, "u-zoe", "DSR-17 again")
        # another person, acting in events whose target was erased: both erasures vouch for their fields
        other = erase(db, locations(path), ADMIN, "u1", "DSR-18")
        assert other.events == 40
        checked = verify(db, locations(path))
        assert checked.ok and any("by 2 erasure records" in n for n in checked.notes), checked.summary()
    may_now = read_manifests(archive)[0]["2026-05"]
    assert may_now.revision == may.revision + 2  # one revision per erasure
    assert {"salt", "erased"} <= set(pq.read_schema(archive / may_now.file).names)
