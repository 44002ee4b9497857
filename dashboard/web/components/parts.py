"""Page parts every page can use: the page header with breadcrumb, figure cards, graphs, tables.

They hold no data access and no callbacks, so any page (Explorer, Wall, ...) may import them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, cast

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Patch, dcc, html, no_update
from plotly.io.json import to_json_plotly

from dashboard.web import ids

#: plotly's toolbar, trimmed to what helps reading a chart.
GRAPH_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
#: maps draw from the topojson shipped in assets/ (the machines have no internet).
MAP_CONFIG: dict[str, Any] = {**GRAPH_CONFIG, "topojsonURL": "/assets/topojson/", "scrollZoom": False}

PRODUCT_TRAIL: tuple[str, ...] = ("Audit Logs",)


def attrs(**values: str) -> Any:
    """HTML attributes Dash takes only as keywords with dashes: attrs(aria_label="Filters")."""
    return {key.replace("_", "-"): value for key, value in values.items()}


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A small frame's rows as dicts (for building tables and hover texts)."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def page_header(title: str, crumb: str, lead: str | None = None, lead_id: str | None = None) -> html.Div:
    """Breadcrumb ("Audit Logs / Security"), the page title, and one line on what the page is for
    (`lead_id`: the line has this id, for a callback that says what the page shows for the view)."""
    trail = [html.Li(label, className="breadcrumb-item") for label in PRODUCT_TRAIL]
    trail.append(html.Li(crumb, className="breadcrumb-item active", **attrs(aria_current="page")))
    return html.Div(
        [
            html.Nav(html.Ol(trail, className="breadcrumb ad-breadcrumb mb-1"), **attrs(aria_label="breadcrumb")),
            html.H1(title, className="h3 mb-1"),
            _lead(lead, lead_id),
        ],
        className="ad-page-header mb-3",
    )


def _lead(text: str | None, lead_id: str | None) -> html.P | None:
    if lead_id:
        return html.P(text, id=lead_id, className="text-body-secondary mb-0")
    return html.P(text, className="text-body-secondary mb-0") if text else None


def stat_card(
    label: str, value_id: str, note: str | None = None, note_id: str | None = None, value: Any = "…"
) -> dbc.Col:
    """A headline figure: label, a large number (`value`, else "…" until a callback fills it), an optional note."""
    return dbc.Col(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div(label, className="ad-stat-label"),
                    html.Div(value, id=value_id, className="ad-stat-value"),
                    html.Div(note or "", className="ad-stat-note", **(attrs(id=note_id) if note_id else {}))
                    if (note or note_id)
                    else None,
                ]
            ),
            className="ad-card h-100",
        ),
        xs=6,
        lg=True,
    )


def graph_card(
    graph_id: str,
    height: int = 360,
    footer: Any = None,
    config: dict[str, Any] | None = None,
    figure: Any = None,
) -> dbc.Card:
    """A card holding one chart (its title is part of the figure, so PDF packs show it too; `figure`:
    drawn with the page, else filled by a callback)."""
    shown: dict[str, Any] = {} if figure is None else {"figure": figure}
    return dbc.Card(
        [
            dbc.CardBody(
                dcc.Loading(
                    dcc.Graph(
                        id=graph_id,
                        config=cast(Any, config or GRAPH_CONFIG),
                        # the figure's own height wins (charts grow with their rows); until
                        # it arrives the card keeps this height, so the page does not jump
                        style={"minHeight": f"{height}px"},
                        **shown,
                    ),
                    type="dot",
                    delay_show=400,
                    color="#6b7280",
                ),
                className="p-2",
            ),
            dbc.CardFooter(footer, className="ad-card-footer") if footer is not None else None,
        ],
        className="ad-card h-100",
    )


def table_card(title: str, body_id: str, note: str | None = None, scroll: bool = False, body: Any = None) -> dbc.Card:
    """A card with a title and a table (`body`, else filled by a callback; `scroll`: at most about 12 rows high)."""
    return dbc.Card(
        [
            dbc.CardHeader(html.H2(title, className="h6 mb-0"), className="ad-card-header"),
            dbc.CardBody(
                [
                    html.Div(
                        html.Div("Loading…", className="ad-empty") if body is None else body,
                        id=body_id,
                        className="ad-scroll" if scroll else None,
                    ),
                    html.Div(note, className="ad-table-note") if note else None,
                ],
                className="p-0",
            ),
        ],
        className="ad-card h-100",
    )


def element(tag: str, children: Any = None, **props: Any) -> dict[str, Any]:
    """`html.<tag>(children, **props)` as the JSON Dash sends for it, without building the component.

    The Overview and Security tables are rebuilt on every filter change, a few hundred cells
    each; building every cell as a Dash component (which checks each keyword) and serialising it
    again cost about a tenth of the Security page's time (docs/PERFORMANCE.md, "Dashboard").
    The browser gets exactly the same JSON. For callback outputs only; props are not checked,
    so pass only real props of the element (`className`, `title`, `id`, ...).
    """
    if children is not None:
        props["children"] = children
    return {"props": props, "type": tag, "namespace": "dash_html_components"}


def _xf_props(field: str, value: str, label: str | None, src: str, title: str | None) -> dict[str, Any]:
    return {
        "children": label if label is not None else value,
        "id": {"type": ids.XF_VALUE, "field": field, "value": value, "src": src},
        "className": "ad-xf",
        "title": title or "Show only this",
        "n_clicks": 0,
    }


def xf_value(
    field: str, value: str, label: str | None = None, src: str = "table", title: str | None = None
) -> html.Button:
    """A table value that narrows the view to itself when clicked (the shell handles the click).

    Args:
        field: the `Filters` field it narrows (`users`, `actions`, `categories`, `ip`, `countries`, `roles`).
        value: the value.
        label: what to show (default: the value).
        src: where it sits, so the same value may appear in two tables of one page.
        title: the tooltip (default: "Show only this").
    """
    return html.Button(**_xf_props(field, value, label, src, title))


def xf_cell(
    field: str, value: str, label: str | None = None, src: str = "table", title: str | None = None
) -> dict[str, Any]:
    """`xf_value` as an `element` (for tables rebuilt on every filter change)."""
    return element("Button", **_xf_props(field, value, label, src, title))


def data_table(
    headers: Sequence[str | tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    table_id: str | None = None,
    empty: str = "Nothing in this view.",
) -> Any:
    """A compact table; a header given as (text, "end") is right-aligned (numbers).

    The rows and cells are `element`s (plain JSON): a table is rebuilt on every filter change.
    """
    if not rows:
        return html.Div(empty, className="ad-empty")
    aligns = [f"text-{h[1]}" if isinstance(h, tuple) else "text-start" for h in headers]
    head = element(
        "Thead",
        element(
            "Tr",
            [
                element("Th", h[0] if isinstance(h, tuple) else h, className=a)
                for h, a in zip(headers, aligns, strict=True)
            ],
        ),
    )
    body = element(
        "Tbody",
        [
            element("Tr", [element("Td", _row_xf(cell, i), className=a) for cell, a in zip(row, aligns, strict=True)])
            for i, row in enumerate(rows)
        ],
    )
    kwargs: dict[str, Any] = {"id": table_id} if table_id else {}
    return dbc.Table([head, body], hover=True, size="sm", responsive=True, className="ad-table mb-0", **kwargs)


def _row_xf(cell: Any, row: int) -> Any:
    """`cell` with the row's number in the `src` of its value buttons (`xf_cell`), so a value shown
    in several rows of one table (an address's country, a person with several changes) has one id
    per row: Dash needs ids unique on the page, and a click on a repeated id is not delivered."""
    if isinstance(cell, list):
        return [_row_xf(item, row) for item in cell]
    if not isinstance(cell, dict) or not isinstance(cell.get("props"), dict):
        return cell
    props = dict(cell["props"])
    cid = props.get("id")
    if isinstance(cid, dict) and cid.get("type") == ids.XF_VALUE:
        props["id"] = {**cid, "src": f"{cid['src']}-{row}"}
    if "children" in props:
        props["children"] = _row_xf(props["children"], row)
    return {**cell, "props": props}


def number(value: int | None) -> str:
    """A count as people read it: 12,345 (an em dash when unknown)."""
    return "—" if value is None else f"{value:,}"


def _digest(value: Any) -> str:
    return hashlib.blake2b(to_json_plotly(value).encode(), digest_size=12).hexdigest()


def only_changed(values: Mapping[str, Any], shown: Mapping[str, Any] | None) -> tuple[list[Any], dict[str, Any]]:
    """What a page's one callback sends: only the outputs that changed since the last answer.

    Args:
        values: the new value of every output, by a name (figures as {"data", "layout"} specs).
        shown: what the page's `shown` store holds: the digests of the values last sent to this
            page instance (None on its first answer; the store lives in the page's layout, so a
            page drawn anew starts empty).

    Returns the outputs in `values`' order and the new digests (for the store). An unchanged
    value is `no_update` (nothing sent, nothing redrawn); a figure whose layout is unchanged gets
    a `dash.Patch` of its traces only, and one whose traces are unchanged a patch of its layout.
    """
    before: Mapping[str, Any] = shown if isinstance(shown, Mapping) else {}
    out: list[Any] = []
    digests: dict[str, Any] = {}
    for name, value in values.items():
        old = before.get(name)
        if isinstance(value, dict) and set(value) == {"data", "layout"}:
            new: Any = [_digest(value["data"]), _digest(value["layout"])]
            if isinstance(old, list) and old == new:
                out.append(no_update)
            elif isinstance(old, list) and len(old) == 2 and old[1] == new[1]:
                traces = Patch()
                traces["data"] = value["data"]
                out.append(traces)
            elif isinstance(old, list) and len(old) == 2 and old[0] == new[0]:
                layout = Patch()
                layout["layout"] = value["layout"]
                out.append(layout)
            else:
                out.append(value)
        else:
            new = _digest(value)
            out.append(no_update if old == new else value)
        digests[name] = new
    return out, digests
