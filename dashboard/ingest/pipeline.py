"""The ingest path: raw records -> validate and enrich -> chain and store.

Used by the CLI (`auditdash ingest`), the HTTP API and the demo loader, so every event enters
the store the same way.

A stream of batches runs as a two-stage pipeline: a worker thread reads and validates the next
batch while the calling thread stores the current one. Both stages spend most of their time
inside DuckDB, which runs without the GIL, so the two overlap on two cores. Batches are still
stored one at a time, in order, each in its own transaction, and at most two are in memory.

Validation needs nothing stored, so it runs on a private in-memory DuckDB (a cursor per call),
not on the store's, and the pipeline sets how many threads it gets: one while batches bring
mostly new events (storing them is the heavier stage, and a second validation thread would only
take turns with the store's on two cores), all of them otherwise (a file imported again is all
duplicates, quick to store). `benchmarks/ingest.py`, 1 million events, batches of 122,880, three
runs: 11.6 to 12.3 CPU-seconds and 144,859 to 151,892 events/s, where validating on the store's
connection took 13.2 CPU-seconds and gave 129,734 events/s just before; the same file again
3.5 to 3.6 s, as before (docs/PERFORMANCE.md, "Ingest").
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.config import archive_folder
from dashboard.events.validate import ACCEPTED_SCHEMA, BatchResult, QuarantineBudget, Rejected, validate_batch
from dashboard.ingest.geo import GeoLocator
from dashboard.ingest.readers import Batch, read_file_tables
from dashboard.ingest.readers import position_label as label_for
from dashboard.store.db import Database
from dashboard.store.duck import run
from dashboard.store.writer import WriteResult, raw_texts, store_batch

Listener = Callable[[WriteResult], None]
"""Called after each stored batch (for example: incremental detection)."""

Progress = Callable[[int, int], None]
"""Called after each batch with (records read so far, bytes read so far or 0)."""

Records: TypeAlias = Batch | pa.Table

#: rejected records a `WriteResult` of many batches names one by one (the quarantine keeps more)
REPORTED_REJECTIONS = 100
"""One batch of raw records: (position, JSON text) pairs, or an Arrow table of `pos` and `raw`."""


@dataclass
class Checked(BatchResult):
    """A validated batch with the raw records it came from (a conflict or a record refused for
    its account is quarantined with its raw text)."""

    raw: Records | None = None


def refuse_other_accounts(checked: BatchResult, accounts: tuple[str, ...], sender: str) -> BatchResult:
    """Move the events of accounts outside `accounts` from accepted to rejected, each with a reason
    naming its account (the rest is stored as usual)."""
    accepted = checked.accepted
    inside = pc.is_in(accepted.column("account_id"), value_set=pa.array(accounts, pa.string()))
    if bool(pc.all(inside).as_py()) or accepted.num_rows == 0:
        return checked
    outside = accepted.filter(pc.invert(inside))
    texts = raw_texts(getattr(checked, "raw", None), outside)
    allowed = ", ".join(accounts)
    refused = [
        Rejected(
            pos=int(pos),
            raw=text,
            reason=f"account {account!r} is not among the accounts {sender} may send events for ({allowed})",
        )
        for pos, account, text in zip(
            outside.column("pos").to_pylist(), outside.column("account_id").to_pylist(), texts, strict=True
        )
    ]
    rejected = sorted([*checked.rejected, *refused], key=lambda r: r.pos)
    return Checked(accepted=accepted.filter(inside), rejected=rejected, raw=getattr(checked, "raw", None))


def _quarantine_max() -> int:
    from dashboard.config import ConfigError, Settings, load

    try:
        return load().quarantine_max_records
    except ConfigError:  # the process reports a bad setting where it reads its settings
        return Settings().quarantine_max_records


class Ingestor:
    """Validates, enriches and stores batches of raw records.

    Args:
        db: the store.
        geo: the geolocation source (one per process; lookups are thread-safe).
        batch_size: records per batch (bounds memory: about 1 KB per record).
        archive_dir: retention's archive (`AUDITDASH_ARCHIVE_DIR`), whose ids also count as stored.
    """

    def __init__(
        self,
        db: Database,
        geo: GeoLocator | None = None,
        batch_size: int = 100_000,
        archive_dir: Path | None = None,
        quarantine_max: int | None = None,
    ) -> None:
        self.db = db
        #: rejected records kept in full per file or request (`AUDITDASH_QUARANTINE_MAX_RECORDS`)
        self.quarantine_max = quarantine_max if quarantine_max is not None else _quarantine_max()
        self.geo = geo
        self.batch_size = batch_size
        # re-sent events of archived months are duplicates too
        self.archive_dir = archive_folder(archive_dir, db.path)
        self.listeners: list[Listener] = []
        # Spilled to a folder of its own under the system's temporary folder, were a batch ever
        # to need it (DuckDB would use `.tmp` in the current folder), made only then.
        spill = Path(tempfile.gettempdir()) / f"auditdash-validate-{os.getpid()}-{id(self):x}"
        self._engine = duckdb.connect(":memory:", config={"temp_directory": str(spill)})
        self._engine_lock = threading.Lock()
        self._all_threads = self._engine_threads = int(run(self._engine, "SELECT current_setting('threads')")[0][0])

    def validate(self, records: Records) -> Checked:
        """Validate and enrich one batch without storing it (any thread may call this).

        The result keeps the raw records until the batch is stored: a record whose id turns out
        to be stored with other content is quarantined with its raw text.
        """
        with self._engine_lock:  # a connection object hands out cursors one at a time
            cursor = self._engine.cursor()
        with contextlib.closing(cursor):
            checked = validate_batch(cursor, records, geo=self.geo)
        return Checked(accepted=checked.accepted, rejected=checked.rejected, raw=records)

    def close(self) -> None:
        """Close the validation engine (the store stays open: it is the caller's)."""
        with self._engine_lock:
            self._engine.close()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_engine_threads(self, threads: int) -> None:
        """Threads of the validation engine from its next statement on (calls in different
        threads, such as two API requests, run side by side whatever this is)."""
        threads = max(1, min(threads, self._all_threads))
        with self._engine_lock:
            if threads != self._engine_threads:
                run(self._engine, f"SET threads = {threads}")
                self._engine_threads = threads

    def store(
        self,
        checked: BatchResult,
        source: str,
        position_label: str = "record",
        accounts: tuple[str, ...] | None = None,
    ) -> WriteResult:
        """Store a validated batch and tell the listeners what was stored.

        `accounts`: the only accounts the sender may send events for (an ingest token bound to
        accounts); an event of another account is quarantined with a reason naming it. None: any.
        """
        if accounts is not None:
            checked = refuse_other_accounts(checked, accounts, source)
        result = store_batch(
            self.db,
            checked.accepted,
            checked.rejected,
            source,
            position_label,
            archive_dir=self.archive_dir,
            raw=getattr(checked, "raw", None),
        )
        if result.accepted:
            for listener in self.listeners:
                listener(result)
        return result

    def ingest_batch(self, records: Records, source: str, position_label: str = "record") -> WriteResult:
        """Validate and store one batch; rejected records go to quarantine."""
        return self.store(self.validate(records), source, position_label)

    def ingest_batches(
        self,
        batches: Iterable[Records],
        source: str,
        position_label: str = "record",
        progress: Progress | None = None,
    ) -> WriteResult:
        """Ingest a stream of batches; each batch is stored atomically, in order.

        The next batch is read and validated in a worker thread while this one is stored.
        """
        total = WriteResult()
        seen = 0
        budget = QuarantineBudget(self.quarantine_max)
        for size, checked in self._validated(batches):
            budget.take(checked)  # the first rejected records are kept in full, the rest counted
            stored = self.store(checked, source, position_label)
            room = max(0, REPORTED_REJECTIONS - len(total.rejected_records))
            del stored.rejected_records[room:]  # the quarantine has them; a report names the first
            del stored.conflict_records[max(0, REPORTED_REJECTIONS - len(total.conflict_records)) :]  # so too
            total.add(stored)
            # While batches bring mostly new events, storing is the heavier stage: validation
            # keeps to one thread and leaves the other core to it. Batches of duplicates or
            # rejects are quick to store, and validation gets every thread back.
            self._set_engine_threads(1 if stored.accepted * 2 >= size else self._all_threads)
            seen += size
            if progress:
                progress(seen, 0)
        self.store_not_kept(budget, source, position_label, total)
        return total

    def store_not_kept(self, budget: QuarantineBudget, source: str, position_label: str, total: WriteResult) -> None:
        """Quarantine the summary of the rejected records `budget` did not keep, and count them in `total`."""
        summary = budget.summary(position_label)
        if summary is None:
            return
        store_batch(self.db, ACCEPTED_SCHEMA.empty_table(), [summary], source, position_label)
        total.rejected += budget.dropped

    def ingest_file(self, path: Path, progress: Progress | None = None) -> WriteResult:
        """Ingest one NDJSON, JSON-array or CSV file (gzip accepted)."""
        fmt, batches = read_file_tables(path, self.batch_size)
        return self.ingest_batches(batches, f"file:{path.name}", label_for(fmt), progress)

    def _validated(self, batches: Iterable[Records]) -> Iterator[tuple[int, BatchResult]]:
        """(batch size, validated batch) in order, each validated in a worker thread.

        The worker validates batch N+1 while the caller stores batch N, and reads N+2 only once
        the caller has taken N+1: at most two batches are in memory, the one being stored and
        the one being read and validated.
        """
        ready: queue.Queue[tuple[int, BatchResult] | BaseException | None] = queue.Queue(maxsize=1)
        taken = threading.Semaphore(0)
        stop = threading.Event()

        def wait(attempt: Callable[[], bool]) -> bool:
            while not stop.is_set():
                if attempt():
                    return True
            return False

        def hand_over(item: tuple[int, BatchResult] | BaseException | None) -> bool:
            def put() -> bool:
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    return False

            return wait(put) and wait(lambda: taken.acquire(timeout=0.1))

        def work() -> None:
            try:
                for batch in batches:
                    if stop.is_set():
                        return
                    item = (len(batch), self.validate(batch))
                    del batch  # kept by the validated batch until it is stored, no longer
                    if not hand_over(item):
                        return
                hand_over(None)
            except BaseException as exc:  # handed to the caller's thread, raised there
                hand_over(exc)

        worker = threading.Thread(target=work, name="auditdash-validate", daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                taken.release()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # The caller stopped early (an error, or it let go of us): let the worker finish
            # its batch and end, so no thread outlives the call.
            stop.set()
            worker.join()
            self._set_engine_threads(self._all_threads)
