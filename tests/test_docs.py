"""The documents promise what the code does."""

from __future__ import annotations

import re

import yaml

from dashboard.config import Settings
from dashboard.store.db import Database
from dashboard.web.app import create_app
from tests.conftest import GEO_DIR, ROOT


def test_openapi_document_covers_every_api_route(tmp_path) -> None:
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert spec["openapi"].startswith("3.")
    documented = set(spec["paths"])
    db = Database(tmp_path / "d.duckdb")
    try:
        app = create_app(Settings(db_path=db.path, geo_dir=GEO_DIR), db)
        routes = {r.rule for r in app.server.url_map.iter_rules() if r.rule.startswith(("/api/", "/healthz"))}
    finally:
        db.close()
    assert routes <= documented, routes - documented


def test_readme_gives_the_two_commands_first() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(make \w+)$", readme, flags=re.MULTILINE)
    assert commands[:2] == ["make run", "make test"]
