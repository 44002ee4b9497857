"""Build the Dash app: shell layout, pages, the HTTP API, shared state.

`create_app` wires one `Database` (owned by this process), one geolocator and one ingestor
into Flask's extensions; pages and callbacks reach them with `state()`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dash

from dashboard.config import Settings
from dashboard.detect.service import install_detection
from dashboard.ingest.chatwoot_api import install_chatwoot
from dashboard.ingest.geo import default_locator
from dashboard.ingest.pipeline import Ingestor
from dashboard.jobs import Scheduler
from dashboard.packs.web import install_packs
from dashboard.store.db import Database
from dashboard.store.retention import install_retention
from dashboard.web.account import install_account
from dashboard.web.api import api
from dashboard.web.auth import install_auth
from dashboard.web.layout import install_shell, shell
from dashboard.web.state import EXTENSION_KEY, AppState

Installer = Callable[[dash.Dash, AppState], None]

#: capabilities wired into every app (login first, so every page is born behind it).
INSTALLERS: list[Installer] = [install_auth, install_account, install_detection, install_shell]
INSTALLERS.append(install_retention)  # scheduled purge, checkpoints, verification
INSTALLERS.append(install_packs)  # compliance packs: job queue, schedules, downloads
INSTALLERS.append(install_chatwoot)  # the Chatwoot connector's scheduled pulls, when configured

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR.parent.parent / "assets"


def create_app(settings: Settings, db: Database | None = None) -> dash.Dash:
    """Create the dashboard app serving `settings.db_path` (or the given open database)."""
    database = db or Database(settings.db_path)
    geo = default_locator(settings.geo_dir, settings.geoip_mmdb)
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(PACKAGE_DIR / "pages"),
        assets_folder=str(ASSETS_DIR),
        # Bootstrap's CSS is served from assets/vendor (no CDN: the machines have no internet).
        suppress_callback_exceptions=True,
        title="auditdash",
        update_title=None,  # type: ignore[arg-type]  # Dash documents None: keep the page title
    )
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    state = AppState(
        settings=settings,
        db=database,
        geo=geo,
        ingestor=Ingestor(database, geo, settings.batch_size, archive_dir=settings.archive_dir),
        scheduler=Scheduler(),
    )
    server.extensions[EXTENSION_KEY] = state
    server.register_blueprint(api)
    # Each capability installs its routes, request hooks, listeners and jobs here, in order.
    for install in INSTALLERS:
        install(app, state)
    app.layout = shell
    return app
