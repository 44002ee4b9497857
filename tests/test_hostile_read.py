"""Every reader of the log copes with whatever the store holds, and answers strict JSON.

A real DuckDB store gets ordinary events through the ingest pipeline; then some of their
stored `changes` / `metadata` are overwritten straight in the database (as an older version or
a tamperer could leave them): nested 3,000 levels deep, `NaN` / `Infinity`, not JSON, JSON but
not an object, an integer of 5,000 digits. Each reader (the read API in both shapes, the
explorer's detail panel, the CSV / JSON / OCSF / PDF pack files, the alert list) must give the
whole page or file, with a marked placeholder where a value cannot be shown, and every JSON it
writes must parse with a strict parser. The read API's parameters are then attacked one by one:
each bad value is a JSON 400 that names the parameter.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.access.tokens import create_token
from dashboard.access.users import Actor
from dashboard.config import Settings
from dashboard.events import jsontext
from dashboard.filters import Filters
from dashboard.ingest.pipeline import Ingestor
from dashboard.packs.build import PackSettings, build_pack
from dashboard.packs.model import PackRequest
from dashboard.store import explorer
from dashboard.store.db import Database
from dashboard.store.schema import alerts, events
from dashboard.web.app import create_app
from dashboard.web.components import detail
from tests.conftest import GEO_DIR, event

DEEP = 3_000
#: event id -> (column, stored text, what a reader must see)
POISON: dict[str, tuple[str, str, str]] = {
    "deep-meta": ("metadata", '{"a":' * DEEP + "1" + "}" * DEEP, "nested deeper than 32 levels"),
    "deep-changes": ("changes", '{"x":[' + "[" * DEEP + "]" * DEEP + ",1]}", "nested deeper than 32 levels"),
    "not-json": ("metadata", '{"broken": ', "not valid JSON"),
    "not-object": ("metadata", "[1, 2, 3]", "not a JSON object"),
    "huge-int": ("metadata", '{"n": ' + "9" * 5_000 + "}", "not readable JSON"),
}
#: stored non-finite numbers: they must come out as null, the rest of the object intact
NAN_TEXT = '{"ratio": NaN, "big": 1e999, "low": -Infinity, "kept": 7, "list": [Infinity, 2]}'
NAN_VALUE = {"ratio": None, "big": None, "low": None, "kept": 7, "list": [None, 2]}
CLEAN_METADATA = {"ticket": 42, "channel": "email"}
NOW = datetime(2026, 5, 31, tzinfo=UTC)


def strict(text: str | bytes) -> Any:
    """Parse as RFC 8259 JSON: NaN, Infinity and -Infinity are errors, not numbers."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@dataclass
class Store:
    db: Database
    client: Any
    token: str
    seqs: dict[str, int]
    tmp: Path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    tmp = tmp_path_factory.mktemp("hostile")
    db = Database(tmp / "hostile.duckdb")
    docs = [
        event(
            id=f"ok-{i}",
            occurred_at=f"2026-05-{1 + i:02d}T10:00:00Z",
            action="agent.update" if i % 2 else "auth.login",
            changes={"role": ["agent", "administrator"]} if i % 2 else None,
            metadata=CLEAN_METADATA,
        )
        for i in range(10)
    ]
    ids = [*POISON, "nan-meta", "nan-geo"]
    docs += [
        event(id=name, occurred_at=f"2026-05-{15 + i:02d}T10:00:00Z", action="agent.update", metadata={"x": 1})
        for i, name in enumerate(ids)
    ]
    result = Ingestor(db, None).ingest_batch([(i, json.dumps(d)) for i, d in enumerate(docs)], "test")
    assert result.accepted == len(docs)
    with db.engine.begin() as conn:
        for name, (column, text, _) in POISON.items():
            conn.execute(sa.update(events).where(events.c.event_id == name).values({column: text}))
        conn.execute(sa.update(events).where(events.c.event_id == "nan-meta").values(metadata=NAN_TEXT))
        conn.execute(
            sa.text(
                "UPDATE events SET geo_lat = 'NaN'::DOUBLE, geo_lon = 'Infinity'::DOUBLE WHERE event_id = 'nan-geo'"
            )
        )
        seqs = {str(e): int(s) for e, s in conn.execute(sa.select(events.c.event_id, events.c.seq)).all()}
        when = datetime(2026, 5, 20, 10)
        for i, (measures, detail_text) in enumerate(
            [('{"count": NaN, "km_h": Infinity}', '{"places": []}'), ('{"count": 3}', "[" * DEEP + "]" * DEEP)]
        ):
            conn.execute(
                alerts.insert().values(
                    rule_id="R1",
                    title="Brute force",
                    severity="high",
                    status="open",
                    alert_key=f"user=u{i}",
                    key_json=json.dumps({"user": f"u{i}"}),
                    first_seen=when,
                    last_seen=when,
                    event_count=3,
                    measures=measures,
                    detail=detail_text,
                    summary="poisoned alert",
                    created_at=when,
                    updated_at=when,
                )
            )
    _, token = create_token(db, "hostile-siem", ("read",))
    app = create_app(Settings(db_path=db.path, geo_dir=GEO_DIR, reports_dir=tmp / "reports"), db)
    try:
        yield Store(db, app.server.test_client(), token, seqs, tmp)
    finally:
        db.close()


def _get(store: Store, path: str) -> tuple[int, Any, str]:
    reply = store.client.get(path, headers={"Authorization": f"Bearer {store.token}"})
    text = reply.get_data(as_text=True)
    return reply.status_code, strict(text), reply.content_type


def _read_all(store: Store, shape: str) -> list[dict[str, Any]]:
    """Every event through the read API, three at a time, as a SIEM with a cursor reads them."""
    out: list[dict[str, Any]] = []
    path = f"/api/v1/events?categories=authentication,agent_management&limit=3&format={shape}"
    for _ in range(50):
        status, page, content_type = _get(store, path)
        assert status == 200, page
        assert content_type == "application/json"
        out += page["events"]
        if not page["more"]:
            return out
        path = page["next"]
    raise AssertionError("the cursor never reached the end")


def _is_placeholder(value: Any, reason: str) -> bool:
    return jsontext.is_unreadable(value) and reason in value["_unreadable"] and len(value["raw_sha256"]) == 64


def test_the_read_api_reads_past_every_poisoned_event(store: Store) -> None:
    docs = {d["id"]: d for d in _read_all(store, "contract")}
    assert set(docs) == set(store.seqs)
    for name, (column, text, reason) in POISON.items():
        value = docs[name][column]
        assert _is_placeholder(value, reason), (name, value)
        assert value["raw_length"] == len(text.encode())
        assert docs[name]["action"] == "agent.update" and docs[name]["stored"]["seq"] == store.seqs[name]
    assert docs["nan-meta"]["metadata"] == NAN_VALUE
    assert "geo_lat" not in docs["nan-geo"]["stored"] and "geo_lon" not in docs["nan-geo"]["stored"]
    assert docs["ok-1"]["metadata"] == CLEAN_METADATA
    assert docs["ok-1"]["changes"] == {"role": ["agent", "administrator"]}


def test_the_read_api_in_ocsf_reads_past_every_poisoned_event(store: Store) -> None:
    docs = {d["metadata"]["uid"]: d for d in _read_all(store, "ocsf")}
    assert _is_placeholder(docs["deep-meta"]["unmapped"]["metadata"], "nested deeper")
    assert _is_placeholder(docs["deep-changes"]["unmapped"]["changes"], "nested deeper")
    assert docs["nan-meta"]["unmapped"]["metadata"]["kept"] == 7
    assert docs["ok-1"]["class_uid"] == 3001


def test_the_explorer_detail_panel_shows_a_marked_placeholder(store: Store) -> None:
    for name, (column, _text, reason) in POISON.items():
        ev = explorer.event(store.db, store.seqs[name], raw=True)
        assert ev is not None
        shown = json.dumps(detail.body(ev, [], UTC, "UTC", masked=False), default=lambda c: c.to_plotly_json())
        assert reason in shown, name
        if column == "changes":
            assert ev.changes[0].field == "(unreadable)"
        else:
            assert "These details cannot be shown" in shown
        masked = explorer.event(store.db, store.seqs[name], masked=True)
        assert masked is not None
        json.dumps(detail.body(masked, [], UTC, "UTC", masked=True), default=lambda c: c.to_plotly_json())
    ev = explorer.event(store.db, store.seqs["nan-meta"], raw=True)
    assert ev is not None and ev.metadata == NAN_VALUE
    raw = json.dumps(detail.raw_json(ev.raw).to_plotly_json(), default=lambda c: c.to_plotly_json())
    assert "NaN" not in raw and "Infinity" not in raw


def test_every_pack_file_is_whole_and_strict(store: Store) -> None:
    request = PackRequest(
        filters=Filters.from_query({"from": "2026-05-01", "to": "2026-05-31"}),
        formats=("csv", "json", "ocsf", "pdf"),
        actor=Actor("cora", "compliance"),
        role="compliance",
        now=NOW,
    )
    result = build_pack(store.db, PackSettings(reports_dir=store.tmp / "packs"), request)
    names = {p.name: p for p in result.paths()}

    def one(suffix: str) -> Path:
        found = [p for name, p in names.items() if name.endswith(suffix) and not name.endswith(".ocsf" + suffix)]
        assert len(found) == 1, (suffix, sorted(names))
        return found[0]

    lines = one(".ndjson").read_text(encoding="utf-8").splitlines()
    docs = {d["id"]: d for d in map(strict, lines[1:])}
    assert len(docs) == len(POISON) + 12
    for name, (column, _text, reason) in POISON.items():
        assert _is_placeholder(docs[name][column], reason), name
    assert docs["nan-meta"]["metadata"] == NAN_VALUE
    assert docs["ok-1"]["metadata"] == CLEAN_METADATA

    ocsf_file = next(p for name, p in names.items() if name.endswith(".ocsf.ndjson"))
    ocsf = [strict(line) for line in ocsf_file.read_text(encoding="utf-8").splitlines()]
    assert len(ocsf) == len(docs)
    by_uid = {d["metadata"]["uid"]: d for d in ocsf}
    assert _is_placeholder(by_uid["deep-meta"]["unmapped"]["metadata"], "nested deeper")

    with one(".csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = {r["event_id"]: r for r in csv.DictReader(fh)}
    assert len(rows) == len(docs)
    for name, (column, _text, reason) in POISON.items():
        assert _is_placeholder(strict(rows[name][column]), reason), name
    assert strict(rows["nan-meta"]["metadata"]) == NAN_VALUE
    assert strict(rows["ok-1"]["metadata"]) == CLEAN_METADATA
    assert one(".pdf").stat().st_size > 0
    strict(one(".json").read_text(encoding="utf-8"))  # the manifest


def test_the_alert_list_is_strict_json_whatever_the_store_holds(store: Store) -> None:
    status, reply, _ = _get(store, "/api/v1/alerts?limit=10")
    assert status == 200, reply
    by_key = {a["key"]["user"]: a for a in reply["alerts"]}
    assert by_key["u0"]["measures"] == {"count": None, "km_h": None}
    assert _is_placeholder(by_key["u1"]["detail"], "nested deeper")


def test_the_decoder_never_raises() -> None:
    for text in ["", "null", "{", "\ud800", "[" * 100_000, '{"a": "[[[[' + "[" * 100 + '"}', b"\xff{}", "1e999"]:
        value = jsontext.decode_object(text)
        assert value is None or isinstance(value, dict)
        strict(jsontext.dumps(value))
    # brackets inside strings do not count as nesting
    assert jsontext.decode_object('{"a": "' + "[" * 500 + '"}') == {"a": "[" * 500}


# -- every bad parameter value is a JSON 400 naming the parameter -------------------------------------------
BAD_QUERIES: list[tuple[str, str, str]] = [
    ("/api/v1/events", "tz=" + "A" * 5_000, "tz"),
    ("/api/v1/events", "tz=Mars/Olympus", "tz"),
    ("/api/v1/events", "tz=../../etc/passwd", "tz"),
    ("/api/v1/events", "from=9999-12-31", "from"),
    ("/api/v1/events", "to=9999-12-31", "to"),
    ("/api/v1/events", "from=0001-01-01&tz=Europe/Berlin", "from"),
    ("/api/v1/events", "from=2026-02-30", "from"),
    ("/api/v1/events", "from=2026-05-01T25:00", "from"),
    ("/api/v1/events", "from=%D9%A2%D9%A0%D9%A2%D9%A6-05-01", "from"),
    ("/api/v1/events", "to=yesterday", "to"),
    ("/api/v1/events", "range=7d&from=2026-05-01", "range"),
    ("/api/v1/events", "from=2026-05-10&to=2026-05-01", "to"),
    ("/api/v1/events", "range=1y", "range"),
    ("/api/v1/events", "limit=", "limit"),
    ("/api/v1/events", "limit=0", "limit"),
    ("/api/v1/events", "limit=10001", "limit"),
    ("/api/v1/events", "limit=" + "9" * 5_000, "limit"),
    ("/api/v1/events", "limit=%C2%B2", "limit"),
    ("/api/v1/events", "limit=1e3", "limit"),
    ("/api/v1/events", "limit=10&limit=20", "limit"),
    ("/api/v1/events", "after=-1", "after"),
    ("/api/v1/events", "after=" + "9" * 40, "after"),
    ("/api/v1/events", "after=%FF", "after"),
    ("/api/v1/events", "outcome=", "outcome"),
    ("/api/v1/events", "outcome=maybe", "outcome"),
    ("/api/v1/events", "outcome=success&outcome=failure", "outcome"),
    ("/api/v1/events", "format=xml", "format"),
    ("/api/v1/events", "format=", "format"),
    ("/api/v1/events", "countries=ZZ", "countries"),
    ("/api/v1/events", "countries=Germany", "countries"),
    ("/api/v1/events", "countries=DE,,FR", "countries"),
    ("/api/v1/events", "users=", "users"),
    ("/api/v1/events", "users=%FE%FF", "users"),
    ("/api/v1/events", "categories=nonsense", "categories"),
    ("/api/v1/events", "weekdays=8", "weekdays"),
    ("/api/v1/events", "hours=24", "hours"),
    ("/api/v1/events", "ip=300.1.1.1", "ip"),
    ("/api/v1/events", "ip=fe80::1%25eth0", "ip"),
    ("/api/v1/events", "q=" + "x" * 201, "q"),
    ("/api/v1/events", "q=a%00b", "q"),
    ("/api/v1/events", "colour=blue", "colour"),
    ("/api/v1/events", "%FF=1", "\ufffd"),
    ("/api/v1/alerts", "limit=", "limit"),
    ("/api/v1/alerts", "limit=5001", "limit"),
    ("/api/v1/alerts", "status=closed", "status"),
    ("/api/v1/alerts", "severity=urgent", "severity"),
    ("/api/v1/alerts", "rule=", "rule"),
    ("/api/v1/alerts", "limit=1&limit=2", "limit"),
    ("/api/v1/alerts", "since=2026-01-01", "since"),
]


@pytest.mark.parametrize(("route", "query", "parameter"), BAD_QUERIES, ids=[q[:40] for _r, q, _p in BAD_QUERIES])
def test_a_bad_parameter_is_a_json_400_naming_it(store: Store, route: str, query: str, parameter: str) -> None:
    status, reply, content_type = _get(store, f"{route}?{query}")
    assert status == 400, reply
    assert content_type == "application/json"
    assert isinstance(reply["error"], str) and reply["error"]
    named = reply.get("parameter") or ""
    assert named == parameter or parameter in reply["error"], reply


def test_good_parameters_still_read(store: Store) -> None:
    status, reply, _ = _get(
        store,
        "/api/v1/events?from=2026-05-01&to=2026-05-31&tz=Europe/Berlin&countries=de,US&users=u1"
        "&users=u2&outcome=success&weekdays=1,2,3,4,5,6,7&hours=0,10,12&limit=5",
    )
    assert status == 200, reply
    assert "countries=de%2CUS" in reply["next"] and "users=u1%2Cu2" in reply["next"]
    status, reply, _ = _get(store, "/api/v1/events?actions=agent.update&limit=100")
    assert status == 200 and reply["count"] == len(POISON) + 7, reply
