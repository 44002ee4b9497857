"""Reading the JSON text the store holds, and writing JSON for clients, without ever failing.

Stored `changes` and `metadata` are JSON text. Validation refuses what cannot be read back, but
a store written by an older version, restored from elsewhere or edited by hand can hold text
that is nested thousands of levels deep (Python's parser then raises `RecursionError`), is not
JSON at all, is JSON but not an object, or holds `NaN` / `Infinity` (not JSON, though Python
writes and reads them). Every reader of the log decodes through `decode_object`, which never
raises:

- `NaN`, `Infinity`, `-Infinity` and numbers too large for a float (`1e999`) become `null`;
- text nested deeper than `MAX_DEPTH` levels, text that is not JSON, and JSON that is not an
  object come out as a placeholder, `unreadable(reason, text)`:
  `{"_unreadable": "nested deeper than 32 levels", "raw_sha256": "...", "raw_length": 6000}`,
  so the reader sees that a value was there, why it is not shown, and can find the stored text
  (its SHA-256) without the rest of the page, pack or panel suffering.

`dumps` writes strict JSON (RFC 8259): non-finite numbers become `null` and nothing deeper
than `MAX_DEPTH` below the document is written (a placeholder stands there instead).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

#: the deepest nesting a stored JSON value may have and still be shown (the value itself is level 1)
MAX_DEPTH = 32
#: the key of the placeholder object that stands for a value that cannot be shown
UNREADABLE_KEY = "_unreadable"
#: the deepest nesting `dumps` walks below the document it is given
_DUMP_DEPTH = 3 * MAX_DEPTH

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def unreadable(reason: str, text: str | bytes) -> dict[str, Any]:
    """The placeholder for a stored value that cannot be shown: why, and which text it was."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return {UNREADABLE_KEY: reason, "raw_sha256": hashlib.sha256(raw).hexdigest(), "raw_length": len(raw)}


def is_unreadable(value: Any) -> bool:
    """Whether `value` is a placeholder made by `unreadable`."""
    return isinstance(value, dict) and UNREADABLE_KEY in value and "raw_sha256" in value


def depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # cannot be deeper than the brackets it holds
        return text.count("[") + text.count("{")
    level = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            level += 1
            deepest = max(deepest, level)
        elif token in ("]", "}"):
            level -= 1
    return deepest


def _finite_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def decode(text: str | bytes | None) -> Any:
    """The value of a stored JSON text, or the placeholder; None for no text. Never raises."""
    if text is None:
        return None
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return unreadable(f"not UTF-8 (byte {exc.start})", text)
    if depth(text) > MAX_DEPTH:
        return unreadable(f"nested deeper than {MAX_DEPTH} levels", text)
    try:
        return json.loads(text, parse_constant=lambda _name: None, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        return unreadable(f"not valid JSON: {exc.msg} at position {exc.pos}", text)
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. an integer of more than 4,300 digits
        return unreadable(f"not readable JSON: {str(exc)[:200]}", text)


def decode_object(text: str | bytes | None) -> dict[str, Any] | None:
    """A stored JSON object (`changes`, `metadata`): the object, the placeholder, or None for no text."""
    if text is None or (isinstance(text, str | bytes) and not text.strip()):
        return None
    value = decode(text)
    if value is None:
        return None  # the text `null`
    if not isinstance(value, dict):
        return unreadable(f"not a JSON object but {type(value).__name__}", text)
    return value


def finite(value: Any, level: int = 0) -> Any:
    """`value` with non-finite floats as None, tuples as lists, and nothing deeper than the limit."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        if level >= _DUMP_DEPTH:
            return {UNREADABLE_KEY: f"nested deeper than {_DUMP_DEPTH} levels"}
        if isinstance(value, dict):
            return {k: finite(v, level + 1) for k, v in value.items()}
        return [finite(v, level + 1) for v in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """Strict JSON text of `value` (no NaN or Infinity; other objects as their `str`)."""
    options.setdefault("ensure_ascii", False)
    options.setdefault("default", str)
    return json.dumps(finite(value), allow_nan=False, **options)


def plain_json(col: Any) -> Any:
    """SQL: whether stored JSON text can be copied into strict JSON as it is (cheap, conservative).

    An object that is valid JSON, holds no `NaN` / `Infinity` (nor a number with a three-digit
    exponent, which may overflow to infinity, nor a run of 1,000 digits, which many parsers
    refuse) and has too few brackets to nest deeper than `MAX_DEPTH`. Writers that copy stored
    text in bulk (the JSON and CSV files of a pack) copy it only then, and read any other text
    with `decode_object`.
    """
    import sqlalchemy as sa

    brackets = sa.func.length(col) - sa.func.length(sa.func.replace(sa.func.replace(col, "{", ""), "[", ""))
    return sa.and_(
        sa.func.left(col, 1) == "{",
        brackets <= MAX_DEPTH,
        # a run of 1,000 digits as four of 250: PostgreSQL's expressions repeat at most 255 times
        sa.not_(sa.func.regexp_matches(col, r"NaN|Infinity|[0-9][eE][+-]?[0-9]{3}|(?:[0-9]{250}){4}")),
        sa.func.json_valid(col),
    )


def rewritten(text: str | None) -> str | None:
    """Stored object text that is not `plain_json`, as strict JSON: the decoded object or its placeholder."""
    value = decode_object(text)
    return None if value is None else dumps(value, separators=(",", ":"))
