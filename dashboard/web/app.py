"""Build the Dash app: shell layout, pages, the HTTP API, shared state.

`create_app` wires one `Database` (owned by this process), one geolocator and one ingestor
into Flask's extensions; pages and callbacks reach them with `state()`. A storage fault
(dashboard.store.faults) raised by a callback is shown in the status strip above the page, by
the API as JSON 507/503, and by any other route as a plain 503 page that says what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import flask

from dashboard.config import Settings
from dashboard.ingest.geo import default_locator
from dashboard.ingest.pipeline import Ingestor
from dashboard.roles import WALL
from dashboard.store.db import Database
from dashboard.store.faults import classify
from dashboard.web import auth_rules
from dashboard.web.account import install_account
from dashboard.web.api import api
from dashboard.web.auth import install_auth
from dashboard.web.layout import callback_error, install_shell, shell
from dashboard.web.packs import install_packs
from dashboard.web.scheduler import Scheduler
from dashboard.web.services import install_chatwoot, install_detection, install_retention, install_streams
from dashboard.web.shell_nav import shell_nav
from dashboard.web.sso import install_sso
from dashboard.web.state import EXTENSION_KEY, AppState

Installer = Callable[[dash.Dash, AppState], None]

#: capabilities wired into every app (login first, so every page is born behind it).
INSTALLERS: list[Installer] = [install_auth, install_account, install_detection, install_shell]
INSTALLERS.append(install_retention)  # scheduled purge, checkpoints, verification
INSTALLERS.append(install_packs)  # compliance packs: job queue, schedules, downloads
INSTALLERS.append(install_chatwoot)  # the Chatwoot connector's scheduled pulls, when configured
INSTALLERS.append(install_streams)  # streaming the log out to SIEMs, when configured
INSTALLERS.append(install_sso)  # single sign-on through an OpenID Connect provider, when configured

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR.parent.parent / "assets"
#: the partial plotly.js bundle in assets/vendor/plotly (a file name pattern: Dash's `assets_ignore`)
PLOTLY_BUNDLE = r"^plotly-auditdash\.min\.js$"


def _storage_fault_page(exc: Exception) -> Any:
    """Any route outside the API: a storage fault answers 503 with its explanation, not a bare 500."""
    from werkzeug.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        return exc
    database = flask.current_app.extensions[EXTENSION_KEY].db
    fault = classify(exc, database.path)
    if fault is None:
        raise exc
    flask.current_app.logger.error("%s %s: %s", flask.request.method, flask.request.path, fault.message)
    if flask.request.path.startswith(("/_dash", "/api/")) or flask.request.accept_mimetypes.best == "application/json":
        response = flask.jsonify(fault.to_json())
    else:
        response = flask.make_response(f"The store cannot be read or written: {fault.message}\n")
        response.mimetype = "text/plain"
    response.status_code = fault.http_status
    return response


def _http_error_page(exc: Any) -> Any:
    """A 403 or 404 of a route outside the API and Dash's endpoints (a download, say): a page in
    words under the app's navigation, not the framework's bare text."""
    req = flask.request
    if req.path.startswith(("/api/", "/_")) or req.method not in ("GET", "HEAD"):
        return exc
    from dashboard.web import auth, auth_pages

    current = auth.load_current_session()
    nav = None
    if current is not None and current.role != WALL:
        nav = shell_nav(current.username, current.role, current.csrf_token)
    path = req.path if len(req.path) <= 120 else req.path[:120] + "…"
    if exc.code == 404:
        message = f"There is nothing at {path}: the link may be mistyped, or what it named was removed."
    else:
        role = f" ({current.role})" if current is not None else ""
        message = (
            f"Your role{role} may not open {path}. If you need it for your work, ask an administrator of auditdash."
        )
    return auth.html_response(auth_pages.refusal_page(exc.code, message, nav), exc.code)


def create_app(settings: Settings, db: Database | None = None) -> dash.Dash:
    """Create the dashboard app serving `settings.db_path` (or the given open database)."""
    database = db or Database(settings.db_target)
    geo = default_locator(settings.geo_dir, settings.geoip_mmdb)
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(PACKAGE_DIR / "pages"),
        assets_folder=str(ASSETS_DIR),
        # plotly.js's partial bundle is loaded by assets/plotly-loader.js when a chart needs it
        assets_ignore=PLOTLY_BUNDLE,
        # Bootstrap's CSS is served from assets/vendor (no CDN: the machines have no internet).
        suppress_callback_exceptions=True,
        # the link's fragment reaches the layouts (the Explorer's order and open event: its first
        # listing is drawn with the page); a State, so a fragment that changes alone builds nothing
        routing_callback_inputs={auth_rules.ROUTE_FRAGMENT: dash.State(auth_rules.PAGES_LOCATION_ID, "hash")},
        title="auditdash",
        update_title=None,  # type: ignore[arg-type]  # Dash documents None: keep the page title
        on_error=callback_error,  # a full disk or a damaged file is said in the status strip, not a broken page
    )
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    state = AppState(
        settings=settings,
        db=database,
        geo=geo,
        ingestor=Ingestor(database, geo, settings.batch_size, archive_dir=settings.archive_dir),
        scheduler=Scheduler(database.jobs_leader()),
    )
    server.extensions[EXTENSION_KEY] = state
    database.add_user("scheduled jobs", state.scheduler.stop)  # closing the database stops them first
    server.register_blueprint(api)
    server.register_error_handler(Exception, _storage_fault_page)
    server.register_error_handler(403, _http_error_page)
    server.register_error_handler(404, _http_error_page)
    # Each capability installs its routes, request hooks, listeners and jobs here, in order.
    for install in INSTALLERS:
        install(app, state)
    app.layout = shell
    return app
