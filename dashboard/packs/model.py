"""What a pack is asked for and what it produced: requests, files, results, progress, errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dashboard.access.users import Actor
from dashboard.filters import Filters

#: what a user can ask for; `zip` means every format the viewer may have, in one archive.
FORMATS: tuple[str, ...] = ("pdf", "csv", "json", "ocsf", "zip")
FORMAT_LABELS: dict[str, str] = {
    "pdf": "PDF report",
    "csv": "CSV (every event)",
    "json": "JSON (NDJSON in the event contract)",
    "ocsf": "OCSF 1.1 (NDJSON for a SIEM)",
    "zip": "ZIP with PDF, CSV, JSON and the manifest",
}
#: the files a format produces (`zip` is assembled from the others).
FILE_FORMATS: tuple[str, ...] = ("pdf", "csv", "json", "ocsf")
#: what `zip` alone puts in the archive (OCSF only when chosen too)
ZIP_FORMATS: tuple[str, ...] = ("pdf", "csv", "json")
#: formats that hold raw events (names and addresses in the clear): not for masked roles
RAW_FORMATS: tuple[str, ...] = ("json", "ocsf")
EXTENSIONS: dict[str, str] = {
    "pdf": "pdf",
    "csv": "csv",
    "json": "ndjson",
    "ocsf": "ocsf.ndjson",
    "zip": "zip",
    "manifest": "json",
}
MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "json": "application/x-ndjson",
    "ocsf": "application/x-ndjson",
    "zip": "application/zip",
    "manifest": "application/json",
    # members of a ZIP pack's proof (docs/integrity.md, "Packs an auditor verifies offline")
    "proof": "application/json",
    "proof_lines": "application/x-ndjson",
    "script": "text/x-python",
}

DEFAULT_TITLE = "Audit log compliance pack"


class PackError(Exception):
    """A pack could not be built; the message says why and what to do."""


class PackCancelled(PackError):
    """The user cancelled the pack; its partial files were removed."""


def parse_formats(text: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Formats from `pdf,csv` or a list; unknown names raise `PackError` naming them."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted = [i.strip().lower() for i in items if i and i.strip()]
    wanted = ["json" if w in ("ndjson", "jsonl") else w for w in wanted]
    bad = [w for w in wanted if w not in FORMATS]
    if bad:
        raise PackError(f"unknown format {', '.join(bad)}: choose from {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in wanted)


@dataclass(frozen=True)
class PackRequest:
    """One pack to build.

    Attributes:
        filters: the view, exactly as the dashboard shows it.
        formats: any of `FORMATS`.
        actor: who asked, as the audit log names them (the dashboard user with their address and
            session, `system` for schedules, `cli:NAME` for the command line).
        role: their dashboard role (`admin`, `compliance`, `manager`).
        masked: whether addresses are masked and raw JSON left out (managers).
        title: the PDF's title.
        now: the moment relative ranges (`last 7 days`) are resolved against; default: now.
        schedule: the schedule that produced it, if any.
    """

    filters: Filters
    formats: tuple[str, ...]
    actor: Actor
    role: str = "admin"
    masked: bool = False
    title: str = DEFAULT_TITLE
    now: datetime | None = None
    schedule: str | None = None

    def __post_init__(self) -> None:
        if not self.formats:
            raise PackError("choose at least one format: pdf, csv, json, ocsf or zip")
        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise PackError(f"unknown format {', '.join(bad)}: choose from {', '.join(FORMATS)}")
        raw = [f for f in self.formats if f in RAW_FORMATS]
        if self.masked and raw:
            raise PackError(
                f"the {raw[0].upper()} format holds the raw events, which your role does not see; "
                "choose PDF, CSV or ZIP"
            )

    @property
    def requested_by(self) -> str:
        """The name of who asked."""
        return self.actor.name

    @property
    def file_formats(self) -> tuple[str, ...]:
        """The files to generate: the chosen ones, or every allowed one for `zip`."""
        if "zip" in self.formats:
            return tuple(
                f
                for f in FILE_FORMATS
                if (f in ZIP_FORMATS or f in self.formats) and not (self.masked and f in RAW_FORMATS)
            )
        return tuple(f for f in FILE_FORMATS if f in self.formats)

    @property
    def zipped(self) -> bool:
        """Whether the files are delivered as one archive."""
        return "zip" in self.formats

    def resolved_now(self) -> datetime:
        """`now` as an aware UTC datetime (fixed once for the whole pack)."""
        return (self.now or datetime.now(UTC)).astimezone(UTC)


@dataclass(frozen=True)
class PackFile:
    """One file of a pack, as the manifest lists it."""

    name: str
    kind: str
    size: int
    sha256: str
    rows: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The manifest entry."""
        entry: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "media_type": MEDIA_TYPES[self.kind],
            "size": self.size,
            "sha256": self.sha256,
        }
        if self.rows is not None:
            entry["rows"] = self.rows
        return entry


@dataclass
class PackResult:
    """What a built pack consists of."""

    pack_id: str
    folder: Path
    events: int
    files: list[PackFile]
    manifest: dict[str, Any]
    deliverables: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def paths(self) -> list[Path]:
        """The files to hand over (the archive or the loose files, and the manifest)."""
        return [self.folder / name for name in self.deliverables]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (what `auditdash report --json` prints)."""
        return {
            "pack_id": self.pack_id,
            "folder": str(self.folder),
            "events": self.events,
            "files": [str(p) for p in self.paths()],
            "manifest": str(self.folder / self.manifest_name),
            "seconds": round(self.seconds, 3),
        }

    @property
    def manifest_name(self) -> str:
        """The manifest's file name."""
        return str(self.manifest.get("manifest_file", "manifest.json"))


ProgressFn = Callable[[str, float], None]
"""Called with a short stage text and the fraction done (0 to 1)."""


class Control:
    """Progress reporting and cancellation shared by a running pack and whoever watches it."""

    def __init__(self, progress: ProgressFn | None = None) -> None:
        self._progress = progress
        self._cancel = threading.Event()
        self.stage = "queued"
        self.fraction = 0.0

    def report(self, stage: str, fraction: float) -> None:
        """Note progress (and pass it on)."""
        self.stage = stage
        self.fraction = max(0.0, min(fraction, 1.0))
        if self._progress is not None:
            self._progress(stage, self.fraction)

    def cancel(self) -> None:
        """Ask the pack to stop at the next batch."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancel() was called."""
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise `PackCancelled` when cancel() was called."""
        if self._cancel.is_set():
            raise PackCancelled("cancelled")
