"""Fuzzing `POST /api/v1/events` bodies (Flask test client, real DuckDB file): whatever the body,
the answer is never a 5xx, always JSON, and when records are taken every one of them is
accounted for (accepted + duplicates + rejected + conflicts == records sent)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.access.tokens import create_token
from dashboard.config import Settings
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, event


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Database]]:
    from dashboard.web.app import create_app

    db = Database(tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb")
    app = create_app(Settings(db_path=db.path, geo_dir=GEO_DIR, max_body_bytes=256 * 1024), db)
    _, token = create_token(db, "fuzz")
    try:
        yield app.server.test_client(), token, db
    finally:
        db.close()


# JSON values with what Python's json module lets through and strict JSON does not
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    """Mostly events, some with hostile fields; sometimes any JSON value at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(values)
    doc = event(id=f"fz-{draw(st.integers(0, 50))}")
    for field in draw(
        st.lists(st.sampled_from(["metadata", "changes", "action", "actor", "occurred_at", "ip", "x"]), max_size=3)
    ):
        doc[field] = draw(values)
    return doc


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


#: the kinds of body: every one is fuzzed under every content type below
KINDS = ["array", "ndjson", "bytes", "deep", "mangled"]
CONTENT_TYPES = [
    "application/json",
    "application/x-ndjson",
    "text/plain; charset=latin-1",
    "multipart/form-data",
    "application/x-www-form-urlencoded",
    "",
]


@st.composite
def bodies(draw: st.DrawFn, kind: str) -> tuple[bytes, int | None]:
    """(body of this kind, records it holds if known)."""
    if kind == "bytes":
        return draw(st.binary(max_size=300)), None
    docs = draw(st.lists(events(), min_size=1, max_size=8))
    texts = [json.dumps(d, ensure_ascii=draw(st.booleans())) for d in docs]
    if kind == "deep":
        texts[0] = '{"metadata": {"a": ' + deep(draw(st.sampled_from([31, 32, 33, 3000, 60_000]))) + "}}"
    if kind in ("array", "deep"):
        body, count = "[" + ", ".join(texts) + "]", len(texts)
    else:
        seps = draw(
            st.lists(
                st.sampled_from(["\n", "\r\n", "\n\n", "\n \t\n", "\u2028\n", "\n\u0085"]),
                min_size=len(texts),
                max_size=len(texts),
            )
        )
        body = "".join(t + s for t, s in zip(texts, seps, strict=True))
        count = sum(1 for t in body.split("\n") if t.strip(" \t\r"))
        if body.lstrip().startswith("["):  # a first "line" that is an array makes the body one JSON array
            count = None
    data = body.encode("utf-8", "surrogatepass")
    if kind == "mangled":  # cut, flipped, with a stray byte: anything may happen but a 5xx
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=4)) + data[cut:]
        count = None
    if draw(st.integers(0, 5)) == 0:
        data = gzip.compress(data)
    return data, count


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=3,  # per kind and content type: each of the 30 pairs is fuzzed, none left to chance
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(drawn=st.data())
def test_no_body_gets_a_5xx_and_every_record_is_accounted_for(
    client: tuple[Any, str, Database], kind: str, content_type: str, drawn: st.DataObject
) -> None:
    test_client, token, _db = client
    data, sent = drawn.draw(bodies(kind), label="body")
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    reply = test_client.post("/api/v1/events", data=data, headers=headers)
    assert reply.status_code < 500, reply.get_data(as_text=True)[:500]
    answer = reply.get_json(silent=True)
    assert isinstance(answer, dict), reply.get_data(as_text=True)[:200]
    if reply.status_code != 200:
        assert reply.status_code in (400, 413) and answer["error"]
        return
    taken = answer["accepted"] + answer["duplicates"] + answer["rejected_total"] + len(answer["conflicts"])
    if sent is not None and not data.startswith(b"\x1f\x8b"):
        assert taken == sent, answer
    for rejected in answer["rejected"]:
        assert rejected["reason"] and not any(c in rejected["reason"] for c in "\x00\n\r\x1b")


def test_what_is_stored_is_strict_json(client: tuple[Any, str, Database]) -> None:
    """After the fuzzing above (the module's database), nothing stored holds NaN or Infinity."""
    import sqlalchemy as sa

    test_client, token, db = client
    reply = test_client.post(
        "/api/v1/events",
        data=json.dumps([event(id="strict", metadata={"x": float("nan")})]),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200 and reply.get_json()["rejected_total"] == 1
    with db.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM events")).scalar()
        odd = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE metadata ~ '(NaN|Infinity)' OR changes ~ '(NaN|Infinity)'")
        ).scalar()
    assert stored and odd == 0
