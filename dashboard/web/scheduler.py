"""Scheduled jobs that run inside the server process (the process that owns the database).

Detection, retention, integrity checks and scheduled packs register here; each job runs in
one daemon thread, on its interval, never overlapping itself. A failing run is logged and
remembered (`last_error`), and the next run happens as planned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from dashboard.store.db import utcnow

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One recurring job."""

    name: str
    interval_s: float
    func: Callable[[], object]
    first_delay_s: float = 5.0
    once: bool = False  # run a single time (at start), not on an interval
    last_run: datetime | None = None
    last_error: str | None = None
    runs: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)  # set by `remove`
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run_once(self) -> None:
        """Run now unless a run is already under way."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self.func()
            self.last_error = None
        except Exception as exc:  # a job must never kill its thread
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", self.name)
        finally:
            self.last_run = utcnow()
            self.runs += 1
            self._lock.release()


class Scheduler:
    """Runs registered jobs in background threads until `stop()`."""

    def __init__(self, leader: Callable[[], bool] | None = None) -> None:
        #: when given, a job runs only while it answers True: the one process of several sharing a
        #: PostgreSQL store that holds the jobs lease (`Database.jobs_leader`)
        self.leader = leader
        self.jobs: dict[str, Job] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False

    def add(
        self, name: str, interval_s: float, func: Callable[[], object], first_delay_s: float = 5.0, once: bool = False
    ) -> Job:
        """Register a job (added after `start`, it starts at once); `once`: run it a single time,
        `first_delay_s` after start."""
        job = Job(name, interval_s, func, first_delay_s, once)
        self.jobs[name] = job
        if self._started and not self._stop.is_set():
            self._spawn(job)
        return job

    def remove(self, name: str) -> None:
        """Stop a job (after its run under way, if any) and forget it."""
        job = self.jobs.pop(name, None)
        if job is not None:
            job.cancelled.set()

    def start(self) -> None:
        """Start one thread per job."""
        self._started = True
        for job in list(self.jobs.values()):
            self._spawn(job)

    def _spawn(self, job: Job) -> None:
        thread = threading.Thread(target=self._loop, args=(job,), name=f"job-{job.name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _loop(self, job: Job) -> None:
        if self._stop.wait(job.first_delay_s):
            return
        while not self._stop.is_set() and not job.cancelled.is_set():
            started = time.monotonic()
            if self.leader is None or self.leader():
                job.run_once()
            if job.once:
                return
            if self._stop.wait(max(job.interval_s - (time.monotonic() - started), 0.1)) or job.cancelled.is_set():
                return

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every job to stop and wait for the threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
