"""Readers of event files: NDJSON, a JSON array, or CSV, each optionally gzip-compressed.

Every reader yields batches of `(position, JSON text)` pairs with bounded memory, where the
position is what a person would look for in the file: the line number (NDJSON, CSV) or the
element index of a JSON array. Records are not parsed here beyond what splitting needs; the
validator checks them all at once.

NDJSON, the bulk format, is also read as Arrow tables (`read_ndjson_tables`): whole blocks are
split into lines by vectorised operations, with no Python object per line, and the validator
takes the table as it is. `read_file_tables` gives every format that way. The HTTP API reads
its bodies with the same functions (`read_body`), so a body and a file holding the same bytes
give the same records at the same positions.

Hostile input stays bounded: no reader holds more than one block (8 MiB) of a line or element
longer than that; such a record is counted to its end and passed on with a reason and only an
excerpt of its text. A record that cannot be read (bytes that are not UTF-8, a line too long to
keep) travels with its reason beside its text (`unreadable`), never inside it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.events import contract
from dashboard.events.validate import Unreadable, json_depth

Format = Literal["ndjson", "json", "csv"]
Batch = list[tuple[int, str]]


def unreadable(reason: str, raw: str) -> str:
    """A record that cannot be read: quarantined with `reason` and its text, whatever the text holds."""
    return Unreadable(reason, raw)


class BrokenJSON(Unreadable):
    """The rest of a JSON array after a syntax error, with where the error is."""

    line: int
    column: int

    def __new__(cls, reason: str, raw: str, line: int = 0, column: int = 0) -> Self:
        obj = super().__new__(cls, reason, raw)
        obj.line, obj.column = line, column
        return obj


class ReadError(Exception):
    """A file that cannot be read as events at all."""


#: what Windows tools (Excel's "CSV UTF-8", Windows PowerShell's `Out-File`) put in front of UTF-8
UTF8_BOM = b"\xef\xbb\xbf"


def _open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when it is gzip, after a UTF-8 byte order mark if there is one."""
    fh = path.open("rb")
    magic = fh.read(2)
    fh.seek(0)
    stream: IO[bytes] = fh
    if magic == b"\x1f\x8b":
        fh.close()
        stream = gzip.open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115 - returned open; closing it closes the file
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


#: bytes read from an NDJSON file at a time; lines are split out of each block at once. A line
#: longer than a block is counted to its end, not kept (it is far over the limit of one event).
NDJSON_BLOCK_BYTES = 8 << 20
#: a batch is handed on once its records hold this many bytes, whatever their number.
MAX_BATCH_BYTES = 64 << 20

_RECORDS_SCHEMA = pa.schema([("pos", pa.int64()), ("raw", pa.string()), ("error", pa.string())])

#: what is stripped around a line: JSON's whitespace (a trailing \r of Windows line ends included).
LINE_WHITESPACE = " \t\r\n"


def _records(numbers: list[int], texts: list[str], errors: list[str | None] | None = None) -> pa.Table:
    return pa.table(
        [
            pa.array(numbers, pa.int64()),
            pa.array(texts, pa.string()),
            pa.array(errors if errors is not None else [None] * len(numbers), pa.string()),
        ],
        schema=_RECORDS_SCHEMA,
    )


def _not_utf8(exc: UnicodeDecodeError, where: str) -> str:
    return f"not UTF-8: byte 0x{exc.object[exc.start]:02x} at {where}"


def _shown_bytes(data: bytes) -> str:
    """Bytes as text, each byte that is not UTF-8 written as \\xNN."""
    return data.decode("utf-8", "backslashreplace")


def _block_lines(block: memoryview, first_line: int) -> tuple[pa.Table, int]:
    """The non-blank lines of a block of whole lines, stripped, with their line numbers.

    Lines are split at \n only (never at U+2028, U+2029 or U+0085, which are characters of a
    string like any other) and stripped of JSON whitespace (space, tab, \r, \n); blank ones are
    skipped but counted. A block that is not all UTF-8 is split line by line, so that only its
    bad lines are refused (with the column of the first bad byte). The table holds copies: the
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
    text = pc.utf8_trim(lines, LINE_WHITESPACE)
    data = text.buffers()[2]
    if data is not None and shared.address <= data.address < shared.address + shared.size:
        text = text.take(pa.array(np.arange(len(text))))  # never keep a view of the reused block
    numbers = pa.array(np.arange(first_line, first_line + len(ends), dtype=np.int64))
    keep = pc.greater(pc.binary_length(text), 0)
    if not pc.all(keep).as_py():
        text, numbers = text.filter(keep), numbers.filter(keep)
    errors = pa.nulls(len(text), pa.string())
    return pa.table([numbers, text, errors], schema=_RECORDS_SCHEMA), len(ends)


def _block_lines_checked(block: bytes, first_line: int) -> tuple[pa.Table, int]:
    numbers: list[int] = []
    texts: list[str] = []
    errors: list[str | None] = []
    parts = block.split(b"\n")
    if block.endswith(b"\n"):
        parts.pop()  # the newline ends the last line; nothing follows it
    strip = LINE_WHITESPACE.encode()
    for number, line in enumerate(parts, start=first_line):
        text = line.strip(strip)
        if not text:
            continue
        try:
            decoded, error = text.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            decoded, error = _shown_bytes(text), _not_utf8(exc, f"column {exc.start + 1}")
        numbers.append(number)
        texts.append(decoded)
        errors.append(error)
    return _records(numbers, texts, errors), len(parts)


@dataclass
class _LongLine:
    """A line longer than a block: its first bytes and its length (its newline not counted)."""

    head: bytes
    nbytes: int


def _blocks(stream: IO[bytes], block_bytes: int) -> Iterator[memoryview | _LongLine]:
    """Whole lines, about `block_bytes` at a time; a line longer than that as a `_LongLine`.

    Each block is a view of one buffer, refilled for the next block: read it before asking for
    the next. (A fresh buffer per block would cost more in page faults than the copying.) No
    more than the buffer is ever held, whatever the lines.
    """
    buf = bytearray(max(block_bytes, 2 * contract.MAX_EVENT_BYTES))
    view = memoryview(buf)
    kept = 0  # bytes at the start of `buf`: the unfinished last line of the previous block
    while True:
        if kept == len(buf):  # one line fills the buffer: count it to its newline, keep its head
            head, nbytes = bytes(buf[: contract.EXCERPT_CHARS]), kept
            while True:
                read = stream.readinto(view)  # type: ignore[attr-defined]
                if not read:
                    yield _LongLine(head, nbytes)
                    return
                cut = buf.find(b"\n", 0, read)
                if cut < 0:
                    nbytes += read
                    continue
                yield _LongLine(head, nbytes + cut)
                buf[: read - cut - 1] = buf[cut + 1 : read]
                kept = read - cut - 1
                break
            continue
        read = stream.readinto(view[kept:])  # type: ignore[attr-defined]
        if not read:
            if kept:
                yield view[:kept]
            return
        end = kept + read
        cut = buf.rfind(b"\n", 0, end) + 1
        if cut == 0:
            kept = end
            continue
        yield view[:cut]
        buf[: end - cut] = buf[cut:end]
        kept = end - cut


def _long_line_record(line: int, item: _LongLine) -> pa.Table:
    text = _shown_bytes(item.head) + f"... [{item.nbytes - len(item.head):,} more bytes not kept]"
    return _records([line], [text], [contract.too_large_reason(item.nbytes)])


def read_ndjson_tables(stream: IO[bytes], batch_size: int, block_bytes: int = NDJSON_BLOCK_BYTES) -> Iterator[pa.Table]:
    """Yield Arrow tables (`pos`: line number, `raw`: the line, `error`: why it cannot be read)
    of at most `batch_size` records (and about `MAX_BATCH_BYTES`) from NDJSON.

    Blank lines are skipped but counted, so positions are the file's line numbers.
    """
    batch_size = max(1, batch_size)
    pending: list[pa.Table] = []
    pending_rows = pending_bytes = 0
    line = 1
    for block in _blocks(stream, block_bytes):
        if isinstance(block, _LongLine):
            table, lines = _long_line_record(line, block), 1
        else:
            table, lines = _block_lines(block, line)
        line += lines
        pending.append(table)
        pending_rows += table.num_rows
        pending_bytes += table.column("raw").nbytes
        while pending_rows >= batch_size or (pending_bytes >= MAX_BATCH_BYTES and pending_rows):
            joined = pa.concat_tables(pending)
            take = min(batch_size, joined.num_rows)
            yield joined.slice(0, take)
            rest = joined.slice(take)
            pending, pending_rows = [rest], rest.num_rows
            pending_bytes = pending_bytes * rest.num_rows // max(1, joined.num_rows)
    if pending_rows:
        yield pa.concat_tables(pending)


def _table_batch(table: pa.Table) -> Batch:
    records: Batch = []
    for pos, raw, error in zip(*(table.column(c).to_pylist() for c in ("pos", "raw", "error")), strict=True):
        records.append((pos, unreadable(error, raw) if error else raw))
    return records


def read_ndjson(stream: IO[bytes], batch_size: int) -> Iterator[Batch]:
    """Yield batches of (line number, line) from NDJSON; blank lines are skipped."""
    for table in read_ndjson_tables(stream, batch_size):
        yield _table_batch(table)


# -- JSON arrays ---------------------------------------------------------------------------------

#: decodes only to find where an element ends: values are not built (no int conversion limit,
#: NaN and Infinity let through: the validator refuses them naming the field)
_SCANNER = json.JSONDecoder(
    parse_int=lambda _: 0,
    parse_float=lambda _: 0,
    parse_constant=lambda _: 0,
    object_pairs_hook=lambda _: 0,
)
_BAD_BYTE = re.compile("[\udc80-\udcff]")
_STRUCTURE = re.compile(r'["\[\]{}]')
_STRUCTURE_TOP = re.compile(r'["\[\]{},\s]')
_IN_STRING = re.compile(r'["\\]')


class _ElementEnd:
    """Finds where a JSON array element ends, text piece by piece, without parsing it.

    Used where the parser cannot be (an element nested past Python's recursion limit, or one too
    long to hold): it follows strings and brackets only, so it never recurses and keeps no text.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.started = False

    def feed(self, text: str, pos: int) -> int | None:
        """Where in `text` the element ends (exclusive), or None: it goes on in the next piece."""
        n = len(text)
        while pos < n:
            if self.escape:
                pos, self.escape = pos + 1, False
                continue
            if self.in_string:
                m = _IN_STRING.search(text, pos)
                if m is None:
                    return None
                if m.group() == "\\":
                    self.escape, pos = True, m.end()
                    continue
                self.in_string, pos = False, m.end()
                if self.depth == 0:
                    return pos
                continue
            if not self.started:
                self.started = True
            m = (_STRUCTURE if self.depth else _STRUCTURE_TOP).search(text, pos)
            if m is None:
                return None
            c = m.group()
            if c == '"':
                self.in_string, pos = True, m.end()
            elif c in "[{":
                self.depth, pos = self.depth + 1, m.end()
            elif c in "]}" and self.depth:
                self.depth, pos = self.depth - 1, m.end()
                if self.depth == 0:
                    return pos
            else:  # `,`, `]` or a blank after a number or literal at the top
                if m.start() == pos and not self.depth and c.isspace():
                    pos += 1
                    continue
                return m.start()
        return None


def _utf8_problem(text: str, where: str) -> str | None:
    m = _BAD_BYTE.search(text)
    if m is None:
        return None
    return f"not UTF-8: byte 0x{ord(m.group()) - 0xDC00:02x} at {where} {m.start() + 1}"


def _unescaped(text: str) -> str:
    """Text read with bad bytes kept as surrogates, with those bytes written as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_json_array(stream: IO[bytes], batch_size: int, chunk_size: int = 1 << 20) -> Iterator[Batch]:
    """Yield batches of (index, element text) from a JSON array, reading it in chunks.

    A syntax error inside the array ends the file: the rest is yielded as one record (its start
    kept, its size counted) so that it is quarantined with the error, never silently dropped. An
    element longer than one event may be is counted to its end and passed on with its start
    only; an element with bytes that are not UTF-8 is passed on with the place of the first one.
    """
    reader = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape")
    try:
        yield from _json_array(reader, batch_size, chunk_size)
    finally:
        reader.detach()  # the stream is the caller's to close


def _json_array(reader: io.TextIOWrapper, batch_size: int, chunk_size: int) -> Iterator[Batch]:
    limit = contract.MAX_EVENT_BYTES
    buf = reader.read(chunk_size)
    eof = len(buf) < chunk_size
    lines_before = 0  # newlines in the text already let go of
    i = len(buf) - len(buf.lstrip())
    if buf[i : i + 1] != "[":
        raise ReadError("a JSON array file must start with [")
    i += 1
    index = 0
    batch: Batch = []
    expect_value = True

    def more() -> None:
        nonlocal buf, i, eof, lines_before
        piece = reader.read(chunk_size)
        eof = len(piece) < chunk_size
        lines_before += buf.count("\n", 0, i)
        buf, i = buf[i:] + piece, 0

    def broken(message: str, at: int) -> BrokenJSON:
        line = lines_before + buf.count("\n", 0, at) + 1
        column = at - buf.rfind("\n", 0, at)
        rest = buf[at : at + contract.EXCERPT_CHARS]
        nbytes = len(buf[at:].encode("utf-8", "surrogateescape"))
        while piece := reader.read(chunk_size):
            nbytes += len(piece.encode("utf-8", "surrogateescape"))
        reason = (
            f"JSON array broken at element {index} (line {line}, column {column}): {message}; "
            f"the rest ({nbytes:,} bytes) is not read as events; its start is kept here"
        )
        return BrokenJSON(reason, _unescaped(rest), line, column)

    while True:
        while i < len(buf) and buf[i] in " \t\r\n":
            i += 1
        if i >= len(buf):
            if eof:
                batch.append((index, broken("the array is not closed with ]", i)))
                break
            more()
            continue
        ch = buf[i]
        if ch == "]" and (not expect_value or index == 0):
            i += 1
            while True:  # nothing but blanks may follow the array
                tail = buf[i:].strip(" \t\r\n")
                if tail:
                    batch.append((index, broken("text after the end of the array", i + buf[i:].index(tail[0]))))
                    break
                if eof:
                    break
                more()
            break
        if ch == "," and not expect_value:
            expect_value = True
            i += 1
            continue
        if not expect_value:
            batch.append((index, broken("expected , or ] after an element", i)))
            break
        end: int | None
        try:
            _, end = _SCANNER.raw_decode(buf, i)
            if end >= len(buf) and not eof:  # a number may go on in the next chunk
                more()
                continue
        except RecursionError:  # nested too deeply for Python's parser: find its end without it
            end = _ElementEnd().feed(buf, i)
            if end is None and not eof and len(buf) - i <= limit:
                more()
                continue
            if end is None and eof:
                batch.append((index, broken("an element is not closed", i)))
                break
        except json.JSONDecodeError as exc:
            incomplete = exc.msg.startswith("Unterminated string") or exc.pos >= len(buf) - 16
            if eof or not incomplete:
                batch.append((index, broken(exc.msg, exc.pos)))
                break
            if len(buf) - i <= limit:
                more()
                continue
            end = None
        if end is None:  # longer than one event may be: counted to its end, its start kept
            head = _unescaped(buf[i : i + contract.EXCERPT_CHARS])
            finder = _ElementEnd()
            nbytes = 0
            found = finder.feed(buf, i)
            while found is None:
                nbytes += len(buf[i:].encode("utf-8", "surrogateescape"))
                lines_before += buf.count("\n", i)
                buf, i = reader.read(chunk_size), 0
                if not buf:
                    eof = True
                    break
                found = finder.feed(buf, 0)
            if found is None:
                batch.append((index, broken("an element is not closed", 0)))
                break
            nbytes += len(buf[i:found].encode("utf-8", "surrogateescape"))
            record: str = unreadable(contract.too_large_reason(nbytes), head + "... [the rest not kept]")
            end = found
        else:
            text = buf[i:end]
            problem = _utf8_problem(text, "character")
            if len(text) > limit:  # too large whatever else it is: only its start is kept
                nbytes = len(text.encode("utf-8", "surrogateescape"))
                record = unreadable(contract.too_large_reason(nbytes), _unescaped(text[: contract.EXCERPT_CHARS]))
            else:
                record = unreadable(problem, _unescaped(text)) if problem else text
        batch.append((index, record))
        index += 1
        expect_value = False
        i = end
        if len(batch) >= batch_size:
            yield batch
            batch = []
        if i > chunk_size:
            lines_before += buf.count("\n", 0, i)
            buf, i = buf[i:], 0
    if batch:
        yield batch


# -- CSV -------------------------------------------------------------------------------------

_JSON_CELLS = ("changes", "metadata", "before", "after")


def _json_cell(key: str, value: str) -> Any:
    """A JSON cell's value; its text when it is not JSON (the validator then says what it is)."""
    depth = json_depth(value)
    if depth > contract.MAX_NESTING:
        raise _CellError(contract.too_deep_reason(key, depth))
    try:
        # numbers too large for an int conversion come through as infinity: refused by name
        return json.loads(value, parse_int=lambda s: int(s) if len(s) < 300 else float("inf"))
    except (ValueError, RecursionError):
        return value


class _CellError(Exception):
    pass


def _unflatten(row: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        if key in _JSON_CELLS:
            doc[key] = _json_cell(key, value)
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


def _physical_lines(stream: IO[bytes]) -> Iterator[bytes | _LongLine]:
    """The file's lines, each with its newline, none longer than a block (see `_blocks`)."""
    for block in _blocks(stream, NDJSON_BLOCK_BYTES):
        if isinstance(block, _LongLine):
            yield block
            continue
        data = bytes(block)
        start = 0
        while start < len(data):
            cut = data.find(b"\n", start)
            end = len(data) if cut < 0 else cut + 1
            yield data[start:end]
            start = end


def read_csv(stream: IO[bytes], batch_size: int) -> Iterator[Batch]:
    """Yield batches of (line number, event JSON) from CSV with dotted column names.

    A row that cannot be read is passed on with the reason and where: a cell whose bytes are not
    UTF-8 (its column named), a line longer than one event may be, a row the CSV reader refuses,
    more cells than the header has columns, a JSON cell nested too deeply.
    """
    line = 0
    problems: list[str] = []
    last = ""

    def lines() -> Iterator[str]:
        nonlocal line, last
        for item in _physical_lines(stream):
            line += 1
            if isinstance(item, _LongLine):
                problems.append(f"line {line} is {contract.too_large_reason(item.nbytes)}")
                last = _shown_bytes(item.head) + "... [the rest not kept]"
                yield "\n"
                continue
            text = item.decode("utf-8", "surrogateescape")
            last = text[: contract.EXCERPT_CHARS]
            yield text

    reader = csv.reader(lines())
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ReadError(f"the CSV header (line {line}) cannot be read: {exc}") from exc
    bad = _utf8_problem(",".join(header), "character")
    if bad:
        raise ReadError(f"the CSV header (line {line}) is {bad}")
    batch: Batch = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            batch.append((line, unreadable(f"line {line} is not valid CSV: {exc}", _unescaped(last))))
            problems.clear()
            continue
        if not row or row == [""]:  # a blank line (one too long to keep is refused here)
            if problems:
                batch.append((line, unreadable("; ".join(problems), _unescaped(last))))
                problems.clear()
            continue
        reasons = list(problems)
        problems.clear()
        for column, cell in zip(header, row, strict=False):
            bad = _utf8_problem(cell, "character")
            if bad:
                reasons.append(f"column {column!r}: {bad}")
        if len(row) > len(header):
            reasons.append(f"{len(row)} cells, but the header names {len(header)} columns")
        size = sum(len(cell.encode("utf-8", "surrogateescape")) for cell in row)
        if size > contract.MAX_EVENT_BYTES:
            reasons.append(f"the row's cells hold {contract.too_large_reason(size)}")
        record: str | None = None
        if not reasons:
            try:
                record = json.dumps(_unflatten(dict(zip(header, row, strict=False))), ensure_ascii=False)
            except _CellError as exc:
                reasons.append(str(exc))
        if record is None:
            raw = _unescaped(",".join(row))
            record = unreadable("; ".join(reasons), raw[: contract.EXCERPT_CHARS])
        batch.append((line, record))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- files and bodies ------------------------------------------------------------------------


def _checked(path: Path | str, batches: Iterator[Any]) -> Iterator[Any]:
    """The batches, with damaged compressed data reported as a `ReadError` naming the file."""
    try:
        yield from batches
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ReadError(f"{path}: the gzip data is damaged or cut short ({exc or type(exc).__name__})") from exc


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

    return fmt, _checked(path, batches())


def _batch_table(batch: Batch) -> pa.Table:
    pos = [p for p, _ in batch]
    raw = [str(r) for _, r in batch]
    errors = [r.reason if isinstance(r, Unreadable) else None for _, r in batch]
    return _records(pos, raw, errors)


def read_file_tables(path: Path, batch_size: int = 100_000) -> tuple[Format, Iterator[pa.Table]]:
    """Like `read_file`, with each batch as an Arrow table of `pos`, `raw` and `error` (what the validator takes)."""
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
                yield _batch_table(batch)

    return fmt, _checked(path, tables())


class BodyError(ValueError):
    """A request body that cannot be read as events at all (the API answers 400, or 413)."""

    def __init__(self, message: str, status: int = 400, **where: Any) -> None:
        super().__init__(message)
        self.status = status
        self.where = where


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress gzip data, refusing (413) to make more than `limit` bytes of it."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BodyError(f"body is gzip data that cannot be decompressed: {exc}") from exc
    if len(out) > limit:
        raise BodyError(f"body decompresses to more than {limit:,} bytes; send smaller batches", 413)
    if not inflater.eof:
        raise BodyError("body is gzip data that is cut short")
    return out


def read_body(data: bytes, batch_size: int) -> tuple[Format, list[Batch | pa.Table]]:
    """The records of an API body, read by the same readers as files.

    The body is a JSON array or NDJSON, optionally gzip-compressed (as a file may be), with or
    without a UTF-8 byte order mark. Raises `BodyError` for a body that is no such thing, with
    what is wrong and where: empty, not UTF-8 (line and column of the first bad byte), neither
    an array nor objects, or a JSON array with a syntax error (line and column).
    """
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BodyError(
            f"body is not UTF-8: byte 0x{data[exc.start]:02x} on line {line}, column {column}",
            line=line,
            column=column,
            position=exc.start,
        ) from exc
    head = data.lstrip(LINE_WHITESPACE.encode())[:1]
    if not head:
        raise BodyError("empty body: send a JSON array or NDJSON")
    if head == b"[":
        batches: list[Batch | pa.Table] = []
        for batch in read_json_array(io.BytesIO(data), batch_size, chunk_size=len(data) + 1):
            for _pos, raw in batch:
                if isinstance(raw, BrokenJSON):
                    raise BodyError(f"malformed JSON: {raw.reason}", line=raw.line, column=raw.column)
            batches.append(batch)
        return "json", batches
    if head != b"{":
        shown = data.lstrip()[:20].decode("utf-8", "replace")
        raise BodyError(
            f"body must be a JSON array of events or NDJSON (one event object per line); it starts with {shown!r}"
        )
    return "ndjson", list(read_ndjson_tables(io.BytesIO(data), batch_size))


def position_label(fmt: Format) -> str:
    """How a position is named in messages for this format."""
    return "index" if fmt == "json" else "line"
