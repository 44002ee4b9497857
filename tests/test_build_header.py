"""Every answer to Dash's renderer names the build of the app's callbacks (X-Auditdash-Build), the
digest of what `/_dash-dependencies` sends: a page made for another build reloads itself
(assets/auth-session.js; the browser side is tests/e2e/test_login.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dashboard.access.users import create_user
from dashboard.config import Settings
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, cli, page_payload, sign_in

PASSWORD = "build-header-password"


def test_the_build_is_the_digest_of_the_callbacks_the_page_gets(tmp_path: Path) -> None:
    db_path = tmp_path / "build.duckdb"
    cli("demo", "--days", "2", "--events", "1000", "--no-incidents", "--db", str(db_path))
    db = Database(db_path)
    try:
        create_user(db, "ada", "admin", PASSWORD)
        from dashboard.web.app import create_app

        app = create_app(Settings(db_path=db_path, geo_dir=GEO_DIR), db)
        client = sign_in(app.server, "ada", PASSWORD)
        deps = client.get("/_dash-dependencies")
        build = deps.headers.get("X-Auditdash-Build")
        assert build == hashlib.sha256(deps.get_data()).hexdigest()[:16]
        token = client.get_cookie("_csrf_token")
        answer = client.post(
            "/_dash-update-component", json=page_payload("/"), headers={"X-CSRFToken": token.value if token else ""}
        )
        assert answer.status_code == 200 and answer.headers.get("X-Auditdash-Build") == build
        # a request shaped for other callbacks is refused, and says which build the server runs
        stale = page_payload("/")
        stale["state"] = []
        refused = client.post(
            "/_dash-update-component", json=stale, headers={"X-CSRFToken": token.value if token else ""}
        )
        assert refused.status_code == 400 and refused.headers.get("X-Auditdash-Build") == build
        # not on the pages themselves or static files
        assert "X-Auditdash-Build" not in client.get("/").headers
    finally:
        db.close()
