"""The filter sidebar: its controls, and the pure logic that keeps URL, store and controls in step.

One callback of the shell (dashboard/web/layout.py) owns the `Filters` of the view. It calls
`sync`, a plain function of what changed, so the rules below are unit-tested without a browser:

* on first load, and when the URL changes (Back, Forward, a pasted link), the filters are read
  from the URL (`Filters.from_query`: bad values dropped with a note); a URL without `tz` means
  the browser's zone;
* when a control changes, only the fields that control owns change (a cross-filtered time of
  day survives a change of the outcome, say);
* a cross-filter patch, a clicked table value and "clear all" replace fields likewise (the
  local weekday and hour of day have no control of their own: a heatmap cell sets them, the
  summary line names them, and "clear all" lifts them with the rest);
* the result always goes through the URL form and back, so whatever reaches the store has been
  validated like a pasted link, and the URL always names the zone (`tz=UTC` included), so a
  copied link shows the same times to everyone.

The URL is written with `history.pushState` for a change the user made (Back undoes it) and
`history.replaceState` when only tidying a link, so Back never lands on a page that rewrites itself.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, available_timezones

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html
from dash.exceptions import PreventUpdate

from dashboard.countries import country_name
from dashboard.events.contract import OUTCOMES
from dashboard.events.taxonomy import CATEGORY_TITLES, actions_by_category
from dashboard.filters import PRESET_LABELS, PRESETS, Filters
from dashboard.privacy import shorten_name
from dashboard.store import analytics
from dashboard.store.db import Database
from dashboard.web import ids
from dashboard.web.components.parts import attrs

CUSTOM = "custom"
CATEGORY_PREFIX = "cat:"
#: the fields a page may set through the patch store (everything the sidebar can show).
PATCHABLE: frozenset[str] = frozenset(f.name for f in fields(Filters)) - {"problems"}
OUTCOME_LABELS = {"": "All", "success": "Success", "failure": "Failure", "unknown": "Unknown"}


# -- what the sidebar offers -------------------------------------------------------------------------------
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
    for control, name, known in (
        (ids.F_ROLES, "roles", choices.roles),
        (ids.F_COUNTRIES, "countries", choices.countries),
        (ids.F_ACCOUNTS, "accounts", choices.accounts),
    ):
        extra = [v for v in getattr(new, name) if v not in known]
        if extra:
            out[control] = simple_options(control, [*known, *extra])
    known_actions = {o["value"] for o in action_options()}
    extra_actions = [v for v in new.actions if v not in known_actions]
    if extra_actions:
        out[ids.F_ACTIONS] = [*action_options(), *({"label": v, "value": v} for v in extra_actions)]
    return out


def zone_options() -> list[dict[str, str]]:
    """Every IANA time zone with a region (plus UTC), sorted."""
    zones = sorted(
        z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    return [{"label": "UTC", "value": "UTC"}, *({"label": z.replace("_", " "), "value": z} for z in zones)]


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


# -- the sidebar ------------------------------------------------------------------------------------------------
def _section(label: str, control: Any, help_text: str | None = None, label_for: str | None = None) -> html.Div:
    return html.Div(
        [
            dbc.Label(label, html_for=label_for, className="ad-filter-label"),
            control,
            dbc.FormText(help_text, className="ad-filter-help") if help_text else None,
        ],
        className="ad-filter",
    )


def sidebar(choices: Choices, masked: bool, people: Sequence[dict[str, str]] = ()) -> html.Aside:
    """The filter sidebar (values are set by the shell's callback from the URL; `people`: first user options)."""
    presets = [{"label": key.replace("h", " h").replace("d", " d"), "value": key} for key in PRESET_LABELS]
    presets.append({"label": "Custom", "value": CUSTOM})
    return html.Aside(
        [
            html.Div(
                [
                    html.H2("Filters", className="h6 mb-0"),
                    dbc.Button("Clear all", id=ids.F_CLEAR, size="sm", color="link", className="p-0", n_clicks=0),
                ],
                className="d-flex justify-content-between align-items-center mb-2",
            ),
            _section(
                "Date range",
                html.Div(
                    [
                        dbc.RadioItems(
                            id=ids.F_PRESET,
                            options=presets,
                            value="7d",
                            inline=True,
                            class_name="ad-presets btn-group btn-group-sm w-100",
                            input_class_name="btn-check",
                            label_class_name="btn btn-outline-secondary",
                            label_checked_class_name="active",
                        ),
                        dcc.DatePickerRange(
                            id=ids.F_DATES,
                            display_format="YYYY-MM-DD",
                            first_day_of_week=1,
                            updatemode="bothdates",
                            minimum_nights=0,
                            className="ad-dates mt-2",
                        ),
                    ]
                ),
                "Dates are in the zone chosen below.",
            ),
            _section(
                "Users",
                dcc.Dropdown(
                    id=ids.F_USERS,
                    multi=True,
                    placeholder="Search by name, id or e-mail" if not masked else "Search by name or id",
                    options=list(people),
                    value=[],
                    closeOnSelect=False,
                    debounce=True,
                ),
            ),
            _section(
                "Roles",
                dcc.Dropdown(
                    id=ids.F_ROLES,
                    multi=True,
                    options=simple_options(ids.F_ROLES, choices.roles),
                    value=[],
                    placeholder="All roles",
                    closeOnSelect=False,
                    debounce=True,
                ),
            ),
            _section(
                "Action types",
                dcc.Dropdown(
                    id=ids.F_ACTIONS,
                    multi=True,
                    options=action_options(),
                    value=[],
                    placeholder="All activities",
                    closeOnSelect=False,
                    debounce=True,
                    optionHeight=30,
                    maxHeight=320,
                ),
                "A whole category, or single actions.",
            ),
            _section(
                "Outcome",
                dbc.RadioItems(
                    id=ids.F_OUTCOME,
                    options=[{"label": OUTCOME_LABELS.get(o, o), "value": o} for o in ("", *OUTCOMES)],
                    value="",
                    inline=True,
                    class_name="btn-group btn-group-sm w-100",
                    input_class_name="btn-check",
                    label_class_name="btn btn-outline-secondary",
                    label_checked_class_name="active",
                ),
            ),
            _section(
                "IP address or block",
                dbc.Input(
                    id=ids.F_IP,
                    type="text",
                    placeholder="203.0.113.7 or 10.0.0.0/8",
                    debounce=True,
                    size="sm",
                    autocomplete="off",
                    value="",
                ),
                label_for=ids.F_IP,
            ),
            _section(
                "Country",
                dcc.Dropdown(
                    id=ids.F_COUNTRIES,
                    multi=True,
                    options=simple_options(ids.F_COUNTRIES, choices.countries),
                    value=[],
                    placeholder="All countries",
                    closeOnSelect=False,
                    debounce=True,
                ),
            ),
            _section(
                "Accounts",
                dcc.Dropdown(
                    id=ids.F_ACCOUNTS,
                    multi=True,
                    options=simple_options(ids.F_ACCOUNTS, choices.accounts),
                    value=[],
                    placeholder="All accounts",
                    closeOnSelect=False,
                    debounce=True,
                ),
            ),
            _section(
                "Text",
                dbc.Input(
                    id=ids.F_TEXT,
                    type="search",
                    placeholder="Actor, target or changed value",
                    debounce=True,
                    size="sm",
                    autocomplete="off",
                    value="",
                ),
                "Press Enter to apply.",
                label_for=ids.F_TEXT,
            ),
            _section(
                "Time zone",
                html.Div(
                    [
                        dcc.Dropdown(
                            id=ids.F_TZ, options=zone_options(), value=None, clearable=False, placeholder="Browser zone"
                        ),
                        dbc.Switch(id=ids.F_UTC, label="Show times in UTC", value=False, class_name="mt-2 mb-0"),
                    ]
                ),
                "Every chart and time says which zone it shows.",
            ),
        ],
        id=ids.SIDEBAR,
        className="ad-sidebar",
        **attrs(aria_label="Filters"),
    )


# -- the pure logic -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Controls:
    """What the sidebar's controls show (the JSON values Dash exchanges with the browser)."""

    preset: str = "7d"
    start_date: str | None = None
    end_date: str | None = None
    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    outcome: str = ""
    ip: str = ""
    countries: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    text: str = ""
    tz: str | None = None
    utc: bool = False

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Controls:
        """From the raw callback values (None and lists allowed)."""
        clean: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(f.name)
            if isinstance(f.default, tuple):
                clean[f.name] = tuple(str(v) for v in (raw or []) if v not in (None, ""))
            elif f.name == "utc":
                clean[f.name] = bool(raw)
            elif f.name in ("start_date", "end_date", "tz"):
                clean[f.name] = str(raw)[:64] if raw else None
            else:
                clean[f.name] = str(raw) if raw is not None else f.default
        return cls(**clean)


#: control id -> Controls field.
CONTROL_FIELDS: dict[str, str] = {
    ids.F_PRESET: "preset",
    ids.F_USERS: "users",
    ids.F_ROLES: "roles",
    ids.F_ACTIONS: "actions",
    ids.F_OUTCOME: "outcome",
    ids.F_IP: "ip",
    ids.F_COUNTRIES: "countries",
    ids.F_ACCOUNTS: "accounts",
    ids.F_TEXT: "text",
    ids.F_TZ: "tz",
    ids.F_UTC: "utc",
}


def valid_zone(name: str | None) -> str | None:
    """`name` if it is an IANA zone this machine knows, else None."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None
    return name


def link_query(f: Filters) -> str:
    """The URL query of a view: `Filters.to_query()`, always naming the zone (tz=UTC too)."""
    query = f.to_query()
    if f.tz == "UTC":
        query = f"{query}&tz=UTC" if query else "tz=UTC"
    return query


def clean(f: Filters, extra_problems: Sequence[str] = ()) -> Filters:
    """Validate like a pasted link: through the URL form and back (bad values dropped with a note)."""
    try:
        query = link_query(f)
    except (TypeError, ValueError, AttributeError) as exc:  # a hand-made store or patch
        return Filters(
            tz=valid_zone(f.tz) or "UTC", problems=(f"filters not understood ({exc}); showing the default view",)
        )
    parsed = Filters.from_query(query)
    problems = tuple(dict.fromkeys((*extra_problems, *parsed.problems)))
    return replace(parsed, problems=problems)


def from_url(search: str | None, browser_tz: str | None) -> Filters:
    """The view a URL asks for; without `tz`, in the browser's zone."""
    query = (search or "").lstrip("?")
    f = Filters.from_query(query)
    if "tz" not in parse_qs(query) and valid_zone(browser_tz):
        f = replace(f, tz=str(browser_tz))
    return f


def merge_patch(current: Filters, patch: Mapping[str, Any]) -> Filters:
    """`current` with the patch's fields replaced (a page's cross-filter), validated like a link."""
    unknown = sorted(k for k in patch if k not in PATCHABLE)
    values = {k: v for k, v in patch.items() if k in PATCHABLE}
    data = {**current.to_store(), **values}
    if ("start" in values or "end" in values) and "preset" not in values:
        data["preset"] = None
    try:
        merged = Filters.from_store(data)
    except (TypeError, ValueError) as exc:
        return replace(current, problems=(f"a cross-filter was not understood ({exc})",))
    return clean(merged, [f"unknown filter {k!r} ignored" for k in unknown])


def patch(**changes: Any) -> dict[str, Any]:
    """A JSON-ready patch for the `filters-patch` store: `patch(users=["u17"])`, `patch(start=dt, end=dt)`.

    Tuples become lists, datetimes ISO text; setting `start`/`end` clears the preset.
    """
    unknown = set(changes) - PATCHABLE
    if unknown:
        raise ValueError(f"not filter fields: {sorted(unknown)}")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if isinstance(value, tuple | list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, datetime | date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    if ("start" in out or "end" in out) and "preset" not in out:
        out["preset"] = None
    return out


def _local_day(value: datetime) -> str:
    return value.date().isoformat()


def controls_for(f: Filters, browser_tz: str | None, now: datetime) -> Controls:
    """What the controls show for the view `f`."""
    start, end = f.resolve_range(now)
    local_start = start.replace(tzinfo=UTC).astimezone(f.zone)
    local_end = end.replace(tzinfo=UTC).astimezone(f.zone)
    # the picker shows inclusive days: a range ending at midnight ends the day before
    last = local_end - timedelta(microseconds=1) if local_end > local_start else local_end
    actions = tuple(CATEGORY_PREFIX + c for c in f.categories) + f.actions
    zone = f.tz if f.tz != "UTC" else (valid_zone(browser_tz) or "UTC")
    return Controls(
        preset=f.preset if f.preset in PRESETS else CUSTOM,
        start_date=_local_day(local_start),
        end_date=_local_day(last),
        users=f.users,
        roles=f.roles,
        actions=actions,
        outcome=f.outcome or "",
        ip=f.ip or "",
        countries=f.countries,
        accounts=f.accounts,
        text=f.text or "",
        tz=zone,
        utc=f.tz == "UTC",
    )


def split_actions(values: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Dropdown values -> (categories, actions).

    The dropdown reads as "any of these": when it holds whole categories and single actions
    together, the categories are spelled out as their actions (the filter model ANDs the two).
    """
    categories = tuple(v.removeprefix(CATEGORY_PREFIX) for v in values if v.startswith(CATEGORY_PREFIX))
    actions = tuple(v for v in values if not v.startswith(CATEGORY_PREFIX))
    if categories and actions:
        grouped = actions_by_category()
        if all(c in grouped for c in categories):
            expanded = [a for c in categories for a in grouped[c]]
            return (), tuple(dict.fromkeys([*expanded, *actions]))
    return categories, actions


def apply_control(
    current: Filters, control: str, controls: Controls, browser_tz: str | None, now: datetime | None = None
) -> Filters:
    """`current` after the user changed `control` (only the fields that control owns change)."""
    c = controls
    if control == ids.F_PRESET:
        if c.preset in PRESETS:
            return current.with_(preset=c.preset, start=None, end=None)
        if current.preset is None:
            return current
        # "Custom" freezes the shown range as whole local days, ready to be edited
        start, end = current.resolve_range(now)
        first = start.replace(tzinfo=UTC).astimezone(current.zone).date()
        last = (end.replace(tzinfo=UTC).astimezone(current.zone) - timedelta(microseconds=1)).date()
        return current.with_(
            preset=None,
            start=datetime.combine(first, datetime.min.time()),
            end=datetime.combine(last + timedelta(days=1), datetime.min.time()),
        )
    if control == ids.F_DATES:
        if not c.start_date or not c.end_date:
            return current
        try:
            first, last = date.fromisoformat(c.start_date[:10]), date.fromisoformat(c.end_date[:10])
        except ValueError:
            return current
        if last < first:
            first, last = last, first
        start = datetime.combine(first, datetime.min.time())
        end = datetime.combine(last + timedelta(days=1), datetime.min.time())
        return current.with_(preset=None, start=start, end=end)
    if control == ids.F_ACTIONS:
        categories, actions = split_actions(c.actions)
        return current.with_(categories=categories, actions=actions)
    if control == ids.F_OUTCOME:
        return current.with_(outcome=c.outcome or None)
    if control in (ids.F_IP, ids.F_TEXT):
        name = "ip" if control == ids.F_IP else "text"
        value = (c.ip if control == ids.F_IP else c.text).strip()
        return current.with_(**{name: value or None})
    if control == ids.F_TZ:
        zone = valid_zone(c.tz) or current.tz
        return current.with_(tz=zone)
    if control == ids.F_UTC:
        if c.utc:
            return current.with_(tz="UTC")
        return current.with_(tz=valid_zone(c.tz) or valid_zone(browser_tz) or "UTC")
    field_name = CONTROL_FIELDS.get(control)
    if field_name in ("users", "roles", "countries", "accounts"):
        return current.with_(**{field_name: getattr(c, field_name)})
    return current


@dataclass(frozen=True)
class Sync:
    """What the shell's callback writes back."""

    filters: Filters | None = None
    """The new view (None: unchanged)."""
    search: str | None = None
    """The URL query to show, with `?` (None: leave the URL)."""
    push: bool = False
    """Whether the URL change is a new history entry (a change the user made)."""
    controls: Controls | None = None
    """What the controls should show (None: leave them)."""
    clear_patch: bool = False
    problems: tuple[str, ...] = field(default=())


def _xf_patch(trigger: Mapping[str, Any]) -> dict[str, Any] | None:
    name = str(trigger.get("field", ""))
    value = trigger.get("value")
    if name not in PATCHABLE or value in (None, ""):
        return None
    if name in ("users", "roles", "categories", "actions", "countries", "accounts", "weekdays", "hours"):
        return {name: [str(value)]}
    if name in ("ip", "outcome", "text"):
        return {name: str(value)}
    return None


def sync(
    trigger: str | Mapping[str, Any] | None,
    *,
    search: str | None,
    browser_tz: str | None,
    controls: Controls,
    current: Mapping[str, Any] | None,
    patch_data: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Sync:
    """Decide the view after `trigger` changed.

    The trigger is a control id, `url`, `tz`, `filters-patch`, `f-clear`, or a clicked value's id.

    Args:
        trigger: what changed (None on first load).
        search: the URL's query string as the browser has it.
        browser_tz: the browser's zone (may be None before it is known).
        controls: what the controls show now.
        current: the store's data (None before the first sync).
        patch_data: the patch store's data.
        now: the instant presets are relative to (for the date picker).
    """
    instant = now or datetime.now(UTC)
    canonical_now = (search or "").lstrip("?")
    if current is None or trigger in (None, ids.URL, ids.TZ):
        if current is not None and trigger == ids.TZ and "tz" in parse_qs(canonical_now):
            return Sync()  # the browser's zone arrived late: it only matters for a URL that names no zone
        f = from_url(search, browser_tz)
        problems = f.problems
        f = clean(f, problems)
        if current is not None and trigger == ids.URL and f == _from_store(current):
            return Sync()  # our own URL echoed back: nothing changed
        query = link_query(f)
        return Sync(
            filters=f,
            search="?" + query if query != canonical_now else None,
            push=False,
            controls=controls_for(f, browser_tz, instant),
            problems=f.problems,
        )
    base = _from_store(current)
    if trigger == ids.F_CLEAR:
        f = Filters(tz=base.tz)
    elif trigger == ids.FILTERS_PATCH:
        if not patch_data:
            return Sync()
        f = merge_patch(base, patch_data)
    elif isinstance(trigger, Mapping):
        xf = _xf_patch(trigger)
        if xf is None:
            return Sync()
        f = merge_patch(base, xf)
    else:
        f = clean(apply_control(base, str(trigger), controls, browser_tz, instant))
    query = link_query(f)
    changed = f != base
    return Sync(
        filters=f if changed else None,
        search="?" + query if query != canonical_now else None,
        push=True,
        controls=controls_for(f, browser_tz, instant),
        clear_patch=trigger == ids.FILTERS_PATCH,
        problems=f.problems,
    )


def page_filters(data: Mapping[str, Any] | None) -> Filters:
    """The view a page's callback draws, from the shell's `filters` store.

    Raises PreventUpdate until the shell has read the URL (the store starts empty).
    """
    if not data:
        raise PreventUpdate
    return Filters.from_store(data)


#: key of the `filters` store with the instant (UTC, to the minute) the shell wrote it: every
#: chart a change redraws resolves relative ranges ("last 24 hours") at that one instant, so
#: the charts of a page agree even when their callbacks run a minute apart.
ASOF_KEY = "asof"


def store_data(f: Filters, now: datetime | None = None) -> dict[str, Any]:
    """The `filters` store's data for `f`, stamped with the instant it was written."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    return {**f.to_store(), ASOF_KEY: moment.isoformat()}


#: the store's instant is used only this long after it was written: a redraw's callbacks run
#: within seconds of each other, while a page opened later (the store is not rewritten when
#: the filters stay the same) must show "the last 24 hours" up to now, not up to then.
ASOF_FRESH = timedelta(seconds=90)


def page_moment(data: Mapping[str, Any] | None, now: datetime | None = None) -> datetime | None:
    """The instant the store's view was written at (aware UTC), while it is fresh; else None (use now)."""
    text = data.get(ASOF_KEY) if data else None
    try:
        moment = datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None
    if moment is None or moment.tzinfo is None:
        return None
    current = now or datetime.now(UTC)
    return moment.astimezone(UTC) if current - moment <= ASOF_FRESH else None


def _from_store(data: Mapping[str, Any]) -> Filters:
    try:
        return Filters.from_store(data)
    except (TypeError, ValueError):
        return Filters()


def summary(f: Filters, now: datetime | None = None) -> list[Any]:
    """The line above every page saying what is shown."""
    text = f.describe(now)
    return [html.Span("Showing ", className="text-body-secondary"), html.Span(text, className="ad-summary-text")]
