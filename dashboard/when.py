"""The one reading of a time typed by a person: command-line options, page fields and link filters.

Grammar (docs/configuration.md, "Times"):

* `YYYY-MM`: a month. As a start, its first instant; as an end, the month is included
  (the end is the first instant of the next month).
* `YYYY-MM-DD`: a day. As an end, the day is included (the end is the next midnight).
* `YYYY-MM-DDTHH:MM[:SS[.ffffff]]`, optionally with an offset (`Z`, `+02:00`): an instant. A
  space may stand for the `T`. Without an offset the time is in the zone the caller reads in
  (UTC on the command line, the chosen time zone on the pages).

Days lie between 2000-01-01 and 2999-12-31 (the event contract starts in 2000). Anything else is
a `WhenError`, a `ValueError` whose message quotes the text and states the grammar.

Showing times: the store keeps naive UTC; `in_zone` is the one conversion to a person's zone, and
`utc_text` writes a stored time for a program (ISO 8601, milliseconds, `Z`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

#: the grammar in words, for messages and help texts.
GRAMMAR = "YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] with an optional offset (Z, +02:00)"
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)

# ASCII digits only: `\d` would take other scripts' digits, which `date.fromisoformat` also reads
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}"  # date and time to the minute
    r"(:[0-9]{2}([.][0-9]{1,6})?)?"  # seconds, fractions
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?"  # offset
)


class WhenError(ValueError):
    """A time that cannot be read: the message quotes it and says what is accepted."""


def parse_when(text: str, end: bool = False, zone: tzinfo = UTC) -> datetime:
    """`text` as a naive time in `zone` (see the module's grammar); an `end` month or day is included.

    Raises:
        WhenError: `text` does not follow the grammar, or lies outside 2000-01-01 .. 2999-12-31.
    """
    value = text.strip()
    quoted = repr(value if len(value) <= 40 else value[:40] + "…")
    try:
        if _MONTH.fullmatch(value):
            first = date.fromisoformat(value + "-01")
            if end:
                first = (first + timedelta(days=31)).replace(day=1)
            moment = datetime.combine(first, time())
        elif _DAY.fullmatch(value):
            moment = datetime.combine(date.fromisoformat(value) + timedelta(days=1 if end else 0), time())
        elif _TIME.fullmatch(value):
            moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment = moment.astimezone(zone).replace(tzinfo=None)
        else:
            raise WhenError(f"{quoted} is not a time: use {GRAMMAR}")
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, WhenError):
            raise
        raise WhenError(f"{quoted} is not a time ({exc}): use {GRAMMAR}") from exc
    day = moment.date() - timedelta(days=1) if end and moment.time() == time() else moment.date()
    if not FIRST_DAY <= day <= LAST_DAY:
        raise WhenError(f"{quoted} is outside {FIRST_DAY} .. {LAST_DAY}")
    return moment


def in_zone(utc: datetime, zone: tzinfo) -> datetime:
    """A stored naive-UTC instant as an aware time in `zone` (`.replace(tzinfo=None)` for naive local)."""
    return utc.replace(tzinfo=UTC).astimezone(zone)


def utc_text(value: Any) -> Any:
    """A stored naive-UTC datetime as ISO 8601 text with milliseconds and `Z`; any other value as it is."""
    return value.isoformat(timespec="milliseconds") + "Z" if isinstance(value, datetime) else value


def when_arg(end: bool = False) -> Callable[[str], datetime]:
    """An argparse `type=` for a UTC time (`end`: a month or day is included); errors as argparse shows them."""

    def read(text: str) -> datetime:
        try:
            return parse_when(text, end=end)
        except WhenError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    read.__name__ = "until" if end else "when"
    return read
