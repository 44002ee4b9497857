"""Calendar date presets (yesterday, last week, last month, last quarter, month and year to date).

They are whole local days in the view's zone, exact across daylight-saving changes; they travel in
the URL (`range=last-month`), read in words with their dates, select exactly their rows in the
database, and the sidebar offers them. Pure functions and one small DuckDB file: under a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.filters import CALENDAR_PRESETS, PRESET_LABELS, PRESETS, Filters, View
from dashboard.store.db import Database
from dashboard.store.schema import events
from dashboard.web import ids
from dashboard.web.components import filterbar
from tests.conftest import event
from tests.test_store import store


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("preset", "tz", "now", "start", "end"),
    [
        # Europe/Berlin leaves summer time on 2026-10-25: October has 31 days and one hour more
        ("last-month", "Europe/Berlin", "2026-11-02T10:00", "2026-09-30T22:00", "2026-10-31T23:00"),
        # the week of the change: Monday 19 October to Monday 26 October, local midnights
        ("last-week", "Europe/Berlin", "2026-10-28T09:00", "2026-10-18T22:00", "2026-10-25T23:00"),
        # New York's spring change (2026-03-08) makes that yesterday 23 hours long
        ("yesterday", "America/New_York", "2026-03-09T15:00", "2026-03-08T05:00", "2026-03-09T04:00"),
        # January: the last quarter is the previous year's fourth
        ("last-quarter", "UTC", "2026-01-15T08:00", "2025-10-01T00:00", "2026-01-01T00:00"),
        ("last-quarter", "Asia/Tokyo", "2026-05-20T08:00", "2025-12-31T15:00", "2026-03-31T15:00"),
        # "to date" ranges end now
        ("mtd", "Europe/Berlin", "2026-12-07T09:31", "2026-11-30T23:00", "2026-12-07T09:31"),
        ("ytd", "America/Los_Angeles", "2026-12-07T09:31", "2026-01-01T08:00", "2026-12-07T09:31"),
        # 23:30 UTC on 31 March is already 1 April in Berlin: month to date starts there
        ("mtd", "Europe/Berlin", "2026-03-31T23:30", "2026-03-31T22:00", "2026-03-31T23:30"),
    ],
)
def test_calendar_presets_are_local_midnights(preset: str, tz: str, now: str, start: str, end: str) -> None:
    f = Filters.from_query(f"range={preset}&tz={tz}")
    assert f.preset == preset and not f.problems
    assert f.resolve_range(_utc(now).replace(tzinfo=UTC)) == (_utc(start), _utc(end))


def test_the_zone_decides_which_day_was_yesterday() -> None:
    now = datetime(2026, 6, 10, 20, 0, tzinfo=UTC)  # already 11 June in Tokyo, still 10 June in Los Angeles
    tokyo = Filters.from_query("range=yesterday&tz=Asia/Tokyo").resolve_range(now)
    los_angeles = Filters.from_query("range=yesterday&tz=America/Los_Angeles").resolve_range(now)
    assert tokyo == (datetime(2026, 6, 9, 15), datetime(2026, 6, 10, 15))  # 10 June in Tokyo
    assert los_angeles == (datetime(2026, 6, 9, 7), datetime(2026, 6, 10, 7))  # 9 June in Los Angeles


@pytest.mark.parametrize("preset", CALENDAR_PRESETS)
def test_presets_travel_in_the_url_and_read_in_words(preset: str) -> None:
    f = Filters.from_query(f"range={preset}&tz=Europe/Berlin&accounts=acme")
    again = Filters.from_query(f.to_query())
    assert again == f and f"range={preset}" in f.to_query()
    assert filterbar.link_query(Filters.from_query(filterbar.link_query(f))) == filterbar.link_query(f)
    words = f.describe(datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    assert words.startswith(PRESET_LABELS[preset] + " (")


def test_closed_periods_name_their_days() -> None:
    now = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    month = Filters.from_query("range=last-month&tz=Europe/Berlin").describe(now)
    assert month.startswith("Last month (2026-10-01 to 2026-10-31), Europe/Berlin")
    day = Filters.from_query("range=yesterday&tz=Europe/Berlin").describe(now)
    assert day.startswith("Yesterday (2026-11-01), Europe/Berlin")
    mtd = Filters.from_query("range=mtd&tz=Europe/Berlin").describe(now)
    assert mtd.startswith("Month to date (2026-11-01 00:00 to 2026-11-02 11:00)")


def test_an_unknown_range_is_dropped_with_a_note_naming_the_presets() -> None:
    f = Filters.from_query("range=last-decade")
    assert f.preset == "7d"
    assert f.problems and "last-month" in f.problems[0] and "ytd" in f.problems[0]


def test_last_month_selects_exactly_its_rows(tmp_path) -> None:
    # Berlin: October 2026 is 2026-09-30T22:00Z to 2026-10-31T23:00Z
    docs = [
        event(id="before", occurred_at="2026-09-30T21:59:59Z"),
        event(id="first", occurred_at="2026-09-30T22:00:00Z"),
        event(id="after-change", occurred_at="2026-10-31T22:30:00Z"),  # 23:30 local on 31 October
        event(id="november", occurred_at="2026-10-31T23:00:00Z"),
    ]
    now = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    with Database(tmp_path / "presets.duckdb") as db:
        store(db, docs)
        view = View.of(Filters.from_query("range=last-month&tz=Europe/Berlin"), now)
        with db.connect() as conn:
            found = {r[0] for r in conn.execute(sa.select(events.c.event_id).where(view.where()))}
    assert found == {"first", "after-change"}


def _by_id(component: Any, wanted: str) -> Any:
    """The component with id `wanted` in a layout tree."""
    if getattr(component, "id", None) == wanted:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found = _by_id(child, wanted)
            if found is not None:
                return found
    return None


def test_the_sidebar_offers_every_preset_and_applies_it() -> None:
    side = filterbar.sidebar(filterbar.Choices(), masked=False)
    buttons = _by_id(side, ids.F_PRESET)
    offered = {o["value"]: o["label"] for o in buttons.options}
    assert set(PRESETS) | {"custom"} == set(offered)
    assert [offered[p] for p in CALENDAR_PRESETS] == [
        "Yesterday",
        "Last week",
        "Last month",
        "Last quarter",
        "Month to date",
        "Year to date",
    ]
    controls = filterbar.Controls(preset="last-quarter")
    f = filterbar.apply_control(Filters(tz="Europe/Berlin"), ids.F_PRESET, controls, None)
    assert f.preset == "last-quarter" and f.tz == "Europe/Berlin"
    # the calendar opens over the page, so its two months are never cut by the sidebar or a card
    assert _by_id(side, ids.F_DATES).with_portal is True
