"""docs/openapi.yaml and the server agree: schemathesis generates requests from the document.

The app runs in process (Flask's WSGI app, no server process) over a real DuckDB store holding
events, alerts and real tokens. For every operation, requests that follow the document
(positive) and requests that break it (negative) are sent; each answer must not be a server
error, must have a status code, content type and body the document describes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dashboard.access.tokens import create_token
from dashboard.config import Settings
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from dashboard.store.schema import alerts, events
from dashboard.web.app import create_app
from dashboard.web.services import DETECTION_KEY as DETECT_KEY
from dashboard.web.state import EXTENSION_KEY
from tests.conftest import GEO_DIR, ROOT, event

SPEC = ROOT / "docs" / "openapi.yaml"
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
#: (path, method, scope of the token it needs, what requests to generate); /healthz has nothing to break
OPERATIONS = [
    ("/healthz", "GET", None, POSITIVE),
    ("/api/v1/events", "GET", "read", POSITIVE),
    ("/api/v1/events", "GET", "read", NEGATIVE),
    ("/api/v1/alerts", "GET", "read", POSITIVE),
    ("/api/v1/alerts", "GET", "read", NEGATIVE),
    ("/api/v1/events", "POST", "ingest", POSITIVE),
    ("/api/v1/events", "POST", "ingest", NEGATIVE),
]


@dataclass
class Site:
    app: Any
    tokens: dict[str, str]
    schema: Any


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp: Path = tmp_path_factory.mktemp("openapi-fuzz")
    db = Database(tmp / "fuzz.duckdb")
    docs = [
        event(
            id=f"f{i}",
            occurred_at=f"2026-05-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
            action=("auth.login", "agent.role_change", "label.create", "team.member_add")[i % 4],
            outcome="failure" if i % 5 == 0 else "success",
            reason="bad_password" if i % 5 == 0 else None,
            target={"type": "agent", "id": f"t{i}", "name": f"Agent {i}"} if i % 2 else None,
            changes={"role": ["agent", "administrator"]} if i % 4 == 1 else None,
            metadata={"ticket": i, "ratio": 0.5},
            ip=("8.8.8.8", "10.0.0.1", "2001:db8::1", "1.2.3.x")[i % 4],
        )
        for i in range(40)
    ]
    assert Ingestor(db, None).ingest_batch([(i, json.dumps(d)) for i, d in enumerate(docs)], "test").accepted == 40
    with db.engine.begin() as conn:  # what an older version could have stored: the document must still hold
        conn.execute(sa.update(events).where(events.c.event_id == "f3").values(metadata='{"a":' * 50 + "1" + "}" * 50))
        conn.execute(sa.update(events).where(events.c.event_id == "f5").values(metadata='{"x": NaN}'))
        conn.execute(sa.update(events).where(events.c.event_id == "f7").values(changes="[1]"))
        when = datetime(2026, 5, 20, 10)
        conn.execute(
            alerts.insert().values(
                rule_id="R1",
                title="Brute force",
                severity="high",
                status="open",
                alert_key="user=u1",
                key_json='{"user": "u1"}',
                first_seen=when,
                last_seen=when,
                event_count=5,
                measures='{"count": 5, "rate": NaN}',
                detail='{"places": []}',
                summary="Brute force: user u1",
                created_at=when,
                updated_at=when,
            )
        )
    tokens = {scope: create_token(db, f"fuzz-{scope}", (scope,))[1] for scope in ("read", "ingest")}
    # no detection rules: the generated events would only make the detection run after each POST slow
    rules = tmp / "rules.yaml"
    rules.write_text("version: 1\nrules: []\n")
    app = create_app(Settings(db_path=db.path, geo_dir=GEO_DIR, reports_dir=tmp / "reports", rules_path=rules), db)
    try:
        yield Site(app.server, tokens, schemathesis.openapi.from_path(SPEC))
    finally:
        st = app.server.extensions[EXTENSION_KEY]
        assert app.server.extensions[DETECT_KEY].wait_idle(300)  # detection after the POSTs, off-request
        st.scheduler.stop()
        st.ingestor.close()  # its validation engine, before the process ends
        db.close()


@pytest.mark.parametrize(
    ("path", "method", "scope", "mode"), OPERATIONS, ids=[f"{m} {p} {g.value}" for p, m, _s, g in OPERATIONS]
)
def test_the_server_answers_as_the_document_says(
    site: Site, path: str, method: str, scope: str | None, mode: GenerationMode
) -> None:
    operation = site.schema[path][method]
    headers = {"Authorization": f"Bearer {site.tokens[scope]}"} if scope else {}
    seen: list[int] = []

    @settings(
        max_examples=10 if method == "POST" else 30,  # each POST is a whole validated, chained ingest
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call(app=site.app, headers=headers)
        seen.append(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()
    assert seen, "no request was sent"
    if mode is GenerationMode.POSITIVE and method == "GET":
        assert 200 in seen, seen  # requests that follow the document are answered
