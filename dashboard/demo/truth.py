"""The ground truth of a generated set: the spec, the period, the roster, every planted incident
with the rules it should trigger and the ids of the events that make it (what a detection is
expected to find), and the benign look-alikes it should not flag."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from dashboard.demo.assemble import EventTable
from dashboard.demo.catalog import ACCOUNTS
from dashboard.demo.clock import iso
from dashboard.demo.incidents.base import Scenario
from dashboard.demo.incidents.planner import DETAILS
from dashboard.demo.incidents.silence import silent_source_evidence
from dashboard.demo.world import World


def truth(w: World, sc: Scenario, table: EventTable) -> dict[str, Any]:
    cols = table.cols
    inc_col = cols["inc"]
    incidents = []
    for tag, inc in enumerate(sc.incidents):
        positions: list[int] = np.flatnonzero(inc_col == tag).tolist()
        entry: dict[str, Any] = {
            "kind": inc.kind,
            "rules": inc.rules,
            "account_id": ACCOUNTS[inc.acct],
        }
        if inc.user is not None:
            u = w.roster[inc.user]
            entry.update({"user": u.id, "user_email": u.email, "user_name": u.name})
        if inc.ip is not None:
            entry["ip"] = inc.ip
        entry["start"], entry["end"] = iso(inc.start), iso(inc.end)
        if inc.kind == "silent_source":
            positions, details = silent_source_evidence(inc, cols)
            entry.update(details)
        elif inc.kind in DETAILS:
            entry.update(DETAILS[inc.kind](w, inc))
        entry["event_ids"] = [table.event_id(int(p)) for p in positions]
        incidents.append(entry)
    spec = asdict(w.spec)
    spec["end"] = iso(w.period.p1)
    return {
        "spec": spec,
        "period": {"start": iso(w.period.p0), "end": iso(w.period.p1)},
        "generated_events": table.n,
        "accounts": list(ACCOUNTS),
        "agents": [
            {
                "id": a.id,
                "name": a.name,
                "email": a.email,
                "role": a.role,
                "team": a.team,
                "account_id": ACCOUNTS[a.acct],
                "country": a.city.country,
                "city": a.city.city,
                "time_zone": a.city.zone,
                "home_ip": w.endpoints.ips[a.ip],
            }
            for a in w.roster
        ],
        "incidents": incidents,
        "benign": sc.benign,
    }
