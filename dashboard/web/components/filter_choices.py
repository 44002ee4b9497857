"""What the sidebar offers: the roles, countries, accounts and people present in the log, and the
option lists of its dropdowns (cached per database: the lists must not scan the log on every page).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any
from zoneinfo import available_timezones

import pandas as pd
from dash import html

from dashboard.countries import country_name
from dashboard.events.taxonomy import CATEGORY_TITLES, actions_by_category
from dashboard.privacy import shorten_name
from dashboard.store import analytics
from dashboard.store.db import Database
from dashboard.web import ids
from dashboard.web.components.filter_controls import CATEGORY_PREFIX, CONTROLS, Controls


@dataclass(frozen=True)
class Choices:
    """The values the sidebar offers, read from the database when the page loads."""

    roles: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()


def load_choices(db: Database) -> Choices:
    """Roles, countries and accounts present in the log (cached for two minutes)."""

    def load() -> Choices:
        with db.connect() as conn:
            return Choices(
                roles=tuple(analytics.distinct_values(conn, "actor_role")),
                countries=tuple(analytics.distinct_values(conn, "geo_country")),
                accounts=tuple(analytics.distinct_values(conn, "account_id")),
            )

    result: Choices = _cached(db, "choices", load)
    return result


def action_options() -> list[dict[str, Any]]:
    """Action types grouped by category, as the seed lists its tracked activities."""
    options: list[dict[str, Any]] = []
    for category, actions in actions_by_category().items():
        title = CATEGORY_TITLES.get(category, category)
        options.append(
            {
                "label": html.Span(f"{title} (all)", className="ad-opt-group"),
                "value": CATEGORY_PREFIX + category,
                "search": f"{title} {category}",
            }
        )
        options.extend(
            {"label": html.Span(action, className="ad-opt-item"), "value": action, "search": f"{title} {action}"}
            for action in actions
        )
    return options


def simple_options(control: str, values: Sequence[str]) -> list[dict[str, str]]:
    """Options of the roles, countries and accounts filters (countries by name)."""
    if control == ids.F_COUNTRIES:
        return [{"label": f"{country_name(c)} ({c})", "value": c} for c in values]
    return [{"label": v, "value": v} for v in values]


def options_for(
    old: Controls, new: Controls, choices: Choices, directory: pd.DataFrame | None, masked: bool
) -> dict[str, list[dict[str, Any]]]:
    """New option lists for the dropdowns whose selected values they would lack.

    A dropdown drops a selected value that is not among its options (and says so as a
    change), so values set from a link or a cross-filter travel with their options.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    if new.users != old.users and directory is not None:
        out[ids.F_USERS] = user_options(directory, None, new.users, masked)
    listed = {f.name for f in fields(Choices)}
    for control in CONTROLS:
        if control.options and control.field in listed:  # roles, countries, accounts
            known: tuple[str, ...] = getattr(choices, control.field)
            extra = [v for v in getattr(new, control.field) if v not in known]
            if extra:
                out[control.id] = simple_options(control.id, [*known, *extra])
    known_actions = {o["value"] for o in action_options()}
    extra_actions = [v for v in new.actions if v not in known_actions]
    if extra_actions:
        out[ids.F_ACTIONS] = [*action_options(), *({"label": v, "value": v} for v in extra_actions)]
    return out


def zone_options() -> list[dict[str, str]]:
    """Every IANA time zone with a region (plus UTC), sorted.

    The label is the zone's name as the URL's `tz=` spells it; typing finds a zone by its city
    with spaces or underscores ("new york", "New_York") and by its region ("europe/ber").
    """
    zones = sorted(
        z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    return [
        {"label": "UTC", "value": "UTC", "search": "UTC"},
        *({"label": z, "value": z, "search": f"{z} {z.replace('_', ' ')}"} for z in zones),
    ]


# -- a small per-database cache: the sidebar's lists must not scan the log on every page load ---------------
_CACHE_TTL_S = 120.0
_caches: weakref.WeakKeyDictionary[Database, dict[str, tuple[float, Any]]] = weakref.WeakKeyDictionary()


def _cached(db: Database, key: str, load: Callable[[], Any]) -> Any:
    now = time.monotonic()
    entries = _caches.setdefault(db, {})
    hit = entries.get(key)
    if hit and now - hit[0] < _CACHE_TTL_S:
        return hit[1]
    value = load()
    entries[key] = (now, value)
    return value


def actor_directory(db: Database) -> pd.DataFrame:
    """Everyone who acted as a person (cached for two minutes: searching it must not scan the log)."""

    def load() -> pd.DataFrame:
        with db.connect() as conn:
            return analytics.actor_directory(conn)

    frame: pd.DataFrame = _cached(db, "actors", load)
    return frame


def user_label(actor_id: str, name: str | None, masked: bool) -> str:
    """How a person appears in the users filter ("Ana Souza (u17)"; "Ana S. (u17)" when masked)."""
    name = name if isinstance(name, str) else None
    shown = shorten_name(name) if masked else name
    return f"{shown} ({actor_id})" if shown and shown != actor_id else actor_id


def user_options(
    directory: pd.DataFrame, search: str | None, selected: Sequence[str], masked: bool, limit: int = 30
) -> list[dict[str, str]]:
    """The selected people first, then the busiest matches of `search` (id, name or e-mail)."""
    names = dict(zip(directory["actor_id"], directory["actor_name"], strict=True)) if not directory.empty else {}
    options = [{"label": user_label(a, names.get(a), masked), "value": a} for a in selected]
    chosen = set(selected)
    frame = directory
    if search:
        needle = search.strip().lower()
        hay = frame["actor_id"].str.lower().str.contains(needle, regex=False)
        hay |= frame["actor_name"].fillna("").str.lower().str.contains(needle, regex=False)
        if not masked:  # a masked viewer must not find people by the parts of them it cannot see
            hay |= frame["actor_email"].fillna("").str.lower().str.contains(needle, regex=False)
        frame = frame[hay]
    for actor_id, name in zip(
        frame["actor_id"].head(limit + len(chosen)), frame["actor_name"].head(limit + len(chosen)), strict=True
    ):
        if actor_id not in chosen:
            options.append({"label": user_label(actor_id, name, masked), "value": actor_id})
        if len(options) >= limit + len(chosen):
            break
    return options
