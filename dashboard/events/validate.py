"""Batch validation and normalisation of raw events, run inside DuckDB.

Records arrive as JSON text with a position (line number or array index). A whole batch is
checked and normalised by vectorised SQL generated from `contract.FIELDS`: parsing, type and
length checks, timestamp parsing to UTC, defaults and the category. Addresses are classified
in Python once per distinct value (validity, internal or masked, geolocation). The result is
an Arrow table of accepted events, ready for the store, and a list of rejected records, each
with every reason it was refused.

Two paths share that work, so that the common case is cheap and the rare one is exact:

* the fast path (`_FAST_SQL`, one statement, no temporary tables) reads each record with three
  JSON calls and accepts only records it can prove valid: the usual shape (known keys, each
  once; fields of the right types; `occurred_at` as `...Z` or an epoch number; no
  `before`/`after`). Any doubt sends the record on.
* the exact path (`_validate_exact`) checks every rule separately and words every reason. It
  sees only the records the fast path did not accept, usually none.

A record accepted by the fast path is one the exact path would accept with the same values,
so which path took a record never shows in the result.

This runs on any DuckDB connection: the store's own (DuckDB backend) or an in-memory one
(any backend), so validation is the same whatever the database.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.events import contract
from dashboard.events.taxonomy import ACTION_CATEGORY
from dashboard.store.duck import run

if TYPE_CHECKING:
    import duckdb

    from dashboard.ingest.geo import GeoLocator, IpInfo

#: accepted events may be at most this far in the future (clock skew between systems).
MAX_FUTURE = timedelta(hours=24)
MIN_TIME = datetime(2000, 1, 1)

#: columns of an accepted batch, in order (the store's insert reads these names).
ACCEPTED_COLUMNS: tuple[str, ...] = (
    "pos",
    "event_id",
    "occurred_at",
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
    "geo_lat",
    "geo_lon",
    "user_agent",
    "session_id",
    "request_id",
    "changes",
    "metadata",
)


@dataclass
class Rejected:
    """A record that was refused, kept raw with every reason.

    Its raw text is kept as received but for one character: U+0000 (NUL), which a PostgreSQL
    text cannot hold, is kept as U+2400 (the visible symbol for NUL) on every engine, and the
    reason says so; the quarantine then moves between engines (`auditdash migrate`) unchanged.
    """

    pos: int
    raw: str
    reason: str

    def __post_init__(self) -> None:
        if "\x00" in self.raw:
            n = self.raw.count("\x00")
            self.raw = self.raw.replace("\x00", NUL_KEPT_AS)
            self.reason += (
                f" (its raw text's {n:,} NUL character{'s' if n > 1 else ''} (U+0000) "
                f"{'are' if n > 1 else 'is'} kept as {NUL_KEPT_AS} (U+2400): a store's text cannot hold U+0000)"
            )


#: what a NUL character of a quarantined record's raw text is kept as
NUL_KEPT_AS = "\u2400"


@dataclass
class BatchResult:
    """What validation made of one batch."""

    accepted: pa.Table
    rejected: list[Rejected] = field(default_factory=list)


class Unreadable(str):
    """The text of a record a reader could not make into a JSON text, with the reason.

    The reason travels beside the text, never inside it: whatever the text holds (a NUL, a line
    that looks like a reason), it is never read as anything but the record's raw text. A batch
    given as an Arrow table carries the same in an `error` column.
    """

    reason: str

    def __new__(cls, reason: str, raw: str) -> Self:
        obj = super().__new__(cls, raw)
        obj.reason = reason
        return obj


# -- what is shown of a sender's text ----------------------------------------------------------

#: characters that would act on a terminal or a page instead of being seen: C0 and C1 controls,
#: DEL, line and paragraph separators, and the bidirectional overrides.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    """`text` with every control character written as an escape (`\\x00`, `\\n`, `\\u2028`).

    Reasons quote what the sender sent; printed as they are, a newline or an escape sequence in
    them could forge lines of a listing. Everything shown to a person goes through this.
    """

    def escape(m: re.Match[str]) -> str:
        return m.group().encode("unicode_escape").decode("ascii")

    return _CONTROL.sub(escape, text)


def excerpt(raw: str) -> str:
    """The part of a record too large to keep whole that the quarantine keeps."""
    if len(raw) <= contract.EXCERPT_CHARS:
        return raw
    return raw[: contract.EXCERPT_CHARS] + f"... [{len(raw) - contract.EXCERPT_CHARS:,} more characters not kept]"


# -- checks made before the batch reaches DuckDB -----------------------------------------------
#
# Three rules DuckDB's JSON reader does not enforce: the size limit (checked first, so nothing
# larger is parsed), the nesting limit and strict JSON numbers (it reads NaN, Infinity and 1e999).
# Each is settled for the whole batch by one vectorised test that no good record can fail:
# fewer brackets than the limit cannot nest deeper; text without `NaN`, `Infinity`, a three-digit
# exponent or a 309-digit run holds no number a float cannot take. Only the few records that
# pass a test are checked exactly, in Python.

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_COLON = re.compile(r"\s*:")
#: one pass finds every record that may break either rule: a value a float cannot take (`NaN`,
#: `Infinity`, a three-digit exponent, 309 digits, where a JSON value starts), or at least as many
#: opening brackets as a record nested too deeply needs (RE2: one linear scan, about 5 % of the
#: validator's time on typical events)
_SUSPECT = (
    r"(?:^|[:\[,])\s*(?:NaN|-?Infinity|-?[0-9]+(?:\.[0-9]+)?[eE]\+?[0-9]{3}|-?[0-9]{309})|"
    rf"^(?:[^\[{{]*[\[{{]){{{contract.MAX_NESTING + 2}}}|"
    # a string that may hold a character no store or JSON reader takes (`_text_problem`)
    r"\\u0000|\\u[dD][89a-fA-F]"
)


def _depths(masked: str) -> np.ndarray:
    """The nesting level at each character of JSON text whose strings are blanked."""
    codes = np.frombuffer(masked.encode("ascii", "replace"), np.uint8)
    step = np.isin(codes, (91, 123)).astype(np.int32) - np.isin(codes, (93, 125)).astype(np.int32)
    return np.cumsum(step)


def _blank_strings(text: str) -> str:
    return _STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', text)


def json_depth(text: str) -> int:
    """How deeply JSON text nests (an object or array is level 1), without parsing it.

    Never recursive, so any depth is measured; for text that is not JSON the count is a guess.
    """
    return int(_depths(_blank_strings(text)).max(initial=0))


def _nesting_problem(raw: str) -> str | None:
    """Why `raw` is nested too deeply (naming the top-level field), or None."""
    masked = _blank_strings(raw)
    depth = _depths(masked)
    deepest = int(depth.max(initial=0))
    if deepest - 1 <= contract.MAX_NESTING:
        return None
    if not raw.lstrip().startswith("{"):
        return contract.too_deep_reason(None, deepest)
    # the top-level key before the deepest point: a string at level 1 followed by a colon
    where = int(np.argmax(depth))
    name, start = None, 0
    for m in _STRING.finditer(masked, 0, where):
        if depth[m.start()] == 1 and _COLON.match(masked, m.end()):
            name, start = raw[m.start() + 1 : m.end() - 1], m.start()
    if name is None:
        return contract.too_deep_reason(None, deepest)
    inside = int(depth[start:where].max(initial=1)) if where > start else deepest
    return contract.too_deep_reason(name[:80], max(inside, deepest) - 1)


class _NonFinite:
    def __init__(self, text: str) -> None:
        self.text = text


def _number(text: str) -> Any:
    try:
        value = float(text)
    except (OverflowError, ValueError):
        return _NonFinite(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _find_non_finite(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, _NonFinite):
        return path, value.text
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, child in items:
        key = str(key)
        found = _find_non_finite(child, path + key if key.startswith("[") else (f"{path}.{key}" if path else key))
        if found:
            return found
    return None


def _non_finite_problem(raw: str) -> str | None:
    """Why `raw` holds a number that is not a finite JSON number (naming the field), or None."""
    try:
        doc = json.loads(raw, parse_constant=_NonFinite, parse_float=_number, parse_int=_number)
    except (ValueError, RecursionError):
        return None  # not JSON: the validator says where
    found = _find_non_finite(doc, "")
    if found is None or found[0] == "occurred_at":  # the timestamp rules word that one
        return None
    path, text = found
    where = path or "the event"
    if text in ("NaN", "Infinity", "-Infinity"):
        return f"{where} is {text}, which JSON does not have (strict JSON only: no NaN or Infinity)"
    number = text if len(text) <= 24 else f"{text[:12]}... ({len(text):,} characters)"
    return f"{where} is {number}, too large for a 64-bit float (strict JSON only: finite numbers)"


#: characters a JSON string may spell (`\\u0000`, `\\ud800`) that no store or reader takes: U+0000
#: (PostgreSQL's text and jsonb refuse it) and UTF-16 surrogates not in a pair (not Unicode
#: characters: UTF-8 cannot encode them, DuckDB's and PostgreSQL's JSON readers refuse them)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(text: str, where: str) -> str | None:
    """Why the string `text` at `where` cannot be stored, or None."""
    m = _UNSTORABLE.search(text)
    if m is None:
        return None
    at = f"at character {m.start() + 1:,}"
    if m.group() == "\x00":
        return (
            f"{where} holds the character U+0000 (NUL) {at}, which no text column can keep on every "
            "engine (PostgreSQL refuses it): remove it, or send it spelled out (for example as \\\\u0000)"
        )
    return (
        f"{where} holds \\u{ord(m.group()):04x} {at}, half of a UTF-16 surrogate pair without its other "
        "half: not a Unicode character (UTF-8 cannot encode it and JSON readers refuse it)"
    )


def _find_unstorable(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return _unstorable(value, path or "the event")
    if isinstance(value, dict):
        for key, child in value.items():
            key = str(key)
            if _UNSTORABLE.search(key):
                quoted = repr(key if len(key) <= 80 else key[:80] + "...")
                return _unstorable(key, f"the name of a field in {path or 'the event'} ({quoted})")
            found = _find_unstorable(child, f"{path}.{key}" if path else key)
            if found:
                return found
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found = _find_unstorable(child, f"{path}[{i}]")
            if found:
                return found
    return None


def _text_problem(raw: str) -> str | None:
    """Why a string of `raw` (a value or a field's name, at any depth) holds a character no store
    takes (naming the field and the character's place in it), or None."""
    if "\\u" not in raw:
        return None
    try:
        doc = json.loads(raw, parse_constant=str, parse_float=str, parse_int=str)
    except (ValueError, RecursionError):
        return None  # not JSON: the validator says where
    return _find_unstorable(doc, "")


def _prescreen(raw: pa.ChunkedArray) -> dict[int, str]:
    """Rows refused before DuckDB parses them: row index -> reason."""
    problems: dict[int, str] = {}
    nbytes = pc.binary_length(raw)
    large = pc.fill_null(pc.greater(nbytes, contract.MAX_EVENT_BYTES), False)
    if pc.any(large).as_py():
        for i in np.flatnonzero(large.to_numpy(zero_copy_only=False)):
            problems[int(i)] = contract.too_large_reason(int(nbytes[int(i)].as_py()))
    suspect = pc.fill_null(pc.match_substring_regex(raw, _SUSPECT), False)
    if pc.any(suspect).as_py():
        for i in np.flatnonzero(suspect.to_numpy(zero_copy_only=False)):
            row = int(i)
            if row not in problems:
                text = raw[row].as_py()
                why = _nesting_problem(text) or _non_finite_problem(text) or _text_problem(text)
                if why:
                    problems[row] = why
    return problems


# -- the quarantine's bound ----------------------------------------------------------------------

#: distinct reasons counted one by one in a summary of records not kept (the rest: "other reasons")
TALLY_REASONS = 50
_QUOTED = re.compile(r"'[^']*'")


@dataclass
class QuarantineBudget:
    """Keeps the first `keep` rejected records of one file or request in full; counts the rest.

    `take` trims each validated batch's rejected records (in order) to what is left of the
    budget; `summary` is the one quarantine record that stands for all the others: how many,
    from where to where, and why (a histogram of reasons, values in quotes left out).
    """

    keep: int
    kept: int = 0
    dropped: int = 0
    first_pos: int | None = None
    last_pos: int | None = None
    reasons: Counter[str] = field(default_factory=Counter)

    def take(self, checked: BatchResult) -> None:
        room = max(0, self.keep - self.kept)
        rejected = checked.rejected
        if len(rejected) <= room:
            self.kept += len(rejected)
            return
        for r in rejected[room:]:
            self.dropped += 1
            if self.first_pos is None:
                self.first_pos = r.pos
            self.last_pos = r.pos
            key = _QUOTED.sub("'...'", r.reason)
            if key in self.reasons or len(self.reasons) < TALLY_REASONS:
                self.reasons[key] += 1
            else:
                self.reasons["(other reasons)"] += 1
        del rejected[room:]  # in place: the batch object may be a subclass that carries more
        self.kept += room

    def summary(self, position_label: str) -> Rejected | None:
        """The record that stands for the rejected records not kept, or None if all were kept."""
        if not self.dropped:
            return None
        top = ", ".join(f"{n:,} x {shown(reason)}" for reason, n in self.reasons.most_common(10))
        reason = (
            f"{self.dropped:,} more rejected records ({position_label} {self.first_pos} to {self.last_pos}) "
            f"were counted but not kept one by one: only the first {self.keep:,} rejected records of a "
            f"file or request are kept (AUDITDASH_QUARANTINE_MAX_RECORDS). Reasons: {top}"
        )
        raw = json.dumps(
            {
                "not_kept": self.dropped,
                "first_position": self.first_pos,
                "last_position": self.last_pos,
                "reasons": dict(self.reasons.most_common()),
            },
            ensure_ascii=False,
        )
        return Rejected(pos=self.first_pos or 0, raw=raw, reason=reason)


def _q(text: str) -> str:
    """Quote a constant of ours (never user input) as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


_PATHS = [f.path for f in contract.FIELDS] + ["actor", "target"]
_IDX = {p: i + 1 for i, p in enumerate(_PATHS)}  # DuckDB lists are 1-based


def _col(path: str) -> str:
    return path.replace(".", "_")


def _v(path: str) -> str:
    """The JSON value at a path (only for objects: changes, metadata, actor, target)."""
    return f"json_extract(j, {_q('$.' + path)})"


def _t(path: str) -> str:
    """The JSON type at a path (a column computed once per batch)."""
    return f"t_{_col(path)}"


def _s(path: str) -> str:
    """The value at a path as text (a column computed once per batch)."""
    return f"s_{_col(path)}"


def _present(path: str) -> str:
    return f"coalesce({_t(path)}, 'NULL') <> 'NULL'"


def _tname(type_expr: str) -> str:
    """SQL that names a JSON type the way a sender thinks of it."""
    return (
        f"(CASE WHEN {type_expr} IN ('UBIGINT', 'BIGINT', 'DOUBLE') THEN 'number' "
        f"WHEN {type_expr} = 'VARCHAR' THEN 'string' ELSE lower({type_expr}) END)"
    )


def _checks() -> list[tuple[str, str]]:
    """(condition that means the record is bad, SQL expression of the message)."""
    checks: list[tuple[str, str]] = []
    for f in contract.FIELDS:
        p = f.path
        if f.required:
            checks.append((f"NOT {_present(p)}", _q(f"{p} is missing")))
        if f.kind in ("string", "ip", "enum"):
            checks.append(
                (
                    f"{_present(p)} AND {_t(p)} <> 'VARCHAR'",
                    f"{_q(p + ' must be a string, got ')} || {_tname(_t(p))}",
                )
            )
        if f.max_length and f.kind in ("string", "ip"):
            checks.append(
                (
                    f"{_t(p)} = 'VARCHAR' AND length({_s(p)}) > {f.max_length}",
                    f"{_q(p + ' is ')} || length({_s(p)}) || {_q(f' characters, over the limit of {f.max_length}')}",
                )
            )
        if f.kind == "enum" and f.enum:
            allowed = ", ".join(_q(e) for e in f.enum)
            checks.append(
                (
                    f"{_t(p)} = 'VARCHAR' AND {_s(p)} NOT IN ({allowed})",
                    f"{_q(p + ' ')} || {_q(chr(39))} || {_s(p)} || {_q(chr(39))} || "
                    f"{_q(' is not one of ' + ', '.join(f.enum))}",
                )
            )
        if f.kind == "object":
            checks.append(
                (
                    f"{_present(p)} AND {_t(p)} <> 'OBJECT'",
                    f"{_q(p + ' must be an object, got ')} || {_tname(_t(p))}",
                )
            )
    checks += [
        (f"{_t('id')} = 'VARCHAR' AND length({_s('id')}) = 0", _q("id must not be empty")),
        (f"{_t('account_id')} = 'VARCHAR' AND length({_s('account_id')}) = 0", _q("account_id is empty")),
        (
            f"{_t('action')} = 'VARCHAR' AND NOT regexp_full_match({_s('action')}, {_q(contract.ACTION_PATTERN)})",
            f"{_q('action ' + chr(39))} || left({_s('action')}, 80) || "
            f"{_q(chr(39) + ' is not dotted lower case (like auth.login)')}",
        ),
        # occurred_at
        (
            f"{_t('occurred_at')} = 'VARCHAR' AND regexp_full_match({_s('occurred_at')}, "
            f"{_q(contract.RFC3339_NO_OFFSET_PATTERN)})",
            f"{_q('occurred_at ' + chr(39))} || {_s('occurred_at')} || "
            f"{_q(chr(39) + ' has no UTC offset (add Z or +HH:MM)')}",
        ),
        (
            f"{_t('occurred_at')} = 'VARCHAR' AND NOT regexp_full_match({_s('occurred_at')}, "
            f"{_q(contract.RFC3339_NO_OFFSET_PATTERN)}) AND NOT regexp_full_match({_s('occurred_at')}, "
            f"{_q(contract.RFC3339_PATTERN)})",
            f"{_q('occurred_at ' + chr(39))} || left({_s('occurred_at')}, 80) || "
            f"{_q(chr(39) + ' is not an RFC 3339 timestamp (like 2026-05-01T09:30:00Z)')}",
        ),
        (
            f"{_t('occurred_at')} NOT IN ('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE', 'NULL')",
            f"{_q('occurred_at must be a string or a number, got ')} || {_tname(_t('occurred_at'))}",
        ),
        ("ts_parsed_bad", _q("occurred_at is not a real calendar time")),
        (
            f"{_t('occurred_at')} IN ('UBIGINT', 'BIGINT', 'DOUBLE') AND ts_raw IS NULL",
            f"{_q('occurred_at ')} || {_s('occurred_at')} || "
            f"{_q(' is not a usable epoch time (seconds or milliseconds since 1970)')}",
        ),
        (
            "ts_utc < $min_ts",
            f"{_q('occurred_at ')} || strftime(ts_utc, '%Y-%m-%dT%H:%M:%SZ') || {_q(' is before 2000-01-01')}",
        ),
        (
            "ts_utc > $max_ts",
            f"{_q('occurred_at ')} || strftime(ts_utc, '%Y-%m-%dT%H:%M:%SZ') || "
            f"{_q(' is more than 24 hours in the future')}",
        ),
        # actor
        (
            f"NOT {_present('actor')}",
            _q('actor is missing (send actor.id, or actor.type "system" for background jobs)'),
        ),
        (
            f"{_t('actor')} = 'OBJECT' AND NOT {_present('actor.id')} AND coalesce({_s('actor.type')}, '') <> 'system'",
            _q('actor.id is missing (send actor.type "system" for background jobs)'),
        ),
        *(
            (
                f"{_present(parent)} AND {_t(parent)} <> 'OBJECT'",
                f"{_q(parent + ' must be an object, got ')} || {_tname(_t(parent))}",
            )
            for parent in ("actor", "target")
        ),
        # changes: {field: [old, new]}
        (
            f"{_t('changes')} = 'OBJECT' AND NOT list_bool_and(list_transform("
            f"json_extract({_v('changes')}, '$.*'), lambda x: json_type(x) = 'ARRAY' AND json_array_length(x) = 2))",
            _q("changes must map each field to [old, new]"),
        ),
        (
            f"{_present('changes')} AND ({_present('before')} OR {_present('after')})",
            _q("send either changes or before/after, not both"),
        ),
        # unknown fields
        (
            "len(unknown_keys) > 0",
            f"{_q('unknown field ')} || array_to_string(list_transform(unknown_keys, lambda k: "
            f"{_q(chr(39))} || k || {_q(chr(39))}), ', ') || {_q(' (put extra data under metadata)')}",
        ),
    ]
    return checks


def _unknown_keys_sql() -> str:
    top = ", ".join(_q(k) for k in contract.TOP_LEVEL_KEYS)
    parts = [f"list_filter(coalesce(json_keys(j), []), lambda k: NOT list_contains([{top}], k))"]
    for parent, children in contract.NESTED_KEYS.items():
        allowed = ", ".join(_q(c) for c in children)
        parts.append(
            f"list_transform(list_filter(CASE WHEN {_t(parent)} = 'OBJECT' THEN json_keys({_v(parent)}) "
            f"ELSE [] END, lambda k: NOT list_contains([{allowed}], k)), lambda k: {_q(parent + '.')} || k)"
        )
    return "list_concat(" + ", ".join(parts) + ")"


def _build_sql() -> tuple[str, str, str]:
    paths = ", ".join(_q("$." + p) for p in _PATHS)
    unpack = ", ".join(f"tl[{_IDX[p]}] AS {_t(p)}, sl[{_IDX[p]}] AS {_s(p)}" for p in _PATHS)
    ts_local = (
        f"try_cast(regexp_extract({_s('occurred_at')}, '^([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})', 1) || ' ' || "
        f"regexp_extract({_s('occurred_at')}, '^.{{10}}.([0-9:]{{8}}(\\.[0-9]+)?)', 1) AS TIMESTAMP)"
    )
    offset_min = (
        f"CASE WHEN upper(right({_s('occurred_at')}, 1)) = 'Z' THEN 0 ELSE "
        f"(CASE WHEN substr(right({_s('occurred_at')}, 6), 1, 1) = '-' THEN -1 ELSE 1 END) * "
        f"(CAST(substr(right({_s('occurred_at')}, 5), 1, 2) AS INTEGER) * 60 + "
        f"CAST(substr(right({_s('occurred_at')}, 2), 1, 2) AS INTEGER)) END"
    )
    num = f"try_cast({_s('occurred_at')} AS DOUBLE)"
    ts_num = f"epoch_ms(CAST(round(CASE WHEN abs({num}) >= 1e11 THEN {num} ELSE {num} * 1000 END) AS BIGINT))"
    ts_string_ok = (
        f"{_t('occurred_at')} = 'VARCHAR' AND regexp_full_match({_s('occurred_at')}, {_q(contract.RFC3339_PATTERN)})"
    )
    phase1 = f"""
        WITH src AS (
            SELECT pos, raw, strlen(raw) AS nbytes,
                   CASE WHEN strlen(raw) <= {contract.MAX_EVENT_BYTES} AND json_valid(raw)
                        THEN raw END AS j
            FROM _raw_in
        ), parsed AS (
            SELECT pos, raw, nbytes, j, json_type(j) AS root,
                   CASE WHEN json_type(j) = 'OBJECT' THEN json_type(j, [{paths}]) END AS tl,
                   CASE WHEN json_type(j) = 'OBJECT' THEN json_extract_string(j, [{paths}]) END AS sl
            FROM src
        ), cols AS (
            SELECT pos, raw, nbytes, j, root, {unpack}
            FROM parsed
        ), typed AS (
            SELECT *,
                CASE WHEN {ts_string_ok} THEN {ts_local} - to_minutes({offset_min})
                     WHEN {_t("occurred_at")} IN ('UBIGINT', 'BIGINT', 'DOUBLE')
                          AND abs({num}) < 1e15 THEN {ts_num}
                END AS ts_raw,
                CASE WHEN root = 'OBJECT' THEN {_unknown_keys_sql()} END AS unknown_keys
            FROM cols
        )
        SELECT *, date_trunc('millisecond', ts_raw) AS ts_utc,
               ({ts_string_ok} AND ts_raw IS NULL) AS ts_parsed_bad
        FROM typed
    """
    checks = _checks()
    bad = " OR ".join(f"coalesce(({cond}), false)" for cond, _ in checks)
    reasons = ",\n".join(f"CASE WHEN {cond} THEN {msg} END" for cond, msg in checks)
    # Every row gets a cheap boolean; the message text is built only for the bad rows.
    phase2 = f"""
        SELECT *,
            (nbytes > {contract.MAX_EVENT_BYTES} OR j IS NULL OR root <> 'OBJECT' OR {bad}) AS bad
        FROM _p1
    """
    reason_sql = f"""
            CASE
                WHEN nbytes > {contract.MAX_EVENT_BYTES}
                    THEN 'event is ' || nbytes || ' bytes, over the limit of {contract.MAX_EVENT_BYTES}'
                WHEN j IS NULL THEN 'not valid JSON'
                WHEN root <> 'OBJECT'
                    THEN 'an event must be a JSON object, got ' || {_tname("root")}
                ELSE nullif(concat_ws('; ', {reasons}), '')
            END
    """
    return phase1, phase2, reason_sql


_PHASE1_SQL, _PHASE2_SQL, _REASON_SQL = _build_sql()

_FINAL_SQL = f"""
    SELECT c.pos,
        coalesce({_s("id")}, 'srv-' || CAST(uuid() AS VARCHAR)) AS event_id,
        c.ts_utc AS occurred_at,
        coalesce({_s("account_id")}, 'default') AS account_id,
        {_s("action")} AS action,
        coalesce(tax.category, 'other') AS category,
        coalesce({_s("outcome")}, 'success') AS outcome,
        {_s("reason")} AS reason,
        {_s("actor.id")} AS actor_id,
        {_s("actor.name")} AS actor_name,
        {_s("actor.email")} AS actor_email,
        {_s("actor.role")} AS actor_role,
        coalesce({_s("actor.type")}, 'user') AS actor_type,
        {_s("target.type")} AS target_type,
        {_s("target.id")} AS target_id,
        {_s("target.name")} AS target_name,
        ipi.ip AS ip,
        coalesce(ipi.scope, 'none') AS ip_scope,
        ipi.country AS geo_country,
        ipi.city AS geo_city,
        ipi.lat AS geo_lat,
        ipi.lon AS geo_lon,
        {_s("user_agent")} AS user_agent,
        {_s("session_id")} AS session_id,
        {_s("request_id")} AS request_id,
        CASE WHEN {_t("changes")} = 'OBJECT' THEN CAST(json({_v("changes")}) AS VARCHAR) END AS changes,
        CASE WHEN {_t("metadata")} = 'OBJECT' THEN CAST(json({_v("metadata")}) AS VARCHAR) END AS metadata,
        ({_present("before")} OR {_present("after")}) AS needs_before_after
    FROM _p2 c
    LEFT JOIN _taxonomy tax ON tax.action = {_s("action")}
    LEFT JOIN _ipinfo ipi ON ipi.text = {_s("ip")}
    WHERE NOT c.bad
    ORDER BY c.pos
"""

_TAXONOMY = pa.table(
    {"action": list(ACTION_CATEGORY), "category": list(ACTION_CATEGORY.values())},
)

_IPINFO_SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("ip", pa.string()),
        ("scope", pa.string()),
        ("country", pa.string()),
        ("city", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
    ]
)


def _json_error(raw: str) -> str:
    """Say where a record's JSON is broken (only called for the rare bad record)."""
    try:
        json.loads(raw, parse_int=str, parse_float=str, parse_constant=str)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} at column {exc.colno}"
    except (RecursionError, ValueError):
        return "not valid JSON"
    return "not valid JSON"


def _changes_from_before_after(raw: str) -> str | None:
    doc = json.loads(raw)
    before = doc.get("before") or {}
    after = doc.get("after") or {}
    keys = list(dict.fromkeys([*before, *after]))
    return json.dumps({k: [before.get(k), after.get(k)] for k in keys}, separators=(",", ":"))


class _IpLookup:
    """Classifies and places addresses for one batch, each distinct text once across both paths."""

    def __init__(self, geo: GeoLocator | None) -> None:
        self.geo = geo
        self.known: dict[str, IpInfo] = {}

    def __call__(self, texts: Sequence[str]) -> dict[str, IpInfo]:
        from dashboard.ingest.geo import GeoLocator, classify_ip

        missing = [t for t in dict.fromkeys(texts) if t not in self.known]
        if missing:
            if isinstance(self.geo, GeoLocator):
                self.known.update(self.geo.locate_many(missing))
            else:
                self.known.update((t, classify_ip(t)) for t in missing)
        return {t: self.known[t] for t in texts}


def _validate_exact(
    con: duckdb.DuckDBPyConnection, raw_in: pa.Table, lookup: _IpLookup, bounds: dict[str, datetime]
) -> tuple[pa.Table, list[Rejected]]:
    """Check every rule separately and word every reason (the records the fast path left)."""
    con.register("_raw_in", raw_in)
    con.register("_taxonomy", _TAXONOMY)
    try:
        run(
            con,
            "CREATE OR REPLACE TEMP TABLE _p1 AS " + _PHASE1_SQL,
        )
        run(
            con,
            "CREATE OR REPLACE TEMP TABLE _p2 AS " + _PHASE2_SQL,
            bounds,
        )
        ip_texts = [r[0] for r in run(con, f"SELECT DISTINCT {_s('ip')} FROM _p2 WHERE {_t('ip')} = 'VARCHAR'")]
        infos = lookup(ip_texts)
        bad_ips = {t: i for t, i in infos.items() if i.scope == "invalid"}
        ipinfo = pa.Table.from_pylist(
            [
                {
                    "text": t,
                    "ip": i.ip,
                    "scope": i.scope,
                    "country": i.country,
                    "city": i.city,
                    "lat": i.lat,
                    "lon": i.lon,
                }
                for t, i in infos.items()
                if i.scope != "invalid"
            ],
            schema=_IPINFO_SCHEMA,
        )
        con.register("_ipinfo", ipinfo)
        rejected_rows = run(
            con,
            f"SELECT pos, raw, CASE WHEN bad THEN {_REASON_SQL} END, "
            f"j IS NULL AND nbytes <= {contract.MAX_EVENT_BYTES}, "
            f"{_s('ip')} FROM _p2 WHERE bad "
            f"OR ({_t('ip')} = 'VARCHAR' AND {_s('ip')} IN (SELECT unnest($bad)))"
            " ORDER BY pos",
            {"bad": list(bad_ips) or [""], **bounds},
        )
        accepted = con.sql(_FINAL_SQL).to_arrow_table()
    finally:
        for name in ("_raw_in", "_taxonomy", "_ipinfo"):
            with contextlib.suppress(Exception):  # a view never registered needs no cleanup
                con.unregister(name)
        run(con, "DROP TABLE IF EXISTS _p1")
        run(con, "DROP TABLE IF EXISTS _p2")

    rejected: list[Rejected] = []
    bad_pos: set[int] = set()
    for pos, raw, reason, bad_json, ip_text in rejected_rows:
        reasons = [reason] if reason else []
        if bad_json:
            reasons = [_json_error(raw)]
        if ip_text in bad_ips:
            reasons.append(f"ip {ip_text!r} is not an IPv4 or IPv6 address")
        rejected.append(Rejected(pos=pos, raw=raw, reason=shown("; ".join(reasons))))
        bad_pos.add(pos)
    if bad_pos:
        keep = pa.array([p not in bad_pos for p in accepted.column("pos").to_pylist()], pa.bool_())
        accepted = accepted.filter(keep)
    accepted = _apply_before_after(accepted, raw_in)
    return accepted.select(list(ACCEPTED_COLUMNS)), rejected


# -- the fast path ---------------------------------------------------------------------------
#
# Three passes over each record's text, where the exact path needs about ten: its keys and those
# of `actor` and `target` (`json_keys`, which also finds broken JSON: `try` turns its error into
# NULL), then the type and the text of every field, each a list in one call. The checks are
# cheap comparisons on those lists; no reason is worded here.
#
# Unknown and repeated keys: every key of an object must be one of ours and each of ours found
# once, so the number of keys equals the number of our fields present. A nested object counts as
# present only when it is an object with keys (`json_keys` gives [] for an empty object and for a
# non-object alike, and either goes to the exact path).

_NESTED_PARENTS = tuple(contract.NESTED_KEYS)  # actor, target

#: `occurred_at` in the shape nearly every sender uses: UTC with `Z`, up to microseconds.
_FAST_TS_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"


def _fast_conditions() -> list[str]:
    """What a record must satisfy to be accepted without the exact path (all of them)."""
    absent = "({t} IS NULL OR {t} = 'NULL')"
    conds = ["n_keys > 0"]
    # each key once and known: count our fields present against the keys there are
    present = [f"({_t(f.path)} IS NOT NULL)::INTEGER" for f in contract.FIELDS if "." not in f.path]
    present += [f"(coalesce(n_{parent}, 0) > 0)::INTEGER" for parent in _NESTED_PARENTS]
    conds.append(f"n_keys = {' + '.join(present)}")
    for parent in _NESTED_PARENTS:
        children = [f"({_t(parent + '.' + c)} IS NOT NULL)::INTEGER" for c in contract.NESTED_KEYS[parent]]
        nested = f"n_{parent} = {' + '.join(children)}"
        conds.append(nested if parent == "actor" else f"(n_{parent} IS NULL OR {nested})")
    conds.append("n_actor > 0")  # actor is an object with keys
    for f in contract.FIELDS:
        t, v = _t(f.path), _s(f.path)
        if f.kind in ("string", "ip", "enum"):
            conds.append(f"({absent.format(t=t)} OR {t} = 'VARCHAR')")
        if f.max_length and f.kind in ("string", "ip"):
            # bytes >= characters, so the byte count settles nearly every value without decoding
            conds.append(f"({v} IS NULL OR strlen({v}) <= {f.max_length} OR length({v}) <= {f.max_length})")
        if f.kind == "enum" and f.enum:
            conds.append(f"({v} IS NULL OR {v} IN ({', '.join(_q(e) for e in f.enum)}))")
        if f.path in ("changes", "metadata"):
            conds.append(f"({absent.format(t=t)} OR {t} = 'OBJECT')")
        if f.path in ("before", "after"):  # turned into changes by the exact path
            conds.append(absent.format(t=t))
    conds += [
        f"({_s('id')} IS NULL OR {_s('id')} <> '')",
        f"({_s('account_id')} IS NULL OR {_s('account_id')} <> '')",
        f"regexp_full_match({_s('action')}, {_q(contract.ACTION_PATTERN)})",
        "ts_utc IS NOT NULL AND ts_utc >= $min_ts AND ts_utc <= $max_ts",
        f"({_s('actor.id')} IS NOT NULL OR {_s('actor.type')} = 'system')",
        # the exact path's rule for changes, on the same text (only an object's text is JSON)
        f"coalesce(CASE WHEN {_t('changes')} = 'OBJECT' THEN list_bool_and(list_transform("
        f"json_extract({_s('changes')}, '$.*'), lambda x: json_type(x) = 'ARRAY' AND json_array_length(x) = 2)) END, "
        "true)",
    ]
    return conds


def _build_fast_sql() -> str:
    paths = ", ".join(_q("$." + f.path) for f in contract.FIELDS)
    nested = ", ".join(_q("$." + p) for p in _NESTED_PARENTS)
    unpack = ", ".join(f"tl[{i}] AS {_t(f.path)}, sl[{i}] AS {_s(f.path)}" for i, f in enumerate(contract.FIELDS, 1))
    # only how many keys each object has is needed (NULL: no such object)
    counts = ", ".join(f"len(keys[{i}]) AS n_{name}" for i, name in enumerate(("keys", *_NESTED_PARENTS), 1))
    ts, ts_type = _s("occurred_at"), _t("occurred_at")
    # The exact path's timestamp expressions: the cast of "date time" (offset Z: minus nothing),
    # and epoch numbers, on the same text.
    num = f"try_cast({ts} AS DOUBLE)"
    ts_num = f"epoch_ms(CAST(round(CASE WHEN abs({num}) >= 1e11 THEN {num} ELSE {num} * 1000 END) AS BIGINT))"
    ts_expr = (
        f"date_trunc('millisecond', CASE "
        f"WHEN {ts_type} = 'VARCHAR' AND regexp_full_match({ts}, {_q(_FAST_TS_PATTERN)}) "
        f"THEN try_cast(substr({ts}, 1, 10) || ' ' || substr({ts}, 12, strlen({ts}) - 12) AS TIMESTAMP) "
        f"WHEN {ts_type} IN ('UBIGINT', 'BIGINT', 'DOUBLE') AND abs({num}) < 1e15 THEN {ts_num} END)"
    )
    out = ",\n            ".join(
        [
            f"coalesce({_s('id')}, 'srv-' || CAST(uuid() AS VARCHAR)) AS event_id",
            "ts_utc AS occurred_at",
            f"coalesce({_s('account_id')}, 'default') AS account_id",
            f"{_s('action')} AS action",
            f"coalesce({_s('outcome')}, 'success') AS outcome",
            f"{_s('reason')} AS reason",
            f"{_s('actor.id')} AS actor_id",
            f"{_s('actor.name')} AS actor_name",
            f"{_s('actor.email')} AS actor_email",
            f"{_s('actor.role')} AS actor_role",
            f"coalesce({_s('actor.type')}, 'user') AS actor_type",
            f"{_s('target.type')} AS target_type",
            f"{_s('target.id')} AS target_id",
            f"{_s('target.name')} AS target_name",
            f"{_s('ip')} AS ip",
            f"{_s('user_agent')} AS user_agent",
            f"{_s('session_id')} AS session_id",
            f"{_s('request_id')} AS request_id",
            *(
                f"CASE WHEN {_t(p)} = 'OBJECT' THEN CAST(json({_s(p)}) AS VARCHAR) END AS {p}"
                for p in ("changes", "metadata")
            ),
        ]
    )
    fast = " AND ".join(f"({c})" for c in _fast_conditions())
    # No WHERE anywhere: DuckDB would copy a pushed-down filter's list expressions, and parse again.
    return f"""
        WITH k AS (
            SELECT _row, pos, raw,
                   CASE WHEN strlen(raw) <= {contract.MAX_EVENT_BYTES}
                        THEN try(json_keys(raw, ['$', {nested}])) END AS keys
            FROM _fast_in
        ), p AS (
            SELECT _row, pos, {counts},
                   CASE WHEN len(keys[1]) > 0 THEN json_type(raw, [{paths}]) END AS tl,
                   CASE WHEN len(keys[1]) > 0 THEN json_extract_string(raw, [{paths}]) END AS sl
            FROM k
        ), c AS (
            SELECT _row, pos, n_keys, {", ".join(f"n_{p}" for p in _NESTED_PARENTS)}, {unpack}
            FROM p
        ), v AS (
            SELECT *, {ts_expr} AS ts_utc
            FROM c
        )
        SELECT _row, pos, coalesce({fast}, false) AS fast,
            {out}
        FROM v
    """


_FAST_SQL = _build_fast_sql()

#: `_FAST_SQL` parsed once (DuckDB `Statement`s are not tied to a connection): every batch would
#: otherwise parse its 8 kB of SQL again, a fixed few milliseconds per API request
#: (docs/PERFORMANCE.md, "Ingest"). Filled on first use; a race only parses it twice.
_FAST_STATEMENT: list[duckdb.Statement] = []


def _fast_statement(con: duckdb.DuckDBPyConnection) -> duckdb.Statement:
    """The fast path's statement, parsed on the first call."""
    if not _FAST_STATEMENT:
        (statement,) = con.extract_statements(_FAST_SQL)
        _FAST_STATEMENT.append(statement)
    return _FAST_STATEMENT[0]


#: actions of the taxonomy and their categories, for the fast path's lookup in Arrow.
_TAX_ACTIONS = pa.array(list(ACTION_CATEGORY), pa.string())
_TAX_CATEGORIES = pa.array(list(ACTION_CATEGORY.values()), pa.string())

#: Arrow types of the accepted columns (text unless named here): both paths' results have these.
_NON_TEXT_TYPES = {
    "pos": pa.int64(),
    "occurred_at": pa.timestamp("us"),
    "geo_lat": pa.float64(),
    "geo_lon": pa.float64(),
}
_ACCEPTED_SCHEMA = pa.schema([(name, _NON_TEXT_TYPES.get(name, pa.string())) for name in ACCEPTED_COLUMNS])
ACCEPTED_SCHEMA = _ACCEPTED_SCHEMA  # the accepted table of any batch, also an empty one


def _enrich(fast: pa.Table, infos: dict[str, IpInfo]) -> pa.Table:
    """Category and address columns for fast-path rows (lookups in Arrow, no join in SQL)."""
    category = pc.fill_null(_TAX_CATEGORIES.take(pc.index_in(fast.column("action"), value_set=_TAX_ACTIONS)), "other")
    texts = list(infos)
    idx = pc.index_in(fast.column("ip"), value_set=pa.array(texts, pa.string()))

    def pick(values: list[Any], kind: pa.DataType) -> pa.Array:
        return pa.array(values, kind).take(idx)

    cols = {
        "category": category,
        "ip": pick([infos[t].ip for t in texts], pa.string()),
        "ip_scope": pc.fill_null(pick([infos[t].scope for t in texts], pa.string()), "none"),
        "geo_country": pick([infos[t].country for t in texts], pa.string()),
        "geo_city": pick([infos[t].city for t in texts], pa.string()),
        "geo_lat": pick([infos[t].lat for t in texts], pa.float64()),
        "geo_lon": pick([infos[t].lon for t in texts], pa.float64()),
    }
    return pa.table(
        [cols[name] if name in cols else fast.column(name) for name in ACCEPTED_COLUMNS],
        schema=_ACCEPTED_SCHEMA,
    )


def _sorted_by_pos(table: pa.Table) -> pa.Table:
    """The table in position order (as the exact path gives it); usually it already is."""
    pos = table.column("pos").to_numpy()
    if len(pos) < 2 or bool((pos[1:] >= pos[:-1]).all()):
        return table
    return table.take(np.argsort(pos, kind="stable"))


def validate_batch(
    con: duckdb.DuckDBPyConnection,
    records: Sequence[tuple[int, str]] | pa.Table,
    geo: GeoLocator | None = None,
    now: datetime | None = None,
) -> BatchResult:
    """Validate and normalise one batch of raw JSON records.

    Args:
        con: a DuckDB connection or cursor, used for the vectorised checks (temp tables only).
        records: (position, JSON text) pairs, or an Arrow table with columns `pos` and `raw`.
        geo: locator for public addresses; without it addresses are classified but not placed.
        now: the reference time for the future-skew check (UTC).

    Returns:
        The accepted events as an Arrow table with `ACCEPTED_COLUMNS`, and the rejected records.
    """
    errors: list[str | None] | None = None
    if isinstance(records, pa.Table):
        raw_in = records.select(["pos", "raw"]).cast(pa.schema([("pos", pa.int64()), ("raw", pa.string())]))
        if "error" in records.column_names and records.column("error").null_count < records.num_rows:
            errors = records.column("error").to_pylist()
    else:
        raw_in = pa.table(
            {
                "pos": pa.array([p for p, _ in records], pa.int64()),
                "raw": pa.array([str(r) for _, r in records], pa.string()),
            }
        )
        if any(isinstance(r, Unreadable) for _, r in records):
            errors = [r.reason if isinstance(r, Unreadable) else None for _, r in records]
    # Records a reader could not read, and those too large, too deep or not strict JSON, are
    # refused here with their reason; the rest go on to DuckDB.
    refused = _prescreen(raw_in.column("raw"))
    if errors is not None:
        refused.update((i, why) for i, why in enumerate(errors) if why)
    early: list[Rejected] = []
    if refused:
        rows = sorted(refused)
        pos_col, raw_col = raw_in.column("pos"), raw_in.column("raw")
        early = [
            Rejected(pos=int(pos_col[i].as_py()), raw=excerpt(raw_col[i].as_py() or ""), reason=shown(refused[i]))
            for i in rows
        ]
        keep = np.ones(raw_in.num_rows, dtype=bool)
        keep[rows] = False
        raw_in = raw_in.filter(pa.array(keep))
    # `_row` ties each result row to its record, whatever the positions are. DuckDB scans an
    # Arrow table in parallel by record batch: a few per thread.
    raw_in = raw_in.append_column("_row", pa.array(np.arange(raw_in.num_rows, dtype=np.int64)))
    raw_in = pa.Table.from_batches(raw_in.to_batches(max_chunksize=16_384), schema=raw_in.schema)
    now_utc = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    bounds = {"min_ts": MIN_TIME, "max_ts": now_utc + MAX_FUTURE}
    lookup = _IpLookup(geo)

    con.register("_fast_in", raw_in)
    try:
        # `sql(...).to_arrow_table()`: Arrow straight from the relation (a DB-API result's Arrow
        # output makes an extra copy, and DuckDB warns about it)
        checked = con.sql(_fast_statement(con), params=bounds).to_arrow_table()
    finally:
        con.unregister("_fast_in")
    # The scan keeps the input order (checked, rather than paying for a sort of every column).
    row = checked.column("_row").to_numpy()
    if len(row) > 1 and not bool((row[1:] > row[:-1]).all()):
        checked = checked.take(np.argsort(row, kind="stable"))

    # Addresses of the fast rows, each text once; a row with an invalid one goes to the exact
    # path, which words the reason.
    fast_mask = checked.column("fast")
    ips = checked.column("ip")
    infos = lookup(pc.unique(ips.filter(fast_mask).drop_null()).to_pylist())
    invalid = [t for t, i in infos.items() if i.scope == "invalid"]
    if invalid:
        bad_ip = pc.fill_null(pc.is_in(ips, value_set=pa.array(invalid, pa.string())), False)
        fast_mask = pc.and_(fast_mask, pc.invert(bad_ip))
        infos = {t: i for t, i in infos.items() if i.scope != "invalid"}
    all_fast = bool(pc.all(fast_mask).as_py())
    accepted = _enrich(checked if all_fast else checked.filter(fast_mask), infos)

    rejected: list[Rejected] = []
    if not all_fast:
        exact, rejected = _validate_exact(con, raw_in.filter(pc.invert(fast_mask)), lookup, bounds)
        accepted = pa.concat_tables([accepted, exact.cast(_ACCEPTED_SCHEMA)])
    accepted = _sorted_by_pos(accepted)
    if early:
        rejected = sorted([*early, *rejected], key=lambda r: r.pos)
    return BatchResult(accepted=accepted, rejected=rejected)


def _apply_before_after(accepted: pa.Table, raw_in: pa.Table) -> pa.Table:
    flags = accepted.column("needs_before_after").to_pylist()
    if not any(flags):
        return accepted
    raw_by_pos = dict(zip(raw_in.column("pos").to_pylist(), raw_in.column("raw").to_pylist(), strict=True))
    changes = accepted.column("changes").to_pylist()
    for i, (flag, pos) in enumerate(zip(flags, accepted.column("pos").to_pylist(), strict=True)):
        if flag:
            changes[i] = _changes_from_before_after(raw_by_pos[pos])
    idx = accepted.schema.get_field_index("changes")
    return accepted.set_column(idx, "changes", pa.array(changes, pa.string()))


def validate_records(con: duckdb.DuckDBPyConnection, docs: Sequence[Any], now: datetime | None = None) -> BatchResult:
    """Validate Python objects (for tests and small callers): each is serialised to JSON first."""
    return validate_batch(con, [(i, json.dumps(d)) for i, d in enumerate(docs)], now=now)
