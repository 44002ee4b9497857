"""The state the Streams page shows for a destination: "delivering" only while events are on
their way, "up to date" once it has caught up, however many idle turns run."""

from __future__ import annotations

import threading
from pathlib import Path

from dashboard.store.db import Database
from tests.test_stream import Receiver, events, ingest, receiver, service_for, streams_file

__all__ = ["receiver"]


def test_an_idle_turn_is_not_shown_as_delivering(db_path: Path, receiver: Receiver, tmp_path: Path) -> None:
    path = streams_file(
        tmp_path, {"name": "siem", "kind": "http", "url": f"http://127.0.0.1:{receiver.port}/in", "start": "beginning"}
    )
    with Database(db_path) as db:
        ingest(db, events("a", 5))
        service = service_for(db, path)
        assert service.cycle("siem") >= 5  # with the audit record of the destination added
        service.check_lag("siem")
        assert service.status()[0].state == "up to date"
        seen: list[str] = []
        stop = threading.Event()

        def watch() -> None:  # what a page reload would show at any moment of the idle turns
            while not stop.is_set():
                seen.append(service.status()[0].state)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            for _ in range(20):
                assert service.cycle("siem") == 0
        finally:
            stop.set()
            watcher.join()
        assert seen and set(seen) == {"up to date"}, sorted(set(seen))
        ingest(db, events("b", 3))
        before = len(receiver.lines())
        assert service.cycle("siem") == 3
        assert len(receiver.lines()) == before + 3
