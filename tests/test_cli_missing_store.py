"""A command that reads or changes an existing store, pointed at a file that does not exist (a
mistyped --db or AUDITDASH_DB), says so and creates nothing: `verify` must never answer "0 events,
verified" about a store that is not there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli, event

READERS = [
    ("verify",),
    ("checkpoint",),
    ("stats",),
    ("quarantine", "list"),
    ("hold", "list"),
    ("purge", "--dry-run"),
    ("erase", "--subject", "agent-1", "--reason", "ticket 7"),
    ("report", "--range", "7d", "--out", "{tmp}/pack"),
]


@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c[:2]))
def test_a_missing_store_is_named_and_not_created(tmp_path: Path, command: tuple[str, ...]) -> None:
    missing = tmp_path / "data" / "typo.duckdb"
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    done = cli(*args, "--db", str(missing), env={"AUDITDASH_HOME": str(tmp_path)}, check=False)
    assert done.returncode != 0, done.stdout
    if done.returncode == 2:  # a usage error: the command's arguments changed, not what this checks
        pytest.fail(f"usage error: {done.stderr}")
    assert f"there is no auditdash store at {missing}" in done.stderr, done.stderr
    assert not missing.exists() and not missing.with_name("typo.duckdb.wal").exists()
    assert "verified" not in done.stdout


def test_ingest_still_creates_the_store(tmp_path: Path) -> None:
    store = tmp_path / "data" / "new.duckdb"
    sent = tmp_path / "one.ndjson"
    sent.write_text(json.dumps(event(id="e1")) + "\n")
    cli("ingest", "--db", str(store), str(sent), env={"AUDITDASH_HOME": str(tmp_path)})
    assert store.exists()
    assert "OK: 1 events" in cli("verify", "--db", str(store), env={"AUDITDASH_HOME": str(tmp_path)}).stdout
