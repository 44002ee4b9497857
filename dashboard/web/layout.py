"""The shell around every page: navigation, the filter sidebar, the view's summary, the page.

The shell owns the view. Its stores and the URL follow the contract documented in
`dashboard.web.ids`; one server callback (`_sync`, the rules are in
`dashboard.web.components.filterbar.sync`) keeps the URL, the `filters` store and the sidebar in
step (and draws a registered page's change in the same answer, `page_view.draw_into`), and small
clientside callbacks (assets/dashboard.js) write the browser history, read the browser's time
zone and keep the query string on the navigation links.

`/wall` (and any page registered with `sidebar=False`) gets no navigation and no sidebar; a
`wall` session gets the bare page container only, so no shell callback runs for the kiosk.
A page registered with `filters=False` (Review, Streams: their own controls choose what
they show), the pages in `NO_SIDEBAR_PATHS` (Users & tokens, Retention: they show no events), a
refusal and "page not found" get the navigation but no sidebar and no summary, so no page claims a
filter it ignores (the `FILTER_PATHS_STORE` lists, per role, the pages where the sidebar acts).

A path that names no page answers HTTP 404 (the index page, whose router shows "Page not found"
inside the shell, `dashboard.web.not_found_404`). A store without events says, above every page,
how to load them or start with the demo data.

Above every page, for every role (the wall too), the status strip
(`dashboard.web.components.status`) says what is wrong: integrity not verified or failed,
geolocation below city level, a reports folder that cannot be written, a storage fault. When the
store cannot be read at all, the shell is that strip alone.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
import flask
import sqlalchemy as sa
from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html, no_update

from dashboard.filters import OWN_CATEGORY, Filters
from dashboard.roles import WALL
from dashboard.store.db import Database
from dashboard.store.faults import classify
from dashboard.store.schema import events
from dashboard.web import auth_rules, ids, not_found_404
from dashboard.web.access import viewer
from dashboard.web.components import filter_views, filterbar, page_view, status
from dashboard.web.components.parts import attrs
from dashboard.web.state import AppState, state

log = logging.getLogger(__name__)

#: where `install_shell` notes when this app started (the strip's "not yet verified since start").
STARTED_KEY = "auditdash.started_at"

#: the store the server callback writes the wanted URL to ({"search": "?...", "push": bool});
#: a clientside callback applies it to the browser history.
URL_TARGET = "url-target"
BARE_PATHS_STORE = "shell-bare-paths"
#: the paths of pages that do not read the sidebar's filters (registered with `filters=False`).
NOFILTER_PATHS_STORE = "shell-nofilter-paths"
#: the pages, of those the viewer's role may open, where the sidebar acts (it is hidden elsewhere)
FILTER_PATHS_STORE = "shell-filter-paths"
#: pages that show no events, so the sidebar would act on nothing there
NO_SIDEBAR_PATHS: frozenset[str] = frozenset({"/admin", "/retention", not_found_404.PATH})
FIRST_START_HINT = "first-start-hint"
#: the sidebar's values and the dropdowns whose options the shell extends: one table (`filterbar.CONTROLS`).
_CONTROLS = filterbar.CONTROLS
_OPTION_CONTROLS = filterbar.OPTION_CONTROLS


def _demo_badge() -> html.Span | None:
    if state().db.get_meta("demo") == "true":
        return html.Span(
            dbc.Badge("Demo data", color="warning", text_color="dark", className="ms-2", id=ids.DEMO_BADGE),
            title="This database holds generated demo data, not real activity.",
        )
    return None


def _pages_for(role: str) -> list[dict[str, Any]]:
    out = []
    for page in dash.page_registry.values():
        roles = page.get("roles")
        if not page.get("nav", True) or (roles and role not in roles):
            continue
        out.append(page)
    return sorted(out, key=lambda p: p.get("order") or 0)


def bare_paths() -> list[str]:
    """Paths shown without navigation and sidebar: /wall, /login, and pages registered with sidebar=False."""
    paths = set(ids.BARE_PATHS)
    paths.update(str(p["path"]) for p in dash.page_registry.values() if p.get("sidebar") is False)
    return sorted(paths)


def nofilter_paths() -> list[str]:
    """Pages registered with filters=False: their own controls, not the sidebar's, choose what they show.

    The shell hides the sidebar and the view's summary there, so no page claims a filter it ignores.
    """
    return sorted(str(p["path"]) for p in dash.page_registry.values() if p.get("filters") is False)


def filter_paths(role: str) -> list[str]:
    """The pages `role` may open whose content follows the sidebar."""
    registry = list(dash.page_registry.values())
    out = []
    for page in registry:
        path = str(page.get("path"))
        if page.get("filters") is False or page.get("sidebar") is False or path in NO_SIDEBAR_PATHS:
            continue
        if auth_rules.decide_page(role, path, registry).allowed:
            out.append(path)
    return sorted(out)


#: databases known to hold events (a store with events never becomes empty again while served)
_HAS_EVENTS: set[str] = set()


def has_events(db: Database) -> bool:
    """Whether the store holds any event besides auditdash's own activity (one indexed probe)."""
    key = str(db.path)
    if key in _HAS_EVENTS:
        return True
    with db.connect() as conn:
        found = conn.execute(sa.select(sa.literal(1)).where(events.c.category != OWN_CATEGORY).limit(1)).first()
    if found is not None:
        _HAS_EVENTS.add(key)
    return found is not None


def first_start_hint(db: Database) -> dbc.Alert | None:
    """On a store without events: how to load them, or start with the demo data."""
    if has_events(db):
        return None
    where = f"--db {db.shown}"
    return dbc.Alert(
        [
            html.H2("No events yet", className="h6"),
            html.P("This store holds no audit events, so the pages below are empty. To fill it:", className="mb-1"),
            html.Ul(
                [
                    html.Li(
                        [
                            "send events to the API: ",
                            html.Code("POST /api/v1/events"),
                            " with an ingest token (an administrator makes one on Users & tokens), see docs/api.md;",
                        ]
                    ),
                    html.Li(
                        [
                            "or load files through this server: ",
                            html.Code("auditdash ingest FILE... --server URL --token TOKEN"),
                            " (NDJSON, JSON, CSV; --format chatwoot, okta, ocsf or ecs for other formats);",
                        ]
                    ),
                    html.Li(
                        [
                            "or look around with generated demo data: stop the server, run ",
                            html.Code(f"auditdash demo {where}"),
                            " and start it again.",
                        ]
                    ),
                ],
                className="mb-0",
            ),
        ],
        id=FIRST_START_HINT,
        color="info",
        className="small",
    )


def _is_bare(pathname: str | None) -> bool:
    path = pathname or "/"
    return any(path == p or path.startswith(p + "/") for p in bare_paths())


def _started_at() -> datetime | None:
    started: datetime | None = flask.current_app.extensions.get(STARTED_KEY)
    return started


def status_strip(wall: bool = False) -> html.Div:
    """The status strip as it is now (a storage fault reading it is shown in it)."""
    st = state()
    refresh = st.settings.wall_refresh_s if wall else status.REFRESH_S
    try:
        return status.strip(status.notices(st, _started_at()), wall, refresh)
    except Exception as exc:
        fault = classify(exc, st.db.path)
        if fault is None:
            raise
        log.error("status strip: %s", fault.message)
        found = [status.Notice("fault", "danger", f"The store cannot be read or written: {fault.message}")]
        return status.strip(found, wall, refresh)


def shell() -> html.Div:
    """The layout of every page (a function: the demo badge, the lists and the role come from the request)."""
    who = viewer()
    if who.role == WALL:
        return html.Div(
            [status_strip(wall=True), dash.page_container], id=ids.SHELL, className="ad-shell ad-shell--bare"
        )
    try:
        return _full_shell(who)
    except Exception as exc:  # the store cannot be read: say so instead of a broken page
        fault = classify(exc, state().db.path)
        if fault is None:
            raise
        log.error("page shell: %s", fault.message)
        return html.Div(
            [status.strip([status.Notice("fault", "danger", f"The store cannot be read or written: {fault.message}")])],
            id=ids.SHELL,
            className="ad-shell ad-shell--bare",
        )


def _full_shell(who: Any) -> html.Div:
    db = state().db
    choices = filterbar.load_choices(db)
    people = filterbar.user_options(filterbar.actor_directory(db), None, [], who.masked)
    views = filter_views.options_for_viewer()
    links = [
        dbc.NavItem(
            dbc.NavLink(page["name"], href=page["relative_path"], id={"type": ids.NAV_LINK, "path": page["path"]})
        )
        for page in _pages_for(who.role)
    ]
    return html.Div(
        [
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Store(id=ids.FILTERS, storage_type="memory"),
            dcc.Store(id=ids.FILTERS_PATCH, storage_type="memory"),
            dcc.Store(id=ids.TZ, storage_type="memory"),
            dcc.Store(id=URL_TARGET, storage_type="memory"),
            dcc.Store(id=BARE_PATHS_STORE, data=bare_paths()),
            dcc.Store(id=NOFILTER_PATHS_STORE, data=nofilter_paths()),
            dcc.Store(id=FILTER_PATHS_STORE, data=filter_paths(who.role)),
            dbc.Navbar(
                dbc.Container(
                    [
                        dbc.NavbarBrand(
                            [
                                html.Span("auditdash", className="fw-semibold"),
                                html.Span(" · Audit Logs", className="ad-brand-sub"),
                                _demo_badge(),
                            ],
                            href="/",
                        ),
                        dbc.Nav(links, navbar=True, className="ad-nav"),
                    ],
                    fluid=True,
                ),
                color="dark",
                dark=True,
                id=ids.NAVBAR,
                className="ad-navbar",
            ),
            html.Div(
                [
                    filterbar.sidebar(choices, who.masked, people, views),
                    html.Main(
                        [
                            status_strip(),
                            first_start_hint(db),
                            html.Div(id=ids.FILTER_SUMMARY, className="ad-summary", **attrs(aria_live="polite")),
                            html.Div(id=ids.FILTER_PROBLEMS),
                            dash.page_container,
                        ],
                        className="ad-main",
                    ),
                ],
                className="ad-body",
            ),
        ],
        id=ids.SHELL,
        className="ad-shell",
    )


def _sync(*args: Any) -> tuple[Any, ...]:
    """The shell's callback: see `filterbar.sync` for the rules."""
    n = len(_CONTROLS)
    search, browser_tz, patch_data, _clear, _xf = args[:5]
    control_values = args[5 : 5 + n]
    current, pathname, shown, fragment = args[5 + n], args[6 + n], args[7 + n], args[8 + n]
    if _is_bare(pathname):
        raise dash.exceptions.PreventUpdate  # the wall and the like keep their own view
    raw_trigger = dash.ctx.triggered_id
    trigger: Any = raw_trigger
    if isinstance(raw_trigger, dict):
        clicked = [t for t in dash.ctx.triggered if t.get("value")]
        if not clicked:  # value buttons appearing with a new page, not clicked
            raise dash.exceptions.PreventUpdate
    elif raw_trigger == ids.F_DATES:
        trigger = ids.F_DATES
    controls = filterbar.Controls.from_values(
        {c.field: value for c, value in zip(_CONTROLS, control_values, strict=True)}
    )
    result = filterbar.sync(
        trigger,
        search=search,
        browser_tz=browser_tz,
        controls=controls,
        current=current,
        patch_data=patch_data,
    )
    f: Filters | None = result.filters
    out_controls: list[Any] = [no_update] * n
    if result.controls is not None:
        for i, c in enumerate(_CONTROLS):
            new = getattr(result.controls, c.field)
            new = list(new) if isinstance(new, tuple) else new
            old = getattr(controls, c.field)
            old = list(old) if isinstance(old, tuple) else old
            out_controls[i] = new if new != old else no_update
    options: list[Any] = [no_update] * len(_OPTION_CONTROLS)
    if result.controls is not None:
        who = viewer()
        db = state().db
        directory = filterbar.actor_directory(db) if result.controls.users != controls.users else None
        changed = filterbar.options_for(controls, result.controls, filterbar.load_choices(db), directory, who.masked)
        options = [changed.get(cid, no_update) for cid in _OPTION_CONTROLS]
    url = {"search": result.search, "push": result.push} if result.search is not None else no_update
    store: Any = no_update
    if f is not None:
        store = filterbar.store_data(f)
        if current is not None:  # a change: the page is drawn in this answer too (its first view came with its layout)
            page_view.draw_into(pathname, f, store, shown or [], fragment)
    problems: Any = no_update
    if result.filters is not None or result.controls is not None:
        problems = (
            dbc.Alert(
                ["Part of this link was not understood and is ignored: ", "; ".join(result.problems), "."],
                color="warning",
                dismissable=True,
                className="py-2 small",
            )
            if result.problems
            else None
        )
    return (
        store,
        url,
        None if result.clear_patch else no_update,
        filterbar.summary(f) if f is not None else no_update,
        problems,
        *out_controls,
        *options,
    )


def _user_options(search: str | None, selected: list[str] | None) -> list[dict[str, str]]:
    if search is None:
        raise dash.exceptions.PreventUpdate
    who = viewer()
    directory = filterbar.actor_directory(state().db)
    return filterbar.user_options(directory, search, selected or [], who.masked)


def _refresh_strip(_n: int | None) -> tuple[Any, Any]:
    """The timer's re-read of the strip (a fault met meanwhile is cleared once the store reads again)."""
    return status.render(status.notices(state(), _started_at())), None


def callback_error(exc: Exception) -> Any:
    """The app's callback error handler: a storage fault is shown in the status strip, in words.

    Anything else is raised again, as without a handler.
    """
    fault = classify(exc, state().db.path)
    if fault is None:
        raise exc
    log.error("callback %s: %s", dash.ctx.triggered_id, fault.message)
    wall = viewer().role == WALL
    dash.set_props(status.WALL_FAULT if wall else status.FAULT, {"children": status.fault_alert(fault.message, wall)})
    return None


def install_shell(app: dash.Dash, _state: AppState) -> None:
    """Register the shell's callbacks (an installer of `create_app`)."""
    app.server.extensions[STARTED_KEY] = datetime.now(UTC).replace(tzinfo=None)
    not_found_404.register()
    app.callback(
        Output(status.STRIP, "children"),
        Output(status.FAULT, "children"),
        Input(status.TICK, "n_intervals"),
        prevent_initial_call=True,
    )(_refresh_strip)
    app.callback(
        Output(ids.FILTERS, "data"),
        Output(URL_TARGET, "data"),
        Output(ids.FILTERS_PATCH, "data"),
        Output(ids.FILTER_SUMMARY, "children"),
        Output(ids.FILTER_PROBLEMS, "children"),
        *(Output(c.id, c.prop) for c in _CONTROLS),
        *(Output(cid, "options") for cid in _OPTION_CONTROLS),
        Input(ids.URL, "search"),
        Input(ids.TZ, "data"),
        Input(ids.FILTERS_PATCH, "data"),
        Input(ids.F_CLEAR, "n_clicks"),
        Input({"type": ids.XF_VALUE, "field": ALL, "value": ALL, "src": ALL}, "n_clicks"),
        *(Input(c.id, c.prop) for c in _CONTROLS),
        State(ids.FILTERS, "data"),
        State(ids.URL, "pathname"),
        State({"type": page_view.SHOWN_TYPE, "page": ALL}, "data"),
        State(ids.URL, "hash"),  # a page's own state in the link (the Explorer's order)
    )(_sync)
    app.callback(
        Output(ids.F_USERS, "options", allow_duplicate=True),
        Input(ids.F_USERS, "search_value"),
        State(ids.F_USERS, "value"),
        prevent_initial_call=True,
    )(_user_options)
    app.clientside_callback(
        ClientsideFunction(namespace="auditdash", function_name="browserZone"),
        Output(ids.TZ, "data"),
        Input(ids.URL, "pathname"),
        State(ids.TZ, "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="auditdash", function_name="writeUrl"),
        Output(ids.URL, "search"),
        Input(URL_TARGET, "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="auditdash", function_name="navLinks"),
        Output({"type": ids.NAV_LINK, "path": ALL}, "href"),
        Output({"type": ids.NAV_LINK, "path": ALL}, "active"),
        Input(ids.URL, "pathname"),
        Input(ids.URL, "search"),
        State({"type": ids.NAV_LINK, "path": ALL}, "id"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="auditdash", function_name="shellClass"),
        Output(ids.SHELL, "className"),
        Input(ids.URL, "pathname"),
        State(BARE_PATHS_STORE, "data"),
        State(NOFILTER_PATHS_STORE, "data"),
        State(FILTER_PATHS_STORE, "data"),
    )
    filter_views.install_views(app)
    app.server.after_request(_not_found_status)


def _not_found_status(response: flask.Response) -> flask.Response:
    """A Dash index page for a path that names no page answers 404 (its router shows the notice)."""
    req = flask.request
    rule = req.url_rule.rule if req.url_rule is not None else None
    if (
        response.status_code == 200
        and req.method in ("GET", "HEAD")
        and rule in auth_rules.DASH_INDEX_RULES
        and not _is_bare(req.path)
        and auth_rules.page_for_path(req.path, dash.page_registry.values()) in (None, not_found_404.page())
    ):
        response.status_code = 404
    return response
