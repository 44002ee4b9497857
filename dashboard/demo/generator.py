"""The order of the generation. Every stage draws from one random stream, so this order is
part of what a seed means: changing it changes every event after the change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from dashboard.demo.activity import agent_work, effect_count, flush_pending
from dashboard.demo.admin import emit_admin, ensure_coverage
from dashboard.demo.assemble import EventTable
from dashboard.demo.automation import platform_events
from dashboard.demo.clock import Period
from dashboard.demo.columns import FIELDS
from dashboard.demo.ids import run_ids
from dashboard.demo.incidents.base import Scenario
from dashboard.demo.incidents.planner import emit_incidents, plan_incidents
from dashboard.demo.incidents.travel import plan_legitimate_trip
from dashboard.demo.logins import emit_logins
from dashboard.demo.render import Renderer
from dashboard.demo.spec import DemoSpec, checked_end
from dashboard.demo.truth import truth
from dashboard.demo.world import World


def run(spec: DemoSpec) -> tuple[World, Scenario, EventTable]:
    period = Period(spec.days, checked_end(spec))
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0xA0D17]))
    prefix, salt = run_ids(spec, period.p1)
    w = World.create(spec, period, rng)
    sc = Scenario()
    # plan: people, sessions, what is planted (planted sessions push planned ones aside)
    w.roster.build(rng, period, w.endpoints)
    w.sessions.plan()
    if spec.incidents:
        plan_incidents(w, sc)
    plan_legitimate_trip(w, sc)
    w.sessions.freeze(sc.traveller)
    # events: the fixed ones first, then the bulk sized to reach spec.events
    if spec.incidents:
        emit_incidents(w, sc)
    emit_admin(w)
    emit_logins(w)
    buf = w.buf
    fixed = sum(1 for r in buf.rows if period.p0 <= r[0] < period.p1)
    fixed += sum(int(np.size(c)) for c in buf.chunks["t"])
    pending = platform_events(w, int(spec.events * 0.04))
    system_n = sum(int(np.size(c["t"])) + effect_count(c["act"], c["aux"]) for c in pending)
    work = agent_work(w, spec.events - fixed - system_n)
    if work is not None:
        pending.append(work)
    flush_pending(w, pending)
    del pending, work
    rows_before = len(buf.rows)
    cols = buf.columns()
    ensure_coverage(w, {int(x) for x in np.unique(cols["act"])})
    if len(buf.rows) != rows_before:
        cols = buf.columns()
    buf.chunks = {f: [] for f in FIELDS}  # the columns hold everything now
    return w, sc, EventTable(w, cols, prefix, salt)


def generate(spec: DemoSpec, batch_size: int = 50_000) -> tuple[Iterator[list[dict[str, Any]]], dict[str, Any]]:
    """Return (batches of events as JSON-ready dicts in the event contract, ground truth).

    The events come in time order across all batches. The truth holds the spec, the number
    of events, the roster (`agents`), the planted `incidents` (kind, expected rule ids,
    account, user and/or ip, start, end, event ids) and `benign` look-alikes.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    w, sc, table = run(spec)
    return Renderer(w, table).batches(batch_size), truth(w, sc, table)
