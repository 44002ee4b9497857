"""The conditions on `events` that the figures count, written once for every query.

Overview, Security, the wall, the compliance packs and the daily review all count failed logins
and lockouts with these, so they count the same events (definitions in
`dashboard.events.taxonomy` and docs/events.md, "Failed logins and lockouts").
"""

from __future__ import annotations

import sqlalchemy as sa

from dashboard.events.taxonomy import FAILED_LOGIN_ACTIONS, FAILED_LOGIN_OUTCOME, LOCKOUT_ACTIONS
from dashboard.store.schema import events

E = events.c


def failed_login() -> sa.ColumnElement[bool]:
    """A failed login: one of `FAILED_LOGIN_ACTIONS` with outcome `failure`."""
    return sa.and_(E.action.in_(FAILED_LOGIN_ACTIONS), E.outcome == FAILED_LOGIN_OUTCOME)


def lockout() -> sa.ColumnElement[bool]:
    """A lockout: one of `LOCKOUT_ACTIONS`, whatever its outcome."""
    return E.action.in_(LOCKOUT_ACTIONS)
