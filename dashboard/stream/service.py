"""Delivering the log to each destination: cursor, batches, retries, lag and its alert.

`StreamService.cycle(name)` is one turn of a destination's job: unless it waits for its next
retry, it reads the matching events after its cursor in sequence order (a batch at a time),
sends them and, once the destination acknowledged the batch, moves the cursor to the batch's
last seq (or to the newest seq read, when fewer events matched than a batch holds). A failure
leaves the cursor where it was; the next attempt waits 1, 2, 4 ... seconds, with jitter, up to
`stream_backoff_max_s`. So delivery is at least once, in log order: a batch sent but not
acknowledged is sent again whole, and `id` / `seq` in every event tell the repeats.

The server runs one scheduled job per destination (dashboard/web/services.py); nothing here
runs on the ingest path. `start()` / `stop()` run the same cycles in threads of their own (tests,
benchmarks). Lag (matching events not yet delivered, and the age of the oldest) is measured at
most every `LAG_CHECK_S`; past `stream_lag_events` or `stream_lag_s` it raises the `stream_lag`
alert through the alert store, one alert per destination while the lag lasts.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dashboard.config import Settings
from dashboard.detect.alerts import AlertStore
from dashboard.detect.engine import Finding
from dashboard.detect.rules import Detector, Match, Rule
from dashboard.packs.ndjson import read_columns, read_event
from dashboard.store import selflog
from dashboard.store.db import Database, utcnow
from dashboard.store.schema import events as E
from dashboard.store.schema import stream_destinations as D
from dashboard.store.schema import stream_state as S
from dashboard.stream import formats
from dashboard.stream.destinations import Destination, StreamConfigError, destination_from, load_destinations
from dashboard.stream.senders import DeliveryError, Sender, sender_for

log = logging.getLogger(__name__)

#: the first retry waits this long; each failure doubles it, up to the setting
BACKOFF_BASE_S = 1.0
#: lag is measured at most this often per destination
LAG_CHECK_S = 10.0
#: one cycle stops sending after this long (the job then yields; the next cycle goes on)
CYCLE_BUDGET_S = 5.0
#: a lag alert grows while lags are this close together
LAG_DEDUP_S = 3600
#: where a destination made on the Streams page comes from, in messages and the self-log
PAGE = "the Streams page"
#: a destination's filter condition is built again this often
WHERE_TTL_S = 600.0

STREAM_LAG_RULE = Rule(
    id="stream_lag",
    title="Audit log stream falling behind",
    severity="high",
    description=(
        "A destination the audit log streams to (a SIEM) has many events not yet delivered, or its "
        "oldest undelivered event is old: the destination is down, refuses the events, or is slower "
        "than the log grows. Events are kept and sent once it accepts them."
    ),
    check=(
        "Open the Streams page: the destination's last error says what failed (address, TLS, token, "
        "HTTP status). Fix the destination; delivery resumes from its cursor by itself."
    ),
    detectors=(Detector(type="stream_lag", match=Match(), group_by=("stream",), timespan_s=0, dedup_s=LAG_DEDUP_S),),
    tags=("pci.10.7",),
)


def backoff_s(failures: int, cap_s: float, rng: random.Random | None = None) -> float:
    """How long to wait after `failures` failures in a row: 1, 2, 4 ... s capped, times 0.5 to 1 (jitter)."""
    if failures <= 0:
        return 0.0
    ceiling = min(float(cap_s), BACKOFF_BASE_S * 2 ** min(failures - 1, 30))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


@dataclass
class Lag:
    """How far a destination is behind."""

    events: int = 0
    seconds: float = 0.0
    measured_at: datetime | None = None


@dataclass
class Stream:
    """A destination at run time."""

    dest: Destination
    sender: Sender
    next_attempt: float = 0.0  # time.monotonic() before which no attempt is made
    lag: Lag = field(default_factory=Lag)
    lag_checked: float = -1e9
    sending: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    _where: Any = None
    _where_at: float = -1e9

    def where(self) -> Any:
        """The filter's SQL condition, built again every `WHERE_TTL_S` (with weekdays or hours it
        holds the zone's offsets since 2000, which take tens of milliseconds to work out; its
        upper time bound, two days after it is built, stays past every event stored meanwhile)."""
        if time.monotonic() - self._where_at > WHERE_TTL_S:
            self._where = self.dest.filters.where(E)
            self._where_at = time.monotonic()
        return self._where


@dataclass(frozen=True)
class StreamStatus:
    """What the Streams page shows of one destination."""

    name: str
    public: dict[str, Any]
    state: str
    paused: bool
    cursor: int
    delivered: int
    lag_events: int
    lag_seconds: float
    last_delivered_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    retry_in_s: float | None
    origin: str = "settings"  # settings (the AUDITDASH_STREAMS file, read-only on the page) | page


class StreamService:
    """Delivers the log to every configured destination.

    Args:
        db: the store.
        destinations: the configured destinations.
        alerts: where the lag alert is raised (None: no alert).
        lag_events / lag_seconds: the lag past which the alert is raised (0: not on that measure).
        backoff_max_s: the longest wait between retries.
    """

    def __init__(
        self,
        db: Database,
        destinations: Sequence[Destination],
        alerts: AlertStore | None = None,
        lag_events: int = 10_000,
        lag_seconds: float = 900,
        backoff_max_s: float = 300,
    ) -> None:
        self.db = db
        self.alerts = alerts
        self.lag_events = lag_events
        self.lag_seconds = lag_seconds
        self.backoff_max_s = backoff_max_s
        self.streams: dict[str, Stream] = {d.name: Stream(d, sender_for(d)) for d in destinations}
        #: the destinations of the settings file (the others were made on the Streams page)
        self.from_file: frozenset[str] = frozenset(self.streams)
        #: relative file paths of destinations made on the page are relative to the database's folder
        self.base = Path(db.path).parent
        #: called with (name, True) when a destination is added while running, (name, False) when deleted
        self.listeners: list[Callable[[str, bool], None]] = []
        self._edit = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        db.add_user("streams", self.stop)  # closing the database (and exiting) stops the threads first

    @classmethod
    def from_settings(cls, db: Database, settings: Settings, alerts: AlertStore | None = None) -> StreamService:
        """The service of `AUDITDASH_STREAMS` and the lag and backoff settings (a bad file raises)."""
        service = cls(
            db,
            load_destinations(settings.streams_path),
            alerts,
            lag_events=settings.stream_lag_events,
            lag_seconds=settings.stream_lag_s,
            backoff_max_s=settings.stream_backoff_max_s,
        )
        for problem in service.load_stored():
            log.warning("%s", problem)
        return service

    # ---------------------------------------------------------------- destinations made on the page

    def load_stored(self) -> list[str]:
        """Add the destinations made on the Streams page (stored in `stream_destinations`, checked
        again by the file's validator); returns, in words, those that cannot be used and why."""
        problems: list[str] = []
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(D.c.name, D.c.settings).order_by(D.c.name)).fetchall()
        for row in rows:
            if row.name in self.from_file:
                problems.append(
                    f"stream {row.name}: made on {PAGE}, but the settings file has a destination of that name, "
                    "which is used instead"
                )
                continue
            try:
                dest = destination_from(json.loads(row.settings), self.base, PAGE)
            except (ValueError, StreamConfigError) as exc:
                problems.append(f"stream {row.name}, made on {PAGE}, is not used: {exc}")
                continue
            self.streams[dest.name] = Stream(dest, sender_for(dest))
        return problems

    def stored_settings(self, name: str) -> dict[str, Any] | None:
        """The settings of a destination made on the page, as stored (None: not made on the page)."""
        with self.db.connect() as conn:
            text = conn.execute(sa.select(D.c.settings).where(D.c.name == name)).scalar()
        return None if text is None else dict(json.loads(text))

    def origin(self, name: str) -> str:
        """settings: from the AUDITDASH_STREAMS file (read-only on the page); page: made on the page."""
        return "settings" if name in self.from_file else "page"

    def save_destination(
        self, raw: dict[str, Any], actor: str, editing: str | None = None, **audit: Any
    ) -> Destination:
        """Add a destination (`editing` None) or change the one named `editing`, made on the page.

        `raw` is checked by the settings file's validator (`StreamConfigError.key` names the field at
        fault); the destination is stored, its job started (`listeners`) and the change self-logged
        with the settings before and after (tokens only by where they are read from).
        """
        clean = {k: v for k, v in raw.items() if v not in (None, "")}
        dest = destination_from(clean, self.base, PAGE)
        with self._edit:
            if editing is None:
                if dest.name in self.streams or self.stored_settings(dest.name) is not None:
                    raise StreamConfigError(f"{PAGE}: name {dest.name} is taken by another destination", key="name")
            else:
                self._check_editable(editing)
                if dest.name != editing:
                    raise StreamConfigError(
                        f"{PAGE}: name cannot change ({editing}): delete the destination and add it again",
                        key="name",
                    )
            old = self.streams.get(dest.name)
            before = old.dest.public() if old is not None else None
            now = utcnow()
            text = json.dumps(clean, sort_keys=True)
            with self.db.write_lock, self.db.engine.begin() as conn:
                if editing is None:
                    conn.execute(
                        D.insert().values(
                            name=dest.name,
                            settings=text,
                            created_at=now,
                            created_by=actor,
                            updated_at=now,
                            updated_by=actor,
                        )
                    )
                else:
                    conn.execute(
                        D.update().where(D.c.name == editing).values(settings=text, updated_at=now, updated_by=actor)
                    )
            cursor, change = self._ensure_row(dest, now)
            self.streams[dest.name] = Stream(dest, sender_for(dest))
            if old is not None:
                _retire(old)
        if change == "unchanged":  # saved as it was: nothing to record
            return dest
        self._audit(
            actor,
            **audit,
            target_id=dest.name,
            target_name=dest.address,
            changes={"stream": [before, dest.public()]},
            metadata={"change": change, "cursor": cursor, "made_on": PAGE},
        )
        if editing is None:
            for listener in self.listeners:
                listener(dest.name, True)
        return dest

    def delete_destination(self, name: str, actor: str, **audit: Any) -> None:
        """Delete a destination made on the page: its job stops (`listeners`), its cursor row is kept
        (as for a destination removed from the file) and the deletion is self-logged."""
        with self._edit:
            self._check_editable(name)
            stream = self.streams.pop(name, None)
            before = stream.dest.public() if stream is not None else self.stored_settings(name)
            now = utcnow()
            with self.db.write_lock, self.db.engine.begin() as conn:
                conn.execute(D.delete().where(D.c.name == name))
                conn.execute(S.update().where(S.c.name == name).values(config_digest=None, updated_at=now))
                cursor = int(conn.execute(sa.select(S.c.last_seq).where(S.c.name == name)).scalar() or 0)
        for listener in self.listeners:
            listener(name, False)
        if stream is not None:
            _retire(stream)
        self._audit(
            actor,
            **audit,
            target_id=name,
            target_name=stream.dest.address if stream is not None else None,
            changes={"stream": [before, None]},
            metadata={"change": "stream removed", "cursor": cursor, "made_on": PAGE},
        )

    def _check_editable(self, name: str) -> None:
        if name in self.from_file:
            raise StreamConfigError(f"stream {name} comes from the settings file (AUDITDASH_STREAMS): change it there")
        if self.stored_settings(name) is None:
            raise StreamConfigError(f"no stream named {name!r} was made on {PAGE}")

    def _ensure_row(self, dest: Destination, now: datetime) -> tuple[int, str]:
        """The destination's cursor row, made or brought to its settings: (cursor, what changed)."""
        with self.db.write_lock, self.db.engine.begin() as conn:
            row = conn.execute(sa.select(S).where(S.c.name == dest.name)).first()
            if row is None:
                head = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(E.c.seq), 0))).scalar() or 0)
                cursor = dest.first_cursor(head)
                conn.execute(
                    S.insert().values(
                        name=dest.name,
                        last_seq=cursor,
                        delivered=0,
                        paused=False,
                        config_digest=dest.digest(),
                        created_at=now,
                        updated_at=now,
                        failures=0,
                    )
                )
                return cursor, "stream added"
            if row.config_digest == dest.digest():
                return int(row.last_seq), "unchanged"
            conn.execute(S.update().where(S.c.name == dest.name).values(config_digest=dest.digest(), updated_at=now))
            return int(row.last_seq), "stream added again" if row.config_digest is None else "stream changed"

    # ---------------------------------------------------------------- configuration

    def sync_config(self, actor: str = "system") -> list[str]:
        """Give each destination its row (cursor) and self-log every destination added, changed or
        removed since the last start; returns what changed, in words."""
        said: list[str] = []
        now = utcnow()
        with self.db.connect() as conn:
            head = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(E.c.seq), 0))).scalar() or 0)
            rows = {r.name: r for r in conn.execute(sa.select(S)).fetchall()}
        for name, stream in self.streams.items():
            dest = stream.dest
            row = rows.get(name)
            if row is None:
                cursor = dest.first_cursor(head)
                with self.db.write_lock, self.db.engine.begin() as conn:
                    conn.execute(
                        S.insert().values(
                            name=name,
                            last_seq=cursor,
                            delivered=0,
                            paused=False,
                            config_digest=dest.digest(),
                            created_at=now,
                            updated_at=now,
                            failures=0,
                        )
                    )
                self._audit(
                    actor,
                    target_id=name,
                    target_name=dest.address,
                    changes={"stream": [None, dest.public()]},
                    metadata={"change": "stream added", "cursor": cursor},
                )
                said.append(f"stream {name} added (from seq {cursor + 1})")
            elif row.config_digest != dest.digest():
                with self.db.write_lock, self.db.engine.begin() as conn:
                    conn.execute(S.update().where(S.c.name == name).values(config_digest=dest.digest(), updated_at=now))
                change = "stream added again" if row.config_digest is None else "stream changed"
                self._audit(
                    actor,
                    target_id=name,
                    target_name=dest.address,
                    changes={"stream": [None, dest.public()]},
                    metadata={"change": change, "cursor": int(row.last_seq)},
                )
                said.append(f"{change}: {name} (resumes after seq {int(row.last_seq)})")
        for name, row in rows.items():
            if name in self.streams or row.config_digest is None:
                continue
            with self.db.write_lock, self.db.engine.begin() as conn:
                conn.execute(S.update().where(S.c.name == name).values(config_digest=None, updated_at=now))
            self._audit(
                actor,
                target_id=name,
                metadata={"change": "stream removed", "cursor": int(row.last_seq)},
            )
            said.append(f"stream {name} removed (its cursor, seq {int(row.last_seq)}, is kept)")
        return said

    def _audit(self, actor: str, target_id: str, **fields: Any) -> None:
        """Record a change of a destination in the audit log (category audit, target `stream`);
        `fields` are `selflog.record`'s: the actor's role, ip, ..., target_name, changes, metadata."""
        selflog.record(self.db, "audit.settings_change", actor, target_type="stream", target_id=target_id, **fields)

    def set_paused(self, name: str, paused: bool, actor: str, **audit: Any) -> None:
        """Pause or resume a destination (kept across restarts; self-logged with `audit`: the
        actor's role, ip, user_agent, session_id as `selflog.record` takes them)."""
        if name not in self.streams:
            raise StreamConfigError(f"no stream named {name!r}")
        with self.db.write_lock, self.db.engine.begin() as conn:
            done = conn.execute(S.update().where(S.c.name == name).values(paused=paused, updated_at=utcnow()))
            if not done.rowcount:
                raise StreamConfigError(f"stream {name} has no cursor yet: start the server once")
        self._audit(
            actor,
            **audit,
            target_id=name,
            target_name=self.streams[name].dest.address,
            changes={"paused": [not paused, paused]},
            metadata={"change": "stream paused" if paused else "stream resumed"},
        )
        self.streams[name].next_attempt = 0.0

    # ---------------------------------------------------------------- delivery

    def _row(self, name: str) -> Any:
        with self.db.connect() as conn:
            return conn.execute(sa.select(S).where(S.c.name == name)).first()

    def deliver_batch(self, name: str) -> int:
        """Send the next batch of `name` and move its cursor; the number of events sent (0: none due).

        Raises `DeliveryError` (or `StreamConfigError` for a token that cannot be read) when the
        destination did not acknowledge; the cursor then stays.
        """
        stream = self.streams.get(name)
        if stream is None:  # deleted on the page meanwhile
            return 0
        dest = stream.dest
        with self.db.connect() as conn:
            state = conn.execute(sa.select(S.c.last_seq, S.c.paused).where(S.c.name == name)).first()
            if state is None or state.paused or not dest.enabled:
                return 0
            cursor = int(state.last_seq)
            # one snapshot: the newest seq and the rows up to it
            head = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(E.c.seq), 0))).scalar() or 0)
            if head <= cursor:
                return 0
            rows = conn.execute(
                sa.select(*read_columns())
                .where(E.c.seq > cursor, E.c.seq <= head, stream.where())
                .order_by(E.c.seq)
                .limit(dest.batch_size)
            ).fetchall()
        docs = [read_event(r._mapping) for r in rows]
        if docs:
            stream.sending = True  # shown as "delivering" while events are on their way, not on an idle turn
            stream.sender.send(encode(dest, docs))
        moved_to = int(rows[-1].seq) if len(rows) == dest.batch_size else head
        now = utcnow()
        values: dict[str, Any] = {
            "last_seq": moved_to,
            "delivered": S.c.delivered + len(docs),
            "updated_at": now,
            "failures": 0,
        }
        if docs:
            values["last_delivered_at"] = now
        with self.db.write_lock, self.db.engine.begin() as conn:
            # the cursor only moves forward (a pause, a restart or a second runner cannot move it back)
            conn.execute(S.update().where(S.c.name == name, S.c.last_seq == cursor).values(**values))
        return len(docs)

    def _failed(self, stream: Stream, error: str) -> None:
        now = utcnow()
        with self.db.write_lock, self.db.engine.begin() as conn:
            conn.execute(
                S.update()
                .where(S.c.name == stream.dest.name)
                .values(last_error=error[:1000], last_error_at=now, failures=S.c.failures + 1, updated_at=now)
            )
            failures = int(conn.execute(sa.select(S.c.failures).where(S.c.name == stream.dest.name)).scalar() or 1)
        stream.next_attempt = time.monotonic() + backoff_s(failures, self.backoff_max_s)
        log.warning("%s (attempt %s failed; next in %.0f s)", error, failures, stream.next_attempt - time.monotonic())

    def cycle(self, name: str) -> int:
        """One turn of a destination's job: send while there is something due (for up to
        `CYCLE_BUDGET_S`), note a failure and its next retry, measure the lag. Never raises for a
        destination's fault; returns the events delivered."""
        stream = self.streams.get(name)
        if stream is None or not stream.lock.acquire(blocking=False):
            return 0  # deleted on the page, or a turn is under way
        sent = 0
        try:
            if time.monotonic() >= stream.next_attempt:
                began = time.monotonic()
                try:
                    while time.monotonic() - began < CYCLE_BUDGET_S and not self._stop.is_set():
                        n = self.deliver_batch(name)
                        sent += n
                        if n < stream.dest.batch_size:
                            break
                    stream.next_attempt = 0.0
                except (DeliveryError, StreamConfigError) as exc:
                    self._failed(stream, str(exc))
                finally:
                    stream.sending = False
            if time.monotonic() - stream.lag_checked >= LAG_CHECK_S and name in self.streams:
                self.check_lag(name)
        finally:
            stream.lock.release()
        return sent

    # ---------------------------------------------------------------- lag

    def measure_lag(self, name: str) -> Lag:
        """Matching events after the cursor, and how long ago the oldest of them was stored."""
        stream = self.streams[name]
        now = utcnow()
        with self.db.connect() as conn:
            cursor = conn.execute(sa.select(S.c.last_seq).where(S.c.name == name)).scalar()
            if cursor is None:
                return Lag(measured_at=now)
            count, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(E.c.received_at)).where(E.c.seq > int(cursor), stream.where())
            ).one()
        seconds = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        return Lag(int(count or 0), seconds, now)

    def check_lag(self, name: str) -> Lag:
        """Measure the lag and raise (or grow) the destination's `stream_lag` alert when it is past a threshold."""
        stream = self.streams[name]
        stream.lag_checked = time.monotonic()
        lag = self.measure_lag(name)
        stream.lag = lag
        over = (self.lag_events > 0 and lag.events >= self.lag_events) or (
            self.lag_seconds > 0 and lag.seconds >= self.lag_seconds
        )
        if over and self.alerts is not None and stream.dest.enabled and not self._paused(name):
            # a paused or disabled destination is behind on purpose: its lag is shown, not alerted
            self.alerts.apply(STREAM_LAG_RULE, [self._lag_finding(name, lag)])
        return lag

    def _paused(self, name: str) -> bool:
        row = self._row(name)
        return bool(row is not None and row.paused)

    def _lag_finding(self, name: str, lag: Lag) -> Finding:
        stream = self.streams[name]
        dest = stream.dest
        row = self._row(name)
        with self.db.connect() as conn:
            first = conn.execute(
                sa.select(E.c.seq, E.c.event_id, E.c.occurred_at)
                .where(E.c.seq > int(row.last_seq), stream.where())
                .order_by(E.c.seq)
                .limit(1)
            ).first()
        now = lag.measured_at or utcnow()
        evidence = {int(first.seq): (str(first.event_id), first.occurred_at)} if first is not None else {}
        return Finding(
            rule_id=STREAM_LAG_RULE.id,
            key=(("stream", name),),
            start=now - timedelta(seconds=lag.seconds),
            end=now,
            severity=STREAM_LAG_RULE.severity,
            evidence=evidence,
            measures={"undelivered": float(lag.events), "lag_s": round(lag.seconds, 1)},
            # the rule is not in the rules file: the alert carries what to check itself
            detail={
                "stream": name,
                "address": dest.address,
                "last_error": row.last_error,
                "what_to_check": STREAM_LAG_RULE.check,
            },
            dedup_s=LAG_DEDUP_S,
        )

    # ---------------------------------------------------------------- status

    def status(self) -> list[StreamStatus]:
        """Every destination as the page shows it."""
        with self.db.connect() as conn:
            rows = {r.name: r for r in conn.execute(sa.select(S)).fetchall()}
        out = []
        now = time.monotonic()
        for name, stream in list(self.streams.items()):
            row = rows.get(name)
            retry = max(0.0, stream.next_attempt - now) if stream.next_attempt > now else None
            paused = bool(row.paused) if row is not None else False
            if row is None:
                state = "not started"
            elif not stream.dest.enabled:
                state = "disabled in the file"
            elif paused:
                state = "paused"
            elif row.failures > 0:  # the last attempt failed; the next is due in `retry` s (None: now)
                state = "retrying"
            elif stream.sending or stream.lag.events > 0:
                state = "delivering"
            else:
                state = "up to date"
            out.append(
                StreamStatus(
                    name=name,
                    public=stream.dest.public(),
                    state=state,
                    paused=paused,
                    cursor=int(row.last_seq) if row is not None else 0,
                    delivered=int(row.delivered) if row is not None else 0,
                    lag_events=stream.lag.events,
                    lag_seconds=stream.lag.seconds,
                    last_delivered_at=row.last_delivered_at if row is not None else None,
                    last_error=row.last_error if row is not None else None,
                    last_error_at=row.last_error_at if row is not None else None,
                    failures=int(row.failures) if row is not None else 0,
                    retry_in_s=retry,
                    origin=self.origin(name),
                )
            )
        return out

    # ---------------------------------------------------------------- threads (tests, benchmarks)

    def start(self, interval_s: float = 0.2) -> None:
        """Run every destination's cycle in a thread of its own until `stop()`."""
        self._stop.clear()
        for name in self.streams:
            thread = threading.Thread(target=self._loop, args=(name, interval_s), name=f"stream-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self, name: str, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.cycle(name)
            except Exception:  # the store failed: logged, tried again
                log.exception("stream %s: cycle failed", name)
            self._stop.wait(interval_s)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the threads and close the connections."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        for stream in self.streams.values():
            stream.sender.close()


def _retire(stream: Stream) -> None:
    """Close a replaced or deleted destination's connection once its turn under way (if any) ends."""

    def close() -> None:
        with stream.lock:
            stream.sender.close()

    threading.Thread(target=close, name=f"stream-retire-{stream.dest.name}", daemon=True).start()


def encode(dest: Destination, docs: list[dict[str, Any]]) -> list[bytes]:
    """A batch of events as the destination's payloads (one HTTP body, or one frame per event)."""
    if dest.kind == "http":
        return [formats.http_body(docs, dest.format, dest.envelope, dest.sourcetype, dest.index)]
    if dest.transport == "udp":
        return [formats.udp_message(d, dest.format) for d in docs]
    return [formats.octet_counted(formats.syslog_message(d, formats.body_of(d, dest.format))) for d in docs]
