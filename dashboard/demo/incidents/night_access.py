"""Bulk access at night: an agent views 220 or more distinct conversations between 01:00 and
03:00 local time (the `bulk_access` rule)."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from dashboard.demo.columns import ACT
from dashboard.demo.incidents.base import Incident, Scenario, agent_for
from dashboard.demo.logins import login_rows
from dashboard.demo.world import World


def plan_bulk_access_night(w: World, sc: Scenario, day: date) -> None:
    rng = w.rng
    night = agent_for(w, 0)
    bulk_day = night.local_day_for(day, 1.0)
    n0 = night.local_ms(bulk_day, 0.83 + float(rng.uniform(0, 0.13)))
    n1 = night.local_ms(bulk_day, 2.92)
    ns = w.sessions.custom(night, n0, n1, 2, logout=True, inc=sc.next_tag)
    inc = Incident("bulk_access_night", [], 0, n0, n1, user=night.idx)
    inc.extra = {
        "views_from": night.local_ms(bulk_day, 1.03),
        "views_to": night.local_ms(bulk_day, 2.83),
        "local_time_zone": night.city.zone,
    }
    inc.sessions.append(ns)
    sc.incidents.append(inc)


def emit_bulk_access_night(w: World, tag: int, inc: Incident) -> None:
    rng, buf = w.rng, w.buf
    s = inc.sessions[0]
    z = w.roster[s.agent]
    login_rows(w, s, tag=tag)
    n = int(rng.integers(220, 260))
    t_from, t_to = inc.extra["views_from"], inc.extra["views_to"]
    times = np.sort(rng.integers(t_from, t_to, size=n))
    now = w.conv_now(0, t_from)
    convs = now - 10 - rng.choice(20_000, size=n, replace=False)
    reqs = buf.alloc_req(n)
    buf.chunk(
        n,
        t=times,
        act=ACT["conversation.view"],
        agent=z.idx,
        acct=0,
        ip=s.ip,
        ua=s.ua,
        sess=s.idx,
        req=reqs,
        tgt=convs,
        inc=tag,
    )
    inc.start, inc.end = int(times[0]), int(times[-1])
    inc.extra["views"] = n
    buf.row(s.end, "auth.logout", z.idx, 0, sess=s.idx, ip=s.ip, ua=s.ua)


def bulk_access_night_details(w: World, inc: Incident) -> dict[str, Any]:
    return {"views": inc.extra["views"], "local_time_zone": inc.extra["local_time_zone"]}
