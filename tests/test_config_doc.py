"""docs/configuration.md gives every setting one row: its name, its variable and its default."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard import config
from tests.conftest import ROOT


def _rows() -> dict[str, list[str]]:
    """The settings table's rows by variable: [setting, variable, default, meaning]."""
    rows: dict[str, list[str]] = {}
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 4:
            for env in re.findall(r"`(AUDITDASH_[A-Z0-9_]+)`", cells[1]):
                rows[env] = cells
    return rows


def _shown(default: object) -> str | None:
    """How the table writes a default, or None where it describes it in words (unset: derived)."""
    if default is None:
        return None
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, Path):
        return f"`{default}`"
    if default == "":
        return "empty"
    return f"`{default}`"


def test_every_setting_has_a_row_with_its_name_variable_and_default() -> None:
    rows = _rows()
    problems = []
    for setting in config.SETTINGS:
        row = rows.get(setting.env)
        if row is None:
            problems.append(f"{setting.env}: no row in the settings table")
            continue
        if row[0].strip("`") != setting.name:
            problems.append(f"{setting.env}: the row names {row[0]!r}, the setting is {setting.name!r}")
        shown = _shown(setting.default)
        if shown is None:
            if not row[2]:
                problems.append(f"{setting.env}: the default column is empty")
        elif not row[2].startswith(shown):
            problems.append(f"{setting.env}: the default column says {row[2]!r}, the default is {shown}")
    assert not problems, "\n".join(problems)


def test_every_row_is_a_setting() -> None:
    known = {s.env for s in config.SETTINGS}
    assert sorted(set(_rows()) - known) == []
