"""Settings: every one is documented, and the environment is read as documented."""

from __future__ import annotations

import re
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


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"AUDITDASH_BATCH_SIZE": "-1"}, "AUDITDASH_BATCH_SIZE=-1 is out of range: use a whole number 1 or more"),
        (
            {"AUDITDASH_SMTP_PORT": "70000"},
            "AUDITDASH_SMTP_PORT=70000 is out of range: use a whole number from 1 to 65535",
        ),
        ({"AUDITDASH_THREADS": "0"}, "AUDITDASH_THREADS=0 is out of range"),
        ({"AUDITDASH_HOT_DAYS": "-5"}, "AUDITDASH_HOT_DAYS=-5 is out of range"),
    ],
)
def test_whole_numbers_out_of_range_are_refused_by_name(env: dict[str, str], said: str) -> None:
    with pytest.raises(config.ConfigError, match=re.escape(said)):
        config.load(env)


def test_zero_turns_off_what_says_so() -> None:
    settings = config.load(
        {"AUDITDASH_DETECT_INTERVAL_S": "0", "AUDITDASH_SILENCE_CHECK_S": "0", "AUDITDASH_PROXY_COUNT": "0"}
    )
    assert (settings.detect_interval_s, settings.silence_check_s, settings.proxy_count) == (0, 0, 0)
