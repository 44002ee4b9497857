"""Who is signed in when: one shift per working day in the agent's local time (some split by a
lunch logout), a weekend on-call rota, sick days; sessions planted by incidents; and, once the
plan is frozen, random sessions for events that happen inside someone's working time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from dashboard.demo.catalog import SILENT_ACCOUNT
from dashboard.demo.clock import HOUR_MS, MINUTE_MS, Period
from dashboard.demo.ids import uuids
from dashboard.demo.people import ROLES, Agent, Roster


@dataclass
class Session:
    agent: int
    start: int
    end: int
    ip: int
    ua: int
    lunch0: int = 0
    lunch1: int = 0
    kind: int = 0  # 0 planned, 1 planted but with normal work, 2 planted with explicit events only
    logout: bool = True
    weekend: bool = False
    clean: bool = False  # no failed login before it
    inc: int = -1  # incident tag of its login event
    idx: int = -1  # final index, set when the plan is frozen


class SessionPlan:
    """The sessions of the period. Planted sessions block the planned ones of their agent nearby
    (`blocks`); `silent` is the gap in which SILENT_ACCOUNT sends nothing, where no session is picked."""

    def __init__(self, rng: np.random.Generator, period: Period, roster: Roster) -> None:
        self.rng = rng
        self.period = period
        self.roster = roster
        self.sessions: list[Session] = []
        self.blocks: list[tuple[int, int, int]] = []
        self.silent: tuple[int, int] | None = None

    def __getitem__(self, idx: int) -> Session:
        return self.sessions[idx]

    # ---------------------------------------------------------------- planning

    def plan(self) -> None:
        rng = self.rng
        end_dt = self.period.end_dt
        first = (end_dt - timedelta(days=self.period.days + 1)).date()
        last = (end_dt + timedelta(days=1)).date()
        all_dates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        rota: dict[tuple[int, date], set[int]] = {}
        for acct, per_day in enumerate((5, 2, 1)):
            members = [a.idx for a in self.roster if a.acct == acct and a.role != "administrator"]
            for d in all_dates:
                if d.weekday() >= 5:
                    rota[(acct, d)] = {int(i) for i in rng.choice(members, size=per_day, replace=False)}
        for a in self.roster:
            for d in all_dates:
                if a.join_date and d < a.join_date + timedelta(days=1):
                    continue
                if a.leave_date and d > a.leave_date:
                    continue
                if a.vacation and a.vacation[0] <= d < a.vacation[1]:
                    continue
                ua = a.uas[0] if len(a.uas) == 1 or rng.random() < 0.8 else a.uas[1]
                logout = bool(rng.random() < 0.85)
                if d.weekday() >= 5:
                    if a.idx not in rota[(a.acct, d)]:
                        continue
                    h0 = 10.0 + float(rng.normal(0, 0.3))
                    s = Session(
                        a.idx,
                        a.local_ms(d, h0),
                        a.local_ms(d, h0 + 5.5 + float(rng.normal(0, 0.4))),
                        a.ip,
                        ua,
                        logout=logout,
                        weekend=True,
                    )
                    self.sessions.append(s)
                    continue
                if rng.random() < 0.03:  # sick day
                    continue
                h0 = a.start_h + float(rng.normal(0, 0.2))
                h1 = h0 + a.shift_h + float(rng.normal(0, 0.25))
                l0 = a.lunch_h + float(rng.normal(0, 0.15))
                l1 = l0 + float(rng.uniform(0.5, 1.0))
                if rng.random() < 0.25:  # logs out for lunch and back in after
                    self.sessions.append(Session(a.idx, a.local_ms(d, h0), a.local_ms(d, l0), a.ip, ua, logout=logout))
                    ua2 = a.uas[0] if len(a.uas) == 1 or rng.random() < 0.8 else a.uas[1]
                    self.sessions.append(
                        Session(
                            a.idx,
                            a.local_ms(d, l1 + float(rng.uniform(0, 0.1))),
                            a.local_ms(d, h1),
                            a.ip,
                            ua2,
                            logout=bool(rng.random() < 0.85),
                        )
                    )
                else:
                    self.sessions.append(
                        Session(
                            a.idx,
                            a.local_ms(d, h0),
                            a.local_ms(d, h1),
                            a.ip,
                            ua,
                            lunch0=a.local_ms(d, l0),
                            lunch1=a.local_ms(d, l1),
                            logout=logout,
                        )
                    )

    def add(self, s: Session) -> Session:
        """A planted session that needs no room of its own."""
        self.sessions.append(s)
        return s

    def block(self, agent: int, start: int, end: int) -> None:
        """No planned session of the agent overlaps [start, end)."""
        self.blocks.append((agent, start, end))

    def custom(self, agent: Agent, start: int, end: int, kind: int, **kw: Any) -> Session:
        """A planted session from the agent's home, with an hour of room on each side."""
        s = Session(agent.idx, start, end, agent.ip, agent.uas[0], kind=kind, clean=True, **kw)
        self.sessions.append(s)
        self.blocks.append((agent.idx, start - HOUR_MS, end + HOUR_MS))
        return s

    def freeze(self, traveller: dict[str, Any] | None) -> None:
        """Drop what is outside the period or blocked, move the traveller's sessions abroad,
        sort by start and number the sessions; build the arrays `pick` searches."""
        p0, p1 = self.period.p0, self.period.p1
        blocks: dict[int, list[tuple[int, int]]] = {}
        for agent, b0, b1 in self.blocks:
            blocks.setdefault(agent, []).append((b0, b1))
        tr = traveller
        kept: list[Session] = []
        for s in self.sessions:
            if s.end <= p0 or s.start >= p1:
                continue
            if s.kind == 0 and any(s.start < b1 and s.end > b0 for b0, b1 in blocks.get(s.agent, ())):
                continue
            if tr is not None and s.agent == tr["agent"] and s.kind == 0:
                if tr["leave"] <= s.start < tr["arrive"] or tr["depart"] <= s.start < tr["home"]:
                    continue  # travelling
                if tr["arrive"] <= s.start < tr["depart"]:
                    s.ip = tr["ip"]
                    s.ua = self.roster[s.agent].uas[-1]
            kept.append(s)
        kept.sort(key=lambda s: (s.start, s.agent))
        for i, s in enumerate(kept):
            s.idx = i
        self.sessions = kept
        n = len(kept)
        agents = self.roster
        self.s_start = np.fromiter((s.start for s in kept), np.int64, n)
        self.s_end = np.fromiter((s.end for s in kept), np.int64, n)
        self.s_agent = np.fromiter((s.agent for s in kept), np.int64, n)
        self.s_acct = np.fromiter((agents[s.agent].acct for s in kept), np.int64, n)
        self.s_kind = np.fromiter((s.kind for s in kept), np.int64, n)
        self.s_weekend = np.fromiter((s.weekend for s in kept), np.bool_, n)
        self.s_role = np.fromiter((ROLES.index(agents[s.agent].role) for s in kept), np.int64, n)

    def session_ids(self, salt: int) -> list[str]:
        return uuids(np.arange(len(self.sessions), dtype=np.int64), salt ^ 0x5E55)

    # ---------------------------------------------------------------- picking (after freeze)

    def pick(
        self,
        acct: int,
        roles: Sequence[str],
        exclude: Sequence[int] = (),
        after: int | None = None,
        before: int | None = None,
    ) -> Session | None:
        """A random weekday session of a user of the account with one of the roles."""
        role_codes = [ROLES.index(r) for r in roles]
        mask = (
            (self.s_acct == acct)
            & np.isin(self.s_role, role_codes)
            & ~self.s_weekend
            & (self.s_kind < 2)
            & (self.s_start >= self.period.p0)
            & (self.s_end <= self.period.p1)
            & (self.s_end - self.s_start >= HOUR_MS)
        )
        if exclude:
            mask &= ~np.isin(self.s_agent, list(exclude))
        if self.silent is not None:
            g0, g1 = self.silent
            mask &= ~((self.s_acct == SILENT_ACCOUNT) & (self.s_start < g1) & (self.s_end > g0))
        if after is not None:
            mask &= self.s_end > after + 20 * MINUTE_MS
        if before is not None:
            mask &= self.s_start < before - 20 * MINUTE_MS
        cand = np.flatnonzero(mask)
        if cand.size == 0:
            return None
        return self.sessions[int(cand[int(self.rng.integers(cand.size))])]

    def time_in(self, s: Session, lo: int | None = None, hi: int | None = None) -> int:
        """A random time inside the session, five minutes from its edges, within [lo, hi)."""
        a = max(s.start + 5 * MINUTE_MS, lo if lo is not None else s.start)
        b = min(s.end - 5 * MINUTE_MS, hi if hi is not None else s.end)
        if b <= a:
            return (s.start + s.end) // 2
        return int(self.rng.integers(a, b))
