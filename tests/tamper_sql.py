"""Tampering with a store from outside auditdash, on either engine, for the integrity tests.

A store target is a DuckDB file (`Path`) or a PostgreSQL URL (`str`). The tamperer has the
database itself: a DuckDB connection of its own to the file, or plain SQL through psycopg on
PostgreSQL, where they first switch off the user triggers of `events` (the statement triggers
keeping the events' tally): whatever they do, `verify` must find it. Each test body is the same on
both engines; only these helpers know the engine.
"""

# ruff: noqa: S608 - the SQL is the tests' own, built from fixed names and numbers

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from dashboard.config import Settings
from dashboard.evidence import verify as integrity
from dashboard.evidence.locations import Locations
from dashboard.store import schema
from dashboard.store.backend import postgres
from dashboard.store.db import Database, pg_state_path
from dashboard.store.writer import EVENT_HASH_SQL, QUARANTINE_TEXT_SQL
from tests.pg import PgServer

Target = Path | str

#: what a tamperer on PostgreSQL runs first: the tally's statement triggers no longer see them
PG_TRIGGERS_OFF = "ALTER TABLE events DISABLE TRIGGER USER"


def is_pg(target: Target) -> bool:
    return isinstance(target, str)


def state_path(target: Target) -> Path:
    """The path the store's side files (checkpoint file, keys, archive) are named after."""
    return pg_state_path(target) if isinstance(target, str) else target


def locations(target: Target) -> Locations:
    """The default locations of the store's side files (archive/, checkpoint file and key)."""
    path = state_path(target)
    return Locations.resolve(Settings(db_path=path), path)


def _pg(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url.replace("+psycopg", ""))


def tamper(target: Target, *statements: str, params: list[Any] | None = None) -> None:
    """Run SQL on the store through a connection of its own, as someone with the database would
    (on PostgreSQL in one transaction, the tally's triggers switched off first; `?` marks a parameter)."""
    if isinstance(target, str):
        with _pg(target) as conn:  # commits at the end of the block
            conn.execute(PG_TRIGGERS_OFF)
            for sql in statements:
                conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
        return
    con = duckdb.connect(str(target))
    try:
        for sql in statements:
            con.execute(sql, params)
    finally:
        con.close()


def rows(target: Target, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """The rows of a query (`?` marks a parameter)."""
    if isinstance(target, str):
        with _pg(target) as conn:
            return list(conn.execute(sql.replace("?", "%s"), params).fetchall())  # type: ignore[arg-type]
    con = duckdb.connect(str(target), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


#: per table a tamperer rehashes: the writer's hash expression (DuckDB SQL) and the row's key
_REHASH = {
    "events": (EVENT_HASH_SQL, "seq = ? AND event_id = ?", "seq, event_id"),
    "quarantine": (f"sha256({QUARANTINE_TEXT_SQL})", "id = ?", "id"),
}


def rehash(target: Target, where: str = "true", table: str = "events") -> None:
    """Give the rows of `table` (events or quarantine) matching `where` the hash the writer would
    give them: what a tamperer runs to make changed or forged rows look consistent again. The hash
    expressions are DuckDB SQL: on PostgreSQL the rows are hashed in a DuckDB copy and the hashes
    written back."""
    expression, key, key_columns = _REHASH[table]
    if not isinstance(target, str):
        tamper(target, f"UPDATE {table} SET hash = {expression} WHERE {where}")
        return
    with _pg(target) as conn, conn.cursor() as cur:
        data = postgres.copy_out(cur, schema.metadata.tables[table], f"SELECT * FROM {table} WHERE {where}")
    con = postgres._staging([schema.metadata.tables[table]], 1)
    try:
        postgres._load(con, table, data)
        hashes = con.execute(f"SELECT {expression}, {key_columns} FROM {table}").fetchall()
    finally:
        con.close()
    with _pg(target) as conn:
        conn.execute(PG_TRIGGERS_OFF)
        with conn.cursor() as cur:
            cur.executemany(f"UPDATE {table} SET hash = %s WHERE {key.replace('?', '%s')}", hashes)


def verified(target: Target, **kwargs: Any) -> integrity.Verification:
    """Open the store, verify, close."""
    with Database(target) as db:
        return integrity.verify(db, locations(target), **kwargs)


def copy_files(source: Path, target: Path) -> Path:
    """Copy the files named after `source` (a closed DuckDB file, its checkpoint file and keys) to
    the same names after `target`."""
    for path in source.parent.iterdir():
        if path.name.startswith(source.name) and path.is_file():
            shutil.copy(path, target.parent / path.name.replace(source.name, target.name))
    return target


_copies = iter(range(1, 10**9))


def fresh_copy(template: Target, request: pytest.FixtureRequest) -> Target:
    """A copy of a closed template store for one test to tamper with: the DuckDB file with its
    side files, or a PostgreSQL database made from the template database (`CREATE DATABASE ...
    TEMPLATE`, a file copy on the server) with its side files."""
    if not isinstance(template, str):
        return copy_files(template, request.getfixturevalue("db_path"))
    server: PgServer = request.getfixturevalue("pg_server")
    source = template.rsplit("/", 1)[1]
    name = f"{source}_{os.getpid()}_{next(_copies)}"
    with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    url = server.url(name)
    copy_files(state_path(template), state_path(url))
    return url


def template_store(
    request: pytest.FixtureRequest,
    backend: str,
    name: str,
    build: Callable[[Database, Target], None],
) -> Target:
    """A closed store built once by `build(db, target)` on `backend` (its side files under the
    home folder the test module sets)."""
    if backend == "postgres":
        server: PgServer = request.getfixturevalue("pg_server")
        target: Target = server.create_database(f"{name}_{os.getpid()}")
    else:
        target = request.getfixturevalue("tmp_path_factory").mktemp(name) / f"{name}.duckdb"
    with Database(target) as db:
        build(db, target)
    return target


def home_for_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home folder of its own for a module's PostgreSQL stores (their side files live there)."""
    path = tmp_path_factory.mktemp("tamper-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDITDASH_HOME", str(path))
        yield path
