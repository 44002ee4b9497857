"""What every planted incident shares: its record, the rules it should trigger, the scenario
that collects what is planted, and the draws of the people it happens to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dashboard.demo.clock import SECOND_MS
from dashboard.demo.columns import ACT
from dashboard.demo.people import Agent
from dashboard.demo.sessions import Session
from dashboard.demo.world import World

# rule ids of the extra detections (detections.md lists them without numbers)
INCIDENT_RULES: dict[str, list[str]] = {
    "brute_force": ["R1", "R2", "R6", "R12"],
    "password_spray": ["R2", "R3", "R4"],
    "impossible_travel": ["R11", "R12"],
    "self_grant_admin": ["R10"],
    "mfa_disabled_other": ["R9"],
    "bulk_access_night": ["bulk_access"],
    "silent_source": ["log_silence"],
}

# an attacker address from dashboard.ingest.geo_demo_ips: (ip, country, city, lat, lon)
Attacker = tuple[str, str, str, float, float]


@dataclass
class Incident:
    kind: str
    rules: list[str]
    acct: int
    start: int
    end: int
    user: int | None = None
    ip: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)


@dataclass
class Scenario:
    """What is planted. An incident's index in `incidents` is the tag (`inc` column) of its events."""

    incidents: list[Incident] = field(default_factory=list)
    benign: list[dict[str, Any]] = field(default_factory=list)
    traveller: dict[str, Any] | None = None  # the legitimate trip: agent, leave/arrive/depart/home, ip

    @property
    def next_tag(self) -> int:
        return len(self.incidents)


def agent_for(w: World, acct: int, roles: Sequence[str] = ("agent",), without_mfa: bool = False) -> Agent:
    """A random stable agent of the account (else of the main one), now busy with this incident."""
    pool = w.roster.stable(acct, roles) or w.roster.stable(0, roles)
    if without_mfa:
        pool = [a for a in pool if not a.mfa] or pool
    a = pool[int(w.rng.integers(len(pool)))]
    w.roster.busy.add(a.idx)
    return a


def explicit_views(w: World, s: Session, n: int) -> None:
    """n views of distinct recent conversations spread over a planted session."""
    acct = w.roster[s.agent].acct
    times = s.start + 20 * SECOND_MS + np.sort(w.rng.integers(0, s.end - s.start - 40 * SECOND_MS, n))
    convs = w.conv_now(acct, s.start) - w.rng.choice(3000, size=n, replace=False)
    w.buf.chunk(
        n,
        t=times,
        act=ACT["conversation.view"],
        agent=s.agent,
        acct=acct,
        ip=s.ip,
        ua=s.ua,
        sess=s.idx,
        req=w.buf.alloc_req(n),
        tgt=convs,
    )
