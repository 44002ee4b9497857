"""The demo data generator: contract, realism, planted incidents and their absence.

Every incident is recomputed here from the events alone, with the thresholds of the reference
rules in docs/detections.md, instead of trusting the generator's truth file.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboard.demo import DemoSpec, generate, write_ndjson
from dashboard.events.taxonomy import ACTION_CATEGORY, PLATFORM_ACTIONS
from dashboard.ingest.geo_demo_ips import ATTACKER_IPS, DEMO_IPS

END = datetime(2026, 6, 30, tzinfo=UTC)
SMALL = DemoSpec(days=30, events=30_000, end=END)
QUIET = DemoSpec(days=30, events=30_000, end=END, incidents=False)

RFC3339_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
TOP_KEYS = {
    "id",
    "occurred_at",
    "account_id",
    "action",
    "outcome",
    "reason",
    "actor",
    "target",
    "ip",
    "user_agent",
    "session_id",
    "request_id",
    "changes",
    "metadata",
}
TARGET_TYPES = {
    "conversation",
    "agent",
    "label",
    "macro",
    "automation_rule",
    "inbox",
    "team",
    "integration",
    "setting",
    "account",
}


# ----------------------------------------------------------------------------- helpers


def _collect(spec: DemoSpec, batch_size: int = 50_000) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    batches, truth = generate(spec, batch_size=batch_size)
    events = [ev for batch in batches for ev in batch]
    for ev in events:
        ev["_t"] = datetime.fromisoformat(ev["occurred_at"].replace("Z", "+00:00"))
    return events, truth


@pytest.fixture(scope="module")
def small() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return _collect(SMALL, batch_size=7_000)


@pytest.fixture(scope="module")
def quiet() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return _collect(QUIET)


def _places() -> dict[str, tuple[float, float, str]]:
    """/24 prefix -> (lat, lon, country): every demo address is a neighbour of a listed one."""
    out = {}
    for ip, country, _city, lat, lon in [*DEMO_IPS, *ATTACKER_IPS]:
        out[ip.rsplit(".", 1)[0]] = (lat, lon, country)
    return out


def _km(a: tuple[float, float, str], b: tuple[float, float, str]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _max_in_window(times: list[datetime], window: timedelta) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _failed_logins(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["action"] == "auth.login" and e["outcome"] == "failure"]


def _max_failures_per_user(events: list[dict[str, Any]]) -> dict[str, int]:
    by_user: dict[str, list[datetime]] = defaultdict(list)
    for e in _failed_logins(events):
        by_user[e["actor"]["id"]].append(e["_t"])
    return {u: _max_in_window(ts, timedelta(minutes=10)) for u, ts in by_user.items()}


def _max_distinct_users_per_ip(events: list[dict[str, Any]], window: timedelta) -> dict[str, int]:
    by_ip: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for e in _failed_logins(events):
        by_ip[e["ip"]].append((e["_t"], e["actor"]["id"]))
    out = {}
    for ip, rows in by_ip.items():
        best, lo = 0, 0
        for hi in range(len(rows)):
            while rows[hi][0] - rows[lo][0] > window:
                lo += 1
            best = max(best, len({u for _, u in rows[lo : hi + 1]}))
        out[ip] = best
    return out


def _travel_violations(events: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(user, km, km/h) of consecutive successful logins >= 500 km apart at >= 800 km/h."""
    places = _places()
    last: dict[str, tuple[datetime, tuple[float, float, str]]] = {}
    bad = []
    for e in events:
        if e["action"] != "auth.login" or e["outcome"] != "success":
            continue
        here = places[e["ip"].rsplit(".", 1)[0]]
        user = e["actor"]["id"]
        if user in last:
            t0, there = last[user]
            km = _km(there, here)
            hours = max((e["_t"] - t0).total_seconds() / 3600, 1e-6)
            if km >= 500 and km / hours >= 800:
                bad.append((user, km, km / hours))
        last[user] = (e["_t"], here)
    return bad


def _night_views(events: list[dict[str, Any]], truth: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(user, local night) -> distinct conversations viewed between 01:00 and 03:00 local time."""
    zones = {a["id"]: ZoneInfo(a["time_zone"]) for a in truth["agents"]}
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in events:
        if e["action"] != "conversation.view" or "id" not in e["actor"]:
            continue
        local = e["_t"].astimezone(zones[e["actor"]["id"]])
        if 1 <= local.hour < 3:
            out[(e["actor"]["id"], local.date().isoformat())].add(e["target"]["id"])
    return out


def _max_gap(events: list[dict[str, Any]], account: str) -> tuple[timedelta, datetime, datetime]:
    ts = [e["_t"] for e in events if e["account_id"] == account]
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(ts)]
    return max(gaps)


def _incident(truth: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [i for i in truth["incidents"] if i["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ----------------------------------------------------------------------------- shape


def test_count_order_ids(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    assert abs(len(events) - SMALL.events) <= 0.03 * SMALL.events
    assert truth["generated_events"] == len(events)
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times)
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("demo-") for i in ids)
    assert events[0]["_t"] >= END - timedelta(days=SMALL.days)
    assert events[-1]["_t"] < END


def test_every_event_meets_the_contract(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, _ = small
    accounts = {"acme-support", "acme-eu", "acme-labs"}
    for e in events:
        keys = set(e) - {"_t"}
        assert keys <= TOP_KEYS, keys - TOP_KEYS
        assert {"id", "occurred_at", "action", "outcome", "actor", "request_id"} <= keys
        assert all(e[k] is not None for k in keys), e
        assert 1 <= len(e["id"]) <= 128
        assert RFC3339_MS_Z.match(e["occurred_at"]), e["occurred_at"]
        assert ACTION_RE.match(e["action"])
        assert ACTION_CATEGORY.get(e["action"]) not in (None, "audit"), e["action"]
        assert e["account_id"] in accounts
        assert e["outcome"] in ("success", "failure")
        assert ("reason" in e) == (e["outcome"] == "failure")
        actor = e["actor"]
        assert actor.get("type", "user") in ("user", "api_key", "bot", "system")
        assert actor.get("id") or actor.get("type") == "system"
        assert all(v is not None for v in actor.values())
        if actor.get("type", "user") == "user":
            assert actor["role"] in ("administrator", "supervisor", "agent")
            assert "@" in actor["email"]
        if "target" in e:
            assert e["target"]["type"] in TARGET_TYPES
            assert e["target"]["id"]
        if "ip" in e:
            ipaddress.ip_address(e["ip"])
        for field, pair in e.get("changes", {}).items():
            assert isinstance(field, str)
            assert isinstance(pair, list)
            assert len(pair) == 2
        json.dumps({k: v for k, v in e.items() if k != "_t"})


def test_every_platform_action_is_present(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, _ = small
    seen = Counter(e["action"] for e in events)
    missing = [a for a in PLATFORM_ACTIONS if a not in seen]
    assert not missing
    # views and replies dominate, as on a real support desk
    top_two = {a for a, _ in seen.most_common(2)}
    assert top_two == {"conversation.view", "message.create"}


def test_every_platform_action_in_a_short_week() -> None:
    batches, truth = generate(DemoSpec(days=7, events=20_000, end=END))
    seen: Counter[str] = Counter()
    for batch in batches:
        seen.update(e["action"] for e in batch)
    assert [a for a in PLATFORM_ACTIONS if a not in seen] == []
    assert abs(truth["generated_events"] - 20_000) <= 600


def test_roster_and_rhythm(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    agents = truth["agents"]
    assert 75 <= len(agents) <= 85
    roles = Counter(a["role"] for a in agents)
    assert 2 <= roles["administrator"] <= 8
    assert roles["supervisor"] >= 5
    assert roles["agent"] > 50
    assert {a["account_id"] for a in agents} == {"acme-support", "acme-eu", "acme-labs"}
    assert len({a["email"] for a in agents}) == len(agents)
    assert len({a["team"] for a in agents}) >= 4
    # most work happens on weekdays within the agent's local working day
    zones = {a["id"]: ZoneInfo(a["time_zone"]) for a in agents}
    user_events = [e for e in events if e["actor"].get("type") == "user"]
    in_hours = 0
    for e in user_events:
        local = e["_t"].astimezone(zones[e["actor"]["id"]])
        in_hours += local.weekday() < 5 and 7 <= local.hour < 20
    assert in_hours / len(user_events) > 0.85
    # logins open sessions; some events come from the platform itself
    logins = [e for e in events if e["action"] == "auth.login" and e["outcome"] == "success"]
    assert all("session_id" in e for e in logins)
    assert any(e["actor"] == {"type": "system", "name": "Automation"} for e in events)
    failures = _failed_logins(events)
    assert 0.005 < len(failures) / (len(logins) + len(failures)) < 0.2
    # macro effects share the macro's request id
    by_request: dict[str, list[str]] = defaultdict(list)
    for e in events:
        by_request[e["request_id"]].append(e["action"])
    assert any(acts[0] == "macro.execute" and len(acts) > 1 for acts in by_request.values())


# ----------------------------------------------------------------------------- incidents


def test_truth_lists_every_incident(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    kinds = {i["kind"] for i in truth["incidents"]}
    assert kinds == {
        "brute_force",
        "password_spray",
        "impossible_travel",
        "self_grant_admin",
        "mfa_disabled_other",
        "bulk_access_night",
        "silent_source",
    }
    ids = {e["id"] for e in events}
    start = END - timedelta(days=SMALL.days)
    days = set()
    for inc in truth["incidents"]:
        assert inc["rules"]
        assert inc["event_ids"]
        assert set(inc["event_ids"]) <= ids
        assert _ts(inc["start"]) >= start + timedelta(days=15 if SMALL.days >= 25 else SMALL.days // 3)
        days.add(_ts(inc["start"]).date())
    assert len(days) == len(truth["incidents"])
    assert any(_ts(i["end"]) >= END - timedelta(days=3) for i in truth["incidents"])
    assert _ts(truth["spec"]["end"]) == END


def test_brute_force(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    inc = _incident(truth, "brute_force")
    assert {"R1", "R2", "R6"} <= set(inc["rules"])
    mine = [e for e in events if e["action"] == "auth.login" and e["actor"].get("id") == inc["user"]]
    fails = [e for e in mine if e["outcome"] == "failure" and e["ip"] == inc["ip"]]
    assert len(fails) >= 15
    assert all(e["reason"] == "bad_password" for e in fails)
    assert fails[-1]["_t"] - fails[0]["_t"] <= timedelta(minutes=8)
    assert _max_in_window([e["_t"] for e in fails], timedelta(minutes=10)) >= 10  # R1
    assert _max_in_window([e["_t"] for e in fails], timedelta(seconds=160)) >= 12  # R2
    success = next(e for e in mine if e["outcome"] == "success" and e["_t"] > fails[-1]["_t"])
    assert success["ip"] == inc["ip"]  # R6, same address
    assert success["_t"] - fails[-10]["_t"] <= timedelta(minutes=10)


def test_password_spray(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    inc = _incident(truth, "password_spray")
    fails = [e for e in _failed_logins(events) if e["ip"] == inc["ip"]]
    assert _max_distinct_users_per_ip(fails, timedelta(minutes=5))[inc["ip"]] >= 10  # R3
    assert fails[-1]["_t"] - fails[0]["_t"] <= timedelta(minutes=4)
    per_user = Counter(e["actor"]["id"] for e in fails)
    assert len(per_user) >= 20
    assert len(fails) >= 25  # R4: >= 25 attempts, >= 15 users, <= 2 each
    assert max(per_user.values()) <= 2


def test_impossible_travel(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    inc = _incident(truth, "impossible_travel")
    bad = _travel_violations(events)
    assert [b[0] for b in bad] == [inc["user"]]
    assert bad[0][1] > 5000
    logins = [e for e in events if e["id"] in set(inc["event_ids"])]
    assert [e["ip"] for e in logins][-1] == inc["ip"]
    assert timedelta(minutes=39) <= logins[-1]["_t"] - logins[0]["_t"] <= timedelta(minutes=42)


def test_self_grant_admin(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    inc = _incident(truth, "self_grant_admin")
    grants = [
        e
        for e in events
        if e["action"] == "agent.role_change"
        and e["actor"].get("id") == e["target"]["id"]
        and e["changes"]["role"] == ["agent", "administrator"]
    ]
    assert len(grants) == 1
    assert grants[0]["actor"]["role"] == "agent"
    assert grants[0]["id"] in inc["event_ids"]
    assert grants[0]["actor"]["id"] == inc["user"]


def test_mfa_disabled_for_another_user(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    inc = _incident(truth, "mfa_disabled_other")
    disables = [e for e in events if e["action"] == "auth.mfa_disable" and e["target"]["id"] != e["actor"].get("id")]
    assert len(disables) == 1
    ev = disables[0]
    assert ev["actor"]["role"] == "administrator"
    assert ev["target"] == {"type": "agent", "id": inc["user"], "name": ev["target"]["name"]}
    re_enabled = [
        e
        for e in events
        if e["action"] == "auth.mfa_enable"
        and e["target"]["id"] == inc["user"]
        and ev["_t"] < e["_t"] <= ev["_t"] + timedelta(hours=12)
    ]
    assert re_enabled == []


def test_bulk_access_at_night(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    inc = _incident(truth, "bulk_access_night")
    nights = _night_views(events, truth)
    heavy = {key: len(v) for key, v in nights.items() if len(v) >= 200}
    assert [u for u, _ in heavy] == [inc["user"]]


def test_silent_source(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    inc = _incident(truth, "silent_source")
    assert inc["account_id"] == "acme-labs"
    gap, before, after = _max_gap(events, "acme-labs")
    assert gap >= timedelta(hours=26)
    assert before <= _ts(inc["start"]) and after >= _ts(inc["end"])
    middle = before + gap / 2
    assert middle.weekday() in (1, 2, 3)  # mid-week
    for account in ("acme-support", "acme-eu"):
        assert _max_gap(events, account)[0] < timedelta(hours=12)


def test_legitimate_traveller_is_not_impossible_travel(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    trip = truth["benign"][0]
    abroad = [e for e in events if e["actor"].get("id") == trip["user"] and e.get("ip") == trip["ip"]]
    assert any(e["action"] == "auth.login" for e in abroad)
    assert trip["to"]["country"] != trip["from"]["country"]
    assert trip["user"] not in [b[0] for b in _travel_violations(events)]


# ----------------------------------------------------------------------------- no incidents


def test_without_incidents_nothing_fires(quiet: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = quiet
    assert truth["incidents"] == []
    assert abs(len(events) - QUIET.events) <= 0.03 * QUIET.events
    assert max(_max_failures_per_user(events).values()) < 10
    assert max(_max_distinct_users_per_ip(events, timedelta(minutes=5)).values()) < 10
    role_changes = [e for e in events if e["action"] == "agent.role_change"]
    assert role_changes
    assert all(e["actor"]["id"] != e["target"]["id"] for e in role_changes)
    assert all(e["actor"]["role"] == "administrator" for e in role_changes)
    assert _travel_violations(events) == []
    for account in ("acme-support", "acme-eu", "acme-labs"):
        assert _max_gap(events, account)[0] < timedelta(hours=12), account
    assert max((len(v) for v in _night_views(events, truth).values()), default=0) < 30
    for e in events:
        if e["action"] == "auth.mfa_disable":
            assert e["target"]["id"] == e["actor"]["id"]  # only people changing their own phone


# ----------------------------------------------------------------------------- files, determinism


def test_write_ndjson(tmp_path: Path) -> None:
    spec = DemoSpec(days=7, events=5_000, end=END, incidents=False)
    path = tmp_path / "demo.ndjson"
    truth = write_ndjson(spec, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == truth["generated_events"]
    first = json.loads(lines[0])
    assert first["id"].startswith("demo-")
    stored = json.loads((tmp_path / "demo.truth.json").read_text(encoding="utf-8"))
    assert stored == truth
    assert stored["spec"]["days"] == 7


def test_deterministic(small: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, truth = small
    again, truth2 = _collect(SMALL)
    assert truth2 == truth
    assert again[0] == events[0]
    assert again[-1] == events[-1]
    assert len(again) == len(events)
    other, _ = _collect(DemoSpec(days=30, events=30_000, end=END, seed=8))
    assert other[len(other) // 2]["occurred_at"] != events[len(events) // 2]["occurred_at"]


def test_default_end_and_bad_specs() -> None:
    _, truth = generate(DemoSpec(days=7, events=3_000, incidents=False))
    end = _ts(truth["spec"]["end"])
    assert end.second == 0 and end.microsecond == 0
    assert datetime.now(UTC) - end < timedelta(minutes=5)
    with pytest.raises(ValueError, match="timezone"):
        generate(DemoSpec(end=datetime(2026, 6, 30)))  # a naive time, on purpose
