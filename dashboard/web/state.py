"""What the running web app shares between requests: settings, database, geolocation.

One `AppState` per app, kept in Flask's `app.extensions`; callbacks and routes reach it
through `state()` inside a request, so page modules hold no globals.
"""

from __future__ import annotations

from dataclasses import dataclass

import flask

from dashboard.config import Settings
from dashboard.ingest.geo import GeoLocator
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from dashboard.web.scheduler import Scheduler

EXTENSION_KEY = "auditdash"


@dataclass
class AppState:
    """The shared objects of one running app."""

    settings: Settings
    db: Database
    geo: GeoLocator
    ingestor: Ingestor
    scheduler: Scheduler


def state() -> AppState:
    """The state of the app serving the current request."""
    found: AppState = flask.current_app.extensions[EXTENSION_KEY]
    return found
