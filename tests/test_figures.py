"""The figures: their numbers equal counts made in Python over the inserted events, and plotly accepts them.

The figures are built without plotly's validation (for speed), so each one is validated here
by rebuilding it with validation on.
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import figures as F
from dashboard.filters import Filters
from dashboard.store import analytics as A
from dashboard.store.db import Database
from tests.test_analytics import NOW, NY, PLACES, Ev, _make_events, in_view, insert, local


@pytest.fixture(scope="module")
def evs() -> list[Ev]:
    return _make_events()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, evs: list[Ev]) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("figures") / "audit.duckdb"
    database = Database(path)
    insert(database, evs)
    yield database
    database.close()


def valid(fig: go.Figure) -> go.Figure:
    """The same figure rebuilt with plotly's validation (raises on any unknown property)."""
    return go.Figure(fig.to_dict())


def test_timeline_bars_add_up_per_category(db: Database, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="7d", tz="Europe/Berlin"), NOW)
    with db.connect() as conn:
        tl = A.timeline(conn, view)
    fig = valid(F.timeline_figure(tl.frame, tl.bucket.seconds, tl.bucket.per, tl.start, tl.end, tl.tz))
    expected = Counter(F.category_title(e.category) for e in in_view(evs, view))
    assert {t.name: sum(v or 0 for v in t.y) for t in fig.data} == dict(expected)
    assert fig.layout.title.text == "Events per hour (Europe/Berlin)"
    assert fig.layout.barmode == "stack"
    assert "Europe/Berlin" in fig.layout.xaxis.title.text
    # a bar's period, for cross-filtering: its x is the local start, the layout says the width
    assert fig.layout.meta == {"bucket_seconds": 3600}
    for trace in fig.data:
        assert trace.customdata is None  # the period is not repeated on every bar
        for x in trace.x:
            assert datetime.fromisoformat(x).minute == 0
    # the categories keep their colours everywhere
    colors = {t.name: t.marker.color for t in fig.data}
    assert colors[F.category_title("authentication")] == F.CATEGORY_COLORS["authentication"]


def test_ranking_figure_lists_the_busiest_first(db: Database, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d"), NOW)
    with db.connect() as conn:
        users = A.top_users(conn, view, limit=5)
    fig = valid(
        F.ranking_figure(list(users["actor_id"]), list(users["events"]), "Busiest users", keys=list(users["actor_id"]))
    )
    counts = Counter(e.actor_id for e in in_view(evs, view) if e.actor_type == "user")
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    bar = fig.data[0]
    assert list(bar.y)[::-1] == [u for u, _ in top]  # plotly draws from the bottom: largest on top
    assert list(bar.x)[::-1] == [n for _, n in top]
    assert list(bar.customdata)[::-1] == [u for u, _ in top]


def test_a_ranking_with_room_keeps_its_height_and_its_bars_thickness() -> None:
    # the Overview's rankings keep room for ten bars: a view with fewer (or none) does not change the
    # chart's height, so the chart beside it is not resized and drawn again
    ten = F.ranking_spec([f"a{i}" for i in range(10)], list(range(10, 0, -1)), "Busiest actions", slots=10)
    three = F.ranking_spec(["a", "b", "c"], [3, 2, 1], "Busiest actions", slots=10)
    none = F.ranking_spec([], [], "Busiest actions", slots=10)
    assert ten["layout"]["height"] == three["layout"]["height"] == none["layout"]["height"] == 320
    # three bars stand at the top, in the place the first three of ten take (the axis keeps ten slots)
    assert three["layout"]["yaxis"]["range"] == [-7.5, 2.5]
    assert list(three["data"][0]["y"]) == ["c", "b", "a"]
    assert "range" not in ten["layout"]["yaxis"]
    # labels that look like numbers (people known by a numeric id) stay categories: on a numeric axis
    # the room's range would show none of the bars
    ids = F.ranking_spec(["1001", "1002"], [5, 4], "Busiest users", slots=10)
    assert ids["layout"]["yaxis"]["type"] == "category" and ids["layout"]["yaxis"]["range"] == [-8.5, 1.5]
    for spec in (ten, three, none):
        go.Figure(spec)  # valid for plotly
    # without room (the packs): the height follows the bars, as before
    assert F.ranking_spec(["a", "b", "c"], [3, 2, 1], "Busiest actions")["layout"]["height"] == 220
    # the Security page's weekday x hour heatmap and failure reasons share a row: empty, as high as full
    empty_week = F.weekday_hour_spec([[0] * 24 for _ in range(7)], "UTC")
    empty_reasons = F.reasons_spec(pd.DataFrame({"reason": [], "action": [], "failures": []}))
    full_week = F.weekday_hour_spec([[1] * 24 for _ in range(7)], "UTC")
    assert empty_week["layout"]["height"] == empty_reasons["layout"]["height"] == full_week["layout"]["height"]


def test_weekday_hour_heatmap(db: Database, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d", tz=NY), NOW)
    with db.connect() as conn:
        grid = A.failed_logins_by_weekday_hour(conn, view)
    fig = valid(F.weekday_hour_heatmap(grid, NY))
    expected = [[0] * 24 for _ in range(7)]
    for e in in_view(evs, view):
        if e.failed_login:
            t = local(e, NY)
            expected[t.weekday()][t.hour] += 1
    heat = fig.data[0]
    assert [list(row) for row in heat.z] == expected
    assert list(heat.y) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert NY in fig.layout.title.text and NY in fig.layout.xaxis.title.text


def test_user_day_heatmap_cells(db: Database, evs: list[Ev]) -> None:
    tz = "Europe/Berlin"
    view = A.View.of(Filters(preset="7d", tz=tz), NOW)
    with db.connect() as conn:
        frame = A.failed_logins_by_user_day(conn, view, limit=6)
    first, last = view.local_start.date(), (view.local_end - timedelta(microseconds=1)).date()
    fig = valid(F.user_day_heatmap(frame, first, last, tz))
    heat = fig.data[0]
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    assert list(heat.x) == [d.isoformat() for d in days]  # every day of the view, even without failures
    cells: Counter[tuple[str, str]] = Counter()
    for e in in_view(evs, view):
        if e.failed_login and e.actor_id:
            cells[(e.actor_id, local(e, tz).date().isoformat())] += 1
    for row, label in zip(heat.z, heat.y, strict=True):
        actor = F.actor_from_label(label)
        for value, day in zip(row, heat.x, strict=True):
            assert value == cells.get((actor, day), 0)
    assert sum(sum(row) for row in heat.z) == sum(v for (a, _), v in cells.items() if a in set(frame["actor_id"]))


def test_reasons_figure(db: Database, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d"), NOW)
    with db.connect() as conn:
        reasons = A.failures_by_reason(conn, view)
    fig = valid(F.reasons_figure(reasons))
    totals: Counter[str] = Counter()
    for trace in fig.data:
        for reason, n in zip(trace.y, trace.x, strict=True):
            totals[reason] += n
    expected = Counter(
        (e.reason or "unspecified").replace("_", " ") for e in in_view(evs, view) if e.outcome == "failure"
    )
    assert dict(totals) == dict(expected)


def test_percent_never_shows_zero_for_some() -> None:
    assert F.percent(12 / 10_000_000) == "<0.1%"
    assert F.percent(0) == "0%"
    assert F.percent(0.125) == "12.5%"
    assert F.percent(0.99999) == ">99.9%"
    assert F.percent(1.0) == "100.0%"


def test_ip_map_layers(db: Database, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d"), NOW)
    with db.connect() as conn:
        points = A.map_points(conn, view)
        countries = A.country_totals(conn, view)
        new = A.new_countries(conn, view)
    fig = valid(F.ip_map(points, countries, new))
    kinds = [t.type for t in fig.data]
    assert kinds == ["choropleth", "scattergeo", "scattergeo"]
    shading, cities, stars = fig.data
    rows = in_view(evs, view)
    # countries known without a city are shaded, by ISO-3 code
    unplaced = Counter(e.place[0] for e in rows if e.place[0] and e.place[2] is None)
    assert dict(zip(shading.locations, shading.z, strict=True)) == {"USA": unplaced["US"], "BRA": unplaced["BR"]}
    # one point per city: colour is the failure share, the biggest place has the biggest marker
    placed = [e for e in rows if e.place[2] is not None]
    by_city = Counter(e.place[1] for e in placed)
    fails = Counter(e.place[1] for e in placed if e.outcome == "failure")
    assert len(cities.lat) == len(by_city)
    for text, color in zip(cities.text, cities.marker.color, strict=True):
        city = text.split("<b>")[1].split(",")[0]
        assert f"{by_city[city]:,} events, {fails[city]:,} failed" in text
        # colour: the square root of the failure share, so 1% and 5% differ (the bar says the shares)
        assert color == pytest.approx((fails[city] / by_city[city]) ** 0.5, abs=1e-4)
    assert list(cities.marker.colorbar.ticktext) == ["0%", "1%", "5%", "20%", "50%", "100%"]
    assert list(cities.marker.colorbar.tickvals) == pytest.approx([0, 0.1, 0.2236, 0.4472, 0.7071, 1], abs=1e-4)
    sizes = list(cities.marker.size)
    busiest = cities.text[sizes.index(max(sizes))].split("<b>")[1].split(",")[0]
    assert by_city[busiest] == max(by_city.values())
    assert stars.marker.symbol == "star"
    assert len(stars.lat) == len(new.dropna(subset=["lat", "lon"]))  # a country without a city has no point
    # offline map: centred on Greenwich, not the Pacific
    assert fig.layout.geo.center.lon == 0
    assert fig.layout.geo.projection.rotation.lon == 0


def test_place_names_in_the_map(db: Database) -> None:
    view = A.View.of(Filters(preset="30d", countries=("DE",)), NOW)
    with db.connect() as conn:
        fig = F.ip_map(A.map_points(conn, view), A.country_totals(conn, view))
    (trace,) = fig.data
    assert trace.text[0].startswith("<b>Berlin, Germany</b>")
    assert "2 addresses" in trace.text[0]
    assert PLACES["91.32.96.240"][1] == "Berlin"


@pytest.mark.parametrize(
    "fig",
    [
        F.timeline_figure(
            pd.DataFrame(columns=["bucket", "category", "events"]),
            3600,
            "per hour",
            datetime(2026, 1, 1),
            datetime(2026, 1, 2),
            "UTC",
        ),
        F.ranking_figure([], [], "Busiest users"),
        F.weekday_hour_heatmap(pd.DataFrame(0, index=list(A.WEEKDAYS), columns=range(24)), "UTC"),
        F.user_day_heatmap(
            pd.DataFrame(columns=["actor_id", "actor_name", "day", "failures"]),
            date(2026, 1, 1),
            date(2026, 1, 2),
            "UTC",
        ),
        F.reasons_figure(pd.DataFrame(columns=["reason", "action", "failures"])),
        F.ip_map(pd.DataFrame(), pd.DataFrame()),
    ],
)
def test_empty_views_say_so(fig: go.Figure) -> None:
    checked = valid(fig)
    assert not checked.data
    assert checked.layout.annotations[0].text.startswith("No ")


@pytest.mark.parametrize(
    ("actor_id", "name"), [("u17", "Ana Souza"), ("u17", None), ("ana (admin)", "Ana S."), ("", "x"), ("1007", "1007")]
)
def test_person_labels_give_the_id_back(actor_id: str, name: str | None) -> None:
    assert F.actor_from_label(F.person_label(actor_id, name)) == (actor_id or None)


def test_specs_are_the_figures_as_plain_data(db: Database) -> None:
    view = A.View.of(Filters(preset="7d", tz="Europe/Berlin"), NOW)
    with db.connect() as conn:
        tl = A.timeline(conn, view)
    args = (tl.frame, tl.bucket.seconds, tl.bucket.per, tl.start, tl.end, tl.tz)
    spec = F.timeline_spec(*args)
    assert json.loads(json.dumps(spec)) == spec  # JSON as it is: what dcc.Graph receives
    assert valid(F.figure(spec)).to_dict() == valid(F.timeline_figure(*args)).to_dict()


@pytest.mark.parametrize("masked", [False, True])
def test_the_pages_rows_draw_the_same_figures_as_the_packs_dataframes(db: Database, masked: bool) -> None:
    """The web pages pass `Rows` (plain Python), the PDF packs DataFrames: the charts are the same."""
    view = A.View.of(Filters(preset="30d", tz="Europe/Berlin"), NOW)
    first, last = view.local_start.date(), view.local_end.date()
    with db.connect() as conn:
        tl = A.timeline(conn, view)
        pairs = [
            (F.timeline_spec, (tl.frame,), (tl.rows,), (60, "per hour", tl.start, tl.end, tl.tz)),
            (
                F.weekday_hour_spec,
                (A.failed_logins_by_weekday_hour(conn, view),),
                (A.weekday_hour_counts(conn, view),),
                ("UTC",),
            ),
            (
                F.user_day_spec,
                (A.failed_logins_by_user_day(conn, view),),
                (A.failed_logins_by_user_day_rows(conn, view),),
                (first, last, "UTC"),
            ),
            (F.reasons_spec, (A.failures_by_reason(conn, view),), (A.failures_by_reason_rows(conn, view),), ()),
            (
                F.ip_map_spec,
                (A.map_points(conn, view, masked), A.country_totals(conn, view), A.new_countries(conn, view)),
                (
                    A.map_point_rows(conn, view, masked),
                    A.country_total_rows(conn, view),
                    A.new_country_rows(conn, view),
                ),
                (),
            ),
        ]
        assert A.top_addresses(conn, view, masked=masked).equals(A.top_address_rows(conn, view, masked=masked).frame())
        assert A.categories_of(A.action_counts(conn, view)).equals(
            A.category_rows(A.action_counts_rows(conn, view)).frame()
        )
    for spec, frames, rows, rest in pairs:
        from_rows = spec(*rows, *rest)
        assert from_rows["data"], spec.__name__  # something is drawn
        assert from_rows == spec(*frames, *rest), spec.__name__


def test_figures_do_not_depend_on_dash() -> None:
    tree = ast.parse(Path(F.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] in ("dash", "dash_bootstrap_components", "flask")}
    assert F.as_records(pd.DataFrame({"at": [datetime(2026, 1, 1, tzinfo=UTC)], "n": [1]})) == [
        {"at": "2026-01-01T00:00:00+00:00", "n": 1}
    ]
