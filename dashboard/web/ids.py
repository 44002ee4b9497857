"""Component ids shared by the shell and the pages: each id string is typed here and nowhere else.

The contract every page builds on (Overview, Security, Explorer, Wall, and later pages):

``URL`` (``"url"``)
    The one ``dcc.Location(refresh=False)`` of the shell. Read ``pathname`` / ``search``; never
    write ``search`` from a page (write a patch, below), so the URL and the filters cannot drift.

``FILTERS`` (``"filters"``)
    ``dcc.Store(storage_type="memory")`` holding ``Filters.to_store()`` of the current view, with
    the time zone already resolved (the URL's ``tz``, else the browser's zone, or UTC when the
    sidebar's UTC toggle is on). Pages read it with ``Input(FILTERS, "data")`` and
    ``Filters.from_store(data)``. It is ``None`` until the shell has read the URL on first load:
    raise ``PreventUpdate`` then, so nothing is computed twice. The data comes from the browser:
    treat it as untrusted (``Filters.conditions`` only binds parameters; masking is decided on the
    server from ``viewer()``, never from this store).

``FILTERS_PATCH`` (``"filters-patch"``)
    ``dcc.Store`` a page writes to narrow the view (cross-filtering): a dict of ``Filters`` field
    names to their new values, JSON-ready (lists for tuples; ``start``/``end`` as ISO local times
    in the view's zone, with ``"preset": None``), e.g. ``{"users": ["u17"]}`` or
    ``{"preset": None, "start": "2026-11-20T14:00", "end": "2026-11-20T15:00"}``. Build it with
    ``dashboard.web.components.filterbar.patch(...)``. Write it with
    ``Output(FILTERS_PATCH, "data", allow_duplicate=True)`` and ``prevent_initial_call=True``.
    The shell validates it (bad values are dropped with a note, as from a URL), merges it into
    the filters, the URL (a new history entry, so Back undoes it) and the sidebar, then empties
    the store (so the same click works twice).

``TZ`` (``"tz"``)
    ``dcc.Store`` with the browser's IANA time zone, set once by a clientside callback on load.

``SIDEBAR`` (``"sidebar"``), ``SHELL`` (``"shell"``)
    The filter sidebar, hidden (with the navigation bar and the summary) on ``BARE_PATHS``
    (``/wall``, ``/login``) and on pages registered with ``sidebar=False``
    (``dash.register_page(..., sidebar=False)``): those pages get the whole window and the shell
    leaves their URL alone. A ``wall`` session gets the page container only (no store, no shell
    callback). ``FILTER_SUMMARY`` is the line above the page saying, in words, what is filtered.

``XF_VALUE`` (``"xf-value"``)
    A clickable value in a table that narrows the view to itself, handled by the shell for every
    page: ``{"type": XF_VALUE, "field": "users", "value": "u17", "src": "my-table"}`` (all four
    keys, ``src`` unique per table). ``dashboard.web.components.parts.xf_value`` builds one.

Nav links keep the query string, so filters survive moving between pages; Back / Forward and
pasted links update the sidebar and the store from the URL (a change the user made is a new
history entry; tidying a link replaces it).

Page parts any page may use (``dashboard.web.components.parts``): ``page_header`` (breadcrumb
"Audit Logs / <page>", title, one line), ``stat_card``, ``graph_card``, ``table_card``,
``data_table``, ``xf_value``, ``GRAPH_CONFIG`` and ``MAP_CONFIG`` (maps draw from the shipped
topojson).
"""

from __future__ import annotations

# -- the shell (every page) ---------------------------------------------------------------------
URL = "url"
FILTERS = "filters"
FILTERS_PATCH = "filters-patch"
TZ = "tz"
SHELL = "shell"
NAVBAR = "navbar"
SIDEBAR = "sidebar"
FILTER_SUMMARY = "filter-summary"
FILTER_PROBLEMS = "filter-problems"
NAV_LINK = "nav-link"  # pattern-matching: {"type": NAV_LINK, "path": "/security"}
DEMO_BADGE = "demo-badge"

#: pages that take the whole window: no navigation bar, no sidebar.
BARE_PATHS: tuple[str, ...] = ("/wall", "/login")

# -- the sidebar's controls -----------------------------------------------------------------------
F_PRESET = "f-preset"
F_DATES = "f-dates"
F_USERS = "f-users"
F_ROLES = "f-roles"
F_ACTIONS = "f-actions"
F_OUTCOME = "f-outcome"
F_IP = "f-ip"
F_COUNTRIES = "f-countries"
F_ACCOUNTS = "f-accounts"
F_TEXT = "f-text"
F_TZ = "f-tz"
F_UTC = "f-utc"
F_OWN = "f-own"  # "Include auditdash's own activity" (Filters.dashboard_activity, URL own=1)
F_CLEAR = "f-clear"
# saved views (dashboard/web/components/filter_views.py)
F_VIEWS = "f-views"
F_VIEW_NAME = "f-view-name"
F_VIEW_SHARED = "f-view-shared"
F_VIEW_SAVE = "f-view-save"
F_VIEW_SHARE = "f-view-share"
F_VIEW_DELETE = "f-view-delete"
F_VIEW_LINK = "f-view-link"
F_VIEW_STATUS = "f-view-status"
F_VIEW_ABOUT = "f-view-about"

# -- cross-filter sources (pattern-matching ids; one callback per page serves them all) -------------
#: {"type": XF_VALUE, "field": "users", "value": "u17"}: a clickable table value that narrows a field.
XF_VALUE = "xf-value"

# -- Overview ---------------------------------------------------------------------------------------
OV_EVENTS = "fig-events"
OV_FAILED_LOGINS = "fig-failed-logins"
OV_USERS = "fig-users"
OV_IPS = "fig-ips"
OV_ALERTS = "fig-alerts"
OV_TIMELINE = "ov-timeline"
OV_TOP_USERS = "ov-top-users"
OV_TOP_ACTIONS = "ov-top-actions"
OV_CATEGORY_TABLE = "category-table"
OV_ZONE_NOTE = "ov-zone-note"

# -- Security ---------------------------------------------------------------------------------------
SEC_FAILED = "sec-failed"
SEC_LOCKED = "sec-locked"
SEC_FAILING_USERS = "sec-failing-users"
SEC_FAILING_IPS = "sec-failing-ips"
SEC_HEATMAP_WEEK = "sec-heatmap-week"
SEC_HEATMAP_USERS = "sec-heatmap-users"
SEC_REASONS = "sec-reasons"
SEC_MAP = "sec-map"
SEC_MAP_NOTE = "sec-map-note"
SEC_NEW_COUNTRIES = "sec-new-countries"
SEC_TOP_IPS = "sec-top-ips"
SEC_CHANGES = "sec-changes"

# -- Explorer (dashboard/web/pages/explorer.py, dashboard/web/components/detail.py) -------------------
EX_LISTING = "explorer-listing"  # dcc.Store: the Snapshot of the listing (filters, instant, max seq, total)
EX_ANCHORS = "explorer-anchors"  # dcc.Store: first/last seq of the last pages served (keyset paging)
EX_GRID = "explorer-grid"
EX_TOTAL = "explorer-total"
EX_ASOF = "explorer-asof"
EX_RELOAD = "explorer-reload"
EX_PANEL = "explorer-detail"  # the detail panel (an offcanvas)
EX_PANEL_BODY = "explorer-detail-body"
EX_OPEN = "explorer-open"  # pattern-matching: {"type": EX_OPEN, "seq": 123}: opens that event in the panel
EX_ARCHIVE = "explorer-archive"  # dbc.Switch: include archived months (read from their Parquet files)
EX_ARCHIVE_NOTE = "explorer-archive-note"  # which months are archived, or why the switch is off

# -- Wall screen (dashboard/web/pages/wall.py): every id starts with "wall-" (the wall role's rule) ------
WALL_ROOT = "wall-root"
WALL_INTERVAL = "wall-interval"
WALL_CLOCK = "wall-clock"
WALL_RATE = "wall-rate"
WALL_EVENTS = "wall-events"
WALL_FAILED = "wall-failed"
WALL_ALERT_COUNT = "wall-alert-count"
WALL_TIMELINE = "wall-timeline"
WALL_MAP = "wall-map"
WALL_ALERTS = "wall-alerts"
WALL_FAILING = "wall-failing"
WALL_STATUS = "wall-status"
WALL_RATE_NOTE = "wall-rate-note"
WALL_FAILED_NOTE = "wall-failed-note"
WALL_ALERT_NOTE = "wall-alert-note"
EX_GRID_HOLDER = "explorer-grid-holder"
