"""Rows to events: each row of the event table becomes a JSON-ready dict in the event contract
(docs/events.md), built only when its batch is requested so memory stays bounded by the batch
size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from dashboard.demo.assemble import EventTable
from dashboard.demo.catalog import (
    ACCOUNT_TEAMS,
    ACCOUNTS,
    AUTOMATION_RULES,
    LABELS,
    MACROS,
    RULE_FOR_LABEL,
    RULE_FOR_MACRO,
)
from dashboard.demo.columns import ACT, ACTIONS, BOT, CONVERSATION_ACTIONS, REASONS, SELF_TARGET_ACTIONS, SYSTEM
from dashboard.demo.ids import uuids
from dashboard.demo.world import World


class Renderer:
    def __init__(self, w: World, table: EventTable) -> None:
        self.table = table
        self.ips = w.endpoints.ips
        self.uas = w.endpoints.uas
        self.session_ids = w.sessions.session_ids(table.salt)
        self.specials = w.buf.specials
        self.agents = w.roster.agents

    def batches(self, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        n = self.table.n
        for lo in range(0, n, batch_size):
            yield self.build(lo, min(n, lo + batch_size))

    def build(self, lo: int, hi: int) -> list[dict[str, Any]]:
        table = self.table
        c = {k: v[lo:hi] for k, v in table.cols.items()}
        stamps = np.datetime_as_string(c["t"].astype("datetime64[ms]"), unit="ms").tolist()
        reqs = uuids(c["req"], table.salt)
        cols = [c[f].tolist() for f in ("act", "agent", "acct", "reason", "ip", "ua", "sess", "tgt", "aux", "spec")]
        atpl = table.atpl[lo:hi].tolist()
        names, accts, ips, uas, sids = ACTIONS, ACCOUNTS, self.ips, self.uas, self.session_ids
        tpls, specials, agents, prefix = table.actor_tpls, self.specials, self.agents, table.prefix
        conv_actions, self_actions = CONVERSATION_ACTIONS, SELF_TARGET_ACTIONS
        a_assign, a_unassign = ACT["conversation.assign"], ACT["conversation.unassign"]
        a_resolve, a_reopen = ACT["conversation.resolve"], ACT["conversation.reopen"]
        a_label, a_unlabel, a_macro = ACT["label.assign"], ACT["label.unassign"], ACT["macro.execute"]
        a_msg, a_edit, a_del = ACT["message.create"], ACT["message.edit"], ACT["message.delete"]
        a_mfa = ACT["auth.mfa_challenge"]
        out: list[dict[str, Any]] = []
        for k, (act, ag, acct, reason, ip, ua, sess, tgt, aux, sp) in enumerate(zip(*cols, strict=True)):
            ev: dict[str, Any] = {
                "id": f"{prefix}{lo + k + 1:08d}",
                "occurred_at": stamps[k] + "Z",
                "account_id": accts[acct],
                "action": names[act],
            }
            if reason:
                ev["outcome"] = "failure"
                ev["reason"] = REASONS[reason]
            else:
                ev["outcome"] = "success"
            actor = tpls[atpl[k]]
            ev["actor"] = dict(actor)
            changes: dict[str, Any] | None = None
            metadata: dict[str, Any] | None = None
            if sp >= 0:
                payload = specials[sp]
                if "target" in payload:
                    ev["target"] = dict(payload["target"])
                changes = payload.get("changes")
                metadata = payload.get("metadata")
            elif act in conv_actions:
                ev["target"] = {"type": "conversation", "id": str(tgt), "name": f"#{tgt}"}
                if act == a_msg:
                    if ag == BOT:
                        metadata = {"message_type": "outgoing", "sender": "bot"}
                    else:
                        metadata = {"message_type": ("outgoing", "private_note", "template")[max(aux, 0)]}
                elif act in (a_label, a_unlabel):
                    metadata = {"label": LABELS[aux][0]}
                    if ag == SYSTEM and LABELS[aux][0] in RULE_FOR_LABEL:
                        metadata["automation_rule"] = AUTOMATION_RULES[RULE_FOR_LABEL[LABELS[aux][0]]]
                elif act == a_assign:
                    if aux >= 10_000:
                        team = ACCOUNT_TEAMS[0][aux - 10_000][0]
                        changes = {"team": [None, team]}
                    else:
                        who = agents[aux].id if aux >= 0 else actor.get("id")
                        changes = {"assignee_id": [None, who]}
                        if ag == SYSTEM:
                            metadata = {"automation_rule": "Round-robin assignment"}
                elif act == a_unassign:
                    changes = {"assignee_id": [actor.get("id"), None]}
                elif act == a_resolve:
                    changes = {"status": ["open", "resolved"]}
                    if ag == SYSTEM:
                        metadata = {"automation_rule": AUTOMATION_RULES[2]}
                elif act == a_reopen:
                    changes = {"status": ["resolved", "open"]}
                    if ag == SYSTEM:
                        metadata = {"trigger": "customer_reply"}
                elif act == a_macro:
                    name, effects, _w = MACROS[aux]
                    metadata = {
                        "macro_id": aux + 1,
                        "macro_name": name,
                        "effects": [f"{e}:{arg}" if arg else e for e, arg in effects],
                    }
                    if ag == SYSTEM:
                        metadata["automation_rule"] = AUTOMATION_RULES[RULE_FOR_MACRO.get(name, 0)]
                    if any(e == "conversation.resolve" for e, _ in effects):
                        changes = {"status": ["open", "resolved"]}
                elif act in (a_edit, a_del):
                    metadata = {"message_id": aux}
            elif act in self_actions and ag >= 0:
                a = agents[ag]
                ev["target"] = {"type": "agent", "id": a.id, "name": a.name}
            elif act == a_mfa:
                metadata = {"factor": "totp"}
            if ip >= 0:
                ev["ip"] = ips[ip]
            if ua >= 0:
                ev["user_agent"] = uas[ua]
            if sess >= 0:
                ev["session_id"] = sids[sess]
            ev["request_id"] = reqs[k]
            if changes is not None:
                ev["changes"] = changes
            if metadata is not None:
                ev["metadata"] = metadata
            out.append(ev)
        return out
