"""The explorer's grid, asked for rows of a listing whose archive files are not the archive's
(rewritten by a purge since, or forged in the browser), answers with no rows and says why,
instead of leaving the grid waiting. A real server; the request is the one the grid sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from dashboard.filters import Filters
from dashboard.store.explorer import Snapshot
from tests.conftest import Server, WebClient, add_user, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    tmp = tmp_path_factory.mktemp("explorer-stale")
    db_path = tmp / "stale.duckdb"
    password = add_user(db_path, "cora", "compliance")
    running = start_server(db_path, tmp, tmp / "server.log")
    try:
        yield running, password
    finally:
        stop_server(running)


def _rows_callback(client: WebClient) -> dict[str, Any]:
    deps = client.request("GET", "/_dash-dependencies").json()
    # the grid's request reaches the server through `explorer-rows-request` (assets/explorer.js answers
    # the listing's first page itself, and passes every other request on)
    return next(d for d in deps if any(i["id"] == "explorer-rows-request" for i in d["inputs"]))


def test_a_stale_archive_listing_gets_no_rows_and_a_reason(server: tuple[Server, str]) -> None:
    site, password = server
    client = WebClient(site)
    assert client.login("cora", password).status == 302
    dep = _rows_callback(client)
    snap = Snapshot(Filters(), datetime(2026, 11, 26, 8, 0), 0, 0, archive=("/etc/passwd",))
    ask = {"startRow": 0, "endRow": 50}
    outputs = []
    for part in dep["output"][2:-2].split("..."):
        raw, _, prop = part.rpartition(".")
        outputs.append({"id": raw, "property": prop.split("@")[0]})
    payload = {
        "output": dep["output"],
        "outputs": outputs,
        "inputs": [{"id": "explorer-rows-request", "property": "data", "value": {"request": ask, "n": 1}}],
        "state": [
            {"id": "explorer-listing", "property": "data", "value": snap.to_store()},
            {"id": "explorer-anchors", "property": "data", "value": None},
        ],
        "changedPropIds": ["explorer-rows-request.data"],
    }
    reply = client.callback(payload)
    assert reply.status == 200, reply.text
    response = json.loads(reply.text)["response"]
    assert response["explorer-grid"]["getRowsResponse"] == {"rowData": [], "rowCount": 0}
    assert "The archive changed since this list was made" in response["explorer-asof"]["children"]
    assert client.request("GET", "/explorer").status == 200  # the server goes on serving
