"""Readers of event files: NDJSON, a JSON array, or CSV, each optionally gzip-compressed.

Every reader yields batches of `(position, JSON text)` pairs with bounded memory, where the
position is what a person would look for in the file: the line number (NDJSON, CSV) or the
element index of a JSON array. Records are not parsed here beyond what splitting needs; the
validator checks them all at once.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

Format = Literal["ndjson", "json", "csv"]
Batch = list[tuple[int, str]]


#: marks a record that could not even be split out; the validator rejects it with the reason.
UNREADABLE_MARK = "\x00"


def unreadable(reason: str, raw: str) -> str:
    """Encode a record that cannot be read, so that it is quarantined with `reason`."""
    return f"{UNREADABLE_MARK}{reason}{UNREADABLE_MARK}{raw}"


class ReadError(Exception):
    """A file that cannot be read as events at all."""


def _open_binary(path: Path) -> IO[bytes]:
    fh = path.open("rb")
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh)  # type: ignore[return-value]
    return fh


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


def read_ndjson(stream: IO[bytes], batch_size: int) -> Iterator[Batch]:
    """Yield batches of (line number, line) from NDJSON; blank lines are skipped."""
    batch: Batch = []
    for number, line in enumerate(stream, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            decoded = unreadable(f"not UTF-8 (bad byte at column {exc.start + 1})", text.decode("utf-8", "replace"))
        batch.append((number, decoded))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


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


def position_label(fmt: Format) -> str:
    """How a position is named in messages for this format."""
    return "index" if fmt == "json" else "line"
