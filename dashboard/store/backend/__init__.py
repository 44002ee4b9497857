"""What differs per database engine, behind one small interface (docs/architecture.md, "The seam").

`Database` (store/db.py) chooses the backend from what `AUDITDASH_DB` / `--db` names: a DuckDB
file path (the embedded default, `duckdb.py`) or a `postgresql+psycopg://` URL (`postgres.py`).
Everything above the store (pages, figures, detection rules, packs) sees SQLAlchemy and never
the engine. A backend module imports nothing of the rest of the package but `store.schema` and
`store.errors`, so `db.py` and the writer can use it without an import cycle.
"""

from __future__ import annotations

from pathlib import Path

#: the URL schemes that name a PostgreSQL server (psycopg 3 is the one driver)
POSTGRES_SCHEMES = ("postgresql+psycopg://", "postgresql://", "postgres://")


def is_postgres(target: str | Path) -> bool:
    """Whether `target` (the `--db` / `AUDITDASH_DB` value) names a PostgreSQL server."""
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def engine_url(target: str) -> str:
    """The SQLAlchemy URL of a PostgreSQL target, with the psycopg 3 driver."""
    for scheme in POSTGRES_SCHEMES:
        if target.startswith(scheme):
            url = "postgresql+psycopg://" + target[len(scheme) :]
            _check_port(url)
            return url
    raise ValueError(f"not a PostgreSQL URL: {target}")


def _check_port(url: str) -> None:
    """Refuse, in words, a URL whose port is no TCP port (psycopg raised a bare ValueError)."""
    import sqlalchemy as sa

    from dashboard.store.errors import StoreError

    try:
        port = sa.engine.make_url(url).port
    except ValueError as exc:  # a port that is not a number
        problem = f"its port is not a number ({exc})"
    else:
        if port is None or 0 < port < 65_536:
            return
        problem = f"its port {port} is not between 1 and 65535"
    raise StoreError(f"the PostgreSQL URL (--db, AUDITDASH_DB or migrate --to) is malformed: {problem}")
