"""The JSON file of a pack: NDJSON, a header document and then every event in the event contract.

Line 1 is the header (`{"auditdash_pack": {...}}`: filters, period, counts, who and when).
Every following line is one event in the shape senders use (docs/events.md): `actor{...}`,
`target{...}`, `changes{field: [old, new]}`, `metadata{...}`, `occurred_at` in UTC with
milliseconds; absent values are left out. So the file can be re-ingested as it is (after
dropping the header line) and validates against docs/event.schema.json.

The JSON text is built inside DuckDB (`to_json` escapes every string), one line per event, and
written straight from the Arrow buffers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from dashboard.packs.csvout import HashingWriter
from dashboard.packs.model import Control, PackError, PackFile
from dashboard.packs.view import PackView
from dashboard.store.schema import events

c = events.c


def _member(key: str, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`"key":<value as JSON>`, or NULL when the value is NULL (concat_ws then skips it)."""
    return sa.literal(json.dumps(key) + ":") + sa.func.to_json(value)


def _raw_member(key: str, json_text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`"key":<stored JSON text>` (changes and metadata are stored as canonical JSON)."""
    return sa.literal(json.dumps(key) + ":") + json_text


def _object(*members: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.literal("{") + sa.func.concat_ws(",", *members) + sa.literal("}")


def _nested(key: str, *members: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`"key":{...}` with only the present members, or NULL when none is present."""
    inner = sa.func.nullif(sa.func.concat_ws(",", *members), "")
    return sa.literal(json.dumps(key) + ":{") + inner + sa.literal("}")


def event_json() -> sa.ColumnElement[Any]:
    """One event in the contract's shape, as a JSON text column named `line` (ends with a newline)."""
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
        _raw_member("changes", c.changes),
        _raw_member("metadata", c.metadata),
    )
    return (doc + sa.literal("\n")).label("line")


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
        line = json.dumps({"auditdash_pack": header}, ensure_ascii=False, separators=(",", ":"), default=str)
        sink.write((line + "\n").encode("utf-8"))
        for batch in view.stream([event_json()], control):
            _write_lines(sink, batch.column(0))
            rows += batch.num_rows
            control.report(f"JSON: {rows:,} of {view.events:,} events", base + span * rows / total)
            control.check()
    if rows != view.events:
        raise PackError(f"the JSON file holds {rows:,} events but {view.events:,} match: the pack was not written")
    return PackFile(path.name, "json", sink.size, sink.sha256.hexdigest(), rows)


#: the stored columns that go with each event into OCSF (`ocsf.to_ocsf` reads them as `stored`)
_STORED = (
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
    stored_cols = [getattr(c, name).label(name) for name in _STORED]
    with path.open("wb") as handle:
        sink = HashingWriter(handle)
        for batch in view.stream([event_json(), *stored_cols], control):
            data = batch.to_pydict()
            lines = []
            for i, line in enumerate(data["line"]):
                doc = json.loads(line)
                doc["stored"] = {
                    k: (v.isoformat(timespec="milliseconds") + "Z" if hasattr(v, "isoformat") else v)
                    for k in _STORED
                    if (v := data[k][i]) is not None
                }
                lines.append(json.dumps(to_ocsf(doc), ensure_ascii=False, separators=(",", ":")))
            sink.write(("\n".join(lines) + "\n").encode("utf-8"))
            rows += batch.num_rows
            control.report(f"OCSF: {rows:,} of {view.events:,} events", base + span * rows / total)
            control.check()
    if rows != view.events:
        raise PackError(f"the OCSF file holds {rows:,} events but {view.events:,} match: the pack was not written")
    return PackFile(path.name, "ocsf", sink.size, sink.sha256.hexdigest(), rows)
