"""The CSV file of a pack: every matching event, one row each, safe to open in a spreadsheet.

Columns are listed once, in `COLUMNS` (docs/packs.md documents each; a test checks both
agree). Timestamps are ISO 8601: `occurred_at` in the view's zone with its UTC offset, and
`occurred_at_utc` / `received_at_utc` in UTC. The text is UTF-8 with a byte order mark (so
Excel reads it as UTF-8), comma-separated, with a header row; strings are quoted, empty cells
are missing values.

Text cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@` or their
full-width forms, also after leading spaces or invisible characters, or with a control character
such as tab, CR or LF) get a leading single quote, so `=HYPERLINK(...)` shows as text; this
runs on every text cell of every column, after masking (`neutralise_batch`). The formatting
happens inside DuckDB; pyarrow neutralises and writes the batches, and the SHA-256 is computed
as the bytes are written, so a million rows cost one pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from dashboard.events import jsontext
from dashboard.packs.model import Control, PackError, PackFile
from dashboard.packs.view import PackView
from dashboard.privacy import mask_ip, shorten_name
from dashboard.store.schema import events

#: the file starts with the UTF-8 byte order mark: without it Excel reads the text as the
#: system's legacy code page and shows "MÃ¼ller" for "Müller". Python (`utf-8-sig`), pandas,
#: DuckDB and LibreOffice skip it.
UTF8_BOM = b"\xef\xbb\xbf"

#: what makes a spreadsheet evaluate a cell (OWASP "CSV injection"): `=`, `+`, `-`, `@` or their
#: full-width forms `＝＋－＠` first, after any spaces, control or invisible characters; or a
#: control character (tab, CR, LF, ...) first. RE2 syntax (Arrow's `match_substring_regex`).
FORMULA_START = r"^[\pZ\p{Cc}\p{Cf}]*[=+\-@\x{FF1D}\x{FF0B}\x{FF0D}\x{FF20}]|^\p{Cc}"


def neutralise_column(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A text column with a single quote in front of every cell that starts like a formula.

    Numbers stored as text (`-3`, `+33 1 23 45 67 89`) get the quote too (OWASP's advice: the
    cell reads `'-3`, still legible, and no spreadsheet evaluates it). Other columns pass unchanged.
    """
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    hit = pc.fill_null(pc.match_substring_regex(values, FORMULA_START), False)
    if not pc.any(hit).as_py():
        return values
    quoted = pc.binary_join_element_wise(pa.scalar("'", values.type), values, pa.scalar("", values.type))
    return pc.if_else(hit, quoted, values)


def neutralise_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Every text cell of the batch, whatever its column, safe to open in a spreadsheet.

    Runs last, after masking (a shortened name or e-mail starts with what the full one did after
    its spaces), so what is written is exactly what was checked.
    """
    for i, name in enumerate(batch.schema.names):
        column = batch.column(i)
        fixed = neutralise_column(column)
        if fixed is not column:
            batch = batch.set_column(i, name, fixed)
    return batch


c = events.c


def _utc_text(col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.strftime(col, "%Y-%m-%dT%H:%M:%S.%gZ")


Segments = tuple[tuple[datetime, timedelta], ...]
"""The UTC offsets of the pack's zone over its period: ((utc_from, offset), ...)."""


def offset_text(offset: timedelta) -> str:
    """`+02:00`, `-03:30`, `+00:00`."""
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _local_text(col: sa.ColumnElement[Any], segments: Segments) -> sa.ColumnElement[Any]:
    """`2026-08-01T09:30:00.000+02:00`: the local time and its offset from UTC.

    The zone's offsets over the period are known in advance (`View.segments`, exact
    across daylight-saving changes), so each row only adds an interval: a time-zone library
    call per row would cost several times the whole rest of the row.
    """

    def pick(values: list[Any]) -> Any:
        if len(segments) == 1:
            return values[0]
        whens = [(col < sa.literal(segments[i + 1][0], sa.DateTime), values[i]) for i in range(len(segments) - 1)]
        return sa.case(*whens, else_=values[-1])

    shifted = pick([col + sa.literal(off, sa.Interval) for _, off in segments])
    suffix = pick([sa.literal(offset_text(off)) for _, off in segments])
    return sa.func.strftime(shifted, "%Y-%m-%dT%H:%M:%S.%g") + suffix


@dataclass(frozen=True)
class Column:
    """One CSV column: its name, how it is computed, what it means."""

    name: str
    expr: Callable[[Segments], sa.ColumnElement[Any]]
    description: str
    raw_json: bool = False


def _text(col: sa.Column[Any]) -> Callable[[Segments], sa.ColumnElement[Any]]:
    """Free text from the sender (neutralised with every other text cell by `neutralise_batch`)."""
    return lambda _segments: col


def _plain(col: sa.Column[Any]) -> Callable[[Segments], sa.ColumnElement[Any]]:
    """A column that cannot start like a formula: validated (action, ip), derived (category), or JSON."""
    return lambda _segments: col


COLUMNS: tuple[Column, ...] = (
    Column(
        "occurred_at",
        lambda segments: _local_text(c.occurred_at, segments),
        "When it happened, ISO 8601 in the pack's time zone with its UTC offset.",
    ),
    Column("occurred_at_utc", lambda _segments: _utc_text(c.occurred_at), "When it happened, ISO 8601 UTC."),
    Column("received_at_utc", lambda _segments: _utc_text(c.received_at), "When auditdash stored it, ISO 8601 UTC."),
    Column("event_id", _text(c.event_id), "The sender's id of the event (the idempotency key)."),
    Column("account_id", _text(c.account_id), "The tenant (support-platform account)."),
    Column("category", _plain(c.category), "Category of the action (derived at ingest)."),
    Column("action", _plain(c.action), "What was done, e.g. `auth.login`."),
    Column("outcome", _plain(c.outcome), "success, failure or unknown."),
    Column("reason", _text(c.reason), "Why it failed."),
    Column("actor_id", _text(c.actor_id), "Who did it."),
    Column("actor_name", _text(c.actor_name), "Their display name (shortened, `Ana S.`, for masked roles)."),
    Column("actor_email", _text(c.actor_email), "Their e-mail address (`a…@example.com` for masked roles)."),
    Column("actor_role", _text(c.actor_role), "Their role as the platform names it."),
    Column("actor_type", _plain(c.actor_type), "user, api_key, bot or system."),
    Column("target_type", _text(c.target_type), "Kind of object acted on."),
    Column("target_id", _text(c.target_id), "Id of the object acted on."),
    Column(
        "target_name",
        _text(c.target_name),
        "Name of the object acted on (shortened for masked roles when it is an agent).",
    ),
    Column("ip", _plain(c.ip), "Source address (`a.b.c.x` for roles that see masked data)."),
    Column("ip_scope", _plain(c.ip_scope), "public, internal, masked or none."),
    Column("geo_country", _plain(c.geo_country), "Country of the source address (ISO 3166 code)."),
    Column("geo_city", _text(c.geo_city), "City of the source address."),
    Column("user_agent", _text(c.user_agent), "Client user agent."),
    Column("session_id", _text(c.session_id), "Session the event belongs to."),
    Column("request_id", _text(c.request_id), "Request the event belongs to."),
    Column(
        "changes",
        _plain(c.changes),
        'Before and after values as JSON, `{"field": [old, new]}` (left out for masked roles).',
        raw_json=True,
    ),
    Column("metadata", _plain(c.metadata), "Anything else the sender kept, as JSON (left out for masked roles).", True),
    Column("source", _text(c.source), "Where the event came from (`api:TOKEN`, `file:NAME`)."),
    Column("seq", _plain(c.seq), "Position in the log (the integrity chain's order)."),
    Column("batch_id", _plain(c.batch_id), "The integrity chain batch that stored it."),
    Column("hash", _plain(c.hash), "SHA-256 of the stored event (see integrity.md)."),
)


def columns_for(masked: bool) -> tuple[Column, ...]:
    """The columns a viewer gets (masked roles get no raw JSON)."""
    return tuple(col for col in COLUMNS if not (masked and col.raw_json))


class HashingWriter:
    """A binary file that hashes and counts what goes through it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        """Write, hash and count."""
        self.sha256.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        """Flush the file."""
        self.handle.flush()

    @property
    def closed(self) -> bool:
        """Whether the file is closed (pyarrow asks)."""
        return self.handle.closed

    def close(self) -> None:
        """Leave closing to the owner of the file."""


def map_column(values: pa.Array | pa.ChunkedArray, fn: Callable[[str | None], str | None]) -> pa.Array:
    """Apply `fn` to an Arrow string column, once per distinct value (masking is the same for repeats)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = pc.dictionary_encode(arr)
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.take(mapped, encoded.indices)


def mask_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """What a masked role sees: addresses as `a.b.c.x`, people's names and e-mails shortened ("Ana S.")."""
    names = batch.schema.names
    for col, fn in (("ip", mask_ip), ("actor_name", shorten_name), ("actor_email", shorten_name)):
        i = names.index(col)
        batch = batch.set_column(i, col, map_column(batch.column(i), fn))
    # a target that is an agent is a person too
    i, t = names.index("target_name"), names.index("target_type")
    short = map_column(batch.column(i), shorten_name)
    is_agent = pc.fill_null(pc.equal(batch.column(t), "agent"), False)
    return batch.set_column(i, "target_name", pc.if_else(is_agent, short, batch.column(i)))


_SUSPECT = "__suspect"


def strict_json_cells(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The JSON cells (`changes`, `metadata`) whose stored text is not plainly strict JSON, read safely.

    The stream carries a `NAME__suspect` flag beside each JSON column (`jsontext.plain_json`);
    flagged cells are decoded by `jsontext.decode_object` and written as strict JSON (non-finite
    numbers as null) or as the `_unreadable` placeholder; the flags are then dropped.
    """
    names = batch.schema.names
    for flag in [n for n in names if n.endswith(_SUSPECT)]:
        name = flag[: -len(_SUSPECT)]
        i = names.index(name)
        marks = pc.fill_null(batch.column(names.index(flag)), False)
        if pc.any(marks).as_py():
            texts = batch.column(i).to_pylist()
            fixed = [jsontext.rewritten(t) if m else t for t, m in zip(texts, marks.to_pylist(), strict=True)]
            batch = batch.set_column(i, name, pa.array(fixed, pa.string()))
    return batch.drop_columns([n for n in names if n.endswith(_SUSPECT)])


def write_csv(view: PackView, path: Path, masked: bool, control: Control, weight: tuple[float, float]) -> PackFile:
    """Write every event of the view to `path`; raise `PackError` unless the count matches.

    Args:
        view: the snapshot to export.
        path: the file to write.
        masked: mask addresses and leave out raw JSON.
        control: progress and cancellation.
        weight: (start, span) of this file in the pack's overall progress.
    """
    cols = columns_for(masked)
    segments = view.view.segments
    exprs = [col.expr(segments).label(col.name) for col in cols]
    options = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
    rows = 0
    total = max(view.events, 1)
    base, span = weight
    with path.open("wb") as handle:
        sink = HashingWriter(handle)
        sink.write(UTF8_BOM)
        writer: pa_csv.CSVWriter | None = None
        suspects = [
            sa.not_(jsontext.plain_json(getattr(c, col.name))).label(f"{col.name}{_SUSPECT}")
            for col in cols
            if col.raw_json
        ]
        for batch in view.stream([*exprs, *suspects], control):
            batch = strict_json_cells(batch)
            if masked and batch.num_rows:
                batch = mask_batch(batch)
            batch = neutralise_batch(batch)
            if writer is None:
                writer = pa_csv.CSVWriter(sink, batch.schema, write_options=options)
            writer.write_batch(batch)
            rows += batch.num_rows
            control.report(f"CSV: {rows:,} of {view.events:,} events", base + span * rows / total)
            control.check()
        if writer is None:
            # no event matched: still a valid file with its header row
            empty = pa.schema([(col.name, pa.string()) for col in cols])
            writer = pa_csv.CSVWriter(sink, empty, write_options=options)
        writer.close()
    if rows != view.events:
        raise PackError(f"the CSV holds {rows:,} events but {view.events:,} match: the pack was not written")
    return PackFile(path.name, "csv", sink.size, sink.sha256.hexdigest(), rows)
