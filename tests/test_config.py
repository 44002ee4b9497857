"""Settings: every one is documented, and the environment is read as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import config
from tests.conftest import ROOT


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for setting in config.SETTINGS:
        assert f"`{setting.env}`" in doc, f"{setting.env} is missing from docs/configuration.md"


def test_every_setting_has_a_field() -> None:
    names = {f for f in config.Settings.__dataclass_fields__}
    for setting in config.SETTINGS:
        assert setting.name in names


def test_environment_overrides_defaults() -> None:
    settings = config.load({"AUDITDASH_DB": "/tmp/x.duckdb", "AUDITDASH_PORT": "9001"})
    assert settings.db_path == Path("/tmp/x.duckdb")
    assert settings.port == 9001
    assert config.load({}).db_path == config.DEFAULT_DB


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(config.ConfigError, match="AUDITDASH_PORT='eighty' is not a whole number"):
        config.load({"AUDITDASH_PORT": "eighty"})
