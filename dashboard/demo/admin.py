"""Rare administrative changes by administrators and supervisors inside their sessions, and the
safety net that gives every platform action of the taxonomy a few events."""

from __future__ import annotations

from dashboard.demo import staff, workspace
from dashboard.demo.catalog import AUTOMATION_RULES, LABELS
from dashboard.demo.columns import ACT, CATEGORY_OF
from dashboard.demo.desk import AdminDesk
from dashboard.demo.world import World
from dashboard.events.taxonomy import PLATFORM_ACTIONS


def emit_admin(w: World) -> None:
    """Every kind of administrative change, in a fixed order (the random draws follow it)."""
    d = AdminDesk(w)
    workspace.settings_changes(d)
    workspace.feature_toggles(d)
    workspace.integration_changes(d)
    workspace.workflow_changes(d)
    staff.joiners_and_leavers(d)
    staff.profile_updates(d)
    staff.role_changes(d)
    staff.permission_changes(d)
    staff.team_changes(d)
    workspace.label_changes(d)
    workspace.automation_rule_changes(d)
    workspace.bot_changes(d)
    workspace.knowledge_base_syncs(d)
    staff.security_changes(d)
    workspace.conversation_deletes(d)


def ensure_coverage(w: World, present: set[int]) -> None:
    """Every platform action appears: actions added to the taxonomy later get a few events."""
    buf = w.buf
    for action in PLATFORM_ACTIONS:
        if ACT[action] in present:
            continue
        category = CATEGORY_OF.get(action, "other")
        for _ in range(3):
            s = w.sessions.pick(0, ("administrator",))
            if s is None:
                break
            a = w.roster[s.agent]
            target = {
                "conversation": {"type": "conversation", "id": str(w.conv_now(0, s.start)), "name": "#"},
                "settings": {"type": "setting", "id": "account.general", "name": "General"},
                "labels": {"type": "label", "id": "label-1", "name": LABELS[0][0]},
                "automation": {"type": "automation_rule", "id": "rule-1", "name": AUTOMATION_RULES[0]},
            }.get(category, a.target())
            buf.row(
                w.sessions.time_in(s),
                action,
                a.idx,
                a.acct,
                sess=s.idx,
                ip=s.ip,
                ua=s.ua,
                spec=buf.special({"target": target}),
            )
