"""The JSON file of a pack: NDJSON, a header document and then every event in the event contract.

Line 1 is the header (`{"auditdash_pack": {...}}`: filters, period, counts, who and when).
Every following line is one event in the shape senders use (docs/events.md): `actor{...}`,
`target{...}`, `changes{field: [old, new]}`, `metadata{...}`, `occurred_at` in UTC with
milliseconds; absent values are left out. So the file can be re-ingested as it is (after
dropping the header line) and validates against docs/event.schema.json.

The JSON text is built inside DuckDB (`to_json` escapes every string), one line per event, and
written straight from the Arrow buffers. Stored `changes` / `metadata` text is copied as it is
only when it is plainly safe (an object, valid JSON, no `NaN` / `Infinity`, too few brackets to
nest deeper than `jsontext.MAX_DEPTH`); any other stored text is decoded in Python by
`dashboard.events.jsontext` and written as strict JSON, or as its `_unreadable` placeholder, so
every line of the file is strict JSON whatever the store holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from dashboard.events import jsontext
from dashboard.packs.csvout import HashingWriter
from dashboard.packs.model import Control, PackError, PackFile
from dashboard.packs.view import PackView
from dashboard.store.schema import events
from dashboard.when import utc_text

c = events.c


def _member(key: str, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`"key":<value as JSON>`, or NULL when the value is NULL (concat_ws then skips it)."""
    return sa.literal(json.dumps(key) + ":") + sa.func.to_json(value)


def _raw_member(key: str, json_text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`"key":<stored JSON text>` (changes and metadata are stored as canonical JSON)."""
    return sa.literal(json.dumps(key) + ":") + json_text


#: the stored JSON columns, in the order they close an event's line
JSON_COLUMNS = ("changes", "metadata")


def _safe_raw(col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The stored text when `plain_json`, else NULL (the member is then left out of the line)."""
    return sa.case((jsontext.plain_json(col), col), else_=sa.null())


def _suspect_raw(name: str) -> sa.ColumnElement[Any]:
    """The stored text when it is not `plain_json` (to be decoded in Python), else NULL."""
    col = getattr(c, name)
    return sa.case((sa.not_(jsontext.plain_json(col)), col), else_=sa.null()).label(f"{name}_suspect")


def with_json_members(line: str, members: dict[str, Any]) -> str:
    """A line of `event_json` with more members (values written as strict JSON) before its closing brace."""
    body = line.rstrip("\n")
    if not members:
        return line
    extra = ",".join(f"{json.dumps(k)}:{jsontext.dumps(v, separators=(',', ':'))}" for k, v in members.items())
    return body[:-1] + ("," if body != "{}" else "") + extra + "}" + ("\n" if line.endswith("\n") else "")


def contract_doc(line: str, changes: str | None, metadata: str | None) -> dict[str, Any]:
    """One event as a dict: `line` from `event_json(with_json=False)` and the stored JSON texts, decoded safely."""
    doc: dict[str, Any] = json.loads(line)
    for key, text in (("changes", changes), ("metadata", metadata)):
        value = jsontext.decode_object(text)
        if value is not None:
            doc[key] = value
    return doc


#: the stored (not contract) values that travel with an event under `stored`: the read API, the
#: OCSF file of a pack and the streams give these (`ocsf.to_ocsf` reads them)
STORED_COLUMNS: tuple[str, ...] = (
    "seq",
    "received_at",
    "category",
    "ip_scope",
    "geo_country",
    "geo_city",
    "geo_lat",
    "geo_lon",
    "source",
    "batch_id",
    "hash",
)


def read_columns() -> list[sa.ColumnElement[Any]]:
    """What `read_event` reads: the contract line, the stored JSON texts and `STORED_COLUMNS`."""
    return [
        event_json(with_json=False),
        *(getattr(c, name).label(name) for name in JSON_COLUMNS),
        *(getattr(c, name).label(name) for name in STORED_COLUMNS),
    ]


def read_event(values: Mapping[Any, Any]) -> dict[str, Any]:
    """One event as the read API gives it: the contract's shape with `stored` (from `read_columns`).

    Times in `stored` are UTC with milliseconds; absent values and non-finite numbers are left out.
    """
    doc = contract_doc(values["line"], values["changes"], values["metadata"])
    doc["stored"] = {
        k: utc_text(v)
        for k in STORED_COLUMNS
        if (v := values[k]) is not None and not (isinstance(v, float) and not math.isfinite(v))
    }
    return doc


def _object(*members: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.literal("{") + sa.func.concat_ws(",", *members) + sa.literal("}")


def _nested(key: str, *members: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`"key":{...}` with only the present members, or NULL when none is present."""
    inner = sa.func.nullif(sa.func.concat_ws(",", *members), "")
    return sa.literal(json.dumps(key) + ":{") + inner + sa.literal("}")


def event_json(with_json: bool = True) -> sa.ColumnElement[Any]:
    """One event in the contract's shape, as a JSON text column named `line` (ends with a newline).

    `changes` and `metadata` are in it only when their stored text is `plain_json`; for the rest,
    read `_suspect_raw` columns beside it (`write_ndjson`). `with_json=False` leaves them out
    altogether (for readers that select the stored text and use `contract_doc`).
    """
    raw = (
        [_raw_member("changes", _safe_raw(c.changes)), _raw_member("metadata", _safe_raw(c.metadata))]
        if with_json
        else []
    )
    occurred = sa.func.strftime(c.occurred_at, "%Y-%m-%dT%H:%M:%S.%gZ")
    doc = _object(
        _member("id", c.event_id),
        _member("occurred_at", occurred),
        _member("account_id", c.account_id),
        _member("action", c.action),
        _member("outcome", c.outcome),
        _member("reason", c.reason),
        _nested(
            "actor",
            _member("id", c.actor_id),
            _member("name", c.actor_name),
            _member("email", c.actor_email),
            _member("role", c.actor_role),
            _member("type", c.actor_type),
        ),
        _nested("target", _member("type", c.target_type), _member("id", c.target_id), _member("name", c.target_name)),
        _member("ip", c.ip),
        _member("user_agent", c.user_agent),
        _member("session_id", c.session_id),
        _member("request_id", c.request_id),
        *raw,
    )
    return (doc + sa.literal("\n")).label("line")


def _write_batch(sink: HashingWriter, batch: pa.RecordBatch) -> None:
    """Write one batch of (line, changes_suspect, metadata_suspect): as it is unless a stored text needs reading."""
    suspects = [batch.column(i) for i in range(1, batch.num_columns)]
    if all(col.null_count == len(col) for col in suspects):
        _write_lines(sink, batch.column(0))
        return
    lines = batch.column(0).to_pylist()
    texts = [col.to_pylist() for col in suspects]
    out = []
    for i, line in enumerate(lines):
        if line is None:
            raise PackError("an event could not be turned into JSON")
        members = {}
        for name, column in zip(JSON_COLUMNS, texts, strict=True):
            value = jsontext.decode_object(column[i])
            if value is not None:
                members[name] = value
        out.append(with_json_members(line, members))
    sink.write("".join(out).encode("utf-8"))


def _write_lines(sink: HashingWriter, column: pa.Array | pa.ChunkedArray) -> None:
    """Write a string column's bytes as they are (each value already ends with a newline)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for arr in chunks:
        if len(arr) == 0:
            continue
        if arr.null_count:
            raise PackError("an event could not be turned into JSON")
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            offsets_buf, data_buf = arr.buffers()[1], arr.buffers()[2]
            dtype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
            offsets = np.frombuffer(offsets_buf, dtype=dtype)
            start, end = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
            if data_buf is not None:
                sink.write(memoryview(data_buf)[start:end])
        else:  # other layouts (string views): let Arrow build the Python strings
            sink.write("".join(arr.to_pylist()).encode("utf-8"))


def write_ndjson(
    view: PackView,
    path: Path,
    header: dict[str, Any],
    control: Control,
    weight: tuple[float, float],
) -> PackFile:
    """Write the header line and every event of the view; raise `PackError` unless the count matches."""
    rows = 0
    total = max(view.events, 1)
    base, span = weight
    with path.open("wb") as handle:
        sink = HashingWriter(handle)
        line = jsontext.dumps({"auditdash_pack": header}, separators=(",", ":"))
        sink.write((line + "\n").encode("utf-8"))
        suspects = [_suspect_raw(name) for name in JSON_COLUMNS]
        for batch in view.stream([event_json(), *suspects], control):
            _write_batch(sink, batch)
            rows += batch.num_rows
            control.report(f"JSON: {rows:,} of {view.events:,} events", base + span * rows / total)
            control.check()
    if rows != view.events:
        raise PackError(f"the JSON file holds {rows:,} events but {view.events:,} match: the pack was not written")
    return PackFile(path.name, "json", sink.size, sink.sha256.hexdigest(), rows)


def write_ocsf(
    view: PackView,
    path: Path,
    control: Control,
    weight: tuple[float, float],
) -> PackFile:
    """Every event of the view as an OCSF 1.1 event, one JSON document a line (no header line).

    The mapping is the read API's (`dashboard.events.ocsf`), applied in Python: about ten times
    the cost of the contract's JSON, which DuckDB writes by itself.
    """
    from dashboard.events.ocsf import to_ocsf

    rows = 0
    total = max(view.events, 1)
    base, span = weight
    with path.open("wb") as handle:
        sink = HashingWriter(handle)
        for batch in view.stream(read_columns(), control):
            lines = [jsontext.dumps(to_ocsf(read_event(values)), separators=(",", ":")) for values in batch.to_pylist()]
            sink.write(("\n".join(lines) + "\n").encode("utf-8"))
            rows += batch.num_rows
            control.report(f"OCSF: {rows:,} of {view.events:,} events", base + span * rows / total)
            control.check()
    if rows != view.events:
        raise PackError(f"the OCSF file holds {rows:,} events but {view.events:,} match: the pack was not written")
    return PackFile(path.name, "ocsf", sink.size, sink.sha256.hexdigest(), rows)
