"""The status strip above every page: what is wrong with the store or the set-up, in words.

It shows, only when something is wrong or not known yet:

* the integrity state recorded in the `meta` table under `integrity_status`
  (`{"checked_at", "ok", "scope", "events", "problem"}`): "not yet verified since start" until a
  verification finished after this server started, a red strip when the last one failed;
* geolocation below city level (no city database: no cities on the map, no impossible travel);
* a reports folder this process cannot write (compliance packs cannot be written);
* a storage fault met while serving a page (full disk, damaged file: dashboard.store.faults),
  written here by the app's callback error handler.

Every role sees it, the wall too (bigger there). On ordinary pages a timer re-reads it; on the
wall the wall's own refresh timer does, in a callback of the wall page (`pages/wall.py`: the wall
role may run the wall page's callbacks only, which write `wall-` ids).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

#: ids of the strip in the shell, and on the wall (whose callbacks must write `wall-` ids only).
STRIP = "status-strip"
FAULT = "status-fault"
TICK = "status-tick"
WALL_STRIP = "wall-status-strip"
WALL_FAULT = "wall-status-fault"
#: seconds between re-reads of the strip on ordinary pages.
REFRESH_S = 60


@dataclass(frozen=True)
class Notice:
    """One line of the strip."""

    key: str
    level: str  # "danger" or "warning"
    text: str


# -- reading the state ------------------------------------------------------------------------------
def read_integrity(db: Any) -> dict[str, Any] | None:
    """The recorded integrity state, or None when there is none (or it cannot be understood)."""
    from dashboard.evidence.status import read_integrity_status

    return _as_dict(read_integrity_status(db))


def _as_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "to_json"):
        return _as_dict(value.to_json())
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return None


def _when(value: Any) -> datetime | None:
    """A recorded time as naive UTC (ISO text with or without `Z`/offset, or a datetime)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _show_time(value: Any) -> str:
    moment = _when(value)
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else str(value or "an unknown time")


def integrity_notice(status: Mapping[str, Any] | None, started_at: datetime | None) -> Notice | None:
    """The integrity line: None when a verification since start passed."""
    if status is not None and status.get("ok") is False:
        problem = status.get("problem") or "the hash chain does not verify"
        return Notice(
            "integrity",
            "danger",
            f"Integrity check failed at {_show_time(status.get('checked_at'))}: {problem} — see Retention.",
        )
    checked = _when(status.get("checked_at")) if status else None
    if status is None or status.get("ok") is not True or checked is None or (started_at and checked < started_at):
        return Notice("integrity", "warning", "Integrity: not yet verified since start.")
    return None


def reports_problem(folder: Path | str) -> str | None:
    """None when compliance packs can be written to `folder` (or it can be created); else why not."""
    target = Path(folder)
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return (
            f"reports folder {target} cannot be created ({probe} is not a folder): compliance packs cannot be "
            "written. Set AUDITDASH_REPORTS_DIR to a writable folder."
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        return (
            f"reports folder {target} is not writable by this process ({probe}): compliance packs cannot be "
            "written. Make it writable or set AUDITDASH_REPORTS_DIR."
        )
    return None


def notices(app_state: Any, started_at: datetime | None) -> list[Notice]:
    """Everything the strip should say now (empty: nothing is wrong)."""
    found: list[Notice] = []
    integrity = integrity_notice(read_integrity(app_state.db), started_at)
    if integrity:
        found.append(integrity)
    shortfall = app_state.geo.shortfall
    if shortfall:
        found.append(Notice("geo", "warning", "Geolocation: " + shortfall))
    reports = reports_problem(app_state.settings.reports_dir)
    if reports:
        found.append(Notice("reports", "warning", "Reports: " + reports))
    return found


# -- drawing it -----------------------------------------------------------------------------------
def render(found: list[Notice], wall: bool = False) -> list[Any]:
    """The strip's lines (an empty list draws nothing)."""
    size = "fs-4 fw-semibold py-3" if wall else "py-1 small"
    return [
        dbc.Alert(n.text, color=n.level, className=f"mb-1 {size} ad-status-{n.key}", id=f"status-{n.key}")
        for n in found
    ]


def fault_alert(message: str, wall: bool = False) -> dbc.Alert:
    """A storage fault met while serving a page: the store cannot be read or written."""
    size = "fs-4 fw-semibold py-3" if wall else "py-1 small"
    return dbc.Alert(f"The store cannot be read or written: {message}", color="danger", className=f"mb-1 {size}")


def strip(found: list[Notice], wall: bool = False, refresh_s: int = REFRESH_S) -> html.Div:
    """The strip with its timer, as the shell (or the wall's bare layout) places it."""
    parts: list[Any] = [html.Div(render(found, wall), id=WALL_STRIP if wall else STRIP)]
    parts.append(html.Div(id=WALL_FAULT if wall else FAULT))
    if not wall:
        parts.append(dcc.Interval(id=TICK, interval=max(refresh_s, 1) * 1000))
    return html.Div(
        parts,
        className="ad-status" + (" ad-status--wall" if wall else ""),
        role="status",
    )
