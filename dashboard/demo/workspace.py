"""How the workspace is configured over time: account settings, features, integrations, inbox
workflows, labels, automation rules, the welcome bot (and its weekly knowledge-base sync), and
deleted spam conversations. Each function draws its events through an `AdminDesk`."""

from __future__ import annotations

from typing import Any

from dashboard.demo.catalog import (
    ACCOUNT_DOMAINS,
    AUTOMATION_RULES,
    FEATURES,
    INBOXES,
    INTEGRATIONS,
    LABELS,
    NEW_RULES,
    SETTINGS,
    WORKFLOWS,
)
from dashboard.demo.clock import DAY_MS, MINUTE_MS
from dashboard.demo.columns import SYSTEM
from dashboard.demo.desk import ADMIN, LEADS, AdminDesk


def settings_changes(d: AdminDesk) -> None:
    """Account settings changed by administrators."""
    rng = d.rng
    for _ in range(d.count(1.2)):
        if s := d.at(ADMIN):
            key, label, values = SETTINGS[int(rng.integers(len(SETTINGS)))]
            old, new = d.two(values)
            d.emit(
                s,
                "settings.update",
                {
                    "target": {"type": "setting", "id": f"account.{key}", "name": label},
                    "changes": {key: [old, new]},
                },
            )


def feature_toggles(d: AdminDesk) -> None:
    """Features switched on and off."""
    rng = d.rng
    for action, rate, before, after in (
        ("feature.enable", 0.12, False, True),
        ("feature.disable", 0.08, True, False),
    ):
        for _ in range(d.count(rate)):
            if s := d.at(ADMIN):
                feat, feat_title = FEATURES[int(rng.integers(len(FEATURES)))]
                d.emit(
                    s,
                    action,
                    {
                        "target": {
                            "type": "setting",
                            "id": f"feature.{feat}",
                            "name": feat_title,
                        },
                        "changes": {f"features.{feat}": [before, after]},
                        "metadata": {"feature": feat},
                    },
                )


def integration_changes(d: AdminDesk) -> None:
    """Integrations created, updated and deleted."""
    w, rng = d.w, d.rng
    last_id = 40
    for action, rate in (("integration.create", 0.06), ("integration.update", 0.15), ("integration.delete", 0.04)):
        for _ in range(d.count(rate)):
            if s := d.at(ADMIN):
                kind, title = INTEGRATIONS[int(rng.integers(len(INTEGRATIONS)))]
                last_id += 1
                iid = last_id if action == "integration.create" else int(rng.integers(3, 40))
                changes: dict[str, Any]
                if action == "integration.create":
                    changes = {"enabled": [None, True]}
                    if kind == "webhook":
                        changes["url"] = [
                            None,
                            f"https://hooks.{ACCOUNT_DOMAINS[w.roster[s.agent].acct]}/cw/{iid}",
                        ]
                elif action == "integration.update":
                    changes = (
                        {"subscriptions": [["conversation_created"], ["conversation_created", "message_created"]]}
                        if kind == "webhook"
                        else {"enabled": [True, False]}
                        if rng.random() < 0.3
                        else {"settings.channel": ["#support", "#support-alerts"]}
                    )
                else:
                    changes = {"enabled": [True, None]}
                d.emit(
                    s,
                    action,
                    {
                        "target": {"type": "integration", "id": f"int-{iid}", "name": title},
                        "changes": changes,
                        "metadata": {"integration": kind},
                    },
                )


def workflow_changes(d: AdminDesk) -> None:
    """Assignment, business-hours, SLA and CSAT workflows of the inboxes."""
    rng = d.rng
    for _ in range(d.count(0.25)):
        if s := d.at(LEADS):
            key, wf, values = WORKFLOWS[int(rng.integers(len(WORKFLOWS)))]
            old, new = d.two(values)
            k = int(rng.integers(len(INBOXES)))
            d.emit(
                s,
                "workflow.update",
                {
                    "target": {"type": "inbox", "id": f"inbox-{k + 1}", "name": INBOXES[k]},
                    "changes": {key: [old, new]},
                    "metadata": {"workflow": wf},
                },
            )


def label_changes(d: AdminDesk) -> None:
    """Labels created, recoloured, deleted and moved to another category."""
    rng = d.rng
    label_no = 100
    for action, rate in (
        ("label.create", 0.2),
        ("label.update", 0.15),
        ("label.delete", 0.06),
        ("label.category_change", 0.08),
    ):
        for _ in range(d.count(rate)):
            if s := d.at(LEADS):
                k = int(rng.integers(len(LABELS)))
                title, category, colour, _w = LABELS[k]
                payload: dict[str, Any]
                if action == "label.create":
                    label_no += 1
                    new_title = ("black-friday", "outage", "churn-risk", "beta", "warranty")[label_no % 5]
                    new_title = f"{new_title}-{label_no}"
                    payload = {
                        "target": {"type": "label", "id": f"label-{label_no}", "name": new_title},
                        "changes": {"title": [None, new_title], "color": [None, colour]},
                    }
                elif action == "label.update":
                    old, new = d.two(("#1f93ff", "#ff6b6b", "#20c997", "#ffc107", "#6f42c1"))
                    payload = {
                        "target": {"type": "label", "id": f"label-{k + 1}", "name": title},
                        "changes": {"color": [old, new]},
                    }
                elif action == "label.delete":
                    old_title = f"campaign-{int(rng.integers(2019, 2025))}"
                    payload = {
                        "target": {
                            "type": "label",
                            "id": f"label-{int(rng.integers(200, 400))}",
                            "name": old_title,
                        },
                        "metadata": {"conversations_affected": int(rng.integers(0, 400))},
                    }
                else:
                    cats = sorted({lab[1] for lab in LABELS} - {category})
                    payload = {
                        "target": {"type": "label", "id": f"label-{k + 1}", "name": title},
                        "changes": {"category": [category, cats[int(rng.integers(len(cats)))]]},
                    }
                d.emit(s, action, payload)


def automation_rule_changes(d: AdminDesk) -> None:
    """Automation rules created, changed and deleted (a created one may be deleted later)."""
    rng = d.rng
    rule_no = 20
    created_rules: list[tuple[int, str]] = []
    for action, rate in (
        ("automation_rule.create", 0.06),
        ("automation_rule.update", 0.15),
        ("automation_rule.delete", 0.03),
    ):
        for _ in range(d.count(rate)):
            if s := d.at(ADMIN):
                k = int(rng.integers(len(AUTOMATION_RULES)))
                if action == "automation_rule.create":
                    rule_no += 1
                    rid = rule_no
                    rule_name = NEW_RULES[(rid - 21) % len(NEW_RULES)]
                    created_rules.append((rid, rule_name))
                    ch: dict[str, Any] = {"active": [None, True], "event_name": [None, "conversation_created"]}
                elif action == "automation_rule.update":
                    rid, rule_name = k + 1, AUTOMATION_RULES[k]
                    ch = {"active": [True, False]} if rng.random() < 0.3 else {"conditions.match": ["any", "all"]}
                else:
                    if created_rules and rng.random() < 0.5:
                        rid, rule_name = created_rules.pop(0)
                    else:
                        rid = int(rng.integers(7, 20))
                        rule_name = f"Legacy routing rule {rid}"
                    ch = {"active": [True, None]}
                d.emit(
                    s,
                    action,
                    {
                        "target": {"type": "automation_rule", "id": f"rule-{rid}", "name": rule_name},
                        "changes": ch,
                    },
                )


def bot_changes(d: AdminDesk) -> None:
    """The welcome bot's hand-off setting."""
    w = d.w
    for _ in range(d.count(0.05)):
        if s := d.at(ADMIN):
            old, new = d.two((2, 3, 5))
            d.emit(
                s,
                "bot.update",
                {
                    "target": {
                        "type": "integration",
                        "id": f"bot-{w.roster[s.agent].acct + 1}",
                        "name": "Welcome Bot",
                    },
                    "changes": {"handoff_after_messages": [old, new]},
                },
            )


def knowledge_base_syncs(d: AdminDesk) -> None:
    """The bot's knowledge base is re-synced by a weekly job (a system actor)."""
    w, buf = d.w, d.buf
    week0 = w.period.p0 + 5 * DAY_MS
    version = 40
    for acct in range(3):
        t = week0 + acct * 11 * MINUTE_MS
        while t < w.period.p1:
            version += 1
            buf.row(
                t,
                "bot.update",
                SYSTEM,
                acct,
                spec=buf.special(
                    {
                        "target": {"type": "integration", "id": f"bot-{acct + 1}", "name": "Welcome Bot"},
                        "changes": {"knowledge_base_version": [version - 1, version]},
                        "metadata": {"job": "knowledge_base_sync"},
                    }
                ),
            )
            t += 7 * DAY_MS


def conversation_deletes(d: AdminDesk) -> None:
    """Spam conversations deleted by administrators."""
    w, rng = d.w, d.rng
    for _ in range(d.count(0.1)):
        if s := d.at(ADMIN):
            me = w.roster[s.agent]
            cid = w.conv_now(me.acct, s.start) - int(rng.integers(10, 5000))
            d.emit(
                s,
                "conversation.delete",
                {
                    "target": {"type": "conversation", "id": str(cid), "name": f"#{cid}"},
                    "metadata": {"reason": "spam"},
                },
            )
