"""Bad input to a command creates nothing. A command that reads or changes an existing store,
pointed at a file that does not exist (a mistyped --db or AUDITDASH_DB), says so: `verify` must
never answer "0 events, verified" about a store that is not there; `demo` with a size it cannot
make says so in one line."""

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


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--days", "2"), "--days 7 or more, or --no-incidents"),
        (("--events", "10"), "--events must be at least 1000"),
        (("--days", "0", "--no-incidents"), "--days must be at least 1"),
    ],
)
def test_demo_refuses_a_bad_size_in_one_line_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    store = tmp_path / "data" / "demo.duckdb"
    for where in (("--db", str(store)), ("--out", str(tmp_path / "demo.ndjson"))):
        done = cli("demo", *args, *where, env={"AUDITDASH_HOME": str(tmp_path)}, check=False)
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not store.exists() and not (tmp_path / "demo.ndjson").exists()
