"""Privilege abuse: an agent makes themself administrator (R10; an administrator reverts it
later), and an administrator disables another user's MFA (R9; re-enabled only 36 h or more
later)."""

from __future__ import annotations

from datetime import date
from typing import Any

from dashboard.demo.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, iso
from dashboard.demo.incidents.base import Incident, Scenario, agent_for
from dashboard.demo.world import World


def plan_self_grant_admin(w: World, sc: Scenario, day: date) -> None:
    rng = w.rng
    grantee = agent_for(w, 0)
    grant_day = grantee.local_day_for(day, 11.0)
    g0 = grantee.local_ms(grant_day, 8.6 + float(rng.uniform(0, 0.3)))
    gs = w.sessions.custom(grantee, g0, g0 + int(8.4 * HOUR_MS), 1)
    inc = Incident("self_grant_admin", [], 0, g0, g0, user=grantee.idx)
    inc.sessions.append(gs)
    sc.incidents.append(inc)


def emit_self_grant_admin(w: World, tag: int, inc: Incident) -> None:
    rng, buf = w.rng, w.buf
    s = inc.sessions[0]
    me = w.roster[s.agent]
    t = s.start + int(2.5 * HOUR_MS) + int(rng.integers(-20 * MINUTE_MS, 20 * MINUTE_MS))
    inc.start = inc.end = t
    sp = buf.special(
        {
            "target": {"type": "agent", "id": me.id, "name": me.name},
            "changes": {"role": ["agent", "administrator"]},
        }
    )
    buf.row(t, "agent.role_change", me.idx, 0, sess=s.idx, ip=s.ip, ua=s.ua, spec=sp, inc=tag)
    w.role_epochs.append((me.idx, t, "administrator"))
    rev = w.sessions.pick(0, ("administrator",), after=t + HOUR_MS, before=t + 3 * DAY_MS)
    if rev is not None:
        tr = w.sessions.time_in(rev, lo=t + HOUR_MS)
        admin = w.roster[rev.agent]
        sp = buf.special(
            {
                "target": {"type": "agent", "id": me.id, "name": me.name},
                "changes": {"role": ["administrator", "agent"]},
                "metadata": {"comment": "reverted an unapproved role change"},
            }
        )
        buf.row(tr, "agent.role_change", admin.idx, 0, sess=rev.idx, ip=rev.ip, ua=rev.ua, spec=sp)
        w.role_epochs.append((me.idx, tr, "agent"))


def plan_mfa_disabled_other(w: World, sc: Scenario, day: date) -> None:
    """In the second account if it has a free administrator, else in the main one."""
    rng = w.rng
    acct = 1 if w.roster.stable(1, ("administrator",)) else 0
    admin = agent_for(w, acct, ("administrator",))
    target = agent_for(w, acct)
    target.mfa = True
    mfa_day = admin.local_day_for(day, 11.8)
    m0 = admin.local_ms(mfa_day, 8.8 + float(rng.uniform(0, 0.3)))
    ms = w.sessions.custom(admin, m0, m0 + 8 * HOUR_MS, 1)
    inc = Incident("mfa_disabled_other", [], acct, m0, m0, user=target.idx)
    inc.extra = {"actor": admin.idx}
    inc.sessions.append(ms)
    sc.incidents.append(inc)


def emit_mfa_disabled_other(w: World, tag: int, inc: Incident) -> None:
    rng, buf = w.rng, w.buf
    s = inc.sessions[0]
    x = w.roster[s.agent]
    y = w.roster[inc.user or 0]
    t = s.start + 3 * HOUR_MS + int(rng.integers(0, 30 * MINUTE_MS))
    inc.start = inc.end = t
    sp = buf.special(
        {
            "target": {"type": "agent", "id": y.id, "name": y.name},
            "changes": {"mfa_enabled": [True, False]},
            "metadata": {"method": "totp"},
        }
    )
    buf.row(t, "auth.mfa_disable", x.idx, x.acct, sess=s.idx, ip=s.ip, ua=s.ua, spec=sp, inc=tag)
    later = [q for q in w.sessions.sessions if q.agent == y.idx and q.start >= t + 36 * HOUR_MS]
    if later:
        q = later[0]
        te = q.start + 90 * SECOND_MS
        buf.row(te, "auth.mfa_enable", y.idx, y.acct, sess=q.idx, ip=q.ip, ua=q.ua)
        y.mfa_off.append((t, te))
        inc.extra["re_enabled_at"] = iso(te)
    else:
        y.mfa_off.append((t, w.period.p1 + DAY_MS))
        inc.extra["re_enabled_at"] = None


def mfa_disabled_other_details(w: World, inc: Incident) -> dict[str, Any]:
    x = w.roster[inc.extra["actor"]]
    return {"actor": x.id, "actor_email": x.email, "re_enabled_at": inc.extra["re_enabled_at"]}
