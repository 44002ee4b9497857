"""What a streamed event looks like on the wire.

- `json`: the event in the contract's shape with `stored` (its `seq`, `received_at`, `hash`,
  `source`, ...), built by the read API's own `dashboard.packs.ndjson.read_event`, so it is what
  `GET /api/v1/events` gives: `id` and `stored.seq` tell a repeated delivery from a new event.
- `ocsf`: the same event mapped to OCSF 1.1 (`dashboard.events.ocsf`); `metadata.uid` is the id,
  `metadata.sequence` the seq.
- `cef`: ArcSight Common Event Format (syslog only); `externalId` is the id, `cn1` the seq.

Framing: syslog messages are RFC 5424 (`syslog_message`) with the id and seq also in the
structured data `[auditdash@32473 id=".." seq=".."]`; over TCP and TLS each is sent with
octet-counting framing (RFC 6587 3.4.1, RFC 5425: `LENGTH SP MESSAGE`). HTTP bodies are NDJSON
(one JSON document a line) or Splunk HEC events (`hec_event`), concatenated.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from datetime import UTC, datetime
from typing import Any

from dashboard import __version__
from dashboard.events import jsontext
from dashboard.events.ocsf import to_ocsf

#: RFC 5424 structured-data id (32473 is the enterprise number RFC 5612 sets aside for examples)
SD_ID = "auditdash@32473"
#: syslog facility 13, "log audit" (RFC 5424 6.2.1)
FACILITY = 13
#: the largest syslog message sent in one UDP datagram (IPv4's limit less headers)
UDP_MAX = 65_000
_HOST = socket.gethostname()


def _json(value: Any) -> str:
    return jsontext.dumps(value, separators=(",", ":"))


def body_of(doc: dict[str, Any], fmt: str) -> str:
    """One event (contract shape) in a format: json, ocsf or cef."""
    if fmt == "ocsf":
        return _json(to_ocsf(doc))
    if fmt == "cef":
        return cef(doc)
    return _json(doc)


# -- CEF ------------------------------------------------------------------------------------------------
def _cef_header(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _cef_value(value: Any) -> str:
    text = value if isinstance(value, str) else _json(value)
    return text.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def _epoch_ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def cef(doc: dict[str, Any]) -> str:
    """One event as a CEF:0 line (header fields escaped for `|`, extension values for `=`)."""
    stored = doc.get("stored") or {}
    actor = doc.get("actor") or {}
    target = doc.get("target") or {}
    outcome = str(doc.get("outcome") or "unknown")
    severity = 6 if outcome == "failure" else 3
    action = str(doc.get("action") or "")
    name = f"{action} by {actor.get('name') or actor.get('id') or 'system'}"
    ext: list[tuple[str, Any]] = [
        ("rt", _epoch_ms(doc.get("occurred_at"))),
        ("externalId", doc.get("id")),
        ("cn1Label", "seq"),
        ("cn1", stored.get("seq")),
        ("act", action),
        ("outcome", outcome),
        ("reason", doc.get("reason")),
        ("cs1Label", "account"),
        ("cs1", doc.get("account_id")),
        ("cs2Label", "category"),
        ("cs2", stored.get("category")),
        ("suid", actor.get("id")),
        ("suser", actor.get("name")),
        ("cs3Label", "actorRole"),
        ("cs3", actor.get("role")),
        ("duid", target.get("id")),
        ("duser", target.get("name")),
        ("cs4Label", "targetType"),
        ("cs4", target.get("type")),
        ("requestClientApplication", doc.get("user_agent")),
        ("cs5Label", "source"),
        ("cs5", stored.get("source")),
        ("cs6Label", "hash"),
        ("cs6", stored.get("hash")),
    ]
    ip = doc.get("ip")
    if isinstance(ip, str) and _is_address(ip):  # a masked a.b.c.x is not one: CEF's src would refuse it
        ext.append(("src", ip))
    if doc.get("changes") is not None:
        ext.append(("msg", _json({"changes": doc["changes"]})))
    present = {k: v for k, v in ext if v is not None and v != ""}
    # a label only with its value (cs1Label with cs1, cn1Label with cn1)
    present = {k: v for k, v in present.items() if not k.endswith("Label") or k[: -len("Label")] in present}
    extension = " ".join(f"{k}={_cef_value(v)}" for k, v in present.items())
    header = "|".join(_cef_header(v) for v in ("CEF:0", "auditdash", "auditdash", __version__, action, name, severity))
    return f"{header}|{extension}"


# -- syslog ---------------------------------------------------------------------------------------------
def _sd_value(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _ascii_token(value: str, limit: int) -> str:
    token = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return token or "-"


def syslog_message(doc: dict[str, Any], body: str) -> bytes:
    """An RFC 5424 message: PRI (facility log audit), the event's time, host, app, the action as
    MSGID, the id and seq as structured data, and `body` as the UTF-8 message."""
    outcome = doc.get("outcome")
    severity = 4 if outcome == "failure" else 6 if outcome == "success" else 5
    stored = doc.get("stored") or {}
    stamp = doc.get("occurred_at") or "-"
    sd = f'[{SD_ID} id="{_sd_value(doc.get("id"))}" seq="{_sd_value(stored.get("seq"))}"]'
    header = (
        f"<{FACILITY * 8 + severity}>1 {_ascii_token(str(stamp), 64)} {_ascii_token(_HOST, 255)} auditdash "
        f"{os.getpid()} {_ascii_token(str(doc.get('action') or ''), 32)} {sd} "
    )
    return header.encode("ascii") + body.encode("utf-8")


def octet_counted(message: bytes) -> bytes:
    """`LENGTH SP MESSAGE` (RFC 6587 3.4.1 / RFC 5425 4.3)."""
    return str(len(message)).encode("ascii") + b" " + message


def udp_message(doc: dict[str, Any], fmt: str) -> bytes:
    """A syslog message that fits one datagram: too large an event is replaced by a note naming it."""
    message = syslog_message(doc, body_of(doc, fmt))
    if len(message) <= UDP_MAX:
        return message
    stored = doc.get("stored") or {}
    note = {
        "id": doc.get("id"),
        "stored": {"seq": stored.get("seq")},
        "_truncated": f"{len(message):,} bytes do not fit one UDP datagram; read the event from GET /api/v1/events",
    }
    return syslog_message(doc, _json(note))


# -- HTTP -----------------------------------------------------------------------------------------------
def hec_event(doc: dict[str, Any], fmt: str, sourcetype: str = "", index: str = "") -> str:
    """A Splunk HTTP Event Collector event: time (epoch seconds), host, source, sourcetype, the
    event, and its id and seq as indexed fields."""
    stored = doc.get("stored") or {}
    occurred = _epoch_ms(doc.get("occurred_at"))
    out: dict[str, Any] = {
        "time": round(occurred / 1000, 3) if occurred is not None else datetime.now(UTC).timestamp(),
        "host": _HOST,
        "source": "auditdash",
        "sourcetype": sourcetype or ("ocsf:auditdash" if fmt == "ocsf" else "auditdash:event"),
        "event": to_ocsf(doc) if fmt == "ocsf" else doc,
        "fields": {"event_id": str(doc.get("id")), "seq": str(stored.get("seq"))},
    }
    if index:
        out["index"] = index
    return _json(out)


def http_body(docs: list[dict[str, Any]], fmt: str, envelope: str, sourcetype: str = "", index: str = "") -> bytes:
    """One HTTP request body: NDJSON lines, or concatenated HEC events (one a line)."""
    if envelope == "hec":
        lines = [hec_event(d, fmt, sourcetype, index) for d in docs]
    else:
        lines = [body_of(d, fmt) for d in docs]
    return ("\n".join(lines) + "\n").encode("utf-8")
