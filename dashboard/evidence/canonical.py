"""The canonical form of the hash chain, as verification reads it: the SQL of an event's canonical
text (what `writer.EVENT_HASH_SQL` hashes), per canonical form version, and the rows to recompute.
"""

from __future__ import annotations

import hashlib

from dashboard.store.writer import EVENT_HASH_SQL, versioned_text_sql

# The canonical text is what EVENT_HASH_SQL hashes; hashing it in Python gives the same digest.
if not (EVENT_HASH_SQL.startswith("sha256(") and EVENT_HASH_SQL.endswith(")")):  # pragma: no cover
    raise ImportError("writer.EVENT_HASH_SQL is no longer sha256(<canonical text>): update evidence/canonical.py")


#: SQL expression of an event's canonical text (the argument of EVENT_HASH_SQL's sha256), current form.
EVENT_TEXT_SQL = EVENT_HASH_SQL[len("sha256(") : -1]


#: the canonical text of a row that carries its batch's canonical form version as `_version`
ROW_TEXT_SQL = versioned_text_sql("_version")


#: canonical form versions this code verifies
KNOWN_VERSIONS = (1, 2, 3)

#: an erased event of a form 1 or 2 batch: its hash covers the values themselves, so it is no
#: longer recomputed; it stands as a recorded commitment, checked through its batch's digest and the
#: erasure record that vouches for the erasure (`verify._check_erasures`; docs/integrity.md, "Erasure")
HASH_KEPT_SQL = "(_version IN (1, 2) AND erased IS NOT NULL)"


def text_rows_sql(source: str, versions: str = "chain_batches") -> str:
    """SQL of (seq, hash, t) for the rows of the SQL query `source` (shaped like `events`): `t` is
    each row's canonical text in the form of its batch, looked up in `versions` (a table with
    `batch_id` and `version`). Archived rows keep their batch, so their form too. Erased events of
    forms 1 and 2 are left out (`HASH_KEPT_SQL`)."""
    return (
        f"SELECT seq, hash, {ROW_TEXT_SQL} AS t FROM (SELECT r.*, v._version FROM ({source}) r "  # noqa: S608
        f"LEFT JOIN (SELECT batch_id, version AS _version FROM {versions}) v ON v.batch_id = r.batch_id) "
        f"WHERE NOT coalesce({HASH_KEPT_SQL}, false)"
    )


#: the audit event that records an erasure (its metadata: `erasure_id`, `events`, `digest`)
ERASE_ACTION = "audit.erase"


def erasure_digest(marks: list[tuple[int, list[str]]]) -> str:
    """What an erasure record vouches for: SHA-256 of one line `seq:field,field` per erased event
    (fields sorted), lines in `seq` order joined by `\\n` (docs/integrity.md, "Erasure")."""
    lines = [f"{seq}:{','.join(sorted(fields))}" for seq, fields in sorted(marks)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
