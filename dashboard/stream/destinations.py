"""Stream destinations: the `AUDITDASH_STREAMS` file, read and checked once at start; the
destinations made on the Streams page are checked by the same `destination_from`.

```yaml
destinations:
  - name: splunk                 # letters, digits, . _ - (the cursor is kept under this name)
    kind: http                   # http | syslog
    url: https://splunk.example.com:8088/services/collector/event
    envelope: hec                # http: ndjson (default) | hec (Splunk HTTP Event Collector)
    format: ocsf                 # json (the contract, default) | ocsf | cef (syslog only)
    token_file: /etc/auditdash/hec.token   # or token_env: SPLUNK_HEC_TOKEN (never inline)
    filter: "categories=authentication,agent_management&outcome=failure"   # the sidebar's filter, as URL query text
    start: end                   # end (default: events stored from now on) | beginning | a seq number
  - name: siem
    kind: syslog
    transport: tls               # tls (default) | tcp | udp
    host: siem.example.com
    port: 6514
    format: cef
    ca_file: /etc/auditdash/siem-ca.pem
```

Every problem names the file, the destination and the key. Secrets are never part of a
destination's public description (`public()`), its digest or the self-log.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from dashboard.filters import Filters

KINDS = ("http", "syslog")
TRANSPORTS = ("tls", "tcp", "udp")
FORMATS = ("json", "ocsf", "cef")
ENVELOPES = ("ndjson", "hec")
#: keys a filter of a stream may not hold: a stream sends every new event that matches
TIME_KEYS = ("range", "from", "to")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KNOWN = {
    "name",
    "kind",
    "url",
    "envelope",
    "format",
    "token_file",
    "token_env",
    "ca_file",
    "cert_file",
    "key_file",
    "server_name",
    "filter",
    "start",
    "batch_size",
    "enabled",
    "transport",
    "host",
    "port",
    "timeout_s",
    "sourcetype",
    "index",
}
MAX_BATCH = 10_000


class StreamConfigError(ValueError):
    """The destinations file, or one destination in it, cannot be used (the message says where;
    `key` names the setting at fault, when one is: the Streams page marks that field)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Destination:
    """One place the log streams to."""

    name: str
    kind: str  # http | syslog
    format: str = "json"  # json | ocsf | cef
    filter_query: str = ""
    start: str = "end"  # end | beginning | a sequence number
    batch_size: int = 500
    enabled: bool = True
    timeout_s: float = 30.0
    # http
    url: str = ""
    envelope: str = "ndjson"
    sourcetype: str = ""
    index: str = ""
    token_file: Path | None = None
    token_env: str | None = None
    # syslog
    transport: str = "tls"
    host: str = ""
    port: int = 0
    # TLS (https and syslog over tls)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None
    filters: Filters = field(default_factory=Filters, compare=False)

    @property
    def tls(self) -> bool:
        """Whether the connection is encrypted."""
        if self.kind == "http":
            return self.url.lower().startswith("https://")
        return self.transport == "tls"

    @property
    def address(self) -> str:
        """Where events go, for the page and messages (no secret in it)."""
        if self.kind == "http":
            parts = urlsplit(self.url)
            return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        return f"syslog+{self.transport}://{self.host}:{self.port}"

    def token(self) -> str | None:
        """The destination's token, read now from its file or environment variable (None: none set)."""
        if self.token_file is not None:
            try:
                text = self.token_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                said = getattr(exc, "strerror", None) or exc
                problem = f"stream {self.name}: cannot read token_file {self.token_file}: {said}"
                raise StreamConfigError(problem) from exc
            if not text:
                raise StreamConfigError(f"stream {self.name}: token_file {self.token_file} is empty")
            return text
        if self.token_env:
            value = os.environ.get(self.token_env, "").strip()
            if not value:
                raise StreamConfigError(f"stream {self.name}: the environment variable {self.token_env} is not set")
            return value
        return None

    def public(self) -> dict[str, Any]:
        """The settings as shown on the page and in the self-log (secrets only by where they come from)."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "address": self.address,
            "format": self.format,
            "filter": self.filter_query,
            "start": self.start,
            "batch_size": self.batch_size,
            "enabled": self.enabled,
        }
        if self.kind == "http":
            out["envelope"] = self.envelope
            if self.sourcetype:
                out["sourcetype"] = self.sourcetype
            if self.index:
                out["index"] = self.index
        if self.token_file is not None:
            out["token"] = f"from file {self.token_file}"
        elif self.token_env:
            out["token"] = f"from environment variable {self.token_env}"
        for key in ("ca_file", "cert_file", "key_file"):
            value = getattr(self, key)
            if value is not None:
                out[key] = str(value)
        if self.server_name:
            out["server_name"] = self.server_name
        return out

    def digest(self) -> str:
        """SHA-256 of the public settings: a change of them is a configuration change."""
        text = json.dumps(self.public(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def first_cursor(self, head: int) -> int:
        """The cursor a new destination starts from, given the newest stored sequence number."""
        if self.start == "beginning":
            return 0
        if self.start == "end":
            return head
        return max(0, int(self.start) - 1)


def parse_filter(text: str, where: str) -> Filters:
    """A stream's filter from URL query text; any problem is an error (a stream must not widen silently)."""
    query = text.strip().lstrip("?")
    filters = Filters.from_query(query, dashboard_activity=True)
    if filters.problems:
        raise StreamConfigError(f"{where}: filter: " + "; ".join(filters.problems), key="filter")
    keys = {part.split("=", 1)[0] for part in query.split("&") if part}
    timed = sorted(keys & set(TIME_KEYS))
    if timed:
        raise StreamConfigError(
            f"{where}: filter: {', '.join(timed)} cannot be used: a stream sends every new event that "
            "matches (weekdays, hours and tz can)",
            key="filter",
        )
    # the whole log: the range the contract allows (a stream has no "last 7 days")
    return filters.with_(start=datetime(2000, 1, 1), end=datetime(3000, 1, 1))


def _path(value: Any, base: Path, where: str, key: str) -> Path | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise StreamConfigError(f"{where}: {key} must be a file path", key=key)
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def destination_from(raw: Any, base: Path, where: str) -> Destination:
    """One destination from its mapping in the file (`where` names it in messages)."""
    if not isinstance(raw, dict):
        raise StreamConfigError(f"{where}: a destination must be a mapping of settings")
    if "token" in raw:
        raise StreamConfigError(
            f"{where}: put the token in token_file or token_env, never in the file itself", key="token_file"
        )
    unknown = sorted(set(map(str, raw)) - _KNOWN)
    if unknown:
        raise StreamConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise StreamConfigError(f"{where}: name must be 1-64 letters, digits, '.', '_' or '-'", key="name")
    where = f"{where} ({name})"
    kind = raw.get("kind")
    if kind not in KINDS:
        raise StreamConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}", key="kind")
    fmt = raw.get("format", "json")
    if fmt not in FORMATS:
        raise StreamConfigError(f"{where}: format must be one of {', '.join(FORMATS)}, not {fmt!r}", key="format")
    values: dict[str, Any] = {"name": name, "kind": kind, "format": fmt}
    text = raw.get("filter") or ""
    if not isinstance(text, str):
        raise StreamConfigError(
            f"{where}: filter must be URL query text such as categories=authentication&outcome=failure", key="filter"
        )
    values["filter_query"] = text.strip().lstrip("?")
    values["filters"] = parse_filter(text, where)
    start = raw.get("start", "end")
    if isinstance(start, bool) or not (
        start in ("end", "beginning") or (isinstance(start, int) and start >= 1) or str(start).isdigit()
    ):
        raise StreamConfigError(
            f"{where}: start must be end, beginning or a sequence number, not {start!r}", key="start"
        )
    values["start"] = str(start)
    batch = raw.get("batch_size", 500)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise StreamConfigError(f"{where}: batch_size must be a whole number from 1 to {MAX_BATCH}", key="batch_size")
    values["batch_size"] = batch
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise StreamConfigError(f"{where}: enabled must be true or false", key="enabled")
    values["enabled"] = enabled
    timeout = raw.get("timeout_s", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise StreamConfigError(f"{where}: timeout_s must be a number of seconds from 0 to 600", key="timeout_s")
    values["timeout_s"] = float(timeout)
    for key in ("ca_file", "cert_file", "key_file"):
        values[key] = _path(raw.get(key), base, where, key)
    if (values["cert_file"] is None) != (values["key_file"] is None):
        raise StreamConfigError(f"{where}: a client certificate needs both cert_file and key_file", key="cert_file")
    server_name = raw.get("server_name")
    if server_name is not None and not isinstance(server_name, str):
        raise StreamConfigError(f"{where}: server_name must be a host name", key="server_name")
    values["server_name"] = server_name
    if kind == "http":
        url = raw.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise StreamConfigError(f"{where}: url must be an http:// or https:// address, not {url!r}", key="url")
        if parts.username or parts.password:
            raise StreamConfigError(
                f"{where}: url must not hold a user or password: use token_file or token_env", key="url"
            )
        values["url"] = url
        envelope = raw.get("envelope", "ndjson")
        if envelope not in ENVELOPES:
            raise StreamConfigError(
                f"{where}: envelope must be one of {', '.join(ENVELOPES)}, not {envelope!r}", key="envelope"
            )
        values["envelope"] = envelope
        if fmt == "cef":
            raise StreamConfigError(f"{where}: format cef is for syslog; use json or ocsf over http", key="format")
        for key in ("sourcetype", "index"):
            value = raw.get(key, "")
            if not isinstance(value, str):
                raise StreamConfigError(f"{where}: {key} must be text", key=key)
            values[key] = value
        token_file = _path(raw.get("token_file"), base, where, "token_file")
        token_env = raw.get("token_env")
        if token_file is not None and token_env:
            raise StreamConfigError(f"{where}: give token_file or token_env, not both", key="token_file")
        if token_env is not None and (not isinstance(token_env, str) or not token_env):
            raise StreamConfigError(f"{where}: token_env must name an environment variable", key="token_env")
        values["token_file"], values["token_env"] = token_file, token_env
        if envelope == "hec" and token_file is None and not token_env:
            raise StreamConfigError(f"{where}: Splunk HEC needs a token: set token_file or token_env", key="token_file")
    else:
        for key in ("url", "envelope", "token_file", "token_env", "sourcetype", "index"):
            if key in raw:
                raise StreamConfigError(f"{where}: {key} is a setting of http destinations", key=key)
        transport = raw.get("transport", "tls")
        if transport not in TRANSPORTS:
            raise StreamConfigError(
                f"{where}: transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}", key="transport"
            )
        host = raw.get("host")
        if not isinstance(host, str) or not host:
            raise StreamConfigError(f"{where}: host is missing", key="host")
        port = raw.get("port", 6514 if transport == "tls" else 514)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise StreamConfigError(f"{where}: port must be a whole number from 1 to 65535", key="port")
        values.update(transport=transport, host=host, port=port)
    if not values.get("url", "https://").lower().startswith("https://") and values.get("ca_file"):
        raise StreamConfigError(f"{where}: ca_file is given but the url is not https://", key="ca_file")
    return Destination(**values)


def load_destinations(path: Path | None) -> tuple[Destination, ...]:
    """The destinations of the file (none when `path` is None); `StreamConfigError` says what is wrong."""
    if path is None:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:  # not UTF-8: said as a bad file, not a traceback
        raise StreamConfigError(
            f"AUDITDASH_STREAMS: cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise StreamConfigError(
            f"{path}: not valid {'JSON' if str(path).endswith('.json') else 'YAML'}: {exc}"
        ) from exc
    if data is None:
        return ()
    items = data.get("destinations") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise StreamConfigError(f"{path}: expected a mapping with a list under `destinations`")
    base = Path(path).resolve().parent
    out = [destination_from(raw, base, f"{path}: destination {i + 1}") for i, raw in enumerate(items)]
    names = [d.name for d in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise StreamConfigError(f"{path}: destination name(s) used twice: {', '.join(twice)}")
    return tuple(out)
