"""The dashboard's roles and what each group of them may do: written once, imported everywhere.

docs/security.md describes the roles; pages name the groups here in `dash.register_page(roles=...)`
and in their checks, so a page and the check behind its buttons cannot disagree.
"""

from __future__ import annotations

ADMIN = "admin"
COMPLIANCE = "compliance"
MANAGER = "manager"
WALL = "wall"

#: every role, most powerful first.
ROLES: tuple[str, ...] = (ADMIN, COMPLIANCE, MANAGER, WALL)
#: who administers users, tokens, rules and settings.
ADMINS: tuple[str, ...] = (ADMIN,)
#: who acts on the audit log: sees raw events, works alerts, signs reviews off, places legal holds.
AUDITORS: tuple[str, ...] = (ADMIN, COMPLIANCE)
#: who reads the reports, alerts and daily review and downloads packs and exports (all but the wall).
READERS: tuple[str, ...] = (ADMIN, COMPLIANCE, MANAGER)
#: who sees addresses and people's names masked.
MASKED: tuple[str, ...] = (MANAGER, WALL)
