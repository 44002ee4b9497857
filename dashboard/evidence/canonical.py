"""The canonical form of the hash chain, as verification reads it: the SQL of an event's canonical
text (what `writer.EVENT_HASH_SQL` hashes), per canonical form version, and the rows to recompute.
"""

from __future__ import annotations

from dashboard.store.writer import EVENT_HASH_SQL, versioned_text_sql

# The canonical text is what EVENT_HASH_SQL hashes; hashing it in Python gives the same digest.
if not (EVENT_HASH_SQL.startswith("sha256(") and EVENT_HASH_SQL.endswith(")")):  # pragma: no cover
    raise ImportError("writer.EVENT_HASH_SQL is no longer sha256(<canonical text>): update evidence/canonical.py")


#: SQL expression of an event's canonical text (the argument of EVENT_HASH_SQL's sha256), current form.
EVENT_TEXT_SQL = EVENT_HASH_SQL[len("sha256(") : -1]


#: the canonical text of a row that carries its batch's canonical form version as `_version`
ROW_TEXT_SQL = versioned_text_sql("_version")


#: canonical form versions this code verifies
KNOWN_VERSIONS = (1, 2)


def text_rows_sql(source: str, versions: str = "chain_batches") -> str:
    """SQL of (seq, hash, t) for the rows of the SQL query `source` (shaped like `events`): `t` is
    each row's canonical text in the form of its batch, looked up in `versions` (a table with
    `batch_id` and `version`). Archived rows keep their batch, so their form too."""
    return (
        f"SELECT seq, hash, {ROW_TEXT_SQL} AS t FROM (SELECT r.*, v._version FROM ({source}) r "  # noqa: S608
        f"LEFT JOIN (SELECT batch_id, version AS _version FROM {versions}) v ON v.batch_id = r.batch_id)"
    )
