"""The pure logic that keeps URL, store and sidebar controls in step, and the store pages read.

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from dash import html
from dash.exceptions import PreventUpdate

from dashboard.filters import LIST_FIELDS, Filters
from dashboard.web import ids
from dashboard.web.components.filter_controls import Controls, apply_control, controls_for, valid_zone

#: the fields a page may set through the patch store (everything the sidebar can show).
PATCHABLE: frozenset[str] = frozenset(f.name for f in fields(Filters)) - {"problems"}


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
    if name in LIST_FIELDS:
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
            controls=controls_for(f, browser_tz, instant, controls.tz),
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
        controls=controls_for(f, browser_tz, instant, controls.tz),
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


#: key of the `filters` store with the view's canonical link query (`link_query`): a page compares
#: it with the view it shows (`page_view`), in the browser too, without reading the filters.
VIEW_KEY = "view"


def store_data(f: Filters, now: datetime | None = None) -> dict[str, Any]:
    """The `filters` store's data for `f`, stamped with the instant it was written and its view's key."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    return {**f.to_store(), ASOF_KEY: moment.isoformat(), VIEW_KEY: link_query(f)}


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
