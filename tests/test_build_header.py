"""Every answer to Dash's renderer names the build of the app's callbacks (X-Auditdash-Build), the
digest of what `/_dash-dependencies` sends: a page made for another build reloads itself
(assets/auth-session.js; the browser side is tests/e2e/test_login.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import in_process, page_payload


def test_the_build_is_the_digest_of_the_callbacks_the_page_gets(tmp_path: Path) -> None:
    with in_process(tmp_path, {"ada": "admin"}, "--days", "2", "--events", "1000", "--no-incidents") as app:
        client = app.client("ada")
        deps = client.get("/_dash-dependencies")
        build = deps.headers.get("X-Auditdash-Build")
        assert build == hashlib.sha256(deps.get_data()).hexdigest()[:16]
        answer = app.post(client, page_payload("/"))
        assert answer.status_code == 200 and answer.headers.get("X-Auditdash-Build") == build
        # a request shaped for other callbacks is refused, and says which build the server runs
        stale = page_payload("/")
        stale["state"] = []
        refused = app.post(client, stale)
        assert refused.status_code == 400 and refused.headers.get("X-Auditdash-Build") == build
        # not on the pages themselves
        assert "X-Auditdash-Build" not in client.get("/").headers
