"""The fixed world the demo describes: its accounts and teams, the names people get, their
devices, and the catalogues administrators and the platform work with (labels, macros,
automation rules, integrations, features, settings, workflows)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dashboard.demo.clock import DAY_MS

ACCOUNTS: tuple[str, ...] = ("acme-support", "acme-eu", "acme-labs")
ACCOUNT_DOMAINS = ("acme.example", "acme-eu.example", "acmelabs.example")
# agents per account, and the teams of each account with their relative size
ACCOUNT_SIZES = (59, 14, 7)
ACCOUNT_TEAMS: tuple[tuple[tuple[str, int], ...], ...] = (
    (("Tier 1", 22), ("Tier 2", 12), ("Billing", 10), ("Onboarding", 7), ("VIP", 8)),
    (("Tier 1", 7), ("Billing", 4), ("VIP", 3)),
    (("Tier 2", 4), ("Onboarding", 3)),
)
ACCOUNT_ROLES = ((3, 7), (1, 2), (1, 1))  # (administrators, supervisors)
SILENT_ACCOUNT = 2  # the account whose log source goes silent when incidents are planted
# conversation id of the first conversation in the period, and new conversations a day
CONV_BASE = (180_000, 40_000, 6_000)
CONV_RATE = (900.0, 180.0, 30.0)
INBOXES = ("Website chat", "Email support", "WhatsApp", "Help center", "Twitter DM")

FIRST = (
    "Aisha",
    "Ben",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Lars",
    "Maya",
    "Nikhil",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Samir",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Amelie",
    "Bruno",
    "Chloe",
    "Diego",
    "Emma",
    "Felix",
    "Giulia",
    "Hannah",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
    "Marco",
    "Nora",
    "Oscar",
    "Priya",
    "Rafael",
    "Sofia",
    "Tomas",
    "Uma",
    "Viktor",
    "Wanjiru",
    "Yara",
    "Zain",
    "Anouk",
    "Bilal",
    "Clara",
    "Daniel",
    "Eva",
    "Fatima",
    "Gustav",
    "Hugo",
    "Ingrid",
    "Joao",
)
LAST = (
    "Okafor",
    "Schmidt",
    "Rossi",
    "Petrov",
    "Garcia",
    "Haddad",
    "Kim",
    "Tanaka",
    "Silva",
    "Berg",
    "Adeyemi",
    "Nielsen",
    "Cohen",
    "Sharma",
    "Ivanova",
    "Moreno",
    "Murphy",
    "Lopez",
    "Khan",
    "Walsh",
    "Farouk",
    "Novak",
    "Chen",
    "Ramirez",
    "Demir",
    "Dubois",
    "Fischer",
    "Martin",
    "Santos",
    "Jansen",
    "Kowalski",
    "Bianchi",
    "Lindqvist",
    "Mensah",
    "Nakamura",
    "OBrien",
    "Patel",
    "Quintero",
    "Reyes",
    "Suzuki",
    "Tremblay",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Andersen",
    "Brennan",
    "Costa",
    "Dlamini",
    "Eriksen",
)

DESKTOP_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:143.0) Gecko/20100101 Firefox/143.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/26.0 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
)
MOBILE_UAS = (
    "Chatwoot/4.6.0 (iPhone; iOS 26.0; Scale/3.00)",
    "Chatwoot/4.6.0 (Linux; Android 16; Pixel 9)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 26_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/26.0 Mobile/15E148 Safari/604.1",
)
SCRIPT_UA = "python-requests/2.32.5"
ATTACKER_BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)

# labels: (title, category, colour, weight when agents apply them)
LABELS: tuple[tuple[str, str, str, float], ...] = (
    ("billing", "Finance", "#1f93ff", 0.16),
    ("refund", "Finance", "#ff6b6b", 0.09),
    ("bug", "Product", "#d63384", 0.10),
    ("feature-request", "Product", "#6f42c1", 0.07),
    ("vip", "Customer", "#ffc107", 0.05),
    ("spam", "Triage", "#6c757d", 0.05),
    ("escalated", "Triage", "#fd7e14", 0.07),
    ("awaiting-customer", "Triage", "#20c997", 0.12),
    ("onboarding", "Customer", "#0dcaf0", 0.08),
    ("shipping", "Logistics", "#198754", 0.11),
    ("account-access", "Security", "#dc3545", 0.06),
    ("priority", "Triage", "#fd3995", 0.04),
)
LABEL_INDEX = {lab[0]: i for i, lab in enumerate(LABELS)}
LABEL_P = np.array([lab[3] for lab in LABELS]) / sum(lab[3] for lab in LABELS)

# macros and their effects: (action, label title | "team" | "template" | "")
MACROS: tuple[tuple[str, tuple[tuple[str, str], ...], float], ...] = (
    ("Refund issued", (("label.assign", "refund"), ("conversation.resolve", "")), 0.22),
    ("Escalate to Tier 2", (("label.assign", "escalated"), ("conversation.assign", "team")), 0.2),
    ("Mark as spam", (("label.assign", "spam"), ("conversation.resolve", "")), 0.1),
    ("Ask for order number", (("message.create", "template"), ("label.assign", "awaiting-customer")), 0.25),
    ("VIP priority", (("label.assign", "vip"), ("conversation.assign", "team")), 0.08),
    ("Close - no reply", (("conversation.resolve", ""),), 0.15),
)
MACRO_P = np.array([m[2] for m in MACROS]) / sum(m[2] for m in MACROS)
AUTOMATION_RULES = (
    "Auto-tag billing emails",
    "Assign VIP customers to VIP team",
    "Auto-resolve after 7 days of silence",
    "Tag likely spam",
    "Route shipping questions",
    "Escalate negative CSAT",
)
INTEGRATIONS = (
    ("slack", "Slack"),
    ("webhook", "Webhook"),
    ("dialogflow", "Dialogflow"),
    ("api_token", "API access token"),
    ("linear", "Linear"),
    ("shopify", "Shopify"),
)
# the rule that makes the platform apply a label or run a macro by itself
RULE_FOR_LABEL = {"billing": 0, "vip": 1, "spam": 3, "shipping": 4}
RULE_FOR_MACRO = {
    "Escalate to Tier 2": 5,
    "Mark as spam": 3,
    "Ask for order number": 4,
    "VIP priority": 1,
    "Close - no reply": 2,
}
SYSTEM_LABELS = np.array([LABEL_INDEX[t] for t in RULE_FOR_LABEL])
SYSTEM_MACROS = np.array([i for i, m in enumerate(MACROS) if m[0] in RULE_FOR_MACRO])
NEW_RULES = (
    "Tag refund requests",
    "Notify team lead on VIP replies",
    "Route German e-mails to acme-eu",
    "Close spam after one hour",
    "Escalate unanswered after 4 hours",
)
FEATURES = (
    ("csat_survey", "CSAT survey"),
    ("help_center", "Help center"),
    ("captain_ai", "Captain AI assistant"),
    ("sla_policies", "SLA policies"),
    ("voice_channel", "Voice channel"),
    ("campaigns", "Campaigns"),
    ("custom_attributes", "Custom attributes"),
)
SETTINGS: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
    ("auto_resolve_duration", "Auto-resolve after (days)", (7, 14, 30)),
    ("locale", "Default language", ("en", "de", "fr", "es")),
    ("business_hours_enabled", "Business hours", (False, True)),
    ("csat_survey_enabled", "CSAT survey", (False, True)),
    ("conversation_retention_days", "Conversation retention (days)", (180, 365, 730)),
    ("session_timeout_minutes", "Session timeout (minutes)", (30, 60, 120)),
    ("email_collect_enabled", "Collect e-mail in chat", (False, True)),
    ("timezone", "Account time zone", ("UTC", "Europe/Berlin", "America/New_York")),
)
WORKFLOWS: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
    ("auto_assignment", "assignment", (False, True)),
    ("assignment_policy", "assignment", ("round_robin", "balanced", "least_busy")),
    ("working_hours", "business hours", ("09:00-17:00", "08:00-18:00", "07:00-19:00")),
    ("sla_policy", "sla", ("Standard", "Priority", "Enterprise")),
    ("csat_trigger", "csat", ("on_resolve", "never")),
)


def conversation_at(acct: int, t: int, p0: int) -> int:
    """The newest conversation of the account at time t (the period starting at p0)."""
    return int(CONV_BASE[acct] + CONV_RATE[acct] * (t - p0) / DAY_MS)
