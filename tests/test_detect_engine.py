"""Every rule fires on its smallest positive case and stays silent on the nearest negatives
(one below the threshold, outside the window, another user); de-duplication, re-run
idempotence, incremental runs and late events. Real DuckDB store, real ingest path."""

# ruff: noqa: F811 - the fixtures `db` and `empty_store` come from tests.test_detect_helpers

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.detect.service import STATE_KEY
from dashboard.store.db import Database
from tests.test_detect_helpers import (
    ATTACKER,
    ATTACKER_2,
    BERLIN,
    BERLIN_2,
    HAMBURG,
    LISBON,
    MADRID,
    ON_BOTH_ENGINES,
    PARIS,
    SYDNEY,
    T0,
    TOKYO,
    alerts_of,
    db,  # noqa: F401
    detect,
    empty_store,  # noqa: F401
    ev,
    every,
    feed,
    service,
)

S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


def fails(n: int, step: timedelta, *, user: str = "u1", ip: str = ATTACKER, start=T0, **kw):
    return [ev(t, user=user, outcome="failure", ip=ip, **kw) for t in every(start, step, n)]


# ----------------------------------------------------------------------------- R1


def test_r1_fires_on_ten_failures_of_one_user(db: Database) -> None:
    events = fails(10, 50 * S)
    feed(db, events)
    found = alerts_of(detect(db), "R1")
    assert len(found) == 1
    assert found[0]["key"] == {"account_id": "acme", "user": "u1"}
    assert found[0]["event_count"] == 10
    assert found[0]["severity"] == "high"
    assert found[0]["evidence_event_ids"] == [e["id"] for e in events]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(fails(9, 50 * S), id="nine"),
        pytest.param(fails(10, 67 * S), id="ten-over-10.05-minutes"),
        pytest.param(fails(5, 50 * S) + fails(5, 50 * S, user="u2", start=T0 + 5 * S), id="two-users"),
    ],
)
def test_r1_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R1") == []


# ----------------------------------------------------------------------------- R2


def test_r2_fires_on_twelve_failures_from_one_address_in_160_seconds(db: Database) -> None:
    feed(db, [ev(T0 + i * 14 * S, user=f"u{i % 3}", outcome="failure", ip=ATTACKER) for i in range(12)])
    found = alerts_of(detect(db), "R2")
    assert [a["key"] for a in found] == [{"ip": ATTACKER}]
    assert found[0]["measures"]["count"] == 12


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(fails(11, 14 * S), id="eleven"),
        pytest.param(fails(12, 15 * S), id="twelve-over-165-seconds"),
        pytest.param(fails(6, 10 * S) + fails(6, 10 * S, ip=ATTACKER_2, start=T0 + S), id="two-addresses"),
    ],
)
def test_r2_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R2") == []


# ----------------------------------------------------------------------------- R3


def spray(users: int, step: timedelta, ip: str = ATTACKER, start=T0):
    return [ev(start + i * step, user=f"v{i}", outcome="failure", ip=ip) for i in range(users)]


def test_r3_fires_on_ten_users_from_one_address_in_five_minutes(db: Database) -> None:
    feed(db, spray(10, 30 * S))
    found = alerts_of(detect(db), "R3")
    assert len(found) == 1 and found[0]["measures"]["distinct"] == 10


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(spray(9, 30 * S) + fails(3, 10 * S, user="v0", start=T0 + 5 * M), id="nine-users"),
        pytest.param(spray(10, 34 * S), id="ten-users-over-5.1-minutes"),
        pytest.param(spray(5, 30 * S) + spray(5, 30 * S, ip=ATTACKER_2, start=T0 + S), id="two-addresses"),
    ],
)
def test_r3_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R3") == []


# ----------------------------------------------------------------------------- R4


def stuffing(attempts: int, users: int, step: timedelta = 20 * S, ip: str = ATTACKER, run: int = 1):
    """`run` attempts in a row per user, users in turn."""
    return [ev(T0 + i * step, user=f"w{(i // run) % users}", outcome="failure", ip=ip) for i in range(attempts)]


def test_r4_fires_on_credential_stuffing(db: Database) -> None:
    feed(db, stuffing(25, 15))
    found = alerts_of(detect(db), "R4")
    assert len(found) == 1
    assert found[0]["measures"]["count"] == 25
    assert found[0]["measures"]["distinct"] == 15


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(stuffing(24, 15), id="24-attempts"),
        pytest.param(stuffing(25, 14), id="14-users"),
        pytest.param(stuffing(45, 15, step=10 * S, run=3), id="3-attempts-per-user"),
        pytest.param(stuffing(25, 15, step=38 * S), id="over-15-minutes"),
    ],
)
def test_r4_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R4") == []


# ----------------------------------------------------------------------------- R5


def distributed(ips: list[str], n: int = 10, step: timedelta = 2 * M, user: str = "u1"):
    return [ev(T0 + i * step, user=user, outcome="failure", ip=ips[i % len(ips)]) for i in range(n)]


@ON_BOTH_ENGINES
def test_r5_fires_on_many_addresses_in_two_countries(db: Database) -> None:
    feed(db, distributed([ATTACKER, ATTACKER_2, PARIS, MADRID, LISBON]))
    found = alerts_of(detect(db), "R5")
    assert len(found) == 1
    assert found[0]["measures"]["distinct"] == 5
    assert found[0]["measures"]["distinct country"] >= 2


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(distributed([ATTACKER, ATTACKER_2, PARIS, MADRID]), id="four-addresses"),
        pytest.param(distributed([BERLIN, BERLIN_2, "91.32.96.242", "91.32.96.243", "91.32.96.244"]), id="one-country"),
        pytest.param(distributed([ATTACKER, ATTACKER_2, PARIS, MADRID, LISBON], n=9), id="nine-attempts"),
        pytest.param(distributed([ATTACKER, ATTACKER_2, PARIS, MADRID, LISBON], step=4 * M), id="over-30-minutes"),
    ],
)
def test_r5_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R5") == []


# ----------------------------------------------------------------------------- R6


def test_r6_failures_then_success_from_the_same_address_is_critical(db: Database) -> None:
    events = [*fails(10, 20 * S), ev(T0 + 5 * M, ip=ATTACKER)]
    feed(db, events)
    found = alerts_of(detect(db), "R6")
    assert len(found) == 1
    assert found[0]["severity"] == "critical"
    assert set(found[0]["evidence_event_ids"]) == {e["id"] for e in events}


def test_r6_success_from_another_address_is_high(db: Database) -> None:
    feed(db, [*fails(10, 20 * S), ev(T0 + 5 * M, ip=BERLIN)])
    found = alerts_of(detect(db), "R6")
    assert [a["severity"] for a in found] == ["high"]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([*fails(9, 20 * S), ev(T0 + 5 * M, ip=ATTACKER)], id="nine-failures"),
        pytest.param([*fails(10, 20 * S), ev(T0 + 13 * M, ip=ATTACKER)], id="success-after-the-window"),
        pytest.param([*fails(10, 20 * S), ev(T0 + 5 * M, user="u2", ip=ATTACKER)], id="other-user"),
        pytest.param([ev(T0 - M, ip=ATTACKER), *fails(10, 20 * S)], id="success-before"),
    ],
)
def test_r6_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R6") == []


# ----------------------------------------------------------------------------- R7


def lockouts(n: int, step: timedelta, user: str = "u1"):
    return [ev(t, "auth.account_locked", user=user, outcome="failure", reason="locked") for t in every(T0, step, n)]


def test_r7_fires_on_three_lockouts_in_three_hours(db: Database) -> None:
    feed(db, lockouts(3, 80 * M))
    assert len(alerts_of(detect(db), "R7")) == 1


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(lockouts(2, 60 * M), id="two"),
        pytest.param(lockouts(3, 95 * M), id="over-three-hours"),
        pytest.param(lockouts(2, 60 * M) + lockouts(1, M, user="u2"), id="other-user"),
    ],
)
def test_r7_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R7") == []


# ----------------------------------------------------------------------------- R8


def mfa(n: int, step: timedelta, outcome: str = "failure", start=T0, user: str = "u1"):
    return [ev(t, "auth.mfa_challenge", user=user, outcome=outcome, reason="mfa_failed") for t in every(start, step, n)]


def test_r8_fires_on_ten_failed_challenges_in_five_minutes(db: Database) -> None:
    feed(db, mfa(10, 30 * S))
    assert len(alerts_of(detect(db), "R8")) == 1


@ON_BOTH_ENGINES
def test_r8_fires_on_five_denials_then_a_success(db: Database) -> None:
    feed(db, [*mfa(5, M), *mfa(1, M, outcome="success", start=T0 + 8 * M)])
    found = alerts_of(detect(db), "R8")
    assert len(found) == 1 and found[0]["event_count"] == 6


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(mfa(9, 30 * S), id="nine-failures"),
        pytest.param(mfa(10, 34 * S), id="ten-over-5.1-minutes"),
        pytest.param([*mfa(4, M), *mfa(1, M, outcome="success", start=T0 + 6 * M)], id="four-denials-then-success"),
        pytest.param([*mfa(5, M), *mfa(1, M, outcome="success", start=T0 + 15 * M)], id="success-too-late"),
        pytest.param([*mfa(5, M), *mfa(1, M, outcome="success", start=T0 + 6 * M, user="u2")], id="other-user"),
    ],
)
def test_r8_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R8") == []


# ----------------------------------------------------------------------------- R9

AGENT = {"type": "agent", "id": "u1", "name": "User u1"}


def test_r9_own_mfa_change_re_enabled_is_medium(db: Database) -> None:
    feed(
        db,
        [
            ev(T0, "auth.mfa_disable", target=AGENT),
            ev(T0 + 10 * M, "auth.mfa_enable", target=AGENT),
            ev(T0 + 20 * H, "auth.login", user="u9"),  # the clock moves past the 12 hours
        ],
    )
    found = alerts_of(detect(db), "R9")
    assert [(a["severity"], a["key"]["subject"]) for a in found] == [("medium", "u1")]


def test_r9_disabling_someone_elses_mfa_is_high(db: Database) -> None:
    feed(db, [ev(T0, "auth.mfa_disable", user="admin1", role="administrator", target=AGENT)])
    found = alerts_of(detect(db), "R9")
    assert [a["severity"] for a in found] == ["high"]
    assert found[0]["detail"]["escalated_because"] == ["other_user"]


def test_r9_mfa_not_enabled_again_within_12_hours_is_high(db: Database) -> None:
    feed(db, [ev(T0, "auth.mfa_disable", target=AGENT), ev(T0 + 13 * H, "auth.mfa_enable", target=AGENT)])
    found = alerts_of(detect(db), "R9")
    assert [a["severity"] for a in found] == ["high"]
    assert found[0]["detail"]["escalated_because"] == ["not_followed_by"]


def test_r9_escalates_incrementally_when_the_12_hours_pass(db: Database) -> None:
    svc = service(db)
    feed(db, [ev(T0, "auth.mfa_disable", target=AGENT)])
    svc.run_incremental()
    assert [a["severity"] for a in alerts_of(svc, "R9")] == ["medium"]  # 12 hours have not passed yet
    feed(db, [ev(T0 + 13 * H, "auth.login", user="u7")])
    report = svc.run_incremental()
    assert report is not None and report.alerts.escalated
    found = alerts_of(svc, "R9")
    assert [a["severity"] for a in found] == ["high"]
    assert len(found) == 1


def test_r9_silent_on_enable_and_on_reset_by_the_help_desk_is_medium(db: Database) -> None:
    feed(
        db,
        [
            ev(T0, "auth.mfa_enable", target=AGENT),
            ev(T0 + H, "auth.mfa_reset", user="admin1", role="administrator", target={**AGENT, "id": "u5"}),
        ],
    )
    found = alerts_of(detect(db), "R9")
    assert [(a["severity"], a["key"]["subject"]) for a in found] == [("medium", "u5")]


# ----------------------------------------------------------------------------- R10


def role_change(actor: str, target: str, new: str, old: str = "agent", when=T0):
    return ev(
        when,
        "agent.role_change",
        user=actor,
        role="administrator" if actor.startswith("admin") else "agent",
        target={"type": "agent", "id": target, "name": f"User {target}"},
        changes={"role": [old, new]},
    )


def test_r10_grant_of_administrator_is_medium(db: Database) -> None:
    feed(db, [role_change("admin1", "u2", "administrator")])
    assert [a["severity"] for a in alerts_of(detect(db), "R10")] == ["medium"]


def test_r10_self_grant_is_critical(db: Database) -> None:
    feed(db, [role_change("u2", "u2", "administrator")])
    found = alerts_of(detect(db), "R10")
    assert [a["severity"] for a in found] == ["critical"]


@ON_BOTH_ENGINES
def test_r10_grant_after_a_sign_in_alert_on_the_granter_is_high(db: Database) -> None:
    feed(
        db,
        [
            ev(T0, user="admin1", ip=BERLIN, role="administrator"),
            ev(T0 + 30 * M, user="admin1", ip=SYDNEY, role="administrator"),  # R11 on admin1
            role_change("admin1", "u2", "administrator", when=T0 + 40 * M),
        ],
    )
    svc = detect(db)
    assert len(alerts_of(svc, "R11")) == 1
    assert [a["severity"] for a in alerts_of(svc, "R10")] == ["high"]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([role_change("admin1", "u2", "supervisor")], id="to-supervisor"),
        pytest.param([role_change("admin1", "u2", "agent", old="administrator")], id="revoked"),
        pytest.param([ev(T0, "agent.update", user="admin1", changes={"concurrency_limit": [5, 8]})], id="update"),
    ],
)
def test_r10_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R10") == []


def test_r10_permission_change_is_every_event(db: Database) -> None:
    feed(
        db,
        [
            ev(
                T0,
                "agent.permission_change",
                user="admin1",
                role="administrator",
                target={"type": "agent", "id": "u3", "name": "User u3"},
                changes={"permissions": [["a"], ["a", "b"]]},
            )
        ],
    )
    assert len(alerts_of(detect(db), "R10")) == 1


# ----------------------------------------------------------------------------- R11


def test_r11_fires_on_berlin_then_sydney_in_30_minutes(db: Database) -> None:
    events = [ev(T0, ip=BERLIN), ev(T0 + 30 * M, ip=SYDNEY)]
    feed(db, events)
    found = alerts_of(detect(db), "R11")
    assert len(found) == 1
    a = found[0]
    assert a["evidence_event_ids"] == [e["id"] for e in events]
    assert a["measures"]["distance_km"] > 15_000
    assert a["detail"]["from"]["country"] == "DE" and a["detail"]["to"]["country"] == "AU"


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([ev(T0, ip=BERLIN), ev(T0 + 100 * M, ip=SYDNEY)], id="outside-90-minutes"),
        pytest.param([ev(T0, ip=BERLIN), ev(T0 + 10 * M, ip=HAMBURG)], id="255-km"),
        pytest.param([ev(T0, ip=BERLIN), ev(T0 + 10 * M, ip="203.0.113.x")], id="masked"),
        pytest.param([ev(T0, ip=BERLIN), ev(T0 + 10 * M, ip="10.1.2.3")], id="internal"),
        pytest.param([ev(T0, ip=BERLIN), ev(T0 + 30 * M, ip=SYDNEY, user="u2")], id="other-user"),
        pytest.param([ev(T0, ip=PARIS), ev(T0 + 80 * M, ip=MADRID)], id="1050-km-in-80-minutes"),
        pytest.param([ev(T0, ip=BERLIN), ev(T0 + 30 * M, ip=SYDNEY, outcome="failure")], id="failed-sign-in"),
    ],
)
def test_r11_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R11") == []


# ----------------------------------------------------------------------------- R12


def history(n: int, ip: str = BERLIN, user: str = "u1", start=T0):
    return [ev(t, ip=ip, user=user) for t in every(start, 22 * H, n)]


def test_r12_fires_on_a_new_country_after_ten_sign_ins(db: Database) -> None:
    events = history(10)
    new = ev(T0 + 10 * 22 * H, ip=PARIS)
    feed(db, [*events, new])
    found = alerts_of(detect(db), "R12")
    assert len(found) == 1
    assert found[0]["key"] == {"account_id": "acme", "user": "u1", "country": "FR"}
    assert found[0]["evidence_event_ids"] == [new["id"]]
    assert found[0]["detail"]["seen_before"] == ["DE"]


def test_r12_learning_period_may_also_end_after_14_days(db: Database) -> None:
    feed(db, [ev(T0, ip=BERLIN), ev(T0 + 13 * D, ip=BERLIN), ev(T0 + 15 * D, ip=PARIS)])
    assert len(alerts_of(detect(db), "R12")) == 1


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([*history(9), ev(T0 + 9 * 22 * H, ip=PARIS)], id="still-learning"),
        pytest.param([*history(10), ev(T0 + 10 * 22 * H, ip=HAMBURG)], id="same-country"),
        pytest.param([*history(10), ev(T0 + 10 * 22 * H, ip=PARIS, user="u2")], id="other-user"),
        pytest.param(
            [*history(5, ip=PARIS), *history(10, start=T0 + 5 * D), ev(T0 + 5 * D + 10 * 22 * H, ip=PARIS)],
            id="seen-within-14-days",
        ),
    ],
)
def test_r12_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R12") == []


# ----------------------------------------------------------------------------- R13


def resets(n: int, step: timedelta, actor: str = "u1"):
    return [
        ev(t, "auth.password_reset", user=actor, target={"type": "agent", "id": f"x{i}", "name": "x"})
        for i, t in enumerate(every(T0, step, n))
    ]


def test_r13_fires_on_five_resets_in_an_hour(db: Database) -> None:
    feed(db, resets(5, 14 * M))
    assert len(alerts_of(detect(db), "R13")) == 1


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(resets(4, 10 * M), id="four"),
        pytest.param(resets(5, 16 * M), id="over-an-hour"),
        pytest.param(resets(3, 10 * M) + resets(2, 10 * M, actor="u2"), id="two-actors"),
    ],
)
def test_r13_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "R13") == []


# ----------------------------------------------------------------------------- bulk access


def working_days(days: int, per_hour: int | list[int], user: str = "u1", start=T0):
    rates = per_hour if isinstance(per_hour, list) else [per_hour]
    out = []
    for d in range(days):
        for h in range(8):
            base = start + d * D + h * H
            n = rates[(d * 8 + h) % len(rates)]
            out += [
                ev(
                    base + i * M,
                    "conversation.view",
                    user=user,
                    target={"type": "conversation", "id": str(i), "name": "#"},
                )
                for i in range(n)
            ]
    return out


def burst(n: int, when, user: str = "u1"):
    step = (50 * M) / n
    return [
        ev(when + i * step, "conversation.view", user=user, target={"type": "conversation", "id": f"b{i}", "name": "#"})
        for i in range(n)
    ]


def test_bulk_access_fires_far_over_the_own_baseline(db: Database) -> None:
    night = T0 + 5 * D + 16 * H
    feed(db, [*working_days(5, [4, 6]), *burst(40, night)])
    found = alerts_of(detect(db), "bulk_access")
    assert len(found) == 1
    assert found[0]["event_count"] == 40
    assert found[0]["detail"]["baseline"] == "own"
    assert found[0]["measures"]["count"] == 40


def test_bulk_access_compares_newcomers_with_their_peers(db: Database) -> None:
    feed(
        db,
        [*working_days(3, [4, 6], user="old1"), *working_days(3, 6, user="old2"), *burst(40, T0 + 3 * D, user="new")],
    )
    found = alerts_of(detect(db), "bulk_access")
    assert [(a["key"]["user"], a["detail"]["baseline"]) for a in found] == [("new", "peers")]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([*working_days(5, [4, 6]), *burst(30, T0 + 5 * D + 16 * H)], id="thirty-is-not-more-than-30"),
        pytest.param([*working_days(5, [20, 36]), *burst(40, T0 + 5 * D + 16 * H)], id="within-3-sd-of-a-busy-agent"),
        pytest.param(
            [
                *working_days(5, [4, 6]),
                *working_days(5, [20, 36], user="u2"),
                *burst(40, T0 + 5 * D + 16 * H, user="u2"),
            ],
            id="other-user",
        ),
    ],
)
def test_bulk_access_silent(db: Database, events: list[dict]) -> None:
    feed(db, events)
    assert alerts_of(detect(db), "bulk_access") == []


# ----------------------------------------------------------------------------- sensitive configuration


def test_sensitive_config_fires_for_people_and_security_settings(db: Database) -> None:
    feed(
        db,
        [
            ev(
                T0,
                "integration.create",
                user="admin1",
                target={"type": "integration", "id": "int-1", "name": "Webhook"},
            ),
            ev(
                T0 + 5 * M,
                "integration.update",
                user="admin1",
                target={"type": "integration", "id": "int-1", "name": "W"},
            ),
            ev(T0 + 2 * H, "settings.update", user="admin2", changes={"session_timeout_minutes": [30, 600]}),
            ev(T0 + 3 * H, "settings.update", user="admin3", changes={"locale": ["en", "de"]}),
            ev(T0 + 4 * H, "automation_rule.update", actor_type="system", ip=None),
        ],
    )
    found = alerts_of(detect(db), "sensitive_config")
    assert sorted((a["key"]["user"], a["event_count"]) for a in found) == [("admin1", 2), ("admin2", 1)]
    assert all(a["severity"] == "low" for a in found)


# ----------------------------------------------------------------------------- administrator off hours


def admin_days(days: int, user: str = "admin1", role: str = "administrator"):
    return [ev(T0 + d * D + h * H, "settings.update", user=user, role=role) for d in range(days) for h in range(9)]


def test_admin_off_hours_fires_at_night(db: Database) -> None:
    night = ev(T0 + 7 * D - 6 * H, "agent.update", user="admin1", role="administrator")  # 03:00 UTC
    feed(db, [*admin_days(7), night])
    found = alerts_of(detect(db), "admin_off_hours")
    assert len(found) == 1
    assert found[0]["evidence_event_ids"] == [night["id"]]
    assert found[0]["detail"]["hours_utc"] == [3]


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(ev(T0 + 7 * D + H, "agent.update", user="admin1", role="administrator"), id="usual-hour"),
        pytest.param(ev(T0 + 7 * D - H, "agent.update", user="admin1", role="administrator"), id="08h-within-margin"),
        pytest.param(ev(T0 + 7 * D - 6 * H, "agent.update", user="u1", role="agent"), id="not-an-administrator"),
        pytest.param(
            ev(T0 + 7 * D - 6 * H, user="admin1", role="administrator", outcome="failure", ip=ATTACKER),
            id="failed-sign-in",
        ),
    ],
)
def test_admin_off_hours_silent(db: Database, extra: dict) -> None:
    feed(db, [*admin_days(7), *admin_days(7, user="u1", role="agent"), extra])
    assert alerts_of(detect(db), "admin_off_hours") == []


def test_admin_off_hours_needs_a_learned_history(db: Database) -> None:
    feed(db, [*admin_days(4), ev(T0 + 4 * D - 6 * H, "agent.update", user="admin1", role="administrator")])
    assert alerts_of(detect(db), "admin_off_hours") == []


# ----------------------------------------------------------------------------- silent source


def steady(days: float, step: timedelta = 10 * M, account: str = "acme", start=T0):
    n = int(days * D / step)
    return [ev(t, "message.create", account=account, user="bot", ip=None) for t in every(start, step, n)]


def test_log_silence_fires_on_a_long_gap(db: Database) -> None:
    before = steady(8)
    after = steady(1, start=T0 + 8 * D + 5 * H)
    feed(db, [*before, *after])
    found = alerts_of(detect(db), "log_silence")
    assert len(found) == 1
    assert found[0]["key"] == {"account_id": "acme"}
    assert found[0]["evidence_event_ids"] == [before[-1]["id"], after[0]["id"]]
    assert found[0]["measures"]["silent_hours"] > 5
    assert found[0]["measures"]["threshold_hours"] == 1.0


@pytest.mark.parametrize(
    "gap_start,gap",
    [
        pytest.param(8, 50 * M, id="50-minutes"),
        pytest.param(3, 5 * H, id="still-learning"),
    ],
)
def test_log_silence_silent(db: Database, gap_start: int, gap: timedelta) -> None:
    before = steady(gap_start)
    feed(db, [*before, *steady(1, start=T0 + gap_start * D - 10 * M + gap)])
    assert alerts_of(detect(db), "log_silence") == []


@ON_BOTH_ENGINES
def test_log_silence_live_check_and_the_gap_that_ends_later_are_one_alert(db: Database) -> None:
    feed(db, steady(8))
    svc = service(db)
    svc.run_incremental()
    assert alerts_of(svc, "log_silence") == []
    svc.check_silence(now=(T0 + 8 * D + 4 * H).replace(tzinfo=None))
    live = alerts_of(svc, "log_silence")
    assert len(live) == 1 and live[0]["detail"]["ongoing"] is True
    feed(db, steady(1, start=T0 + 8 * D + 6 * H))
    svc.run_incremental()
    after = alerts_of(svc, "log_silence")
    assert len(after) == 1
    assert after[0]["id"] == live[0]["id"]
    assert after[0]["event_count"] == 2  # the last event before and the first after


# ----------------------------------------------------------------------------- de-duplication, idempotence


def test_one_ongoing_attack_is_one_alert_whose_evidence_grows(db: Database) -> None:
    svc = service(db)
    feed(db, fails(12, 40 * S))
    svc.run_incremental()
    first = alerts_of(svc, "R1")
    assert len(first) == 1 and first[0]["event_count"] == 12
    feed(db, fails(12, 40 * S, start=T0 + 9 * M))  # the attack goes on
    svc.run_incremental()
    grown = alerts_of(svc, "R1")
    assert len(grown) == 1
    assert grown[0]["id"] == first[0]["id"]
    assert grown[0]["event_count"] == 24


def test_a_new_attack_after_a_quiet_spell_is_a_new_alert(db: Database) -> None:
    feed(db, [*fails(10, 30 * S), *fails(10, 30 * S, start=T0 + 2 * H)])
    assert len(alerts_of(detect(db), "R1")) == 2


def test_running_twice_makes_no_duplicates(db: Database) -> None:
    feed(
        db,
        [
            *fails(10, 20 * S),
            ev(T0 + 5 * M, ip=ATTACKER),
            ev(T0, ip=BERLIN, user="u2"),
            ev(T0 + M, ip=TOKYO, user="u2"),
        ],
    )
    svc = detect(db)
    before = svc.alerts.list(with_evidence=True)
    report = svc.run_all()
    assert report.alerts.created == [] and report.alerts.updated == [] and report.alerts.evidence_added == 0
    again = service(db)
    again.run_range(T0.replace(tzinfo=None) - D, T0.replace(tzinfo=None) + D)
    assert again.alerts.list(with_evidence=True) == before
    assert {a["rule_id"] for a in before} >= {"R1", "R6", "R11"}


def test_incremental_runs_find_what_a_full_run_finds(db: Database, tmp_path) -> None:
    events = [*fails(10, 20 * S), ev(T0 + 5 * M, ip=ATTACKER), *spray(10, 20 * S, start=T0 + H)]
    inc = service(db)
    for i in range(0, len(events), 3):  # batches of three, as an API client might send
        feed(db, events[i : i + 3])
        inc.run_incremental()
    assert int(db.get_meta(STATE_KEY) or 0) == len(events)
    got = {(a["rule_id"], a["alert_key"], a["event_count"]) for a in inc.alerts.list()}
    other = Database(tmp_path / "full.duckdb")
    try:
        feed(other, events)
        full = {(a["rule_id"], a["alert_key"], a["event_count"]) for a in detect(other).alerts.list()}
    finally:
        other.close()
    assert got == full
    assert {r for r, _k, _n in got} >= {"R1", "R3", "R6"}


def test_late_events_complete_a_window(db: Database) -> None:
    svc = service(db)
    events = fails(10, 30 * S)
    feed(db, events[5:])
    svc.run_incremental()
    assert alerts_of(svc, "R1") == []
    feed(db, events[:5])  # the first five arrive late
    svc.run_incremental()
    found = alerts_of(svc, "R1")
    assert len(found) == 1 and found[0]["event_count"] == 10


def test_the_listener_runs_detection_off_the_ingest_thread(db: Database) -> None:
    from dashboard.ingest.pipeline import Ingestor
    from tests.test_detect_helpers import geo

    svc = service(db)
    ingestor = Ingestor(db, geo())
    ingestor.listeners.append(svc.on_stored)
    import json

    ingestor.ingest_batch([(i, json.dumps(e)) for i, e in enumerate(fails(10, 20 * S))], "api:test")
    assert svc.wait_idle(300)  # returns as soon as the run is done; a loaded machine may be slow
    assert len(alerts_of(svc, "R1")) == 1
    assert svc.processed_up_to() == 10


# ----------------------------------------------------------------------------- integrity


def test_a_failed_integrity_check_raises_a_critical_alert(db: Database) -> None:
    from dashboard.store.selflog import record

    record(db, "audit.verify", "system", outcome="success", metadata={"head": "ok"})
    assert alerts_of(detect(db), "integrity_break") == []
    record(db, "audit.verify", "system", outcome="failure", reason="altered", metadata={"first_break_seq": 41})
    found = alerts_of(detect(db), "integrity_break")
    assert len(found) == 1
    assert found[0]["severity"] == "critical"
