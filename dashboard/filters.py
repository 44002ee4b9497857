"""The filter model: one frozen dataclass is the single source of truth for "the current view".

It round-trips to the URL query string (so a copied link reproduces the view), to a
`dcc.Store` (so it survives moving between pages), to SQLAlchemy conditions (so every query,
chart, explorer page and compliance pack filters the same way) and to words (for the report
cover: "2026-08-01 to 2026-10-31, Europe/Berlin, authentication events, all users").

Values from the URL are untrusted: unknown keys are ignored, bad values are dropped with a
note in `Filters.problems`, and nothing reaches SQL except as a bound parameter.

Times of day (`weekdays`, `hours`) are local to the view's zone. Events are stored in naive UTC,
so each row is shifted to local time in SQL by a `CASE` over the zone's UTC offsets in the
range (`zone_segments`, `local_clock`): exact across daylight-saving changes, and far cheaper
than the database's own time-zone conversion. The dashboard's charts use the same shift.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
import sqlalchemy.ext.compiler

from dashboard.events.contract import OUTCOMES
from dashboard.events.taxonomy import CATEGORIES, CATEGORY_TITLES
from dashboard.store.schema import events
from dashboard.when import WhenError, in_zone, parse_when

#: rolling ranges: the span up to now.
ROLLING_PRESETS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
#: calendar ranges: whole local days in the view's zone (a closed period, or up to now for "to date").
CALENDAR_PRESETS: tuple[str, ...] = ("yesterday", "last-week", "last-month", "last-quarter", "mtd", "ytd")
#: every preset (the URL's `range=`): a rolling span, or None for a calendar range.
PRESETS: dict[str, timedelta | None] = {**ROLLING_PRESETS, **dict.fromkeys(CALENDAR_PRESETS)}
PRESET_LABELS: dict[str, str] = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "yesterday": "Yesterday",
    "last-week": "Last week",
    "last-month": "Last month",
    "last-quarter": "Last quarter",
    "mtd": "Month to date",
    "ytd": "Year to date",
}
DEFAULT_PRESET = "7d"


def calendar_days(preset: str, today: date) -> tuple[date, date | None]:
    """The local days of a calendar preset around `today`: [first, end) or (first, None) for "to now".

    Weeks run Monday to Sunday (ISO 8601); quarters start in January, April, July and October.
    """
    if preset == "yesterday":
        return today - timedelta(days=1), today
    if preset == "last-week":
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday
    if preset == "last-month":
        first = today.replace(day=1)
        return (first - timedelta(days=1)).replace(day=1), first
    if preset == "last-quarter":
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        previous = (first - timedelta(days=1)).replace(day=1)
        return date(previous.year, 3 * ((previous.month - 1) // 3) + 1, 1), first
    if preset == "mtd":
        return today.replace(day=1), None
    if preset == "ytd":
        return date(today.year, 1, 1), None
    raise ValueError(f"{preset!r} is not a calendar preset")


#: the columns free text searches: actor, target and changed values.
TEXT_COLUMNS: tuple[str, ...] = (
    "actor_id",
    "actor_name",
    "actor_email",
    "target_id",
    "target_name",
    "changes",
)

_LIST_KEYS = ("users", "roles", "categories", "actions", "countries", "accounts")
#: list filters of whole numbers: key -> (lowest, highest, what one value is).
_NUMBER_KEYS: dict[str, tuple[int, int, str]] = {
    "weekdays": (1, 7, "a weekday from 1 (Monday) to 7 (Sunday)"),
    "hours": (0, 23, "an hour of the day from 0 to 23"),
}
#: every filter that holds a list of values (a link repeats them or separates them by commas).
LIST_FIELDS: tuple[str, ...] = (*_LIST_KEYS, *_NUMBER_KEYS)
_MAX_CIDR_BLOCKS = 256
WEEKDAY_NAMES: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: stored events lie between these bounds (the event contract): 2000-01-01, and 24 hours after
#: they arrive. A range wider than that (the read API's "whole log") needs the zone's offsets only there.
_EARLIEST_EVENT = datetime(2000, 1, 1)
_LATEST_EVENT_AHEAD = timedelta(days=2)

Segments = tuple[tuple[datetime, timedelta], ...]


#: the longest IANA zone name is 32 characters; anything much longer is not one
_MAX_ZONE_NAME = 64
#: the free text search keeps this many characters
TEXT_MAX = 200
#: a list filter keeps this many values, each at most `_MAX_ITEM` characters
_MAX_ITEMS = 200
_MAX_ITEM = 256
#: filters that take one value (a link repeating them keeps the last, with a note)
_SINGLE_KEYS = ("tz", "range", "from", "to", "outcome", "ip", "q", "own")
#: the dashboard's own activity (Filters.dashboard_activity)
OWN_CATEGORY = "audit"


def _zone(name: str) -> ZoneInfo | None:
    if not name or len(name) > _MAX_ZONE_NAME or not name.isprintable():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def shown(value: str, limit: int = 40) -> str:
    """A value from a link as a problem message quotes it: `repr`, cut to `limit` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _format_when(value: datetime, end: bool) -> str:
    if value.time() == time() and value.second == 0:
        day = value.date() - timedelta(days=1) if end else value.date()
        return day.isoformat()
    return value.isoformat(timespec="minutes")


def _numbers(key: str, items: tuple[str, ...], problems: list[str]) -> tuple[int, ...]:
    """Whole numbers within the key's bounds; anything else is dropped with a note."""
    low, high, what = _NUMBER_KEYS[key]
    out: list[int] = []
    bad = 0
    for item in items:
        number = int(item) if item.isascii() and item.isdigit() and len(item) <= 2 else None
        if number is None or not low <= number <= high:
            bad += 1
            if bad <= 10:
                problems.append(f"{key}={shown(item)} is not {what}")
        elif number not in out:
            out.append(number)
    if bad > 10:
        problems.append(f"and {bad - 10} more values of {key} that are not {what}")
    return tuple(out)


def _runs(values: tuple[int, ...]) -> list[tuple[int, int]]:
    """Sorted values as runs of consecutive numbers: (1, 2, 3, 5) -> [(1, 3), (5, 5)]."""
    runs: list[tuple[int, int]] = []
    for v in sorted(set(values)):
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def describe_weekdays(weekdays: tuple[int, ...]) -> str:
    """Weekdays in words: "Tuesdays", "Mon, Tue", "Mon-Fri", "Mon-Wed, Sat"."""
    if len(weekdays) == 1:
        return WEEKDAY_NAMES[weekdays[0] - 1] + "s"
    parts = []
    for first, last in _runs(weekdays):
        a, b = WEEKDAY_NAMES[first - 1][:3], WEEKDAY_NAMES[last - 1][:3]
        if first == last:
            parts.append(a)
        elif last == first + 1:
            parts.extend((a, b))
        else:
            parts.append(f"{a}-{b}")
    return ", ".join(parts)


def describe_hours(hours: tuple[int, ...]) -> str:
    """Hours of the day as clock spans: (14,) -> "14:00-15:00"; 9..17 -> "09:00-18:00"."""
    return ", ".join(f"{first:02d}:00-{last + 1:02d}:00" for first, last in _runs(hours))


# -- local time in SQL -----------------------------------------------------------------------------------
def _offset(zone: ZoneInfo, utc: datetime) -> timedelta:
    off = in_zone(utc, zone).utcoffset()
    return off or timedelta(0)


def zone_segments(zone: ZoneInfo, start: datetime, end: datetime) -> Segments:
    """The UTC offsets `zone` uses over [start, end): ((utc_from, offset), ...), the first from `start`.

    Offsets change at most a few times a year, so the range is sampled daily and each change
    is narrowed to its minute by bisection (transitions fall on whole minutes).
    """
    segments = [(start, _offset(zone, start))]
    t = start
    while t < end:
        nxt = min(t + timedelta(days=1), end)
        current = segments[-1][1]
        if _offset(zone, nxt) != current:
            base = t.replace(second=0, microsecond=0)
            lo, hi = 0, math.ceil((nxt - base).total_seconds() / 60)
            while hi - lo > 1:  # offset(base + lo) == current != offset(base + hi)
                mid = (lo + hi) // 2
                if _offset(zone, base + timedelta(minutes=mid)) == current:
                    lo = mid
                else:
                    hi = mid
            change = base + timedelta(minutes=hi)
            if start < change < end:
                segments.append((change, _offset(zone, change)))
        t = nxt
    return tuple(segments)


def local_clock(column: sa.ColumnElement[Any], segments: Segments) -> sa.ColumnElement[Any]:
    """`column` (naive UTC) as naive local time, given the zone's offsets over the rows' range.

    A `CASE` with the change instants and offsets as bound parameters, newest first (most rows
    of a log are recent, so most rows stop at the first test). Rows before the first segment
    get its offset, so `segments` must cover every row the query keeps.
    """
    if len(segments) == 1:
        return column + sa.literal(segments[0][1], sa.Interval)
    whens = [
        (column >= sa.literal(at, sa.DateTime), column + sa.literal(off, sa.Interval))
        for at, off in reversed(segments[1:])
    ]
    return sa.case(*whens, else_=column + sa.literal(segments[0][1], sa.Interval))


@dataclass(frozen=True)
class Filters:
    """What the user is looking at.

    Attributes:
        preset: a rolling range (`24h`, `7d`, `30d`, `90d`), a calendar range in `tz` (`yesterday`,
            `last-week`, `last-month`, `last-quarter`, `mtd`, `ytd`: see `calendar_days`), or None
            for the custom range.
        start: custom range start, a local time in `tz` (inclusive).
        end: custom range end, a local time in `tz` (exclusive; a date in the URL means its whole day).
        users: actor ids.
        roles: actor roles.
        categories: action categories.
        actions: actions.
        outcome: success, failure or unknown; None for all.
        ip: an address or a CIDR block.
        countries: ISO country codes of the source address.
        accounts: tenants.
        weekdays: local weekdays in `tz`, ISO numbers (1 Monday .. 7 Sunday).
        hours: local hours of the day in `tz` (0..23; 14 means 14:00 to 15:00).
        text: free text over actor, target and changed values.
        tz: the IANA time zone dates are entered and shown in.
        dashboard_activity: include auditdash's own activity (category `audit`: its users'
            sign-ins, views and exports). Off by default: it stays recorded and is shown when
            asked for, here or by choosing the category, but is not mixed into the platform's.
        problems: what was dropped from an untrusted source (not part of the view).
    """

    preset: str | None = DEFAULT_PRESET
    start: datetime | None = None
    end: datetime | None = None
    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    outcome: str | None = None
    ip: str | None = None
    countries: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    weekdays: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    text: str | None = None
    tz: str = "UTC"
    dashboard_activity: bool = False
    problems: tuple[str, ...] = field(default=(), compare=False)

    # -- construction ------------------------------------------------------------------------
    def with_(self, **changes: Any) -> Filters:
        """A copy with some values replaced (lists become tuples)."""
        clean: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
        if "start" in clean or "end" in clean:
            clean.setdefault("preset", None)
        return replace(self, problems=(), **clean)

    @classmethod
    def from_query(cls, query: str | Mapping[str, Any], dashboard_activity: bool = False) -> Filters:
        """Read filters from a URL query string (or Dash's page kwargs); bad values are dropped.

        `dashboard_activity` is the value when the query does not say (`own=1` or `own=0`):
        pages leave the dashboard's own activity out by default; the read API and the streams,
        which hand the whole log to other systems, keep it in.
        """
        if isinstance(query, str):
            raw: dict[str, list[str]] = parse_qs(query.lstrip("?"), keep_blank_values=False)
        else:
            raw = {k: v if isinstance(v, list) else [str(v)] for k, v in query.items() if v not in (None, "")}
        problems: list[str] = []
        values: dict[str, Any] = {"dashboard_activity": dashboard_activity}

        for key in _SINGLE_KEYS:
            given = [v for v in raw.get(key, []) if isinstance(v, str) and v.strip()]
            if len(given) > 1:
                problems.append(f"{key} is given {len(given)} times; the last one is used")
        for key, sent in raw.items():
            if any(isinstance(v, str) and "\ufffd" in v for v in sent):
                label = key if key.isprintable() and len(key) <= 20 else shown(key, 20)
                problems.append(f"{label} holds characters that are not UTF-8 (shown as \ufffd)")

        def first(key: str) -> str | None:
            items = raw.get(key)
            last = items[-1] if items else None
            return last.strip() if isinstance(last, str) and last.strip() else None

        def many(key: str) -> tuple[str, ...]:
            out: list[str] = []
            for item in raw.get(key, []):
                if isinstance(item, str):
                    out.extend(p.strip() for p in item.split(",") if p.strip())
            long = [p for p in out if len(p) > _MAX_ITEM]
            if long:
                problems.append(f"{key}: {len(long)} value(s) longer than {_MAX_ITEM} characters left out")
            kept = tuple(dict.fromkeys(p for p in out if len(p) <= _MAX_ITEM))
            if len(kept) > _MAX_ITEMS:
                problems.append(f"{key} has {len(kept):,} values; the first {_MAX_ITEMS} are used")
                kept = kept[:_MAX_ITEMS]
            return kept

        tz = first("tz") or "UTC"
        if _zone(tz) is None:
            problems.append(f"unknown time zone {shown(tz)}; showing UTC")
            tz = "UTC"
        values["tz"] = tz
        preset = first("range")
        start_text, end_text = first("from"), first("to")
        if start_text or end_text:
            zone = _zone(tz) or UTC

            def when(key: str, text: str | None, end: bool) -> datetime | None:
                if not text:
                    return None
                try:
                    return parse_when(text, end=end, zone=zone)  # local times in the link's zone
                except WhenError as exc:
                    problems.append(f"{key}={exc}")
                    return None

            start, end = when("from", start_text, False), when("to", end_text, True)
            if start and end and end <= start:
                problems.append("the range ends before it starts; showing the default range")
                start = end = None
            if start or end:
                values.update(preset=None, start=start, end=end)
        if preset and "start" not in values and "end" not in values:
            if preset in PRESETS:
                values["preset"] = preset
            else:
                problems.append(f"range={shown(preset)} is not one of {', '.join(PRESETS)}")
        for key in _LIST_KEYS:
            items = many(key)
            if key == "categories":
                bad = [c for c in items if c not in CATEGORIES]
                problems.extend(f"unknown category {shown(c)}" for c in bad[:10])
                if len(bad) > 10:
                    problems.append(f"and {len(bad) - 10} more unknown categories")
                items = tuple(c for c in items if c in CATEGORIES)
            if key == "countries":
                bad = [c for c in items if not (len(c) == 2 and c.isascii() and c.isalpha())]
                if bad:
                    problems.append(f"countries: {', '.join(shown(c) for c in bad[:5])} not a two-letter country code")
                items = tuple(c.upper() for c in items if c not in bad)
            if items:
                values[key] = items
        for key in _NUMBER_KEYS:
            numbers = _numbers(key, many(key), problems)
            if numbers:
                values[key] = numbers
        outcome = first("outcome")
        if outcome:
            if outcome in OUTCOMES:
                values["outcome"] = outcome
            else:
                problems.append(f"outcome={shown(outcome)} is not one of {', '.join(OUTCOMES)}")
        ip = first("ip")
        if ip and (len(ip) > 64 or "%" in ip):
            problems.append(f"ip={shown(ip)} is not an address or CIDR block")
            ip = None
        if ip:
            try:
                if "/" not in ip:
                    ipaddress.ip_address(ip)  # a bare address must be one (ip_network takes "10.0.0.0")
                values["ip"] = canonical_address(ip)
            except ValueError:
                problems.append(f"ip={shown(ip)} is not an address or CIDR block")
        own = first("own")
        if own is not None:
            if own in ("1", "0"):
                values["dashboard_activity"] = own == "1"
            else:
                problems.append(f"own={shown(own)} is not 1 or 0")
        text = first("q")
        if text:
            cleaned = "".join(ch for ch in text if ch.isprintable() or ch == " ").strip()
            if cleaned != text:
                problems.append("q: control characters removed")
            if len(cleaned) > TEXT_MAX:
                problems.append(f"q is {len(cleaned):,} characters long; only the first {TEXT_MAX} are searched")
            if cleaned:
                values["text"] = cleaned[:TEXT_MAX]
        return cls(**values, problems=tuple(problems))

    def to_query(self) -> str:
        """The URL query string (without `?`); default values are left out."""
        pairs: list[tuple[str, str]] = []
        if self.preset is None and (self.start or self.end):
            if self.start:
                pairs.append(("from", _format_when(self.start, end=False)))
            if self.end:
                pairs.append(("to", _format_when(self.end, end=True)))
        elif self.preset and self.preset != DEFAULT_PRESET:
            pairs.append(("range", self.preset))
        for key in _LIST_KEYS:
            items = getattr(self, key)
            if items:
                pairs.append((key, ",".join(items)))
        for key in _NUMBER_KEYS:
            numbers = getattr(self, key)
            if numbers:
                pairs.append((key, ",".join(str(n) for n in numbers)))
        if self.outcome:
            pairs.append(("outcome", self.outcome))
        if self.ip:
            pairs.append(("ip", self.ip))
        if self.text:
            pairs.append(("q", self.text))
        if self.tz != "UTC":
            pairs.append(("tz", self.tz))
        if self.dashboard_activity:
            pairs.append(("own", "1"))
        # (a query without `own` means the reader's default: see `from_query`)
        return urlencode(pairs)

    def to_store(self) -> dict[str, Any]:
        """A JSON-ready dict for `dcc.Store`."""
        data = asdict(self)
        data.pop("problems")
        for key in ("start", "end"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_store(cls, data: Mapping[str, Any] | None) -> Filters:
        """The inverse of `to_store` (None gives the defaults)."""
        if not data:
            return cls()
        known = {f.name for f in fields(cls)} - {"problems"}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key in ("start", "end"):
                values[key] = datetime.fromisoformat(value) if value else None
            elif key in _NUMBER_KEYS:
                values[key] = tuple(int(v) for v in value or ())
            elif isinstance(value, list):
                values[key] = tuple(value)
            else:
                values[key] = value
        return cls(**values)

    # -- time ------------------------------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        """The time zone of the view."""
        return _zone(self.tz) or ZoneInfo("UTC")

    def resolve_range(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The absolute range as naive UTC datetimes: [start, end).

        A custom range is cut to where stored events can lie: from 2000-01-01 (the event
        contract) to two days after now (events may arrive up to 24 hours early). The rows are
        the same; the charts, zone offsets and SQL of `to=2999-12-31` stay those of today.
        """
        now_utc = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        if self.preset in CALENDAR_PRESETS:
            return self._calendar_range(self.preset, now_utc)
        if self.preset is not None or (self.start is None and self.end is None):
            span = ROLLING_PRESETS.get(self.preset or DEFAULT_PRESET, ROLLING_PRESETS[DEFAULT_PRESET])
            return now_utc - span, now_utc
        wall = datetime.now(UTC).replace(tzinfo=None)
        earliest = _EARLIEST_EVENT - timedelta(days=1)
        latest = max(now_utc, wall) + _LATEST_EVENT_AHEAD

        def to_utc(local: datetime) -> datetime:
            inside = min(max(local, earliest), latest)  # far dates would overflow the zone's conversion
            return inside.replace(tzinfo=self.zone).astimezone(UTC).replace(tzinfo=None)

        start = max(to_utc(self.start), earliest) if self.start else _EARLIEST_EVENT
        end = min(to_utc(self.end), latest) if self.end else now_utc
        return min(start, end), end

    def _calendar_range(self, preset: str, now_utc: datetime) -> tuple[datetime, datetime]:
        """A calendar preset as naive UTC: local midnights in the view's zone (exact across DST)."""
        zone = self.zone
        today = in_zone(now_utc, zone).date()
        first, end = calendar_days(preset, today)

        def midnight(day: date) -> datetime:
            return datetime.combine(day, time()).replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)

        return midnight(first), midnight(end) if end is not None else now_utc

    # -- SQL -------------------------------------------------------------------------------------
    def conditions(self, table: sa.Table, now: datetime | None = None) -> list[sa.ColumnElement[bool]]:
        """The WHERE conditions of this view on an events-shaped table (bound parameters only)."""
        c = table.c
        start, end = self.resolve_range(now)
        conds: list[sa.ColumnElement[bool]] = [c.occurred_at >= start, c.occurred_at < end]
        if self.users:
            conds.append(c.actor_id.in_(self.users))
        if self.roles:
            conds.append(c.actor_role.in_(self.roles))
        if self.categories:
            conds.append(c.category.in_(self.categories))
        elif not self.dashboard_activity:
            conds.append(c.category != OWN_CATEGORY)
        if self.actions:
            conds.append(c.action.in_(self.actions))
        if self.outcome:
            conds.append(c.outcome == self.outcome)
        if self.countries:
            conds.append(c.geo_country.in_(self.countries))
        if self.accounts:
            conds.append(c.account_id.in_(self.accounts))
        if self.ip:
            conds.append(ip_condition(c.ip, self.ip))
        if self.text:
            conds.append(TextSearch(table, self.text))
        if self.weekdays or self.hours:
            local = local_clock(c.occurred_at, self._local_segments(start, end, now))
            if self.weekdays:
                conds.append(sa.extract("isodow", local).in_(self.weekdays))
            if self.hours:
                conds.append(sa.extract("hour", local).in_(self.hours))
        return conds

    def _local_segments(self, start: datetime, end: datetime, now: datetime | None) -> Segments:
        """The zone's UTC offsets over the part of [start, end) where stored events can lie."""
        now_utc = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        wall = datetime.now(UTC).replace(tzinfo=None)
        first = max(start, _EARLIEST_EVENT)
        last = min(end, max(now_utc, wall) + _LATEST_EVENT_AHEAD)
        return zone_segments(self.zone, first, max(first, last))

    def where(self, table: sa.Table, now: datetime | None = None) -> sa.ColumnElement[bool]:
        """All conditions joined with AND."""
        return sa.and_(*self.conditions(table, now))

    # -- words ----------------------------------------------------------------------------------
    def describe(self, now: datetime | None = None) -> str:
        """The view in words, for page headers and report covers."""
        parts: list[str] = []
        if self.preset is not None or (self.start is None and self.end is None):
            start, end = self.resolve_range(now)
            local_start, local_end = in_zone(start, self.zone), in_zone(end, self.zone)
            label = PRESET_LABELS.get(self.preset or DEFAULT_PRESET, "")
            if self.preset in CALENDAR_PRESETS and local_end.time() == time() and local_end > local_start:
                final = (local_end - timedelta(days=1)).date()  # a closed period: its days, inclusive
                days = (
                    f"{local_start:%Y-%m-%d}" if final == local_start.date() else f"{local_start:%Y-%m-%d} to {final}"
                )
                parts.append(f"{label} ({days})")
            else:
                parts.append(f"{label} ({local_start:%Y-%m-%d %H:%M} to {local_end:%Y-%m-%d %H:%M})")
        else:
            first = _format_when(self.start, end=False) if self.start else "the beginning"
            last = _format_when(self.end, end=True) if self.end else "now"
            parts.append(f"{first} to {last}")
        parts.append(self.tz)
        if self.weekdays:
            parts.append(describe_weekdays(self.weekdays))
        if self.hours:
            parts.append(("" if self.weekdays else "hours ") + describe_hours(self.hours))
        if self.categories:
            parts.append(", ".join(CATEGORY_TITLES.get(c, c).lower() for c in self.categories))
        if self.actions:
            parts.append("actions " + ", ".join(self.actions))
        if self.outcome:
            parts.append(f"{self.outcome} only")
        parts.append("users " + ", ".join(self.users) if self.users else "all users")
        if self.roles:
            parts.append("roles " + ", ".join(self.roles))
        if self.ip:
            parts.append(f"address {self.ip}")
        if self.countries:
            parts.append("countries " + ", ".join(self.countries))
        if self.accounts:
            parts.append("accounts " + ", ".join(self.accounts))
        if self.text:
            parts.append(f'text "{self.text}"')
        if self.dashboard_activity and not self.categories:
            parts.append("with auditdash's own activity")
        return ", ".join(parts)

    def is_default(self) -> bool:
        """Whether nothing but the default range is set."""
        return self == Filters(tz=self.tz)


def text_scan(table: sa.Table, text: str, columns: tuple[str, ...] = TEXT_COLUMNS) -> sa.ColumnElement[bool]:
    """Free text as a scan: a case-insensitive substring of any of `columns` (`%`, `_`, `\\` literal)."""
    return sa.or_(*(table.c[col].icontains(text, autoescape=True) for col in columns))


class TextSearch(sa.sql.expression.ColumnElement[bool]):
    """The free-text condition of a view on an events-shaped table: `text_scan` over TEXT_COLUMNS.

    It compiles to that scan. On a store that keeps the distinct actors and targets, the store
    rewrites it before it runs into the same rows by equality on the matching values
    (`dashboard.store.rollups.resolve_text`, docs/architecture.md "Free-text search").
    """

    __visit_name__ = "auditdash_text_search"
    inherit_cache = True
    type = sa.Boolean()
    _traverse_internals = [("scan", sa.sql.visitors.InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, table: sa.Table, text: str) -> None:
        self.text = text
        self.scan = text_scan(table, text)

    @property
    def table(self) -> Any:
        """The relation the condition reads (after a statement was adapted to read another, that one)."""
        for element in sa.sql.visitors.iterate(self.scan):
            if isinstance(element, sa.ColumnClause) and element.table is not None:
                return element.table
        return None  # pragma: no cover - the scan always reads columns


@sa.ext.compiler.compiles(TextSearch)
def _compile_text_search(element: TextSearch, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.scan.self_group(), **kw))


#: the characters of an address's text form (no LIKE wildcard among them)
_ADDRESS_PREFIX = re.compile(r"[0-9A-Fa-f.:]+")


def stored_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The address or block `value` as the stored addresses are written: an IPv4-mapped IPv6
    address or block (`::ffff:1.2.3.4`, `::ffff:1.2.3.0/120`) is its IPv4 form, as ingest stores
    it (`ingest.geo`), so such a filter finds those events instead of nothing."""
    net = ipaddress.ip_network(value, strict=False)
    mapped = ipaddress.IPv6Network("::ffff:0:0/96")
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(mapped):
        return ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
    return net


def canonical_address(value: str) -> str:
    """The filter's text of an address or block (`ip=`): an address without `/`, a block with it."""
    net = stored_network(value)
    return str(net.network_address) if "/" not in value else str(net)


def ip_condition(column: sa.ColumnElement[Any], value: str) -> sa.ColumnElement[bool]:
    """Match an address or a CIDR block against the stored text form of addresses.

    Stored addresses are normalised (dotted IPv4, compressed IPv6), so an IPv4 block becomes
    string-prefix tests on whole octets: a /22 is four `a.b.c.` prefixes. That keeps the test
    portable across databases and able to use min/max pruning. A block inside one octet (/25 to
    /31) is its addresses, at most 128. IPv6 blocks: `_ipv6_block`.
    """
    net = stored_network(value)
    if net.num_addresses == 1:
        return column == str(net.network_address)
    if net.version == 6:
        return _ipv6_block(column, net)
    if net.prefixlen == 0:
        return column.like(_fixed("%.%"))
    if net.prefixlen > 24:  # not whole octets: the addresses themselves (a prefix "a.b.c.d." matches none)
        return column.in_([str(a) for a in net])
    octets = (net.prefixlen + 7) // 8
    block = 8 * octets
    subnets = list(net.subnets(new_prefix=block)) if block > net.prefixlen else [net]
    if len(subnets) > _MAX_CIDR_BLOCKS:  # pragma: no cover - cannot happen for IPv4 with whole octets
        raise ValueError(f"{value} spans too many blocks")
    prefixes = [".".join(str(s.network_address).split(".")[:octets]) + "." for s in subnets]
    return sa.or_(*(_starts(column, p) for p in prefixes))


def _ipv6_block(
    column: sa.ColumnElement[Any], net: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> sa.ColumnElement[bool]:
    """An IPv6 block against the stored compressed text (RFC 5952, as `ipaddress` writes it).

    A block of whole hextets none of which is zero is a prefix of the text ("2a02:810:1234:5:" for
    2a02:810:1234:5::/64): every address inside is written so and no other. Otherwise the text's
    leading hextets are written out in full (the `::` expanded, each hextet four digits) and
    compared as text with the block's first and last address: fixed-width lowercase hex sorts as
    its value (2001:db8::/48 is not a prefix of 2001:db8:0:1::, and takes no 2001:db8:1::; a /56
    covers 256 values of its fourth hextet)."""
    if net.prefixlen == 0:
        return column.like(_fixed("%:%"))
    hextets = (net.prefixlen + 15) // 16
    first = net.network_address.exploded.split(":")[:hextets]
    if net.prefixlen % 16 == 0 and all(int(h, 16) for h in first):
        return _starts(column, ":".join(h.lstrip("0") for h in first) + ":")
    last = net.broadcast_address.exploded.split(":")[:hextets]
    colon, zero = _fixed(":"), _fixed("0")
    # the text with its `::` written out: a zero put before a leading and after a trailing `::`,
    # then the `::` replaced by as many zero hextets as are missing (8 minus the colons counted)
    text = (
        sa.case((column.like(_fixed(":%")), zero), else_=_fixed(""))
        + column
        + sa.case((column.like(_fixed("%:")), zero), else_=_fixed(""))
    )
    colons = sa.func.length(text) - sa.func.length(sa.func.replace(text, colon, _fixed("")))
    full = sa.func.replace(text, _fixed("::"), colon + sa.func.repeat(_fixed("0:"), 8 - colons))
    lead: sa.ColumnElement[Any] = sa.func.lpad(sa.func.split_part(full, colon, 1), 4, zero)
    for i in range(2, hextets + 1):
        lead = lead + colon + sa.func.lpad(sa.func.split_part(full, colon, i), 4, zero)
    # the leading whole hextets that are not zero are written as they are in every address inside
    # (the `::` can only begin after them): a prefix test first, so the rest reads only those rows
    known = []
    for h in first[: net.prefixlen // 16]:
        if not int(h, 16):
            break
        known.append(h.lstrip("0"))
    coarse = _starts(column, ":".join(known) + ":") if known else column.like(_fixed("%:%"))
    return sa.and_(coarse, lead.between(_fixed(":".join(first)), _fixed(":".join(last))))


def _starts(column: sa.ColumnElement[Any], prefix: str) -> sa.ColumnElement[bool]:
    """`column` starts with `prefix`, an address prefix (digits, hex digits, dots and colons: no
    wildcard to escape). Written as `LIKE 'prefix%'` with the whole pattern one value: DuckDB tests a
    prefix then, where SQLAlchemy's `startswith` (`LIKE $1 || '%' ESCAPE '/'`) is matched as a
    general pattern, row by row (an address block over 90 days of 10 M events: 67 against 11 ms),
    and the pattern is written into the statement (`_fixed`)."""
    if not _ADDRESS_PREFIX.fullmatch(prefix):  # pragma: no cover - ipaddress writes no other characters
        raise ValueError(f"not an address prefix: {prefix!r}")
    return column.like(_fixed(prefix + "%"))


def _fixed(text: str) -> sa.BindParameter[str]:
    """A constant of an address condition written into the statement (values of `ipaddress` and
    fixed punctuation only): DuckDB folds constants and pushes a prefix test into its scan only for
    values it sees when planning, not for parameters (an IPv6 block over 800,000 rollup rows: 18 ms
    written in, about 100 ms bound)."""
    return sa.bindparam(None, text, type_=sa.String, literal_execute=True)


# -- the view: filters resolved at one instant ------------------------------------------------------
@dataclass(frozen=True)
class View:
    """The filters of one request resolved at one instant: range, zone, WHERE clause.

    The one "filters at an instant" type: pages and their queries (`dashboard.store.analytics`),
    the wall, the explorer's listings (`Snapshot.view`) and packs (`PackView.view`) all resolve
    a view with `View.of`, so a preset such as "last 24 hours" means the same rows everywhere.

    Attributes:
        filters: what the user asked for.
        now: the instant presets are relative to (aware, UTC).
        start: start of the range, naive UTC, inclusive.
        end: end of the range, naive UTC, exclusive.
    """

    filters: Filters
    now: datetime
    start: datetime
    end: datetime
    segments: tuple[tuple[datetime, timedelta], ...] = field(repr=False)

    @classmethod
    def of(cls, filters: Filters, now: datetime | None = None) -> View:
        """Resolve `filters` at `now` (aware, or naive UTC; default: the current time)."""
        if now is None:
            instant = datetime.now(UTC)
        elif now.tzinfo is None:
            instant = now.replace(tzinfo=UTC)
        else:
            instant = now.astimezone(UTC)
        start, end = filters.resolve_range(instant)
        return cls(filters, instant, start, end, zone_segments(filters.zone, start, end))

    @property
    def zone(self) -> ZoneInfo:
        """The zone charts are drawn in."""
        return self.filters.zone

    @property
    def tz(self) -> str:
        """The zone's IANA name, for captions."""
        return self.filters.tz

    def where(self, table: sa.Table = events) -> sa.ColumnElement[bool]:
        """The view's WHERE clause on `events` (or another events-shaped table)."""
        return self.filters.where(table, self.now)

    def local(self, utc: datetime) -> datetime:
        """A naive UTC instant as naive local time in the view's zone."""
        return in_zone(utc, self.zone).replace(tzinfo=None)

    @property
    def local_start(self) -> datetime:
        """Start of the range in local time."""
        return self.local(self.start)

    @property
    def local_end(self) -> datetime:
        """End of the range in local time."""
        return self.local(self.end)
