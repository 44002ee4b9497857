"""What the Alerts and Review pages show, as pure functions (no Dash app, no request).

Figures, explorer links and masking live here so they can be tested without a browser and
reused by other pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from dashboard.countries import country_name
from dashboard.filters import Filters
from dashboard.privacy import mask_ip, masked_network, shorten_name
from dashboard.when import in_zone

#: the path that opens one alert on the Alerts page (links in e-mail, webhooks, the wall, Review).
ALERTS_PATH = "/alerts"

SEVERITY_BADGE: dict[str, str] = {
    "critical": "danger",
    "high": "danger",
    "medium": "warning",
    "low": "info",
    "info": "secondary",
}
STATUS_BADGE: dict[str, str] = {"open": "danger", "acknowledged": "warning", "resolved": "success"}


def alert_path(alert_id: int | str) -> str:
    """The link that opens one alert: `/alerts?alert=ID` (prefix the public address for mail)."""
    return f"{ALERTS_PATH}?alert={int(alert_id)}"


def fmt_time(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """A stored (naive UTC) time as the pages show it, in `zone` (default UTC) and naming it."""
    if not value:
        return "-"
    if zone is None or zone.key == "UTC":
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return f"{in_zone(value, zone):%Y-%m-%d %H:%M:%S} {zone.key}"


def day_time(value: datetime, today: date) -> str:
    """A time with its day: `today 10:32`, `yesterday 22:05`, `2026-11-30 10:32`."""
    if value.date() == today:
        return f"today {value:%H:%M}"
    if value.date() == today - timedelta(days=1):
        return f"yesterday {value:%H:%M}"
    return f"{value:%Y-%m-%d %H:%M}"


#: the key fields that name a person (the one acting, or the one acted upon).
PERSON_KEYS: tuple[str, ...] = ("user", "subject")


def person_text(person_id: str, name: str | None, masked: bool) -> str:
    """`Ana Souza (1053)`; `Ana S. (1053)` for masked viewers; the id alone when no name is known."""
    shown = shorten_name(name) if masked else name
    return f"{shown} ({person_id})" if shown and shown != person_id else person_id


def key_text(key: Mapping[str, Any], masked: bool, names: Mapping[str, str | None] | None = None) -> str:
    """`user Ana Souza (1014) · ip 203.0.113.x`: people by name when `names` knows them (shortened
    for masked viewers), addresses masked for masked viewers, countries by name."""
    parts = []
    for name, value in key.items():
        if name == "account_id":
            continue
        if name == "ip":
            shown = mask_ip(str(value)) if masked else value
        elif name in PERSON_KEYS:
            shown = person_text(str(value), (names or {}).get(str(value)), masked)
        elif name == "country":
            shown = country_name(str(value))
        else:
            shown = value
        parts.append(f"{name} {shown}")
    return " · ".join(parts) or "-"


def summary_text(alert: Mapping[str, Any], masked: bool, names: Mapping[str, str | None] | None = None) -> str:
    """The alert's one-line summary as a viewer may see it (the stored one holds addresses and ids)."""
    if not masked and names is None:
        return str(alert["summary"])
    n = int(alert["event_count"])
    key = key_text(alert.get("key") or {}, masked, names)
    return f"{alert['title']}: {key} · {n} event{'s' if n != 1 else ''}"


def mask_evidence(rows: Sequence[Mapping[str, Any]], masked: bool) -> list[dict[str, Any]]:
    """Evidence rows as a viewer may see them: addresses and names masked for masked roles."""
    out = []
    for r in rows:
        item = dict(r)
        if masked:
            item["ip"] = mask_ip(item.get("ip"))
            item["actor_name"] = shorten_name(item.get("actor_name"))
            item["target_name"] = shorten_name(item.get("target_name"))
        out.append(item)
    return out


def mask_detail(detail: Mapping[str, Any], masked: bool) -> dict[str, Any]:
    """An alert's detail with addresses masked for masked roles."""
    out: dict[str, Any] = {}
    for k, v in detail.items():
        if isinstance(v, Mapping):
            out[k] = mask_detail(v, masked)
        elif masked and (k == "ip" or k.endswith("_ip")) and isinstance(v, str):
            out[k] = mask_ip(v)
        else:
            out[k] = v
    return out


def explorer_link(alert: Mapping[str, Any], path: str = "/explorer", masked: bool = False) -> str:
    """The explorer with the alert's filters: its window (to the minute), its user, address and account.

    For masked viewers the address becomes its network (the link must not carry what the page
    masks)."""
    start = alert["first_seen"].replace(second=0, microsecond=0)
    end = alert["last_seen"].replace(second=0, microsecond=0) + timedelta(minutes=1)
    key = alert.get("key") or {}
    changes: dict[str, Any] = {"start": start, "end": end}
    user = key.get("user") or key.get("subject")
    if user:
        changes["users"] = (str(user),)
    if key.get("ip"):
        changes["ip"] = (masked_network(str(key["ip"])) or str(key["ip"])) if masked else str(key["ip"])
    if key.get("account_id"):
        changes["accounts"] = (str(key["account_id"]),)
    return f"{path}?{Filters().with_(**changes).to_query()}"


def timeline_figure(evidence: Sequence[Mapping[str, Any]]) -> go.Figure:
    """The evidence over time: one row per action, failures in red."""
    fig = go.Figure()
    for outcome, color in (("failure", "#dc3545"), ("success", "#198754"), ("unknown", "#6c757d")):
        rows = [e for e in evidence if (e.get("outcome") or "unknown") == outcome]
        if not rows:
            continue
        fig.add_trace(
            go.Scatter(
                x=[e["occurred_at"] for e in rows],
                y=[e.get("action") or "?" for e in rows],
                mode="markers",
                name=outcome,
                marker={"color": color, "size": 9, "opacity": 0.8},
                text=[f"{e.get('actor_id') or ''} {e.get('ip') or ''}".strip() for e in rows],
                hovertemplate="%{x|%Y-%m-%d %H:%M:%S} UTC<br>%{y}<br>%{text}<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=220,
        legend={"orientation": "h", "y": -0.25},
        xaxis={"title": None},
        yaxis={"title": None, "type": "category"},
        template="plotly_white",
    )
    return fig


def map_figure(evidence: Sequence[Mapping[str, Any]], detail: Mapping[str, Any] | None = None) -> go.Figure:
    """The places of the evidence's addresses (city level), joined in time order for travel alerts."""
    points: dict[tuple[float, float], dict[str, Any]] = {}
    for e in evidence:
        lat, lon = e.get("geo_lat"), e.get("geo_lon")
        if lat is None or lon is None:
            continue
        spot = points.setdefault((float(lat), float(lon)), {"n": 0, "label": e.get("geo_city") or e.get("geo_country")})
        spot["n"] += 1
    fig = go.Figure()
    if points:
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        fig.add_trace(
            go.Scattergeo(
                lat=lats,
                lon=lons,
                mode="markers",
                marker={"size": [min(8 + v["n"], 30) for v in points.values()], "color": "#dc3545", "opacity": 0.8},
                text=[f"{v['label']}: {v['n']} event(s)" for v in points.values()],
                hoverinfo="text",
                name="events",
            )
        )
    if detail and isinstance(detail.get("from"), Mapping) and isinstance(detail.get("to"), Mapping):
        a, b = detail["from"], detail["to"]
        if None not in (a.get("lat"), a.get("lon"), b.get("lat"), b.get("lon")):
            fig.add_trace(
                go.Scattergeo(
                    lat=[a["lat"], b["lat"]],
                    lon=[a["lon"], b["lon"]],
                    mode="lines",
                    line={"width": 2, "color": "#842029", "dash": "dash"},
                    hoverinfo="skip",
                    name="travel",
                )
            )
    # the whole world: a lone point would otherwise be zoomed in until no coast is left
    fig.update_geos(
        showcountries=True,
        countrycolor="#bbb",
        showland=True,
        landcolor="#f3f3f3",
        projection_type="natural earth",
        fitbounds=False,
        lataxis_range=[-58, 85],
    )
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=260, showlegend=False)
    return fig


def measures_text(measures: Mapping[str, float]) -> str:
    """`count 20 · distinct 15` with whole numbers shown as such."""
    parts = []
    for name, value in sorted(measures.items()):
        shown = int(value) if float(value).is_integer() else value
        parts.append(f"{name.replace('_', ' ')} {shown}")
    return " · ".join(parts)
