"""Packs as jobs of the server process: a queue, one worker thread, progress, cancel, and who may fetch what.

DuckDB lets one process own the database, so packs are built in a thread of the server (not a
Dash background-callback process, which could not open the file). One worker builds one pack
at a time, which bounds memory; others wait in the queue and say so. The report page polls
`PackJob.snapshot()`; `cancel()` stops a pack at its next batch and removes its files.

Finished packs stay in `reports/<pack id>/` with their manifest, which records who generated
them; downloads are checked against it, so they survive a restart of the server.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dashboard.packs.build import PackSettings, build_pack
from dashboard.packs.manifest import MANIFEST_NAME
from dashboard.packs.model import Control, PackCancelled, PackError, PackRequest, PackResult
from dashboard.store.db import Database, utcnow

log = logging.getLogger(__name__)

PACK_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
JOB_ID = re.compile(r"^[0-9a-f]{16}$")
STATES = ("queued", "running", "done", "failed", "cancelled")


@dataclass
class PackJob:
    """One pack asked for (from the page, a schedule or a test)."""

    id: str
    request: PackRequest
    control: Control
    submitted_at: datetime
    state: str = "queued"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: PackResult | None = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def owner(self) -> str:
        """Who asked."""
        return self.request.requested_by

    def snapshot(self) -> dict[str, Any]:
        """What the page shows (JSON-ready)."""
        out: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "stage": self.control.stage,
            "progress": round(self.control.fraction * 100, 1),
            "formats": list(self.request.formats),
            "error": self.error,
            "submitted_at": self.submitted_at.isoformat(timespec="seconds") + "Z",
        }
        if self.result is not None:
            out.update(
                pack_id=self.result.pack_id,
                events=self.result.events,
                seconds=round(self.result.seconds, 1),
                files=[{"name": p.name, "size": p.stat().st_size if p.exists() else 0} for p in self.result.paths()],
            )
        return out


class PackService:
    """The pack queue of one server process."""

    def __init__(self, db: Database, settings: PackSettings, keep: int = 100) -> None:
        self.db = db
        self.settings = settings
        self.keep = keep
        self._jobs: OrderedDict[str, PackJob] = OrderedDict()
        self._queue: queue.Queue[PackJob | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._stopping = False
        db.add_user("pack queue", self.stop)  # closing the database (and exiting) stops the queue first

    # -- jobs ------------------------------------------------------------------------------
    def submit(self, request: PackRequest) -> PackJob:
        """Queue a pack; the worker starts on the first one."""
        job = PackJob(secrets.token_hex(8), request, Control(), utcnow())
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].state in ("queued", "running"):
                    break
                self._jobs.pop(oldest)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="packs", daemon=True)
                self._worker.start()
        job.control.stage = "waiting for the pack before it" if self._queue.qsize() else "starting"
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> PackJob | None:
        """A job by id (None when unknown or forgotten)."""
        if not JOB_ID.match(job_id or ""):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self, owner: str | None = None) -> list[PackJob]:
        """Known jobs, newest first (of one person, or all)."""
        with self._lock:
            found = list(self._jobs.values())
        return [j for j in reversed(found) if owner is None or j.owner == owner]

    def cancel(self, job_id: str) -> bool:
        """Ask a queued or running pack to stop; False when it already ended."""
        job = self.get(job_id)
        if job is None or job.state not in ("queued", "running"):
            return False
        job.control.cancel()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what is queued or running and stop the worker."""
        self._stopping = True
        for job in self.jobs():
            job.control.cancel()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.control.cancelled:
                self._finish(job, "cancelled", error="cancelled before it started")
                continue
            job.state = "running"
            job.started_at = utcnow()
            try:
                job.result = build_pack(self.db, self.settings, job.request, job.control)
            except PackCancelled:
                self._finish(job, "cancelled", error="cancelled; no files were kept")
            except PackError as exc:
                self._finish(job, "failed", error=str(exc))
            except Exception as exc:  # the worker must survive any pack
                log.exception("pack %s failed", job.id)
                self._finish(job, "failed", error=f"{type(exc).__name__}: {exc}")
            else:
                self._finish(job, "done")

    @staticmethod
    def _finish(job: PackJob, state: str, error: str | None = None) -> None:
        job.state = state
        job.error = error
        job.finished_at = utcnow()
        if state == "done":
            job.control.report("done", 1.0)
        else:
            job.control.stage = error or state
        job.finished.set()

    # -- files on disk -------------------------------------------------------------------------
    def manifest(self, pack_id: str) -> dict[str, Any] | None:
        """The manifest of a pack on disk (None when the id is malformed or unknown)."""
        if not PACK_ID.match(pack_id or ""):
            return None
        path = self.settings.reports_dir / pack_id / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("pack_id") == pack_id else None

    def file_for(self, pack_id: str, name: str) -> Path | None:
        """A deliverable of a pack: a file its manifest lists (or the manifest), if it exists."""
        manifest = self.manifest(pack_id)
        if manifest is None:
            return None
        allowed = {f.get("name") for f in manifest.get("files", [])} | {MANIFEST_NAME}
        if manifest.get("archive"):
            allowed.add(manifest["archive"].get("name"))
        if name not in allowed:
            return None
        path = self.settings.reports_dir / pack_id / name
        return path if path.is_file() else None


def may_download(manifest: dict[str, Any], username: str, role: str, can_export: bool, masked: bool) -> bool:
    """Who may fetch a pack: its author; administrators; unmasked roles for scheduled (system) packs."""
    if not can_export:
        return False
    author = manifest.get("generated_by")
    if author == username:
        return True
    if role == "admin":
        return True
    return author == "system" and not masked and not manifest.get("masked", False)
