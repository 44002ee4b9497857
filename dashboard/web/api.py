"""The HTTP API: event ingest (`POST /api/v1/events`), reading the log (`GET /api/v1/events`,
`GET /api/v1/alerts`, each read itself logged) and a health check.

The body is a JSON array of events or NDJSON (one event per line). A body that is not valid
JSON at all gets 400 with the line and column of the first error and nothing is stored.
Events that are valid JSON but break the contract are rejected one by one: the response
lists their index (array) or line (NDJSON) with the reason, and they are kept in quarantine.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import flask
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard import __version__
from dashboard.store.tokens import verify_token
from dashboard.web.state import state

api = flask.Blueprint("api", __name__)


def _error(status: int, message: str, **extra: Any) -> flask.Response:
    response = flask.jsonify({"error": message, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="auditdash"'
    return response


def bearer_token() -> str | None:
    """The bearer token of the current request, if any."""
    header = flask.request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


@api.get("/healthz")
def healthz() -> flask.Response:
    """Liveness for load balancers and scripts; says nothing about the data."""
    return flask.jsonify({"status": "ok", "version": __version__})


@api.post("/api/v1/events")
def post_events() -> flask.Response:
    """Ingest a batch of events (bearer token with scope `ingest`)."""
    st = state()
    presented = bearer_token()
    if presented is None:
        return _error(401, "missing bearer token (Authorization: Bearer adt_...)")
    token = verify_token(st.db, presented, "ingest")
    if token is None:
        return _error(401, "invalid, revoked or insufficient token (needs scope ingest)")
    limit = st.settings.max_body_bytes
    if (flask.request.content_length or 0) > limit:
        return _error(413, f"body larger than {limit} bytes; send smaller batches")
    try:
        body = flask.request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _error(413, f"body larger than {limit} bytes; send smaller batches")
    if len(body) > limit:
        return _error(413, f"body larger than {limit} bytes; send smaller batches")
    try:
        text = body.decode("utf-8-sig")  # a byte order mark in front is not part of the JSON
    except UnicodeDecodeError as exc:
        return _error(400, "body is not UTF-8", position=exc.start)
    stripped = text.lstrip()
    if not stripped:
        return _error(400, "empty body: send a JSON array or NDJSON")
    records: list[tuple[int, str]]
    if stripped.startswith("["):
        try:
            docs = json.loads(text)
        except json.JSONDecodeError as exc:
            return _error(400, f"malformed JSON: {exc.msg}", line=exc.lineno, column=exc.colno, position=exc.pos)
        records = [(i, json.dumps(d, ensure_ascii=False)) for i, d in enumerate(docs)]
        label = "index"
    else:
        records = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        label = "line"
    checked = st.ingestor.validate(records)
    for rejected in checked.rejected:
        if rejected.reason.startswith("not valid JSON"):
            column = rejected.reason.rsplit("column ", 1)[-1]
            return _error(
                400,
                f"malformed JSON on line {rejected.pos}: {rejected.reason}",
                line=rejected.pos,
                column=int(column) if column.isdigit() else None,
            )
    result = st.ingestor.store(checked, f"api:{token.name}", label)
    return flask.jsonify(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": [{label: r.pos, "reason": r.reason} for r in result.rejected_records],
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
        }
    )


# -- reading the log (bearer token with scope `read`) -----------------------------------------------------
READ_LIMIT_DEFAULT = 1_000
READ_LIMIT_MAX = 10_000
#: the query keys of the read routes that are not filters
_PAGING_KEYS = ("after", "limit", "format")
#: shapes GET /api/v1/events can answer in
READ_FORMATS = ("contract", "ocsf")
_TIME_KEYS = ("range", "from", "to")


def _reader() -> tuple[Any, flask.Response | None]:
    """The read token of this request, or the 401 answer."""
    presented = bearer_token()
    if presented is None:
        return None, _error(401, "missing bearer token (Authorization: Bearer adt_...)")
    token = verify_token(state().db, presented, "read")
    if token is None:
        return None, _error(401, "invalid, revoked or insufficient token (needs scope read)")
    return token, None


def _whole_number(name: str, default: int, lowest: int, highest: int) -> int:
    raw = flask.request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit() or not lowest <= int(raw) <= highest:
        raise ValueError(f"{name}={raw!r} must be a whole number from {lowest} to {highest}")
    return int(raw)


def _iso(value: Any) -> Any:
    return value.isoformat(timespec="milliseconds") + "Z" if isinstance(value, datetime) else value


def _log_read(token: Any, what: str, metadata: dict[str, Any]) -> None:
    """Every read of the log through the API is itself logged (PCI DSS 10.2.1.1), before it is answered."""
    from dashboard.store import selflog

    selflog.record(
        state().db,
        "audit.view",
        f"token:{token.name}",
        role="api",
        ip=flask.request.remote_addr,
        user_agent=(flask.request.headers.get("User-Agent") or "")[:1024] or None,
        target_type="api",
        target_name=what,
        metadata={"api": what, **metadata},
    )


@api.get("/api/v1/events")
def get_events() -> flask.Response:
    """Stored events, oldest sequence number first, for SIEMs and scripts (scope `read`).

    Filters use the dashboard's URL vocabulary (`range`, `from`, `to`, `tz`, `users`, `roles`,
    `categories`, `actions`, `outcome`, `ip`, `countries`, `accounts`, `weekdays`, `hours`, `q`);
    without a time filter every stored event matches. `after` is the last sequence number
    already read and `limit` the page size; the answer's `next_after` continues. `format=ocsf` answers OCSF 1.1
    events (dashboard.events.ocsf) instead of the contract's shape.
    """
    import sqlalchemy as sa

    from dashboard.filters import Filters
    from dashboard.packs.ndjson import event_json
    from dashboard.store.schema import events as E

    token, refused = _reader()
    if refused is not None:
        return refused
    try:
        after = _whole_number("after", 0, 0, 2**62)
        limit = _whole_number("limit", READ_LIMIT_DEFAULT, 1, READ_LIMIT_MAX)
    except ValueError as exc:
        return _error(400, str(exc))
    args = flask.request.args
    shape = args.get("format") or "contract"
    if shape not in READ_FORMATS:
        return _error(400, f"format={shape!r} is not one of {', '.join(READ_FORMATS)}")
    filters = Filters.from_query({k: args.getlist(k) for k in args if k not in _PAGING_KEYS})
    if filters.problems:
        return _error(400, "bad filters: " + "; ".join(filters.problems), problems=list(filters.problems))
    if not any(v.strip() for k in _TIME_KEYS for v in args.getlist(k)):  # no time filter: the whole log
        filters = filters.with_(start=datetime(2000, 1, 1), end=datetime(3000, 1, 1))
    stmt = (
        sa.select(
            E.c.seq,
            E.c.received_at,
            E.c.category,
            E.c.ip_scope,
            E.c.geo_country,
            E.c.geo_city,
            E.c.geo_lat,
            E.c.geo_lon,
            E.c.source,
            E.c.batch_id,
            E.c.hash,
            event_json(),
        )
        .where(filters.where(E), E.c.seq > after)
        .order_by(E.c.seq)
        .limit(limit + 1)
    )
    with state().db.connect() as conn:
        rows = conn.execute(stmt).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    out = []
    for row in rows:
        doc = json.loads(row.line)
        stored = {k: _iso(v) for k, v in row._mapping.items() if k != "line" and v is not None}
        doc["stored"] = stored
        out.append(doc)
    if shape == "ocsf":
        from dashboard.events.ocsf import to_ocsf

        out = [to_ocsf(doc) for doc in out]
    next_after = rows[-1].seq if rows else after
    _log_read(
        token,
        "events",
        {"filters": filters.to_query(), "after": after, "limit": limit, "returned": len(out), "format": shape},
    )
    query = {k: args.getlist(k) for k in args if k not in _PAGING_KEYS}
    query.update(after=[str(next_after)], limit=[str(limit)])
    if shape != "contract":
        query["format"] = [shape]
    return flask.jsonify(
        {
            "events": out,
            "count": len(out),
            "more": more,
            "next_after": next_after,
            "next": "/api/v1/events?" + urlencode(query, doseq=True),
        }
    )


@api.get("/api/v1/alerts")
def get_alerts() -> flask.Response:
    """Alerts, most recent activity first (scope `read`): `status`, `severity`, `rule` (comma lists), `limit`."""
    from dashboard.detect.alerts import STATUSES
    from dashboard.detect.rules import SEVERITIES
    from dashboard.detect.service import detection

    token, refused = _reader()
    if refused is not None:
        return refused
    try:
        limit = _whole_number("limit", 500, 1, 5_000)
    except ValueError as exc:
        return _error(400, str(exc))
    chosen: dict[str, list[str]] = {}
    for key, allowed in (("status", STATUSES), ("severity", SEVERITIES), ("rule", None)):
        values = [v.strip() for item in flask.request.args.getlist(key) for v in item.split(",") if v.strip()]
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            return _error(400, f"{key}={bad[0]!r} is not one of {', '.join(allowed or ())}")
        chosen[key] = values
    found = detection().alerts.list(
        status=chosen["status"] or None,
        severity=chosen["severity"] or None,
        rule=chosen["rule"] or None,
        limit=limit,
        with_evidence=True,
    )
    alerts = [{k: _iso(v) for k, v in alert.items()} for alert in found]
    _log_read(token, "alerts", {"query": {k: v for k, v in chosen.items() if v}, "returned": len(alerts)})
    return flask.jsonify({"alerts": alerts, "count": len(alerts)})
