"""SQL building blocks for the rules: fields, matches and time scopes as SQLAlchemy expressions.

Rules never reach SQL as text: field names go through the allow-list in `field_expr`, values
are bound parameters, and numbers from the rules file are validated numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from dashboard.detect.rules import Criterion, Match, Selection
from dashboard.store.schema import events

E = events

MS_PER_S = 1000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


def ts_ms(table: sa.Table | Any = E) -> ColumnElement[int]:
    """The event time as epoch milliseconds (the engine's time axis)."""
    return sa.func.epoch_ms(table.c.occurred_at, type_=sa.BigInteger)


def field_expr(name: str, table: sa.Table | Any = E) -> ColumnElement[Any]:
    """The SQL expression of a rules-file field (see `rules.FIELDS`)."""
    c = table.c
    if name == "user":
        return sa.func.coalesce(c.actor_id, c.actor_email, c.actor_name)
    if name == "subject":
        return sa.func.coalesce(c.target_id, c.actor_id, c.actor_email, c.actor_name)
    if name == "country":
        return c.geo_country
    if name == "city":
        return c.geo_city
    if name == "new_role":
        return sa.func.json_extract_string(c.changes, "$.role[1]")
    if name == "old_role":
        return sa.func.json_extract_string(c.changes, "$.role[0]")
    if name == "changed_fields":
        return sa.func.array_to_string(sa.func.json_keys(c.changes), ",")
    column: ColumnElement[Any] = c[name]
    return column


def _criterion(crit: Criterion, table: sa.Table | Any) -> ColumnElement[bool]:
    expr = field_expr(crit.field, table)
    if crit.modifier is None:
        plain = [str(v) if not isinstance(v, bool) else str(v).lower() for v in crit.values if v is not None]
        parts: list[ColumnElement[bool]] = []
        if plain:
            parts.append(expr == plain[0] if len(plain) == 1 else expr.in_(plain))
        if any(v is None for v in crit.values):
            parts.append(expr.is_(None))
        return parts[0] if len(parts) == 1 else sa.or_(*parts)
    func = {"startswith": sa.func.starts_with, "endswith": sa.func.ends_with, "contains": sa.func.contains}[
        crit.modifier
    ]
    tests = [sa.func.coalesce(func(expr, str(v)), False) for v in crit.values]
    return tests[0] if len(tests) == 1 else sa.or_(*tests)


def _selection(sel: Selection, table: sa.Table | Any) -> ColumnElement[bool]:
    parts = [_criterion(c, table) for c in sel]
    return parts[0] if len(parts) == 1 else sa.and_(*parts)


def match_expr(match: Match, table: sa.Table | Any = E) -> ColumnElement[bool]:
    """The WHERE condition of a match (true for every event when the match is empty)."""
    parts: list[ColumnElement[bool]] = []
    if match.any_of:
        anyone = [_selection(s, table) for s in match.any_of]
        parts.append(anyone[0] if len(anyone) == 1 else sa.or_(*anyone))
    for sel in match.exclude:
        parts.append(sa.not_(sa.func.coalesce(_selection(sel, table), False)))
    if not parts:
        return sa.true()
    return parts[0] if len(parts) == 1 else sa.and_(*parts)


def keys_not_null(fields: Sequence[str], table: sa.Table | Any = E) -> ColumnElement[bool]:
    """Events without a value for a group-by field correlate with nothing."""
    return sa.and_(*[field_expr(f, table).is_not(None) for f in fields])


def time_between(lo: datetime, hi: datetime, table: sa.Table | Any = E) -> ColumnElement[bool]:
    """lo <= occurred_at < hi (on the stored column, so DuckDB can skip row groups)."""
    return sa.and_(table.c.occurred_at >= lo, table.c.occurred_at < hi)


def key_columns(fields: Sequence[str], table: sa.Table | Any = E) -> list[sa.Label[Any]]:
    """The group-by fields as labelled columns k0, k1, ..."""
    return [field_expr(f, table).label(f"k{i}") for i, f in enumerate(fields)]
