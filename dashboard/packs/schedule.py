"""Scheduled packs: daily, weekly and monthly packs from the configuration, kept and e-mailed.

`AUDITDASH_PACK_SCHEDULES` is either the path of a YAML or JSON file::

    - name: daily-security
      every: daily            # daily | weekly | monthly
      at: "06:00"             # local time the pack is built, after its period ended
      formats: [pdf, csv]
      filters: {tz: Europe/Berlin, categories: authentication}   # or "categories=authentication&tz=..."
      email: [audit@example.com]

or the same inline, entries separated by `;`::

    daily@06:00 formats=pdf,csv tz=Europe/Berlin categories=authentication to=audit@example.com; monthly formats=zip

A schedule may take its filters from a saved view (`view: ID`, inline `view=ID`; the Report page
shows a view's id and the line to add): the view's filters as they are when the pack is built,
without its period (the schedule defines that), in the view's zone unless the schedule sets
`tz`; filters the schedule sets itself win. A view deleted meanwhile fails the build, which
is reported and retried like any failed build.

A daily pack covers the previous local day, a weekly one the previous Monday-to-Sunday week, a
monthly one the previous calendar month, in the schedule's time zone. Each period is built
once (the state file remembers it, so a restart neither skips nor repeats one; a server that
was down builds the latest missed period when it comes back). A failed build is retried.

Each recipient of each pack is one delivery in the outbox; a failed delivery is retried with
a growing delay (up to an hour) until it goes through, and the report page shows it with its
last error. Nothing is dropped.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml

from dashboard.access.users import Actor
from dashboard.config import ConfigError
from dashboard.filters import Filters
from dashboard.packs import mail
from dashboard.packs.model import PackError, PackRequest, parse_formats

log = logging.getLogger(__name__)

PERIODS: tuple[str, ...] = ("daily", "weekly", "monthly")
#: filter keys a schedule may set (the URL's vocabulary, without the period, which the schedule defines).
FILTER_KEYS: tuple[str, ...] = (
    "users",
    "roles",
    "categories",
    "actions",
    "outcome",
    "ip",
    "countries",
    "accounts",
    "weekdays",
    "hours",
    "q",
    "tz",
)
RETRY_DELAYS_S: tuple[int, ...] = (60, 300, 900, 1800, 3600)
BUILD_RETRY_S = 600


class ScheduleError(ConfigError):
    """A schedule cannot be read; the message names the entry and the problem."""


@dataclass(frozen=True)
class Schedule:
    """One recurring pack."""

    name: str
    every: str
    at: time = time(6, 0)
    query: str = ""
    formats: tuple[str, ...] = ("pdf", "csv")
    email: tuple[str, ...] = ()
    title: str | None = None
    view: str | None = None
    """The id of the saved view the filters come from (resolved when a pack is built: `with_view`)."""

    def with_view(self, view_query: str) -> Schedule:
        """This schedule with the saved view's filters under its own (the view's period left out)."""
        own = dict(parse_qsl(self.query, keep_blank_values=False))
        view = dict(parse_qsl(view_query.lstrip("?"), keep_blank_values=False))
        # the view's filters and its own-activity switch; never its period
        theirs = {k: v for k, v in view.items() if k in FILTER_KEYS or k == "own"}
        return Schedule(**{**asdict(self), "query": urlencode({**theirs, **own}), "view": None})

    @property
    def base_filters(self) -> Filters:
        """The schedule's filters, without a period."""
        return Filters.from_query(self.query)

    @property
    def tz(self) -> str:
        """The zone periods are cut in."""
        return self.base_filters.tz

    def period_bounds(self, day: date) -> tuple[date, date]:
        """The period [start, end) that holds `day`."""
        if self.every == "daily":
            return day, day + timedelta(days=1)
        if self.every == "weekly":
            start = day - timedelta(days=day.weekday())
            return start, start + timedelta(days=7)
        start = day.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return start, nxt

    def latest_due(self, now: datetime) -> tuple[date, date]:
        """The newest period whose pack is due at `now`: it ended, and the `at` time of its end day passed."""
        zone = self.base_filters.zone
        local = now.astimezone(zone).replace(tzinfo=None)
        start, end = self.period_bounds(local.date())
        # the period holding today is not over; the one before it is due once `at` has passed on its end day
        start, end = self.period_bounds(start - timedelta(days=1))
        if local < datetime.combine(end, self.at):
            start, end = self.period_bounds(start - timedelta(days=1))
        return start, end

    def next_run(self, now: datetime) -> datetime:
        """When the next period becomes due (aware, in the schedule's zone)."""
        zone = self.base_filters.zone
        _, end = self.latest_due(now)
        _, next_end = self.period_bounds(end)
        return datetime.combine(next_end, self.at).replace(tzinfo=zone)

    def period_key(self, start: date) -> str:
        """`2026-11-25`, `2026-W47`, `2026-11`."""
        if self.every == "daily":
            return start.isoformat()
        if self.every == "weekly":
            year, week, _ = start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{start:%Y-%m}"

    def filters_for(self, start: date, end: date) -> Filters:
        """The filters of one period (local midnight to local midnight in the schedule's zone)."""
        return self.base_filters.with_(
            preset=None, start=datetime.combine(start, time()), end=datetime.combine(end, time())
        )

    def describe(self) -> str:
        """`daily at 06:00 (Europe/Berlin): PDF, CSV; authentication events ...`."""
        words = self.base_filters.describe().split(", ", 2)
        extra = words[2] if len(words) > 2 else "all users"
        if self.view:
            extra = f"the saved view {self.view}" + (f", {extra}" if self.query else "")
        return f"{self.every} at {self.at:%H:%M} ({self.tz}): {', '.join(f.upper() for f in self.formats)}; {extra}"

    def to_json(self) -> dict[str, Any]:
        """For the page and `--json`."""
        return {**asdict(self), "at": f"{self.at:%H:%M}", "tz": self.tz, "description": self.describe()}


# -- reading the configuration --------------------------------------------------------------------
def _time(text: str, where: str) -> time:
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ScheduleError(f"{where}: at={text!r} is not a time like 06:00") from None


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def _filters_query(filters: Any, where: str) -> str:
    if filters in (None, ""):
        return ""
    if isinstance(filters, str):
        items: dict[str, Any] = dict(parse_qsl(filters.lstrip("?"), keep_blank_values=False))
    elif isinstance(filters, Mapping):
        items = dict(filters)
    else:
        raise ScheduleError(f"{where}: filters must be a mapping or a query string")
    bad = [k for k in items if k not in FILTER_KEYS]
    if bad:
        period = [k for k in bad if k in ("from", "to", "range")]
        if period:
            raise ScheduleError(f"{where}: {', '.join(period)} cannot be set: the schedule defines the period")
        raise ScheduleError(f"{where}: unknown filter {', '.join(bad)} (known: {', '.join(FILTER_KEYS)})")
    flat = [(k, ",".join(_list(v)) if isinstance(v, list | tuple) else str(v)) for k, v in items.items()]
    query = urlencode(flat)
    problems = Filters.from_query(query).problems
    if problems:
        raise ScheduleError(f"{where}: {'; '.join(problems)}")
    return query


def _from_mapping(data: Mapping[str, Any], index: int) -> Schedule:
    where = f"schedule {data.get('name') or index + 1}"
    every = str(data.get("every", "")).strip().lower()
    if every not in PERIODS:
        raise ScheduleError(f"{where}: every={every!r} is not one of {', '.join(PERIODS)}")
    known = {"name", "every", "at", "formats", "filters", "email", "to", "title", "view"}
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ScheduleError(f"{where}: unknown key {', '.join(map(str, unknown))} (known: {', '.join(sorted(known))})")
    try:
        formats = parse_formats(_list(data.get("formats")) or ["pdf", "csv"])
    except PackError as exc:
        raise ScheduleError(f"{where}: {exc}") from None
    email = tuple(_list(data.get("email")) + _list(data.get("to")))
    for address in email:
        if "@" not in address or any(c.isspace() for c in address):
            raise ScheduleError(f"{where}: {address!r} is not an e-mail address")
    return Schedule(
        name=str(data.get("name") or every),
        every=every,
        at=_time(str(data.get("at", "06:00")), where),
        query=_filters_query(data.get("filters"), where),
        formats=formats,
        email=email,
        title=str(data["title"]) if data.get("title") else None,
        view=_view_id(data.get("view"), where),
    )


def _view_id(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not (0 < len(text) <= 64 and all(c.isalnum() or c in "-_" for c in text)):
        raise ScheduleError(f"{where}: view={text[:40]!r} is not a saved view's id (the Report page shows it)")
    return text


def _inline(entry: str, index: int) -> dict[str, Any]:
    tokens = entry.split()
    head, rest = tokens[0], tokens[1:]
    every, _, at = head.partition("@")
    data: dict[str, Any] = {"every": every}
    if at:
        data["at"] = at
    filters: dict[str, str] = {}
    for token in rest:
        key, sep, value = token.partition("=")
        if not sep:
            raise ScheduleError(f"schedule {index + 1}: {token!r} is not key=value")
        if key in ("name", "at", "formats", "to", "email", "title", "view"):
            data[key] = value
        else:
            filters[key] = value
    if filters:
        data["filters"] = filters
    return data


def parse_schedules(text: str | Path | None) -> list[Schedule]:
    """Read `AUDITDASH_PACK_SCHEDULES`: a YAML/JSON file, or inline entries separated by `;`."""
    raw = str(text or "").strip()
    if not raw:
        return []
    path = Path(raw).expanduser()
    if raw.endswith((".yaml", ".yml", ".json")) or (len(raw) < 4096 and path.is_file()):
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScheduleError(f"cannot read the schedules file {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise ScheduleError(f"{path} is not valid YAML or JSON: {exc}") from None
        entries = loaded.get("schedules", []) if isinstance(loaded, Mapping) else loaded
        if entries is None:
            entries = []
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise ScheduleError(f"{path}: expected a list of schedules (or `schedules:` with a list)")
        items: list[Mapping[str, Any]] = entries
    else:
        items = [_inline(e.strip(), i) for i, e in enumerate(raw.replace("\n", ";").split(";")) if e.strip()]
    schedules: list[Schedule] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        sched = _from_mapping(item, i)
        if sched.name in seen:
            if "name" in item:
                raise ScheduleError(f"schedule {sched.name}: the name is used twice")
            seen[sched.name] += 1
            sched = Schedule(**{**asdict(sched), "name": f"{sched.name}-{seen[sched.name]}"})
        seen.setdefault(sched.name, 1)
        schedules.append(sched)
    return schedules


# -- state and outbox (JSON files beside the packs) ------------------------------------------------
@dataclass
class Delivery:
    """One pack to one recipient."""

    id: str
    schedule: str
    pack_id: str
    to: str
    created_at: str
    status: str = "pending"  # pending, retrying, sent
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: str | None = None
    sent_at: str | None = None


@dataclass
class ScheduleState:
    """What a schedule last did."""

    last_period: str | None = None
    last_pack: str | None = None
    last_run_at: str | None = None
    last_error: str | None = None
    failures: int = 0
    retry_at: str | None = None


@dataclass
class Book:
    """The schedules' state and the outbox, kept in `reports/scheduled/state.json`."""

    path: Path
    schedules: dict[str, ScheduleState] = field(default_factory=dict)
    outbox: list[Delivery] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Book:
        """Read the book (empty when the file does not exist yet)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise ScheduleError(f"cannot read {path}: {exc}; fix or move it (the packs themselves are safe)") from exc
        return cls(
            path,
            {k: ScheduleState(**v) for k, v in data.get("schedules", {}).items()},
            [Delivery(**d) for d in data.get("outbox", [])],
        )

    def save(self) -> None:
        """Write atomically (a crash leaves the old file or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {
            "schedules": {k: asdict(v) for k, v in self.schedules.items()},
            "outbox": [asdict(d) for d in self.outbox],
        }
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


Submit = Callable[[PackRequest], tuple[str | None, str | None]]
"""Build a pack and wait: returns (pack id, None) or (None, error)."""


class ScheduleRunner:
    """Runs due schedules and the outbox; the server calls `tick()` every minute."""

    def __init__(
        self,
        schedules: list[Schedule],
        reports_dir: Path,
        submit: Submit,
        smtp: mail.SmtpConfig,
        manifest_of: Callable[[str], dict[str, Any] | None],
        view_query: Callable[[str], str | None] | None = None,
    ) -> None:
        self.schedules = schedules
        self.reports_dir = reports_dir
        self.submit = submit
        self.smtp = smtp
        self.manifest_of = manifest_of
        #: a saved view's filters (its link query) by id, None when it no longer exists
        self.view_query = view_query
        self.book_path = reports_dir / "scheduled" / "state.json"
        self._lock = threading.Lock()

    def book(self) -> Book:
        """The current state (for the page)."""
        return Book.load(self.book_path)

    def tick(self, now: datetime | None = None) -> None:
        """Build every due period, then try the deliveries that are due."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        with self._lock:
            book = Book.load(self.book_path)
            for sched in self.schedules:
                self._run_schedule(sched, book, now)
            self._deliver(book, now)
            book.save()

    def _resolve(self, sched: Schedule) -> Schedule | str:
        """The schedule with its saved view's filters, or why they cannot be had."""
        if not sched.view:
            return sched
        query = self.view_query(sched.view) if self.view_query is not None else None
        if query is None:
            return f"the saved view {sched.view} no longer exists: save it again and update the schedule"
        return sched.with_view(query)

    def _run_schedule(self, configured: Schedule, book: Book, now: datetime) -> None:
        st = book.schedules.setdefault(configured.name, ScheduleState())
        sched = self._resolve(configured)
        if isinstance(sched, str):
            retry = _parse_iso(st.retry_at)
            if retry is None or now >= retry:
                st.failures += 1
                st.last_error, st.last_run_at = sched, _iso(now)
                st.retry_at = _iso(now + timedelta(seconds=BUILD_RETRY_S))
                log.error("scheduled pack %s: %s", configured.name, sched)
                book.save()
            return
        start, end = sched.latest_due(now)
        key = sched.period_key(start)
        if st.last_period == key:
            return
        retry = _parse_iso(st.retry_at)
        if retry is not None and now < retry:
            return
        request = PackRequest(
            filters=sched.filters_for(start, end),
            formats=sched.formats,
            actor=Actor("system"),
            role="admin",
            title=sched.title or f"Audit log compliance pack ({sched.every})",
            now=now,
            schedule=sched.name,
        )
        pack_id, error = self.submit(request)
        st.last_run_at = _iso(now)
        if pack_id is None:
            st.failures += 1
            st.last_error = error or "unknown error"
            st.retry_at = _iso(now + timedelta(seconds=BUILD_RETRY_S))
            log.error("scheduled pack %s for %s failed: %s", sched.name, key, st.last_error)
            book.save()
            return
        st.last_period, st.last_pack, st.last_error, st.failures, st.retry_at = key, pack_id, None, 0, None
        for address in sched.email:
            book.outbox.append(
                Delivery(
                    id=f"{pack_id}:{address}",
                    schedule=sched.name,
                    pack_id=pack_id,
                    to=address,
                    created_at=_iso(now),
                    next_attempt_at=_iso(now),
                )
            )
        book.save()  # the pack and its deliveries are on record before anything is sent

    def _deliver(self, book: Book, now: datetime) -> None:
        for d in book.outbox:
            if d.status == "sent":
                continue
            due = _parse_iso(d.next_attempt_at)
            if due is not None and now < due:
                continue
            manifest = self.manifest_of(d.pack_id)
            d.attempts += 1
            try:
                if manifest is None:
                    raise mail.MailError(f"pack {d.pack_id} is no longer in {self.reports_dir}")
                message = mail.pack_message(self.smtp, [d.to], self.reports_dir / d.pack_id, manifest)
                mail.send(self.smtp, message)
            except (mail.MailError, OSError) as exc:
                delay = RETRY_DELAYS_S[min(d.attempts - 1, len(RETRY_DELAYS_S) - 1)]
                d.status, d.last_error = "retrying", str(exc)
                d.next_attempt_at = _iso(now + timedelta(seconds=delay))
                log.warning("delivery of pack %s to %s failed (attempt %d): %s", d.pack_id, d.to, d.attempts, exc)
            else:
                d.status, d.sent_at, d.next_attempt_at = "sent", _iso(now), None
            book.save()
        # keep the 200 newest sent deliveries for the page; undelivered ones are never dropped
        sent = [d for d in book.outbox if d.status == "sent"]
        if len(sent) > 200:
            drop = {d.id for d in sent[:-200]}
            book.outbox = [d for d in book.outbox if d.id not in drop]

    def retry_now(self, delivery_id: str) -> bool:
        """Make a waiting delivery due at once (the page's "retry now")."""
        with self._lock:
            book = Book.load(self.book_path)
            for d in book.outbox:
                if d.id == delivery_id and d.status != "sent":
                    d.next_attempt_at = _iso(datetime.now(UTC))
                    book.save()
                    return True
        return False
