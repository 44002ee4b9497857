"""The action taxonomy: every activity the product tracks, and the category of each.

This module is the single place that maps actions to categories and to the seed's
"Tracked Activities" lines. Everything else (validation, demo data, filters, docs) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: tuple[str, ...] = (
    "authentication",
    "conversation",
    "settings",
    "agent_management",
    "labels",
    "automation",
    "audit",
    "other",
)

CATEGORY_TITLES: dict[str, str] = {
    "authentication": "Authentication Events",
    "conversation": "Conversation Activities",
    "settings": "Settings Changes",
    "agent_management": "Agent Management",
    "labels": "Label Operations",
    "automation": "Automation & Macros",
    "audit": "Audit of the audit log",
    "other": "Other (unknown actions)",
}


@dataclass(frozen=True)
class Activity:
    """One line of the seed's tracked activities and the actions that cover it."""

    category: str
    title: str
    actions: tuple[str, ...]


ACTIVITIES: tuple[Activity, ...] = (
    Activity("authentication", "User Login/Logout", ("auth.login", "auth.logout")),
    Activity(
        "authentication",
        "Failed login attempts",
        ("auth.login", "auth.mfa_challenge", "auth.account_locked"),
    ),
    Activity("authentication", "Password changes", ("auth.password_change", "auth.password_reset")),
    Activity("authentication", "MFA setup/changes", ("auth.mfa_enable", "auth.mfa_disable", "auth.mfa_reset")),
    Activity("conversation", "Conversation Access", ("conversation.view",)),
    Activity("conversation", "Message Actions", ("message.create", "message.edit", "message.delete")),
    Activity("conversation", "Conversation Assignment", ("conversation.assign", "conversation.unassign")),
    Activity(
        "conversation",
        "Conversation Closure",
        ("conversation.resolve", "conversation.reopen", "conversation.delete"),
    ),
    Activity("settings", "Configuration modifications", ("settings.update",)),
    Activity("settings", "Feature enable/disable", ("feature.enable", "feature.disable")),
    Activity(
        "settings",
        "Integration changes",
        ("integration.create", "integration.update", "integration.delete"),
    ),
    Activity("settings", "Workflow updates", ("workflow.update",)),
    Activity(
        "agent_management",
        "Added, removed, or modified agents",
        ("agent.create", "agent.update", "agent.delete"),
    ),
    Activity("agent_management", "Role changes", ("agent.role_change",)),
    Activity("agent_management", "Permission updates", ("agent.permission_change",)),
    Activity("agent_management", "Team assignments", ("team.member_add", "team.member_remove")),
    Activity(
        "labels",
        "Created, edited, or deleted labels",
        ("label.create", "label.update", "label.delete"),
    ),
    Activity("labels", "Label assignments", ("label.assign", "label.unassign")),
    Activity("labels", "Category changes", ("label.category_change",)),
    Activity("automation", "Executed macros and their effects", ("macro.execute",)),
    Activity(
        "automation",
        "Automation rule changes",
        ("automation_rule.create", "automation_rule.update", "automation_rule.delete"),
    ),
    Activity("automation", "Bot configuration updates", ("bot.update",)),
    Activity(
        "audit",
        "Access to and administration of the audit log itself",
        (
            "audit.view",
            "audit.export",
            "audit.report",
            "audit.purge",
            "audit.restore",
            "audit.verify",
            "audit.login",
            "audit.logout",
            "audit.lockout",
            "audit.user_change",
            "audit.token_change",
            "audit.settings_change",
            "audit.hold",
            "audit.erase",
            "alert.acknowledge",
            "alert.assign",
            "alert.resolve",
            "alert.comment",
            "review.sign_off",
        ),
    ),
)


def _build_action_map() -> dict[str, str]:
    mapping: dict[str, str] = {}
    for activity in ACTIVITIES:
        for action in activity.actions:
            mapping.setdefault(action, activity.category)
    return mapping


#: action -> category, for every known action.
ACTION_CATEGORY: dict[str, str] = _build_action_map()

#: every known action, in taxonomy order.
KNOWN_ACTIONS: tuple[str, ...] = tuple(ACTION_CATEGORY)

#: the actions of the customer-support platform (everything except our own `audit` category).
PLATFORM_ACTIONS: tuple[str, ...] = tuple(a for a, c in ACTION_CATEGORY.items() if c != "audit")


def activity_actions(*titles: str) -> tuple[str, ...]:
    """The actions of the activities titled `titles`, in taxonomy order, each once."""
    found = [a for t in titles for act in ACTIVITIES if act.title == t for a in act.actions]
    if not found:  # pragma: no cover - guards a rename in the taxonomy
        raise LookupError(f"taxonomy has no activity {titles!r}")
    return tuple(dict.fromkeys(found))


# -- what the figures count (docs/events.md, "Failed logins and lockouts") -----------------------------
#: a failed login is one sign-in attempt that failed: one of these actions with outcome `failure`.
#: The platform's sign-ins and auditdash's own. A failed MFA challenge is not counted apart: the
#: platform records the attempt it ends as `auth.login` failed with reason `mfa_failed` (counting
#: both would count one attempt twice); a lockout is what failures lead to, counted apart.
FAILED_LOGIN_ACTIONS: tuple[str, ...] = ("auth.login", "audit.login")
#: the outcome that makes one of `FAILED_LOGIN_ACTIONS` a failed login.
FAILED_LOGIN_OUTCOME = "failure"
#: a lockout: an account (or, for auditdash's own sign-in, an address) locked out, whatever the outcome.
LOCKOUT_ACTIONS: tuple[str, ...] = ("auth.account_locked", "audit.lockout")


def category_of(action: str) -> str:
    """Return the category of an action; unknown but well-formed actions are `other`."""
    return ACTION_CATEGORY.get(action, "other")


def actions_by_category() -> dict[str, list[str]]:
    """Known actions grouped by category, in taxonomy order (for filters and docs)."""
    grouped: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for action, category in ACTION_CATEGORY.items():
        grouped[category].append(action)
    return {c: a for c, a in grouped.items() if a}
