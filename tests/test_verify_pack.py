"""A ZIP pack an auditor verifies offline: built from a real DuckDB store with a signed checkpoint,
it verifies with `auditdash verify-pack` and with the `verify_pack.py` it carries (run on its own,
outside the repository); each single change to the pack is found and named.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dashboard.access.users import Actor
from dashboard.config import Settings
from dashboard.evidence.checkpoints import Checkpoint
from dashboard.evidence.keys import public_key_id
from dashboard.evidence.pack_proof import verify_pack
from dashboard.filters import Filters
from dashboard.ingest.geo import default_locator
from dashboard.ingest.pipeline import Ingestor
from dashboard.packs.build import PackSettings, build_pack
from dashboard.packs.model import PackRequest
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, cli, event

END = datetime(2026, 6, 30, tzinfo=UTC)
#: the view: failures in June (so it selects part of most batches)
VIEW = Filters.from_query({"from": "2026-06-01", "to": "2026-06-29", "outcome": "failure", "tz": "Europe/Berlin"})


def _events(batch: int) -> list[dict[str, object]]:
    out = []
    for i in range(12):
        out.append(
            event(
                id=f"b{batch}-{i}",
                occurred_at=f"2026-06-{2 + batch:02d}T{8 + i:02d}:15:30.123456Z",
                outcome="failure" if i % 3 else "success",
                reason="bad password" if i % 3 else None,
                ip=f"203.0.113.{10 + i}",
                changes={"role": ["agent", "admin"]} if i == 4 else None,
                metadata={"n": i, "note": "café"} if i == 5 else None,
            )
        )
    if batch == 1:  # a cell a spreadsheet would run: written with a quote in the CSV, stored as sent
        out[1]["target"] = {"type": "setting", "id": "=1+1", "name": "@SUM(1)"}
    return out


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the pack's ZIP, the public key, the database file)."""
    tmp = tmp_path_factory.mktemp("verify_pack")
    path = tmp / "audit.duckdb"
    db = Database(path)
    try:
        ingestor = Ingestor(db, default_locator(GEO_DIR), 100_000)
        for batch in range(4):
            docs = _events(batch)
            ingestor.ingest_batch([(i, json.dumps(d)) for i, d in enumerate(docs)], f"file:b{batch}.ndjson")
    finally:
        db.close()
    cli("checkpoint", "--db", str(path))  # the key and a checkpoint, as an operator makes them
    db = Database(path)
    try:
        settings = PackSettings(reports_dir=tmp / "reports", settings=Settings(db_path=path))
        request = PackRequest(
            filters=VIEW, formats=("csv", "json", "zip"), actor=Actor("cora", "compliance"), role="compliance", now=END
        )
        result = build_pack(db, settings, request)
    finally:
        db.close()
    zpath = next(p for p in result.paths() if p.suffix == ".zip")
    assert result.manifest["proof"]["events"] == result.events == 32  # 8 failures in each of 4 batches
    return zpath, path.with_name(path.name + ".checkpoint.pub"), path


def _verify(zpath: Path, pub: Path) -> set[str]:
    report = verify_pack(zpath, [pub])
    return report.kinds()


def test_the_pack_holds_the_proof_and_verifies_with_the_command(pack: tuple[Path, Path, Path]) -> None:
    zpath, pub, _ = pack
    with zipfile.ZipFile(zpath) as zf:
        names = set(zf.namelist())
        proof = json.loads(zf.read("proof/proof.json"))
        batches = [json.loads(line) for line in zf.read("proof/batches.ndjson").splitlines()]
        checkpoint = json.loads(zf.read("proof/checkpoint.json"))
    assert {
        "manifest.json",
        "manifest.sig.json",
        "verify_pack.py",
        "proof/events.ndjson",
        "proof/chain.ndjson",
    } <= names
    assert not any("ed25519" in n or "PRIVATE" in n for n in names)
    # every touched batch: the view's seqs and the hashes of all its events (only hashes for the others)
    assert len(batches) == 4
    assert all(len(b["view_seqs"]) == 8 and len(b["hashes"]) == 12 * 64 for b in batches)
    assert checkpoint["key_id"] == proof["public_key_id"] and checkpoint["batch_id"] >= 4
    done = cli("verify-pack", str(zpath), "--public-key", str(pub))
    assert done.stdout.startswith(f"OK: {zpath} verifies (32 events, 4 batches")


def test_the_script_in_the_pack_verifies_it_alone_outside_the_repository(
    pack: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    zpath, pub, _ = pack
    with zipfile.ZipFile(zpath) as zf:
        source = zf.read("verify_pack.py")
    tree = ast.parse(source)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "dashboard" not in imported
    assert imported <= set(sys.stdlib_module_names) | {"cryptography", "__future__"}
    (tmp_path / "verify_pack.py").write_bytes(source)
    shutil.copy(zpath, tmp_path / "pack.zip")
    shutil.copy(pub, tmp_path / "auditor.pub")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}

    def script(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-I", "verify_pack.py", name, "--public-key", "auditor.pub"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = script("pack.zip")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: pack.zip verifies")
    _rewrite_csv(tmp_path / "pack.zip", lambda rows: rows[:3] + rows[4:])
    done = script("pack.zip")
    assert done.returncode == 1
    assert "event removed:" in done.stdout and "is in the view but not in the file" in done.stdout


# -- tampering --------------------------------------------------------------------------------------
def _members(zpath: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zpath) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(zpath: Path, members: dict[str, bytes], fix_manifest: bool = True) -> None:
    """Write the pack back; with `fix_manifest`, the manifest's sizes and hashes follow the files (as a
    careful forger would do; its signature then no longer verifies)."""
    if fix_manifest:
        import hashlib

        manifest = json.loads(members["manifest.json"])
        for entry in manifest["files"]:
            data = members[entry["name"]]
            entry["size"], entry["sha256"] = len(data), hashlib.sha256(data).hexdigest()
        members["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _csv_name(members: dict[str, bytes]) -> str:
    return next(n for n in members if n.endswith(".csv"))


def _rewrite_csv(zpath: Path, change: Callable[[list[list[str]]], list[list[str]]]) -> None:
    members = _members(zpath)
    name = _csv_name(members)
    rows = list(csv.reader(io.StringIO(members[name].decode("utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows([header, *change(body)])
    members[name] = b"\xef\xbb\xbf" + out.getvalue().encode()
    _write(zpath, members)


@pytest.fixture
def copy(pack: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copy(pack[0], tmp_path / "pack.zip"))


def _col(zpath: Path, name: str) -> int:
    members = _members(zpath)
    return next(csv.reader(io.StringIO(members[_csv_name(members)].decode("utf-8-sig")))).index(name)


def test_an_altered_event_is_named(pack: tuple[Path, Path, Path], copy: Path) -> None:
    i = _col(copy, "actor_name")
    _rewrite_csv(
        copy, lambda rows: [[*r[:i], "Someone Else", *r[i + 1 :]] if n == 5 else r for n, r in enumerate(rows)]
    )
    report = verify_pack(copy, [pack[1]])
    assert not report.ok
    assert any(k == "event altered" and "actor_name is 'Someone Else'" in m for k, m in report.failures)


def test_an_altered_event_in_the_json_file_is_named(pack: tuple[Path, Path, Path], copy: Path) -> None:
    members = _members(copy)
    name = next(n for n in members if n.endswith(".ndjson") and not n.startswith("proof/"))
    lines = members[name].decode().splitlines()
    doc = json.loads(lines[3])
    doc["outcome"] = "success"
    lines[3] = json.dumps(doc)
    members[name] = ("\n".join(lines) + "\n").encode()
    _write(copy, members)
    report = verify_pack(copy, [pack[1]])
    assert any(k == "event altered" and "line 4" in m and "outcome is 'success'" in m for k, m in report.failures)


def test_a_removed_event_is_named(pack: tuple[Path, Path, Path], copy: Path) -> None:
    _rewrite_csv(copy, lambda rows: rows[:7] + rows[8:])
    assert "event removed" in _verify(copy, pack[1])


def test_an_added_event_is_named(pack: tuple[Path, Path, Path], copy: Path) -> None:
    s, e = _col(copy, "seq"), _col(copy, "event_id")

    def add(rows: list[list[str]]) -> list[list[str]]:
        forged = list(rows[-1])
        forged[s], forged[e] = "999", "forged-1"
        return [*rows, forged]

    _rewrite_csv(copy, add)
    report = verify_pack(copy, [pack[1]])
    assert any(k == "event added" and "seq 999" in m for k, m in report.failures)


def test_reordered_events_are_named(pack: tuple[Path, Path, Path], copy: Path) -> None:
    _rewrite_csv(copy, lambda rows: [rows[1], rows[0], *rows[2:]])
    report = verify_pack(copy, [pack[1]])
    assert any(k == "event reordered" for k, _ in report.failures)
    assert "event altered" not in report.kinds() and "event removed" not in report.kinds()


def test_an_edited_manifest_is_named(pack: tuple[Path, Path, Path], copy: Path) -> None:
    members = _members(copy)
    manifest = json.loads(members["manifest.json"])
    manifest["filters"]["words"] = "everything"
    members["manifest.json"] = json.dumps(manifest, indent=2).encode()
    _write(copy, members, fix_manifest=False)
    report = verify_pack(copy, [pack[1]])
    assert report.kinds() == {"manifest edited"}
    assert any("signature" in m for _, m in report.failures)
    assert any("filters differs from the proof's" in m for _, m in report.failures)


def test_a_checkpoint_signed_by_another_key_is_named(pack: tuple[Path, Path, Path], copy: Path) -> None:
    members = _members(copy)
    other = Ed25519PrivateKey.generate()
    cp = json.loads(members["proof/checkpoint.json"])
    unsigned = Checkpoint(**{**cp, "key_id": public_key_id(other.public_key()), "signature": ""})
    forged = Checkpoint(**{**asdict(unsigned), "signature": other.sign(unsigned.payload()).hex()})
    members["proof/checkpoint.json"] = json.dumps(asdict(forged)).encode()
    _write(copy, members)
    report = verify_pack(copy, [pack[1]])
    assert any(k == "checkpoint signed by another key" and pack[1].name in m for k, m in report.failures)
    # and the other key's holder verifies nothing either: it did not sign the manifest
    other_pub = copy.with_name("other.pub")
    other_pub.write_bytes(
        other.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert "manifest signed by another key" in _verify(copy, other_pub)


def test_changes_inside_the_proof_are_named(pack: tuple[Path, Path, Path], copy: Path) -> None:
    original = _members(copy)
    # an event's stored field changed in the proof (and in the data files would follow): its hash says no
    members = dict(original)
    lines = members["proof/events.ndjson"].decode().splitlines()
    doc = json.loads(lines[0])
    doc["f"][10] = "Someone Else"  # actor_name in form 2
    lines[0] = json.dumps(doc)
    members["proof/events.ndjson"] = ("\n".join(lines) + "\n").encode()
    _write(copy, members)
    assert "event altered" in _verify(copy, pack[1])
    # a hash of an event outside the view changed: the batch's digest says no
    members = dict(original)
    lines = members["proof/batches.ndjson"].decode().splitlines()
    doc = json.loads(lines[1])
    doc["hashes"] = "0" * 64 + doc["hashes"][64:]
    lines[1] = json.dumps(doc)
    members["proof/batches.ndjson"] = ("\n".join(lines) + "\n").encode()
    _write(copy, members)
    report = verify_pack(copy, [pack[1]])
    assert any(k == "batch digest mismatch" and "batch 2" in m for k, m in report.failures)
    # a batch record rewritten with a consistent hash: the next link breaks
    members = dict(original)
    chain = [json.loads(x) for x in members["proof/chain.ndjson"].decode().splitlines()]
    chain[1]["hash"] = "f" * 64
    members["proof/chain.ndjson"] = ("\n".join(json.dumps(r) for r in chain) + "\n").encode()
    _write(copy, members)
    kinds = _verify(copy, pack[1])
    assert {"batch record altered", "broken link"} <= kinds


def test_the_command_names_the_failure_and_exits_non_zero(pack: tuple[Path, Path, Path], copy: Path) -> None:
    _rewrite_csv(copy, lambda rows: [rows[1], rows[0], *rows[2:]])
    done = cli("verify-pack", str(copy), "--public-key", str(pack[1]), check=False)
    assert done.returncode == 1
    assert done.stdout.startswith(f"FAILED: {copy} does not verify")
    assert "event reordered:" in done.stdout
    missing = cli("verify-pack", str(copy), "--public-key", str(copy.with_name("nope.pub")), check=False)
    assert missing.returncode == 2 and "nope.pub" in missing.stderr


def test_a_pack_of_archived_months_verifies_offline(tmp_path: Path) -> None:
    """Batches span months: a pack reaching into archived months proves its batches from the archive's
    hashes too (events of those batches archived outside the period included)."""
    from dashboard.retention.policy import RetentionPolicy
    from dashboard.retention.purge import run_purge
    from tests.test_integrity import locations, make_events, store

    now = datetime(2026, 11, 20, 12, 0)  # hot cutoff 2026-08-01
    db_path = tmp_path / "archived.duckdb"
    with Database(db_path) as db:
        store(db, make_events(240, datetime(2026, 5, 1), datetime(2026, 11, 1)), batch=40, now=now)
        run_purge(db, locations(db_path), RetentionPolicy(), Actor("ana.admin", "admin"), now=now)  # signs a checkpoint
        request = PackRequest(
            filters=Filters.from_query(
                {"from": "2026-07-15", "to": "2026-08-15", "tz": "UTC", "actions": "auth.login"}
            ),
            formats=("csv", "json", "zip"),
            actor=Actor("ana.admin", "admin"),
            role="admin",
            now=now.replace(tzinfo=UTC),
        )
        result = build_pack(db, PackSettings(reports_dir=tmp_path / "r", settings=Settings(db_path=db_path)), request)
    assert result.manifest["from_archive"]["events"] > 0
    zpath = next(p for p in result.paths() if p.suffix == ".zip")
    report = verify_pack(zpath, [db_path.with_name(db_path.name + ".checkpoint.pub")])
    assert report.ok, report.lines()
    assert report.checked["events"] == result.events > 0


def test_an_empty_view_verifies_and_a_masked_pack_says_it_has_no_proof(pack: tuple[Path, Path, Path]) -> None:
    _, pub, path = pack
    db = Database(path)
    try:
        settings = PackSettings(reports_dir=path.parent / "reports", settings=Settings(db_path=path))
        january = Filters.from_query({"from": "2026-01-01", "to": "2026-01-31", "tz": "UTC"})
        empty = build_pack(
            db, settings, PackRequest(filters=january, formats=("zip",), actor=Actor("cora", "compliance"), now=END)
        )
        masked = build_pack(
            db,
            settings,
            PackRequest(
                filters=VIEW, formats=("zip",), actor=Actor("max", "manager"), role="manager", masked=True, now=END
            ),
        )
    finally:
        db.close()
    report = verify_pack(next(p for p in empty.paths() if p.suffix == ".zip"), [pub])
    assert report.ok, report.lines()
    assert report.checked["events"] == 0 and "the view holds no events: there is no chain to link" in report.notes
    assert masked.manifest["proof"] == {"included": False, "reason": "masked packs carry no proof"}
    zpath = next(p for p in masked.paths() if p.suffix == ".zip")
    done = cli("verify-pack", str(zpath), "--public-key", str(pub), check=False)
    assert done.returncode == 2
    assert "the pack has no proof (proof/proof.json); packs built with masked data carry none" in done.stderr
