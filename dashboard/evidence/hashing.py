"""Recomputing event hashes in bulk: DuckDB builds each row's canonical text, Python's OpenSSL
SHA-256 hashes it (in worker processes for large ranges), and the rows whose stored hash differs
are named.
"""

from __future__ import annotations

import binascii
import collections
import hashlib
import itertools
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import duckdb
import numpy as np
import pyarrow as pa

log = logging.getLogger(__name__)


MAX_FINDINGS = 10_000  # per kind of check; a rewritten table must not fill the memory


def _buffers(arr: pa.Array) -> tuple[np.ndarray, memoryview]:
    """Offsets (numpy) and data buffer of a string or binary Arrow array."""
    if pa.types.is_string_view(arr.type) or pa.types.is_binary_view(arr.type):
        arr = arr.cast(pa.large_binary())
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    bufs = arr.buffers()
    offsets = np.frombuffer(
        bufs[1], dtype=np.int64 if wide else np.int32, count=len(arr) + 1, offset=arr.offset * (8 if wide else 4)
    )
    data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")
    return offsets, data


def _hex_digests(data: bytes | memoryview, offsets: list[int]) -> bytes:
    """Hex SHA-256 of each slice data[offsets[i]:offsets[i+1]], concatenated (64 bytes each)."""
    view = memoryview(data)
    sha = hashlib.sha256
    return binascii.hexlify(b"".join([sha(view[a:b]).digest() for a, b in itertools.pairwise(offsets)]))


def _differing(got: bytes, stored: bytes) -> list[int]:
    """Positions where two runs of 64-byte hex hashes differ."""
    if got == stored:
        return []
    n = len(got) // 64
    a = np.frombuffer(got, dtype=np.uint8).reshape(n, 64)
    b = np.frombuffer(stored, dtype=np.uint8).reshape(n, 64)
    return np.flatnonzero((a != b).any(axis=1)).tolist()


def check_chunk(data: bytes, offsets: bytes, stored: bytes) -> list[int]:
    """Worker task: positions whose stored hex hash differs from the SHA-256 of their text.

    Args:
        data: the texts, back to back.
        offsets: int64 start offsets into `data`, one more than there are texts.
        stored: the stored hex hashes, 64 bytes each.
    """
    return _differing(_hex_digests(data, np.frombuffer(offsets, dtype=np.int64).tolist()), stored)


def _pack(texts: pa.Array, hashes: pa.Array) -> tuple[bytes, bytes, bytes] | None:
    """A record batch as plain bytes for a worker; None when a hash is not 64 characters."""
    n = len(texts)
    if hashes.null_count or not (pa.types.is_string(hashes.type) or pa.types.is_large_string(hashes.type)):
        return None
    h_off, h_data = _buffers(hashes)
    if h_off[-1] - h_off[0] != 64 * n or not np.all(np.diff(h_off) == 64):
        return None
    t_off, t_data = _buffers(texts)
    lo, hi = int(t_off[0]), int(t_off[-1])
    return (
        bytes(t_data[lo:hi]),
        (t_off.astype(np.int64) - lo).tobytes(),
        bytes(h_data[int(h_off[0]) : int(h_off[-1])]),
    )


def mismatched(texts: pa.Array, hashes: pa.Array) -> list[int]:
    """Positions whose stored hash differs from the SHA-256 of their canonical text."""
    packed = _pack(texts, hashes)
    if packed is not None:
        return check_chunk(*packed)
    offsets, data = _buffers(texts)
    got = _hex_digests(data, offsets.tolist())
    values = hashes.to_pylist()
    return [i for i, v in enumerate(values) if v is None or v.encode() != got[64 * i : 64 * i + 64]]


#: below this many rows the hashing stays in this process (starting workers costs more)
PARALLEL_MIN_ROWS = 400_000


@contextmanager
def hash_workers(rows: int, workers: int | None = None) -> Iterator[ProcessPoolExecutor | None]:
    """Worker processes for hashing `rows` rows (None when they would not help).

    Without workers, DuckDB builds the canonical texts on its threads while this process
    hashes them, which keeps two cores busy. Workers only pay (they cost a copy of every text
    through a pipe) when more cores are free: by default one per core beyond the first two.
    They come from a fork server that has imported this module once: they never touch DuckDB
    (which is not fork-safe), they only hash bytes sent to them.
    """
    count = (os.cpu_count() or 1) - 2 if workers is None else workers
    if rows < PARALLEL_MIN_ROWS or count < 2:
        yield None
        return
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=count, mp_context=ctx) as pool:
        yield pool


def stream_batches(rel: duckdb.DuckDBPyRelation, rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """The record batches of a relation, produced by DuckDB in a thread while the caller works."""
    reader = rel.to_arrow_reader(rows)
    out: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=3)
    stop = threading.Event()

    def produce() -> None:
        try:
            for rb in reader:
                while not stop.is_set():
                    try:
                        out.put(rb, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(None)
        except BaseException as exc:  # handed to the consumer
            out.put(exc)

    thread = threading.Thread(target=produce, name="verify-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


def check_rows(
    rel: duckdb.DuckDBPyRelation, pool: ProcessPoolExecutor | None = None, limit: int = MAX_FINDINGS
) -> tuple[int, list[int]]:
    """Hash every row of a relation with columns (seq, hash, text); return (rows, mismatched seqs).

    With a pool, record batches are hashed by the workers while DuckDB builds the next ones.
    Should the pool break (a worker killed, or a main module that cannot be re-imported), the
    work left is done here.
    """
    total = 0
    bad: list[int] = []
    pending: collections.deque[tuple[Future[list[int]], tuple[bytes, bytes, bytes], pa.Array]] = collections.deque()
    depth = 2 * (pool._max_workers if pool is not None else 1)  # type: ignore[attr-defined]

    def note(wrong: list[int], seqs: pa.Array) -> None:
        if wrong and len(bad) < limit:
            bad.extend(int(s) for s in seqs.take(pa.array(wrong[: limit - len(bad)])).to_pylist())

    def collect() -> None:
        nonlocal pool
        future, packed, seqs = pending.popleft()
        try:
            wrong = future.result()
        except BrokenProcessPool:
            log.warning("hash workers stopped; hashing in this process")
            pool = None
            wrong = check_chunk(*packed)
        note(wrong, seqs)

    for rb in stream_batches(rel):
        total += rb.num_rows
        packed = _pack(rb.column(2), rb.column(1)) if pool is not None else None
        if pool is not None and packed is not None:
            try:
                pending.append((pool.submit(check_chunk, *packed), packed, rb.column(0)))
            except BrokenProcessPool:
                pool = None
                note(check_chunk(*packed), rb.column(0))
            while len(pending) >= depth:
                collect()
        else:
            note(mismatched(rb.column(2), rb.column(1)), rb.column(0))
    while pending:
        collect()
    return total, sorted(bad)
