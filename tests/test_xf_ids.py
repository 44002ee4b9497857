"""A value shown in several rows of one table can be clicked in each: one id per row.

Dash delivers no click on a component whose id is repeated on the page, and the Security tables
show the same country, person or address block in several rows (an address's country, a person
with several role changes)."""

from __future__ import annotations

import json
from typing import Any

from dashboard.web import ids
from dashboard.web.components.parts import data_table, element, xf_cell


def _xf_ids(tree: Any) -> list[str]:
    found: list[str] = []
    if isinstance(tree, list):
        for item in tree:
            found += _xf_ids(item)
    elif isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict):
            cid = props.get("id")
            if isinstance(cid, dict) and cid.get("type") == ids.XF_VALUE:
                found.append(json.dumps(cid, sort_keys=True))
            found += _xf_ids(props.get("children"))
    return found


def test_a_value_repeated_in_rows_gets_one_id_per_row_and_keeps_its_field_and_value() -> None:
    rows = [
        [
            xf_cell("ip", f"203.0.113.{i}", src="top-ips"),
            element("Span", [xf_cell("countries", "BR", "Brazil", src="top-ips")]),
        ]
        for i in range(4)
    ]
    table = json.loads(
        json.dumps(data_table(["Address", "Country"], rows).to_plotly_json(), default=lambda o: o.to_plotly_json())
    )
    found = _xf_ids(table)
    assert len(found) == 8 and len(set(found)) == 8, found
    brazil = [json.loads(f) for f in found if '"BR"' in f]
    assert len(brazil) == 4
    assert all(b["field"] == "countries" and b["value"] == "BR" and b["src"].startswith("top-ips") for b in brazil)
