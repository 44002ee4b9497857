"""The HTTP API: event ingest (`POST /api/v1/events`), reading the log (`GET /api/v1/events`,
`GET /api/v1/alerts`, each read itself logged) and a health check.

The body is a JSON array of events or NDJSON (one event per line). A body that is not valid
JSON at all gets 400 with the line and column of the first error and nothing is stored.
Events that are valid JSON but break the contract are rejected one by one: the response
lists their index (array) or line (NDJSON) with the reason, and they are kept in quarantine.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from urllib.parse import unquote_to_bytes, urlencode

import flask
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard import __version__
from dashboard.access.tokens import verify_token
from dashboard.events import jsontext
from dashboard.filters import LIST_FIELDS
from dashboard.web.state import state
from dashboard.when import WhenError, parse_when, utc_text

api = flask.Blueprint("api", __name__)


@api.errorhandler(Exception)
def _storage_fault(exc: Exception) -> Any:
    """A full disk, an I/O error or a damaged database answers JSON that says so (507 or 503), not a 500 page.

    The batch was one transaction, so none of it was stored: `Retry-After` tells the sender to
    send it again later (dashboard.store.faults).
    """
    from werkzeug.exceptions import HTTPException

    from dashboard.store.faults import classify

    if isinstance(exc, HTTPException):
        return exc
    fault = classify(exc, state().db.path)
    if fault is None:
        raise exc
    flask.current_app.logger.error("%s %s: %s", flask.request.method, flask.request.path, fault.message)
    response = _error(fault.http_status, fault.message, **{k: v for k, v in fault.to_json().items() if k != "error"})
    if fault.retry:
        response.headers["Retry-After"] = "60"
    return response


def json_response(payload: Any, status: int = 200) -> flask.Response:
    """`payload` as strict JSON (non-finite numbers as null; dashboard.events.jsontext)."""
    return flask.Response(jsontext.dumps(payload, separators=(",", ":")), status=status, mimetype="application/json")


def _error(status: int, message: str, **extra: Any) -> flask.Response:
    response = json_response({"error": message, **extra}, status)
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
    # Read by the same readers as `auditdash ingest` reads files: the same records at the same
    # positions, each reason worded the same (docs/events.md, "Hostile input").
    from dashboard.events.validate import QuarantineBudget
    from dashboard.ingest.readers import BodyError, gunzip_bounded, position_label, read_body
    from dashboard.store.writer import WriteResult

    try:
        if body[:2] == b"\x1f\x8b" or "gzip" in flask.request.headers.get("Content-Encoding", "").lower():
            body = gunzip_bounded(body, limit)
        # one batch for the whole body (a record takes at least two bytes): the body is stored in
        # one transaction, all or nothing, however AUDITDASH_BATCH_SIZE is set (the body limit
        # bounds its memory)
        fmt, batches = read_body(body, max(st.settings.batch_size, len(body)))
    except BodyError as exc:
        return _error(exc.status, str(exc), **exc.where)
    label = position_label(fmt)
    budget = QuarantineBudget(st.settings.quarantine_max_records)
    checked_batches = []
    for batch in batches:
        checked = st.ingestor.validate(batch)
        for rejected in checked.rejected:
            if rejected.reason.startswith("not valid JSON"):
                column = rejected.reason.rsplit("column ", 1)[-1]
                return _error(
                    400,
                    f"malformed JSON on {label} {rejected.pos}: {rejected.reason}",
                    line=rejected.pos,
                    column=int(column) if column.isdigit() else None,
                )
        budget.take(checked)  # the first rejected records are kept in full, the rest counted
        checked_batches.append(checked)
    del batches
    source = f"api:{token.name}"
    result = WriteResult()
    for checked in checked_batches:
        # a token bound to accounts stores events of those accounts only (the others are quarantined)
        result.add(st.ingestor.store(checked, source, label, accounts=token.accounts))
    st.ingestor.store_not_kept(budget, source, label, result)
    return flask.jsonify(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": [{label: r.pos, "reason": r.reason} for r in result.rejected_records],
            "rejected_total": result.rejected,
            "conflicts": [{label: r.pos, "reason": r.reason} for r in result.conflict_records],
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
        }
    )


# -- reading the log (bearer token with scope `read`) -----------------------------------------------------
READ_LIMIT_DEFAULT = 1_000
READ_LIMIT_MAX = 10_000
#: the largest `after` (sequence numbers are 64-bit)
AFTER_MAX = 2**62
ALERT_LIMIT_DEFAULT = 500
ALERT_LIMIT_MAX = 5_000
#: the longest free-text search
Q_MAX = 200
#: the query keys of the read routes that are not filters
_PAGING_KEYS = ("after", "limit", "format")
#: shapes GET /api/v1/events can answer in
READ_FORMATS = ("contract", "ocsf")
_TIME_KEYS = ("range", "from", "to")
#: GET /api/v1/events: parameters given once, and comma-separated lists (which may also repeat)
EVENT_SINGLE = ("after", "limit", "format", "range", "from", "to", "tz", "outcome", "ip", "q", "own")
EVENT_LISTS = LIST_FIELDS
ALERT_LISTS = ("status", "severity", "rule")


def _reader() -> tuple[Any, flask.Response | None]:
    """The read token of this request, or the 401 answer."""
    presented = bearer_token()
    if presented is None:
        return None, _error(401, "missing bearer token (Authorization: Bearer adt_...)")
    token = verify_token(state().db, presented, "read")
    if token is None:
        return None, _error(401, "invalid, revoked or insufficient token (needs scope read)")
    return token, None


class BadQuery(ValueError):
    """A query parameter of a read route that cannot be used: 400 naming it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


#: the longest value any read parameter may have (`q` and `tz` are shorter still)
_MAX_VALUE = 4_000


def read_query(single: tuple[str, ...], lists: tuple[str, ...]) -> dict[str, list[str]]:
    """The query of a read request, checked: raise `BadQuery` naming the first unusable parameter.

    Keys and values are decoded strictly as UTF-8 (percent-escapes included); a key the route
    does not know, a parameter meant once but given more often, an empty value or an empty item
    of a comma-separated list, a control character or an overlong value are refused. List
    parameters may also be repeated; their comma-separated items are returned one by one.
    """
    out: dict[str, list[str]] = {}
    for pair in flask.request.query_string.split(b"&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition(b"=")
        raw_key, raw_value = (
            unquote_to_bytes(raw_key.replace(b"+", b" ")),
            unquote_to_bytes(raw_value.replace(b"+", b" ")),
        )
        try:
            key = raw_key.decode("utf-8")
        except UnicodeDecodeError:
            shown = raw_key.decode("utf-8", "replace")
            raise BadQuery(shown, f"parameter name {shown!r} is not UTF-8") from None
        if key not in single and key not in lists:
            known = ", ".join((*single, *lists))
            raise BadQuery(key, f"unknown parameter {key[:100]!r}; this route knows {known}")
        try:
            value = raw_value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadQuery(key, f"{key} is not UTF-8 (byte {exc.start} of its value)") from None
        if len(value) > _MAX_VALUE:
            raise BadQuery(key, f"{key} is {len(value):,} characters long; at most {_MAX_VALUE:,}")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise BadQuery(key, f"{key}={value[:100]!r} holds a control character")
        if key in single and key in out:
            raise BadQuery(key, f"{key} is given more than once; give it once")
        items = [value.strip()] if key in single else [v.strip() for v in value.split(",")]
        if not all(items):
            raise BadQuery(
                key, f"{key} is empty" + ("" if key in single else " or has an empty item") + "; leave it out instead"
            )
        out.setdefault(key, []).extend(items)
    return out


def _whole_number(query: dict[str, list[str]], name: str, default: int, lowest: int, highest: int) -> int:
    raw = query.get(name, [None])[0]
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20 and lowest <= int(raw) <= highest):
        raise BadQuery(name, f"{name}={raw[:100]!r} must be a whole number from {lowest} to {highest}")
    return int(raw)


def _one_of(query: dict[str, list[str]], name: str, allowed: tuple[str, ...] | list[str]) -> None:
    for value in query.get(name, []):
        if value not in allowed:
            raise BadQuery(name, f"{name}={value[:100]!r} is not one of {', '.join(allowed)}")


@functools.cache
def _zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _is_address(text: str) -> bool:
    import ipaddress

    if "%" in text:  # a zone index (fe80::1%eth0) is not part of a stored address
        return False
    try:
        ipaddress.ip_network(text, strict=False) if "/" in text else ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _event_problems(query: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(parameter, problem) for every filter value `Filters.from_query` would drop, guess at or fail on."""
    from dashboard.countries import COUNTRIES
    from dashboard.events.taxonomy import CATEGORIES
    from dashboard.filters import OUTCOMES, PRESETS

    problems: list[tuple[str, str]] = []

    def one_of(name: str, allowed: tuple[str, ...] | list[str]) -> None:
        problems.extend(
            (name, f"{name}={v[:100]!r} is not one of {', '.join(allowed)}")
            for v in query.get(name, [])
            if v not in allowed
        )

    one_of("format", READ_FORMATS)
    one_of("range", tuple(PRESETS))
    if "range" in query and ("from" in query or "to" in query):
        problems.append(("range", "range and from/to both given: give a relative range or dates, not both"))
    for key in ("from", "to"):
        for value in query.get(key, []):
            try:
                parse_when(value, end=key == "to")
            except WhenError as exc:
                problems.append((key, f"{key}={exc}"))
    for tz in query.get("tz", []):
        if tz not in _zones():
            problems.append(("tz", f"tz={tz[:100]!r} is not an IANA time zone (Europe/Berlin, America/New_York, UTC)"))
    one_of("categories", tuple(CATEGORIES))
    one_of("outcome", tuple(OUTCOMES))
    one_of("own", ("1", "0"))
    problems.extend(
        ("ip", f"ip={v[:100]!r} is not an address or CIDR block") for v in query.get("ip", []) if not _is_address(v)
    )
    problems.extend(
        ("countries", f"countries={c[:100]!r} is not an ISO 3166-1 alpha-2 country code (DE, US)")
        for c in query.get("countries", [])
        if c.upper() not in COUNTRIES
    )
    for key, (lowest, highest) in (("weekdays", (1, 7)), ("hours", (0, 23))):
        problems.extend(
            (key, f"{key}={v[:100]!r} must be a whole number from {lowest} to {highest}")
            for v in query.get(key, [])
            if not (v.isascii() and v.isdigit() and len(v) <= 2 and lowest <= int(v) <= highest)
        )
    problems.extend(
        ("q", f"q is {len(v):,} characters long; at most {Q_MAX}") for v in query.get("q", []) if len(v) > Q_MAX
    )
    return problems


def _filter_problem(problem: str, query: dict[str, list[str]]) -> tuple[str, str]:
    """(parameter, problem) for a problem of `Filters.problems` (`outcome='x' is ...`; a reversed range)."""
    if problem.startswith("the range ends before it starts"):
        start, end = query.get("from", [""])[0], query.get("to", [""])[0]
        return "to", f"to={end[:100]!r} is not after from={start[:100]!r}"
    head = problem.split("=", 1)[0] if "=" in problem else problem.split(" ", 1)[0].rstrip(":")
    return (head if head in EVENT_SINGLE or head in EVENT_LISTS else "filters"), problem


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
    from dashboard.packs.ndjson import read_columns, read_event
    from dashboard.store.schema import events as E

    token, refused = _reader()
    if refused is not None:
        return refused
    try:
        query = read_query(EVENT_SINGLE, EVENT_LISTS)
        after = _whole_number(query, "after", 0, 0, AFTER_MAX)
        limit = _whole_number(query, "limit", READ_LIMIT_DEFAULT, 1, READ_LIMIT_MAX)
    except BadQuery as exc:
        return _error(400, str(exc), parameter=exc.parameter, problems=[str(exc)])
    shape = query.get("format", ["contract"])[0]
    problems = _event_problems(query)
    failed = {name for name, _ in problems}
    filters = Filters.from_query(
        {k: [",".join(v)] for k, v in query.items() if k not in _PAGING_KEYS and k not in failed},
        dashboard_activity=True,
    )
    problems += [_filter_problem(p, query) for p in filters.problems]
    if problems:
        said = [p for _, p in problems]
        return _error(
            400,
            said[0] if len(said) == 1 else "bad filters: " + "; ".join(said),
            parameter=problems[0][0],
            problems=said,
        )
    if not any(k in query for k in _TIME_KEYS):  # no time filter: the whole log
        filters = filters.with_(start=datetime(2000, 1, 1), end=datetime(3000, 1, 1))
    stmt = sa.select(*read_columns()).where(filters.where(E), E.c.seq > after).order_by(E.c.seq).limit(limit + 1)
    with state().db.connect() as conn:
        rows = conn.execute(stmt).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    out = [read_event(row._mapping) for row in rows]
    if shape == "ocsf":
        from dashboard.events.ocsf import to_ocsf

        out = [to_ocsf(doc) for doc in out]
    next_after = rows[-1].seq if rows else after
    _log_read(
        token,
        "events",
        {"filters": filters.to_query(), "after": after, "limit": limit, "returned": len(out), "format": shape},
    )
    following = {k: [",".join(v)] for k, v in query.items() if k not in _PAGING_KEYS}
    following.update(after=[str(next_after)], limit=[str(limit)])
    if shape != "contract":
        following["format"] = [shape]
    return json_response(
        {
            "events": out,
            "count": len(out),
            "more": more,
            "next_after": next_after,
            "next": "/api/v1/events?" + urlencode(following, doseq=True),
        }
    )


@api.get("/api/v1/alerts")
def get_alerts() -> flask.Response:
    """Alerts, most recent activity first (scope `read`): `status`, `severity`, `rule` (comma lists), `limit`."""
    from dashboard.detect.alerts import STATUSES
    from dashboard.detect.rules import SEVERITIES
    from dashboard.web.services import detection

    token, refused = _reader()
    if refused is not None:
        return refused
    try:
        query = read_query(("limit",), ALERT_LISTS)
        limit = _whole_number(query, "limit", ALERT_LIMIT_DEFAULT, 1, ALERT_LIMIT_MAX)
        _one_of(query, "status", tuple(STATUSES))
        _one_of(query, "severity", tuple(SEVERITIES))
    except BadQuery as exc:
        return _error(400, str(exc), parameter=exc.parameter, problems=[str(exc)])
    chosen = {key: list(dict.fromkeys(query.get(key, []))) for key in ALERT_LISTS}
    found = detection().alerts.list(
        status=chosen["status"] or None,
        severity=chosen["severity"] or None,
        rule=chosen["rule"] or None,
        limit=limit,
        with_evidence=True,
    )
    alerts = [{k: utc_text(v) for k, v in alert.items()} for alert in found]
    _log_read(token, "alerts", {"query": {k: v for k, v in chosen.items() if v}, "returned": len(alerts)})
    return json_response({"alerts": alerts, "count": len(alerts)})
