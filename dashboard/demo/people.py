"""The people: about 80 agents in three accounts, each with a home city (a real public address
of `dashboard.ingest.geo_demo_ips`), a time zone, one or two devices, a usual shift, a lunch
break, a personal work rate; a new hire or two, a leaver and vacations."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from dashboard.demo.catalog import (
    ACCOUNT_DOMAINS,
    ACCOUNT_ROLES,
    ACCOUNT_SIZES,
    ACCOUNT_TEAMS,
    DESKTOP_UAS,
    FIRST,
    LAST,
    MOBILE_UAS,
)
from dashboard.demo.clock import DAY_MS, Period, day_ms, ms_of
from dashboard.demo.columns import Endpoints
from dashboard.demo.places import region, zone_for
from dashboard.ingest.geo_demo_ips import DEMO_IPS, neighbour

ROLES = ("administrator", "supervisor", "agent")


@dataclass
class City:
    country: str
    city: str
    lat: float
    lon: float
    ips: list[str]
    zone: str
    next_host: int = 20


@dataclass
class Agent:
    idx: int
    id: str
    name: str
    email: str
    role: str
    team: str
    acct: int
    city: City
    tz: ZoneInfo
    ip: int
    uas: tuple[int, ...]
    start_h: float
    shift_h: float
    lunch_h: float
    intensity: float
    mfa: bool
    join_date: date | None = None
    leave_date: date | None = None
    vacation: tuple[date, date] | None = None
    mfa_off: list[tuple[int, int]] = field(default_factory=list)

    def has_mfa(self, t: int) -> bool:
        return self.mfa and not any(a <= t < b for a, b in self.mfa_off)

    def target(self) -> dict[str, str]:
        """This agent as the target of an event."""
        return {"type": "agent", "id": self.id, "name": self.name}

    def local_ms(self, day: date, hours: float) -> int:
        """`hours` o'clock of the local date `day`, in milliseconds."""
        wall = datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(hours=hours)
        return ms_of(wall)

    def local_day_for(self, day: date, hours: float) -> date:
        """The agent's local date whose `hours` o'clock falls on the UTC date `day`."""
        for shift in (0, 1, -1):
            local = day + timedelta(days=shift)
            if day_ms(day) <= self.local_ms(local, hours) < day_ms(day) + DAY_MS:
                return local
        return day


class Roster:
    """Every agent, by index; `busy` holds those given a planted role (kept out of random admin work)."""

    def __init__(self) -> None:
        self.agents: list[Agent] = []
        self.busy: set[int] = set()

    def __getitem__(self, idx: int) -> Agent:
        return self.agents[idx]

    def __iter__(self) -> Iterator[Agent]:
        return iter(self.agents)

    def __len__(self) -> int:
        return len(self.agents)

    def stable(self, acct: int | None = None, roles: Sequence[str] = ("agent",)) -> list[Agent]:
        """Agents present the whole period, not busy, of the account (any if None) and roles."""
        return [
            a
            for a in self.agents
            if (acct is None or a.acct == acct)
            and a.role in roles
            and a.join_date is None
            and a.leave_date is None
            and a.idx not in self.busy
        ]

    def build(self, rng: np.random.Generator, period: Period, endpoints: Endpoints) -> None:
        cities: dict[tuple[str, str], City] = {}
        for ip_addr, country, city, lat, lon in DEMO_IPS:
            key = (str(country), str(city))
            if key not in cities:
                zone = zone_for(str(country), str(city), float(lon))
                cities[key] = City(str(country), str(city), float(lat), float(lon), [], zone)
            cities[key].ips.append(str(ip_addr))
        if not cities:
            raise RuntimeError("dashboard.ingest.geo_demo_ips.DEMO_IPS is empty")
        all_cities = sorted(cities.values(), key=lambda c: (c.country, c.city))
        by_region: dict[str, list[City]] = {}
        for c in all_cities:
            by_region.setdefault(region(c.lat, c.lon), []).append(c)

        def pick(regions: Sequence[str], k: int, avoid: Sequence[City] = ()) -> list[City]:
            chosen: list[City] = []
            for reg in regions:
                pool = [c for c in by_region.get(reg, []) if c not in chosen and c not in avoid]
                if pool:
                    chosen.append(pool[int(rng.integers(len(pool)))])
                if len(chosen) == k:
                    break
            rest = [c for c in all_cities if c not in chosen and c not in avoid]
            rest = rest or [c for c in all_cities if c not in chosen] or all_cities
            while len(chosen) < k:
                chosen.append(rest[int(rng.integers(len(rest)))])
            return chosen

        support = pick(("europe", "americas", "europe", "americas", "apac"), 5)
        eu = pick(("europe", "europe", "europe"), 3, avoid=support)
        labs = pick(("europe", "americas"), 1, avoid=[*support, *eu])
        account_cities = (
            (support, (0.3, 0.2, 0.2, 0.15, 0.15)),
            (eu, (0.5, 0.3, 0.2)),
            (labs, (1.0,)),
        )
        names = [(f, s) for f in FIRST for s in LAST]
        order = rng.permutation(len(names))
        used_names = 0
        zones: dict[str, ZoneInfo] = {}
        for acct, size in enumerate(ACCOUNT_SIZES):
            teams = [t for t, w in ACCOUNT_TEAMS[acct] for _ in range(w)]
            team_of = [teams[int(i) % len(teams)] for i in rng.permutation(size)]
            n_admin, n_sup = ACCOUNT_ROLES[acct]
            city_list, weights = account_cities[acct]
            city_of = rng.choice(len(city_list), size=size, p=np.array(weights) / sum(weights))
            city_of[0] = 0  # the first administrator works at the main site
            for k in range(size):
                first, last = names[int(order[used_names])]
                used_names += 1
                role = "administrator" if k < n_admin else "supervisor" if k < n_admin + n_sup else "agent"
                home = city_list[int(city_of[k])]
                base = home.ips[(home.next_host // 200) % len(home.ips)]
                host = 20 + home.next_host % 200
                home.next_host += 1
                address = neighbour(base, host)
                zones.setdefault(home.zone, ZoneInfo(home.zone))
                idx = len(self.agents)
                desktop = int(rng.integers(len(DESKTOP_UAS)))
                uas: tuple[int, ...] = (desktop,)
                if rng.random() < 0.25:
                    uas = (desktop, len(DESKTOP_UAS) + int(rng.integers(len(MOBILE_UAS))))
                intensity = float(rng.lognormal(0.0, 0.25))
                intensity *= {"administrator": 0.3, "supervisor": 0.55}.get(role, 1.0)
                intensity *= {"Tier 1": 1.15, "VIP": 0.8}.get(team_of[k], 1.0)
                self.agents.append(
                    Agent(
                        idx=idx,
                        id=str(1001 + idx),
                        name=f"{first} {last}",
                        email=f"{first.lower()}.{last.lower()}@{ACCOUNT_DOMAINS[acct]}",
                        role=role,
                        team=team_of[k] if role != "administrator" else "Tier 2",
                        acct=acct,
                        city=home,
                        tz=zones[home.zone],
                        ip=endpoints.ip(address),
                        uas=uas,
                        start_h=float(rng.uniform(7.5, 9.5)),
                        shift_h=float(rng.uniform(8.5, 9.5)),
                        lunch_h=float(rng.uniform(11.75, 13.0)),
                        intensity=intensity,
                        mfa=role == "administrator" or rng.random() < 0.7,
                    )
                )
        # a new hire (two on long periods) and a leaver in the main account
        span = period.utc_dates()
        if not span:
            span = [period.end_dt.date() - timedelta(days=1)]
        plain = [a for a in self.agents if a.acct == 0 and a.role == "agent"]
        hires = 2 if period.days >= 45 else 1
        for j in range(hires):
            frac = (0.35, 0.7)[j] if hires == 2 else 0.45
            d = span[min(len(span) - 1, int(len(span) * frac))]
            while d.weekday() >= 5:
                d += timedelta(days=1)
            plain[-1 - j].join_date = d
        leaver = plain[-1 - hires]
        leaver.leave_date = span[min(len(span) - 1, int(len(span) * 0.55))]
        # vacations: a week off for some agents
        dates = span
        for a in self.agents:
            if a.join_date is None and a.leave_date is None and rng.random() < min(0.6, period.days / 150):
                d0 = dates[int(rng.integers(len(dates)))]
                a.vacation = (d0, d0 + timedelta(days=7))
