"""On demo data with its ground truth every planted incident raises the matching alert; on demo
data without incidents no rule of severity high or above fires. Also the CLI end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboard.demo import DemoSpec, generate
from dashboard.detect.quality import evaluate, missed
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from tests.conftest import cli
from tests.test_detect_helpers import detect, geo

END = datetime(2026, 6, 30, tzinfo=UTC)

pytestmark = pytest.mark.slow


def _load(path: Path, spec: DemoSpec) -> dict[str, Any]:
    batches, truth = generate(spec, batch_size=20_000)
    db = Database(path)
    try:
        ingestor = Ingestor(db, geo())
        for batch in batches:
            ingestor.ingest_batch([(i, json.dumps(e)) for i, e in enumerate(batch)], "demo")
    finally:
        db.close()
    return truth


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any], list[dict[str, Any]]]]:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    truth = _load(path, DemoSpec(days=30, events=40_000, end=END, seed=7))
    db = Database(path)
    try:
        alerts = detect(db).alerts.list(with_evidence=True, limit=10_000)
    finally:
        db.close()
    yield path, truth, alerts


def test_every_planted_incident_raises_its_alerts(planted: tuple[Path, dict[str, Any], list[dict[str, Any]]]) -> None:
    _path, truth, alerts = planted
    assert len(truth["incidents"]) == 7
    assert missed(alerts, truth) == []
    quality = evaluate(alerts, truth, {r for inc in truth["incidents"] for r in inc["rules"]})
    for rule_id, q in quality.items():
        if q.incidents:
            assert q.recall == 1.0, rule_id


def test_high_alerts_on_demo_data_are_the_planted_incidents(
    planted: tuple[Path, dict[str, Any], list[dict[str, Any]]],
) -> None:
    _path, truth, alerts = planted
    quality = evaluate(alerts, truth, ())
    for rule_id, q in quality.items():
        assert q.high_alerts == q.matched_high_alerts, f"{rule_id}: a high alert that is no incident"


def test_the_legitimate_traveller_is_not_impossible_travel(
    planted: tuple[Path, dict[str, Any], list[dict[str, Any]]],
) -> None:
    _path, truth, alerts = planted
    trip = truth["benign"][0]
    assert not [a for a in alerts if a["rule_id"] == "R11" and a["key"].get("user") == trip["user"]]


def test_without_incidents_nothing_high_fires(tmp_path: Path) -> None:
    path = tmp_path / "quiet.duckdb"
    truth = _load(path, DemoSpec(days=30, events=40_000, end=END, seed=11, incidents=False))
    assert truth["incidents"] == []
    db = Database(path)
    try:
        alerts = detect(db).alerts.list(limit=10_000)
    finally:
        db.close()
    loud = [(a["rule_id"], a["alert_key"], a["severity"]) for a in alerts if a["severity"] in ("high", "critical")]
    assert loud == []
    assert alerts, "the informational rules (sensitive changes, MFA resets) still fire"


def test_cli_detect_and_alerts_list(planted: tuple[Path, dict[str, Any], list[dict[str, Any]]], tmp_path: Path) -> None:
    source, truth, alerts = planted
    path = tmp_path / "cli.duckdb"
    path.write_bytes(source.read_bytes())
    out = json.loads(cli("detect", "--db", str(path), "--json").stdout)
    assert out["alerts_created"] == 0  # the alerts are already there: nothing doubles
    assert out["evidence_added"] == 0
    listed = json.loads(cli("alerts", "list", "--db", str(path), "--json").stdout)
    assert len(listed) == len(alerts)
    brute = next(i for i in truth["incidents"] if i["kind"] == "brute_force")
    r6 = [a for a in listed if a["rule"] == "R6" and a["key"]["user"] == brute["user"]]
    assert len(r6) == 1 and r6[0]["severity"] == "critical"
    assert set(r6[0]["evidence_event_ids"]) <= set(brute["event_ids"])
    assert set(r6[0]) >= {"rule", "severity", "key", "window", "event_count", "evidence_event_ids"}
    text = cli("alerts", "list", "--db", str(path), "--severity", "critical").stdout
    assert "R6" in text and "evidence:" in text
    ranged = json.loads(
        cli("detect", "--db", str(path), "--from", brute["start"][:10], "--to", brute["end"][:10], "--json").stdout
    )
    assert ranged["findings_by_rule"]["R1"] == 1 and ranged["alerts_created"] == 0
