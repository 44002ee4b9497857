"""Pages with their own controls do not show the sidebar's filters they would ignore.

Alerts, Review and Streams choose what they show with their own controls; the shell hides the
filter sidebar and the view's summary there (a page registered with `filters=False`), so a page
never says "Showing ... users 1013" over rows it did not filter. The app runs in-process over a
small demo database; the shell is read as the browser gets it (`/_dash-layout`).
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Iterator
from typing import Any

import dash
import flask
import pytest

from dashboard.access.users import create_user
from dashboard.config import Settings
from dashboard.store.db import Database
from dashboard.web import layout
from tests.conftest import GEO_DIR, cli, sign_in

PASSWORD = "shell-nofilters-password"


def _login(flask_app: flask.Flask, username: str) -> Any:
    return sign_in(flask_app, username, PASSWORD, layout=False)


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    db_path = tmp_path_factory.mktemp("nofilters") / "a.duckdb"
    cli("demo", "--days", "7", "--events", "2000", "--db", str(db_path))
    db = Database(db_path)
    create_user(db, "ada", "admin", PASSWORD)
    from dashboard.web.app import create_app

    app = create_app(Settings(db_path=db_path, geo_dir=GEO_DIR), db)
    try:
        reply = _login(app.server, "ada").get("/_dash-layout")
        assert reply.status_code == 200, reply.get_data(as_text=True)
        yield json.loads(reply.get_data(as_text=True))
    finally:
        db.close()


def _store(tree: Any, store_id: str) -> Any:
    if isinstance(tree, dict):
        props = tree.get("props", {})
        if props.get("id") == store_id:
            return props.get("data")
        for value in props.values():
            found = _store(value, store_id)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for item in tree:
            found = _store(item, store_id)
            if found is not None:
                return found
    return None


def test_the_shell_hides_the_sidebar_on_pages_with_their_own_controls(shell: dict[str, Any]) -> None:
    hidden = _store(shell, layout.NOFILTER_PATHS_STORE)
    assert hidden is not None, "the shell carries no list of pages without the sidebar"
    assert {"/review", "/streams"} <= set(hidden)
    # the Alerts page follows the sidebar (saying which of its filters alerts cannot take)
    assert not {"/", "/security", "/explorer", "/report", "/alerts"} & set(hidden), hidden


def test_a_page_without_the_sidebar_reads_no_filters(shell: dict[str, Any]) -> None:
    """A page that hides the sidebar must not quietly apply the filters the user can no longer see."""
    for page in dash.page_registry.values():
        if page.get("filters") is not False:
            continue
        source = inspect.getsource(sys.modules[page["module"]])
        assert f'path="{page["path"]}"' in source, page["module"]  # the page's own module, not a wrapper
        assert "ids.FILTERS" not in source and "ids.TZ" not in source, page["path"]
