"""The PDF cover's "Generated at" line: the time once, in the pack's zone, and UTC only when it differs."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dashboard.packs.pdf import generated_text


def test_the_pdf_cover_prints_the_time_once() -> None:
    moment = datetime(2026, 5, 4, 23, 3, 7, tzinfo=UTC)
    utc = moment.replace(tzinfo=None)
    assert generated_text(moment, utc, "UTC") == "2026-05-04 23:03:07 UTC"
    berlin = moment.astimezone(ZoneInfo("Europe/Berlin"))
    assert generated_text(berlin, utc, "Europe/Berlin") == "2026-05-05 01:03:07 Europe/Berlin (2026-05-04 23:03:07 UTC)"
    noon = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)
    assert (
        generated_text(noon.astimezone(ZoneInfo("Europe/Berlin")), noon.replace(tzinfo=None), "Europe/Berlin")
        == "2026-05-04 14:00:00 Europe/Berlin (12:00:00 UTC)"
    )
