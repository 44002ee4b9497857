"""The generated events put in order: the buffer's columns cut to the period (and to the silent
gap), sorted by time, narrowed to compact types, with the actor each row shows (the role an
agent has at the time, the automation, the bot)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dashboard.demo.catalog import SILENT_ACCOUNT
from dashboard.demo.columns import BOT
from dashboard.demo.ids import I64
from dashboard.demo.world import World

Column = npt.NDArray[np.signedinteger[Any]]


class EventTable:
    """The events of the period in time order; row k has the event id `prefix` + k + 1."""

    def __init__(self, w: World, cols: dict[str, I64], prefix: str, salt: int) -> None:
        self.prefix = prefix
        self.salt = salt
        p0, p1 = w.period.p0, w.period.p1
        keep = (cols["t"] >= p0) & (cols["t"] < p1)
        if w.sessions.silent is not None:
            g0, g1 = w.sessions.silent
            keep &= ~((cols["acct"] == SILENT_ACCOUNT) & (cols["t"] >= g0) & (cols["t"] < g1))
        kept = np.flatnonzero(keep)
        order = kept[np.argsort(cols["t"][kept], kind="stable")]
        del keep, kept
        # reorder column by column and let each unsorted column go (memory), in compact types
        self.cols: dict[str, Column] = {}
        for k in list(cols):
            v = cols.pop(k)
            self.cols[k] = v[order] if k in ("t", "req") else v[order].astype(np.int32)
        self.n = int(self.cols["t"].size)
        self.atpl, self.actor_tpls = self._actors(w)

    def _actors(self, w: World) -> tuple[Column, list[dict[str, Any]]]:
        """Actor templates, and the template of every row (with the role each agent has at the time)."""
        tpls: list[dict[str, Any]] = []
        tpl_of: dict[tuple[int, str], int] = {}

        def tpl(agent: int, role: str) -> int:
            key = (agent, role)
            if key not in tpl_of:
                a = w.roster[agent]
                tpl_of[key] = len(tpls)
                tpls.append({"id": a.id, "name": a.name, "email": a.email, "role": role, "type": "user"})
            return tpl_of[key]

        base = np.array([tpl(a.idx, a.role) for a in w.roster], dtype=np.int64)
        system_tpl = len(tpls)
        tpls.append({"type": "system", "name": "Automation"})
        bot_tpl = len(tpls)
        for acct in range(3):
            tpls.append({"id": f"bot-{acct + 1}", "name": "Welcome Bot", "type": "bot"})
        agent = self.cols["agent"]
        atpl = np.where(agent >= 0, base[np.clip(agent, 0, None)], system_tpl)
        atpl = np.where(agent == BOT, bot_tpl + self.cols["acct"], atpl)
        for who, t, role in sorted(w.role_epochs, key=lambda e: e[1]):
            atpl[(agent == who) & (self.cols["t"] > t)] = tpl(who, role)
        return atpl, tpls

    def event_id(self, pos: int) -> str:
        return f"{self.prefix}{pos + 1:08d}"
