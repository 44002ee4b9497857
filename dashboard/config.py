"""Every setting of auditdash: its default and the environment variable that sets it.

`SETTINGS` is the one list; `docs/configuration.md` documents each entry and a test checks
that the two agree. Command-line options override the environment for a single run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DB = Path("data/auditdash.duckdb")


@dataclass(frozen=True)
class Setting:
    """One configurable value."""

    name: str
    env: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("db_path", "AUDITDASH_DB", DEFAULT_DB, "The DuckDB database file."),
    Setting("host", "AUDITDASH_HOST", "127.0.0.1", "Address the server binds to."),
    Setting("port", "AUDITDASH_PORT", 8050, "Port the server listens on."),
    Setting("threads", "AUDITDASH_THREADS", 8, "Worker threads of the web server."),
    Setting(
        "geo_dir",
        "AUDITDASH_GEO_DIR",
        Path("data/geo"),
        "Folder with the DB-IP Lite city database (installed by make).",
    ),
    Setting(
        "geoip_mmdb",
        "AUDITDASH_GEOIP_MMDB",
        None,
        "A GeoLite2/GeoIP2 City .mmdb file to use instead of DB-IP.",
    ),
    Setting(
        "max_body_bytes",
        "AUDITDASH_MAX_BODY_BYTES",
        16 * 1024 * 1024,
        "Largest request body the ingest API accepts (413 past it).",
    ),
    Setting("batch_size", "AUDITDASH_BATCH_SIZE", 100_000, "Records per ingest batch (bounds memory)."),
    Setting("demo_events", "AUDITDASH_DEMO_EVENTS", 500_000, "Size of the demo data set seeded on first start."),
)


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one process."""

    db_path: Path = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = 8050
    threads: int = 8
    geo_dir: Path = Path("data/geo")
    geoip_mmdb: Path | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    batch_size: int = 100_000
    demo_events: int = 500_000

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given values replaced (None means: keep)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def _convert(setting: Setting, raw: str) -> Any:
    default = setting.default
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.env}={raw!r} is not a whole number") from exc
    if isinstance(default, Path) or setting.name.endswith(("_path", "_dir", "_mmdb")):
        return Path(raw) if raw else None
    return raw


def load(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings from the environment (defaults where unset)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    for setting in SETTINGS:
        assert setting.name in known, setting.name
        if setting.env in env and env[setting.env] != "":
            values[setting.name] = _convert(setting, env[setting.env])
    return Settings(**values)
