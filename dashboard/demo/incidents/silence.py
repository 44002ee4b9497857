"""A silent log source: the smallest account (acme-labs) sends nothing for 27 hours around a
weekday (the `log_silence` rule). Its evidence is the absence: the truth names the last event
before the gap and the first one after it."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from dashboard.demo.catalog import SILENT_ACCOUNT
from dashboard.demo.clock import DAY_MS, HOUR_MS, day_ms
from dashboard.demo.incidents.base import Incident, Scenario
from dashboard.demo.world import World


def plan_silent_source(w: World, sc: Scenario, day: date) -> None:
    """From an hour before the UTC day to two hours after it; no session is picked in the gap."""
    g_start = day_ms(day) - HOUR_MS
    g_end = day_ms(day) + DAY_MS + 2 * HOUR_MS
    w.sessions.silent = (g_start, g_end)
    sc.incidents.append(Incident("silent_source", [], SILENT_ACCOUNT, g_start, g_end))


def silent_source_evidence(
    inc: Incident, cols: dict[str, npt.NDArray[np.signedinteger[Any]]]
) -> tuple[list[int], dict[str, Any]]:
    """Positions of the events on both sides of the gap, and the gap as planned and as observed."""
    labs = np.flatnonzero(cols["acct"] == SILENT_ACCOUNT)
    tl = cols["t"][labs]
    before = labs[tl < inc.start]
    after = labs[tl >= inc.end]
    positions = before[-1:].tolist() + after[:1].tolist()
    details: dict[str, Any] = {"gap_hours": round((inc.end - inc.start) / HOUR_MS, 2)}
    if before.size and after.size:
        details["observed_gap_hours"] = round((int(cols["t"][after[0]]) - int(cols["t"][before[-1]])) / HOUR_MS, 2)
    return positions, details
