"""Shared helpers of the detection tests: a real DuckDB store fed through the real ingest path.

(No tests here; the other tests/test_detect_*.py import these.)
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dashboard.config import Settings
from dashboard.detect.notify import Notifier, NotifyConfig
from dashboard.detect.rules import RuleSet, load_rules
from dashboard.detect.service import DetectionService
from dashboard.ingest.geo import GeoLocator, default_locator
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from tests.conftest import GEO_DIR
from tests.pg import PgServer

#: real public addresses with the place DB-IP gives them (dashboard/ingest/geo_demo_ips.py)
BERLIN = "91.32.96.240"
BERLIN_2 = "91.32.96.241"
HAMBURG = "91.18.5.198"
PARIS = "90.59.34.187"
MADRID = "83.33.0.224"
LISBON = "85.243.196.156"
SYDNEY = "1.122.224.188"
TOKYO = "126.77.27.66"
ATTACKER = "5.182.224.116"  # Moscow, a hosting range
ATTACKER_2 = "47.92.136.36"  # Beijing
#: the target of an agent's own security change
AGENT_TARGET = {"type": "agent", "id": "u1", "name": "User u1"}

#: a Monday morning, far enough in the past for any test
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

_ids = itertools.count(1)
_databases = itertools.count(1)
_PG_TEMPLATES: dict[Path, str] = {}
_GEO: GeoLocator | None = None


def geo() -> GeoLocator:
    """One locator for the whole test session (opening the files takes a moment)."""
    global _GEO
    if _GEO is None:
        _GEO = default_locator(GEO_DIR)
    return _GEO


def ev(
    when: datetime,
    action: str = "auth.login",
    *,
    user: str | None = "u1",
    outcome: str = "success",
    ip: str | None = BERLIN,
    account: str = "acme",
    role: str = "agent",
    actor_type: str = "user",
    target: dict[str, str] | None = None,
    changes: dict[str, Any] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """One event in the contract."""
    doc: dict[str, Any] = {
        "id": f"t-{next(_ids):07d}",
        "occurred_at": when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "account_id": account,
        "action": action,
        "outcome": outcome,
    }
    if actor_type == "system":
        doc["actor"] = {"type": "system", "name": "Automation"}
    else:
        doc["actor"] = {"id": user, "name": f"User {user}", "role": role, "type": actor_type}
    if outcome == "failure":
        doc["reason"] = reason or "bad_password"
    if ip:
        doc["ip"] = ip
    if target:
        doc["target"] = target
    if changes:
        doc["changes"] = changes
    return doc


def feed(db: Database, events: Sequence[dict[str, Any]], source: str = "test") -> None:
    """Store events through the real validation, geolocation and chain."""
    ingestor = Ingestor(db, geo())
    records = [(i, json.dumps(e)) for i, e in enumerate(events)]
    result = ingestor.ingest_batch(records, source)
    assert result.rejected == 0, [r.reason for r in result.rejected_records]


def service(db: Database, rules: RuleSet | None = None, settings: Settings | None = None) -> DetectionService:
    """A detection service with the shipped rules (and the notification settings given)."""
    ruleset = rules or load_rules()
    notifier = Notifier(db, NotifyConfig.from_settings(settings or Settings()), ruleset)
    return DetectionService(db, ruleset, notifier)


def detect(db: Database, rules: RuleSet | None = None) -> DetectionService:
    """Run every rule over every stored event; return the service (its `alerts` to read)."""
    svc = service(db, rules)
    svc.run_all()
    return svc


def alerts_of(svc: DetectionService, rule: str) -> list[dict[str, Any]]:
    """The alerts of one rule, with their evidence ids."""
    return svc.alerts.list(rule=[rule], with_evidence=True)


def every(start: datetime, step: timedelta, n: int) -> Iterator[datetime]:
    """n times from start, step apart."""
    for i in range(n):
        yield start + i * step


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated database file made once (creating the tables takes a second)."""
    path = tmp_path_factory.mktemp("template") / "empty.duckdb"
    Database(path).close()
    return path


#: a test with this mark runs on both engines: the `db` fixture is then a store on each (`backend`)
ON_BOTH_ENGINES = pytest.mark.usefixtures("backend")


def pg_empty_store(server: PgServer) -> str:
    """The name of an empty, migrated PostgreSQL database on `server`, made once (about 1 s):
    the template of the test stores on PostgreSQL."""
    if server.root not in _PG_TEMPLATES:
        url = server.create_database(f"detect_template_{os.getpid()}_{next(_databases)}")
        Database(url).close()
        _PG_TEMPLATES[server.root] = url.rsplit("/", 1)[1]
    return _PG_TEMPLATES[server.root]


def pg_store(server: PgServer) -> str:
    """The URL of a new PostgreSQL store on `server`, empty and migrated (a copy of the template)."""
    name = f"detect_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_empty_store(server)}"')
    return server.url(name)


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path, empty_store: Path) -> Iterator[Database]:
    """A fresh real store: a copy of the empty DuckDB file; for a test marked `ON_BOTH_ENGINES`,
    on its `backend`, there a new PostgreSQL database copied from an empty one (about 0.3 s)."""
    backend = request.getfixturevalue("backend") if "backend" in request.fixturenames else "duckdb"
    if backend == "postgres":
        database = Database(pg_store(request.getfixturevalue("pg_server")))
    else:
        target = tmp_path / "detect.duckdb"
        shutil.copyfile(empty_store, target)
        database = Database(target)
    try:
        yield database
    finally:
        database.close()
