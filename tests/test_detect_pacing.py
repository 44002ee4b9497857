"""Incremental detection under a stream of small API batches: the listener paces its runs, and
every stored event is still covered (a real store fed through the real ingest path)."""

# ruff: noqa: F811 - the fixtures `db` and `empty_store` come from tests.test_detect_helpers

from __future__ import annotations

import itertools
import json
import time
from datetime import timedelta

from dashboard.detect.service import INCREMENTAL_MIN_INTERVAL_S, DetectionService, RunReport
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from tests.test_detect_helpers import (
    ATTACKER,
    T0,
    alerts_of,
    db,  # noqa: F401
    empty_store,  # noqa: F401
    ev,
    every,
    geo,
    service,
)

S = timedelta(seconds=1)


def _count_runs(svc: DetectionService, starts: list[float] | None = None) -> list[RunReport]:
    """The runs that found new events, as the listener starts them (and, in `starts`, when each
    run that found events started, on the monotonic clock)."""
    runs: list[RunReport] = []
    run = svc.run_incremental

    def counted() -> RunReport | None:
        started = time.monotonic()
        report = run()
        if report is not None:
            runs.append(report)
            if starts is not None:
                starts.append(started)
        return report

    svc.run_incremental = counted  # type: ignore[method-assign]
    return runs


def test_a_stream_of_small_batches_gets_few_runs_and_every_event_is_covered(db: Database) -> None:
    svc = service(db)
    assert svc.min_interval_s == INCREMENTAL_MIN_INTERVAL_S > 0
    svc.min_interval_s = 3.0
    starts: list[float] = []
    runs = _count_runs(svc, starts)
    ingestor = Ingestor(db, geo())
    ingestor.listeners.append(svc.on_stored)
    # twelve API batches of one failed login each, sent a quarter of a second apart
    for when in every(T0, 20 * S, 12):
        doc = ev(when, user="u1", outcome="failure", ip=ATTACKER)
        assert ingestor.ingest_batch([(0, json.dumps(doc))], "api:test").accepted == 1
        time.sleep(0.25)
    assert svc.wait_idle(300)
    assert svc.last_error is None
    # one run at the first batch, then runs that each cover every batch stored meanwhile
    # (one run per batch before), never two starting closer than the interval; nothing is left out.
    # Paced, not timed: how many runs a loaded machine needs follows from how long the sending took.
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= svc.min_interval_s - 0.05 for gap in gaps), gaps
    assert len(runs) >= 1
    assert len(runs) <= 1 + (starts[-1] - starts[0]) / svc.min_interval_s + 1e-9, (gaps, [r.seqs for r in runs])
    assert runs[0].seqs == (0, 1)
    assert [r.seqs[1] for r in runs if r.seqs][-1] == 12
    assert svc.processed_up_to() == 12
    found = alerts_of(svc, "R1")
    assert len(found) == 1
    assert found[0]["event_count"] == 12


def test_the_first_batch_after_a_quiet_spell_is_detected_without_waiting(db: Database) -> None:
    svc = service(db)
    svc.min_interval_s = 3600.0  # a second run would wait an hour
    runs = _count_runs(svc)
    ingestor = Ingestor(db, geo())
    ingestor.listeners.append(svc.on_stored)
    docs = [ev(t, user="u1", outcome="failure", ip=ATTACKER) for t in every(T0, 20 * S, 10)]
    ingestor.ingest_batch([(i, json.dumps(d)) for i, d in enumerate(docs)], "api:test")
    assert svc.wait_idle(300)
    assert [r.seqs for r in runs] == [(0, 10)]
    assert len(alerts_of(svc, "R1")) == 1
