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
    # 32-bit floats on both engines (DuckDB's FLOAT is one, PostgreSQL's is 64-bit): the canonical
    # text of form 2 names them so, and the rollups and notable events copy these types, so a place
    # compares equal in all of them
    sa.Column("geo_lat", sa.REAL),
    sa.Column("geo_lon", sa.REAL),
    sa.Column("user_agent", sa.String),
    sa.Column("session_id", sa.String),
    sa.Column("request_id", sa.String),
    sa.Column("changes", sa.String),
    sa.Column("metadata", sa.String),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("batch_id", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # canonical form 3 (schema version 12, docs/integrity.md "Erasure"): the event's random salt
    # (32 hex characters) of its personal fields' commitments, and what an erasure recorded
    sa.Column("salt", sa.String),
    sa.Column("erased", sa.String),
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
    # schema version 6 (docs/integrity.md): the canonical form of the batch's hashes, and its
    # quarantined records (count, SHA-256 of their hashes in id order; NULL in version 1)
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("quarantine_count", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("quarantine_digest", sa.String(64)),
    # schema version 9: sequence numbers this batch skipped because rows stored outside the chain
    # held them (NULL: none); covered by the batch's hash (docs/integrity.md, "Rows past the end")
    sa.Column("skipped_first", sa.BigInteger),
    sa.Column("skipped_last", sa.BigInteger),
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
    # schema version 6: the chain batch that stored the record and its hash (NULL before version 2)
    sa.Column("batch_id", sa.BigInteger),
    sa.Column("hash", sa.String(64)),
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
    # ingest tokens: the accounts it may send events for, comma-separated; NULL: any (schema version 5)
    sa.Column("accounts", sa.String),
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

# -- dashboard users, their sessions, login throttling (schema version 2, docs/security.md) --------
users = sa.Table(
    "dashboard_users",
    metadata,
    sa.Column("username", sa.String, primary_key=True),
    sa.Column("role", sa.String, nullable=False),
    # argon2id hash (PHC string); the password itself is never stored.
    sa.Column("password_hash", sa.String, nullable=False),
    # RFC 6238 shared secret (base32) when the second factor is on; the last time step used,
    # so a code cannot be replayed.
    sa.Column("totp_secret", sa.String),
    sa.Column("totp_last_step", sa.BigInteger),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("password_changed_at", sa.DateTime, nullable=False),
    sa.Column("last_login_at", sa.DateTime),
    sa.Column("disabled_at", sa.DateTime),
    # `<issuer> <sub>` of the identity-provider account of a user made by single sign-on (such a
    # user has no usable local password); NULL for a local account.
    sa.Column("sso_subject", sa.String),
)

sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    # SHA-256 of the random session id the signed cookie carries.
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("ended_at", sa.DateTime),
    sa.Column("end_reason", sa.String),
    sa.Column("ip", sa.String),
    sa.Column("user_agent", sa.String),
)

login_throttle = sa.Table(
    "login_throttle",
    metadata,
    # `user:NAME` or `addr:IP`
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", sa.DateTime, nullable=False),
    sa.Column("locked_until", sa.DateTime),
)

# -- detection (dashboard/detect): alerts, their evidence and history, notifications, reviews --

alert_id_seq = sa.Sequence("alert_id_seq")

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.BigInteger, alert_id_seq, primary_key=True, server_default=alert_id_seq.next_value()),
    sa.Column("rule_id", sa.String, nullable=False),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("severity", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # open, acknowledged, resolved
    sa.Column("alert_key", sa.String, nullable=False),  # canonical "field=value|..." of the group-by
    sa.Column("key_json", sa.String, nullable=False),
    sa.Column("account_id", sa.String),
    sa.Column("key_user", sa.String),
    sa.Column("key_ip", sa.String),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.Column("event_count", sa.BigInteger, nullable=False),
    sa.Column("measures", sa.String, nullable=False),  # JSON: the peak measures (count, distinct, km/h ...)
    sa.Column("detail", sa.String, nullable=False),  # JSON: what the reviewer needs (places, countries ...)
    sa.Column("summary", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("assignee", sa.String),
    sa.Column("acknowledged_by", sa.String),
    sa.Column("acknowledged_at", sa.DateTime),
    sa.Column("resolved_by", sa.String),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("resolution", sa.String),  # true_positive, false_positive, expected
)

alert_evidence = sa.Table(
    "alert_evidence",
    metadata,
    sa.Column("alert_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
)

alert_activity_id_seq = sa.Sequence("alert_activity_id_seq")

alert_activity = sa.Table(
    "alert_activity",
    metadata,
    sa.Column(
        "id", sa.BigInteger, alert_activity_id_seq, primary_key=True, server_default=alert_activity_id_seq.next_value()
    ),
    sa.Column("alert_id", sa.BigInteger, nullable=False),
    sa.Column("happened_at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),  # created, escalated, reopened, acknowledge, assign, ...
    sa.Column("note", sa.String),
)

notification_id_seq = sa.Sequence("notification_id_seq")

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column(
        "id", sa.BigInteger, notification_id_seq, primary_key=True, server_default=notification_id_seq.next_value()
    ),
    sa.Column("alert_id", sa.BigInteger),
    sa.Column("channel", sa.String, nullable=False),  # webhook, email
    sa.Column("kind", sa.String, nullable=False),  # alert, escalation, reopened, digest
    sa.Column("status", sa.String, nullable=False),  # pending, digest, sent, failed
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime),
    sa.Column("last_error", sa.String),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("digest_id", sa.BigInteger),  # the digest notification that carried this one
    sa.Column("payload", sa.String, nullable=False),  # JSON, never a secret
)

review_signoff_id_seq = sa.Sequence("review_signoff_id_seq")

review_signoffs = sa.Table(
    "review_signoffs",
    metadata,
    sa.Column(
        "id", sa.BigInteger, review_signoff_id_seq, primary_key=True, server_default=review_signoff_id_seq.next_value()
    ),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),  # inclusive
    sa.Column("reviewer", sa.String, nullable=False),
    sa.Column("role", sa.String),
    sa.Column("signed_at", sa.DateTime, nullable=False),
    sa.Column("note", sa.String, nullable=False),
    sa.Column("summary", sa.String, nullable=False),  # JSON: what the period held when it was signed
)

# -- retention, archive and integrity (schema version 4, docs/integrity.md) ------------------------

hold_id_seq = sa.Sequence("legal_hold_id_seq")

legal_holds = sa.Table(
    "legal_holds",
    metadata,
    sa.Column("id", sa.BigInteger, hold_id_seq, primary_key=True, server_default=hold_id_seq.next_value()),
    sa.Column("kind", sa.String, nullable=False),  # `period` or `user`
    sa.Column("starts_at", sa.DateTime),  # period: occurred_at >= starts_at
    sa.Column("ends_at", sa.DateTime),  # period: occurred_at < ends_at
    sa.Column("user_id", sa.String),  # user: the actor, or the target user, of an event
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("created_by", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("released_by", sa.String),
    sa.Column("released_at", sa.DateTime),
)

archive_months = sa.Table(
    "archive_months",
    metadata,
    # a copy of the manifest of each archived month (the manifest file beside the Parquet is the
    # commit point; this row is refreshed from it)
    sa.Column("month", sa.String, primary_key=True),  # YYYY-MM of occurred_at
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("file", sa.String, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("expired_rows", sa.BigInteger, nullable=False),
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("boundary_batch_id", sa.BigInteger, nullable=False),
    sa.Column("boundary_hash", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

purge_runs = sa.Table(
    "purge_runs",
    metadata,
    # the purge journal: one row per run, updated as the run passes its steps
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("state", sa.String, nullable=False),  # planned, archived, done, failed, resumed
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("hot_cutoff", sa.DateTime, nullable=False),
    sa.Column("archive_cutoff", sa.DateTime, nullable=False),
    sa.Column("plan", sa.String, nullable=False),  # JSON: months, counts
    sa.Column("archived", sa.BigInteger, nullable=False),
    sa.Column("deleted", sa.BigInteger, nullable=False),
    sa.Column("held", sa.BigInteger, nullable=False),
    sa.Column("expired", sa.BigInteger, nullable=False),
    sa.Column("error", sa.String),
)

checkpoint_id_seq = sa.Sequence("checkpoint_id_seq")

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("id", sa.BigInteger, checkpoint_id_seq, primary_key=True, server_default=checkpoint_id_seq.next_value()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("chain_id", sa.String(64), nullable=False),  # hash of batch 1: which chain this is
    sa.Column("batch_id", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("algorithm", sa.String, nullable=False),  # hmac-sha256
    sa.Column("key_id", sa.String, nullable=False),
    sa.Column("signature", sa.String, nullable=False),
)

# -- streaming out to SIEMs (schema version 7, docs/connectors.md) ---------------------------------

stream_state = sa.Table(
    "stream_state",
    metadata,
    # one row per destination (by name): its cursor and what the page shows
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),  # the cursor: every event up to it is delivered
    sa.Column("delivered", sa.BigInteger, nullable=False),  # events acknowledged by the destination
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("config_digest", sa.String),  # SHA-256 of the destination's settings (changes are self-logged)
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("last_delivered_at", sa.DateTime),
    sa.Column("last_error", sa.String),
    sa.Column("last_error_at", sa.DateTime),
    sa.Column("failures", sa.Integer, nullable=False),  # consecutive failed attempts
)

stream_destinations = sa.Table(
    "stream_destinations",
    metadata,
    # destinations an administrator made on the Streams page (the settings file's are not here);
    # `settings` is the destination's mapping as the file would hold it (JSON; never a token, only
    # where the token is read from: token_file or token_env)
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("settings", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.String, nullable=False),
)

# -- saved views (schema version 11, README "Saved views") ----------------------------------------

saved_views = sa.Table(
    "saved_views",
    metadata,
    # a named set of filters: `query` is the view's link query (Filters.to_query, no period when
    # the view keeps none); shared views are listed to every signed-in person, a link opens any
    sa.Column("id", sa.String, primary_key=True),  # short random text, the `view=` of links
    sa.Column("owner", sa.String, nullable=False),  # the dashboard user who saved it
    sa.Column("name", sa.String, nullable=False),
    sa.Column("query", sa.String, nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# -- rollups of the events (schema version 13, docs/architecture.md "Rollups") ---------------------
# Counts of events per UTC bucket (`occurred_at`: the bucket's start) and per value of the columns
# the pages group and filter by, kept in the transaction that stores, purges or restores events.
# The columns carry the events' names, so the same view conditions apply to both.


def _rollup(name: str, *dims: str) -> sa.Table:
    columns = [sa.Column("occurred_at", sa.DateTime, nullable=False)]
    columns += [sa.Column(d, events.c[d].type) for d in dims]
    return sa.Table(name, metadata, *columns, sa.Column("n", sa.BigInteger, nullable=False))


_ACTIVITY = ("account_id", "category", "action", "outcome", "actor_role", "geo_country")
#: per action and outcome, per quarter-hour, hour and day (charts of every time zone stay exact)
rollup_activity_15m = _rollup("rollup_activity_15m", *_ACTIVITY)
rollup_activity_1h = _rollup("rollup_activity_1h", *_ACTIVITY)
rollup_activity_1d = _rollup("rollup_activity_1d", *_ACTIVITY)
_ACTOR = ("account_id", "category", "outcome", "actor_role", "geo_country", "actor_type", "actor_id", "actor_name")
#: per person, per day and per week (busiest people, distinct people)
rollup_actor_1d = _rollup("rollup_actor_1d", *_ACTOR)
rollup_actor_7d = _rollup("rollup_actor_7d", *_ACTOR)
#: per person and action, per day and per week (schema version 19): the people of a view narrowed
#: to actions, and the actions of a view narrowed to people (about twice the actor rollups' rows)
_PERSON = (*_ACTIVITY, "actor_type", "actor_id", "actor_name")
rollup_person_1d = _rollup("rollup_person_1d", *_PERSON)
rollup_person_7d = _rollup("rollup_person_7d", *_PERSON)
_ADDRESS = (
    "account_id",
    "category",
    "outcome",
    "actor_role",
    "geo_country",
    "actor_id",
    "ip",
    "geo_city",
    "geo_lat",
    "geo_lon",
    # the person's type and name (schema version 18): the busiest people and the number of people
    # of a view narrowed to an address block count from here; they follow the person (no more rows)
    "actor_type",
    "actor_name",
)
#: per address, person and place, per day and per week (map, addresses, distinct addresses)
rollup_address_1d = _rollup("rollup_address_1d", *_ADDRESS)
rollup_address_7d = _rollup("rollup_address_7d", *_ADDRESS)
#: the same with the action, per week only (schema version 20): the places, addresses and people of a
#: view narrowed to actions (Security's map and addresses); twice the weekly rows, so views without
#: an action keep reading the tables above, and the days at a range's edges are read raw
rollup_address_action_7d = _rollup("rollup_address_action_7d", *_ADDRESS, "action")
#: what the rollups count: the number of events and the sum of their sequence numbers, changed in
#: the same transactions; a store whose events differ (rows written outside auditdash) reads raw
rollup_state = sa.Table(
    "rollup_state",
    metadata,
    sa.Column("events", sa.BigInteger, nullable=False),
    sa.Column("seq_sum", sa.BigInteger, nullable=False),
)
#: the rare events the security figures read (failures, lockouts, role and permission changes),
#: whole, so every filter (text, addresses, hours) applies to them as to `events`
events_notable = sa.Table(
    "events_notable", metadata, *[sa.Column(c.name, c.type, nullable=c.nullable) for c in events.columns]
)

# -- free-text search: the distinct values it reads (schema version 14, docs/architecture.md) ----------
# Every distinct actor (id, name, e-mail) and target (id, name) of the stored events with the number
# of events that carry it, kept in the transactions that store, purge, restore or erase events (a
# value no event carries any more is gone), and a generation that every such change advances.
text_actors = sa.Table(
    "text_actors",
    metadata,
    sa.Column("actor_id", sa.String),
    sa.Column("actor_name", sa.String),
    sa.Column("actor_email", sa.String),
    sa.Column("n", sa.BigInteger, nullable=False),
)
text_targets = sa.Table(
    "text_targets",
    metadata,
    sa.Column("target_id", sa.String),
    sa.Column("target_name", sa.String),
    sa.Column("n", sa.BigInteger, nullable=False),
)
text_state = sa.Table(
    "text_state",
    metadata,
    sa.Column("generation", sa.BigInteger, nullable=False),  # advanced when events are removed or restored
    sa.Column("high", sa.BigInteger, nullable=False),  # the highest sequence number counted
)
