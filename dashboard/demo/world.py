"""The parts every stage of the generation shares: the spec and its period, the one random
stream (every stage draws from it in a fixed order, which is what makes a seed reproducible),
the event buffer, the address table, the roster, the session plan and the role changes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dashboard.demo.catalog import conversation_at
from dashboard.demo.clock import Period
from dashboard.demo.columns import Endpoints, EventBuffer
from dashboard.demo.people import Roster
from dashboard.demo.sessions import SessionPlan
from dashboard.demo.spec import DemoSpec


@dataclass
class World:
    spec: DemoSpec
    period: Period
    rng: np.random.Generator
    buf: EventBuffer
    endpoints: Endpoints
    roster: Roster
    sessions: SessionPlan
    # (agent, from time, role): the role an agent has after a role change
    role_epochs: list[tuple[int, int, str]] = field(default_factory=list)

    @classmethod
    def create(cls, spec: DemoSpec, period: Period, rng: np.random.Generator) -> World:
        roster = Roster()
        return cls(spec, period, rng, EventBuffer(), Endpoints(), roster, SessionPlan(rng, period, roster))

    def conv_now(self, acct: int, t: int) -> int:
        return conversation_at(acct, t, self.period.p0)
