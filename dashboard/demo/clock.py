"""Time in the demo: events keep integer milliseconds since 1970 (UTC); the period is the
`days` whole days before the spec's end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds and a Z."""
    return (EPOCH + timedelta(milliseconds=int(ms))).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ms_of(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(milliseconds=1)


def day_ms(d: date) -> int:
    """Start of the UTC date d."""
    return ms_of(datetime(d.year, d.month, d.day, tzinfo=UTC))


class Period:
    """The generated period: [p0, p1) in milliseconds, p1 being the end (UTC)."""

    def __init__(self, days: int, end: datetime) -> None:
        self.days = days
        self.end_dt = end
        self.p1 = ms_of(end)
        self.p0 = self.p1 - days * DAY_MS

    def utc_dates(self) -> list[date]:
        """UTC dates whose whole day lies inside the period."""
        first = (self.end_dt - timedelta(days=self.days)).date() + timedelta(days=1)
        out = []
        d = first
        while ms_of(datetime(d.year, d.month, d.day, tzinfo=UTC)) + DAY_MS <= self.p1:
            out.append(d)
            d += timedelta(days=1)
        return out
