"""What the pages show, without a browser: masking, explorer links, figures."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from dashboard.detect.present import (
    explorer_link,
    key_text,
    map_figure,
    mask_detail,
    mask_evidence,
    summary_text,
    timeline_figure,
)
from dashboard.filters import Filters

ALERT = {
    "id": 7,
    "title": "Brute force from one address",
    "summary": "Brute force from one address: ip 203.0.113.7 · 12 events",
    "event_count": 12,
    "key": {"ip": "203.0.113.7"},
    "first_seen": datetime(2026, 3, 2, 9, 0, 12),
    "last_seen": datetime(2026, 3, 2, 9, 2, 40),
}


def test_addresses_are_masked_for_masked_viewers() -> None:
    assert key_text(ALERT["key"], masked=True) == "ip 203.0.113.x"
    assert key_text({"account_id": "acme", "user": "u1"}, masked=True) == "user u1"
    assert summary_text(ALERT, masked=True) == "Brute force from one address: ip 203.0.113.x · 12 events"
    assert summary_text(ALERT, masked=False) == ALERT["summary"]
    rows = mask_evidence([{"ip": "198.51.100.4", "actor_name": "Ana Souza", "target_name": None}], masked=True)
    assert rows == [{"ip": "198.51.100.x", "actor_name": "Ana S.", "target_name": None}]
    detail = mask_detail({"from": {"ip": "198.51.100.4", "city": "Lisbon"}, "success_ip": "192.0.2.9"}, masked=True)
    assert detail == {"from": {"ip": "198.51.100.x", "city": "Lisbon"}, "success_ip": "192.0.2.x"}
    link = explorer_link(ALERT, masked=True)
    assert "203.0.113.7" not in link and Filters.from_query(link.split("?", 1)[1]).ip == "203.0.113.0/24"


def test_explorer_link_carries_the_alerts_filters() -> None:
    link = explorer_link({**ALERT, "key": {"account_id": "acme", "user": "u1", "ip": "203.0.113.7"}})
    url = urlsplit(link)
    assert url.path == "/explorer"
    filters = Filters.from_query(url.query)
    assert filters.users == ("u1",) and filters.ip == "203.0.113.7" and filters.accounts == ("acme",)
    assert filters.start == datetime(2026, 3, 2, 9, 0) and filters.end == datetime(2026, 3, 2, 9, 3)
    assert parse_qs(url.query)["from"] == ["2026-03-02T09:00"]


def test_figures() -> None:
    evidence = [
        {
            "occurred_at": datetime(2026, 3, 2, 9),
            "action": "auth.login",
            "outcome": "failure",
            "geo_lat": 55.7,
            "geo_lon": 37.6,
        },
        {"occurred_at": datetime(2026, 3, 2, 9, 1), "action": "auth.login", "outcome": "success", "geo_lat": None},
    ]
    timeline = timeline_figure(evidence)
    assert [t.name for t in timeline.data] == ["failure", "success"]
    places = map_figure(
        evidence,
        {"from": {"lat": 52.5, "lon": 13.4}, "to": {"lat": -33.9, "lon": 151.2}},
    )
    assert len(places.data) == 2  # the points and the travel line
    assert places.data[0].lat == (55.7,)
    assert places.layout.geo.fitbounds is False
