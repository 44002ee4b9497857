"""Agents at work: a session's events are split into "work units" on one conversation (view,
assign, replies, labels, macros, resolve), drawn as vectorised numpy arrays in proportion to
session length and personal work rate. Bulk events wait as column arrays (`pending`) until
`flush_pending` adds them, each macro followed by its effects."""

from __future__ import annotations

from typing import Any

import numpy as np

from dashboard.demo.catalog import (
    CONV_BASE,
    CONV_RATE,
    LABEL_INDEX,
    LABEL_P,
    LABELS,
    MACRO_P,
    MACROS,
    SILENT_ACCOUNT,
)
from dashboard.demo.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from dashboard.demo.columns import ACT
from dashboard.demo.world import World


def effect_count(act: Any, aux: Any) -> int:
    """How many effect events the macros among these events add."""
    mac = np.asarray(act) == ACT["macro.execute"]
    if not mac.any():
        return 0
    per_macro = np.bincount(np.asarray(aux)[mac], minlength=len(MACROS))
    return int(sum(int(per_macro[k]) * len(m[1]) for k, m in enumerate(MACROS)))


def agent_work(w: World, budget: int) -> dict[str, Any] | None:
    """About `budget` events (with the effects of their macros) of agents working in their sessions."""
    rng = w.rng
    work = [s for s in w.sessions.sessions if s.kind < 2]
    m = len(work)
    lo = np.fromiter((max(s.start + MINUTE_MS, w.period.p0) for s in work), np.int64, m)
    hi = np.fromiter((min(s.end - 30 * SECOND_MS, w.period.p1 - 1) for s in work), np.int64, m)
    inten = np.fromiter((w.roster[s.agent].intensity for s in work), float, m)
    if w.sessions.silent is not None:
        g0, g1 = w.sessions.silent
        labs = np.fromiter((w.roster[s.agent].acct == SILENT_ACCOUNT for s in work), np.bool_, m)
        inside = labs & (lo >= g0) & (hi <= g1)
        hi = np.where(inside, lo, hi)
    weight = np.clip(hi - lo, 0, None) / HOUR_MS * inten
    if budget <= 0 or weight.sum() <= 0:
        return None
    # macros add their effects: draw the whole budget, then trim as many plain events
    counts = rng.multinomial(budget, weight / weight.sum())
    sidx = np.repeat(np.arange(m), counts)
    n = sidx.size
    span = (hi - lo)[sidx]
    t = lo[sidx] + (rng.random(n) * span).astype(np.int64)
    l0 = np.fromiter((s.lunch0 for s in work), np.int64, m)[sidx]
    l1 = np.fromiter((s.lunch1 for s in work), np.int64, m)[sidx]
    move = (t >= l0) & (t < l1) & (rng.random(n) < 0.75)
    t[move] = lo[sidx[move]] + (rng.random(int(move.sum())) * span[move]).astype(np.int64)
    order = np.lexsort((t, sidx))
    t, sidx = t[order], sidx[order]
    # work units: consecutive events on one conversation
    first = np.ones(n, dtype=bool)
    first[1:] = sidx[1:] != sidx[:-1]
    newu = first | (rng.random(n) < 0.2)
    unit = np.cumsum(newu) - 1
    ustart = np.flatnonzero(newu)
    pos = np.arange(n) - ustart[unit]
    ulen = np.diff(np.append(ustart, n))[unit]
    mid = [
        ("message.create", 0.58),
        ("conversation.view", 0.12),
        ("label.assign", 0.09),
        ("macro.execute", 0.045),
        ("message.edit", 0.03),
        ("conversation.assign", 0.03),
        ("label.unassign", 0.025),
        ("conversation.unassign", 0.02),
        ("message.delete", 0.01),
        ("conversation.reopen", 0.012),
    ]
    p = np.array([x[1] for x in mid])
    act = np.array([ACT[x[0]] for x in mid])[rng.choice(len(mid), size=n, p=p / p.sum())]
    act[(pos == 1) & (rng.random(n) < 0.3)] = ACT["conversation.assign"]
    act[(pos == ulen - 1) & (ulen >= 3) & (rng.random(n) < 0.55)] = ACT["conversation.resolve"]
    act[pos == 0] = ACT["conversation.view"]
    u_acct = np.fromiter((w.roster[s.agent].acct for s in work), np.int64, m)[sidx[ustart]]
    base = np.array(CONV_BASE, dtype=float)[u_acct]
    rate = np.array(CONV_RATE)[u_acct]
    conv_u = (base + rate * (t[ustart] - w.period.p0) / DAY_MS).astype(np.int64) - rng.geometric(
        1 / 60, size=ustart.size
    )
    tgt = conv_u[unit]
    aux = np.full(n, -1, dtype=np.int64)
    lab = (act == ACT["label.assign"]) | (act == ACT["label.unassign"])
    aux[lab] = rng.choice(len(LABELS), size=int(lab.sum()), p=LABEL_P)
    mac = act == ACT["macro.execute"]
    aux[mac] = rng.choice(len(MACROS), size=int(mac.sum()), p=MACRO_P)
    msg = act == ACT["message.create"]
    aux[msg] = (rng.random(int(msg.sum())) < 0.15).astype(np.int64)  # 1 = private note
    edit = (act == ACT["message.edit"]) | (act == ACT["message.delete"])
    aux[edit] = tgt[edit] * 40 + rng.integers(0, 40, size=int(edit.sum()))
    surplus = n + effect_count(act, aux) - budget
    keep = np.ones(n, dtype=bool)
    if surplus > 0:
        droppable = np.flatnonzero((pos > 0) & ~mac)
        keep[rng.choice(droppable, size=min(surplus, droppable.size), replace=False)] = False
    t, act, tgt, aux, sidx = t[keep], act[keep], tgt[keep], aux[keep], sidx[keep]
    return {
        "t": t,
        "act": act,
        "agent": np.fromiter((s.agent for s in work), np.int64, m)[sidx],
        "acct": np.fromiter((w.roster[s.agent].acct for s in work), np.int64, m)[sidx],
        "ip": np.fromiter((s.ip for s in work), np.int64, m)[sidx],
        "ua": np.fromiter((s.ua for s in work), np.int64, m)[sidx],
        "sess": np.fromiter((s.idx for s in work), np.int64, m)[sidx],
        "tgt": tgt,
        "aux": aux,
    }


def flush_pending(w: World, pending: list[dict[str, Any]]) -> None:
    """Add the bulk events and the effects of every macro (same request, same conversation)."""
    buf = w.buf
    for cols in pending:
        n = int(np.size(cols["t"]))
        req = buf.alloc_req(n)
        buf.chunk(n, req=req, **cols)
        mac = np.flatnonzero(np.asarray(cols["act"]) == ACT["macro.execute"])
        if mac.size == 0:
            continue
        aux = np.asarray(cols["aux"])[mac]
        for k, (_name, effects, _w) in enumerate(MACROS):
            sel = mac[aux == k]
            if sel.size == 0:
                continue
            for j, (action, arg) in enumerate(effects):
                if action == "label.assign":
                    eff_aux: Any = LABEL_INDEX[arg]
                elif action == "conversation.assign":
                    eff_aux = 10_000 + (1 if "Tier 2" in _name else 4)
                elif action == "message.create":
                    eff_aux = 2
                else:
                    eff_aux = -1
                sub = {
                    key: (np.asarray(v)[sel] if np.ndim(v) else v)
                    for key, v in cols.items()
                    if key not in ("act", "aux", "t")
                }
                buf.chunk(
                    sel.size,
                    t=np.asarray(cols["t"])[sel] + j + 1,
                    act=ACT[action],
                    aux=eff_aux,
                    req=req[sel],
                    **sub,
                )
