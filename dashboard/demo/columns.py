"""How events are held until a batch is requested: int64 columns (`FIELDS`) whose values are
codes: actions (`ACT`), failure reasons, actors (an agent's index, `SYSTEM` or `BOT`), and
indexes into the address and user-agent tables (`Endpoints`) and into the payloads of
events that carry their own target, changes or metadata (`EventBuffer.special`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dashboard.demo.catalog import ATTACKER_BROWSER_UA, DESKTOP_UAS, MOBILE_UAS, SCRIPT_UA
from dashboard.demo.ids import I64
from dashboard.events.taxonomy import ACTIVITIES, PLATFORM_ACTIONS

FIELDS = ("t", "act", "agent", "acct", "reason", "ip", "ua", "sess", "req", "tgt", "aux", "spec", "inc")
DEFAULTS = {"reason": 0, "ip": -1, "ua": -1, "sess": -1, "req": -1, "tgt": -1, "aux": -1, "spec": -1, "inc": -1}
REASONS = ("", "bad_password", "mfa_failed", "locked")
SYSTEM = -1
BOT = -2

ACTIONS: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            *PLATFORM_ACTIONS,
            "auth.login",
            "auth.logout",
            "auth.mfa_challenge",
            "auth.account_locked",
            "conversation.view",
            "message.create",
            "macro.execute",
        )
    )
)
ACT = {name: i for i, name in enumerate(ACTIONS)}
CONVERSATION_ACTIONS = frozenset(
    ACT[a]
    for a in ACTIONS
    if a.startswith(("conversation.", "message.")) or a in ("label.assign", "label.unassign", "macro.execute")
)
SELF_TARGET_ACTIONS = frozenset(
    ACT[a]
    for a in (
        "auth.password_change",
        "auth.password_reset",
        "auth.mfa_enable",
        "auth.mfa_disable",
        "auth.account_locked",
    )
)
CATEGORY_OF = {a: act.category for act in ACTIVITIES for a in act.actions}


class Endpoints:
    """The addresses and user agents events come from; the `ip` and `ua` columns index these lists."""

    def __init__(self) -> None:
        self.ips: list[str] = []
        self.ip_index: dict[str, int] = {}
        self.uas: list[str] = [*DESKTOP_UAS, *MOBILE_UAS, SCRIPT_UA, ATTACKER_BROWSER_UA]

    def ip(self, address: str) -> int:
        if address not in self.ip_index:
            self.ip_index[address] = len(self.ips)
            self.ips.append(address)
        return self.ip_index[address]

    def ua(self, text: str) -> int:
        return self.uas.index(text)


class EventBuffer:
    """Events as int64 columns: bulk chunks plus single rows."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[I64]] = {f: [] for f in FIELDS}
        self.rows: list[tuple[int, ...]] = []
        self.specials: list[dict[str, Any]] = []
        self.next_req = 1

    def alloc_req(self, n: int = 1) -> I64:
        out = np.arange(self.next_req, self.next_req + n, dtype=np.int64)
        self.next_req += n
        return out

    def special(self, payload: dict[str, Any]) -> int:
        self.specials.append(payload)
        return len(self.specials) - 1

    def row(self, t: int, act: str, agent: int, acct: int, **kw: int) -> None:
        if kw.get("req", -1) < 0:
            kw["req"] = int(self.alloc_req()[0])
        vals = {**DEFAULTS, **kw}
        self.rows.append((int(t), ACT[act], agent, acct, *(int(vals[f]) for f in FIELDS[4:])))

    def chunk(self, n: int, **cols: Any) -> None:
        for f in FIELDS:
            v = cols.get(f, DEFAULTS.get(f))
            if v is None:
                raise KeyError(f)
            arr = np.asarray(v, dtype=np.int64)
            self.chunks[f].append(np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 else arr)

    def columns(self) -> dict[str, I64]:
        out: dict[str, I64] = {}
        rows = np.array(self.rows, dtype=np.int64).reshape(-1, len(FIELDS))
        for i, f in enumerate(FIELDS):
            out[f] = np.concatenate([*self.chunks[f], rows[:, i]])
        return out
