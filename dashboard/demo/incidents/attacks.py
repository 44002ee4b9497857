"""Attacks on sign-in from attacker addresses: a brute force on one account that ends in a
success (R1, R2, R6, and R12 as the address is abroad), and a password spray over many users
from one address (R2, R3, R4)."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from dashboard.demo.catalog import ATTACKER_BROWSER_UA, SCRIPT_UA
from dashboard.demo.clock import HOUR_MS, MINUTE_MS, SECOND_MS, day_ms
from dashboard.demo.incidents.base import Attacker, Incident, Scenario, agent_for, explicit_views
from dashboard.demo.people import Agent
from dashboard.demo.sessions import Session
from dashboard.demo.world import World


def plan_brute_force(w: World, sc: Scenario, day: date, attacker: Attacker) -> Agent:
    """20 bad passwords in about 3 minutes, then a success from the same address; returns the victim."""
    rng = w.rng
    victim = agent_for(w, 0, without_mfa=True)  # that is why guessing the password was enough
    victim.mfa = False
    a_ip = attacker
    t0 = day_ms(day) + int(rng.integers(1 * HOUR_MS, 21 * HOUR_MS))
    gaps = rng.integers(5 * SECOND_MS, 9 * SECOND_MS, size=20)
    fails = (t0 + np.concatenate([[0], np.cumsum(gaps[:-1])])).tolist()
    ok = int(fails[-1] + rng.integers(30 * SECOND_MS, 60 * SECOND_MS))
    inc = Incident("brute_force", [], 0, int(fails[0]), ok, user=victim.idx, ip=a_ip[0])
    inc.extra = {"fails": fails, "success": ok, "attacker": a_ip}
    s = Session(victim.idx, ok, ok + 7 * MINUTE_MS, w.endpoints.ip(a_ip[0]), w.endpoints.ua(ATTACKER_BROWSER_UA))
    s.kind, s.logout, s.clean = 2, False, True
    w.sessions.add(s)
    inc.sessions.append(s)
    w.sessions.block(victim.idx, t0 - 26 * HOUR_MS, ok + 26 * HOUR_MS)
    sc.incidents.append(inc)
    return victim


def emit_brute_force(w: World, tag: int, inc: Incident) -> None:
    buf = w.buf
    v = w.roster[inc.user or 0]
    a_ip = w.endpoints.ip(inc.ip or "")
    script = w.endpoints.ua(SCRIPT_UA)
    for t in inc.extra["fails"]:
        buf.row(t, "auth.login", v.idx, 0, reason=1, ip=a_ip, ua=script, inc=tag)
    s = inc.sessions[0]
    buf.row(s.start, "auth.login", v.idx, 0, ip=a_ip, ua=s.ua, sess=s.idx, inc=tag)
    explicit_views(w, s, 8)


def brute_force_details(w: World, inc: Incident) -> dict[str, Any]:
    return {"failures": len(inc.extra["fails"]), "attacker_country": inc.extra["attacker"][1]}


def plan_password_spray(w: World, sc: Scenario, day: date, attacker: Attacker, victim: Agent) -> None:
    """One address, 24 users of the main account (not the brute-force victim), 30 failures in 4 minutes."""
    rng = w.rng
    sp_ip = attacker
    pool = [a for a in w.roster if a.acct == 0 and a.idx != victim.idx and a.join_date is None]
    users = [pool[int(i)] for i in rng.permutation(len(pool))[:24]]
    tries = [u.idx for u in users] + [u.idx for u in users[:6]]
    t0 = day_ms(day) + int(rng.integers(HOUR_MS, 23 * HOUR_MS))
    times = (t0 + np.concatenate([[0], np.cumsum(rng.integers(5000, 7400, size=len(tries) - 1))])).tolist()
    inc = Incident("password_spray", [], 0, int(times[0]), int(times[-1]), ip=sp_ip[0])
    inc.extra = {"tries": list(zip(times, tries, strict=True)), "distinct_users": len(users)}
    sc.incidents.append(inc)


def emit_password_spray(w: World, tag: int, inc: Incident) -> None:
    sp_ip = w.endpoints.ip(inc.ip or "")
    for t, u in inc.extra["tries"]:
        w.buf.row(t, "auth.login", u, 0, reason=1, ip=sp_ip, ua=w.endpoints.ua(SCRIPT_UA), inc=tag)


def password_spray_details(w: World, inc: Incident) -> dict[str, Any]:
    return {"attempts": len(inc.extra["tries"]), "distinct_users": inc.extra["distinct_users"]}
