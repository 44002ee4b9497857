"""A throwaway PostgreSQL server for the benchmarks, kept between runs in one folder.

The same way tests/pg.py starts the tests' server (`initdb` + `pg_ctl` from Debian's
`/usr/lib/postgresql/*/bin`, as user `postgres` through `runuser` when run as root, listening on
127.0.0.1 only, password authentication), but in a folder you name, so that a loaded database
survives between benchmark runs, and with settings for a benchmark rather than for tests
(`shared_buffers`, `work_mem`, no fsync: the data is thrown away).

    .venv/bin/python -m benchmarks.pg_server start --dir /work/pgbench   # prints the URL
    .venv/bin/python -m benchmarks.pg_server stop --dir /work/pgbench
    .venv/bin/python -m benchmarks.pg_server remove --dir /work/pgbench  # stop, delete the folder

The other benchmarks take the printed URL as `--db` (dashboard.py, explorer.py) or `--pg-url`
(ingest.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER = "auditdash"
PASSWORD = "bench-secret"  # noqa: S105 - a throwaway server listening on 127.0.0.1 only
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "2GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB",
    "max_connections": "100",
    "max_parallel_workers_per_gather": "2",
}


def _bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise SystemExit("PostgreSQL server programs (initdb, pg_ctl) are not installed: apt-get install postgresql")


def _as_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def url(root: Path, database: str = "bench") -> str:
    """The URL of `database` on the server in `root` (its port is in `root/port`)."""
    port = int((root / "port").read_text())
    return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{port}/{database}"


def start(root: Path, database: str = "bench") -> str:
    """Create the cluster on first use, start it, make `database`; the URL."""
    bin_dir, as_user = _bin_dir(), _as_user()
    data = root / "data"
    if not data.exists():
        root.mkdir(parents=True, exist_ok=True)
        if as_user:
            shutil.chown(root, "postgres")
        root.chmod(0o700)
        pwfile = root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if as_user:
            shutil.chown(pwfile, "postgres")
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile)]
        _run([*as_user, *initdb, "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            (root / "port").write_text(str(s.getsockname()[1]))
    status = subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "status"], capture_output=True)
    if status.returncode != 0:
        options = f"-c port={(root / 'port').read_text()} -c unix_socket_directories={root}"
        options += "".join(f" -c {k}={v}" for k, v in SETTINGS.items())
        log = str(root / "log")
        _run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", log, "-o", options, "-w", "start"])
    import psycopg

    with psycopg.connect(url(root, "postgres").replace("+psycopg", ""), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    return url(root, database)


def stop(root: Path) -> None:
    """Stop the server (fast shutdown)."""
    if (root / "data").exists():
        subprocess.run(
            [*_as_user(), str(_bin_dir() / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
            check=False,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop", "remove", "url"))
    parser.add_argument("--dir", type=Path, required=True, help="the server's folder (created on first start)")
    parser.add_argument("--database", default="bench", help="the database made on start (default: bench)")
    args = parser.parse_args(argv)
    root = args.dir.expanduser().absolute()
    if args.action == "start":
        print(start(root, args.database))
    elif args.action == "url":
        print(url(root, args.database))
    elif args.action == "stop":
        stop(root)
    else:
        stop(root)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
