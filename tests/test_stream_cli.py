"""`auditdash streams list|pause|resume`: what the Streams page shows, on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import cli, event


def test_streams_on_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "audit.duckdb"
    events = tmp_path / "events.ndjson"
    events.write_text("\n".join(json.dumps(event(id=f"e{i}")) for i in range(3)) + "\n")
    cli("ingest", str(events), "--db", str(db))
    streams = tmp_path / "streams.json"
    dest = {"name": "siem", "kind": "http", "url": "http://127.0.0.1:9/in", "start": "beginning"}
    streams.write_text(json.dumps({"destinations": [dest]}))
    env = {"AUDITDASH_STREAMS": str(streams)}

    listed = json.loads(cli("streams", "list", "--json", "--db", str(db), env=env).stdout)
    assert [(r["name"], r["origin"], r["state"]) for r in listed] == [("siem", "settings", "not started")]

    paused = json.loads(cli("streams", "pause", "siem", "--json", "--db", str(db), env=env).stdout)
    assert paused[0]["state"] == "paused" and paused[0]["lag_events"] >= 3  # nothing delivered yet
    text = cli("streams", "list", "--db", str(db), env=env).stdout
    assert "siem (settings): paused" in text

    resumed = json.loads(cli("streams", "resume", "siem", "--json", "--db", str(db), env=env).stdout)
    assert resumed[0]["state"] != "paused"
    unknown = cli("streams", "pause", "nope", "--db", str(db), env=env, check=False)
    assert unknown.returncode != 0 and "nope" in unknown.stdout + unknown.stderr
    assert "Traceback" not in unknown.stderr

    nothing = cli("streams", "list", "--db", str(db)).stdout
    assert "no destinations" in nothing
