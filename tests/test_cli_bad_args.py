"""Bad input on the command line: one `error:` line naming the option, file or value, the exit
code (2 usage, 1 refused), never a traceback, and nothing created or written when refused.

Every case runs `auditdash` in this process (`tests.conftest.cli`) on its own copy of one small
demo store; the folder of the copy is compared before and after, so a refused command that left
an empty store, a key file, a half-written pack or a changed database fails its case.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import cli

PG_BAD = "postgresql+psycopg://u:p@127.0.0.1:99999/db"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store of a week (about 2,800 events), made once; each case works on a copy."""
    folder = tmp_path_factory.mktemp("demo")
    cli(
        "demo", "--days", "7", "--events", "1000", "--db", str(folder / "a.duckdb"), env={"AUDITDASH_HOME": str(folder)}
    )
    return folder / "a.duckdb"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files a careless or hostile user passes: missing, a folder, empty, binary garbage, a file
    where a folder is expected, a PEM that is no key, malformed JSON settings."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "adir").mkdir()
    (folder / "afile").write_text("a file\n")
    (folder / "empty.ndjson").write_bytes(b"")
    (folder / "garbage.bin").write_bytes(bytes(range(256)) * 8)
    (folder / "notpem.pem").write_text("hello\n")
    (folder / "streams_bad.json").write_text('{"destinations": [')
    (folder / "events.json").write_text('[{"a": 1}]')
    return folder


# (case id, arguments, extra environment, exit code, words the error must hold)
CASES: list[tuple[str, tuple[str, ...], dict[str, str], int, tuple[str, ...]]] = [
    # --db: a folder, below a file, a PostgreSQL URL with no port
    ("db-is-folder", ("stats", "--db", "{tmp}"), {}, 1, ("names the folder",)),
    ("db-below-file", ("ingest", "--db", "{in}/afile/x.duckdb", "{in}/events.json"), {}, 1, ("afile is a file",)),
    ("db-missing-list-users", ("users", "list", "--db", "{tmp}/none.duckdb"), {}, 1, ("no auditdash store",)),
    ("db-missing-list-tokens", ("tokens", "list", "--db", "{tmp}/none.duckdb"), {}, 1, ("no auditdash store",)),
    ("db-missing-streams", ("streams", "list", "--db", "{tmp}/none.duckdb"), {}, 1, ("no auditdash store",)),
    (
        "db-missing-chatwoot-status",
        ("chatwoot", "status", "--url", "http://127.0.0.1:9", "--account", "1", "--db", "{tmp}/none.duckdb"),
        {},
        1,
        ("no auditdash store",),
    ),
    ("pg-url-port", ("stats", "--db", PG_BAD), {}, 1, ("PostgreSQL URL", "malformed")),
    ("migrate-url-port", ("migrate", "--from", "{db}", "--to", PG_BAD), {}, 1, ("PostgreSQL URL", "malformed")),
    # ingest: input files checked before a store is opened or made
    (
        "ingest-missing-new-store",
        ("ingest", "--db", "{tmp}/new.duckdb", "{in}/nope.ndjson"),
        {},
        1,
        ("nope.ndjson", "no such file"),
    ),
    ("ingest-folder", ("ingest", "--db", "{db}", "{in}/adir"), {}, 1, ("adir is a folder",)),
    (
        "ingest-server-missing",
        ("ingest", "--server", "http://127.0.0.1:9", "--token", "t", "{in}/nope.ndjson"),
        {},
        1,
        ("nope.ndjson", "no such file"),
    ),
    (
        "ingest-server-url",
        ("ingest", "--server", "notaurl", "--token", "t", "{in}/events.json"),
        {},
        2,
        ("--server", "notaurl"),
    ),
    # demo: sizes and --out
    ("demo-days-huge", ("demo", "--db", "{tmp}/n.duckdb", "--days", "999999999"), {}, 2, ("--days", "at most")),
    ("demo-seed-negative", ("demo", "--db", "{tmp}/n.duckdb", "--seed", "-1", "--events", "1000"), {}, 2, ("--seed",)),
    (
        "demo-out-no-folder",
        ("demo", "--out", "{tmp}/nodir/x.ndjson", "--days", "7", "--events", "1000"),
        {},
        1,
        ("--out", "does not exist"),
    ),
    (
        "demo-out-below-file",
        ("demo", "--out", "{in}/afile/x.ndjson", "--days", "7", "--events", "1000"),
        {},
        1,
        ("--out", "is a file"),
    ),
    (
        "demo-out-folder",
        ("demo", "--out", "{in}/adir", "--days", "7", "--events", "1000"),
        {},
        1,
        ("--out", "is a folder"),
    ),
    (
        "demo-db-below-file",
        ("demo", "--db", "{in}/afile/n.duckdb", "--days", "7", "--events", "1000"),
        {},
        1,
        ("afile is a file",),
    ),
    # numbers
    ("quarantine-limit-negative", ("quarantine", "list", "--db", "{db}", "--limit", "-1"), {}, 2, ("--limit", "-1")),
    ("quarantine-limit-zero", ("quarantine", "list", "--db", "{db}", "--limit", "0"), {}, 2, ("--limit", "'0'")),
    ("alerts-limit-negative", ("alerts", "list", "--db", "{db}", "--limit", "-1"), {}, 2, ("--limit", "-1")),
    ("alerts-status", ("alerts", "list", "--db", "{db}", "--status", "bogus"), {}, 2, ("--status", "bogus", "open")),
    (
        "alerts-severity",
        ("alerts", "list", "--db", "{db}", "--severity", "huge"),
        {},
        2,
        ("--severity", "huge", "critical"),
    ),
    (
        "chatwoot-max-pages",
        ("chatwoot", "pull", "--db", "{db}", "--url", "http://127.0.0.1:9", "--account", "1", "--max-pages", "0"),
        {},
        2,
        ("--max-pages",),
    ),
    (
        "chatwoot-no-token-new-store",
        ("chatwoot", "pull", "--db", "{tmp}/new.duckdb", "--url", "http://127.0.0.1:9", "--account", "1"),
        {},
        1,
        ("no Chatwoot access token",),
    ),
    ("serve-port", ("serve", "--db", "{db}", "--port", "-1"), {}, 1, ("port -1", "--port")),
    ("serve-host", ("serve", "--db", "{db}", "--host", "999.1.1.1", "--port", "8"), {}, 1, ("999.1.1.1", "--host")),
    # tokens: a name too long, no scope, --accounts that names none (was: a token of any account)
    ("token-name-long", ("tokens", "create", "--db", "{db}", "x" * 300), {}, 1, ("at most 64",)),
    ("token-scope-empty", ("tokens", "create", "--db", "{db}", "t1", "--scope", ","), {}, 1, ("needs a scope",)),
    ("token-accounts-empty", ("tokens", "create", "--db", "{db}", "t1", "--accounts", ",,"), {}, 1, ("--accounts",)),
    # verify: a period backwards, a checkpoint copy or key that cannot be used
    (
        "verify-backwards",
        ("verify", "--db", "{db}", "--from", "2026-10-01", "--to", "2026-09-01"),
        {},
        2,
        ("--to", "--from"),
    ),
    ("verify-date", ("verify", "--db", "{db}", "--from", "2026-02-30"), {}, 2, ("--from", "2026-02-30")),
    (
        "verify-checkpoint-missing",
        ("verify", "--db", "{db}", "--checkpoint", "{in}/nope.jsonl"),
        {},
        2,
        ("--checkpoint", "no such file"),
    ),
    (
        "verify-checkpoint-folder",
        ("verify", "--db", "{db}", "--checkpoint", "{in}/adir"),
        {},
        2,
        ("--checkpoint", "folder"),
    ),
    (
        "verify-checkpoint-binary",
        ("verify", "--db", "{db}", "--checkpoint", "{in}/garbage.bin"),
        {},
        2,
        ("--checkpoint", "garbage.bin"),
    ),
    (
        "verify-key-missing",
        ("verify", "--db", "{db}", "--public-key", "{in}/nope.pem"),
        {},
        2,
        ("--public-key", "nope.pem"),
    ),
    (
        "verify-key-not-pem",
        ("verify", "--db", "{db}", "--public-key", "{in}/notpem.pem"),
        {},
        2,
        ("--public-key", "not a PEM"),
    ),
    # report: filters and --out
    ("report-ip", ("report", "--db", "{db}", "--ip", "999.1.1.1"), {}, 2, ("ip", "999.1.1.1")),
    ("report-countries", ("report", "--db", "{db}", "--countries", "XX1"), {}, 2, ("countries", "XX1")),
    ("report-tz", ("report", "--db", "{db}", "--tz", "Mars/Olympus"), {}, 2, ("Mars/Olympus",)),
    (
        "report-backwards",
        ("report", "--db", "{db}", "--from", "2026-10-01", "--to", "2026-09-01"),
        {},
        2,
        ("ends before it starts",),
    ),
    (
        "report-out-file",
        ("report", "--db", "{db}", "--format", "csv", "--out", "{in}/afile"),
        {},
        1,
        ("--out", "is a file"),
    ),
    (
        "report-dir-setting-file",
        ("report", "--db", "{db}", "--format", "csv"),
        {"AUDITDASH_REPORTS_DIR": "{in}/afile/sub"},
        1,
        ("AUDITDASH_REPORTS_DIR", "is a file"),
    ),
    # settings files that are not text or not JSON
    (
        "streams-binary",
        ("streams", "list", "--db", "{db}"),
        {"AUDITDASH_STREAMS": "{in}/garbage.bin"},
        1,
        ("AUDITDASH_STREAMS",),
    ),
    (
        "streams-bad-json",
        ("streams", "list", "--db", "{db}"),
        {"AUDITDASH_STREAMS": "{in}/streams_bad.json"},
        1,
        ("not valid JSON",),
    ),
    (
        "rules-binary",
        ("detect", "--db", "{db}"),
        {"AUDITDASH_RULES": "{in}/garbage.bin"},
        1,
        ("rules file", "garbage.bin"),
    ),
    (
        "chatwoot-token-binary",
        ("chatwoot", "pull", "--db", "{db}", "--url", "http://127.0.0.1:9", "--account", "1"),
        {"AUDITDASH_CHATWOOT_TOKEN_FILE": "{in}/garbage.bin"},
        1,
        ("token file", "garbage.bin"),
    ),
    (
        "archive-dir-file",
        ("purge", "--db", "{db}"),
        {"AUDITDASH_ARCHIVE_DIR": "{in}/afile"},
        1,
        ("AUDITDASH_ARCHIVE_DIR", "afile"),
    ),
    (
        "archive-dir-file-list",
        ("archive", "list", "--db", "{db}"),
        {"AUDITDASH_ARCHIVE_DIR": "{in}/afile"},
        1,
        ("AUDITDASH_ARCHIVE_DIR", "is a file"),
    ),
    ("erase-compact-both", ("erase", "--db", "{db}", "--compact", "--no-compact"), {}, 2, ("--no-compact",)),
]


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize(("args", "env", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_and_changes_nothing(
    demo_store: Path,
    inputs: Path,
    tmp_path: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    code: int,
    words: tuple[str, ...],
) -> None:
    shutil.copy(demo_store, tmp_path / "a.duckdb")
    fill = {"{db}": str(tmp_path / "a.duckdb"), "{tmp}": str(tmp_path), "{in}": str(inputs)}

    def filled(text: str) -> str:
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    before, inputs_before = _files(tmp_path), _files(inputs)
    run_env = {"AUDITDASH_HOME": str(tmp_path), **{k: filled(v) for k, v in env.items()}}
    done = cli(*(filled(a) for a in args), cwd=tmp_path, env=run_env, check=False, input_text="")
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert _files(tmp_path) == before, "a refused command created or changed files"
    assert _files(inputs) == inputs_before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_input_file_is_named(demo_store: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.ndjson"
    secret.write_text('{"a": 1}\n')
    secret.chmod(0)
    done = cli("ingest", "--db", str(tmp_path / "new.duckdb"), str(secret), check=False)
    assert done.returncode == 1 and "secret.ndjson" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "new.duckdb").exists()
