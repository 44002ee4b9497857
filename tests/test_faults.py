"""Storage faults said plainly: a full disk and a damaged database file, on real files.

The disk is a real tmpfs of 32 MiB (the tests run as root; without permission to mount they are
skipped, saying so). A real DuckDB store lives on it; the disk is filled by a file, then events
are sent through the HTTP API (Flask's test client), the command line (a subprocess) and a real
server. What a user sees is checked: JSON 507 with the cause, one message without a traceback,
nothing half-written once space is freed (the counts, and `auditdash verify` clean).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.access.tokens import create_token
from dashboard.config import Settings
from dashboard.ingest.geo import default_locator
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.conftest import GEO_DIR, event, run_cli, start_server, stop_server

DISK_MB = 32


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 32 MiB file system (tmpfs) mounted for this test, unmounted after it."""
    where = tmp_path / "disk"
    where.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command: cannot make a small disk to fill")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(where)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()}): a full disk cannot be made")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path) -> Path:
    """Fill the disk with one file, to the last byte; return it (delete it to free the space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == 28, exc  # ENOSPC
    return filler


def ndjson(prefix: str, n: int, pad: int = 400) -> bytes:
    """`n` events whose metadata makes them large enough not to fit in what a full disk has left."""
    return "\n".join(json.dumps(event(id=f"{prefix}{i}", metadata={"note": "x" * pad})) for i in range(n)).encode()


def count(db: Database, prefix: str) -> int:
    """Events stored whose id starts with `prefix`."""
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(events.c.event_id.startswith(prefix))).scalar_one())


def seed(db: Database, prefix: str = "seed", n: int = 100) -> None:
    """Store `n` small events the way the CLI does."""
    with Ingestor(db, default_locator(GEO_DIR), 10_000) as ingestor:
        lines = ndjson(prefix, n, pad=1).decode().splitlines()
        ingestor.ingest_batch(list(enumerate(lines, start=1)), "file:seed", "line")


def verify_clean(db_path: Path) -> None:
    """`auditdash verify` finds the chain whole."""
    done = run_cli("verify", "--db", str(db_path), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK:"), done.stdout


# -- the HTTP API -----------------------------------------------------------------------------------
def test_api_ingest_on_a_full_disk_answers_507_with_the_cause_and_stores_nothing(small_disk: Path) -> None:
    from dashboard.web.app import create_app
    from dashboard.web.services import DETECTION_KEY as DETECT_KEY

    db_path = small_disk / "store.duckdb"
    db = Database(db_path)
    seed(db)
    _token, secret = create_token(db, "sender", ("ingest",))
    app = create_app(Settings(db_path=db_path, geo_dir=GEO_DIR), db)
    client = app.server.test_client()
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-ndjson"}
    try:
        filler = fill(small_disk)
        reply = client.post("/api/v1/events", data=ndjson("full", 3000), headers=headers)
        assert reply.status_code == 507, reply.get_data(as_text=True)[:500]
        assert reply.is_json
        body: dict[str, Any] = reply.get_json()
        assert body["fault"] == "full" and body["stored"] == 0 and body["retry"] is True
        assert "No space left on device" in body["cause"]
        assert f"the disk holding {db_path} is full" in body["error"]
        assert "send the same data again" in body["error"]
        assert reply.headers["Retry-After"] == "60"
        assert "Traceback" not in reply.get_data(as_text=True)
        assert count(db, "full") == 0

        filler.unlink()  # space again: nothing of the failed batch is there, and it can be sent again
        assert count(db, "full") == 0 and count(db, "seed") == 100
        again = client.post("/api/v1/events", data=ndjson("full", 3000), headers=headers)
        assert again.status_code == 200, again.get_data(as_text=True)[:500]
        assert again.get_json()["accepted"] == 3000
        assert count(db, "full") == 3000
        app.server.extensions[DETECT_KEY].wait_idle()
    finally:
        db.close()
    verify_clean(db_path)


# -- the command line -----------------------------------------------------------------------------------
def test_cli_ingest_on_a_full_disk_prints_one_message_and_stores_whole_batches_only(
    small_disk: Path, tmp_path: Path
) -> None:
    db_path = small_disk / "store.duckdb"
    with Database(db_path) as db:
        seed(db)
    events_file = tmp_path / "events.ndjson"  # on the big disk: only the store is on the full one
    events_file.write_bytes(ndjson("cli", 3000))
    filler = fill(small_disk)

    done = run_cli("ingest", str(events_file), "--db", str(db_path), check=False)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: the disk holding {db_path} is full" in done.stderr
    assert "No space left on device" in done.stderr
    assert "Free space on that disk" in done.stderr  # what to do
    assert "Sending the files again stores what is missing" in done.stderr

    filler.unlink()
    with Database(db_path) as db:
        assert count(db, "cli") == 0  # one batch (3000 < batch size): all or nothing
        assert count(db, "seed") == 100
    verify_clean(db_path)
    again = run_cli("ingest", str(events_file), "--db", str(db_path), "--json")
    assert json.loads(again.stdout)["accepted"] == 3000
    with Database(db_path) as db:
        assert count(db, "cli") == 3000


# -- a real server: the fault, then a clean stop ---------------------------------------------------------
def test_the_server_answers_507_then_stores_again_and_stops_cleanly(small_disk: Path, tmp_path: Path) -> None:
    db_path = small_disk / "store.duckdb"
    token = run_cli("tokens", "create", "sender", "--db", str(db_path)).stdout.strip()
    server = start_server(db_path, tmp_path, tmp_path / "server.log", {"AUDITDASH_DETECT_INTERVAL_S": "0"})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    try:
        status, _ = server.request("POST", "/api/v1/events", ndjson("warm", 100, pad=1), headers)
        assert status == 200
        filler = fill(small_disk)
        status, reply = server.request("POST", "/api/v1/events", ndjson("full", 3000), headers)
        assert status == 507, reply
        assert isinstance(reply, dict) and reply["fault"] == "full"
        filler.unlink()
        # stored at once, and a detection run starts over it in the background: the stop below
        # must wait for it instead of tearing the process down inside DuckDB
        status, reply = server.request("POST", "/api/v1/events", ndjson("full", 3000), headers)
        assert status == 200 and isinstance(reply, dict) and reply["accepted"] == 3000, reply
    finally:
        server.proc.terminate()
        code = server.proc.wait(timeout=120)
        stop_server(server)
    said = server.log.read_text()
    assert code == 0, said[-2000:]
    assert "terminate called" not in said and "FATAL" not in said
    verify_clean(db_path)


# -- a damaged file -----------------------------------------------------------------------------------
def _damage_truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 3)


def _damage_block(path: Path) -> None:
    with path.open("r+b") as f:  # the first data block after the headers: its checksum no longer matches
        f.seek(4096)
        f.write(b"\xff" * 8192)


def _damage_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"\x00" * 4096)


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real store with events, closed cleanly (no write-ahead log left)."""
    path = tmp_path_factory.mktemp("store") / "good.duckdb"
    with Database(path) as db:
        seed(db, n=3000)
    return path


@pytest.mark.parametrize(
    ("damage", "command"),
    [(_damage_truncate, "stats"), (_damage_block, "verify"), (_damage_header, "stats")],
    ids=["cut-stats", "block-verify", "header-stats"],
)
def test_a_damaged_database_file_gets_a_message_saying_what_to_do(
    good_store: Path, tmp_path: Path, damage: Any, command: str
) -> None:
    path = tmp_path / "damaged.duckdb"
    shutil.copyfile(good_store, path)
    damage(path)
    done = run_cli(command, "--db", str(path), check=False)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), done.stderr
    assert str(path) in done.stderr  # where
    assert "damaged" in done.stderr  # what
    assert "backup" in done.stderr and f"auditdash verify --db {path}" in done.stderr  # what to do


# -- the dashboard -----------------------------------------------------------------------------------
def test_a_page_that_cannot_write_on_a_full_disk_says_so_in_the_status_strip(small_disk: Path) -> None:
    """The wall records each showing in the audit log; on a full disk that write fails and the
    wall's status strip says why, instead of the page breaking."""
    import html as html_text
    import re

    from dashboard.access.users import create_user
    from dashboard.web.app import create_app
    from dashboard.web.components import status
    from tests.conftest import page_payload

    db_path = small_disk / "store.duckdb"
    db = Database(db_path)
    seed(db)
    create_user(db, "kiosk", "wall", "full-disk-password")
    app = create_app(Settings(db_path=db_path, geo_dir=GEO_DIR), db)
    try:
        client = app.server.test_client()
        page = client.get("/login").get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match
        form = {
            "csrf_token": html_text.unescape(match.group(1)),
            "username": "kiosk",
            "password": "full-disk-password",
            "next": "/wall",
        }
        assert client.post("/login", data=form).status_code == 302
        client.get("/_dash-layout")
        headers = {"X-CSRFToken": client.get_cookie("_csrf_token").value}
        filler = fill(small_disk)
        said = None
        for _ in range(200):  # each showing appends a small event: the last partly used page fills first
            reply = client.post("/_dash-update-component", json=page_payload("/wall"), headers=headers)
            assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
            side = reply.get_json().get("sideUpdate") or {}
            if status.WALL_FAULT in side:
                said = json.dumps(side[status.WALL_FAULT])
                break
        assert said is not None, "the wall never reported the full disk"
        assert "The store cannot be read or written: the disk holding" in said
        assert "No space left on device" in said and "Traceback" not in said
        filler.unlink()
    finally:
        db.close()
    verify_clean(db_path)
