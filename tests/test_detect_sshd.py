"""Real traffic: the sshd authentication log of one Linux host (elastic/examples, 2017).

Its `Failed password`, `Accepted password` and `Invalid user` lines become `auth.login` events
(syslog lines carry no year: 2017, as the data set's provenance says; times read as UTC). The
thresholds are the shipped defaults, not tuned to this file. What an analyst reading the log
finds, and what is checked:

* scanners hammer the host (hundreds of guesses seconds apart, mostly for `root`, `admin` and
  made-up names): brute force from their addresses (R2) and on `root` (R1);
* on March 30 from 15:54 to 16:01, 147 wrong passwords for `elastic_user_0` from
  24.151.103.17, then at 16:01:36 `Accepted password for elastic_user_0 from 24.151.103.17`:
  the password was guessed. Brute force on the account (R1) and from the address (R2), and
  failures followed by a success from the same address: critical (R6), the only critical alert;
* the other people who use the host (`elastic_user_1` to `_9`) mistype a password now and then:
  no attack alert names them, nor their other addresses 85.245.107.41 and 95.93.96.191;
* the same accounts sign in from Portugal (85.245.107.41) and from the United States
  (24.151.103.17) minutes apart: impossible travel (R11), for those accounts only.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from tests.conftest import ROOT
from tests.test_detect_helpers import detect, geo

LOG = ROOT / "tests" / "data" / "sshd-auth-elastic-examples.log"  # provenance: tests/data/PROVENANCE.md
YEAR = 2017
PEOPLE_ADDRESSES = {"85.245.107.41", "95.93.96.191"}
GUESSER = "24.151.103.17"
VICTIM = "elastic_user_0"

_LINE = re.compile(r"^(?P<mon>\w{3}) +(?P<day>\d+) (?P<time>[\d:]{8}) (?P<host>\S+) sshd\[(?P<pid>\d+)\]: (?P<msg>.*)$")
_FAILED = re.compile(r"Failed password for (?P<invalid>invalid user )?(?P<user>.*?) from (?P<ip>[\d.]+) port \d+")
_ACCEPTED = re.compile(r"Accepted password for (?P<user>\S+) from (?P<ip>[\d.]+) port \d+")
_INVALID = re.compile(r"^Invalid user (?P<user>.*?) from (?P<ip>[\d.]+)")
_REPEATED = re.compile(r"^message repeated (?P<n>\d+) times: \[ (?P<msg>.*)\]$")


def sshd_events(path: Path = LOG) -> list[dict[str, Any]]:
    """The log's password sign-ins as events (one per attempt).

    `Failed password` is one failed attempt (`message repeated N times` repeats it N times);
    `Accepted password` is a success; `Invalid user` is a failed attempt on an unknown name only
    for connections that tried no password (otherwise the `Failed password for invalid user`
    lines of that connection already count its attempts).
    """
    rows: list[tuple[datetime, str, str, str, str, str]] = []  # when, pid, kind, user, ip, reason
    with_password: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        when = datetime.strptime(f"{YEAR} {m['mon']} {m['day']} {m['time']}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
        msg, times = m["msg"], 1
        rep = _REPEATED.match(msg)
        if rep:
            msg, times = rep["msg"], int(rep["n"])
        key = f"{m['host']}:{m['pid']}"
        if f := _FAILED.search(msg):
            with_password.add(key)
            reason = "unknown_user" if f["invalid"] else "bad_password"
            rows += [(when, key, "failure", f["user"] or "(empty)", f["ip"], reason)] * times
        elif a := _ACCEPTED.search(msg):
            with_password.add(key)
            rows.append((when, key, "success", a["user"], a["ip"], ""))
        elif i := _INVALID.match(msg):
            rows.append((when, key, "invalid", i["user"] or "(empty)", i["ip"], "unknown_user"))
    events = []
    for k, (when, key, kind, user, ip, reason) in enumerate(rows):
        if kind == "invalid" and key in with_password:
            continue
        doc: dict[str, Any] = {
            "id": f"sshd-{k:05d}",
            "occurred_at": when.isoformat().replace("+00:00", "Z"),
            "account_id": "ip-10-77-20-248",
            "action": "auth.login",
            "outcome": "success" if kind == "success" else "failure",
            "actor": {"id": user, "name": user, "type": "user"},
            "ip": ip,
            "user_agent": "sshd",
            "session_id": key,
            "metadata": {"source": "sshd"},
        }
        if kind != "success":
            doc["reason"] = reason
        events.append(doc)
    return events


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    events = sshd_events()
    db = Database(tmp_path_factory.mktemp("sshd") / "sshd.duckdb")
    try:
        result = Ingestor(db, geo()).ingest_batch([(i, json.dumps(e)) for i, e in enumerate(events)], "file:auth.log")
        assert result.accepted == len(events)
        alerts = detect(db).alerts.list(with_evidence=True, limit=10_000)
    finally:
        db.close()
    yield events, alerts


def _scanners(events: list[dict[str, Any]]) -> set[str]:
    """Addresses whose failures come in bursts (at least 12 within 160 s): what R2 should name."""
    by_ip: dict[str, list[datetime]] = {}
    for e in events:
        if e["outcome"] == "failure":
            by_ip.setdefault(e["ip"], []).append(datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")))
    out = set()
    for ip, times in by_ip.items():
        times.sort()
        j = 0
        for i, t in enumerate(times):
            while (t - times[j]).total_seconds() > 160:
                j += 1
            if i - j + 1 >= 12:
                out.add(ip)
                break
    return out


def test_the_log_converts(sshd: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    events, _alerts = sshd
    outcomes = Counter(e["outcome"] for e in events)
    assert outcomes["success"] == 190  # the `Accepted password` lines
    assert outcomes["failure"] > 700  # `Failed password` lines, repeats and password-less invalid users


def test_the_scanners_are_brute_force_from_their_address(
    sshd: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    events, alerts = sshd
    named = {a["key"]["ip"] for a in alerts if a["rule_id"] == "R2"}
    assert named == _scanners(events)
    assert {"34.204.227.175", "49.4.143.105", "201.178.81.113", GUESSER} <= named
    assert not named & PEOPLE_ADDRESSES


def test_root_and_the_guessed_account_are_brute_force_targets(
    sshd: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    _events, alerts = sshd
    users = {a["key"]["user"] for a in alerts if a["rule_id"] == "R1"}
    assert {"root", VICTIM} <= users
    assert {u for u in users if u.startswith("elastic_user_")} == {VICTIM}
    victim = next(a for a in alerts if a["rule_id"] == "R1" and a["key"]["user"] == VICTIM)
    assert victim["event_count"] == 147
    assert victim["first_seen"].strftime("%m-%d %H:%M") == "03-30 15:54"


def test_the_guessed_password_is_the_one_critical_alert(
    sshd: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    events, alerts = sshd
    critical = [a for a in alerts if a["severity"] == "critical"]
    assert [(a["rule_id"], a["key"]["user"]) for a in critical] == [("R6", VICTIM)]
    accepted = next(
        e
        for e in events
        if e["outcome"] == "success" and e["actor"]["id"] == VICTIM and e["occurred_at"] == "2017-03-30T16:01:36Z"
    )
    assert accepted["ip"] == GUESSER
    assert accepted["id"] in critical[0]["evidence_event_ids"]
    assert critical[0]["detail"]["success_ip"] == GUESSER
    assert [a for a in alerts if a["rule_id"] == "R6" and a["key"]["user"] != VICTIM] == []


def test_the_other_people_raise_no_attack_alert(sshd: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    _events, alerts = sshd
    attack_rules = {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"}
    for a in alerts:
        if a["rule_id"] in attack_rules:
            assert a["key"].get("ip") not in PEOPLE_ADDRESSES, a["summary"]
            user = str(a["key"].get("user", ""))
            assert not user.startswith("elastic_user_") or user == VICTIM, a["summary"]


def test_sign_ins_from_portugal_and_the_us_minutes_apart_are_impossible_travel(
    sshd: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    _events, alerts = sshd
    travel = [a for a in alerts if a["rule_id"] == "R11"]
    assert travel
    for a in travel:
        assert a["key"]["user"].startswith("elastic_user_")
        assert {a["detail"]["from"]["country"], a["detail"]["to"]["country"]} == {"PT", "US"}
        assert a["measures"]["distance_km"] > 5000
