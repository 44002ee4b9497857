"""The ingest path: raw records -> validate and enrich -> chain and store.

Used by the CLI (`auditdash ingest`), the HTTP API and the demo loader, so every event enters
the store the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from dashboard.events.validate import BatchResult, validate_batch
from dashboard.ingest.geo import GeoLocator
from dashboard.ingest.readers import Batch, read_file
from dashboard.ingest.readers import position_label as label_for
from dashboard.store.db import Database
from dashboard.store.writer import WriteResult, store_batch

Listener = Callable[[WriteResult], None]
"""Called after each stored batch (for example: incremental detection)."""

Progress = Callable[[int, int], None]
"""Called after each batch with (records read so far, bytes read so far or 0)."""


class Ingestor:
    """Validates, enriches and stores batches of raw records.

    Args:
        db: the store.
        geo: the geolocation source (one per process; lookups are thread-safe).
        batch_size: records per batch (bounds memory: about 1 KB per record).
    """

    def __init__(self, db: Database, geo: GeoLocator | None = None, batch_size: int = 100_000) -> None:
        self.db = db
        self.geo = geo
        self.batch_size = batch_size
        self.listeners: list[Listener] = []

    def validate(self, records: Batch) -> BatchResult:
        """Validate and enrich one batch without storing it."""
        with self.db.raw() as con:
            return validate_batch(con, records, geo=self.geo)

    def store(self, checked: BatchResult, source: str, position_label: str = "record") -> WriteResult:
        """Store a validated batch and tell the listeners what was stored."""
        result = store_batch(self.db, checked.accepted, checked.rejected, source, position_label)
        if result.accepted:
            for listener in self.listeners:
                listener(result)
        return result

    def ingest_batch(self, records: Batch, source: str, position_label: str = "record") -> WriteResult:
        """Validate and store one batch; rejected records go to quarantine."""
        return self.store(self.validate(records), source, position_label)

    def ingest_batches(
        self,
        batches: Iterable[Batch],
        source: str,
        position_label: str = "record",
        progress: Progress | None = None,
    ) -> WriteResult:
        """Ingest a stream of batches; each batch is stored atomically."""
        total = WriteResult()
        seen = 0
        for batch in batches:
            total.add(self.ingest_batch(batch, source, position_label))
            seen += len(batch)
            if progress:
                progress(seen, 0)
        return total

    def ingest_file(self, path: Path, progress: Progress | None = None) -> WriteResult:
        """Ingest one NDJSON, JSON-array or CSV file (gzip accepted)."""
        fmt, batches = read_file(path, self.batch_size)
        return self.ingest_batches(batches, f"file:{path.name}", label_for(fmt), progress)
