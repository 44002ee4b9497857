"""Charts: pure functions from query results (`Rows` or DataFrames) to plotly figures.

The web pages and the PDF compliance packs draw the same figures, so nothing here knows about
Dash, requests or the database. Every chart over time says in its title which time zone its
axis is in. Colours: one per action category everywhere, and red only for failures.

Figures are built without plotly's per-property validation (which costs about 25 times the
building itself on a page of charts); tests/test_figures.py validates every figure instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.countries import alpha3, country_name
from dashboard.events.taxonomy import CATEGORIES, CATEGORY_TITLES
from dashboard.store.analytics import WEEKDAYS, Rows

Table = pd.DataFrame | Rows
"""A query result: the web pages pass `Rows` (plain Python, cheap), the PDF packs DataFrames."""

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
FAILURE = "#c2410c"
SUCCESS = "#2563eb"

#: one colour per category (colour-blind safe Tableau 10), red kept for failures.
CATEGORY_COLORS: dict[str, str] = {
    "conversation": "#4e79a7",
    "authentication": "#f28e2b",
    "labels": "#76b7b2",
    "automation": "#59a14f",
    "settings": "#b07aa1",
    "agent_management": "#edc948",
    "audit": "#9c755f",
    "other": "#bab0ac",
}
#: counts: zero stays grey, then light to dark red.
COUNT_SCALE: list[list[Any]] = [
    [0.0, "#f3f4f6"],
    [1e-6, "#fde2d4"],
    [0.35, "#f4a582"],
    [0.7, "#d6604d"],
    [1.0, "#8c1d18"],
]
#: failure share of a place: blue (all fine) through amber to dark red (all failed).
FAILURE_SCALE: list[list[Any]] = [
    [0.0, "#2563eb"],
    [0.05, "#7c3aed"],
    [0.2, "#f59e0b"],
    [0.5, "#dc2626"],
    [1.0, "#7f1d1d"],
]
#: events per country, for the country shading.
COUNTRY_SCALE: list[list[Any]] = [[0.0, "#dbeafe"], [1.0, "#1e40af"]]


def _figure(data: Sequence[Mapping[str, Any]], layout: Mapping[str, Any]) -> go.Figure:
    return go.Figure(data=list(data), layout=dict(layout), _validate=False)


Spec = dict[str, Any]
"""A figure as plain JSON-ready data ({"data": [...], "layout": {...}}): what `dcc.Graph` takes.

The web pages send specs (building a `go.Figure` copies every list twice); the PDF packs
take the same specs as `go.Figure` through the `*_figure` functions.
"""


def _spec(data: Sequence[Mapping[str, Any]], layout: Mapping[str, Any]) -> Spec:
    return {"data": list(data), "layout": dict(layout)}


def figure(spec: Spec) -> go.Figure:
    """A spec as a plotly figure (for images, PDF packs and tests)."""
    return _figure(spec["data"], spec["layout"])


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        # no plotly template: every style is set here (and a template is 6 KB more per chart)
        "template": {},
        "title": {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 15, "color": INK}},
        "font": {"family": FONT, "size": 12, "color": INK},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 56, "r": 16, "t": 48, "b": 40},
        "hoverlabel": {"font": {"family": FONT}},
        "hovermode": "closest",
        "xaxis": {
            "gridcolor": GRID,
            "linecolor": GRID,
            "zeroline": False,
            "automargin": True,
            "title": {"standoff": 12},
        },
        "yaxis": {
            "gridcolor": GRID,
            "linecolor": GRID,
            "zeroline": False,
            "automargin": True,
            "title": {"standoff": 12},
        },
    }
    return _merge(base, extra)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra` laid over it, nested dicts merged rather than replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def empty_figure(title: str, message: str = "No events match the filters.") -> go.Figure:
    """A chart frame that says there is nothing to show (instead of empty axes)."""
    return figure(empty_spec(title, message))


def empty_spec(title: str, message: str = "No events match the filters.", height: int | None = None) -> Spec:
    """`empty_figure` as a spec; `height`: the chart's own height when it has something to show (an
    empty chart as high as a full one leaves the charts beside it as they are: a chart resized is
    drawn again)."""
    spec = _spec(
        [],
        _layout(
            title,
            xaxis={"visible": False},
            yaxis={"visible": False},
            annotations=[
                {
                    "text": message,
                    "showarrow": False,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                    "font": {"size": 13, "color": MUTED},
                }
            ],
        ),
    )
    if height is not None:
        spec["layout"]["height"] = height
    return spec


def _records(frame: Table) -> list[dict[str, Any]]:
    return Rows.of(frame).records()


def _datetime(value: Any) -> datetime:
    return (
        value
        if isinstance(value, datetime) and not isinstance(value, pd.Timestamp)
        else pd.Timestamp(value).to_pydatetime()
    )


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else pd.Timestamp(value).date()


def _iso(value: datetime | date) -> str:
    return (
        value.isoformat() if isinstance(value, datetime) else datetime.combine(value, datetime.min.time()).isoformat()
    )


def percent(share: float) -> str:
    """A share as people read it: "12.5%", "<0.1%" for a few among millions (never "0.0%" for some)."""
    if share <= 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    if share < 1 and f"{share:.1%}" == "100.0%":
        return ">99.9%"
    return f"{share:.1%}"


#: failure shares on the map's colour bar: most places fail a few percent and attackers' all the
#: time, so the colour follows the square root of the share (1% and 5% get colours of their own)
SHARE_TICKS: tuple[float, ...] = (0.0, 0.01, 0.05, 0.2, 0.5, 1.0)


def _share_colour(share: float) -> float:
    return round(max(0.0, min(1.0, share)) ** 0.5, 4)


def category_title(category: str) -> str:
    """The seed's heading for a category ('authentication' -> 'Authentication Events')."""
    return CATEGORY_TITLES.get(category, category)


# -- Overview --------------------------------------------------------------------------------------------
def timeline_figure(
    frame: Table,
    bucket_seconds: int,
    bucket_per: str,
    start: datetime,
    end: datetime,
    tz: str,
) -> go.Figure:
    """Events over time, stacked by category (see `timeline_spec`)."""
    return figure(timeline_spec(frame, bucket_seconds, bucket_per, start, end, tz))


def timeline_spec(
    frame: Table,
    bucket_seconds: int,
    bucket_per: str,
    start: datetime,
    end: datetime,
    tz: str,
) -> Spec:
    """Events over time, stacked by category.

    Args:
        frame: columns bucket (naive local start), category, events.
        bucket_seconds: the bar width.
        bucket_per: the bar width in words for the title ('per hour').
        start: local start of the range (the axis starts there).
        end: local end of the range.
        tz: the zone the axis is in.

    A bar's x is the local start of its bucket ("2026-11-20T14:00") and `layout.meta.bucket_seconds`
    its width, for cross-filtering to that period (assets/pages.js); the period is not repeated
    on every bar of every category (that doubled the chart's size).
    """
    title = f"Events {bucket_per} ({tz})"
    rows = Rows.of(frame)
    if rows.empty:
        return empty_spec(title)
    # every trace shares the same x: one bar position per bucket (a few thousand cells at most,
    # so plain Python: pandas' pivot costs more than the rest of the chart)
    cells: dict[tuple[Any, str], int] = {}
    for b, c, n in zip(rows["bucket"], rows["category"], rows["events"], strict=True):
        cells[(b, str(c))] = cells.get((b, str(c)), 0) + int(n)
    buckets = sorted({b for b, _ in cells})
    x = [_datetime(b).isoformat(timespec="minutes") for b in buckets]
    present = {c for _, c in cells}
    order = [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES))
    traces = []
    for category in order:
        name = category_title(category)
        traces.append(
            {
                "type": "bar",
                "name": name,
                "x": x,
                # an empty bucket draws no sliver (and no hover)
                "y": [cells.get((b, category)) or None for b in buckets],
                "xperiod": bucket_seconds * 1000,
                "xperiodalignment": "start",
                "marker": {"color": CATEGORY_COLORS.get(category, CATEGORY_COLORS["other"]), "line": {"width": 0}},
                "hovertemplate": f"%{{x}} ({tz})<br>{name}: %{{y:,}}<extra></extra>",
            }
        )
    return _spec(
        traces,
        _layout(
            title,
            meta={"bucket_seconds": bucket_seconds},
            barmode="stack",
            bargap=0.08,
            showlegend=True,
            legend={"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 11}},
            margin={"b": 72},
            xaxis={"type": "date", "range": [start.isoformat(), end.isoformat()], "title": {"text": f"Time ({tz})"}},
            yaxis={"title": {"text": "Events"}, "rangemode": "tozero"},
        ),
    )


def ranking_figure(
    labels: Sequence[str],
    values: Sequence[int],
    title: str,
    keys: Sequence[str] | None = None,
    colors: Sequence[str] | str = SUCCESS,
    value_name: str = "events",
) -> go.Figure:
    """Horizontal bars, largest on top (see `ranking_spec`)."""
    return figure(ranking_spec(labels, values, title, keys, colors, value_name))


def ranking_spec(
    labels: Sequence[str],
    values: Sequence[int],
    title: str,
    keys: Sequence[str] | None = None,
    colors: Sequence[str] | str = SUCCESS,
    value_name: str = "events",
    slots: int = 0,
) -> Spec:
    """Horizontal bars, largest on top (busiest users, actions).

    `keys` (what a click narrows the filters to) travel in `customdata`. `slots`: room for this many
    bars, so that the chart keeps its height whatever the view (fewer bars keep their thickness and
    stand at the top; an empty view keeps the frame's height too). A chart whose height changes
    moves the charts beside it, and the browser draws those again after a resize (70-170 ms later).
    """
    height = max(220, 60 + 26 * max(len(labels), slots))
    if not labels:
        return empty_spec(title, height=height if slots else None)
    n = len(labels)
    room = {"range": [n - slots - 0.5, n - 0.5]} if slots > n else {}
    return _spec(
        [
            {
                "type": "bar",
                "orientation": "h",
                "y": list(labels)[::-1],
                "x": [int(v) for v in values][::-1],
                "customdata": list(keys or labels)[::-1],
                "marker": {"color": list(colors)[::-1] if not isinstance(colors, str) else colors},
                "text": [f"{int(v):,}" for v in values][::-1],
                "textposition": "auto",
                "cliponaxis": False,
                "hovertemplate": f"%{{y}}: %{{x:,}} {value_name}<extra></extra>",
            }
        ],
        _layout(
            title,
            height=height,
            margin={"l": 8, "t": 44, "b": 28},
            xaxis={"title": {"text": value_name.capitalize()}, "rangemode": "tozero"},
            # labels are categories, even those that look like numbers (a person known by a numeric id)
            yaxis={"automargin": True, "gridcolor": "rgba(0,0,0,0)", "type": "category", **room},
            bargap=0.25,
        ),
    )


# -- Security ------------------------------------------------------------------------------------------------
def weekday_hour_heatmap(
    grid: pd.DataFrame | Sequence[Sequence[int]], tz: str, title: str = "Failed logins by weekday and hour"
) -> go.Figure:
    """A weekday x hour-of-day heatmap (see `weekday_hour_spec`)."""
    return figure(weekday_hour_spec(grid, tz, title))


#: the weekday x hour heatmap's height, and the failure reasons' least (they share a row on the
#: Security page: equal heights keep one from resizing the other)
WEEKDAY_HOUR_HEIGHT = 300


def weekday_hour_spec(
    grid: pd.DataFrame | Sequence[Sequence[int]], tz: str, title: str = "Failed logins by weekday and hour"
) -> Spec:
    """A weekday x hour-of-day heatmap (grid: rows Mon..Sun, columns 0..23) in the zone `tz`."""
    full = f"{title} ({tz})"
    if isinstance(grid, pd.DataFrame):
        z = [[int(v) for v in row] for row in grid.to_numpy()]
        hours = [f"{h:02d}:00" for h in grid.columns]
        weekdays = [str(d) for d in grid.index]
    else:
        z = [[int(v) for v in row] for row in grid]
        hours = [f"{h:02d}:00" for h in range(24)]
        weekdays = list(WEEKDAYS)
    if not any(any(row) for row in z):
        return empty_spec(full, "No failed logins in this view.", WEEKDAY_HOUR_HEIGHT)
    return _spec(
        [
            {
                "type": "heatmap",
                "z": z,
                "x": hours,
                "y": weekdays,
                "colorscale": COUNT_SCALE,
                "zmin": 0,
                "zmax": max(max(row) for row in z),
                "xgap": 2,
                "ygap": 2,
                "colorbar": {"title": {"text": "Failed"}, "thickness": 12},
                "hovertemplate": f"%{{y}} %{{x}} ({tz}): %{{z:,}} failed<extra></extra>",
            }
        ],
        _layout(
            full,
            height=WEEKDAY_HOUR_HEIGHT,
            xaxis={"title": {"text": f"Hour of day ({tz})"}, "tickangle": 0, "dtick": 3, "showgrid": False},
            yaxis={"autorange": "reversed", "showgrid": False},
        ),
    )


def weekday_hour_of(x: Any, y: Any) -> tuple[int, int] | None:
    """The cell of `weekday_hour_spec` a click names: (ISO weekday 1..7, hour 0..23), or None.

    Plotly reports a heatmap cell by its axis labels: x the hour ("14:00"), y the weekday ("Tue").
    """
    try:
        hour = int(str(x).split(":", 1)[0])
    except ValueError:
        return None
    day = str(y)
    if day not in WEEKDAYS or not 0 <= hour <= 23:
        return None
    return WEEKDAYS.index(day) + 1, hour


def user_day_heatmap(
    frame: Table, start: date, end: date, tz: str, title: str = "Failed logins by user and day"
) -> go.Figure:
    """People x local days, counting failed logins (see `user_day_spec`)."""
    return figure(user_day_spec(frame, start, end, tz, title))


def user_day_spec(frame: Table, start: date, end: date, tz: str, title: str = "Failed logins by user and day") -> Spec:
    """People (rows, most failures on top) x local days (columns), counting failed logins.

    Args:
        frame: columns actor_id, actor_name, day, failures (as `analytics.failed_logins_by_user_day`).
        start: first local day of the view.
        end: last local day of the view (inclusive).
        tz: the zone days are cut in.

    Rows are labelled "Name (actor_id)" (`person_label`; `actor_from_label` reads the id back
    for cross-filtering) and columns by ISO day.
    """
    full = f"{title} ({tz})"
    rows = Rows.of(frame)
    if rows.empty:
        return empty_spec(full, "No failed logins in this view.")
    cells: dict[tuple[str, date], int] = {}
    names: dict[str, Any] = {}
    for actor, name, day, n in zip(rows["actor_id"], rows["actor_name"], rows["day"], rows["failures"], strict=True):
        key = (str(actor), _day(day))
        cells[key] = cells.get(key, 0) + int(n)
        names.setdefault(str(actor), name)
    order = list(names)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    if len(days) > 120:  # a long custom range: keep the days that have failures
        days = sorted({d for _, d in cells})
    z = [[cells.get((a, d), 0) for d in days] for a in order]
    return _spec(
        [
            {
                "type": "heatmap",
                "z": z,
                "x": [d.isoformat() for d in days],
                "y": [person_label(a, names.get(a)) for a in order],
                "colorscale": COUNT_SCALE,
                "zmin": 0,
                "zmax": max(1, max(max(row) for row in z)),
                "xgap": 1,
                "ygap": 1,
                "colorbar": {"title": {"text": "Failed"}, "thickness": 12},
                "hovertemplate": f"%{{y}}<br>%{{x}} ({tz}): %{{z:,}} failed<extra></extra>",
            }
        ],
        _layout(
            full,
            height=max(260, 90 + 22 * len(order)),
            margin={"l": 8},
            xaxis={"type": "category", "title": {"text": f"Day ({tz})"}, "showgrid": False, "nticks": 12},
            yaxis={"autorange": "reversed", "automargin": True, "showgrid": False, "type": "category"},
        ),
    )


UNKNOWN_PERSON = "(unknown user name)"


def person_label(actor_id: str | None, name: str | None) -> str:
    """How a person is labelled on charts: "Ana Souza (u17)", the id alone without a name."""
    if not actor_id:
        return UNKNOWN_PERSON
    name = name if isinstance(name, str) else None
    return f"{name} ({actor_id})" if name and name != actor_id else str(actor_id)


def actor_from_label(label: str) -> str | None:
    """The actor id in a `person_label` ("Ana Souza (u17)" -> "u17"; None for the unknown)."""
    if label == UNKNOWN_PERSON:
        return None
    if label.endswith(")"):
        depth = 0
        for i in range(len(label) - 1, -1, -1):  # the "(" that matches the last ")"
            depth += {")": 1, "(": -1}.get(label[i], 0)
            if depth == 0:
                return label[i + 1 : -1] if i > 0 and label[i - 1] == " " else label
    return label


def reasons_figure(frame: Table, title: str = "Failures by reason") -> go.Figure:
    """Failed events per reason, split by action (see `reasons_spec`)."""
    return figure(reasons_spec(frame, title))


def reasons_spec(frame: Table, title: str = "Failures by reason") -> Spec:
    """Failed events per reason (bars), split by action (frame: reason, action, failures)."""
    rows = Rows.of(frame)
    if rows.empty:
        return empty_spec(title, "No failures in this view.", WEEKDAY_HOUR_HEIGHT)
    cells: dict[tuple[str, str], int] = {}
    for reason, action, n in zip(rows["reason"], rows["action"], rows["failures"], strict=True):
        cells[(str(reason), str(action))] = cells.get((str(reason), str(action)), 0) + int(n)
    by_reason: dict[str, int] = {}
    by_action: dict[str, int] = {}
    for (reason, action), n in cells.items():
        by_reason[reason] = by_reason.get(reason, 0) + n
        by_action[action] = by_action.get(action, 0) + n
    reasons = sorted(by_reason, key=lambda r: (by_reason[r], r))  # the most on top
    palette = ["#c2410c", "#f59e0b", "#7c2d12", "#fb923c", "#9a3412", "#fdba74", "#78350f", "#ea580c"]
    traces = []
    for i, action in enumerate(sorted(by_action, key=lambda a: (-by_action[a], a))):
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": action,
                "y": [r.replace("_", " ") for r in reasons],
                "x": [cells.get((r, action), 0) for r in reasons],
                "customdata": [action] * len(reasons),
                "marker": {"color": palette[i % len(palette)]},
                "hovertemplate": f"%{{y}} ({action}): %{{x:,}}<extra></extra>",
            }
        )
    return _spec(
        traces,
        _layout(
            title,
            barmode="stack",
            height=max(WEEKDAY_HOUR_HEIGHT, 130 + 34 * len(reasons)),
            margin={"l": 8, "b": 24},
            # the legend names the actions, under the axis (which needs no title: the chart's says it)
            legend={"orientation": "h", "y": -0.1, "yanchor": "top", "x": 0, "font": {"size": 11}},
            xaxis={"rangemode": "tozero"},
            yaxis={"automargin": True, "showgrid": False, "type": "category"},  # a reason may look like a number
        ),
    )


#: the Security map's height (px): the whole page width at 1440 px makes Europe's cities readable
MAP_HEIGHT = 560


def map_note(placed: int, country_only: int) -> str:
    """What the IP map shows, in words (the Security page and the PDF say the same)."""
    parts = [f"{placed:,} events placed at city level"]
    if country_only:
        parts.append(f"{country_only:,} at country level only (shaded)")
    return "; ".join(parts) + ". Internal and unknown addresses are not on the map."


def ip_map(
    points: Table,
    countries: Table,
    new: Table | None = None,
    title: str = "Where activity comes from",
) -> go.Figure:
    """Places on a world map (see `ip_map_spec`)."""
    return figure(ip_map_spec(points, countries, new, title))


def _degrees(value: Any) -> float:
    """A latitude or longitude for a map: four decimals (about 11 m). Places are stored as 32-bit
    floats (docs/architecture.md, "Places in 32-bit floats"), whose digits past the seventh are noise
    that took up to 18 characters each in a map's payload."""
    return round(float(value), 4)


def ip_map_spec(
    points: Table,
    countries: Table,
    new: Table | None = None,
    title: str = "Where activity comes from",
) -> Spec:
    """Places on a world map: a point per city (size: events, colour: failure share).

    Args:
        points: columns lat, lon, city, country, events, failures, failure_share, ips, users, top_ip.
        countries: events without coordinates per country (columns country, events, failures):
            shaded, as the fallback where only the country is known.
        new: countries new to a person (columns actor_id, actor_name, country, first_seen, ip,
            city, lat, lon), drawn as outlined stars.
        title: the chart title.

    The map needs no internet when `dcc.Graph` is given `config={"topojsonURL": "/assets/topojson/"}`.
    Points carry [kind, value] in `customdata` for cross-filtering: ["country", "DE"].
    """
    traces: list[dict[str, Any]] = []
    shaded = _records(countries)
    if shaded:
        codes = [alpha3(r["country"]) for r in shaded]
        keep = [(code, r) for code, r in zip(codes, shaded, strict=True) if code]
        traces.append(
            {
                "type": "choropleth",
                "name": "Country (no city known)",
                "locationmode": "ISO-3",
                "locations": [code for code, _ in keep],
                "z": [int(r["events"]) for _, r in keep],
                "customdata": [["country", r["country"]] for _, r in keep],
                "text": [
                    f"{country_name(r['country'])}<br>{int(r['events']):,} events, "
                    f"{int(r['failures']):,} failed<br>(country only, no city)"
                    for _, r in keep
                ],
                "hovertemplate": "%{text}<extra></extra>",
                "colorscale": COUNTRY_SCALE,
                "showscale": False,
                "marker": {"line": {"color": "white", "width": 0.5}},
            }
        )
    # the busiest places first, so smaller ones are drawn over them and stay clickable
    places = sorted(_records(points), key=lambda r: -int(r["events"]))
    if places:
        peak = max(int(places[0]["events"]), 1)
        traces.append(
            {
                "type": "scattergeo",
                "name": "Cities",
                "mode": "markers",
                "lat": [_degrees(r["lat"]) for r in places],
                "lon": [_degrees(r["lon"]) for r in places],
                "customdata": [["country", r["country"]] for r in places],
                "text": [
                    f"<b>{r['city'] or 'Unknown city'}, {country_name(r['country'])}</b><br>"
                    f"{int(r['events']):,} events, {int(r['failures']):,} failed ({percent(r['failure_share'])})<br>"
                    f"{int(r['users']):,} user{'s' if int(r['users']) != 1 else ''}, "
                    f"{int(r['ips']):,} address{'es' if int(r['ips']) != 1 else ''} (busiest {r['top_ip']})"
                    for r in places
                ],
                "hovertemplate": "%{text}<extra></extra>",
                "marker": {
                    # area follows events; at most 28 px across, so the cities of Europe stay apart
                    "size": [round(5 + 23 * (int(r["events"]) / peak) ** 0.5, 1) for r in places],
                    # on a 0-100% linear scale every place of a typical view (a few percent
                    # failed) took the same colour: see SHARE_TICKS
                    "color": [_share_colour(float(r["failure_share"])) for r in places],
                    "colorscale": FAILURE_SCALE,
                    "cmin": 0,
                    "cmax": 1,
                    "opacity": 0.75,
                    "line": {"color": "white", "width": 0.6},
                    "colorbar": {
                        "title": {"text": "Failed<br>share", "side": "top"},
                        "tickvals": [_share_colour(t) for t in SHARE_TICKS],
                        "ticktext": [f"{t:.0%}" for t in SHARE_TICKS],
                        "thickness": 12,
                        "len": 0.6,
                        "x": 1.0,
                        "xpad": 4,
                    },
                },
            }
        )
    placed = [r for r in _records(new) if _known(r["lat"]) and _known(r["lon"])] if new is not None else []
    if placed:
        traces.append(
            {
                "type": "scattergeo",
                "name": "Country new to a user",
                "mode": "markers",
                "lat": [_degrees(r["lat"]) for r in placed],
                "lon": [_degrees(r["lon"]) for r in placed],
                "customdata": [["users", r["actor_id"]] for r in placed],
                "text": [
                    f"<b>New country for {person_label(r['actor_id'], r['actor_name'])}</b><br>"
                    f"{country_name(r['country'])}, first seen {r['first_seen']:%Y-%m-%d %H:%M}<br>"
                    f"from {r['ip']}{', ' + r['city'] if r['city'] else ''}"
                    for r in placed
                ],
                "hovertemplate": "%{text}<extra></extra>",
                "marker": {
                    "symbol": "star",
                    "size": 15,
                    "color": "rgba(0,0,0,0)",
                    "line": {"color": "#111827", "width": 1.8},
                },
            }
        )
    if not traces:
        return empty_spec(title, "No located addresses in this view.")
    return _spec(
        traces,
        _layout(
            title,
            height=MAP_HEIGHT,
            margin={"l": 0, "r": 0, "t": 44, "b": 0},
            showlegend=True,
            legend={"orientation": "h", "y": 0.02, "x": 0.01, "bgcolor": "rgba(255,255,255,0.8)"},
            geo={
                "projection": {"type": "natural earth", "rotation": {"lon": 0}},
                "center": {"lon": 0, "lat": 15},
                "showcountries": True,
                "countrycolor": "#cbd5e1",
                "showland": True,
                "landcolor": "#f1f5f9",
                "showocean": True,
                "oceancolor": "#ffffff",
                "showlakes": False,
                "coastlinecolor": "#94a3b8",
                "showframe": False,
                "resolution": 110,
                "lataxis": {"range": [-58, 85]},
            },
        ),
    )


def _known(value: Any) -> bool:
    """A coordinate that is there (not None, not NaN)."""
    return value is not None and value == value


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A small frame as JSON-ready rows (timestamps as ISO text) for tables."""
    out: list[dict[str, Any]] = []
    for row in frame.to_dict("records"):
        out.append({str(k): (_iso(v) if isinstance(v, datetime | date) else v) for k, v in row.items()})
    return out


# -- Wall screen (dashboard/web/pages/wall.py): dark, large, readable across a room ----------------------------
WALL_INK = "#e5e7eb"
WALL_MUTED = "#9ca3af"
WALL_GRID = "#374151"
WALL_EVENTS = "#60a5fa"
WALL_FAILED = "#f87171"
#: chart height on the wall (assets/wall.css .wall-graph): both charts and the tables fit 1920 x 1080.
WALL_HEIGHT = 330


def _wall_layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 20, "color": WALL_INK}},
        font={"family": FONT, "size": 15, "color": WALL_INK},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hoverlabel={"font": {"size": 15}},
        uirevision="wall",  # a refresh replaces the data and keeps nothing else
    )
    return fig


def wall_activity_figure(
    frame: pd.DataFrame, title: str = "Events and failed logins per 10 minutes (UTC)"
) -> go.Figure:
    """The last 24 hours: events as an area, failed logins as red bars on their own axis.

    Args:
        frame: columns bucket (naive UTC), events, failed_logins; every bucket present.
        title: the chart title.
    """
    if frame.empty or int(frame["events"].sum()) == 0:
        return _wall_layout(empty_figure(title, "No events in the last 24 hours."), title)
    x = [_iso(v) for v in pd.to_datetime(frame["bucket"])]
    fig = _figure(
        [
            {
                "type": "scatter",
                "name": "Events",
                "x": x,
                "y": [int(v) for v in frame["events"]],
                "mode": "lines",
                "line": {"color": WALL_EVENTS, "width": 2, "shape": "hv"},
                "fill": "tozeroy",
                "fillcolor": "rgba(96,165,250,0.25)",
                "hovertemplate": "%{x|%H:%M} UTC: %{y:,} events<extra></extra>",
            },
            {
                "type": "bar",
                "name": "Failed logins",
                "x": x,
                "y": [int(v) for v in frame["failed_logins"]],
                "yaxis": "y2",
                "marker": {"color": WALL_FAILED},
                "hovertemplate": "%{x|%H:%M} UTC: %{y:,} failed logins<extra></extra>",
            },
        ],
        _layout(
            title,
            height=WALL_HEIGHT,
            margin={"l": 64, "r": 64, "t": 52, "b": 40},
            showlegend=True,
            legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
            bargap=0.1,
            xaxis={"type": "date", "tickformat": "%H:%M", "gridcolor": WALL_GRID, "linecolor": WALL_GRID},
            yaxis={
                "title": {"text": "events"},
                "rangemode": "tozero",
                "gridcolor": WALL_GRID,
                "linecolor": WALL_GRID,
            },
            yaxis2={
                "title": {"text": "failed logins", "font": {"color": WALL_FAILED}},
                "dtick": max(1, -(-int(frame["failed_logins"].max()) // 5)),  # whole numbers only
                "tickformat": ",d",
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
                "tickfont": {"color": WALL_FAILED},
                "zeroline": False,
            },
        ),
    )
    return _wall_layout(fig, title)


def wall_map_figure(
    points: pd.DataFrame, countries: pd.DataFrame, title: str = "Where activity comes from"
) -> go.Figure:
    """The IP map of `ip_map` in the wall's dark colours (pass masked `top_ip` values only)."""
    fig = ip_map(points, countries, None, title=title)
    fig.update_layout(
        height=WALL_HEIGHT,
        showlegend=False,
        geo={
            "bgcolor": "rgba(0,0,0,0)",
            "landcolor": "#1f2937",
            "oceancolor": "#0b1220",
            "countrycolor": "#4b5563",
            "coastlinecolor": "#6b7280",
            "center": {"lon": 0, "lat": 0},
            "projection": {"rotation": {"lon": 0}},
            # the whole globe's outline: the page map's latitude crop cut the ocean's top and bottom off
            "lataxis": {"range": [-90, 90]},
        },
    )
    return _wall_layout(fig, title)
