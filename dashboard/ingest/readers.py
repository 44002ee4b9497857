"""Readers of event files: NDJSON, a JSON array, or CSV, each optionally gzip-compressed.

Every reader yields batches of `(position, JSON text)` pairs with bounded memory, where the
position is what a person would look for in the file: the line number (NDJSON, CSV) or the
element index of a JSON array. Records are not parsed here beyond what splitting needs; the
validator checks them all at once.

NDJSON, the bulk format, is also read as Arrow tables (`read_ndjson_tables`): whole blocks are
split into lines by vectorised operations, with no Python object per line, and the validator
takes the table as it is. `read_file_tables` gives every format that way.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Format = Literal["ndjson", "json", "csv"]
Batch = list[tuple[int, str]]


#: marks a record that could not even be split out; the validator rejects it with the reason.
UNREADABLE_MARK = "\x00"


def unreadable(reason: str, raw: str) -> str:
    """Encode a record that cannot be read, so that it is quarantined with `reason`."""
    return f"{UNREADABLE_MARK}{reason}{UNREADABLE_MARK}{raw}"


class ReadError(Exception):
    """A file that cannot be read as events at all."""


#: what Windows tools (Excel's "CSV UTF-8", Windows PowerShell's `Out-File`) put in front of UTF-8
UTF8_BOM = b"\xef\xbb\xbf"


def _open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when it is gzip, after a UTF-8 byte order mark if there is one."""
    fh = path.open("rb")
    magic = fh.read(2)
    fh.seek(0)
    stream: IO[bytes] = gzip.GzipFile(fileobj=fh) if magic == b"\x1f\x8b" else fh  # type: ignore[assignment]
    if stream.read(3) != UTF8_BOM:
        stream.seek(0)
    return stream


def detect_format(path: Path) -> Format:
    """Guess the format from the name, then from the first non-blank character."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".ndjson", ".jsonl")):
        return "ndjson"
    with _open_binary(path) as fh:
        head = fh.read(4096).lstrip()
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{") or not head:
        return "ndjson"
    raise ReadError(f"{path}: cannot tell the format (expected NDJSON, a JSON array, or a .csv file)")


#: bytes read from an NDJSON file at a time; lines are split out of each block at once.
NDJSON_BLOCK_BYTES = 8 << 20

_RECORDS_SCHEMA = pa.schema([("pos", pa.int64()), ("raw", pa.string())])


def _block_lines(block: memoryview, first_line: int) -> tuple[pa.Table, int]:
    """The non-blank lines of a block of whole lines, stripped, with their line numbers.

    Lines are stripped of ASCII whitespace (what `bytes.strip` removes) and blank ones skipped.
    A block that is not all UTF-8 is split line by line, so that only its bad lines are marked
    unreadable (the validator quarantines them with the reason). The table holds copies: the
    block's memory is reused for the next one.

    Returns:
        The table, and the number of lines in the block (blank ones included).
    """
    try:
        str(block, "utf-8")
    except UnicodeDecodeError:
        return _block_lines_checked(bytes(block), first_line)
    # Each line's text runs from its start to the next line's start, newline included: the
    # block is shared as it is, and the strip (which copies) drops the newline with the blanks.
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + 1
    if not len(ends) or ends[-1] != len(block):
        ends = np.append(ends, len(block))
    offsets = np.concatenate(([0], ends)).astype(np.int32)
    shared = pa.py_buffer(block)
    lines = pa.Array.from_buffers(pa.string(), len(ends), [None, pa.py_buffer(offsets), shared])
    text = pc.ascii_trim_whitespace(lines)
    data = text.buffers()[2]
    if data is not None and shared.address <= data.address < shared.address + shared.size:
        text = text.take(pa.array(np.arange(len(text))))  # never keep a view of the reused block
    numbers = pa.array(np.arange(first_line, first_line + len(ends), dtype=np.int64))
    keep = pc.greater(pc.binary_length(text), 0)
    if not pc.all(keep).as_py():
        text, numbers = text.filter(keep), numbers.filter(keep)
    return pa.table([numbers, text], schema=_RECORDS_SCHEMA), len(ends)


def _block_lines_checked(block: bytes, first_line: int) -> tuple[pa.Table, int]:
    numbers: list[int] = []
    texts: list[str] = []
    parts = block.split(b"\n")
    if block.endswith(b"\n"):
        parts.pop()  # the newline ends the last line; nothing follows it
    for number, line in enumerate(parts, start=first_line):
        text = line.strip()
        if not text:
            continue
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            decoded = unreadable(f"not UTF-8 (bad byte at column {exc.start + 1})", text.decode("utf-8", "replace"))
        numbers.append(number)
        texts.append(decoded)
    table = pa.table([pa.array(numbers, pa.int64()), pa.array(texts, pa.string())], schema=_RECORDS_SCHEMA)
    return table, len(parts)


def _blocks(stream: IO[bytes], block_bytes: int) -> Iterator[memoryview]:
    """Whole lines, about `block_bytes` at a time (a longer line makes a longer block).

    Each block is a view of one buffer, refilled for the next block: read it before asking for
    the next. (A fresh buffer per block would cost more in page faults than the copying.)
    """
    buf = bytearray(block_bytes)
    kept = 0  # bytes at the start of `buf`: the unfinished last line of the previous block
    while True:
        if kept == len(buf):  # a line longer than the buffer (a new one: views of it may live on)
            buf = buf + bytes(len(buf))
        read = stream.readinto(memoryview(buf)[kept:])  # type: ignore[attr-defined]
        if not read:
            if kept:
                yield memoryview(buf)[:kept]
            return
        end = kept + read
        cut = buf.rfind(b"\n", 0, end) + 1
        if cut == 0:
            kept = end
            continue
        yield memoryview(buf)[:cut]
        buf[: end - cut] = buf[cut:end]
        kept = end - cut


def read_ndjson_tables(stream: IO[bytes], batch_size: int, block_bytes: int = NDJSON_BLOCK_BYTES) -> Iterator[pa.Table]:
    """Yield Arrow tables (`pos`: line number, `raw`: the line) of `batch_size` records from NDJSON.

    Blank lines are skipped but counted, so positions are the file's line numbers.
    """
    batch_size = max(1, batch_size)
    pending: list[pa.Table] = []
    pending_rows = 0
    line = 1
    for block in _blocks(stream, block_bytes):
        table, lines = _block_lines(block, line)
        line += lines
        pending.append(table)
        pending_rows += table.num_rows
        while pending_rows >= batch_size:
            joined = pa.concat_tables(pending)
            yield joined.slice(0, batch_size)
            rest = joined.slice(batch_size)
            pending, pending_rows = [rest], rest.num_rows
    if pending_rows:
        yield pa.concat_tables(pending)


def read_ndjson(stream: IO[bytes], batch_size: int) -> Iterator[Batch]:
    """Yield batches of (line number, line) from NDJSON; blank lines are skipped."""
    for table in read_ndjson_tables(stream, batch_size):
        yield list(zip(table.column("pos").to_pylist(), table.column("raw").to_pylist(), strict=True))


def read_json_array(stream: IO[bytes], batch_size: int, chunk_size: int = 1 << 20) -> Iterator[Batch]:
    """Yield batches of (index, element text) from a JSON array, reading it in chunks.

    A syntax error inside the array ends the file: the rest is yielded as one record so that
    it is quarantined with the error, never silently dropped.
    """
    reader = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
    decoder = json.JSONDecoder()
    buf = reader.read(chunk_size)
    eof = len(buf) < chunk_size
    i = len(buf) - len(buf.lstrip())
    if buf[i : i + 1] != "[":
        raise ReadError("a JSON array file must start with [")
    i += 1
    index = 0
    batch: Batch = []
    expect_value = True
    while True:
        while i < len(buf) and buf[i] in " \t\r\n":
            i += 1
        if i >= len(buf):
            if eof:
                break
            more = reader.read(chunk_size)
            eof = len(more) < chunk_size
            buf, i = buf[i:] + more, 0
            continue
        ch = buf[i]
        if ch == "]" and (not expect_value or index == 0):
            break
        if ch == "," and not expect_value:
            expect_value = True
            i += 1
            continue
        try:
            _, end = decoder.raw_decode(buf, i)
        except json.JSONDecodeError as exc:
            if not eof:
                more = reader.read(chunk_size)
                eof = len(more) < chunk_size
                buf, i = buf[i:] + more, 0
                continue
            rest = buf[i : i + 65536]
            reason = f"JSON array broken at element {index}: {exc.msg}; the rest of the file is kept here"
            batch.append((index, unreadable(reason, rest)))
            break
        batch.append((index, buf[i:end]))
        index += 1
        expect_value = False
        i = end
        if len(batch) >= batch_size:
            yield batch
            batch = []
        if i > chunk_size:
            buf, i = buf[i:], 0
    if batch:
        yield batch


def _unflatten(row: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        if key in ("changes", "metadata", "before", "after"):
            try:
                doc[key] = json.loads(value)
            except ValueError:
                doc[key] = value
            continue
        if key == "occurred_at" and value.lstrip("-").replace(".", "", 1).isdigit():
            doc[key] = float(value) if "." in value else int(value)
            continue
        if "." in key:
            parent, child = key.split(".", 1)
            doc.setdefault(parent, {})[child] = value
        else:
            doc[key] = value
    return doc


def read_csv(stream: IO[bytes], batch_size: int) -> Iterator[Batch]:
    """Yield batches of (line number, event JSON) from CSV with dotted column names."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.DictReader(text)
    batch: Batch = []
    for row in reader:
        batch.append((reader.line_num, json.dumps(_unflatten(row), ensure_ascii=False)))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_file(path: Path, batch_size: int = 100_000) -> tuple[Format, Iterator[Batch]]:
    """Open an event file and return its format and its batches."""
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    fmt = detect_format(path)

    def batches() -> Iterator[Batch]:
        with _open_binary(path) as fh:
            if fmt == "csv":
                yield from read_csv(fh, batch_size)
            elif fmt == "json":
                yield from read_json_array(fh, batch_size)
            else:
                yield from read_ndjson(fh, batch_size)

    return fmt, batches()


def read_file_tables(path: Path, batch_size: int = 100_000) -> tuple[Format, Iterator[pa.Table]]:
    """Like `read_file`, with each batch as an Arrow table of `pos` and `raw` (what the validator takes)."""
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    fmt = detect_format(path)

    def tables() -> Iterator[pa.Table]:
        with _open_binary(path) as fh:
            if fmt == "ndjson":
                yield from read_ndjson_tables(fh, batch_size)
                return
            reader = read_csv(fh, batch_size) if fmt == "csv" else read_json_array(fh, batch_size)
            for batch in reader:
                pos, raw = zip(*batch, strict=True)
                yield pa.table([pa.array(pos, pa.int64()), pa.array(raw, pa.string())], schema=_RECORDS_SCHEMA)

    return fmt, tables()


def position_label(fmt: Format) -> str:
    """How a position is named in messages for this format."""
    return "index" if fmt == "json" else "line"
