"""Report: turn the current filtered view into a compliance pack (PDF, CSV, JSON, or a ZIP of all).

The page says what the pack will contain (the filters in words, the period, how many events
match), builds it as a job in the server (progress bar, cancel), and offers the files for
download. Below: the scheduled packs and their e-mail deliveries. Every component id starts
with `report-`; the work happens in `dashboard.packs`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.access import saved_views
from dashboard.evidence.locations import Locations
from dashboard.filters import Filters
from dashboard.packs.build import from_archive_text, not_included_text
from dashboard.packs.model import FORMAT_LABELS, FORMATS, RAW_FORMATS, ZIP_FORMATS, PackError, PackRequest
from dashboard.packs.view import count_matching
from dashboard.roles import READERS
from dashboard.store.archive import ArchivedInView, archived_in_view
from dashboard.web import ids
from dashboard.web import packs as packs_web
from dashboard.web.access import viewer
from dashboard.web.components import filter_views, filterbar
from dashboard.web.components.parts import data_table, page_header
from dashboard.web.state import state
from dashboard.when import in_zone

dash.register_page(
    __name__,
    path="/report",
    name="Report",
    title="Compliance pack · auditdash",
    order=40,
    roles=READERS,
)

SUMMARY = "report-summary"
COUNT = "report-count"
PERIOD = "report-period"
FORMATS_ID = "report-formats"
GENERATE = "report-generate"
CANCEL = "report-cancel"
PROGRESS = "report-progress"
STAGE = "report-stage"
INTERVAL = "report-interval"
JOB = "report-job"
RESULT = "report-result"
ERROR = "report-error"
QUERY = "report-query"
HISTORY = "report-history"
SCHEDULES = "report-schedules"
OUTBOX = "report-outbox"
CANCEL_NOTE = "report-cancel-note"
#: what the page shows: {"filters": the view's store data, "now": the moment (ISO, UTC) relative ranges
#: were resolved against}; the pack is built from exactly this, whatever changed since
ANCHOR = "report-anchor"
ARCHIVED = "report-archived"  # how many of the view's events are read from archived months
VIEW = "report-view"  # a saved view to build the pack from
VIEW_SCHEDULE = "report-view-schedule"  # how to schedule that view's pack

LEAD = "What auditors ask for: the current view as a PDF report, every event as CSV and JSON, with a manifest."


def _now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def _archived(f: Filters, now: datetime) -> ArchivedInView:
    """The view's events that only the archive holds (the pack reads them from there)."""
    st = state()
    with st.db.connect() as conn:
        return archived_in_view(conn, Locations.resolve(st.settings, st.db.path), f, now)


def _view_text(f: Filters, now: datetime, archived: ArchivedInView) -> tuple[str, str, str, str]:
    """(filters in words, period in words, matching events, where they come from), ranges ending at `now`."""
    start, end = f.resolve_range(now)
    zone = f.zone
    local_start, local_end = in_zone(start, zone), in_zone(end, zone)
    period = f"{local_start:%Y-%m-%d %H:%M} to {local_end:%Y-%m-%d %H:%M} ({f.tz})"
    if state().db.url is not None:  # PostgreSQL cannot read archived months in place: the pack says so too
        source = not_included_text(archived) if archived.events else ""
        return f.describe(now), period, f"{count_matching(state().db, f, now):,}", source
    count = count_matching(state().db, f, now) + archived.events
    source = from_archive_text(archived) + "; the pack reads them in place." if archived.events else ""
    return f.describe(now), period, f"{count:,}", source


def _format_options(masked: bool) -> list[dict[str, Any]]:
    """The formats, as the viewer's role gets them: a masked role's ZIP holds no raw JSON, and says so."""
    options = []
    for fmt in FORMATS:
        label = FORMAT_LABELS[fmt]
        disabled = masked and fmt in RAW_FORMATS
        if disabled:
            label += " (not for your role: it holds the raw events)"
        if masked and fmt == "zip":
            inside = [FORMAT_LABELS[f].split(" (")[0] for f in ZIP_FORMATS if f not in RAW_FORMATS]
            label = f"ZIP with {', '.join(inside)} and the manifest (no raw JSON for your role)"
        options.append({"label": label, "value": fmt, "disabled": disabled})
    return options


def _view_options() -> list[dict[str, Any]]:
    who = viewer()
    return filter_views.view_options(saved_views.visible(state().db, who.username), who.username)


def _from_view_card() -> dbc.Card:
    """A pack or a schedule from a saved view (a team is a saved view of its accounts)."""
    options = _view_options()
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("From a saved view", className="h6"),
                html.P(
                    "Build the pack for a saved view (a team is a saved view of its accounts): choosing one "
                    "sets the filters to it. Save views in the sidebar.",
                    className="text-body-secondary small mb-2",
                ),
                dcc.Dropdown(
                    id=VIEW,
                    options=options,
                    value=None,
                    placeholder="Choose a saved view" if options else "No saved views yet",
                    clearable=True,
                ),
                html.Div(id=VIEW_SCHEDULE, className="small mt-2"),
            ]
        ),
        className="ad-card mb-3",
    )


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


def _files(pack_id: str, files: list[dict[str, Any]]) -> html.Ul:
    return html.Ul(
        [
            html.Li(
                [
                    html.A(
                        f["name"],
                        href=packs_web.download_url(pack_id, f["name"]),
                        download=f["name"],
                        className="report-file",
                    ),
                    html.Span(f" ({_size(int(f['size']))})", className="text-body-secondary"),
                ]
            )
            for f in files
        ],
        className="mb-0",
    )


def _history(username: str) -> Any:
    jobs = packs_web.service().jobs(owner=username)[:10]
    rows = []
    for job in jobs:
        snap = job.snapshot()
        files = _files(snap["pack_id"], snap["files"]) if snap.get("pack_id") else snap.get("error") or snap["state"]
        rows.append(
            (
                snap["submitted_at"].replace("T", " ").replace("Z", " UTC"),
                ", ".join(f.upper() for f in snap["formats"]),
                snap["state"],
                f"{snap['events']:,}" if "events" in snap else "",
                files,
            )
        )
    return data_table(["Asked at", "Formats", "State", ("Events", "end"), "Files"], rows, empty="No packs yet.")


def _last_result(s: dict[str, Any]) -> str:
    if s.get("last_error"):
        return f"failed ({s.get('failures', 1)}x), retried: {s['last_error']}"
    return f"pack {s['last_pack']}" if s.get("last_pack") else ""


def _schedules() -> tuple[Any, Any]:
    info = packs_web.page_state()
    rows = [
        (
            s["name"],
            s["description"] + (f" (saved view “{s['view_name']}”)" if s.get("view_name") else ""),
            ", ".join(s["email"]) or "—",
            s.get("last_period") or "not yet",
            _last_result(s),
        )
        for s in info["schedules"]
    ]
    schedules = data_table(
        ["Name", "What and when", "E-mailed to", "Last period", "Last result"],
        rows,
        table_id="report-schedules-table",
        empty="No scheduled packs are configured (AUDITDASH_PACK_SCHEDULES, see docs/packs.md).",
    )
    deliveries = [
        (
            d["pack_id"],
            d["to"],
            d["status"],
            str(d["attempts"]),
            d.get("last_error") or "",
            (d.get("sent_at") or d.get("next_attempt_at") or "").replace("T", " ").replace("Z", " UTC"),
        )
        for d in info["outbox"][:50]
    ]
    outbox = data_table(
        ["Pack", "To", "Status", ("Attempts", "end"), "Last error", "Sent / next try"],
        deliveries,
        table_id="report-outbox-table",
        empty="No e-mail deliveries yet." if info["smtp"] else "E-mail is off (AUDITDASH_SMTP_HOST is not set).",
    )
    return schedules, outbox


def layout(**query: str) -> html.Div:
    """The page; the filters come from the shell's store (the URL's query is the first guess)."""
    v = viewer()
    f = Filters.from_query({k: v for k, v in query.items() if isinstance(v, str)})
    now = _now()
    words, period, count, source = _view_text(f, now, _archived(f, now))
    schedules, outbox = _schedules()
    default_formats = ["pdf", "csv"]
    return html.Div(
        [
            page_header("Compliance pack", "Report", LEAD),
            dcc.Store(id=QUERY, data=f.to_store()),
            dcc.Store(id=JOB),
            dcc.Store(id=ANCHOR, data=_shown(f.to_store(), now)),
            dcc.Interval(id=INTERVAL, interval=1000, disabled=True),
            dbc.Card(
                dbc.CardBody(
                    [
                        html.H2("What the pack will contain", className="h6"),
                        html.Dl(
                            [
                                html.Dt("Filters", className="col-sm-2"),
                                html.Dd(words, id=SUMMARY, className="col-sm-10"),
                                html.Dt("Period", className="col-sm-2"),
                                html.Dd(period, id=PERIOD, className="col-sm-10"),
                                html.Dt("Events", className="col-sm-2"),
                                html.Dd(count, id=COUNT, className="col-sm-10 fw-semibold"),
                            ],
                            className="row mb-2",
                        ),
                        html.P(source, id=ARCHIVED, className="text-body-secondary small mb-2"),
                        html.P(
                            "Change the view with the filters on the left; the pack always holds exactly the events "
                            "that match, however many there are.",
                            className="text-body-secondary small mb-3",
                        ),
                        html.H2("Formats", className="h6"),
                        dbc.Checklist(
                            id=FORMATS_ID, options=_format_options(v.masked), value=default_formats, className="mb-2"
                        ),
                        html.P(
                            "Addresses are masked in your packs and raw JSON is left out, as on your pages."
                            if v.masked
                            else "The ZIP holds every format and the manifest (file sizes and SHA-256).",
                            className="text-body-secondary small",
                        ),
                        html.Div(
                            [
                                dbc.Button(
                                    "Generate pack", id=GENERATE, color="primary", n_clicks=0, disabled=not v.can_export
                                ),
                                dbc.Button(
                                    "Cancel",
                                    id=CANCEL,
                                    color="secondary",
                                    outline=True,
                                    n_clicks=0,
                                    disabled=True,
                                    className="ms-2",
                                ),
                            ],
                            className="mb-3",
                        ),
                        dbc.Progress(
                            id=PROGRESS,
                            value=0,
                            label="",
                            striped=True,
                            animated=False,
                            className="mb-1",
                            style={"height": "1.2rem"},
                        ),
                        html.Div("", id=STAGE, className="small text-body-secondary mb-2", role="status"),
                        html.Div("", id=CANCEL_NOTE, className="small text-body-secondary"),
                        dbc.Alert("", id=ERROR, color="danger", is_open=False, className="mb-2"),
                        html.Div("", id=RESULT),
                    ]
                ),
                className="ad-card mb-3",
            ),
            _from_view_card(),
            dbc.Card(
                [
                    dbc.CardHeader(html.H2("Your recent packs", className="h6 mb-0"), className="ad-card-header"),
                    dbc.CardBody(_history(v.username), id=HISTORY, className="p-0"),
                ],
                className="ad-card mb-3",
            ),
            dbc.Card(
                [
                    dbc.CardHeader(html.H2("Scheduled packs", className="h6 mb-0"), className="ad-card-header"),
                    dbc.CardBody(schedules, id=SCHEDULES, className="p-0"),
                ],
                className="ad-card mb-3",
            ),
            dbc.Card(
                [
                    dbc.CardHeader(html.H2("E-mail deliveries", className="h6 mb-0"), className="ad-card-header"),
                    dbc.CardBody(outbox, id=OUTBOX, className="p-0"),
                ],
                className="ad-card mb-3",
            ),
        ],
        className="ad-page",
    )


def _filters(shell: dict[str, Any] | None, fallback: dict[str, Any] | None) -> Filters:
    """The shell's filters, or the page's own reading of the URL before the shell has one."""
    return Filters.from_store(shell or fallback)


@callback(
    Output(SUMMARY, "children"),
    Output(PERIOD, "children"),
    Output(COUNT, "children"),
    Output(ANCHOR, "data"),
    Output(ARCHIVED, "children"),
    Input(ids.FILTERS, "data"),
)
def _describe(data: dict[str, Any] | None) -> tuple[str, str, str, dict[str, Any], str]:
    if not data:
        raise PreventUpdate  # the shell has not read the URL yet; the layout shows the URL's view
    now = _now()
    f = Filters.from_store(data)
    words, period, count, source = _view_text(f, now, _archived(f, now))
    return words, period, count, _shown(data, now), source


def _shown(filters: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The ANCHOR store's data: the view the page describes, and the moment it was resolved at."""
    return {"filters": filters, "now": now.isoformat()}


def _anchor(shown: Any) -> tuple[dict[str, Any] | None, datetime | None]:
    """(filters, moment) of what the page shows, so the pack holds exactly what the page said."""
    if not isinstance(shown, dict):
        return None, None
    filters = shown.get("filters") if isinstance(shown.get("filters"), dict) else None
    try:
        moment = datetime.fromisoformat(str(shown["now"])) if shown.get("now") else None
    except ValueError:
        moment = None
    return filters, moment


@callback(
    Output(JOB, "data"),
    Output(INTERVAL, "disabled"),
    Output(ERROR, "children"),
    Output(ERROR, "is_open"),
    Output(RESULT, "children", allow_duplicate=True),
    Input(GENERATE, "n_clicks"),
    State(ids.FILTERS, "data"),
    State(QUERY, "data"),
    State(FORMATS_ID, "value"),
    State(ANCHOR, "data"),
    prevent_initial_call=True,
)
def _generate(
    clicks: int,
    shell: dict[str, Any] | None,
    fallback: dict[str, Any] | None,
    formats: list[str] | None,
    anchor: Any,
) -> tuple[Any, ...]:
    if not clicks:
        raise PreventUpdate
    v = viewer()
    if not v.can_export:
        return no_update, True, "Your role may not export packs.", True, no_update
    from dashboard.web.auth import request_actor

    shown, moment = _anchor(anchor)
    try:
        request = PackRequest(
            filters=_filters(shown or shell, fallback),
            formats=tuple(f for f in FORMATS if f in (formats or [])),
            actor=request_actor(),
            role=v.role,
            masked=v.masked,
            now=moment,
        )
    except PackError as exc:
        return no_update, True, str(exc), True, no_update
    job = packs_web.service().submit(request)
    return job.id, False, "", False, ""


@callback(
    Output(PROGRESS, "value"),
    Output(PROGRESS, "label"),
    Output(PROGRESS, "animated"),
    Output(STAGE, "children"),
    Output(RESULT, "children"),
    Output(CANCEL, "disabled"),
    Output(GENERATE, "disabled"),
    Output(INTERVAL, "disabled", allow_duplicate=True),
    Output(HISTORY, "children"),
    Input(INTERVAL, "n_intervals"),
    State(JOB, "data"),
    prevent_initial_call=True,
)
def _poll(_n: int, job_id: str | None) -> tuple[Any, ...]:
    if not job_id:
        raise PreventUpdate
    job = packs_web.service().get(job_id)
    v = viewer()
    if job is None or job.owner != v.username:
        return 0, "", False, "This pack is no longer known to the server.", "", True, False, True, no_update
    snap = job.snapshot()
    pct = float(snap["progress"])
    running = snap["state"] in ("queued", "running")
    if running:
        return pct, f"{pct:.0f} %", True, snap["stage"], no_update, False, True, False, no_update
    history = _history(v.username)
    if snap["state"] == "done":
        result = html.Div(
            [
                html.P(
                    f"Pack {snap['pack_id']}: {snap['events']:,} events in {snap['seconds']} s. Download:",
                    className="mb-1",
                    id="report-done",
                ),
                _files(snap["pack_id"], snap["files"]),
            ]
        )
        return 100, "100 %", False, "Done.", result, True, False, True, history
    message = dbc.Alert(
        snap.get("error") or snap["state"], color="warning" if snap["state"] == "cancelled" else "danger"
    )
    return 0, "", False, snap["state"].capitalize() + ".", message, True, False, True, history


@callback(
    Output(CANCEL_NOTE, "children"),
    Input(CANCEL, "n_clicks"),
    State(JOB, "data"),
    prevent_initial_call=True,
)
def _cancel(clicks: int, job_id: str | None) -> str:
    if not clicks or not job_id:
        raise PreventUpdate
    svc = packs_web.service()
    job = svc.get(job_id)
    if job is None or job.owner != viewer().username:
        raise PreventUpdate
    return "Cancelling…" if svc.cancel(job_id) else "The pack had already finished."


@callback(
    Output(ids.FILTERS_PATCH, "data", allow_duplicate=True),
    Output(VIEW_SCHEDULE, "children"),
    Input(VIEW, "value"),
    prevent_initial_call=True,
)
def _choose_view(view_id: str | None) -> tuple[Any, Any]:
    """A saved view chosen: the page's filters become it, and the line that schedules its pack."""
    if not view_id:
        raise PreventUpdate
    try:
        view = saved_views.get(state().db, str(view_id), viewer().username)
    except saved_views.SavedViewError as exc:
        return no_update, html.Span(str(exc), className="text-danger")
    fields = view.filters.to_store()
    schedule = f"weekly@06:00 view={view.id} formats=pdf,csv to=you@example.com"
    how = html.Div(
        [
            html.P(f"The filters are now those of “{view.name}”; the pack above holds its events.", className="mb-1"),
            html.P(
                [
                    "To have its pack built every week (daily, monthly) and e-mailed, an administrator adds ",
                    html.Code(schedule, id="report-view-line"),
                    " to AUDITDASH_PACK_SCHEDULES (docs/packs.md). The schedule reads the view when it runs: "
                    "change the view and the next packs follow.",
                ],
                className="mb-0 text-body-secondary",
            ),
        ]
    )
    return filterbar.patch(**fields), how
