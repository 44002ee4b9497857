"""When each incident happens and in what order they are planted and written.

Incidents fall on different days after the first 15 (the rules' learning periods), the brute
force in the last three days, the silent source on a Wednesday (else another weekday) with
both neighbours in the period. They are planned before the sessions are frozen (planted
sessions push planned ones aside) and written after; always in the order of `ORDER`, which
is the order their random draws are taken in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from dashboard.demo.clock import DAY_MS, day_ms
from dashboard.demo.incidents import attacks, night_access, privilege, silence, travel
from dashboard.demo.incidents.base import INCIDENT_RULES, Incident, Scenario
from dashboard.demo.world import World
from dashboard.ingest.geo_demo_ips import ATTACKER_IPS

ORDER = (
    "brute_force",
    "password_spray",
    "impossible_travel",
    "self_grant_admin",
    "mfa_disabled_other",
    "bulk_access_night",
    "silent_source",
)

EMIT: dict[str, Callable[[World, int, Incident], None]] = {
    "brute_force": attacks.emit_brute_force,
    "password_spray": attacks.emit_password_spray,
    "impossible_travel": travel.emit_impossible_travel,
    "self_grant_admin": privilege.emit_self_grant_admin,
    "mfa_disabled_other": privilege.emit_mfa_disabled_other,
    "bulk_access_night": night_access.emit_bulk_access_night,
}

# what the truth file says about an incident besides its kind, rules, people, address and times
DETAILS: dict[str, Callable[[World, Incident], dict[str, Any]]] = {
    "brute_force": attacks.brute_force_details,
    "password_spray": attacks.password_spray_details,
    "impossible_travel": travel.impossible_travel_details,
    "mfa_disabled_other": privilege.mfa_disabled_other_details,
    "bulk_access_night": night_access.bulk_access_night_details,
}


def incident_days(w: World) -> tuple[date, date, list[date]]:
    """The brute force's day, the silent day, and five more days (spray, travel, grant, MFA, bulk)."""
    rng = w.rng
    dates = w.period.utc_dates()
    lo = 15 if w.spec.days >= 25 else max(2, w.spec.days // 3)
    first_ok = w.period.p0 + lo * DAY_MS
    elig = [d for d in dates if day_ms(d) >= first_ok] or dates[-3:]
    last3 = [d for d in elig if day_ms(d) >= w.period.p1 - 3 * DAY_MS] or elig[-1:]
    bf_day = last3[int(rng.integers(len(last3)))]
    # the silent day: a Wednesday (else another weekday) with both neighbours in the period
    dset = set(dates)
    silent_day: date | None = None
    for weekdays in ((2,), (1, 3), (0, 4), tuple(range(7))):
        cands = [
            d
            for d in elig
            if d.weekday() in weekdays
            and d - timedelta(days=1) in dset
            and d + timedelta(days=1) in dset
            and abs((d - bf_day).days) > 1
        ]
        if cands:
            silent_day = cands[int(rng.integers(len(cands)))]
            break
    if silent_day is None:
        silent_day = elig[0]
    taken = {bf_day, silent_day, silent_day - timedelta(days=1), silent_day + timedelta(days=1)}
    rest = [d for d in elig if d not in taken] or [d for d in dates if d not in taken] or dates
    perm = [rest[int(i)] for i in rng.permutation(len(rest))]
    while len(perm) < 5:
        perm += perm
    return bf_day, silent_day, perm[:5]


def plan_incidents(w: World, sc: Scenario) -> None:
    """Plant the seven incidents (phase A: people, days, sessions); their events come later."""
    bf_day, silent_day, days = incident_days(w)
    spray_day, travel_day, grant_day, mfa_day, bulk_day = days
    attackers = [(str(r[0]), str(r[1]), str(r[2]), float(r[3]), float(r[4])) for r in ATTACKER_IPS]
    if len(attackers) < 2:
        raise RuntimeError("dashboard.ingest.geo_demo_ips.ATTACKER_IPS needs at least two addresses")
    att_order = [attackers[int(i)] for i in w.rng.permutation(len(attackers))]
    victim = attacks.plan_brute_force(w, sc, bf_day, att_order[0])
    attacks.plan_password_spray(w, sc, spray_day, att_order[1], victim)
    travel.plan_impossible_travel(w, sc, travel_day, attackers, (att_order[0][0], att_order[1][0]))
    privilege.plan_self_grant_admin(w, sc, grant_day)
    privilege.plan_mfa_disabled_other(w, sc, mfa_day)
    night_access.plan_bulk_access_night(w, sc, bulk_day)
    silence.plan_silent_source(w, sc, silent_day)
    assert [inc.kind for inc in sc.incidents] == list(ORDER)
    for inc in sc.incidents:
        inc.rules = list(INCIDENT_RULES[inc.kind])


def emit_incidents(w: World, sc: Scenario) -> None:
    """Phase B: the events of every planted incident, tagged with its index."""
    for tag, inc in enumerate(sc.incidents):
        emit = EMIT.get(inc.kind)
        if emit is not None:
            emit(w, tag, inc)
