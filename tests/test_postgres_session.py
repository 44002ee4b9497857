"""Every session auditdash opens on PostgreSQL has JIT compilation off (docs/PERFORMANCE.md: it cost
more than it saved on the pages' statements), set after connecting, also after the pool replaces a
connection the server ended."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa

from dashboard.store.db import Database


def test_sessions_have_jit_off(pg_url: str) -> None:
    with Database(pg_url) as db:
        with db.connect() as conn:
            assert conn.execute(sa.text("SHOW jit")).scalar() == "off"
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with db.connect() as conn:  # the pool's check finds the ended connection and opens another
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
            assert conn.execute(sa.text("SHOW jit")).scalar() == "off"
    # a session of anyone else keeps the server's setting
    with psycopg.connect(pg_url.replace("+psycopg", "")) as other:
        assert other.execute("SHOW jit").fetchone() == ("on",)
