"""The shell's filter logic: URL, store and sidebar kept in step (pure functions, no browser)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from dashboard.filters import Filters
from dashboard.web import ids
from dashboard.web.components import filterbar as fb

NOW = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
BERLIN = "Europe/Berlin"


def first_load(search: str, browser_tz: str | None = BERLIN) -> fb.Sync:
    return fb.sync(None, search=search, browser_tz=browser_tz, controls=fb.Controls(), current=None, now=NOW)


def change(current: Filters, control: str, search: str | None = None, **values: object) -> fb.Sync:
    shown = fb.controls_for(current, BERLIN, NOW)
    controls = fb.Controls.from_values({**shown.__dict__, **values})
    return fb.sync(
        control,
        search=search if search is not None else "?" + fb.link_query(current),
        browser_tz=BERLIN,
        controls=controls,
        current=current.to_store(),
        now=NOW,
    )


def test_a_link_without_zone_opens_in_the_browser_zone_and_is_tidied_in_place() -> None:
    s = first_load("?range=24h&outcome=failure")
    assert s.filters == Filters(preset="24h", outcome="failure", tz=BERLIN)
    assert s.search == "?range=24h&outcome=failure&tz=Europe%2FBerlin"
    assert s.push is False  # replaceState: Back must not land on a page that rewrites itself
    assert s.controls is not None and (s.controls.preset, s.controls.outcome, s.controls.tz) == (
        "24h",
        "failure",
        BERLIN,
    )


def test_a_link_with_a_zone_keeps_it_and_utc_is_always_written() -> None:
    s = first_load("?users=u1&tz=UTC")
    assert s.filters == Filters(users=("u1",), tz="UTC")
    assert s.search is None  # already canonical
    assert s.controls is not None and s.controls.utc is True and s.controls.tz == BERLIN
    assert fb.link_query(Filters()) == "tz=UTC"


def test_bad_values_in_a_link_are_dropped_with_a_note() -> None:
    s = first_load("?range=1y&ip=1.2.3.999&outcome=maybe")
    assert s.filters == Filters(tz=BERLIN)
    assert len(s.problems) == 3
    assert s.search == "?tz=Europe%2FBerlin"


def test_our_own_url_coming_back_changes_nothing() -> None:
    f = Filters(preset="30d", tz=BERLIN)
    s = fb.sync(ids.URL, search="?" + fb.link_query(f), browser_tz=BERLIN, controls=fb.Controls(), current=f.to_store())
    assert s == fb.Sync()


def test_back_button_restores_the_earlier_view() -> None:
    now = Filters(preset="30d", users=("u1",), tz=BERLIN)
    earlier = Filters(preset="7d", tz=BERLIN)
    s = fb.sync(
        ids.URL, search="?" + fb.link_query(earlier), browser_tz=BERLIN, controls=fb.Controls(), current=now.to_store()
    )
    assert s.filters == earlier
    assert s.search is None and s.controls is not None and s.controls.users == ()


def test_a_control_changes_only_its_own_fields() -> None:
    narrowed = Filters(preset=None, start=datetime(2026, 11, 20, 14), end=datetime(2026, 11, 20, 15), tz=BERLIN)
    s = change(narrowed, ids.F_OUTCOME, outcome="failure")
    assert s.filters == Filters(
        preset=None, start=datetime(2026, 11, 20, 14), end=datetime(2026, 11, 20, 15), outcome="failure", tz=BERLIN
    )
    assert s.push is True
    assert s.search == "?from=2026-11-20T14%3A00&to=2026-11-20T15%3A00&outcome=failure&tz=Europe%2FBerlin"


@pytest.mark.parametrize(
    ("control", "values", "expected"),
    [
        (ids.F_PRESET, {"preset": "90d"}, Filters(preset="90d", tz=BERLIN)),
        (
            ids.F_DATES,
            {"start_date": "2026-11-01", "end_date": "2026-11-03"},
            Filters(preset=None, start=datetime(2026, 11, 1), end=datetime(2026, 11, 4), tz=BERLIN),
        ),
        (
            ids.F_PRESET,
            {"preset": "custom"},  # freezes the shown range as whole local days
            Filters(preset=None, start=datetime(2026, 11, 19), end=datetime(2026, 11, 27), tz=BERLIN),
        ),
        (ids.F_USERS, {"users": ["u1", "u2"]}, Filters(users=("u1", "u2"), tz=BERLIN)),
        (ids.F_ROLES, {"roles": ["administrator"]}, Filters(roles=("administrator",), tz=BERLIN)),
        (ids.F_ACTIONS, {"actions": ["cat:authentication"]}, Filters(categories=("authentication",), tz=BERLIN)),
        (
            ids.F_ACTIONS,
            {"actions": ["auth.login", "label.create"]},
            Filters(actions=("auth.login", "label.create"), tz=BERLIN),
        ),
        (ids.F_IP, {"ip": " 10.0.0.0/8 "}, Filters(ip="10.0.0.0/8", tz=BERLIN)),
        (ids.F_COUNTRIES, {"countries": ["de"]}, Filters(countries=("DE",), tz=BERLIN)),
        (ids.F_ACCOUNTS, {"accounts": ["acme-eu"]}, Filters(accounts=("acme-eu",), tz=BERLIN)),
        (ids.F_TEXT, {"text": "refund"}, Filters(text="refund", tz=BERLIN)),
        (ids.F_TZ, {"tz": "Asia/Tokyo"}, Filters(tz="Asia/Tokyo")),
        (ids.F_UTC, {"utc": True}, Filters(tz="UTC")),
    ],
)
def test_each_control(control: str, values: dict[str, object], expected: Filters) -> None:
    s = change(Filters(tz=BERLIN), control, **values)
    assert s.filters == expected
    assert Filters.from_query((s.search or "").lstrip("?")) == expected  # the URL says the same


def test_turning_utc_off_goes_back_to_the_chosen_zone() -> None:
    s = change(Filters(tz="UTC"), ids.F_UTC, utc=False, tz="Asia/Tokyo")
    assert s.filters == Filters(tz="Asia/Tokyo")


def test_a_bad_address_is_refused_with_a_note() -> None:
    s = change(Filters(tz=BERLIN), ids.F_IP, ip="10.0.0.300")
    assert s.filters is None  # nothing changed
    assert s.problems and "10.0.0.300" in s.problems[0]


def test_categories_and_single_actions_together_mean_any_of_them() -> None:
    categories, actions = fb.split_actions(["cat:labels", "auth.login"])
    assert categories == ()
    assert set(actions) >= {"label.create", "label.assign", "auth.login"}


def test_a_cross_filter_patch_narrows_and_is_consumed() -> None:
    current = Filters(preset="7d", tz=BERLIN)
    patch = fb.patch(start=datetime(2026, 11, 20, 14), end=datetime(2026, 11, 20, 15))
    assert patch == {"start": "2026-11-20T14:00:00", "end": "2026-11-20T15:00:00", "preset": None}
    s = fb.sync(
        ids.FILTERS_PATCH,
        search="?" + fb.link_query(current),
        browser_tz=BERLIN,
        controls=fb.controls_for(current, BERLIN, NOW),
        current=current.to_store(),
        patch_data=patch,
        now=NOW,
    )
    assert s.filters == Filters(
        preset=None, start=datetime(2026, 11, 20, 14), end=datetime(2026, 11, 20, 15), tz=BERLIN
    )
    assert s.push is True and s.clear_patch is True
    assert s.controls is not None and s.controls.preset == "custom" and s.controls.start_date == "2026-11-20"


def test_a_patch_is_validated_like_a_link() -> None:
    merged = fb.merge_patch(
        Filters(tz=BERLIN), {"users": ["u9"], "outcome": "maybe", "evil": 1, "categories": ["nope"]}
    )
    assert merged == Filters(users=("u9",), tz=BERLIN)
    assert len(merged.problems) == 3
    assert fb.merge_patch(Filters(tz=BERLIN), {"start": "not a date"}).problems
    with pytest.raises(ValueError, match="not filter fields"):
        fb.patch(nope=1)


def test_a_clicked_table_value_narrows_to_it() -> None:
    current = Filters(tz=BERLIN)
    trigger = {"type": ids.XF_VALUE, "field": "ip", "value": "203.0.113.0/24", "src": "top-ips"}
    s = fb.sync(
        trigger, search="?tz=Europe%2FBerlin", browser_tz=BERLIN, controls=fb.Controls(), current=current.to_store()
    )
    assert s.filters == Filters(ip="203.0.113.0/24", tz=BERLIN)
    trigger = {"type": ids.XF_VALUE, "field": "hash", "value": "x", "src": "t"}
    assert (
        fb.sync(trigger, search="", browser_tz=BERLIN, controls=fb.Controls(), current=current.to_store()) == fb.Sync()
    )


def test_a_heatmap_cell_narrows_to_its_weekday_and_hour_and_clear_all_lifts_it() -> None:
    current = Filters(preset="30d", tz=BERLIN)
    patch = fb.patch(outcome="failure", actions=["auth.login"], weekdays=[2], hours=[14])
    s = fb.sync(
        ids.FILTERS_PATCH,
        search="?" + fb.link_query(current),
        browser_tz=BERLIN,
        controls=fb.controls_for(current, BERLIN, NOW),
        current=current.to_store(),
        patch_data=patch,
        now=NOW,
    )
    narrowed = Filters(preset="30d", outcome="failure", actions=("auth.login",), weekdays=(2,), hours=(14,), tz=BERLIN)
    assert s.filters == narrowed and s.problems == ()
    assert s.search == "?range=30d&actions=auth.login&weekdays=2&hours=14&outcome=failure&tz=Europe%2FBerlin"
    words = str(fb.summary(narrowed, NOW)[1].children)
    assert "Europe/Berlin, Tuesdays, 14:00-15:00, " in words
    # the sidebar has no control of its own for them: changing another control keeps them
    later = change(narrowed, ids.F_OUTCOME, outcome="")
    assert later.filters is not None and (later.filters.weekdays, later.filters.hours) == ((2,), (14,))
    # the store's form goes back and forth unchanged
    assert fb.page_filters(narrowed.to_store()) == narrowed
    cleared = change(narrowed, ids.F_CLEAR)
    assert cleared.filters == Filters(tz=BERLIN)
    assert cleared.search == "?tz=Europe%2FBerlin"


def test_a_bad_weekday_in_a_patch_is_refused_with_a_note() -> None:
    merged = fb.merge_patch(Filters(tz=BERLIN), {"weekdays": ["9"], "hours": ["14"]})
    assert merged == Filters(hours=(14,), tz=BERLIN)
    assert merged.problems and "weekdays='9'" in merged.problems[0]
    assert fb.merge_patch(Filters(tz=BERLIN), {"weekdays": ["Tue"]}).problems


def test_clear_all_keeps_the_zone() -> None:
    s = change(Filters(preset="90d", users=("u1",), outcome="failure", tz="Asia/Tokyo"), ids.F_CLEAR)
    assert s.filters == Filters(tz="Asia/Tokyo")


def test_user_options_mask_names_for_masked_viewers() -> None:
    directory = pd.DataFrame(
        {
            "actor_id": ["u1", "u2", "u3"],
            "actor_name": ["Ana Souza", "Ben Tremblay", None],
            "actor_email": ["ana@acme.example", "ben@acme.example", "x@acme.example"],
            "events": [30, 20, 10],
        }
    )
    assert fb.user_options(directory, "souza", [], masked=False) == [{"label": "Ana Souza (u1)", "value": "u1"}]
    assert fb.user_options(directory, "", ["u2"], masked=True)[:2] == [
        {"label": "Ben T. (u2)", "value": "u2"},
        {"label": "Ana S. (u1)", "value": "u1"},
    ]
    assert fb.user_options(directory, "ben@", [], masked=False) == [{"label": "Ben Tremblay (u2)", "value": "u2"}]
    assert fb.user_options(directory, "ben@", [], masked=True) == []  # not findable by what it cannot see


def test_the_store_says_when_it_was_written_so_a_pages_charts_agree() -> None:
    f = Filters.from_query("range=24h&outcome=failure&tz=Europe/Berlin")
    written = datetime(2026, 11, 26, 9, 41, 59, 800_000, tzinfo=UTC)
    data = fb.store_data(f, written)
    assert data["asof"] == "2026-11-26T09:41:00+00:00"  # to the minute: callbacks a second apart agree
    assert Filters.from_store(data) == f  # the stamp is not part of the view
    moment = fb.page_moment(data, now=written)
    assert moment == datetime(2026, 11, 26, 9, 41, tzinfo=UTC)
    # a page opened later from the same store shows the range up to its own now
    assert fb.page_moment(data, now=datetime(2026, 11, 26, 15, 0, tzinfo=UTC)) is None
    # every chart of the page resolves "last 24 hours" at that instant, however late it runs
    assert f.resolve_range(moment) == (datetime(2026, 11, 25, 9, 41), datetime(2026, 11, 26, 9, 41))
    assert fb.page_moment(f.to_store()) is None  # an older store: each view uses its own now
    assert fb.page_moment({"asof": "not a time"}) is None
