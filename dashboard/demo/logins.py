"""Signing in and out: the login of every session with its MFA challenge, the occasional failed
password or failed MFA challenge, a few lockouts with a self-service reset, and the logout."""

from __future__ import annotations

import numpy as np

from dashboard.demo.clock import MINUTE_MS, SECOND_MS
from dashboard.demo.sessions import Session
from dashboard.demo.world import World


def login_rows(w: World, s: Session, tag: int = -1, fails: int = 0, mfa_fail: bool = False, lock: bool = False) -> None:
    """The events around one session's login (and its logout, unless planted with explicit events)."""
    buf = w.buf
    a = w.roster[s.agent]
    t0 = s.start
    common = {"ip": s.ip, "ua": s.ua}
    if lock:
        t = t0 - 16 * MINUTE_MS
        for _ in range(5):
            t += int(w.rng.integers(15 * SECOND_MS, 45 * SECOND_MS))
            buf.row(t, "auth.login", a.idx, a.acct, reason=1, **common)
        buf.row(t + 800, "auth.account_locked", a.idx, a.acct, reason=3, **common)
        sp = buf.special({"target": a.target(), "metadata": {"method": "email_link"}})
        buf.row(t0 - 2 * MINUTE_MS, "auth.password_reset", a.idx, a.acct, spec=sp, **common)
    for k in range(fails):
        buf.row(t0 - (fails - k) * 25 * SECOND_MS - 9 * SECOND_MS, "auth.login", a.idx, a.acct, reason=1, **common)
    if a.has_mfa(t0):
        if mfa_fail:
            req = int(buf.alloc_req()[0])
            buf.row(t0 - 50 * SECOND_MS, "auth.mfa_challenge", a.idx, a.acct, reason=2, req=req, **common)
            buf.row(t0 - 50 * SECOND_MS + 40, "auth.login", a.idx, a.acct, reason=2, req=req, **common)
        buf.row(t0 - 8 * SECOND_MS, "auth.mfa_challenge", a.idx, a.acct, **common)
    buf.row(t0, "auth.login", a.idx, a.acct, sess=s.idx, inc=tag, **common)
    if s.logout and s.kind != 2:
        buf.row(s.end, "auth.logout", a.idx, a.acct, sess=s.idx, **common)


def emit_logins(w: World) -> None:
    """Logins of every session with normal work; failures and lockouts only before unplanted ones."""
    rng = w.rng
    normal = [s for s in w.sessions.sessions if s.kind < 2]
    n = len(normal)
    r = rng.random(n)
    fails = np.where(r < 0.006, 2, np.where(r < 0.03, 1, 0))
    mfa_fail = rng.random(n) < 0.012
    dirty = [i for i, s in enumerate(normal) if not s.clean and w.roster[s.agent].idx not in w.roster.busy]
    min_n = 3
    if dirty:
        for arr, val in ((fails, 1), (mfa_fail, True)):
            if int(np.count_nonzero(arr)) < min_n:
                arr[rng.choice(dirty, size=min(min_n, len(dirty)), replace=False)] = val
    n_lock = max(min_n, int(rng.poisson(w.spec.days / 12)))
    locked: set[int] = set()
    if dirty:
        agents_seen: set[int] = set()
        for i in rng.permutation(dirty).tolist():
            s = normal[i]
            if s.agent in agents_seen or s.start - 20 * MINUTE_MS < w.period.p0:
                continue
            agents_seen.add(s.agent)
            locked.add(i)
            if len(locked) == n_lock:
                break
    for i, s in enumerate(normal):
        if s.clean:
            login_rows(w, s, tag=s.inc)
        else:
            lock = i in locked
            login_rows(
                w,
                s,
                fails=0 if lock else int(fails[i]),
                mfa_fail=bool(mfa_fail[i]) and not lock,
                lock=lock,
            )
