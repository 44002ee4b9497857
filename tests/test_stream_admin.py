"""Destinations added, changed and deleted on the Streams page: callbacks posted through the app
(Flask's test client, logged-in sessions, CSRF) to a real HTTP receiver on 127.0.0.1, with the
server's scheduler running, so a change takes effect without a restart. Settings-file destinations
stay read-only; every change is in the audit log, without a token."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.store.schema import events as E
from tests.test_status_strip import Site, _site, _texts
from tests.test_stream import Receiver, events, free_port, ingest, streams_file, wait_for

FIELDS = (
    "name",
    "kind",
    "url",
    "envelope",
    "format",
    "token_file",
    "token_env",
    "transport",
    "host",
    "port",
    "ca_file",
    "filter",
    "start",
    "batch_size",
)
OUTPUTS = [
    {"id": "admin-streams-notice", "property": "children"},
    {"id": "admin-streams-table", "property": "children"},
    {"id": "admin-streams-form", "property": "children"},
]
SECRET = "hec-secret-0f9e8d7c"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    dead = free_port()
    path = streams_file(tmp_path, {"name": "filed", "kind": "http", "url": f"http://127.0.0.1:{dead}/in"})
    running = _site(tmp_path, streams_path=path, detect_interval_s=0, purge_interval_s=0, verify_interval_s=0)
    running.app.server.extensions["auditdash"].scheduler.start()  # as `auditdash serve` does
    try:
        yield running
    finally:
        running.db.close()


def post(site: Site, role: str, inputs: list[Any], changed: str, editing: str | None, values: dict[str, Any]) -> Any:
    client = site.clients[role]
    payload = {
        "output": "..admin-streams-notice.children...admin-streams-table.children...admin-streams-form.children..",
        "outputs": OUTPUTS,
        "inputs": inputs,
        "state": [{"id": "admin-streams-editing", "property": "data", "value": editing}]
        + [{"id": f"admin-stream-f-{k}", "property": "value", "value": values.get(k)} for k in FIELDS],
        "changedPropIds": [changed],
    }
    return client.post(
        "/_dash-update-component", json=payload, headers={"X-CSRFToken": client.get_cookie("_csrf_token").value}
    )


def save(site: Site, values: dict[str, Any], editing: str | None = None, role: str = "admin") -> Any:
    inputs = [[], [], [], {"id": "admin-streams-save", "property": "n_clicks", "value": 1}]
    return post(site, role, inputs, "admin-streams-save.n_clicks", editing, values)


def delete(site: Site, name: str, role: str = "admin") -> Any:
    ident = {"index": name, "type": "admin-streams-delete"}
    pressed = [{"id": ident, "property": "n_clicks", "value": 1}]
    inputs: list[Any] = [[], [], pressed, {"id": "admin-streams-save", "property": "n_clicks", "value": 0}]
    changed = json.dumps(ident, separators=(",", ":"), sort_keys=True) + ".n_clicks"
    return post(site, role, inputs, changed, None, {})


def notice(reply: Any) -> str:
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    return " ".join(t for t in _texts(reply.get_json()["response"]["admin-streams-notice"]["children"]) if t.strip())


def delivered(receiver: Receiver) -> list[str]:
    """The ids of the test's events the receiver acknowledged (the log's own self-log entries,
    such as "stream added", are streamed too and left out here)."""
    docs = [d["event"] for d in receiver.lines(acked_only=True)]
    return [d["id"] for d in docs if d["stored"]["category"] != "audit"]


def job_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"job-stream.{name}" and t.is_alive()]


def audit_rows(site: Site, name: str) -> list[Any]:
    with site.db.connect() as conn:
        return conn.execute(
            sa.select(E.c.actor_id, E.c.metadata, E.c.changes)
            .where(E.c.category == "audit", E.c.target_id == name)
            .order_by(E.c.seq)
        ).fetchall()


def test_add_edit_delete_on_the_page_without_restart(site: Site, receiver: Receiver, tmp_path: Path) -> None:
    token = tmp_path / "hec.token"
    token.write_text(SECRET)
    url = f"http://127.0.0.1:{receiver.port}/services/collector/event"
    values = {"name": "siem", "kind": "http", "url": url, "envelope": "hec", "format": "json"}
    values.update(token_file=str(token), start="end", batch_size="50")
    said = notice(save(site, values))
    assert "Stream siem added" in said
    scheduler = site.app.server.extensions["auditdash"].scheduler
    assert "stream.siem" in scheduler.jobs
    # events stored from now on arrive, through the job the page started
    ingest(site.db, events("a", 5))
    wait_for("5 events at the receiver", lambda: len(delivered(receiver)) >= 5)
    assert delivered(receiver) == [f"a-{i:05d}" for i in range(5)]
    assert receiver.requests[0]["headers"]["Authorization"] == f"Splunk {SECRET}"

    # the filter changes: only failures from now on
    said = notice(save(site, {**values, "filter": "outcome=failure"}, editing="siem"))
    assert "Stream siem changed" in said
    ingest(site.db, events("ok", 4))
    ingest(site.db, events("bad", 3, outcome="failure", reason="wrong password"))
    wait_for("the 3 failures", lambda: len(delivered(receiver)) >= 8)
    assert delivered(receiver) == [f"a-{i:05d}" for i in range(5)] + [f"bad-{i:05d}" for i in range(3)]

    # the page shows it as made here, the file's destination as from settings (and refuses to change it)
    reply = save(site, {**values, "filter": "outcome=failure"}, editing="siem")  # saved unchanged: not logged
    cells = _texts(reply.get_json()["response"]["admin-streams-table"]["children"])
    assert "made here" in cells and "from settings" in cells
    assert SECRET not in reply.get_data(as_text=True)
    refused = save(site, {"name": "filed", "kind": "http", "url": url}, editing="filed")
    assert "comes from the settings file" in notice(refused)

    # delete: the job stops, the file's destination stays
    assert "Stream siem deleted" in notice(delete(site, "siem"))
    assert "stream.siem" not in scheduler.jobs and "stream.filed" in scheduler.jobs
    wait_for("the job's thread to end", lambda: not job_threads("siem"))
    assert "siem" not in site.app.server.extensions["auditdash.streams"].streams
    assert "comes from the settings file" in notice(delete(site, "filed"))

    # the audit log: who and what, before and after, never the token
    rows = audit_rows(site, "siem")
    changes = [json.loads(r.metadata)["change"] for r in rows]
    assert changes == ["stream added", "stream changed", "stream removed"]
    assert {r.actor_id for r in rows} == {"ada"}
    before, after = json.loads(rows[1].changes)["stream"]
    assert before["filter"] == "" and after["filter"] == "outcome=failure"
    assert after["token"] == f"from file {token}"
    assert json.loads(rows[2].changes)["stream"][1] is None
    with site.db.connect() as conn:
        dumped = " ".join(str(v) for row in conn.execute(sa.select(E)).fetchall() for v in row)
    assert SECRET not in dumped


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"name": "x", "kind": "http", "url": "ftp://h/in"}, "url", "url must be an http:// or https://"),
        ({"name": "y", "kind": "syslog", "host": "h", "port": "70000"}, "port", "port must be a whole number"),
        ({"name": "z", "kind": "syslog", "host": "h", "port": "abc"}, "port", "port must be a whole number"),
        ({"name": "w", "kind": "http", "url": "http://h/", "format": "cef"}, "format", "format cef is for syslog"),
        ({"name": "bad name!", "kind": "http", "url": "http://h/"}, "name", "name must be"),
        ({"name": "f", "kind": "http", "url": "http://h/", "filter": "range=7d"}, "filter", "range cannot be used"),
        ({"name": "h", "kind": "http", "url": "http://h/", "envelope": "hec"}, "token_file", "HEC needs a token"),
        ({"name": "filed", "kind": "http", "url": "http://h/"}, "name", "taken by another destination"),
    ],
)
def test_a_bad_setting_names_its_field(site: Site, values: dict[str, Any], field: str, words: str) -> None:
    reply = save(site, values)
    said = notice(reply)
    assert words in said and said.startswith(
        {"url": "URL", "port": "Port", "format": "Format", "name": "Name", "filter": "Filter"}.get(field, "Token file")
    )
    form = reply.get_json()["response"]["admin-streams-form"]
    text = json.dumps(form)
    assert f'"id": "admin-stream-f-{field}-message"' in text
    assert "admin-streams-editing" in text
    with site.db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM stream_destinations")).scalar_one() == 0


@pytest.mark.parametrize("role", ["compliance", "manager"])
def test_other_roles_cannot_change_streams(site: Site, receiver: Receiver, role: str) -> None:
    values = {"name": "sneaky", "kind": "http", "url": f"http://127.0.0.1:{receiver.port}/in"}
    reply = save(site, values, role=role)
    assert reply.status_code in (400, 403)
    assert "sneaky" not in site.app.server.extensions["auditdash.streams"].streams
    assert delete(site, "filed", role=role).status_code in (400, 403)
    assert "filed" in site.app.server.extensions["auditdash.streams"].streams
    with site.db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM stream_destinations")).scalar_one() == 0
