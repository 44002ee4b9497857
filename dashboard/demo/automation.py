"""Round-the-clock events of the platform itself: automation rules that label, assign, resolve,
reopen and run macros, and a welcome bot that answers; so a silent log source is a real anomaly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from dashboard.demo.catalog import ACCOUNT_SIZES, CONV_BASE, CONV_RATE, SYSTEM_LABELS, SYSTEM_MACROS
from dashboard.demo.clock import DAY_MS, HOUR_MS
from dashboard.demo.columns import ACT, BOT, SYSTEM
from dashboard.demo.world import World


def platform_events(w: World, total: int) -> list[dict[str, Any]]:
    """The events of each account's automation and bot, day and night (fewer outside office hours
    of the account's first administrator), about `total` in all; macros' effects come later."""
    out: list[dict[str, Any]] = []
    rng = w.rng
    hours = w.spec.days * 24
    sizes = np.array(ACCOUNT_SIZES, dtype=float)
    for acct in range(3):
        mean = total * sizes[acct] / sizes.sum() / hours
        rmax = max(3.0, mean / 0.7)
        n = int(rng.poisson(rmax * hours))
        t = np.sort(rng.integers(w.period.p0, w.period.p1, size=n))
        lead = next(a for a in w.roster if a.acct == acct)
        offset = lead.tz.utcoffset(w.period.end_dt.replace(tzinfo=None)) or timedelta(0)
        local_h = ((t + offset // timedelta(milliseconds=1)) // HOUR_MS) % 24
        f = np.where((local_h >= 8) & (local_h < 19), 1.0, 0.45)
        t = t[rng.random(n) < f]
        n = t.size
        kind = rng.choice(6, size=n, p=[0.3, 0.2, 0.1, 0.15, 0.15, 0.1])
        acts = np.array(
            [
                ACT["message.create"],
                ACT["label.assign"],
                ACT["macro.execute"],
                ACT["conversation.assign"],
                ACT["conversation.resolve"],
                ACT["conversation.reopen"],
            ]
        )[kind]
        agent = np.where(kind == 0, BOT, SYSTEM)
        conv = (CONV_BASE[acct] + CONV_RATE[acct] * (t - w.period.p0) / DAY_MS).astype(np.int64)
        conv -= rng.geometric(1 / 25, size=n)
        conv[kind == 4] -= 60 * int(CONV_RATE[acct] / 24) + 1  # auto-resolve: older conversations
        members = np.array([a.idx for a in w.roster if a.acct == acct])
        aux = np.full(n, -1, dtype=np.int64)
        aux[kind == 1] = rng.choice(SYSTEM_LABELS, size=int((kind == 1).sum()))
        aux[kind == 2] = rng.choice(SYSTEM_MACROS, size=int((kind == 2).sum()))
        aux[kind == 3] = rng.choice(members, size=int((kind == 3).sum()))
        out.append(
            {
                "t": t,
                "act": acts,
                "agent": agent,
                "acct": np.full(n, acct),
                "ip": -1,
                "ua": -1,
                "sess": -1,
                "tgt": conv,
                "aux": aux,
            }
        )
    return out
