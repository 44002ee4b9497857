"""What to generate: the demo's size, seed, period and whether incidents are planted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class DemoSpec:
    """What to generate. The same spec always gives the same events."""

    days: int = 90
    seed: int = 7
    events: int = 500_000  # approximate total; within +-3 %
    incidents: bool = True
    end: datetime | None = None  # tz-aware UTC; None = now floored to the minute


#: the longest demo period, in days (ten years)
MAX_DAYS = 3_660


def checked_end(spec: DemoSpec) -> datetime:
    """Check the spec and return the end of its period in UTC (now, floored to the minute, if unset)."""
    if spec.days < 1:
        raise ValueError("--days must be at least 1")
    if spec.days > MAX_DAYS:  # a period reaching before 2000 (or past what a date holds) cannot be stored
        raise ValueError(f"--days must be at most {MAX_DAYS}")
    if spec.seed < 0:
        raise ValueError("--seed must be 0 or more")
    if spec.incidents and spec.days < 7:
        raise ValueError("planting incidents needs at least 7 days: --days 7 or more, or --no-incidents")
    if spec.events < 1_000:
        raise ValueError("--events must be at least 1000")
    end = spec.end
    if end is None:
        end = datetime.now(UTC).replace(second=0, microsecond=0)
    elif end.tzinfo is None or end.utcoffset() is None:
        raise ValueError("end must be timezone-aware (UTC)")
    return end.astimezone(UTC)
