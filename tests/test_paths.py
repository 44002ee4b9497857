"""Paths do not depend on the folder a command runs in; what is missing is said loudly.

A relative default is under the home folder (the project folder unless AUDITDASH_HOME says
otherwise); a relative path the user gives is taken from the folder they started in. `auditdash
ingest` run from elsewhere still places addresses at city level, and warns on stderr when it
cannot; a pack built with the default relative reports folder downloads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import flask
import pytest
import sqlalchemy as sa

from dashboard import config
from dashboard.access.users import Actor, create_user
from dashboard.filters import Filters
from dashboard.packs.model import PackRequest
from dashboard.store.db import Database
from dashboard.store.schema import events
from dashboard.web.packs import SERVICE_KEY, download_url
from tests.conftest import GEO_DIR, ROOT, event, run_cli, sign_in

PASSWORD = "paths-test-password"


# -- the settings -----------------------------------------------------------------------------------
def test_relative_defaults_are_under_the_project_folder_wherever_the_process_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = config.load({})
    assert config.PROJECT_ROOT == ROOT
    assert settings.db_path == ROOT / "data" / "auditdash.duckdb" == config.DEFAULT_DB == settings.default_db
    assert settings.geo_dir == ROOT / "data" / "geo"
    assert settings.reports_dir == ROOT / "reports"
    home = config.load({"AUDITDASH_HOME": str(tmp_path / "home")})
    assert home.db_path == tmp_path / "home" / "data" / "auditdash.duckdb" == home.default_db
    assert home.reports_dir == tmp_path / "home" / "reports"


def test_every_relative_path_a_user_gives_is_taken_from_the_folder_they_started_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path_settings = [s for s in config.SETTINGS if s.name in config.PATH_FIELDS]
    assert {"db_path", "geo_dir", "reports_dir", "archive_dir", "checkpoint_key_path", "rules_path"} <= {
        s.name for s in path_settings
    }
    loaded = config.load({s.env: f"given/{s.name}" for s in path_settings})
    for s in path_settings:
        assert getattr(loaded, s.name) == tmp_path / "given" / s.name, s.env
    # the command line's --db, and a schedules file named in the environment, likewise
    assert loaded.with_overrides(db_path=Path("mine.duckdb")).db_path == tmp_path / "mine.duckdb"
    (tmp_path / "packs.yaml").write_text("schedules: []\n")
    assert config.load({"AUDITDASH_PACK_SCHEDULES": "packs.yaml"}).pack_schedules == str(tmp_path / "packs.yaml")
    assert config.load({"AUDITDASH_PACK_SCHEDULES": "daily@06:00"}).pack_schedules == "daily@06:00"
    # settings made in code hold no relative path either
    made = config.Settings(db_path=Path("x.duckdb"))
    assert all(getattr(made, n) is None or Path(getattr(made, n)).is_absolute() for n in config.PATH_FIELDS)


# -- ingest from another folder ------------------------------------------------------------------------
def _events_file(folder: Path) -> Path:
    path = folder / "events.ndjson"
    docs = [event(id="far-1", ip="8.8.8.8"), event(id="far-2", ip="1.1.1.1", occurred_at="2026-05-01T10:00:00Z")]
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    return path


def _places(db_path: Path) -> list[tuple[Any, ...]]:
    with Database(db_path, read_only=True) as db, db.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.event_id, events.c.geo_country, events.c.geo_city).order_by(events.c.seq)
        )
        return [tuple(r) for r in rows if str(r[0]).startswith("far-")]


def test_ingest_from_another_folder_places_addresses_at_city_level(tmp_path: Path) -> None:
    if not any((ROOT / "data" / "geo").glob("dbip-city-*.mmdb")):
        pytest.skip("the city database is not installed in data/geo (make geo)")
    somewhere = tmp_path / "somewhere"
    somewhere.mkdir()
    _events_file(somewhere)
    # the default geolocation folder (no AUDITDASH_GEO_DIR), a database named relative to here
    done = run_cli("ingest", "events.ndjson", "--db", "store.duckdb", cwd=somewhere, env={"AUDITDASH_GEO_DIR": ""})
    assert "WARNING" not in done.stderr, done.stderr
    assert (somewhere / "store.duckdb").is_file()
    places = _places(somewhere / "store.duckdb")
    assert len(places) == 2
    assert all(country and city for _, country, city in places), places


def test_ingest_without_a_city_database_warns_loudly(tmp_path: Path) -> None:
    somewhere = tmp_path / "somewhere"
    somewhere.mkdir()
    _events_file(somewhere)
    empty = tmp_path / "no-geo"
    empty.mkdir()
    done = run_cli(
        "ingest", "events.ndjson", "--db", "store.duckdb", cwd=somewhere, env={"AUDITDASH_GEO_DIR": str(empty)}
    )
    warning = [line for line in done.stderr.splitlines() if line.startswith("WARNING:")]
    assert len(warning) == 1, done.stderr
    assert f"no city geolocation database in {empty}" in warning[0]
    assert "impossible-travel detection cannot work" in warning[0] and "make geo" in warning[0]
    assert all(city is None for _, _, city in _places(somewhere / "store.duckdb"))


# -- a pack downloads with the default (relative) reports folder -----------------------------------------
def _login(app: flask.Flask, username: str) -> Any:
    return sign_in(app, username, PASSWORD, layout=False)


@pytest.mark.parametrize("given", ["default", "relative"])
def test_a_pack_downloads_with_a_relative_reports_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    from dashboard.web.app import create_app

    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the server runs in some other folder, as with `make run` from a script
    environ = {"AUDITDASH_HOME": str(home), "AUDITDASH_GEO_DIR": str(GEO_DIR)}
    if given == "relative":
        environ["AUDITDASH_REPORTS_DIR"] = "packs"  # a relative folder the user typed: here, in `elsewhere`
    settings = config.load(environ)
    expected = home / "reports" if given == "default" else elsewhere / "packs"
    assert settings.reports_dir == expected
    db = Database(settings.db_path)
    try:
        create_user(db, "ada", "admin", PASSWORD)
        app = create_app(settings, db)
        client = _login(app.server, "ada")
        service = app.server.extensions[SERVICE_KEY]
        job = service.submit(
            PackRequest(filters=Filters.from_query({"range": "30d"}), formats=("csv",), actor=Actor("ada", "admin"))
        )
        assert job.finished.wait(300), job.state
        assert job.result is not None, job.error
        assert job.result.folder.parent == expected
        for name in job.result.deliverables:
            with client.get(download_url(job.result.pack_id, name)) as reply:
                assert reply.status_code == 200, (name, reply.status_code, reply.get_data(as_text=True)[:300])
                assert reply.get_data() == (expected / job.result.pack_id / name).read_bytes()
        service.stop()
    finally:
        db.close()
