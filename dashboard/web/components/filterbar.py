"""The filter sidebar, by concept (the names pages and the shell use are all importable from here):

* `filter_controls`: the table of the sidebar's controls (`CONTROLS`), what they show (`Controls`)
  and how a changed control changes the `Filters`;
* `filter_choices`: what the dropdowns offer (roles, countries, accounts, people, zones);
* `filter_sidebar`: the sidebar's layout;
* `filter_sync`: the pure logic that keeps URL, store and controls in step (`sync`), and what
  pages read from the store (`page_filters`, `page_moment`, `patch`).
"""

from __future__ import annotations

from dashboard.web.components.filter_choices import (
    Choices,
    action_options,
    actor_directory,
    load_choices,
    options_for,
    simple_options,
    user_label,
    user_options,
    zone_options,
)
from dashboard.web.components.filter_controls import (
    CATEGORY_PREFIX,
    CONTROL_FIELDS,
    CONTROLS,
    CUSTOM,
    OPTION_CONTROLS,
    OUTCOME_LABELS,
    Controls,
    SidebarControl,
    apply_control,
    controls_for,
    split_actions,
    valid_zone,
)
from dashboard.web.components.filter_sidebar import (
    sidebar,
)
from dashboard.web.components.filter_sync import (
    ASOF_FRESH,
    ASOF_KEY,
    PATCHABLE,
    VIEW_KEY,
    Sync,
    clean,
    from_url,
    link_query,
    merge_patch,
    page_filters,
    page_moment,
    patch,
    store_data,
    summary,
    sync,
)

__all__ = [
    "ASOF_FRESH",
    "ASOF_KEY",
    "CATEGORY_PREFIX",
    "CONTROLS",
    "CONTROL_FIELDS",
    "CUSTOM",
    "OPTION_CONTROLS",
    "OUTCOME_LABELS",
    "PATCHABLE",
    "VIEW_KEY",
    "Choices",
    "Controls",
    "SidebarControl",
    "Sync",
    "action_options",
    "actor_directory",
    "apply_control",
    "clean",
    "controls_for",
    "from_url",
    "link_query",
    "load_choices",
    "merge_patch",
    "options_for",
    "page_filters",
    "page_moment",
    "patch",
    "sidebar",
    "simple_options",
    "split_actions",
    "store_data",
    "summary",
    "sync",
    "user_label",
    "user_options",
    "valid_zone",
    "zone_options",
]
