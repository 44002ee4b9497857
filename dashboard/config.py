"""Every setting of auditdash: its default and the environment variable that sets it.

`SETTINGS` is the one list; `docs/configuration.md` documents each entry and a test checks
that the two agree. Command-line options override the environment for a single run.

Paths never depend on the folder a command happens to run in: every path setting is made
absolute once, here. A relative default (`data/auditdash.duckdb`, `data/geo`, `reports`) is under
`AUDITDASH_HOME`, by default the project folder auditdash runs from (`PROJECT_ROOT`); a relative
path given in the environment or on the command line is taken from the folder the process was
started in. Paths derived from the database (archive, keys, checkpoints) follow the database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

#: the project folder: the checkout holding the `dashboard` package, `data/geo` and `reports`.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: the database file when none is configured, relative to `AUDITDASH_HOME`.
DEFAULT_DB_NAME = Path("data/auditdash.duckdb")
#: the default database file with the default home.
DEFAULT_DB = PROJECT_ROOT / DEFAULT_DB_NAME


@dataclass(frozen=True)
class Setting:
    """One configurable value."""

    name: str
    env: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "home",
        "AUDITDASH_HOME",
        None,
        "Folder the relative defaults are under (unset: the project folder auditdash runs from).",
    ),
    Setting(
        "db_path",
        "AUDITDASH_DB",
        DEFAULT_DB_NAME,
        "The DuckDB database file, or a `postgresql+psycopg://` URL (docs/scaling.md).",
    ),
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
    Setting("batch_size", "AUDITDASH_BATCH_SIZE", 122_880, "Records per ingest batch (bounds memory)."),
    Setting(
        "quarantine_max_records",
        "AUDITDASH_QUARANTINE_MAX_RECORDS",
        10_000,
        "Rejected records kept in full per file or request; the rest are counted in one summary record.",
    ),
    Setting("demo_events", "AUDITDASH_DEMO_EVENTS", 500_000, "Size of the demo data set seeded on first start."),
    Setting("wall_refresh_s", "AUDITDASH_WALL_REFRESH_S", 30, "Seconds between refreshes of the /wall screen."),
    # -- login and sessions (docs/security.md) --
    Setting(
        "secret_key",
        "AUDITDASH_SECRET_KEY",
        None,
        "Key that signs session cookies (unset: generated once into <db>.secret, mode 0600).",
    ),
    Setting("session_idle_timeout_s", "AUDITDASH_SESSION_IDLE_TIMEOUT_S", 1800, "Idle time that ends a session."),
    Setting("session_max_age_s", "AUDITDASH_SESSION_MAX_AGE_S", 43_200, "Longest a session lasts (absolute)."),
    Setting(
        "wall_session_max_age_s",
        "AUDITDASH_WALL_SESSION_MAX_AGE_S",
        30 * 86_400,
        "Longest a `wall` (kiosk) session lasts; it has no idle timeout.",
    ),
    Setting("login_max_failures", "AUDITDASH_LOGIN_MAX_FAILURES", 5, "Failed logins that lock a user name."),
    Setting(
        "login_max_failures_per_address",
        "AUDITDASH_LOGIN_MAX_FAILURES_PER_ADDRESS",
        20,
        "Failed logins that lock a client address.",
    ),
    Setting("login_lockout_s", "AUDITDASH_LOGIN_LOCKOUT_S", 900, "How long a lockout lasts."),
    Setting("login_delay_s", "AUDITDASH_LOGIN_DELAY_S", 1, "Base of the progressive delay between failed logins."),
    Setting(
        "password_hash_memory_kib",
        "AUDITDASH_PASSWORD_HASH_MEMORY_KIB",
        65536,
        "Memory of one argon2id password hash, in KiB (never below OWASP's minimum: docs/security.md).",
    ),
    Setting("password_hash_time_cost", "AUDITDASH_PASSWORD_HASH_TIME_COST", 3, "Passes of one argon2id password hash."),
    Setting(
        "password_hash_parallelism", "AUDITDASH_PASSWORD_HASH_PARALLELISM", 4, "Lanes of one argon2id password hash."
    ),
    Setting("frame_ancestors", "AUDITDASH_FRAME_ANCESTORS", "", "Origins allowed to frame the dashboard (none)."),
    Setting("proxy_count", "AUDITDASH_PROXY_COUNT", 0, "Reverse proxies in front whose X-Forwarded-* to trust."),
    # -- single sign-on with OpenID Connect (docs/security.md) --
    Setting(
        "oidc_issuer",
        "AUDITDASH_OIDC_ISSUER",
        None,
        "Issuer URL of the OpenID Connect provider (unset: no single sign-on).",
    ),
    Setting("oidc_client_id", "AUDITDASH_OIDC_CLIENT_ID", None, "Client id of auditdash at the provider."),
    Setting("oidc_client_secret", "AUDITDASH_OIDC_CLIENT_SECRET", None, "Client secret (never logged)."),
    Setting(
        "oidc_client_secret_path",
        "AUDITDASH_OIDC_CLIENT_SECRET_FILE",
        None,
        "File holding the client secret instead.",
    ),
    Setting("oidc_provider_name", "AUDITDASH_OIDC_PROVIDER_NAME", "single sign-on", "Name on the sign-in button."),
    Setting(
        "oidc_redirect_uri",
        "AUDITDASH_OIDC_REDIRECT_URI",
        "",
        "Callback registered at the provider (unset: <this server>/login/sso/callback).",
    ),
    Setting("oidc_scopes", "AUDITDASH_OIDC_SCOPES", "openid email profile", "Scopes asked for."),
    Setting(
        "oidc_username_claim",
        "AUDITDASH_OIDC_USERNAME_CLAIM",
        "preferred_username,email",
        "Claims that name the user; the first present is used.",
    ),
    Setting("oidc_role_claim", "AUDITDASH_OIDC_ROLE_CLAIM", "groups", "Claim whose values are mapped to roles."),
    Setting(
        "oidc_role_map",
        "AUDITDASH_OIDC_ROLE_MAP",
        "",
        "Group to role: `group=role; group=role` or a JSON object (unmapped people are refused).",
    ),
    Setting("oidc_access_contact", "AUDITDASH_OIDC_ACCESS_CONTACT", "", "Whom a refused person should ask."),
    Setting("oidc_timeout_s", "AUDITDASH_OIDC_TIMEOUT_S", 10, "Seconds to wait for the provider's answers."),
    Setting(
        "local_login",
        "AUDITDASH_LOCAL_LOGIN",
        True,
        "Whether local passwords sign in (false: only break_glass_user may).",
    ),
    Setting(
        "break_glass_user",
        "AUDITDASH_BREAK_GLASS_USER",
        "admin",
        "Local administrator who may sign in with a password when local_login is false.",
    ),
    # -- retention, archive and integrity (docs/integrity.md) --
    Setting(
        "retention_profile",
        "AUDITDASH_RETENTION_PROFILE",
        "standard",
        "`standard` (hot_days, archive_months) or `pci`: 92 days hot, 12 months in total.",
    ),
    Setting("hot_days", "AUDITDASH_HOT_DAYS", 90, "Days events stay in the hot store before they are archived."),
    Setting("archive_months", "AUDITDASH_ARCHIVE_MONTHS", 12, "Months archived events are kept after that."),
    Setting("archive_dir", "AUDITDASH_ARCHIVE_DIR", None, "Archive folder (unset: archive/ beside the database)."),
    Setting(
        "checkpoint_signing",
        "AUDITDASH_CHECKPOINT_SIGNING",
        "ed25519",
        "How checkpoints are signed: ed25519 (verifiable with the public key alone) or hmac-sha256.",
    ),
    Setting(
        "checkpoint_signing_key_path",
        "AUDITDASH_CHECKPOINT_SIGNING_KEY_FILE",
        None,
        "Ed25519 private key that signs checkpoints (unset: <db>.checkpoint.ed25519, generated once, mode 0600).",
    ),
    Setting(
        "checkpoint_public_key_path",
        "AUDITDASH_CHECKPOINT_PUBLIC_KEY_FILE",
        None,
        "Ed25519 public key that verifies checkpoints (unset: <db>.checkpoint.pub, written with the private key).",
    ),
    Setting(
        "checkpoint_key",
        "AUDITDASH_CHECKPOINT_KEY",
        None,
        "HMAC key that signs checkpoints (unset: read from checkpoint_key_path).",
    ),
    Setting(
        "checkpoint_key_path",
        "AUDITDASH_CHECKPOINT_KEY_FILE",
        None,
        "File holding the checkpoint key (unset: <db>.checkpoint.key, generated once, mode 0600).",
    ),
    Setting(
        "checkpoint_path",
        "AUDITDASH_CHECKPOINT_FILE",
        None,
        "Append-only file of signed checkpoints (unset: <db>.checkpoints.jsonl).",
    ),
    Setting("purge_interval_s", "AUDITDASH_PURGE_INTERVAL_S", 21_600, "Seconds between scheduled purges (0: off)."),
    Setting("checkpoint_interval_s", "AUDITDASH_CHECKPOINT_INTERVAL_S", 3_600, "Seconds between checkpoints (0: off)."),
    Setting(
        "verify_interval_s", "AUDITDASH_VERIFY_INTERVAL_S", 86_400, "Seconds between scheduled verifications (0: off)."
    ),
    # -- detection and notifications (docs/detections.md) --
    Setting("rules_path", "AUDITDASH_RULES", None, "Rules file (unset: the shipped dashboard/detect/rules.yaml)."),
    Setting(
        "detect_interval_s", "AUDITDASH_DETECT_INTERVAL_S", 30, "Seconds between catch-up detection runs (0: off)."
    ),
    Setting(
        "silence_check_s", "AUDITDASH_SILENCE_CHECK_S", 300, "Seconds between checks for silent log sources (0: off)."
    ),
    Setting(
        "deadline_check_s",
        "AUDITDASH_DEADLINE_CHECK_S",
        300,
        "Seconds between checks for escalation deadlines passed while no event came (0: off).",
    ),
    Setting(
        "deadline_grace_s",
        "AUDITDASH_DEADLINE_GRACE_S",
        3600,
        "How long after a deadline passes the clock check waits for late events.",
    ),
    Setting("webhook_url", "AUDITDASH_WEBHOOK_URL", None, "Webhook that receives alerts as signed JSON POSTs."),
    Setting("webhook_secret", "AUDITDASH_WEBHOOK_SECRET", None, "HMAC-SHA256 key that signs webhook bodies."),
    Setting("webhook_min_severity", "AUDITDASH_WEBHOOK_MIN_SEVERITY", "medium", "Severity sent by webhook at once."),
    Setting("smtp_host", "AUDITDASH_SMTP_HOST", None, "SMTP server for alert and pack e-mail (unset: no e-mail)."),
    Setting("smtp_port", "AUDITDASH_SMTP_PORT", 25, "SMTP port."),
    Setting("smtp_from", "AUDITDASH_SMTP_FROM", "auditdash@localhost", "Sender address of alert and pack e-mail."),
    Setting("smtp_to", "AUDITDASH_SMTP_TO", None, "Recipients of alert e-mail, comma-separated."),
    Setting("smtp_user", "AUDITDASH_SMTP_USER", None, "SMTP user name (unset: no login)."),
    Setting("smtp_password", "AUDITDASH_SMTP_PASSWORD", None, "SMTP password."),
    Setting("smtp_starttls", "AUDITDASH_SMTP_STARTTLS", False, "Use STARTTLS with the SMTP server."),
    Setting("email_min_severity", "AUDITDASH_EMAIL_MIN_SEVERITY", "high", "Severity e-mailed at once."),
    Setting("digest_min_severity", "AUDITDASH_DIGEST_MIN_SEVERITY", "low", "Lowest severity that goes in digests."),
    Setting("digest_interval_s", "AUDITDASH_DIGEST_INTERVAL_S", 86_400, "Seconds between digests (0: off)."),
    Setting("notify_max_age_hours", "AUDITDASH_NOTIFY_MAX_AGE_HOURS", 24, "Older alerts go to the digest only."),
    Setting("notify_retries", "AUDITDASH_NOTIFY_RETRIES", 5, "Delivery attempts before a notification fails."),
    Setting("notify_backoff_s", "AUDITDASH_NOTIFY_BACKOFF_S", 30, "First retry delay; doubles each attempt."),
    Setting("notify_link_base", "AUDITDASH_NOTIFY_LINK_BASE", "", "Dashboard address used in notification links."),
    # -- compliance packs (docs/packs.md); e-mailed packs use the AUDITDASH_SMTP_* server above --
    Setting("reports_dir", "AUDITDASH_REPORTS_DIR", Path("reports"), "Folder where compliance packs are written."),
    Setting("organisation", "AUDITDASH_ORGANISATION", "", "Organisation named on the packs' PDF cover."),
    Setting(
        "pack_schedules",
        "AUDITDASH_PACK_SCHEDULES",
        "",
        "Scheduled packs: a YAML/JSON file, or inline `daily@06:00 formats=pdf,csv to=a@x.org; ...`.",
    ),
    Setting(
        "pack_verify_max_events",
        "AUDITDASH_PACK_VERIFY_MAX_EVENTS",
        1_000_000,
        "Largest period a pack re-verifies itself when no recorded check covers it (0: never).",
    ),
    Setting(
        "pack_email_max_bytes",
        "AUDITDASH_PACK_EMAIL_MAX_BYTES",
        10 * 1024 * 1024,
        "Largest attachment total of an e-mailed pack; bigger files stay in the reports folder.",
    ),
    # -- the Chatwoot connector (docs/connectors.md) --
    Setting("chatwoot_url", "AUDITDASH_CHATWOOT_URL", None, "Chatwoot installation to pull audit logs from."),
    Setting("chatwoot_account_id", "AUDITDASH_CHATWOOT_ACCOUNT_ID", None, "The Chatwoot account whose log is pulled."),
    Setting("chatwoot_token", "AUDITDASH_CHATWOOT_TOKEN", None, "An administrator's Chatwoot access token."),
    Setting("chatwoot_token_path", "AUDITDASH_CHATWOOT_TOKEN_FILE", None, "File holding that token instead."),
    Setting("chatwoot_interval_s", "AUDITDASH_CHATWOOT_INTERVAL_S", 300, "Seconds between pulls (0: off)."),
    # -- streaming the log out to SIEMs (docs/connectors.md) --
    Setting("streams_path", "AUDITDASH_STREAMS", None, "YAML/JSON file of the destinations the log streams to."),
    Setting(
        "stream_lag_events",
        "AUDITDASH_STREAM_LAG_EVENTS",
        10_000,
        "Undelivered events past which a destination raises the stream-lag alert (0: no alert).",
    ),
    Setting(
        "stream_lag_s",
        "AUDITDASH_STREAM_LAG_S",
        900,
        "Age of the oldest undelivered event past which a destination raises the stream-lag alert (0: no alert).",
    ),
    Setting("stream_backoff_max_s", "AUDITDASH_STREAM_BACKOFF_MAX_S", 300, "Longest wait between delivery retries."),
)


def default(name: str) -> Any:
    """The default of the setting `name`, as `SETTINGS` writes it (for objects built without `Settings`)."""
    for setting in SETTINGS:
        if setting.name == name:
            return setting.default
    raise KeyError(f"no setting named {name!r}")


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one process (every path absolute: see the module's docstring).

    Each field's default is its entry's in `SETTINGS`, written there only (`db_url` is no setting:
    it is derived from `db_path`)."""

    home: Path | None = default("home")
    db_path: Path = default("db_path")
    host: str = default("host")
    port: int = default("port")
    threads: int = default("threads")
    geo_dir: Path = default("geo_dir")
    geoip_mmdb: Path | None = default("geoip_mmdb")
    max_body_bytes: int = default("max_body_bytes")
    batch_size: int = default("batch_size")
    quarantine_max_records: int = default("quarantine_max_records")
    demo_events: int = default("demo_events")
    wall_refresh_s: int = default("wall_refresh_s")
    secret_key: str | None = field(default=default("secret_key"), repr=False)
    session_idle_timeout_s: int = default("session_idle_timeout_s")
    password_hash_memory_kib: int = default("password_hash_memory_kib")
    password_hash_time_cost: int = default("password_hash_time_cost")
    password_hash_parallelism: int = default("password_hash_parallelism")
    session_max_age_s: int = default("session_max_age_s")
    wall_session_max_age_s: int = default("wall_session_max_age_s")
    login_max_failures: int = default("login_max_failures")
    login_max_failures_per_address: int = default("login_max_failures_per_address")
    login_lockout_s: int = default("login_lockout_s")
    login_delay_s: int = default("login_delay_s")
    frame_ancestors: str = default("frame_ancestors")
    proxy_count: int = default("proxy_count")
    oidc_issuer: str | None = default("oidc_issuer")
    oidc_client_id: str | None = default("oidc_client_id")
    oidc_client_secret: str | None = field(default=default("oidc_client_secret"), repr=False)
    oidc_client_secret_path: Path | None = default("oidc_client_secret_path")
    oidc_provider_name: str = default("oidc_provider_name")
    oidc_redirect_uri: str = default("oidc_redirect_uri")
    oidc_scopes: str = default("oidc_scopes")
    oidc_username_claim: str = default("oidc_username_claim")
    oidc_role_claim: str = default("oidc_role_claim")
    oidc_role_map: str = default("oidc_role_map")
    oidc_access_contact: str = default("oidc_access_contact")
    oidc_timeout_s: int = default("oidc_timeout_s")
    local_login: bool = default("local_login")
    break_glass_user: str = default("break_glass_user")
    retention_profile: str = default("retention_profile")
    hot_days: int = default("hot_days")
    archive_months: int = default("archive_months")
    archive_dir: Path | None = default("archive_dir")
    checkpoint_key: str | None = field(default=default("checkpoint_key"), repr=False)
    checkpoint_key_path: Path | None = default("checkpoint_key_path")
    checkpoint_signing: str = default("checkpoint_signing")
    checkpoint_signing_key_path: Path | None = default("checkpoint_signing_key_path")
    checkpoint_public_key_path: Path | None = default("checkpoint_public_key_path")
    checkpoint_path: Path | None = default("checkpoint_path")
    purge_interval_s: int = default("purge_interval_s")
    checkpoint_interval_s: int = default("checkpoint_interval_s")
    verify_interval_s: int = default("verify_interval_s")
    rules_path: Path | None = default("rules_path")
    detect_interval_s: int = default("detect_interval_s")
    silence_check_s: int = default("silence_check_s")
    deadline_check_s: int = default("deadline_check_s")
    deadline_grace_s: int = default("deadline_grace_s")
    webhook_url: str | None = default("webhook_url")
    webhook_secret: str | None = field(default=default("webhook_secret"), repr=False)
    webhook_min_severity: str = default("webhook_min_severity")
    smtp_host: str | None = default("smtp_host")
    smtp_port: int = default("smtp_port")
    smtp_from: str = default("smtp_from")
    smtp_to: str | None = default("smtp_to")
    smtp_user: str | None = default("smtp_user")
    smtp_password: str | None = field(default=default("smtp_password"), repr=False)
    smtp_starttls: bool = default("smtp_starttls")
    email_min_severity: str = default("email_min_severity")
    digest_min_severity: str = default("digest_min_severity")
    digest_interval_s: int = default("digest_interval_s")
    notify_max_age_hours: int = default("notify_max_age_hours")
    notify_retries: int = default("notify_retries")
    notify_backoff_s: int = default("notify_backoff_s")
    notify_link_base: str = default("notify_link_base")
    reports_dir: Path = default("reports_dir")
    organisation: str = default("organisation")
    pack_schedules: str = default("pack_schedules")
    pack_verify_max_events: int = default("pack_verify_max_events")
    pack_email_max_bytes: int = default("pack_email_max_bytes")
    chatwoot_url: str | None = default("chatwoot_url")
    chatwoot_account_id: str | None = default("chatwoot_account_id")
    chatwoot_token: str | None = field(default=default("chatwoot_token"), repr=False)
    chatwoot_token_path: Path | None = default("chatwoot_token_path")
    chatwoot_interval_s: int = default("chatwoot_interval_s")
    streams_path: Path | None = default("streams_path")
    stream_lag_events: int = default("stream_lag_events")
    stream_lag_s: int = default("stream_lag_s")
    stream_backoff_max_s: int = default("stream_backoff_max_s")
    #: the PostgreSQL URL when `AUDITDASH_DB` / `--db` names one (then `db_path` is where the files
    #: kept beside the database go: keys, archive); None for a DuckDB file
    db_url: str | None = None

    def __post_init__(self) -> None:
        _check_password_hash(self)  # its own words first: OWASP's minimum
        _check_numbers(self)
        home = _absolute(Path(self.home), Path.cwd()) if self.home is not None else PROJECT_ROOT
        object.__setattr__(self, "home", home)
        if is_db_url(self.db_path):
            object.__setattr__(self, "db_url", str(self.db_path))
            object.__setattr__(self, "db_path", url_state_path(str(self.db_path), home))
        for name in PATH_FIELDS:
            value = getattr(self, name)
            if value is not None and value != "":
                object.__setattr__(self, name, _absolute(Path(value), home))

    @property
    def db_target(self) -> Path | str:
        """What to open: the PostgreSQL URL, else the DuckDB file (`store.db.Database` takes both)."""
        return self.db_url or self.db_path

    @property
    def home_dir(self) -> Path:
        """The folder relative defaults are under (absolute)."""
        return self.home if self.home is not None else PROJECT_ROOT

    @property
    def default_db(self) -> Path:
        """The database file used when none is configured (demo data is seeded only into it)."""
        return self.home_dir / DEFAULT_DB_NAME

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given values replaced (None means: keep).

        A relative path among them was typed by the user: it is taken from the current folder.
        """
        values = {k: v for k, v in overrides.items() if v is not None}
        if "db_path" in values:  # a new --db replaces a URL of the environment too
            values["db_url"] = None
        for name, value in values.items():
            if name in PATH_FIELDS and isinstance(value, str | Path) and str(value) and not is_db_url(value):
                values[name] = _absolute(Path(value), Path.cwd())
        return replace(self, **values)


#: the settings that hold a file or folder.
PATH_FIELDS: tuple[str, ...] = tuple(
    s.name
    for s in SETTINGS
    if s.name != "home" and (isinstance(s.default, Path) or s.name.endswith(("_path", "_dir", "_mmdb")))
)


def _absolute(path: Path, base: Path) -> Path:
    """`path` made absolute against `base` (`~` expanded, `..` folded; symbolic links kept)."""
    path = path.expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def is_db_url(value: object) -> bool:
    """Whether a `--db` / `AUDITDASH_DB` value names a PostgreSQL server rather than a DuckDB file."""
    return isinstance(value, str) and value.startswith(("postgresql+psycopg://", "postgresql://", "postgres://"))


def url_state_path(url: str, home: Path) -> Path:
    """Where the files kept beside a PostgreSQL store go (keys, archive): a name in the data folder
    under `home`, one per server and database (`data/HOST-PORT-DATABASE.postgres`)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    database = parts.path.lstrip("/").split("?")[0] or "postgres"
    try:
        port = parts.port or 5432
    except ValueError as exc:  # a port out of range or not a number: said, not a traceback
        raise ConfigError(f"the PostgreSQL URL (--db, AUDITDASH_DB) is malformed: {exc}") from exc
    return home / DEFAULT_DB_NAME.parent / f"{parts.hostname or 'local'}-{port}-{database}.postgres"


def archive_folder(archive_dir: Path | None, db_path: Path) -> Path:
    """Where retention archives months: `AUDITDASH_ARCHIVE_DIR`, else `archive/` beside the DuckDB
    file, and for a PostgreSQL store its own `HOST-PORT-DATABASE.archive/` in the data folder
    (several PostgreSQL stores share that folder: one store's months are never another's)."""
    if archive_dir:
        return Path(archive_dir)
    path = Path(db_path)
    return path.with_suffix(".archive") if path.suffix == ".postgres" else path.parent / "archive"


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


#: OWASP's minimum argon2id costs (Password Storage Cheat Sheet): at least this much memory (KiB)
#: and at least this product of memory and passes. Settings below them are refused.
MIN_HASH_MEMORY_KIB = 7168
MIN_HASH_MEMORY_PASSES_KIB = 35840


#: whole-number settings that may be 0 (beside those whose help says what 0 means: "0: off")
_ZERO_ALLOWED = frozenset({"proxy_count", "login_delay_s"})
_PORTS = frozenset({"smtp_port"})
#: checked where they are used, in words naming the option too (`serve`: --port)
_CHECKED_ELSEWHERE = frozenset({"port"})


def _check_numbers(settings: Settings) -> None:
    """Every whole-number setting within its range: a negative batch size or port is refused at
    start with the variable's name, not met later as a crash or a silent misbehaviour."""
    for setting in SETTINGS:
        if not isinstance(setting.default, int) or isinstance(setting.default, bool):
            continue
        if setting.name in _CHECKED_ELSEWHERE:
            continue
        value = getattr(settings, setting.name)
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        low = 0 if setting.name in _ZERO_ALLOWED or "(0:" in setting.help else 1
        high = 65535 if setting.name in _PORTS else None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise ConfigError(f"{setting.env}={value} is out of range: use a whole number {bounds}")


def _check_password_hash(settings: Settings) -> None:
    memory, passes = settings.password_hash_memory_kib, settings.password_hash_time_cost
    lanes = settings.password_hash_parallelism
    if memory < MIN_HASH_MEMORY_KIB or memory * passes < MIN_HASH_MEMORY_PASSES_KIB or passes < 1 or lanes < 1:
        raise ConfigError(
            f"AUDITDASH_PASSWORD_HASH_MEMORY_KIB={memory}, AUDITDASH_PASSWORD_HASH_TIME_COST={passes} and "
            f"AUDITDASH_PASSWORD_HASH_PARALLELISM={lanes} are weaker than OWASP's minimum for argon2id (at "
            f"least {MIN_HASH_MEMORY_KIB} KiB, memory x passes at least {MIN_HASH_MEMORY_PASSES_KIB} KiB, 1 "
            "lane): raise them, or unset them for the defaults (65536 KiB, 3 passes, 4 lanes)"
        )


def _convert(setting: Setting, raw: str) -> Any:
    default = setting.default
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.env}={raw!r} is not a whole number") from exc
    if setting.name == "db_path" and is_db_url(raw):
        return raw
    if isinstance(default, Path) or setting.name.endswith(("_path", "_dir", "_mmdb")) or setting.name == "home":
        # typed by the user: relative to the folder the process was started in
        return _absolute(Path(raw), Path.cwd()) if raw else None
    if setting.name == "pack_schedules" and _names_a_file(raw):
        return str(_absolute(Path(raw.strip()), Path.cwd()))
    return raw


def _names_a_file(raw: str) -> bool:
    """Whether `AUDITDASH_PACK_SCHEDULES` names a file (else it holds the schedules inline)."""
    text = raw.strip()
    if text.endswith((".yaml", ".yml", ".json")):
        return True
    try:
        return len(text) < 4096 and Path(text).expanduser().is_file()
    except OSError:
        return False


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
