"""Travel: an impossible one (a home login, then 40 minutes later a login from more than
5000 km away: R11, R12), and a legitimate trip abroad listed under `benign` (a new country at
a plausible speed, so R12 may fire but never R11)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from dashboard.demo.catalog import ACCOUNTS, ATTACKER_BROWSER_UA
from dashboard.demo.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, iso
from dashboard.demo.incidents.base import Attacker, Incident, Scenario, explicit_views
from dashboard.demo.logins import login_rows
from dashboard.demo.people import Agent
from dashboard.demo.places import haversine_km
from dashboard.demo.sessions import Session
from dashboard.demo.world import World
from dashboard.ingest.geo_demo_ips import DEMO_IPS, neighbour


def plan_impossible_travel(
    w: World, sc: Scenario, day: date, attackers: list[Attacker], taken_ips: tuple[str, ...]
) -> None:
    """An agent outside the smallest account, and an attacker address (not one already used) far away."""
    rng = w.rng
    best: list[tuple[Agent, Attacker, float]] = []
    far_pool = [att for att in attackers if att[0] not in taken_ips] or attackers
    for a in w.roster.stable(None):
        if a.acct == 2:
            continue
        for att in far_pool:
            dist = haversine_km(a.city.lat, a.city.lon, att[3], att[4])
            if dist > 5000 and att[1] != a.city.country:
                best.append((a, att, dist))
    if not best:
        raise RuntimeError("no attacker address is more than 5000 km from any agent's home")
    traveller_agent, t_ip, dist = best[int(rng.integers(len(best)))]
    w.roster.busy.add(traveller_agent.idx)
    travel_day = traveller_agent.local_day_for(day, 8.5)
    home0 = traveller_agent.local_ms(travel_day, 8.5 + float(rng.uniform(0, 0.3)))
    home = w.sessions.custom(traveller_agent, home0, home0 + int(8.5 * HOUR_MS), 1)
    away0 = home0 + 40 * MINUTE_MS + int(rng.integers(0, 50 * SECOND_MS))
    away = Session(
        traveller_agent.idx,
        away0,
        away0 + 9 * MINUTE_MS,
        w.endpoints.ip(t_ip[0]),
        w.endpoints.ua(ATTACKER_BROWSER_UA),
    )
    away.kind, away.logout, away.clean = 2, False, True
    w.sessions.add(away)
    w.sessions.block(traveller_agent.idx, home0 - 26 * HOUR_MS, away0 + 26 * HOUR_MS)
    inc = Incident("impossible_travel", [], traveller_agent.acct, home0, away0, user=traveller_agent.idx, ip=t_ip[0])
    inc.extra = {
        "distance_km": round(dist, 1),
        "minutes_apart": round((away0 - home0) / MINUTE_MS, 1),
        "from": {"country": traveller_agent.city.country, "city": traveller_agent.city.city},
        "to": {"country": t_ip[1], "city": t_ip[2]},
    }
    home.inc = away.inc = sc.next_tag
    inc.sessions += [home, away]
    sc.incidents.append(inc)


def emit_impossible_travel(w: World, tag: int, inc: Incident) -> None:
    away = inc.sessions[1]
    login_rows(w, away, tag=tag)
    explicit_views(w, away, 6)


def impossible_travel_details(w: World, inc: Incident) -> dict[str, Any]:
    return {k: v for k, v in inc.extra.items()}


def plan_legitimate_trip(w: World, sc: Scenario) -> None:
    """One agent works from another country for a few days: a plausible trip."""
    rng = w.rng
    pool = [a for a in w.roster.stable(1) + w.roster.stable(0) if a.idx not in w.roster.busy]
    if not pool:
        return
    dates = w.period.utc_dates()
    if len(dates) < 7:
        return
    lo = min(max(16, len(dates) // 3), len(dates) - 6)
    for i in rng.permutation(len(pool)).tolist():
        a = pool[i]
        dests = []
        for ip_addr, country, city, lat, lon in DEMO_IPS:
            if str(country) == a.city.country:
                continue
            dist = haversine_km(a.city.lat, a.city.lon, float(lat), float(lon))
            if 500 < dist < 3500:
                dests.append((str(ip_addr), str(country), str(city), dist))
        if not dests:
            continue
        dest = dests[int(rng.integers(len(dests)))]
        # leave on a Sunday, Monday or Tuesday so that the days abroad are working days
        starts = [d for d in dates[lo : len(dates) - 5] if d.weekday() in (6, 0, 1)] or dates[lo : len(dates) - 5]
        d = starts[int(rng.integers(len(starts)))]
        if a.vacation and a.vacation[0] < d + timedelta(days=5) and d < a.vacation[1]:
            continue
        leave = a.local_ms(d, 0)
        host = neighbour(dest[0], 240)  # agents get offsets 20..219 from their city's address
        w.roster.busy.add(a.idx)
        sc.traveller = {
            "agent": a.idx,
            "leave": leave,
            "arrive": leave + DAY_MS,
            "depart": leave + 4 * DAY_MS,
            "home": leave + 5 * DAY_MS,
            "ip": w.endpoints.ip(host),
        }
        sc.benign.append(
            {
                "kind": "legitimate_travel",
                "account_id": ACCOUNTS[a.acct],
                "user": a.id,
                "ip": host,
                "from": {"country": a.city.country, "city": a.city.city},
                "to": {"country": dest[1], "city": dest[2]},
                "distance_km": round(dest[3], 1),
                "start": iso(leave + DAY_MS),
                "end": iso(leave + 4 * DAY_MS),
                "note": "works from abroad for three days after a travel day: a new country "
                "(R12 may fire) but never impossible travel",
            }
        )
        return
