"""The HTTP API: event ingest (`POST /api/v1/events`) and a health check.

The body is a JSON array of events or NDJSON (one event per line). A body that is not valid
JSON at all gets 400 with the line and column of the first error and nothing is stored.
Events that are valid JSON but break the contract are rejected one by one: the response
lists their index (array) or line (NDJSON) with the reason, and they are kept in quarantine.
"""

from __future__ import annotations

import json
from typing import Any

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
        text = body.decode("utf-8")
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
