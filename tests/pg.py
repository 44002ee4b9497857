"""A throwaway PostgreSQL server for the tests (a pytest plugin, loaded by conftest.py).

`initdb` + `pg_ctl` in a temporary folder, listening on 127.0.0.1 on a free port, password
authentication (scram-sha-256) for one superuser; started once per test session, stopped at its
end. Every test that asks for `pg_url` gets a database of its own. The tests that need it are
skipped, saying why, only when the PostgreSQL server programs are not installed (`make test`
installs Debian's `postgresql` package).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "auditdash"
PG_PASSWORD = "pg-test-secret"


def _bin_dir() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: PATH first, then Debian's versioned folders."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running throwaway server."""

    host: str
    port: int
    root: Path
    bin_dir: Path
    as_user: list[str]

    def url(self, database: str = "postgres", user: str = PG_USER, password: str = PG_PASSWORD) -> str:
        return f"postgresql+psycopg://{user}:{password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole session, in a temporary folder."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) are not installed: apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="auditdash-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as `postgres`
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    root.chmod(0o700)
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if as_user:
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    server = PgServer("127.0.0.1", port, root, bin_dir, as_user)
    _run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            PG_USER,
            "--pwfile",
            str(pwfile),
            "--auth",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ]
    )
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c fsync=off"
    options += " -c max_connections=200 -c shared_buffers=32MB"
    _run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"])
    try:
        yield server
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


_numbers = itertools.count(1)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.create_database(f"t{os.getpid()}_{next(_numbers)}")


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The engine a parametrised test runs on."""
    return str(request.param)


@pytest.fixture
def store_target(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A fresh store on the test's backend: a DuckDB file path (not created yet) or a PostgreSQL URL."""
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "audit.duckdb"


def pg_database(request: pytest.FixtureRequest, months: Iterable[str] = ()) -> str:
    """A new database with the current schema and the monthly partitions of `events` for `months`
    (`YYYY-MM`), for tests that insert rows straight into `events` (any fixture scope)."""
    import sqlalchemy as sa

    from dashboard.store.backend.postgres import partition_ddl
    from dashboard.store.db import Database

    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database(f"t{os.getpid()}_{next(_numbers)}")
    with Database(url) as db, db.engine.begin() as conn:
        for statement in partition_ddl(sorted(set(months))):
            conn.execute(sa.text(statement))
    return url
