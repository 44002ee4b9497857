"""The sidebar's controls and the `Filters` they stand for: one table of controls, pure logic.

`CONTROLS` is the one mapping from a sidebar component (its id and the property holding its
value) to the `Controls` field it shows; the shell's callback (dashboard/web/layout.py) builds
its outputs and inputs from it, and `apply_control` changes only the field of the control that
changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.events.taxonomy import actions_by_category
from dashboard.filters import PRESETS, Filters
from dashboard.web import ids
from dashboard.when import in_zone

CUSTOM = "custom"
CATEGORY_PREFIX = "cat:"
OUTCOME_LABELS = {"": "All", "success": "Success", "failure": "Failure", "unknown": "Unknown"}


@dataclass(frozen=True)
class SidebarControl:
    """One value of the sidebar: a component's property and the `Controls` field it shows."""

    id: str
    prop: str
    field: str
    options: bool = False
    """A dropdown whose options the shell extends when a selected value is not among them."""


#: every value of the sidebar, in the order the shell's callback lists them.
CONTROLS: tuple[SidebarControl, ...] = (
    SidebarControl(ids.F_PRESET, "value", "preset"),
    SidebarControl(ids.F_DATES, "start_date", "start_date"),
    SidebarControl(ids.F_DATES, "end_date", "end_date"),
    SidebarControl(ids.F_USERS, "value", "users", options=True),
    SidebarControl(ids.F_ROLES, "value", "roles", options=True),
    SidebarControl(ids.F_ACTIONS, "value", "actions", options=True),
    SidebarControl(ids.F_OUTCOME, "value", "outcome"),
    SidebarControl(ids.F_IP, "value", "ip"),
    SidebarControl(ids.F_COUNTRIES, "value", "countries", options=True),
    SidebarControl(ids.F_ACCOUNTS, "value", "accounts", options=True),
    SidebarControl(ids.F_TEXT, "value", "text"),
    SidebarControl(ids.F_TZ, "value", "tz"),
    SidebarControl(ids.F_UTC, "value", "utc"),
    SidebarControl(ids.F_OWN, "value", "own"),
)
#: control id -> Controls field, for the controls with one value (the date picker has two).
CONTROL_FIELDS: dict[str, str] = {c.id: c.field for c in CONTROLS if c.prop == "value"}
#: the dropdowns whose options the shell's callback may extend, in `CONTROLS` order.
OPTION_CONTROLS: tuple[str, ...] = tuple(c.id for c in CONTROLS if c.options)


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
    own: bool = False

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Controls:
        """From the raw callback values (None and lists allowed)."""
        clean: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(f.name)
            if isinstance(f.default, tuple):
                clean[f.name] = tuple(str(v) for v in (raw or []) if v not in (None, ""))
            elif f.name in ("utc", "own"):
                clean[f.name] = bool(raw)
            elif f.name in ("start_date", "end_date", "tz"):
                clean[f.name] = str(raw)[:64] if raw else None
            else:
                clean[f.name] = str(raw) if raw is not None else f.default
        return cls(**clean)


def _check_table() -> None:
    """`CONTROLS` names every `Controls` field once (a field without a control would never be shown)."""
    named = [c.field for c in CONTROLS]
    if sorted(named) != sorted(f.name for f in fields(Controls)):  # pragma: no cover - guards an edit
        raise AssertionError(f"CONTROLS and Controls disagree: {named}")


_check_table()


def valid_zone(name: str | None) -> str | None:
    """`name` if it is an IANA zone this machine knows, else None."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None
    return name


def _local_day(value: datetime) -> str:
    return value.date().isoformat()


def controls_for(f: Filters, browser_tz: str | None, now: datetime, chosen_tz: str | None = None) -> Controls:
    """What the controls show for the view `f`.

    While the view is in UTC ("Show times in UTC" on), the zone picker keeps the zone chosen
    before (`chosen_tz`, else the browser's), so switching UTC off returns to it.
    """
    start, end = f.resolve_range(now)
    local_start, local_end = in_zone(start, f.zone), in_zone(end, f.zone)
    # the picker shows inclusive days: a range ending at midnight ends the day before
    last = local_end - timedelta(microseconds=1) if local_end > local_start else local_end
    actions = tuple(CATEGORY_PREFIX + c for c in f.categories) + f.actions
    zone = f.tz if f.tz != "UTC" else (valid_zone(chosen_tz) or valid_zone(browser_tz) or "UTC")
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
        own=f.dashboard_activity,
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
        first = in_zone(start, current.zone).date()
        last = (in_zone(end, current.zone) - timedelta(microseconds=1)).date()
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
    if control == ids.F_OWN:
        return current.with_(dashboard_activity=c.own)
    if control == ids.F_UTC:
        if c.utc:
            return current.with_(tz="UTC")
        return current.with_(tz=valid_zone(c.tz) or valid_zone(browser_tz) or "UTC")
    field_name = CONTROL_FIELDS.get(control)
    if field_name is not None:  # the list filters: users, roles, countries, accounts
        value = getattr(c, field_name)
        if isinstance(value, tuple):
            return current.with_(**{field_name: value})
    return current
