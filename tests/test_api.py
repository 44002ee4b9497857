"""The ingest API against a real server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Server, cli, event, start_server, stop_server


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A real server with an ingest token and a 1 MiB body limit, one for the module's tests
    (each sends events with ids of its own, so none sees another's)."""
    tmp = tmp_path_factory.mktemp("api")
    db_path = tmp / "api.duckdb"
    token = cli("tokens", "create", "ci", "--db", str(db_path)).stdout.strip()
    srv = start_server(db_path, tmp, tmp / "api.log", {"AUDITDASH_MAX_BODY_BYTES": str(1024 * 1024)})
    try:
        yield srv, token
    finally:
        stop_server(srv)


def post(server: Server, body: bytes, token: str | None, content_type: str = "application/json"):
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return server.request("POST", "/api/v1/events", body, headers)


def test_api_ingest_end_to_end(api_server) -> None:
    server, token = api_server
    docs = [event(id=f"api{i}") for i in range(5)] + [event(id="api-bad", outcome="perhaps")]
    status, reply = post(server, json.dumps(docs).encode(), token)
    assert status == 200
    assert reply["accepted"] == 5
    assert reply["duplicates"] == 0
    assert reply["rejected"] == [{"index": 5, "reason": "outcome 'perhaps' is not one of success, failure, unknown"}]

    # NDJSON, with one repeat of a stored id
    body = "\n".join(json.dumps(d) for d in [event(id="api0"), event(id="api9")]).encode()
    status, reply = post(server, body, token, "application/x-ndjson")
    assert status == 200
    assert (reply["accepted"], reply["duplicates"]) == (1, 1)


def test_a_body_with_a_byte_order_mark_is_read(api_server) -> None:
    server, token = api_server
    status, reply = post(server, b"\xef\xbb\xbf" + json.dumps([event(id="bom-api")]).encode(), token)
    assert status == 200 and reply["accepted"] == 1, reply


def test_missing_and_wrong_token_get_401(api_server) -> None:
    server, _token = api_server
    body = json.dumps([event()]).encode()
    assert post(server, body, None)[0] == 401
    assert post(server, body, "adt_nope_nope")[0] == 401
    assert post(server, body, "not-even-a-token")[0] == 401


def test_malformed_json_gets_400_with_position(api_server) -> None:
    server, token = api_server
    status, reply = post(server, b'[{"id": "x",\n  "occurred_at": }]', token)
    assert status == 400
    assert reply["line"] == 2
    assert reply["column"] == 18
    status, reply = post(server, b'{"id": "x"}\n{"broken": \n', token, "application/x-ndjson")
    assert status == 400
    assert reply["line"] == 2


def test_oversize_body_gets_413(api_server) -> None:
    server, token = api_server
    body = b"[" + b" " * (1024 * 1024 + 10) + b"]"
    status, _ = post(server, body, token)
    assert status == 413


def test_revoked_token_stops_at_once(tmp_path) -> None:
    """In-process server (real HTTP on 127.0.0.1) so the test can revoke while it runs."""
    import threading

    from werkzeug.serving import make_server

    from dashboard.access.tokens import create_token, list_tokens, revoke_token
    from dashboard.config import Settings
    from dashboard.store.db import Database
    from dashboard.web.app import create_app
    from tests.conftest import GEO_DIR

    db = Database(tmp_path / "inproc.duckdb")
    app = create_app(Settings(db_path=db.path, geo_dir=GEO_DIR), db)
    httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        srv = Server(url=f"http://127.0.0.1:{httpd.server_port}", db_path=db.path, proc=None, log=tmp_path)  # type: ignore[arg-type]
        _, token = create_token(db, "short-lived")
        assert post(srv, json.dumps([event(id="r1")]).encode(), token)[0] == 200
        assert list_tokens(db)[0].last_used_at is not None
        revoke_token(db, "short-lived")
        status, reply = post(srv, json.dumps([event(id="r2")]).encode(), token)
        assert status == 401
        assert "revoked" in reply["error"]
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
        db.close()


def test_health_is_public(api_server) -> None:
    server, _token = api_server
    status, reply = server.request("GET", "/healthz")
    assert status == 200
    assert reply["status"] == "ok"


def test_cli_can_send_to_the_running_server(api_server, tmp_path) -> None:
    server, token = api_server
    src = tmp_path / "x.ndjson"
    src.write_text("\n".join(json.dumps(event(id=f"cli{i}")) for i in range(30)) + "\n")
    out = cli("ingest", str(src), "--server", server.url, "--token", token, "--json")
    assert json.loads(out.stdout)["accepted"] == 30
