"""Changes to people: hires and leavers, invitations, profiles, roles, permissions, teams, and
self-service security (passwords, MFA). Each function draws its events through an `AdminDesk`."""

from __future__ import annotations

from typing import Any

from dashboard.demo.catalog import ACCOUNT_DOMAINS, ACCOUNT_TEAMS, FIRST, LAST
from dashboard.demo.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from dashboard.demo.desk import ADMIN, ANYONE, LEADS, AdminDesk


def joiners_and_leavers(d: AdminDesk) -> None:
    """The new hires (created before their first day; they set a password and maybe MFA in their
    first session), the leaver (deleted after leaving), pending invitations and revoked ones."""
    w, rng, buf = d.w, d.rng, d.buf
    invite_no = 1001 + len(w.roster) + 500
    creates = 0
    for a in w.roster:
        if a.join_date is not None:
            join_ms = a.local_ms(a.join_date, 9.0)
            s = w.sessions.pick(a.acct, ADMIN, after=join_ms - 5 * DAY_MS, before=join_ms)
            s = s or w.sessions.pick(a.acct, ADMIN)
            if s is not None:
                d.emit(
                    s,
                    "agent.create",
                    {
                        "target": a.target(),
                        "changes": {"email": [None, a.email], "role": [None, a.role], "team": [None, a.team]},
                    },
                    t=w.sessions.time_in(s, hi=join_ms),
                )
                creates += 1
            q0 = next((q for q in w.sessions.sessions if q.agent == a.idx and q.kind < 2), None)
            if q0 is not None:
                te = q0.start + 70 * SECOND_MS
                buf.row(
                    te,
                    "auth.password_change",
                    a.idx,
                    a.acct,
                    sess=q0.idx,
                    ip=q0.ip,
                    ua=q0.ua,
                    spec=buf.special({"target": a.target(), "metadata": {"method": "invitation"}}),
                )
                if a.mfa:
                    buf.row(
                        te + 2 * MINUTE_MS,
                        "auth.mfa_enable",
                        a.idx,
                        a.acct,
                        sess=q0.idx,
                        ip=q0.ip,
                        ua=q0.ua,
                        spec=buf.special({"target": a.target(), "metadata": {"method": "totp"}}),
                    )
                    a.mfa_off.append((w.period.p0 - DAY_MS, te + 2 * MINUTE_MS))
        if a.leave_date is not None:
            gone = a.local_ms(a.leave_date, 20.0)
            s = w.sessions.pick(a.acct, ADMIN, after=gone, before=gone + 4 * DAY_MS)
            s = s or w.sessions.pick(a.acct, ADMIN, after=gone)
            if s is not None:
                d.emit(
                    s,
                    "agent.delete",
                    {"target": a.target(), "metadata": {"reason": "left the company"}},
                    t=w.sessions.time_in(s, lo=gone),
                )
    for _ in range(max(0, d.count(0.04) - creates)):
        if s := d.at(ADMIN):
            invite_no += 1
            fn, ln = FIRST[int(rng.integers(len(FIRST)))], LAST[int(rng.integers(len(LAST)))]
            email = f"{fn.lower()}.{ln.lower()}.ext@{ACCOUNT_DOMAINS[w.roster[s.agent].acct]}"
            d.emit(
                s,
                "agent.create",
                {
                    "target": {"type": "agent", "id": str(invite_no), "name": f"{fn} {ln}"},
                    "changes": {"email": [None, email], "role": [None, "agent"]},
                    "metadata": {"invitation": "pending"},
                },
            )
    for k in range(max(0, d.count(0.03) - sum(a.leave_date is not None for a in w.roster))):
        if s := d.at(ADMIN):
            fn, ln = FIRST[int(rng.integers(len(FIRST)))], LAST[int(rng.integers(len(LAST)))]
            d.emit(
                s,
                "agent.delete",
                {
                    "target": {"type": "agent", "id": str(invite_no + 100 + k), "name": f"{fn} {ln}"},
                    "metadata": {"reason": "invitation revoked"},
                },
            )


def profile_updates(d: AdminDesk) -> None:
    """Concurrency limits set by administrators; people editing their own profile."""
    w, rng = d.w, d.rng
    for _ in range(d.count(0.5)):
        if (s := d.at(ADMIN)) and (b := d.other(s)):
            old, new = d.two((5, 8, 10, 12, 15))
            d.emit(s, "agent.update", {"target": b.target(), "changes": {"concurrency_limit": [old, new]}})
    for _ in range(d.count(0.3)):
        if s := d.at(ANYONE):
            me = w.roster[s.agent]
            first_name = me.name.split()[0]
            change_self: dict[str, Any] = (
                {"display_name": [me.name, first_name]}
                if rng.random() < 0.5
                else {"message_signature": [None, f"Best regards, {first_name}"]}
            )
            d.emit(s, "agent.update", {"target": me.target(), "changes": change_self})


def role_changes(d: AdminDesk) -> None:
    """Role changes: one per target, between agent and supervisor."""
    w, rng = d.w, d.rng
    targets_done: set[int] = set()
    for _ in range(d.count(0.06)):
        if s := d.at(ADMIN):
            me = w.roster[s.agent]
            pool = [b for b in w.roster.stable(me.acct, ("agent", "supervisor")) if b.idx not in targets_done]
            if not pool:
                continue
            b = pool[int(rng.integers(len(pool)))]
            targets_done.add(b.idx)
            new = "supervisor" if b.role == "agent" else "agent"
            t = d.emit(s, "agent.role_change", {"target": b.target(), "changes": {"role": [b.role, new]}})
            w.role_epochs.append((b.idx, t, new))


def permission_changes(d: AdminDesk) -> None:
    """Custom roles and permissions."""
    rng = d.rng
    for _ in range(d.count(0.08)):
        if (s := d.at(ADMIN)) and (b := d.other(s)):
            change: dict[str, Any] = (
                {"custom_role": [None, f"{b.team} lead"]}
                if rng.random() < 0.4
                else {"permissions": [["conversation_manage"], ["conversation_manage", "report_view"]]}
            )
            d.emit(s, "agent.permission_change", {"target": b.target(), "changes": change})


def team_changes(d: AdminDesk) -> None:
    """Agents added to and removed from teams."""
    rng = d.rng
    for action, rate in (("team.member_add", 0.12), ("team.member_remove", 0.08)):
        for _ in range(d.count(rate)):
            if (s := d.at(LEADS)) and (b := d.other(s, ("agent",))):
                teams = [t for t, _w in ACCOUNT_TEAMS[b.acct]]
                team = teams[int(rng.integers(len(teams)))]
                d.emit(
                    s,
                    action,
                    {
                        "target": {
                            "type": "team",
                            "id": f"team-{b.acct + 1}-{teams.index(team) + 1}",
                            "name": team,
                        },
                        "metadata": {"agent_id": b.id, "agent_name": b.name},
                    },
                )


def security_changes(d: AdminDesk) -> None:
    """Self-service security: password changes and resets, a new phone (MFA off and on again), and
    MFA resets by an administrator for someone who then enrols again."""
    w, rng, buf = d.w, d.rng, d.buf
    for _ in range(d.count(0.5)):
        if s := d.at(ANYONE):
            me = w.roster[s.agent]
            d.emit(s, "auth.password_change", {"target": me.target(), "metadata": {"method": "profile"}})
    for _ in range(d.count(0.12)):
        if s := d.at(ANYONE):
            me = w.roster[s.agent]
            t = s.start - int(rng.integers(2, 6)) * MINUTE_MS
            buf.row(
                t,
                "auth.password_reset",
                me.idx,
                me.acct,
                ip=s.ip,
                ua=s.ua,
                spec=buf.special({"target": me.target(), "metadata": {"method": "email_link"}}),
            )
    for _ in range(d.count(0.03)):
        s = d.at(ANYONE)
        if s is None or s.end - s.start < HOUR_MS:
            continue
        me = w.roster[s.agent]
        t = w.sessions.time_in(s, hi=s.end - 40 * MINUTE_MS)
        t2 = t + int(rng.integers(3, 15)) * MINUTE_MS
        d.emit(
            s,
            "auth.mfa_disable",
            {
                "target": me.target(),
                "changes": {"mfa_enabled": [True, False]},
                "metadata": {"method": "totp", "comment": "new phone"},
            },
            t=t,
        )
        d.emit(
            s,
            "auth.mfa_enable",
            {
                "target": me.target(),
                "changes": {"mfa_enabled": [False, True]},
                "metadata": {"method": "totp"},
            },
            t=t2,
        )
        me.mfa_off.append((t, t2))
    for _ in range(d.count(0.04)):
        s = d.at(ADMIN)
        if s is None:
            continue
        me = w.roster[s.agent]
        t = w.sessions.time_in(s)
        pool = [b for b in w.roster.stable(me.acct, ("agent", "supervisor")) if b.mfa]
        for i in rng.permutation(len(pool)).tolist():
            b = pool[i]
            nxt = [q for q in w.sessions.sessions if q.agent == b.idx and t < q.start < t + 3 * DAY_MS and q.kind < 2]
            if nxt:
                q = nxt[0]
                d.emit(
                    s,
                    "auth.mfa_reset",
                    {
                        "target": b.target(),
                        "changes": {"mfa_enabled": [True, False]},
                        "metadata": {"comment": "lost phone"},
                    },
                    t=t,
                )
                te = q.start + 100 * SECOND_MS
                buf.row(
                    te,
                    "auth.mfa_enable",
                    b.idx,
                    b.acct,
                    sess=q.idx,
                    ip=q.ip,
                    ua=q.ua,
                    spec=buf.special(
                        {
                            "target": b.target(),
                            "changes": {"mfa_enabled": [False, True]},
                            "metadata": {"method": "totp"},
                        }
                    ),
                )
                b.mfa_off.append((t, te))
                break
