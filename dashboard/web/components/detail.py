"""The explorer's detail panel: one event in full, as a compliance officer reads it.

Pure functions of an `Event` (already masked for the viewer by `dashboard.store.explorer.event`)
and its context; they return Dash components and hold no data access, so they are tested
without a browser. The panel answers, in order: when (in the view's zone and in UTC), who (with
role), did what (action and category), did it work (outcome and reason), from where (address
and place, or "internal" / "masked"), with what (user agent), to what (target), what changed
(before → after per field), and what else happened in the same request and session.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import html

from dashboard.countries import country_name
from dashboard.events import jsontext
from dashboard.events.taxonomy import CATEGORY_TITLES
from dashboard.store.analytics import changed_fields
from dashboard.store.explorer import Change, Event, Related, place_text, utc_text
from dashboard.web import ids
from dashboard.web.components.parts import xf_value
from dashboard.web.components.views import masked_block
from dashboard.when import in_zone

SRC = "explorer-detail"
RAW_JSON_NOTE = "The raw record is shown to administrators and compliance officers only."


def panel(is_open: bool = False, title: Any = "Event details", body: Any = None) -> dbc.Offcanvas:
    """The panel: closed and empty (filled by the explorer's callback when a row is clicked), or
    open on the event a link names (`title`, `body`: `explorer_views.open_event`)."""
    return dbc.Offcanvas(
        html.Div(body, id=ids.EX_PANEL_BODY),
        id=ids.EX_PANEL,
        title=title,
        placement="end",
        is_open=is_open,
        scrollable=True,
        className="ex-panel",
    )


def _when(value: datetime, zone: ZoneInfo, tz: str) -> html.Div:
    local = in_zone(value, zone)
    lines = [
        html.Div([f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} ", html.Span(tz, className="ex-zone")])
    ]
    if tz != "UTC":
        lines.append(html.Div(f"{utc_text(value)[:-1].replace('T', ' ')} UTC", className="ex-sub"))
    weekday = f"{local:%A}"
    lines.append(html.Div(weekday, className="ex-sub"))
    return html.Div(lines)


def _row(label: str, *value: Any, row_id: str | None = None) -> list[Any]:
    attrs: dict[str, Any] = {"id": row_id} if row_id else {}
    return [html.Dt(label, className="col-sm-3 ex-dt"), html.Dd(list(value), className="col-sm-9 ex-dd", **attrs)]


def _mono(text: str | None) -> html.Span:
    return html.Span(text or "—", className="ex-mono")


def outcome_badge(outcome: str, reason: str | None = None) -> html.Span:
    """Success / Failure (with its reason) / Unknown, coloured."""
    color = {"success": "success", "failure": "danger"}.get(outcome, "secondary")
    parts: list[Any] = [dbc.Badge(outcome.capitalize(), color=color, className="ex-outcome")]
    if reason:
        parts.append(html.Span(f" {reason.replace('_', ' ')}", className="ex-reason"))
    return html.Span(parts)


def _actor(row: Mapping[str, Any]) -> list[Any]:
    name = row.get("actor_name")
    actor_id = row.get("actor_id")
    kind = row.get("actor_type") or "user"
    role = row.get("actor_role")
    main: list[Any] = [html.Strong(name or actor_id or kind)]
    if role:
        main.append(html.Span(f" {role}", className="ex-role"))
    details = [
        p
        for p in (f"id {actor_id}" if actor_id else None, row.get("actor_email"), kind if kind != "user" else None)
        if p
    ]
    out: list[Any] = [html.Div(main)]
    if details:
        out.append(html.Div(" · ".join(details), className="ex-sub"))
    if actor_id:
        out.append(html.Div(xf_value("users", str(actor_id), "Show only this user", src=SRC), className="ex-narrow"))
    return out


def _address(row: Mapping[str, Any], masked: bool) -> list[Any]:
    ip = row.get("ip")
    scope = row.get("ip_scope")
    if not ip:
        return [html.Span("not recorded", className="text-body-secondary")]
    out: list[Any] = [_mono(ip)]
    place = place_text(row)
    if scope == "public" and row.get("geo_country"):
        country = country_name(str(row["geo_country"]))
        city = row.get("geo_city")
        place = f"{city}, {country}" if city else country
    if place:
        out.append(html.Span(f" · {place}", className="ex-place"))
    if masked:
        out.append(html.Div("Address masked for your role.", className="ex-sub"))
    value = masked_block(ip) if masked else ip
    if value and scope in ("public", "internal"):
        label = "Show only this network" if masked else "Show only this address"
        out.append(html.Div(xf_value("ip", value, label, src=SRC), className="ex-narrow"))
    return out


def _target(row: Mapping[str, Any]) -> list[Any]:
    kind, name, target_id = row.get("target_type"), row.get("target_name"), row.get("target_id")
    if not (kind or name or target_id):
        return [html.Span("none", className="text-body-secondary")]
    out: list[Any] = []
    if kind:
        out.append(html.Span(kind, className="ex-kind"))
    out.append(html.Strong(f" {name}" if name else f" {target_id}"))
    if name and target_id and name not in (target_id, f"#{target_id}"):
        out.append(html.Span(f" (id {target_id})", className="ex-sub-inline"))
    return out


def _decoded(text: str | None) -> Any:
    """A value the store wrote as JSON text (a list or an object) decoded; any other text as it is."""
    if text is None or not text.startswith(("[", "{")):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # a text that only starts like JSON


def in_words(field: str, before: str | None, after: str | None) -> tuple[str | None, str | None]:
    """A change's values as Security's table writes them (`analytics.changed_fields`: lists as
    "a, b", yes/no), not as JSON; None stays None (no value on that side)."""
    if not any(isinstance(_decoded(v), list | dict) for v in (before, after)):
        return before, after
    ((_, words_before, words_after),) = changed_fields(jsontext.dumps({field: [_decoded(before), _decoded(after)]}))
    return (None if before is None else words_before, None if after is None else words_after)


def value_words(value: Any) -> str:
    """A recorded detail's value in words (text as it is; lists as "a, b"; yes/no), as Security writes values."""
    if isinstance(value, str):
        return value
    ((_, _, words),) = changed_fields(jsontext.dumps({"value": [None, value]}))
    return words


def changes_table(changes: Sequence[Change]) -> Any:
    """Before → after per field: removed values struck through in red, new values in green."""
    if not changes:
        return html.P("This event records no changed values.", className="ex-sub")
    body = []
    for c in changes:
        was, now = in_words(c.field, c.before, c.after)
        before = html.Del(was, className="ex-before") if was is not None else html.Span("(none)", className="ex-none")
        after = html.Ins(now, className="ex-after") if now is not None else html.Span("(none)", className="ex-none")
        body.append(
            html.Tr(
                [
                    html.Td(c.field, className="ex-field"),
                    html.Td(before),
                    html.Td("→", className="ex-arrow", title="changed to"),
                    html.Td(after),
                ],
                className=f"ex-change ex-change--{c.kind}",
            )
        )
    head = html.Thead(html.Tr([html.Th("Field"), html.Th("Before"), html.Th(""), html.Th("After")]))
    return dbc.Table([head, html.Tbody(body)], size="sm", className="ex-changes mb-0", id="explorer-changes")


def _metadata(metadata: Mapping[str, Any] | None) -> Any:
    if not metadata:
        return None
    if jsontext.is_unreadable(metadata):
        return html.Div(
            [
                html.H3("Details recorded with the event", className="ex-h"),
                html.P(
                    f"These details cannot be shown: {metadata[jsontext.UNREADABLE_KEY]}. "
                    f"The stored text ({metadata.get('raw_length', '?')} bytes) has SHA-256 {metadata['raw_sha256']}.",
                    className="ex-sub ex-unreadable",
                    id="explorer-metadata-unreadable",
                ),
            ]
        )
    rows = [
        html.Tr(
            [
                html.Td(str(k), className="ex-field"),
                html.Td(value_words(v)),
            ]
        )
        for k, v in metadata.items()
    ]
    return html.Div(
        [
            html.H3("Details recorded with the event", className="ex-h"),
            dbc.Table(html.Tbody(rows), size="sm", className="mb-0"),
        ]
    )


def related_list(groups: Sequence[Related], tz: str) -> Any:
    """The other events of the same request and session, each opening in this panel when clicked."""
    if not groups:
        return html.P("No other events share this event's request or session.", className="ex-sub")
    out: list[Any] = []
    for g in groups:
        title = "Same request" if g.kind == "request" else "Same session"
        shown = len(g.rows)
        count = f"{g.total} other event{'s' if g.total != 1 else ''}"
        if shown < g.total:
            count += f", the {shown} nearest in time shown"
        items = [
            html.Button(
                [
                    html.Span(r["time"], className="ex-rel-time"),
                    html.Span(r["action"], className="ex-rel-action"),
                    html.Span(r["actor"], className="ex-rel-actor", title=r["actor"]),
                    html.Span(r["outcome"], className=f"ex-rel-outcome ex-rel-outcome--{r['outcome']}"),
                ],
                id={"type": ids.EX_OPEN, "seq": r["seq"]},
                n_clicks=0,
                className="list-group-item list-group-item-action ex-rel",
                title="Open this event",
            )
            for r in g.rows
        ]
        out.append(
            html.Div(
                [
                    html.H3(
                        [title, html.Span(f" · {count} (times in {tz})", className="ex-sub-inline")], className="ex-h"
                    ),
                    html.Div(items, className="list-group list-group-flush ex-rel-list"),
                ],
                className=f"ex-related ex-related--{g.kind}",
            )
        )
    return html.Div(out)


def raw_json(record: Mapping[str, Any] | None) -> Any:
    """The stored record as JSON (only for viewers allowed to see it; None gives the note)."""
    if record is None:
        return html.P(RAW_JSON_NOTE, className="ex-sub", id="explorer-raw-note")
    text = jsontext.dumps(record, indent=2)
    return html.Details(
        [html.Summary("Raw JSON (the stored record)"), html.Pre(text, className="ex-raw", id="explorer-raw")],
        className="ex-raw-box",
    )


def body(ev: Event, groups: Sequence[Related], zone: ZoneInfo, tz: str, masked: bool) -> list[Any]:
    """The panel's content for one event."""
    row = ev.row
    category = str(row["category"])
    headline = html.Div(
        [
            html.Div(
                [
                    html.Span(row["action"], className="ex-action"),
                    outcome_badge(str(row["outcome"]), row.get("reason")),
                ],
                className="ex-headline",
            ),
            html.Div(CATEGORY_TITLES.get(category, category), className="ex-sub"),
        ],
        className="mb-3",
    )
    facts = html.Dl(
        [
            *_row("When", _when(row["occurred_at"], zone, tz)),
            *_row("Actor", *_actor(row)),
            *_row(
                "Action",
                html.Div([_mono(str(row["action"])), html.Span(f" · {CATEGORY_TITLES.get(category, category)}")]),
                html.Div(
                    xf_value("actions", str(row["action"]), "Show only this action", src=SRC), className="ex-narrow"
                ),
            ),
            *_row("Outcome", outcome_badge(str(row["outcome"]), row.get("reason"))),
            *_row("IP address", *_address(row, masked)),
            *_row("User agent", html.Span(row.get("user_agent") or "not recorded", className="ex-ua")),
            *_row("Target", *_target(row)),
            *_row("Account", _mono(str(row["account_id"]))),
            *_row("Session", _mono(row.get("session_id"))),
            *_row("Request", _mono(row.get("request_id"))),
            *_row(
                "Record",
                html.Div([_mono(str(row["event_id"])), html.Span(f" · #{row['seq']} · source {row['source']}")]),
                html.Div(f"received {utc_text(row['received_at'])[:-1].replace('T', ' ')} UTC", className="ex-sub"),
            ),
        ],
        className="row ex-facts mb-2",
    )
    sections: list[Any] = [
        headline,
        facts,
        html.H3("What changed", className="ex-h"),
        changes_table(ev.changes),
        _metadata(ev.metadata),
        html.Div(related_list(groups, tz), className="mt-3"),
        html.Div(raw_json(ev.raw), className="mt-3"),
    ]
    return [s for s in sections if s is not None]


def not_found(seq: Any) -> html.Div:
    """What the panel says when the event is gone (purged by retention since the page was read)."""
    return html.Div(
        f"Event #{seq} is no longer in the log (it may have passed the retention period). Reload the list.",
        className="ex-sub",
    )
