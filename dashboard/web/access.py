"""Who is looking: the viewer of the current request and what their role may see.

Pages and callbacks ask `viewer()` and pass `viewer().masked` down to queries and figures, so
masking is decided on the server. The login layer (dashboard/web/auth.py) sets the viewer of
each request; without it (tests of pure functions) `viewer()` is an administrator.
"""

from __future__ import annotations

from dataclasses import dataclass

import flask

from dashboard.roles import ADMIN, AUDITORS, MASKED, READERS, ROLES

__all__ = ["ROLES", "SYSTEM_VIEWER", "VIEWER_KEY", "Viewer", "viewer"]

VIEWER_KEY = "auditdash_viewer"


@dataclass(frozen=True)
class Viewer:
    """The person (or kiosk) behind a request."""

    username: str
    role: str

    @property
    def masked(self) -> bool:
        """Whether IP addresses and names reach this viewer masked."""
        return self.role in MASKED

    @property
    def raw_json_allowed(self) -> bool:
        """Whether this viewer may see an event's raw JSON."""
        return self.role in AUDITORS

    @property
    def can_export(self) -> bool:
        """Whether this viewer may download packs and exports."""
        return self.role in READERS

    @property
    def is_admin(self) -> bool:
        """Whether this viewer administers users, tokens, retention, rules and settings."""
        return self.role == ADMIN


SYSTEM_VIEWER = Viewer(username="system", role=ADMIN)


def viewer() -> Viewer:
    """The viewer of the current request (set by the login layer)."""
    if flask.has_request_context():
        found = flask.g.get(VIEWER_KEY)
        if isinstance(found, Viewer):
            return found
    return SYSTEM_VIEWER
