"""Table definitions (SQLAlchemy Core), shared by every backend.

The `events` table holds one row per accepted event, with its place in the integrity chain
(`seq`, `hash`); `chain_batches` links the batches into a hash chain (see docs/integrity.md).
Timestamps are stored as naive UTC (`TIMESTAMP`), millisecond precision.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
    sa.Column("description", sa.String, nullable=False),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("account_id", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("category", sa.String, nullable=False),
    sa.Column("outcome", sa.String, nullable=False),
    sa.Column("reason", sa.String),
    sa.Column("actor_id", sa.String),
    sa.Column("actor_name", sa.String),
    sa.Column("actor_email", sa.String),
    sa.Column("actor_role", sa.String),
    sa.Column("actor_type", sa.String, nullable=False),
    sa.Column("target_type", sa.String),
    sa.Column("target_id", sa.String),
    sa.Column("target_name", sa.String),
    sa.Column("ip", sa.String),
    sa.Column("ip_scope", sa.String, nullable=False),
    sa.Column("geo_country", sa.String),
    sa.Column("geo_city", sa.String),
    sa.Column("geo_lat", sa.Float),
    sa.Column("geo_lon", sa.Float),
    sa.Column("user_agent", sa.String),
    sa.Column("session_id", sa.String),
    sa.Column("request_id", sa.String),
    sa.Column("changes", sa.String),
    sa.Column("metadata", sa.String),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("batch_id", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

chain_batches = sa.Table(
    "chain_batches",
    metadata,
    sa.Column("batch_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("event_count", sa.BigInteger, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("events_digest", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

quarantine_id_seq = sa.Sequence("quarantine_id_seq")

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger,
        quarantine_id_seq,
        primary_key=True,
        server_default=quarantine_id_seq.next_value(),
    ),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("position", sa.String, nullable=False),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("raw", sa.String, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False, unique=True),
    sa.Column("scopes", sa.String, nullable=False),
    sa.Column("token_hash", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
)

#: the columns of `events` that the canonical hash covers, in order (see docs/integrity.md).
HASHED_COLUMNS: tuple[str, ...] = (
    "seq",
    "event_id",
    "occurred_at",
    "received_at",
    "account_id",
    "action",
    "category",
    "outcome",
    "reason",
    "actor_id",
    "actor_name",
    "actor_email",
    "actor_role",
    "actor_type",
    "target_type",
    "target_id",
    "target_name",
    "ip",
    "ip_scope",
    "geo_country",
    "geo_city",
    "user_agent",
    "session_id",
    "request_id",
    "changes",
    "metadata",
    "source",
    "batch_id",
)
