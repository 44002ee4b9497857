"""How an administrative event is drawn: how many of a kind over the period, in whose session
(an account weighted by size, a role, not one of the people busy with a planted incident),
at what time, about whom; and the event written into that session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dashboard.demo.people import Agent
from dashboard.demo.sessions import Session
from dashboard.demo.world import World

ADMIN = ("administrator",)
LEADS = ("administrator", "supervisor")
ANYONE = ("administrator", "supervisor", "agent")
ACCOUNT_P = np.array([0.66, 0.22, 0.12])  # the chance that a change is made in each account
MIN_N = 3  # at least this many events of every kind


class AdminDesk:
    def __init__(self, w: World) -> None:
        self.w = w
        self.rng = w.rng
        self.buf = w.buf
        self.days = w.spec.days
        self.busy = sorted(w.roster.busy)

    def count(self, rate: float) -> int:
        """How many events of a kind with `rate` a day."""
        # a steady rate with some spread (a Poisson draw alone can leave a month nearly empty)
        return max(MIN_N, round(rate * self.days * float(self.rng.uniform(0.75, 1.25))))

    def at(self, roles: Sequence[str], acct: int | None = None, exclude: Sequence[int] = ()) -> Session | None:
        """A session of someone with one of the roles (busy people only for administrators' work)."""
        rng, sessions = self.rng, self.w.sessions
        for _ in range(4):
            ac = int(rng.choice(3, p=ACCOUNT_P)) if acct is None else acct
            s = sessions.pick(ac, roles, exclude=[*self.busy, *exclude] if roles != ADMIN else exclude)
            if s is not None:
                return s
        return sessions.pick(0, roles)

    def emit(self, s: Session, action: str, payload: dict[str, Any], t: int | None = None) -> int:
        """Write the event into the session (at a random time in it unless t); return its time."""
        a = self.w.roster[s.agent]
        when = self.w.sessions.time_in(s) if t is None else t
        self.buf.row(when, action, a.idx, a.acct, sess=s.idx, ip=s.ip, ua=s.ua, spec=self.buf.special(payload))
        return when

    def other(self, s: Session, roles: Sequence[str] = ("agent", "supervisor")) -> Agent | None:
        """Someone else of the session's account with one of the roles."""
        me = self.w.roster[s.agent]
        pool = [b for b in self.w.roster.stable(me.acct, roles) if b.idx != me.idx]
        return pool[int(self.rng.integers(len(pool)))] if pool else None

    def two(self, values: Sequence[Any]) -> tuple[Any, Any]:
        """An old and a new value, different."""
        i, j = self.rng.choice(len(values), size=2, replace=False)
        return values[int(i)], values[int(j)]
