"""Deterministic, realistic demo audit events for a support team of about 80 agents.

`generate(spec)` returns the events as JSON-ready dicts in the event contract
(`shared/reference/event-model.md`), in time order and in batches, together with a ground
truth: the roster, and every planted incident with the rules it should trigger and the ids
of the events that make it. `write_ndjson` writes both to files.

How the data is built, so that it looks like a real team and stays fast:

* a roster of agents in three accounts (tenants), each agent with a home city taken from
  `dashboard.ingest.geo_demo_ips` (real public addresses), a time zone for that city, one or
  two devices, a usual shift, a lunch break and a personal work rate;
* a session plan: one shift per working day in the agent's local time (some split by a lunch
  logout), a weekend on-call rota, vacations, sick days, a new hire and a leaver;
* per session: the login (with the occasional failed password, failed MFA challenge or a
  lockout and self-service reset), the logout, and the agent's work on conversations, drawn
  as vectorised numpy arrays: a session's events are split into "work units" on one
  conversation (view, assign, replies, labels, macros, resolve);
* round-the-clock events of the platform itself (automation rules, a bot), so that a
  silent log source is a real anomaly;
* rare administrative changes by administrators and supervisors inside their sessions;
* when `incidents` is set, seven planted incidents, on different days after the first 15
  (learning periods), one of them in the last three days:

  ================== ============================== =========================================
  kind               what                           expected rules (detections.md)
  ================== ============================== =========================================
  brute_force        20 bad passwords in ~3 min     R1, R2, R6 (+ R12: the address is abroad)
                     from one attacker address,
                     then a success from it
  password_spray     one address, 24 users, 30      R2, R3, R4
                     failures within 4 min
  impossible_travel  home login, then 40 min later  R11, R12
                     from > 5000 km away
  self_grant_admin   an agent makes themself        R10
                     administrator (reverted later)
  mfa_disabled_other an administrator disables      R9
                     another user's MFA (re-enabled
                     only 36 h or more later)
  bulk_access_night  >= 220 distinct conversations  bulk_access (extra rule)
                     viewed 01:00-03:00 local time
  silent_source      acme-labs sends nothing for    log_silence (extra rule)
                     27 h around a Wednesday
  ================== ============================== =========================================

  A legitimate trip abroad (new country, plausible speed) is listed under `benign`.
  Without incidents none of these patterns occurs: at most 5 failed logins of one user in
  10 minutes, one failing user per address, no self-granted role, no impossible travel, no
  account silent for more than a few hours (the platform's own automation runs day and
  night), no night work.

Events live as int64 columns until a batch is requested; only then are dicts built, so
memory stays bounded by the batch size.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from dashboard.events.taxonomy import ACTIVITIES, PLATFORM_ACTIONS
from dashboard.ingest.geo_demo_ips import ATTACKER_IPS, DEMO_IPS, neighbour

__all__ = ["DemoSpec", "generate", "write_ndjson"]

I64 = npt.NDArray[np.int64]

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DemoSpec:
    """What to generate. The same spec always gives the same events."""

    days: int = 90
    seed: int = 7
    events: int = 500_000  # approximate total; within +-3 %
    incidents: bool = True
    end: datetime | None = None  # tz-aware UTC; None = now floored to the minute


# --------------------------------------------------------------------------- the world

ACCOUNTS: tuple[str, ...] = ("acme-support", "acme-eu", "acme-labs")
_ACCOUNT_NAMES = ("Acme Support", "Acme Europe", "Acme Labs")
_ACCOUNT_DOMAINS = ("acme.example", "acme-eu.example", "acmelabs.example")
# agents per account, and the teams of each account with their relative size
_ACCOUNT_SIZES = (59, 14, 7)
_ACCOUNT_TEAMS: tuple[tuple[tuple[str, int], ...], ...] = (
    (("Tier 1", 22), ("Tier 2", 12), ("Billing", 10), ("Onboarding", 7), ("VIP", 8)),
    (("Tier 1", 7), ("Billing", 4), ("VIP", 3)),
    (("Tier 2", 4), ("Onboarding", 3)),
)
_ACCOUNT_ROLES = ((3, 7), (1, 2), (1, 1))  # (administrators, supervisors)
# conversation id of the first conversation in the period, and new conversations a day
_CONV_BASE = (180_000, 40_000, 6_000)
_CONV_RATE = (900.0, 180.0, 30.0)
_INBOXES = ("Website chat", "Email support", "WhatsApp", "Help center", "Twitter DM")

_FIRST = (
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
_LAST = (
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

_DESKTOP_UAS = (
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
_MOBILE_UAS = (
    "Chatwoot/4.6.0 (iPhone; iOS 26.0; Scale/3.00)",
    "Chatwoot/4.6.0 (Linux; Android 16; Pixel 9)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 26_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/26.0 Mobile/15E148 Safari/604.1",
)
_SCRIPT_UA = "python-requests/2.32.5"
_ATTACKER_BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)

# labels: (title, category, colour, weight when agents apply them)
_LABELS: tuple[tuple[str, str, str, float], ...] = (
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
_LABEL_INDEX = {lab[0]: i for i, lab in enumerate(_LABELS)}
_LABEL_P = np.array([lab[3] for lab in _LABELS]) / sum(lab[3] for lab in _LABELS)

# macros and their effects: (action, label title | "team" | "template" | "")
_MACROS: tuple[tuple[str, tuple[tuple[str, str], ...], float], ...] = (
    ("Refund issued", (("label.assign", "refund"), ("conversation.resolve", "")), 0.22),
    ("Escalate to Tier 2", (("label.assign", "escalated"), ("conversation.assign", "team")), 0.2),
    ("Mark as spam", (("label.assign", "spam"), ("conversation.resolve", "")), 0.1),
    ("Ask for order number", (("message.create", "template"), ("label.assign", "awaiting-customer")), 0.25),
    ("VIP priority", (("label.assign", "vip"), ("conversation.assign", "team")), 0.08),
    ("Close - no reply", (("conversation.resolve", ""),), 0.15),
)
_MACRO_P = np.array([m[2] for m in _MACROS]) / sum(m[2] for m in _MACROS)
_AUTOMATION_RULES = (
    "Auto-tag billing emails",
    "Assign VIP customers to VIP team",
    "Auto-resolve after 7 days of silence",
    "Tag likely spam",
    "Route shipping questions",
    "Escalate negative CSAT",
)
_INTEGRATIONS = (
    ("slack", "Slack"),
    ("webhook", "Webhook"),
    ("dialogflow", "Dialogflow"),
    ("api_token", "API access token"),
    ("linear", "Linear"),
    ("shopify", "Shopify"),
)
# the rule that makes the platform apply a label or run a macro by itself
_RULE_FOR_LABEL = {"billing": 0, "vip": 1, "spam": 3, "shipping": 4}
_RULE_FOR_MACRO = {
    "Escalate to Tier 2": 5,
    "Mark as spam": 3,
    "Ask for order number": 4,
    "VIP priority": 1,
    "Close - no reply": 2,
}
_SYSTEM_LABELS = np.array([_LABEL_INDEX[t] for t in _RULE_FOR_LABEL])
_SYSTEM_MACROS = np.array([i for i, m in enumerate(_MACROS) if m[0] in _RULE_FOR_MACRO])
_NEW_RULES = (
    "Tag refund requests",
    "Notify team lead on VIP replies",
    "Route German e-mails to acme-eu",
    "Close spam after one hour",
    "Escalate unanswered after 4 hours",
)
_FEATURES = (
    ("csat_survey", "CSAT survey"),
    ("help_center", "Help center"),
    ("captain_ai", "Captain AI assistant"),
    ("sla_policies", "SLA policies"),
    ("voice_channel", "Voice channel"),
    ("campaigns", "Campaigns"),
    ("custom_attributes", "Custom attributes"),
)
_SETTINGS: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
    ("auto_resolve_duration", "Auto-resolve after (days)", (7, 14, 30)),
    ("locale", "Default language", ("en", "de", "fr", "es")),
    ("business_hours_enabled", "Business hours", (False, True)),
    ("csat_survey_enabled", "CSAT survey", (False, True)),
    ("conversation_retention_days", "Conversation retention (days)", (180, 365, 730)),
    ("session_timeout_minutes", "Session timeout (minutes)", (30, 60, 120)),
    ("email_collect_enabled", "Collect e-mail in chat", (False, True)),
    ("timezone", "Account time zone", ("UTC", "Europe/Berlin", "America/New_York")),
)
_WORKFLOWS: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
    ("auto_assignment", "assignment", (False, True)),
    ("assignment_policy", "assignment", ("round_robin", "balanced", "least_busy")),
    ("working_hours", "business hours", ("09:00-17:00", "08:00-18:00", "07:00-19:00")),
    ("sla_policy", "sla", ("Standard", "Priority", "Enterprise")),
    ("csat_trigger", "csat", ("on_resolve", "never")),
)

# --------------------------------------------------------------------------- time zones

_CITY_TZ: dict[str, str] = {
    "london": "Europe/London",
    "manchester": "Europe/London",
    "edinburgh": "Europe/London",
    "birmingham": "Europe/London",
    "dublin": "Europe/Dublin",
    "paris": "Europe/Paris",
    "lyon": "Europe/Paris",
    "marseille": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "munich": "Europe/Berlin",
    "frankfurt": "Europe/Berlin",
    "hamburg": "Europe/Berlin",
    "cologne": "Europe/Berlin",
    "amsterdam": "Europe/Amsterdam",
    "rotterdam": "Europe/Amsterdam",
    "brussels": "Europe/Brussels",
    "madrid": "Europe/Madrid",
    "barcelona": "Europe/Madrid",
    "lisbon": "Europe/Lisbon",
    "porto": "Europe/Lisbon",
    "rome": "Europe/Rome",
    "milan": "Europe/Rome",
    "vienna": "Europe/Vienna",
    "zurich": "Europe/Zurich",
    "geneva": "Europe/Zurich",
    "stockholm": "Europe/Stockholm",
    "oslo": "Europe/Oslo",
    "copenhagen": "Europe/Copenhagen",
    "helsinki": "Europe/Helsinki",
    "warsaw": "Europe/Warsaw",
    "krakow": "Europe/Warsaw",
    "prague": "Europe/Prague",
    "budapest": "Europe/Budapest",
    "bucharest": "Europe/Bucharest",
    "sofia": "Europe/Sofia",
    "athens": "Europe/Athens",
    "istanbul": "Europe/Istanbul",
    "kyiv": "Europe/Kyiv",
    "kiev": "Europe/Kyiv",
    "moscow": "Europe/Moscow",
    "saint petersburg": "Europe/Moscow",
    "tallinn": "Europe/Tallinn",
    "riga": "Europe/Riga",
    "vilnius": "Europe/Vilnius",
    "belgrade": "Europe/Belgrade",
    "zagreb": "Europe/Zagreb",
    "luxembourg": "Europe/Luxembourg",
    "reykjavik": "Atlantic/Reykjavik",
    "tel aviv": "Asia/Jerusalem",
    "dubai": "Asia/Dubai",
    "riyadh": "Asia/Riyadh",
    "cairo": "Africa/Cairo",
    "johannesburg": "Africa/Johannesburg",
    "cape town": "Africa/Johannesburg",
    "lagos": "Africa/Lagos",
    "nairobi": "Africa/Nairobi",
    "casablanca": "Africa/Casablanca",
    "mumbai": "Asia/Kolkata",
    "bengaluru": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "chennai": "Asia/Kolkata",
    "hyderabad": "Asia/Kolkata",
    "pune": "Asia/Kolkata",
    "karachi": "Asia/Karachi",
    "dhaka": "Asia/Dhaka",
    "singapore": "Asia/Singapore",
    "kuala lumpur": "Asia/Kuala_Lumpur",
    "jakarta": "Asia/Jakarta",
    "bangkok": "Asia/Bangkok",
    "manila": "Asia/Manila",
    "ho chi minh city": "Asia/Ho_Chi_Minh",
    "hanoi": "Asia/Ho_Chi_Minh",
    "hong kong": "Asia/Hong_Kong",
    "shanghai": "Asia/Shanghai",
    "beijing": "Asia/Shanghai",
    "shenzhen": "Asia/Shanghai",
    "guangzhou": "Asia/Shanghai",
    "taipei": "Asia/Taipei",
    "seoul": "Asia/Seoul",
    "tokyo": "Asia/Tokyo",
    "osaka": "Asia/Tokyo",
    "sydney": "Australia/Sydney",
    "melbourne": "Australia/Melbourne",
    "brisbane": "Australia/Brisbane",
    "perth": "Australia/Perth",
    "adelaide": "Australia/Adelaide",
    "auckland": "Pacific/Auckland",
    "wellington": "Pacific/Auckland",
    "new york": "America/New_York",
    "boston": "America/New_York",
    "washington": "America/New_York",
    "philadelphia": "America/New_York",
    "atlanta": "America/New_York",
    "miami": "America/New_York",
    "ashburn": "America/New_York",
    "chicago": "America/Chicago",
    "dallas": "America/Chicago",
    "houston": "America/Chicago",
    "austin": "America/Chicago",
    "denver": "America/Denver",
    "phoenix": "America/Phoenix",
    "salt lake city": "America/Denver",
    "los angeles": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles",
    "san jose": "America/Los_Angeles",
    "mountain view": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "portland": "America/Los_Angeles",
    "toronto": "America/Toronto",
    "montreal": "America/Toronto",
    "ottawa": "America/Toronto",
    "vancouver": "America/Vancouver",
    "calgary": "America/Edmonton",
    "mexico city": "America/Mexico_City",
    "bogota": "America/Bogota",
    "lima": "America/Lima",
    "santiago": "America/Santiago",
    "buenos aires": "America/Argentina/Buenos_Aires",
    "sao paulo": "America/Sao_Paulo",
    "são paulo": "America/Sao_Paulo",
    "rio de janeiro": "America/Sao_Paulo",
}
_COUNTRY_TZ: dict[str, str] = {
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "FR": "Europe/Paris",
    "DE": "Europe/Berlin",
    "NL": "Europe/Amsterdam",
    "BE": "Europe/Brussels",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "IT": "Europe/Rome",
    "AT": "Europe/Vienna",
    "CH": "Europe/Zurich",
    "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo",
    "DK": "Europe/Copenhagen",
    "FI": "Europe/Helsinki",
    "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague",
    "SK": "Europe/Bratislava",
    "HU": "Europe/Budapest",
    "RO": "Europe/Bucharest",
    "BG": "Europe/Sofia",
    "GR": "Europe/Athens",
    "TR": "Europe/Istanbul",
    "UA": "Europe/Kyiv",
    "EE": "Europe/Tallinn",
    "LV": "Europe/Riga",
    "LT": "Europe/Vilnius",
    "RS": "Europe/Belgrade",
    "HR": "Europe/Zagreb",
    "SI": "Europe/Ljubljana",
    "LU": "Europe/Luxembourg",
    "IS": "Atlantic/Reykjavik",
    "IL": "Asia/Jerusalem",
    "AE": "Asia/Dubai",
    "SA": "Asia/Riyadh",
    "EG": "Africa/Cairo",
    "ZA": "Africa/Johannesburg",
    "NG": "Africa/Lagos",
    "KE": "Africa/Nairobi",
    "MA": "Africa/Casablanca",
    "IN": "Asia/Kolkata",
    "PK": "Asia/Karachi",
    "BD": "Asia/Dhaka",
    "SG": "Asia/Singapore",
    "MY": "Asia/Kuala_Lumpur",
    "TH": "Asia/Bangkok",
    "VN": "Asia/Ho_Chi_Minh",
    "PH": "Asia/Manila",
    "HK": "Asia/Hong_Kong",
    "CN": "Asia/Shanghai",
    "TW": "Asia/Taipei",
    "KR": "Asia/Seoul",
    "JP": "Asia/Tokyo",
    "NZ": "Pacific/Auckland",
    "CO": "America/Bogota",
    "PE": "America/Lima",
    "CL": "America/Santiago",
    "AR": "America/Argentina/Buenos_Aires",
}


def _zone_for(country: str, city: str, lon: float) -> str:
    """IANA zone of a city: the city map, then single-zone countries, then the longitude."""
    name = _CITY_TZ.get(city.strip().lower())
    if name:
        return name
    cc = country.strip().upper()
    if cc in ("US", "CA"):
        if lon > -87.5:
            return "America/New_York" if cc == "US" else "America/Toronto"
        if lon > -102:
            return "America/Chicago" if cc == "US" else "America/Winnipeg"
        if lon > -115:
            return "America/Denver" if cc == "US" else "America/Edmonton"
        return "America/Los_Angeles" if cc == "US" else "America/Vancouver"
    if cc == "AU":
        return "Australia/Perth" if lon < 129 else "Australia/Sydney"
    if cc == "BR":
        return "America/Sao_Paulo"
    if cc == "MX":
        return "America/Mexico_City"
    if cc in _COUNTRY_TZ:
        return _COUNTRY_TZ[cc]
    offset = round(lon / 15)
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def _region(lat: float, lon: float) -> str:
    if lon < -30:
        return "americas"
    if lon < 45 and lat > 34:
        return "europe"
    if lon >= 60:
        return "apac"
    return "other"


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds and a Z."""
    return (_EPOCH + timedelta(milliseconds=int(ms))).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ms_of(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def _effect_count(act: Any, aux: Any) -> int:
    """How many effect events the macros among these events add."""
    mac = np.asarray(act) == _A["macro.execute"]
    if not mac.any():
        return 0
    per_macro = np.bincount(np.asarray(aux)[mac], minlength=len(_MACROS))
    return int(sum(int(per_macro[k]) * len(m[1]) for k, m in enumerate(_MACROS)))


def _mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps on purpose)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _uuids(numbers: I64, salt: int) -> list[str]:
    """Deterministic UUID-shaped strings for integer keys."""
    x = numbers.astype(np.uint64) ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
    hi = _mix64(x).tolist()
    lo = _mix64(x ^ np.uint64(0x5DEECE66D)).tolist()
    out = []
    for a, b in zip(hi, lo, strict=True):
        s = f"{a:016x}{b:016x}"
        out.append(f"{s[:8]}-{s[8:12]}-4{s[13:16]}-a{s[17:20]}-{s[20:]}")
    return out


# --------------------------------------------------------------------------- model objects


@dataclass
class _City:
    country: str
    city: str
    lat: float
    lon: float
    ips: list[str]
    zone: str
    next_host: int = 20


@dataclass
class _Agent:
    idx: int
    id: str
    name: str
    email: str
    role: str
    team: str
    acct: int
    city: _City
    tz: ZoneInfo
    ip: int
    uas: tuple[int, ...]
    start_h: float
    shift_h: float
    lunch_h: float
    intensity: float
    mfa: bool
    join_date: date | None = None
    leave_date: date | None = None
    vacation: tuple[date, date] | None = None
    mfa_off: list[tuple[int, int]] = field(default_factory=list)

    def has_mfa(self, t: int) -> bool:
        return self.mfa and not any(a <= t < b for a, b in self.mfa_off)


@dataclass
class _Session:
    agent: int
    start: int
    end: int
    ip: int
    ua: int
    lunch0: int = 0
    lunch1: int = 0
    kind: int = 0  # 0 planned, 1 planted but with normal work, 2 planted with explicit events only
    logout: bool = True
    weekend: bool = False
    clean: bool = False  # no failed login before it
    inc: int = -1  # incident tag of its login event
    idx: int = -1  # final index, set when the plan is frozen


@dataclass
class _Incident:
    kind: str
    rules: list[str]
    acct: int
    start: int
    end: int
    user: int | None = None
    ip: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sessions: list[_Session] = field(default_factory=list)


# rule ids of the extra detections (detections.md lists them without numbers)
_INCIDENT_RULES: dict[str, list[str]] = {
    "brute_force": ["R1", "R2", "R6", "R12"],
    "password_spray": ["R2", "R3", "R4"],
    "impossible_travel": ["R11", "R12"],
    "self_grant_admin": ["R10"],
    "mfa_disabled_other": ["R9"],
    "bulk_access_night": ["bulk_access"],
    "silent_source": ["log_silence"],
}

_FIELDS = ("t", "act", "agent", "acct", "reason", "ip", "ua", "sess", "req", "tgt", "aux", "spec", "inc")
_DEFAULTS = {"reason": 0, "ip": -1, "ua": -1, "sess": -1, "req": -1, "tgt": -1, "aux": -1, "spec": -1, "inc": -1}
_REASONS = ("", "bad_password", "mfa_failed", "locked")
_SYSTEM = -1
_BOT = -2

_ACTIONS: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            *PLATFORM_ACTIONS,
            "auth.login",
            "auth.logout",
            "auth.mfa_challenge",
            "auth.account_locked",
            "conversation.view",
            "message.create",
            "macro.execute",
        )
    )
)
_A = {name: i for i, name in enumerate(_ACTIONS)}
_CONVERSATION_ACTIONS = frozenset(
    _A[a]
    for a in _ACTIONS
    if a.startswith(("conversation.", "message.")) or a in ("label.assign", "label.unassign", "macro.execute")
)
_SELF_TARGET_ACTIONS = frozenset(
    _A[a]
    for a in (
        "auth.password_change",
        "auth.password_reset",
        "auth.mfa_enable",
        "auth.mfa_disable",
        "auth.account_locked",
    )
)
_CATEGORY_OF = {a: act.category for act in ACTIVITIES for a in act.actions}


# --------------------------------------------------------------------------- event buffer


class _Buf:
    """Events as int64 columns: bulk chunks plus single rows."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[I64]] = {f: [] for f in _FIELDS}
        self.rows: list[tuple[int, ...]] = []
        self.specials: list[dict[str, Any]] = []
        self.next_req = 1

    def alloc_req(self, n: int = 1) -> I64:
        out = np.arange(self.next_req, self.next_req + n, dtype=np.int64)
        self.next_req += n
        return out

    def special(self, payload: dict[str, Any]) -> int:
        self.specials.append(payload)
        return len(self.specials) - 1

    def row(self, t: int, act: str, agent: int, acct: int, **kw: int) -> None:
        if kw.get("req", -1) < 0:
            kw["req"] = int(self.alloc_req()[0])
        vals = {**_DEFAULTS, **kw}
        self.rows.append((int(t), _A[act], agent, acct, *(int(vals[f]) for f in _FIELDS[4:])))

    def chunk(self, n: int, **cols: Any) -> None:
        for f in _FIELDS:
            v = cols.get(f, _DEFAULTS.get(f))
            if v is None:
                raise KeyError(f)
            arr = np.asarray(v, dtype=np.int64)
            self.chunks[f].append(np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 else arr)

    def columns(self) -> dict[str, I64]:
        out: dict[str, I64] = {}
        rows = np.array(self.rows, dtype=np.int64).reshape(-1, len(_FIELDS))
        for i, f in enumerate(_FIELDS):
            out[f] = np.concatenate([*self.chunks[f], rows[:, i]])
        return out


# --------------------------------------------------------------------------- the generator


class _Generator:
    def __init__(self, spec: DemoSpec) -> None:
        if spec.days < 1:
            raise ValueError("days must be at least 1")
        if spec.incidents and spec.days < 7:
            raise ValueError("planting incidents needs at least 7 days")
        if spec.events < 1_000:
            raise ValueError("events must be at least 1000")
        end = spec.end
        if end is None:
            end = datetime.now(UTC).replace(second=0, microsecond=0)
        elif end.tzinfo is None or end.utcoffset() is None:
            raise ValueError("end must be timezone-aware (UTC)")
        self.spec = spec
        self.end_dt = end.astimezone(UTC)
        self.p1 = _ms_of(self.end_dt)
        self.p0 = self.p1 - spec.days * DAY_MS
        self.rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0xA0D17]))
        digest = hashlib.sha256(
            json.dumps([spec.days, spec.seed, spec.events, spec.incidents, self.p1]).encode()
        ).hexdigest()
        self.prefix = f"demo-{digest[:6]}-"
        self.salt = int(digest[6:22], 16)
        self.buf = _Buf()
        self.ips: list[str] = []
        self.ip_index: dict[str, int] = {}
        self.uas: list[str] = [*_DESKTOP_UAS, *_MOBILE_UAS, _SCRIPT_UA, _ATTACKER_BROWSER_UA]
        self.agents: list[_Agent] = []
        self.sessions: list[_Session] = []
        self.blocks: list[tuple[int, int, int]] = []
        self.incidents: list[_Incident] = []
        self.benign: list[dict[str, Any]] = []
        self.role_epochs: list[tuple[int, int, str]] = []
        self.busy: set[int] = set()  # agents with a planted role; kept out of random admin work
        self.traveller: dict[str, Any] | None = None
        self.silent: tuple[int, int] | None = None
        self.pending: list[dict[str, Any]] = []

    # ---------------------------------------------------------------- helpers

    def ip(self, address: str) -> int:
        if address not in self.ip_index:
            self.ip_index[address] = len(self.ips)
            self.ips.append(address)
        return self.ip_index[address]

    def local_ms(self, agent: _Agent, day: date, hours: float) -> int:
        wall = datetime(day.year, day.month, day.day, tzinfo=agent.tz) + timedelta(hours=hours)
        return _ms_of(wall)

    def local_day_for(self, agent: _Agent, day: date, hours: float) -> date:
        """The agent's local date whose `hours` o'clock falls on the UTC date `day`."""
        for shift in (0, 1, -1):
            local = day + timedelta(days=shift)
            if self.day_ms(day) <= self.local_ms(agent, local, hours) < self.day_ms(day) + DAY_MS:
                return local
        return day

    def conv_now(self, acct: int, t: int) -> int:
        return int(_CONV_BASE[acct] + _CONV_RATE[acct] * (t - self.p0) / DAY_MS)

    def utc_dates(self) -> list[date]:
        """UTC dates whose whole day lies inside the period."""
        first = (self.end_dt - timedelta(days=self.spec.days)).date() + timedelta(days=1)
        out = []
        d = first
        while _ms_of(datetime(d.year, d.month, d.day, tzinfo=UTC)) + DAY_MS <= self.p1:
            out.append(d)
            d += timedelta(days=1)
        return out

    @staticmethod
    def day_ms(d: date) -> int:
        return _ms_of(datetime(d.year, d.month, d.day, tzinfo=UTC))

    # ---------------------------------------------------------------- roster

    def build_roster(self) -> None:
        rng = self.rng
        cities: dict[tuple[str, str], _City] = {}
        for ip_addr, country, city, lat, lon in DEMO_IPS:
            key = (str(country), str(city))
            if key not in cities:
                zone = _zone_for(str(country), str(city), float(lon))
                cities[key] = _City(str(country), str(city), float(lat), float(lon), [], zone)
            cities[key].ips.append(str(ip_addr))
        if not cities:
            raise RuntimeError("dashboard.ingest.geo_demo_ips.DEMO_IPS is empty")
        all_cities = sorted(cities.values(), key=lambda c: (c.country, c.city))
        by_region: dict[str, list[_City]] = {}
        for c in all_cities:
            by_region.setdefault(_region(c.lat, c.lon), []).append(c)

        def pick(regions: Sequence[str], k: int, avoid: Sequence[_City] = ()) -> list[_City]:
            chosen: list[_City] = []
            for reg in regions:
                pool = [c for c in by_region.get(reg, []) if c not in chosen and c not in avoid]
                if pool:
                    chosen.append(pool[int(rng.integers(len(pool)))])
                if len(chosen) == k:
                    break
            rest = [c for c in all_cities if c not in chosen and c not in avoid]
            rest = rest or [c for c in all_cities if c not in chosen] or all_cities
            while len(chosen) < k:
                chosen.append(rest[int(rng.integers(len(rest)))])
            return chosen

        support = pick(("europe", "americas", "europe", "americas", "apac"), 5)
        eu = pick(("europe", "europe", "europe"), 3, avoid=support)
        labs = pick(("europe", "americas"), 1, avoid=[*support, *eu])
        account_cities = (
            (support, (0.3, 0.2, 0.2, 0.15, 0.15)),
            (eu, (0.5, 0.3, 0.2)),
            (labs, (1.0,)),
        )
        names = [(f, s) for f in _FIRST for s in _LAST]
        order = rng.permutation(len(names))
        used_names = 0
        zones: dict[str, ZoneInfo] = {}
        for acct, size in enumerate(_ACCOUNT_SIZES):
            teams = [t for t, w in _ACCOUNT_TEAMS[acct] for _ in range(w)]
            team_of = [teams[int(i) % len(teams)] for i in rng.permutation(size)]
            n_admin, n_sup = _ACCOUNT_ROLES[acct]
            city_list, weights = account_cities[acct]
            city_of = rng.choice(len(city_list), size=size, p=np.array(weights) / sum(weights))
            city_of[0] = 0  # the first administrator works at the main site
            for k in range(size):
                first, last = names[int(order[used_names])]
                used_names += 1
                role = "administrator" if k < n_admin else "supervisor" if k < n_admin + n_sup else "agent"
                home = city_list[int(city_of[k])]
                base = home.ips[(home.next_host // 200) % len(home.ips)]
                host = 20 + home.next_host % 200
                home.next_host += 1
                address = neighbour(base, host)
                zones.setdefault(home.zone, ZoneInfo(home.zone))
                idx = len(self.agents)
                desktop = int(rng.integers(len(_DESKTOP_UAS)))
                uas: tuple[int, ...] = (desktop,)
                if rng.random() < 0.25:
                    uas = (desktop, len(_DESKTOP_UAS) + int(rng.integers(len(_MOBILE_UAS))))
                intensity = float(rng.lognormal(0.0, 0.25))
                intensity *= {"administrator": 0.3, "supervisor": 0.55}.get(role, 1.0)
                intensity *= {"Tier 1": 1.15, "VIP": 0.8}.get(team_of[k], 1.0)
                self.agents.append(
                    _Agent(
                        idx=idx,
                        id=str(1001 + idx),
                        name=f"{first} {last}",
                        email=f"{first.lower()}.{last.lower()}@{_ACCOUNT_DOMAINS[acct]}",
                        role=role,
                        team=team_of[k] if role != "administrator" else "Tier 2",
                        acct=acct,
                        city=home,
                        tz=zones[home.zone],
                        ip=self.ip(address),
                        uas=uas,
                        start_h=float(rng.uniform(7.5, 9.5)),
                        shift_h=float(rng.uniform(8.5, 9.5)),
                        lunch_h=float(rng.uniform(11.75, 13.0)),
                        intensity=intensity,
                        mfa=role == "administrator" or rng.random() < 0.7,
                    )
                )
        # a new hire (two on long periods) and a leaver in the main account
        span = self.utc_dates()
        if not span:
            span = [self.end_dt.date() - timedelta(days=1)]
        plain = [a for a in self.agents if a.acct == 0 and a.role == "agent"]
        hires = 2 if self.spec.days >= 45 else 1
        for j in range(hires):
            frac = (0.35, 0.7)[j] if hires == 2 else 0.45
            d = span[min(len(span) - 1, int(len(span) * frac))]
            while d.weekday() >= 5:
                d += timedelta(days=1)
            plain[-1 - j].join_date = d
        leaver = plain[-1 - hires]
        leaver.leave_date = span[min(len(span) - 1, int(len(span) * 0.55))]
        # vacations: a week off for some agents
        dates = span
        for a in self.agents:
            if a.join_date is None and a.leave_date is None and rng.random() < min(0.6, self.spec.days / 150):
                d0 = dates[int(rng.integers(len(dates)))]
                a.vacation = (d0, d0 + timedelta(days=7))

    def stable(self, acct: int | None = None, roles: Sequence[str] = ("agent",)) -> list[_Agent]:
        return [
            a
            for a in self.agents
            if (acct is None or a.acct == acct)
            and a.role in roles
            and a.join_date is None
            and a.leave_date is None
            and a.idx not in self.busy
        ]

    # ---------------------------------------------------------------- sessions

    def plan_sessions(self) -> None:
        rng = self.rng
        first = (self.end_dt - timedelta(days=self.spec.days + 1)).date()
        last = (self.end_dt + timedelta(days=1)).date()
        all_dates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        rota: dict[tuple[int, date], set[int]] = {}
        for acct, per_day in enumerate((5, 2, 1)):
            members = [a.idx for a in self.agents if a.acct == acct and a.role != "administrator"]
            for d in all_dates:
                if d.weekday() >= 5:
                    rota[(acct, d)] = {int(i) for i in rng.choice(members, size=per_day, replace=False)}
        for a in self.agents:
            for d in all_dates:
                if a.join_date and d < a.join_date + timedelta(days=1):
                    continue
                if a.leave_date and d > a.leave_date:
                    continue
                if a.vacation and a.vacation[0] <= d < a.vacation[1]:
                    continue
                ua = a.uas[0] if len(a.uas) == 1 or rng.random() < 0.8 else a.uas[1]
                logout = bool(rng.random() < 0.85)
                if d.weekday() >= 5:
                    if a.idx not in rota[(a.acct, d)]:
                        continue
                    h0 = 10.0 + float(rng.normal(0, 0.3))
                    s = _Session(
                        a.idx,
                        self.local_ms(a, d, h0),
                        self.local_ms(a, d, h0 + 5.5 + float(rng.normal(0, 0.4))),
                        a.ip,
                        ua,
                        logout=logout,
                        weekend=True,
                    )
                    self.sessions.append(s)
                    continue
                if rng.random() < 0.03:  # sick day
                    continue
                h0 = a.start_h + float(rng.normal(0, 0.2))
                h1 = h0 + a.shift_h + float(rng.normal(0, 0.25))
                l0 = a.lunch_h + float(rng.normal(0, 0.15))
                l1 = l0 + float(rng.uniform(0.5, 1.0))
                if rng.random() < 0.25:  # logs out for lunch and back in after
                    self.sessions.append(
                        _Session(a.idx, self.local_ms(a, d, h0), self.local_ms(a, d, l0), a.ip, ua, logout=logout)
                    )
                    ua2 = a.uas[0] if len(a.uas) == 1 or rng.random() < 0.8 else a.uas[1]
                    self.sessions.append(
                        _Session(
                            a.idx,
                            self.local_ms(a, d, l1 + float(rng.uniform(0, 0.1))),
                            self.local_ms(a, d, h1),
                            a.ip,
                            ua2,
                            logout=bool(rng.random() < 0.85),
                        )
                    )
                else:
                    self.sessions.append(
                        _Session(
                            a.idx,
                            self.local_ms(a, d, h0),
                            self.local_ms(a, d, h1),
                            a.ip,
                            ua,
                            lunch0=self.local_ms(a, d, l0),
                            lunch1=self.local_ms(a, d, l1),
                            logout=logout,
                        )
                    )

    def custom_session(self, agent: _Agent, start: int, end: int, kind: int, **kw: Any) -> _Session:
        s = _Session(agent.idx, start, end, agent.ip, agent.uas[0], kind=kind, clean=True, **kw)
        self.sessions.append(s)
        self.blocks.append((agent.idx, start - HOUR_MS, end + HOUR_MS))
        return s

    def freeze_sessions(self) -> None:
        blocks: dict[int, list[tuple[int, int]]] = {}
        for agent, b0, b1 in self.blocks:
            blocks.setdefault(agent, []).append((b0, b1))
        tr = self.traveller
        kept: list[_Session] = []
        for s in self.sessions:
            if s.end <= self.p0 or s.start >= self.p1:
                continue
            if s.kind == 0 and any(s.start < b1 and s.end > b0 for b0, b1 in blocks.get(s.agent, ())):
                continue
            if tr is not None and s.agent == tr["agent"] and s.kind == 0:
                if tr["leave"] <= s.start < tr["arrive"] or tr["depart"] <= s.start < tr["home"]:
                    continue  # travelling
                if tr["arrive"] <= s.start < tr["depart"]:
                    s.ip = tr["ip"]
                    s.ua = self.agents[s.agent].uas[-1]
            kept.append(s)
        kept.sort(key=lambda s: (s.start, s.agent))
        for i, s in enumerate(kept):
            s.idx = i
        self.sessions = kept
        n = len(kept)
        self.s_start = np.fromiter((s.start for s in kept), np.int64, n)
        self.s_end = np.fromiter((s.end for s in kept), np.int64, n)
        self.s_agent = np.fromiter((s.agent for s in kept), np.int64, n)
        self.s_acct = np.fromiter((self.agents[s.agent].acct for s in kept), np.int64, n)
        self.s_kind = np.fromiter((s.kind for s in kept), np.int64, n)
        self.s_weekend = np.fromiter((s.weekend for s in kept), np.bool_, n)
        roles = ("administrator", "supervisor", "agent")
        self.s_role = np.fromiter((roles.index(self.agents[s.agent].role) for s in kept), np.int64, n)
        self.session_ids = _uuids(np.arange(n, dtype=np.int64), self.salt ^ 0x5E55)

    def pick_session(
        self,
        acct: int,
        roles: Sequence[str],
        exclude: Sequence[int] = (),
        after: int | None = None,
        before: int | None = None,
    ) -> _Session | None:
        """A random weekday session of a user of the account with one of the roles."""
        role_codes = [("administrator", "supervisor", "agent").index(r) for r in roles]
        mask = (
            (self.s_acct == acct)
            & np.isin(self.s_role, role_codes)
            & ~self.s_weekend
            & (self.s_kind < 2)
            & (self.s_start >= self.p0)
            & (self.s_end <= self.p1)
            & (self.s_end - self.s_start >= HOUR_MS)
        )
        if exclude:
            mask &= ~np.isin(self.s_agent, list(exclude))
        if self.silent is not None:
            g0, g1 = self.silent
            mask &= ~((self.s_acct == 2) & (self.s_start < g1) & (self.s_end > g0))
        if after is not None:
            mask &= self.s_end > after + 20 * MINUTE_MS
        if before is not None:
            mask &= self.s_start < before - 20 * MINUTE_MS
        cand = np.flatnonzero(mask)
        if cand.size == 0:
            return None
        return self.sessions[int(cand[int(self.rng.integers(cand.size))])]

    def time_in(self, s: _Session, lo: int | None = None, hi: int | None = None) -> int:
        a = max(s.start + 5 * MINUTE_MS, lo if lo is not None else s.start)
        b = min(s.end - 5 * MINUTE_MS, hi if hi is not None else s.end)
        if b <= a:
            return (s.start + s.end) // 2
        return int(self.rng.integers(a, b))

    # ---------------------------------------------------------------- incidents, phase A (plan)

    def plan_incidents(self) -> None:
        rng = self.rng
        dates = self.utc_dates()
        lo = 15 if self.spec.days >= 25 else max(2, self.spec.days // 3)
        first_ok = self.p0 + lo * DAY_MS
        elig = [d for d in dates if self.day_ms(d) >= first_ok] or dates[-3:]
        last3 = [d for d in elig if self.day_ms(d) >= self.p1 - 3 * DAY_MS] or elig[-1:]
        bf_day = last3[int(rng.integers(len(last3)))]
        # the silent day: a Wednesday (else another weekday) with both neighbours in the period
        dset = set(dates)
        silent_day: date | None = None
        for weekdays in ((2,), (1, 3), (0, 4), tuple(range(7))):
            cands = [
                d
                for d in elig
                if d.weekday() in weekdays
                and d - timedelta(days=1) in dset
                and d + timedelta(days=1) in dset
                and abs((d - bf_day).days) > 1
            ]
            if cands:
                silent_day = cands[int(rng.integers(len(cands)))]
                break
        if silent_day is None:
            silent_day = elig[0]
        taken = {bf_day, silent_day, silent_day - timedelta(days=1), silent_day + timedelta(days=1)}
        rest = [d for d in elig if d not in taken] or [d for d in dates if d not in taken] or dates
        perm = [rest[int(i)] for i in rng.permutation(len(rest))]
        while len(perm) < 5:
            perm += perm
        spray_day, travel_day, grant_day, mfa_day, bulk_day = perm[:5]

        def agent_for(acct: int, roles: Sequence[str] = ("agent",), without_mfa: bool = False) -> _Agent:
            pool = self.stable(acct, roles) or self.stable(0, roles)
            if without_mfa:
                pool = [a for a in pool if not a.mfa] or pool
            a = pool[int(rng.integers(len(pool)))]
            self.busy.add(a.idx)
            return a

        attackers = [(str(r[0]), str(r[1]), str(r[2]), float(r[3]), float(r[4])) for r in ATTACKER_IPS]
        if len(attackers) < 2:
            raise RuntimeError("dashboard.ingest.geo_demo_ips.ATTACKER_IPS needs at least two addresses")
        att_order = [attackers[int(i)] for i in rng.permutation(len(attackers))]

        # 1. brute force on one account, then a success from the same address
        victim = agent_for(0, without_mfa=True)  # that is why guessing the password was enough
        victim.mfa = False
        a_ip = att_order[0]
        t0 = self.day_ms(bf_day) + int(rng.integers(1 * HOUR_MS, 21 * HOUR_MS))
        gaps = rng.integers(5 * SECOND_MS, 9 * SECOND_MS, size=20)
        fails = (t0 + np.concatenate([[0], np.cumsum(gaps[:-1])])).tolist()
        ok = int(fails[-1] + rng.integers(30 * SECOND_MS, 60 * SECOND_MS))
        inc = _Incident("brute_force", [], 0, int(fails[0]), ok, user=victim.idx, ip=a_ip[0])
        inc.extra = {"fails": fails, "success": ok, "attacker": a_ip}
        s = _Session(victim.idx, ok, ok + 7 * MINUTE_MS, self.ip(a_ip[0]), self.uas.index(_ATTACKER_BROWSER_UA))
        s.kind, s.logout, s.clean = 2, False, True
        self.sessions.append(s)
        inc.sessions.append(s)
        self.blocks.append((victim.idx, t0 - 26 * HOUR_MS, ok + 26 * HOUR_MS))
        self.incidents.append(inc)

        # 2. password spray: one address, many users, one or two tries each
        sp_ip = att_order[1]
        pool = [a for a in self.agents if a.acct == 0 and a.idx != victim.idx and a.join_date is None]
        users = [pool[int(i)] for i in rng.permutation(len(pool))[:24]]
        tries = [u.idx for u in users] + [u.idx for u in users[:6]]
        t0 = self.day_ms(spray_day) + int(rng.integers(HOUR_MS, 23 * HOUR_MS))
        times = (t0 + np.concatenate([[0], np.cumsum(rng.integers(5000, 7400, size=len(tries) - 1))])).tolist()
        inc = _Incident("password_spray", [], 0, int(times[0]), int(times[-1]), ip=sp_ip[0])
        inc.extra = {"tries": list(zip(times, tries, strict=True)), "distinct_users": len(users)}
        self.incidents.append(inc)

        # 3. impossible travel: home login, then 40 minutes later from far away
        best: list[tuple[_Agent, tuple[str, str, str, float, float], float]] = []
        far_pool = [att for att in attackers if att[0] not in (a_ip[0], sp_ip[0])] or attackers
        for a in self.stable(None):
            if a.acct == 2:
                continue
            for att in far_pool:
                dist = _haversine_km(a.city.lat, a.city.lon, att[3], att[4])
                if dist > 5000 and att[1] != a.city.country:
                    best.append((a, att, dist))
        if not best:
            raise RuntimeError("no attacker address is more than 5000 km from any agent's home")
        traveller_agent, t_ip, dist = best[int(rng.integers(len(best)))]
        self.busy.add(traveller_agent.idx)
        travel_day = self.local_day_for(traveller_agent, travel_day, 8.5)
        home0 = self.local_ms(traveller_agent, travel_day, 8.5 + float(rng.uniform(0, 0.3)))
        home = self.custom_session(traveller_agent, home0, home0 + int(8.5 * HOUR_MS), 1)
        away0 = home0 + 40 * MINUTE_MS + int(rng.integers(0, 50 * SECOND_MS))
        away = _Session(
            traveller_agent.idx, away0, away0 + 9 * MINUTE_MS, self.ip(t_ip[0]), self.uas.index(_ATTACKER_BROWSER_UA)
        )
        away.kind, away.logout, away.clean = 2, False, True
        self.sessions.append(away)
        self.blocks.append((traveller_agent.idx, home0 - 26 * HOUR_MS, away0 + 26 * HOUR_MS))
        inc = _Incident(
            "impossible_travel", [], traveller_agent.acct, home0, away0, user=traveller_agent.idx, ip=t_ip[0]
        )
        inc.extra = {
            "distance_km": round(dist, 1),
            "minutes_apart": round((away0 - home0) / MINUTE_MS, 1),
            "from": {"country": traveller_agent.city.country, "city": traveller_agent.city.city},
            "to": {"country": t_ip[1], "city": t_ip[2]},
        }
        home.inc = away.inc = len(self.incidents)
        inc.sessions += [home, away]
        self.incidents.append(inc)

        # 4. an agent grants themself the administrator role
        grantee = agent_for(0)
        grant_day = self.local_day_for(grantee, grant_day, 11.0)
        g0 = self.local_ms(grantee, grant_day, 8.6 + float(rng.uniform(0, 0.3)))
        gs = self.custom_session(grantee, g0, g0 + int(8.4 * HOUR_MS), 1)
        inc = _Incident("self_grant_admin", [], 0, g0, g0, user=grantee.idx)
        inc.sessions.append(gs)
        self.incidents.append(inc)

        # 5. an administrator disables another user's MFA
        acct = 1 if self.stable(1, ("administrator",)) else 0
        admin = agent_for(acct, ("administrator",))
        target = agent_for(acct)
        target.mfa = True
        mfa_day = self.local_day_for(admin, mfa_day, 11.8)
        m0 = self.local_ms(admin, mfa_day, 8.8 + float(rng.uniform(0, 0.3)))
        ms = self.custom_session(admin, m0, m0 + 8 * HOUR_MS, 1)
        inc = _Incident("mfa_disabled_other", [], acct, m0, m0, user=target.idx)
        inc.extra = {"actor": admin.idx}
        inc.sessions.append(ms)
        self.incidents.append(inc)

        # 6. bulk viewing of conversations in the middle of the night
        night = agent_for(0)
        bulk_day = self.local_day_for(night, bulk_day, 1.0)
        n0 = self.local_ms(night, bulk_day, 0.83 + float(rng.uniform(0, 0.13)))
        n1 = self.local_ms(night, bulk_day, 2.92)
        ns = self.custom_session(night, n0, n1, 2, logout=True, inc=len(self.incidents))
        inc = _Incident("bulk_access_night", [], 0, n0, n1, user=night.idx)
        inc.extra = {
            "views_from": self.local_ms(night, bulk_day, 1.03),
            "views_to": self.local_ms(night, bulk_day, 2.83),
            "local_time_zone": night.city.zone,
        }
        inc.sessions.append(ns)
        self.incidents.append(inc)

        # 7. the smallest account's log source goes silent for more than a day
        g_start = self.day_ms(silent_day) - HOUR_MS
        g_end = self.day_ms(silent_day) + DAY_MS + 2 * HOUR_MS
        self.silent = (g_start, g_end)
        self.incidents.append(_Incident("silent_source", [], 2, g_start, g_end))
        for inc in self.incidents:
            inc.rules = list(_INCIDENT_RULES[inc.kind])

    def plan_traveller(self) -> None:
        """One agent works from another country for a few days: a plausible trip."""
        rng = self.rng
        pool = [a for a in self.stable(1) + self.stable(0) if a.idx not in self.busy]
        if not pool:
            return
        dates = self.utc_dates()
        if len(dates) < 7:
            return
        lo = min(max(16, len(dates) // 3), len(dates) - 6)
        for i in rng.permutation(len(pool)).tolist():
            a = pool[i]
            dests = []
            for ip_addr, country, city, lat, lon in DEMO_IPS:
                if str(country) == a.city.country:
                    continue
                dist = _haversine_km(a.city.lat, a.city.lon, float(lat), float(lon))
                if 500 < dist < 3500:
                    dests.append((str(ip_addr), str(country), str(city), dist))
            if not dests:
                continue
            dest = dests[int(rng.integers(len(dests)))]
            # leave on a Sunday, Monday or Tuesday so that the days abroad are working days
            starts = [d for d in dates[lo : len(dates) - 5] if d.weekday() in (6, 0, 1)] or dates[lo : len(dates) - 5]
            d = starts[int(rng.integers(len(starts)))]
            if a.vacation and a.vacation[0] < d + timedelta(days=5) and d < a.vacation[1]:
                continue
            leave = self.local_ms(a, d, 0)
            host = neighbour(dest[0], 240)  # agents get offsets 20..219 from their city's address
            self.busy.add(a.idx)
            self.traveller = {
                "agent": a.idx,
                "leave": leave,
                "arrive": leave + DAY_MS,
                "depart": leave + 4 * DAY_MS,
                "home": leave + 5 * DAY_MS,
                "ip": self.ip(host),
            }
            self.benign.append(
                {
                    "kind": "legitimate_travel",
                    "account_id": ACCOUNTS[a.acct],
                    "user": a.id,
                    "ip": host,
                    "from": {"country": a.city.country, "city": a.city.city},
                    "to": {"country": dest[1], "city": dest[2]},
                    "distance_km": round(dest[3], 1),
                    "start": _iso(leave + DAY_MS),
                    "end": _iso(leave + 4 * DAY_MS),
                    "note": "works from abroad for three days after a travel day: a new country "
                    "(R12 may fire) but never impossible travel",
                }
            )
            return

    # ---------------------------------------------------------------- incidents, phase B (events)

    def emit_incidents(self) -> None:
        rng, buf = self.rng, self.buf
        for tag, inc in enumerate(self.incidents):
            if inc.kind == "brute_force":
                v = self.agents[inc.user or 0]
                a_ip = self.ip(inc.ip or "")
                script = self.uas.index(_SCRIPT_UA)
                for t in inc.extra["fails"]:
                    buf.row(t, "auth.login", v.idx, 0, reason=1, ip=a_ip, ua=script, inc=tag)
                s = inc.sessions[0]
                buf.row(s.start, "auth.login", v.idx, 0, ip=a_ip, ua=s.ua, sess=s.idx, inc=tag)
                self.explicit_views(s, 8)
            elif inc.kind == "password_spray":
                sp_ip = self.ip(inc.ip or "")
                for t, u in inc.extra["tries"]:
                    buf.row(t, "auth.login", u, 0, reason=1, ip=sp_ip, ua=self.uas.index(_SCRIPT_UA), inc=tag)
            elif inc.kind == "impossible_travel":
                away = inc.sessions[1]
                self.login_rows(away, tag=tag)
                self.explicit_views(away, 6)
            elif inc.kind == "self_grant_admin":
                s = inc.sessions[0]
                w = self.agents[s.agent]
                t = s.start + int(2.5 * HOUR_MS) + int(rng.integers(-20 * MINUTE_MS, 20 * MINUTE_MS))
                inc.start = inc.end = t
                sp = buf.special(
                    {
                        "target": {"type": "agent", "id": w.id, "name": w.name},
                        "changes": {"role": ["agent", "administrator"]},
                    }
                )
                buf.row(t, "agent.role_change", w.idx, 0, sess=s.idx, ip=s.ip, ua=s.ua, spec=sp, inc=tag)
                self.role_epochs.append((w.idx, t, "administrator"))
                rev = self.pick_session(0, ("administrator",), after=t + HOUR_MS, before=t + 3 * DAY_MS)
                if rev is not None:
                    tr = self.time_in(rev, lo=t + HOUR_MS)
                    admin = self.agents[rev.agent]
                    sp = buf.special(
                        {
                            "target": {"type": "agent", "id": w.id, "name": w.name},
                            "changes": {"role": ["administrator", "agent"]},
                            "metadata": {"comment": "reverted an unapproved role change"},
                        }
                    )
                    buf.row(tr, "agent.role_change", admin.idx, 0, sess=rev.idx, ip=rev.ip, ua=rev.ua, spec=sp)
                    self.role_epochs.append((w.idx, tr, "agent"))
            elif inc.kind == "mfa_disabled_other":
                s = inc.sessions[0]
                x = self.agents[s.agent]
                y = self.agents[inc.user or 0]
                t = s.start + 3 * HOUR_MS + int(rng.integers(0, 30 * MINUTE_MS))
                inc.start = inc.end = t
                sp = buf.special(
                    {
                        "target": {"type": "agent", "id": y.id, "name": y.name},
                        "changes": {"mfa_enabled": [True, False]},
                        "metadata": {"method": "totp"},
                    }
                )
                buf.row(t, "auth.mfa_disable", x.idx, x.acct, sess=s.idx, ip=s.ip, ua=s.ua, spec=sp, inc=tag)
                later = [q for q in self.sessions if q.agent == y.idx and q.start >= t + 36 * HOUR_MS]
                if later:
                    q = later[0]
                    te = q.start + 90 * SECOND_MS
                    buf.row(te, "auth.mfa_enable", y.idx, y.acct, sess=q.idx, ip=q.ip, ua=q.ua)
                    y.mfa_off.append((t, te))
                    inc.extra["re_enabled_at"] = _iso(te)
                else:
                    y.mfa_off.append((t, self.p1 + DAY_MS))
                    inc.extra["re_enabled_at"] = None
            elif inc.kind == "bulk_access_night":
                s = inc.sessions[0]
                z = self.agents[s.agent]
                self.login_rows(s, tag=tag)
                n = int(rng.integers(220, 260))
                t_from, t_to = inc.extra["views_from"], inc.extra["views_to"]
                times = np.sort(rng.integers(t_from, t_to, size=n))
                now = self.conv_now(0, t_from)
                convs = now - 10 - rng.choice(20_000, size=n, replace=False)
                reqs = buf.alloc_req(n)
                buf.chunk(
                    n,
                    t=times,
                    act=_A["conversation.view"],
                    agent=z.idx,
                    acct=0,
                    ip=s.ip,
                    ua=s.ua,
                    sess=s.idx,
                    req=reqs,
                    tgt=convs,
                    inc=tag,
                )
                inc.start, inc.end = int(times[0]), int(times[-1])
                inc.extra["views"] = n
                buf.row(s.end, "auth.logout", z.idx, 0, sess=s.idx, ip=s.ip, ua=s.ua)

    def explicit_views(self, s: _Session, n: int) -> None:
        acct = self.agents[s.agent].acct
        times = s.start + 20 * SECOND_MS + np.sort(self.rng.integers(0, s.end - s.start - 40 * SECOND_MS, n))
        convs = self.conv_now(acct, s.start) - self.rng.choice(3000, size=n, replace=False)
        self.buf.chunk(
            n,
            t=times,
            act=_A["conversation.view"],
            agent=s.agent,
            acct=acct,
            ip=s.ip,
            ua=s.ua,
            sess=s.idx,
            req=self.buf.alloc_req(n),
            tgt=convs,
        )

    # ---------------------------------------------------------------- logins and logouts

    def login_rows(
        self, s: _Session, tag: int = -1, fails: int = 0, mfa_fail: bool = False, lock: bool = False
    ) -> None:
        buf = self.buf
        a = self.agents[s.agent]
        t0 = s.start
        common = {"ip": s.ip, "ua": s.ua}
        if lock:
            t = t0 - 16 * MINUTE_MS
            for _ in range(5):
                t += int(self.rng.integers(15 * SECOND_MS, 45 * SECOND_MS))
                buf.row(t, "auth.login", a.idx, a.acct, reason=1, **common)
            buf.row(t + 800, "auth.account_locked", a.idx, a.acct, reason=3, **common)
            sp = buf.special({"target": self.agent_target(a), "metadata": {"method": "email_link"}})
            buf.row(t0 - 2 * MINUTE_MS, "auth.password_reset", a.idx, a.acct, spec=sp, **common)
        for k in range(fails):
            buf.row(t0 - (fails - k) * 25 * SECOND_MS - 9 * SECOND_MS, "auth.login", a.idx, a.acct, reason=1, **common)
        if a.has_mfa(t0):
            if mfa_fail:
                req = int(buf.alloc_req()[0])
                buf.row(t0 - 50 * SECOND_MS, "auth.mfa_challenge", a.idx, a.acct, reason=2, req=req, **common)
                buf.row(t0 - 50 * SECOND_MS + 40, "auth.login", a.idx, a.acct, reason=2, req=req, **common)
            buf.row(t0 - 8 * SECOND_MS, "auth.mfa_challenge", a.idx, a.acct, **common)
        buf.row(t0, "auth.login", a.idx, a.acct, sess=s.idx, inc=tag, **common)
        if s.logout and s.kind != 2:
            buf.row(s.end, "auth.logout", a.idx, a.acct, sess=s.idx, **common)

    def emit_logins(self) -> None:
        rng = self.rng
        normal = [s for s in self.sessions if s.kind < 2]
        n = len(normal)
        r = rng.random(n)
        fails = np.where(r < 0.006, 2, np.where(r < 0.03, 1, 0))
        mfa_fail = rng.random(n) < 0.012
        dirty = [i for i, s in enumerate(normal) if not s.clean and self.agents[s.agent].idx not in self.busy]
        min_n = 3
        if dirty:
            for arr, val in ((fails, 1), (mfa_fail, True)):
                if int(np.count_nonzero(arr)) < min_n:
                    arr[rng.choice(dirty, size=min(min_n, len(dirty)), replace=False)] = val
        n_lock = max(min_n, int(rng.poisson(self.spec.days / 12)))
        locked: set[int] = set()
        if dirty:
            agents_seen: set[int] = set()
            for i in rng.permutation(dirty).tolist():
                s = normal[i]
                if s.agent in agents_seen or s.start - 20 * MINUTE_MS < self.p0:
                    continue
                agents_seen.add(s.agent)
                locked.add(i)
                if len(locked) == n_lock:
                    break
        for i, s in enumerate(normal):
            if s.clean:
                self.login_rows(s, tag=s.inc)
            else:
                lock = i in locked
                self.login_rows(
                    s,
                    fails=0 if lock else int(fails[i]),
                    mfa_fail=bool(mfa_fail[i]) and not lock,
                    lock=lock,
                )

    def agent_target(self, a: _Agent) -> dict[str, str]:
        return {"type": "agent", "id": a.id, "name": a.name}

    # ---------------------------------------------------------------- administrative changes

    def emit_admin(self) -> None:
        rng, buf = self.rng, self.buf
        days = self.spec.days
        acct_p = np.array([0.66, 0.22, 0.12])
        min_n = 3
        admin_roles = ("administrator",)
        lead_roles = ("administrator", "supervisor")
        any_roles = ("administrator", "supervisor", "agent")
        busy = sorted(self.busy)
        created_rules: list[tuple[int, str]] = []
        counters = {"integration": 40, "label": 100, "rule": 20, "invite": 1001 + len(self.agents) + 500}

        def count(rate: float) -> int:
            # a steady rate with some spread (a Poisson draw alone can leave a month nearly empty)
            return max(min_n, round(rate * days * float(rng.uniform(0.75, 1.25))))

        def at(roles: Sequence[str], acct: int | None = None, exclude: Sequence[int] = ()) -> _Session | None:
            for _ in range(4):
                ac = int(rng.choice(3, p=acct_p)) if acct is None else acct
                s = self.pick_session(ac, roles, exclude=[*busy, *exclude] if roles != admin_roles else exclude)
                if s is not None:
                    return s
            return self.pick_session(0, roles)

        def emit(s: _Session, action: str, payload: dict[str, Any], t: int | None = None) -> int:
            a = self.agents[s.agent]
            when = self.time_in(s) if t is None else t
            buf.row(when, action, a.idx, a.acct, sess=s.idx, ip=s.ip, ua=s.ua, spec=buf.special(payload))
            return when

        def other(s: _Session, roles: Sequence[str] = ("agent", "supervisor")) -> _Agent | None:
            me = self.agents[s.agent]
            pool = [b for b in self.stable(me.acct, roles) if b.idx != me.idx]
            return pool[int(rng.integers(len(pool)))] if pool else None

        def two(values: Sequence[Any]) -> tuple[Any, Any]:
            i, j = rng.choice(len(values), size=2, replace=False)
            return values[int(i)], values[int(j)]

        for _ in range(count(1.2)):
            if s := at(admin_roles):
                key, label, values = _SETTINGS[int(rng.integers(len(_SETTINGS)))]
                old, new = two(values)
                emit(
                    s,
                    "settings.update",
                    {
                        "target": {"type": "setting", "id": f"account.{key}", "name": label},
                        "changes": {key: [old, new]},
                    },
                )
        for action, rate, before, after in (
            ("feature.enable", 0.12, False, True),
            ("feature.disable", 0.08, True, False),
        ):
            for _ in range(count(rate)):
                if s := at(admin_roles):
                    feat, feat_title = _FEATURES[int(rng.integers(len(_FEATURES)))]
                    emit(
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
        for action, rate in (("integration.create", 0.06), ("integration.update", 0.15), ("integration.delete", 0.04)):
            for _ in range(count(rate)):
                if s := at(admin_roles):
                    kind, title = _INTEGRATIONS[int(rng.integers(len(_INTEGRATIONS)))]
                    counters["integration"] += 1
                    iid = counters["integration"] if action == "integration.create" else int(rng.integers(3, 40))
                    changes: dict[str, Any]
                    if action == "integration.create":
                        changes = {"enabled": [None, True]}
                        if kind == "webhook":
                            changes["url"] = [
                                None,
                                f"https://hooks.{_ACCOUNT_DOMAINS[self.agents[s.agent].acct]}/cw/{iid}",
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
                    emit(
                        s,
                        action,
                        {
                            "target": {"type": "integration", "id": f"int-{iid}", "name": title},
                            "changes": changes,
                            "metadata": {"integration": kind},
                        },
                    )
        for _ in range(count(0.25)):
            if s := at(lead_roles):
                key, wf, values = _WORKFLOWS[int(rng.integers(len(_WORKFLOWS)))]
                old, new = two(values)
                k = int(rng.integers(len(_INBOXES)))
                emit(
                    s,
                    "workflow.update",
                    {
                        "target": {"type": "inbox", "id": f"inbox-{k + 1}", "name": _INBOXES[k]},
                        "changes": {key: [old, new]},
                        "metadata": {"workflow": wf},
                    },
                )
        # hires, leavers and pending invitations
        creates = 0
        for a in self.agents:
            if a.join_date is not None:
                join_ms = self.local_ms(a, a.join_date, 9.0)
                s = self.pick_session(a.acct, admin_roles, after=join_ms - 5 * DAY_MS, before=join_ms)
                s = s or self.pick_session(a.acct, admin_roles)
                if s is not None:
                    emit(
                        s,
                        "agent.create",
                        {
                            "target": self.agent_target(a),
                            "changes": {"email": [None, a.email], "role": [None, a.role], "team": [None, a.team]},
                        },
                        t=self.time_in(s, hi=join_ms),
                    )
                    creates += 1
                q0 = next((q for q in self.sessions if q.agent == a.idx and q.kind < 2), None)
                if q0 is not None:
                    te = q0.start + 70 * SECOND_MS
                    buf.row(
                        te,
                        "auth.password_change",
                        a.idx,
                        a.acct,
                        sess=q0.idx,
                        ip=q0.ip,
                        ua=q0.ua,
                        spec=buf.special({"target": self.agent_target(a), "metadata": {"method": "invitation"}}),
                    )
                    if a.mfa:
                        buf.row(
                            te + 2 * MINUTE_MS,
                            "auth.mfa_enable",
                            a.idx,
                            a.acct,
                            sess=q0.idx,
                            ip=q0.ip,
                            ua=q0.ua,
                            spec=buf.special({"target": self.agent_target(a), "metadata": {"method": "totp"}}),
                        )
                        a.mfa_off.append((self.p0 - DAY_MS, te + 2 * MINUTE_MS))
            if a.leave_date is not None:
                gone = self.local_ms(a, a.leave_date, 20.0)
                s = self.pick_session(a.acct, admin_roles, after=gone, before=gone + 4 * DAY_MS)
                s = s or self.pick_session(a.acct, admin_roles, after=gone)
                if s is not None:
                    emit(
                        s,
                        "agent.delete",
                        {"target": self.agent_target(a), "metadata": {"reason": "left the company"}},
                        t=self.time_in(s, lo=gone),
                    )
        for _ in range(max(0, count(0.04) - creates)):
            if s := at(admin_roles):
                counters["invite"] += 1
                fn, ln = _FIRST[int(rng.integers(len(_FIRST)))], _LAST[int(rng.integers(len(_LAST)))]
                email = f"{fn.lower()}.{ln.lower()}.ext@{_ACCOUNT_DOMAINS[self.agents[s.agent].acct]}"
                emit(
                    s,
                    "agent.create",
                    {
                        "target": {"type": "agent", "id": str(counters["invite"]), "name": f"{fn} {ln}"},
                        "changes": {"email": [None, email], "role": [None, "agent"]},
                        "metadata": {"invitation": "pending"},
                    },
                )
        for k in range(max(0, count(0.03) - sum(a.leave_date is not None for a in self.agents))):
            if s := at(admin_roles):
                fn, ln = _FIRST[int(rng.integers(len(_FIRST)))], _LAST[int(rng.integers(len(_LAST)))]
                emit(
                    s,
                    "agent.delete",
                    {
                        "target": {"type": "agent", "id": str(counters["invite"] + 100 + k), "name": f"{fn} {ln}"},
                        "metadata": {"reason": "invitation revoked"},
                    },
                )
        for _ in range(count(0.5)):
            if (s := at(admin_roles)) and (b := other(s)):
                old, new = two((5, 8, 10, 12, 15))
                emit(s, "agent.update", {"target": self.agent_target(b), "changes": {"concurrency_limit": [old, new]}})
        for _ in range(count(0.3)):
            if s := at(any_roles):
                me = self.agents[s.agent]
                first_name = me.name.split()[0]
                change_self: dict[str, Any] = (
                    {"display_name": [me.name, first_name]}
                    if rng.random() < 0.5
                    else {"message_signature": [None, f"Best regards, {first_name}"]}
                )
                emit(s, "agent.update", {"target": self.agent_target(me), "changes": change_self})
        # role changes: one per target, between agent and supervisor
        targets_done: set[int] = set()
        for _ in range(count(0.06)):
            if s := at(admin_roles):
                me = self.agents[s.agent]
                pool = [b for b in self.stable(me.acct, ("agent", "supervisor")) if b.idx not in targets_done]
                if not pool:
                    continue
                b = pool[int(rng.integers(len(pool)))]
                targets_done.add(b.idx)
                new = "supervisor" if b.role == "agent" else "agent"
                t = emit(s, "agent.role_change", {"target": self.agent_target(b), "changes": {"role": [b.role, new]}})
                self.role_epochs.append((b.idx, t, new))
        for _ in range(count(0.08)):
            if (s := at(admin_roles)) and (b := other(s)):
                change: dict[str, Any] = (
                    {"custom_role": [None, f"{b.team} lead"]}
                    if rng.random() < 0.4
                    else {"permissions": [["conversation_manage"], ["conversation_manage", "report_view"]]}
                )
                emit(s, "agent.permission_change", {"target": self.agent_target(b), "changes": change})
        for action, rate in (("team.member_add", 0.12), ("team.member_remove", 0.08)):
            for _ in range(count(rate)):
                if (s := at(lead_roles)) and (b := other(s, ("agent",))):
                    teams = [t for t, _w in _ACCOUNT_TEAMS[b.acct]]
                    team = teams[int(rng.integers(len(teams)))]
                    emit(
                        s,
                        action,
                        {
                            "target": {
                                "type": "team",
                                "id": f"team-{b.acct + 1}-{teams.index(team) + 1}",
                                "name": team,
                            },
                            "metadata": {"agent_id": b.id, "agent_name": b.name},
                        },
                    )
        for action, rate in (
            ("label.create", 0.2),
            ("label.update", 0.15),
            ("label.delete", 0.06),
            ("label.category_change", 0.08),
        ):
            for _ in range(count(rate)):
                if s := at(lead_roles):
                    k = int(rng.integers(len(_LABELS)))
                    title, category, colour, _w = _LABELS[k]
                    payload: dict[str, Any]
                    if action == "label.create":
                        counters["label"] += 1
                        new_title = ("black-friday", "outage", "churn-risk", "beta", "warranty")[counters["label"] % 5]
                        new_title = f"{new_title}-{counters['label']}"
                        payload = {
                            "target": {"type": "label", "id": f"label-{counters['label']}", "name": new_title},
                            "changes": {"title": [None, new_title], "color": [None, colour]},
                        }
                    elif action == "label.update":
                        old, new = two(("#1f93ff", "#ff6b6b", "#20c997", "#ffc107", "#6f42c1"))
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
                        cats = sorted({lab[1] for lab in _LABELS} - {category})
                        payload = {
                            "target": {"type": "label", "id": f"label-{k + 1}", "name": title},
                            "changes": {"category": [category, cats[int(rng.integers(len(cats)))]]},
                        }
                    emit(s, action, payload)
        for action, rate in (
            ("automation_rule.create", 0.06),
            ("automation_rule.update", 0.15),
            ("automation_rule.delete", 0.03),
        ):
            for _ in range(count(rate)):
                if s := at(admin_roles):
                    k = int(rng.integers(len(_AUTOMATION_RULES)))
                    if action == "automation_rule.create":
                        counters["rule"] += 1
                        rid = counters["rule"]
                        rule_name = _NEW_RULES[(rid - 21) % len(_NEW_RULES)]
                        created_rules.append((rid, rule_name))
                        ch: dict[str, Any] = {"active": [None, True], "event_name": [None, "conversation_created"]}
                    elif action == "automation_rule.update":
                        rid, rule_name = k + 1, _AUTOMATION_RULES[k]
                        ch = {"active": [True, False]} if rng.random() < 0.3 else {"conditions.match": ["any", "all"]}
                    else:
                        if created_rules and rng.random() < 0.5:
                            rid, rule_name = created_rules.pop(0)
                        else:
                            rid = int(rng.integers(7, 20))
                            rule_name = f"Legacy routing rule {rid}"
                        ch = {"active": [True, None]}
                    emit(
                        s,
                        action,
                        {
                            "target": {"type": "automation_rule", "id": f"rule-{rid}", "name": rule_name},
                            "changes": ch,
                        },
                    )
        for _ in range(count(0.05)):
            if s := at(admin_roles):
                old, new = two((2, 3, 5))
                emit(
                    s,
                    "bot.update",
                    {
                        "target": {
                            "type": "integration",
                            "id": f"bot-{self.agents[s.agent].acct + 1}",
                            "name": "Welcome Bot",
                        },
                        "changes": {"handoff_after_messages": [old, new]},
                    },
                )
        # the bot's knowledge base is re-synced by a weekly job (a system actor)
        week0 = self.p0 + 5 * DAY_MS
        version = 40
        for acct in range(3):
            t = week0 + acct * 11 * MINUTE_MS
            while t < self.p1:
                version += 1
                buf.row(
                    t,
                    "bot.update",
                    _SYSTEM,
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
        # self-service security changes
        for _ in range(count(0.5)):
            if s := at(any_roles):
                me = self.agents[s.agent]
                emit(s, "auth.password_change", {"target": self.agent_target(me), "metadata": {"method": "profile"}})
        for _ in range(count(0.12)):
            if s := at(any_roles):
                me = self.agents[s.agent]
                t = s.start - int(rng.integers(2, 6)) * MINUTE_MS
                buf.row(
                    t,
                    "auth.password_reset",
                    me.idx,
                    me.acct,
                    ip=s.ip,
                    ua=s.ua,
                    spec=buf.special({"target": self.agent_target(me), "metadata": {"method": "email_link"}}),
                )
        for _ in range(count(0.03)):
            s = at(any_roles)
            if s is None or s.end - s.start < HOUR_MS:
                continue
            me = self.agents[s.agent]
            t = self.time_in(s, hi=s.end - 40 * MINUTE_MS)
            t2 = t + int(rng.integers(3, 15)) * MINUTE_MS
            emit(
                s,
                "auth.mfa_disable",
                {
                    "target": self.agent_target(me),
                    "changes": {"mfa_enabled": [True, False]},
                    "metadata": {"method": "totp", "comment": "new phone"},
                },
                t=t,
            )
            emit(
                s,
                "auth.mfa_enable",
                {
                    "target": self.agent_target(me),
                    "changes": {"mfa_enabled": [False, True]},
                    "metadata": {"method": "totp"},
                },
                t=t2,
            )
            me.mfa_off.append((t, t2))
        for _ in range(count(0.04)):
            s = at(admin_roles)
            if s is None:
                continue
            me = self.agents[s.agent]
            t = self.time_in(s)
            pool = [b for b in self.stable(me.acct, ("agent", "supervisor")) if b.mfa]
            for i in rng.permutation(len(pool)).tolist():
                b = pool[i]
                nxt = [q for q in self.sessions if q.agent == b.idx and t < q.start < t + 3 * DAY_MS and q.kind < 2]
                if nxt:
                    q = nxt[0]
                    emit(
                        s,
                        "auth.mfa_reset",
                        {
                            "target": self.agent_target(b),
                            "changes": {"mfa_enabled": [True, False]},
                            "metadata": {"comment": "lost phone"},
                        },
                        t=t,
                    )
                    te = q.start + 100 * SECOND_MS
                    buf.row(
                        te,
                        "auth.mfa_enable",
                        b.idx,
                        b.acct,
                        sess=q.idx,
                        ip=q.ip,
                        ua=q.ua,
                        spec=buf.special(
                            {
                                "target": self.agent_target(b),
                                "changes": {"mfa_enabled": [False, True]},
                                "metadata": {"method": "totp"},
                            }
                        ),
                    )
                    b.mfa_off.append((t, te))
                    break
        for _ in range(count(0.1)):
            if s := at(admin_roles):
                me = self.agents[s.agent]
                cid = self.conv_now(me.acct, s.start) - int(rng.integers(10, 5000))
                emit(
                    s,
                    "conversation.delete",
                    {
                        "target": {"type": "conversation", "id": str(cid), "name": f"#{cid}"},
                        "metadata": {"reason": "spam"},
                    },
                )

    # ---------------------------------------------------------------- the platform itself

    def emit_system(self, total: int) -> None:
        rng = self.rng
        hours = self.spec.days * 24
        sizes = np.array(_ACCOUNT_SIZES, dtype=float)
        for acct in range(3):
            mean = total * sizes[acct] / sizes.sum() / hours
            rmax = max(3.0, mean / 0.7)
            n = int(rng.poisson(rmax * hours))
            t = np.sort(rng.integers(self.p0, self.p1, size=n))
            lead = next(a for a in self.agents if a.acct == acct)
            offset = lead.tz.utcoffset(self.end_dt.replace(tzinfo=None)) or timedelta(0)
            local_h = ((t + offset // timedelta(milliseconds=1)) // HOUR_MS) % 24
            f = np.where((local_h >= 8) & (local_h < 19), 1.0, 0.45)
            t = t[rng.random(n) < f]
            n = t.size
            kind = rng.choice(6, size=n, p=[0.3, 0.2, 0.1, 0.15, 0.15, 0.1])
            acts = np.array(
                [
                    _A["message.create"],
                    _A["label.assign"],
                    _A["macro.execute"],
                    _A["conversation.assign"],
                    _A["conversation.resolve"],
                    _A["conversation.reopen"],
                ]
            )[kind]
            agent = np.where(kind == 0, _BOT, _SYSTEM)
            conv = (_CONV_BASE[acct] + _CONV_RATE[acct] * (t - self.p0) / DAY_MS).astype(np.int64)
            conv -= rng.geometric(1 / 25, size=n)
            conv[kind == 4] -= 60 * int(_CONV_RATE[acct] / 24) + 1  # auto-resolve: older conversations
            members = np.array([a.idx for a in self.agents if a.acct == acct])
            aux = np.full(n, -1, dtype=np.int64)
            aux[kind == 1] = rng.choice(_SYSTEM_LABELS, size=int((kind == 1).sum()))
            aux[kind == 2] = rng.choice(_SYSTEM_MACROS, size=int((kind == 2).sum()))
            aux[kind == 3] = rng.choice(members, size=int((kind == 3).sum()))
            self.pending.append(
                {
                    "t": t,
                    "act": acts,
                    "agent": agent,
                    "acct": np.full(n, acct),
                    "ip": -1,
                    "ua": -1,
                    "sess": -1,
                    "tgt": conv,
                    "aux": aux,
                }
            )

    # ---------------------------------------------------------------- agents at work

    def emit_activity(self, budget: int) -> None:
        rng = self.rng
        work = [s for s in self.sessions if s.kind < 2]
        m = len(work)
        lo = np.fromiter((max(s.start + MINUTE_MS, self.p0) for s in work), np.int64, m)
        hi = np.fromiter((min(s.end - 30 * SECOND_MS, self.p1 - 1) for s in work), np.int64, m)
        inten = np.fromiter((self.agents[s.agent].intensity for s in work), float, m)
        if self.silent is not None:
            g0, g1 = self.silent
            labs = np.fromiter((self.agents[s.agent].acct == 2 for s in work), np.bool_, m)
            inside = labs & (lo >= g0) & (hi <= g1)
            hi = np.where(inside, lo, hi)
        w = np.clip(hi - lo, 0, None) / HOUR_MS * inten
        if budget <= 0 or w.sum() <= 0:
            return
        # macros add their effects: draw the whole budget, then trim as many plain events
        counts = rng.multinomial(budget, w / w.sum())
        sidx = np.repeat(np.arange(m), counts)
        n = sidx.size
        span = (hi - lo)[sidx]
        t = lo[sidx] + (rng.random(n) * span).astype(np.int64)
        l0 = np.fromiter((s.lunch0 for s in work), np.int64, m)[sidx]
        l1 = np.fromiter((s.lunch1 for s in work), np.int64, m)[sidx]
        move = (t >= l0) & (t < l1) & (rng.random(n) < 0.75)
        t[move] = lo[sidx[move]] + (rng.random(int(move.sum())) * span[move]).astype(np.int64)
        order = np.lexsort((t, sidx))
        t, sidx = t[order], sidx[order]
        # work units: consecutive events on one conversation
        first = np.ones(n, dtype=bool)
        first[1:] = sidx[1:] != sidx[:-1]
        newu = first | (rng.random(n) < 0.2)
        unit = np.cumsum(newu) - 1
        ustart = np.flatnonzero(newu)
        pos = np.arange(n) - ustart[unit]
        ulen = np.diff(np.append(ustart, n))[unit]
        mid = [
            ("message.create", 0.58),
            ("conversation.view", 0.12),
            ("label.assign", 0.09),
            ("macro.execute", 0.045),
            ("message.edit", 0.03),
            ("conversation.assign", 0.03),
            ("label.unassign", 0.025),
            ("conversation.unassign", 0.02),
            ("message.delete", 0.01),
            ("conversation.reopen", 0.012),
        ]
        p = np.array([x[1] for x in mid])
        act = np.array([_A[x[0]] for x in mid])[rng.choice(len(mid), size=n, p=p / p.sum())]
        act[(pos == 1) & (rng.random(n) < 0.3)] = _A["conversation.assign"]
        act[(pos == ulen - 1) & (ulen >= 3) & (rng.random(n) < 0.55)] = _A["conversation.resolve"]
        act[pos == 0] = _A["conversation.view"]
        u_acct = np.fromiter((self.agents[s.agent].acct for s in work), np.int64, m)[sidx[ustart]]
        base = np.array(_CONV_BASE, dtype=float)[u_acct]
        rate = np.array(_CONV_RATE)[u_acct]
        conv_u = (base + rate * (t[ustart] - self.p0) / DAY_MS).astype(np.int64) - rng.geometric(
            1 / 60, size=ustart.size
        )
        tgt = conv_u[unit]
        aux = np.full(n, -1, dtype=np.int64)
        lab = (act == _A["label.assign"]) | (act == _A["label.unassign"])
        aux[lab] = rng.choice(len(_LABELS), size=int(lab.sum()), p=_LABEL_P)
        mac = act == _A["macro.execute"]
        aux[mac] = rng.choice(len(_MACROS), size=int(mac.sum()), p=_MACRO_P)
        msg = act == _A["message.create"]
        aux[msg] = (rng.random(int(msg.sum())) < 0.15).astype(np.int64)  # 1 = private note
        edit = (act == _A["message.edit"]) | (act == _A["message.delete"])
        aux[edit] = tgt[edit] * 40 + rng.integers(0, 40, size=int(edit.sum()))
        surplus = n + _effect_count(act, aux) - budget
        keep = np.ones(n, dtype=bool)
        if surplus > 0:
            droppable = np.flatnonzero((pos > 0) & ~mac)
            keep[rng.choice(droppable, size=min(surplus, droppable.size), replace=False)] = False
        t, act, tgt, aux, sidx = t[keep], act[keep], tgt[keep], aux[keep], sidx[keep]
        self.pending.append(
            {
                "t": t,
                "act": act,
                "agent": np.fromiter((s.agent for s in work), np.int64, m)[sidx],
                "acct": np.fromiter((self.agents[s.agent].acct for s in work), np.int64, m)[sidx],
                "ip": np.fromiter((s.ip for s in work), np.int64, m)[sidx],
                "ua": np.fromiter((s.ua for s in work), np.int64, m)[sidx],
                "sess": np.fromiter((s.idx for s in work), np.int64, m)[sidx],
                "tgt": tgt,
                "aux": aux,
            }
        )

    def flush_pending(self) -> None:
        """Add the bulk events and the effects of every macro (same request, same conversation)."""
        buf = self.buf
        for cols in self.pending:
            n = int(np.size(cols["t"]))
            req = buf.alloc_req(n)
            buf.chunk(n, req=req, **cols)
            mac = np.flatnonzero(np.asarray(cols["act"]) == _A["macro.execute"])
            if mac.size == 0:
                continue
            aux = np.asarray(cols["aux"])[mac]
            for k, (_name, effects, _w) in enumerate(_MACROS):
                sel = mac[aux == k]
                if sel.size == 0:
                    continue
                for j, (action, arg) in enumerate(effects):
                    if action == "label.assign":
                        eff_aux: Any = _LABEL_INDEX[arg]
                    elif action == "conversation.assign":
                        eff_aux = 10_000 + (1 if "Tier 2" in _name else 4)
                    elif action == "message.create":
                        eff_aux = 2
                    else:
                        eff_aux = -1
                    sub = {
                        key: (np.asarray(v)[sel] if np.ndim(v) else v)
                        for key, v in cols.items()
                        if key not in ("act", "aux", "t")
                    }
                    buf.chunk(
                        sel.size,
                        t=np.asarray(cols["t"])[sel] + j + 1,
                        act=_A[action],
                        aux=eff_aux,
                        req=req[sel],
                        **sub,
                    )
        self.pending = []

    # ---------------------------------------------------------------- coverage safety net

    def ensure_coverage(self, present: set[int]) -> None:
        """Every platform action appears: actions added to the taxonomy later get a few events."""
        buf = self.buf
        for action in PLATFORM_ACTIONS:
            if _A[action] in present:
                continue
            category = _CATEGORY_OF.get(action, "other")
            for _ in range(3):
                s = self.pick_session(0, ("administrator",))
                if s is None:
                    break
                a = self.agents[s.agent]
                target = {
                    "conversation": {"type": "conversation", "id": str(self.conv_now(0, s.start)), "name": "#"},
                    "settings": {"type": "setting", "id": "account.general", "name": "General"},
                    "labels": {"type": "label", "id": "label-1", "name": _LABELS[0][0]},
                    "automation": {"type": "automation_rule", "id": "rule-1", "name": _AUTOMATION_RULES[0]},
                }.get(category, self.agent_target(a))
                buf.row(
                    self.time_in(s),
                    action,
                    a.idx,
                    a.acct,
                    sess=s.idx,
                    ip=s.ip,
                    ua=s.ua,
                    spec=buf.special({"target": target}),
                )

    # ---------------------------------------------------------------- run

    def run(self) -> None:
        spec = self.spec
        self.build_roster()
        self.plan_sessions()
        if spec.incidents:
            self.plan_incidents()
        self.plan_traveller()
        self.freeze_sessions()
        if spec.incidents:
            self.emit_incidents()
        self.emit_admin()
        self.emit_logins()
        fixed = sum(1 for r in self.buf.rows if self.p0 <= r[0] < self.p1)
        fixed += sum(int(np.size(c)) for c in self.buf.chunks["t"])
        self.emit_system(int(spec.events * 0.04))
        system_n = sum(int(np.size(c["t"])) + _effect_count(c["act"], c["aux"]) for c in self.pending)
        self.emit_activity(spec.events - fixed - system_n)
        self.flush_pending()
        rows_before = len(self.buf.rows)
        cols = self.buf.columns()
        self.ensure_coverage({int(x) for x in np.unique(cols["act"])})
        if len(self.buf.rows) != rows_before:
            cols = self.buf.columns()
        self.buf.chunks = {f: [] for f in _FIELDS}  # the columns hold everything now
        self.assemble(cols)

    def assemble(self, cols: dict[str, I64]) -> None:
        keep = (cols["t"] >= self.p0) & (cols["t"] < self.p1)
        if self.silent is not None:
            g0, g1 = self.silent
            keep &= ~((cols["acct"] == 2) & (cols["t"] >= g0) & (cols["t"] < g1))
        kept = np.flatnonzero(keep)
        order = kept[np.argsort(cols["t"][kept], kind="stable")]
        del keep, kept
        # reorder column by column and let each unsorted column go (memory), in compact types
        self.cols: dict[str, npt.NDArray[np.signedinteger[Any]]] = {}
        for k in list(cols):
            v = cols.pop(k)
            self.cols[k] = v[order] if k in ("t", "req") else v[order].astype(np.int32)
        self.n = int(self.cols["t"].size)
        # actor templates, with the role each agent has at the time
        tpls: list[dict[str, Any]] = []
        tpl_of: dict[tuple[int, str], int] = {}

        def tpl(agent: int, role: str) -> int:
            key = (agent, role)
            if key not in tpl_of:
                a = self.agents[agent]
                tpl_of[key] = len(tpls)
                tpls.append({"id": a.id, "name": a.name, "email": a.email, "role": role, "type": "user"})
            return tpl_of[key]

        base = np.array([tpl(a.idx, a.role) for a in self.agents], dtype=np.int64)
        system_tpl = len(tpls)
        tpls.append({"type": "system", "name": "Automation"})
        bot_tpl = len(tpls)
        for acct in range(3):
            tpls.append({"id": f"bot-{acct + 1}", "name": "Welcome Bot", "type": "bot"})
        agent = self.cols["agent"]
        atpl = np.where(agent >= 0, base[np.clip(agent, 0, None)], system_tpl)
        atpl = np.where(agent == _BOT, bot_tpl + self.cols["acct"], atpl)
        for who, t, role in sorted(self.role_epochs, key=lambda e: e[1]):
            atpl[(agent == who) & (self.cols["t"] > t)] = tpl(who, role)
        self.atpl = atpl
        self.actor_tpls = tpls

    # ---------------------------------------------------------------- output

    def truth(self) -> dict[str, Any]:
        cols = self.cols
        inc_col = cols["inc"]
        incidents = []
        for tag, inc in enumerate(self.incidents):
            ids = [self.event_id(int(p)) for p in np.flatnonzero(inc_col == tag)]
            entry: dict[str, Any] = {
                "kind": inc.kind,
                "rules": inc.rules,
                "account_id": ACCOUNTS[inc.acct],
            }
            if inc.user is not None:
                u = self.agents[inc.user]
                entry.update({"user": u.id, "user_email": u.email, "user_name": u.name})
            if inc.ip is not None:
                entry["ip"] = inc.ip
            entry["start"], entry["end"] = _iso(inc.start), _iso(inc.end)
            if inc.kind == "silent_source":
                labs = np.flatnonzero(cols["acct"] == 2)
                tl = cols["t"][labs]
                before = labs[tl < inc.start]
                after = labs[tl >= inc.end]
                ids = [self.event_id(int(p)) for p in (before[-1:].tolist() + after[:1].tolist())]
                entry["gap_hours"] = round((inc.end - inc.start) / HOUR_MS, 2)
                if before.size and after.size:
                    entry["observed_gap_hours"] = round(
                        (int(cols["t"][after[0]]) - int(cols["t"][before[-1]])) / HOUR_MS, 2
                    )
            if inc.kind == "brute_force":
                entry.update({"failures": len(inc.extra["fails"]), "attacker_country": inc.extra["attacker"][1]})
            elif inc.kind == "password_spray":
                entry.update({"attempts": len(inc.extra["tries"]), "distinct_users": inc.extra["distinct_users"]})
            elif inc.kind == "impossible_travel":
                entry.update({k: v for k, v in inc.extra.items()})
            elif inc.kind == "mfa_disabled_other":
                x = self.agents[inc.extra["actor"]]
                entry.update({"actor": x.id, "actor_email": x.email, "re_enabled_at": inc.extra["re_enabled_at"]})
            elif inc.kind == "bulk_access_night":
                entry.update({"views": inc.extra["views"], "local_time_zone": inc.extra["local_time_zone"]})
            entry["event_ids"] = ids
            incidents.append(entry)
        spec = asdict(self.spec)
        spec["end"] = _iso(self.p1)
        return {
            "spec": spec,
            "period": {"start": _iso(self.p0), "end": _iso(self.p1)},
            "generated_events": self.n,
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
                    "home_ip": self.ips[a.ip],
                }
                for a in self.agents
            ],
            "incidents": incidents,
            "benign": self.benign,
        }

    def event_id(self, pos: int) -> str:
        return f"{self.prefix}{pos + 1:08d}"

    def batches(self, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        for lo in range(0, self.n, batch_size):
            yield self.build(lo, min(self.n, lo + batch_size))

    def build(self, lo: int, hi: int) -> list[dict[str, Any]]:
        c = {k: v[lo:hi] for k, v in self.cols.items()}
        stamps = np.datetime_as_string(c["t"].astype("datetime64[ms]"), unit="ms").tolist()
        reqs = _uuids(c["req"], self.salt)
        cols = [c[f].tolist() for f in ("act", "agent", "acct", "reason", "ip", "ua", "sess", "tgt", "aux", "spec")]
        atpl = self.atpl[lo:hi].tolist()
        names, accts, ips, uas, sids = _ACTIONS, ACCOUNTS, self.ips, self.uas, self.session_ids
        tpls, specials, agents, prefix = self.actor_tpls, self.buf.specials, self.agents, self.prefix
        conv_actions, self_actions = _CONVERSATION_ACTIONS, _SELF_TARGET_ACTIONS
        a_assign, a_unassign = _A["conversation.assign"], _A["conversation.unassign"]
        a_resolve, a_reopen = _A["conversation.resolve"], _A["conversation.reopen"]
        a_label, a_unlabel, a_macro = _A["label.assign"], _A["label.unassign"], _A["macro.execute"]
        a_msg, a_edit, a_del = _A["message.create"], _A["message.edit"], _A["message.delete"]
        a_mfa = _A["auth.mfa_challenge"]
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
                ev["reason"] = _REASONS[reason]
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
                    if ag == _BOT:
                        metadata = {"message_type": "outgoing", "sender": "bot"}
                    else:
                        metadata = {"message_type": ("outgoing", "private_note", "template")[max(aux, 0)]}
                elif act in (a_label, a_unlabel):
                    metadata = {"label": _LABELS[aux][0]}
                    if ag == _SYSTEM and _LABELS[aux][0] in _RULE_FOR_LABEL:
                        metadata["automation_rule"] = _AUTOMATION_RULES[_RULE_FOR_LABEL[_LABELS[aux][0]]]
                elif act == a_assign:
                    if aux >= 10_000:
                        team = _ACCOUNT_TEAMS[0][aux - 10_000][0]
                        changes = {"team": [None, team]}
                    else:
                        who = agents[aux].id if aux >= 0 else actor.get("id")
                        changes = {"assignee_id": [None, who]}
                        if ag == _SYSTEM:
                            metadata = {"automation_rule": "Round-robin assignment"}
                elif act == a_unassign:
                    changes = {"assignee_id": [actor.get("id"), None]}
                elif act == a_resolve:
                    changes = {"status": ["open", "resolved"]}
                    if ag == _SYSTEM:
                        metadata = {"automation_rule": _AUTOMATION_RULES[2]}
                elif act == a_reopen:
                    changes = {"status": ["resolved", "open"]}
                    if ag == _SYSTEM:
                        metadata = {"trigger": "customer_reply"}
                elif act == a_macro:
                    name, effects, _w = _MACROS[aux]
                    metadata = {
                        "macro_id": aux + 1,
                        "macro_name": name,
                        "effects": [f"{e}:{arg}" if arg else e for e, arg in effects],
                    }
                    if ag == _SYSTEM:
                        metadata["automation_rule"] = _AUTOMATION_RULES[_RULE_FOR_MACRO.get(name, 0)]
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


# --------------------------------------------------------------------------- public API


def generate(spec: DemoSpec, batch_size: int = 50_000) -> tuple[Iterator[list[dict[str, Any]]], dict[str, Any]]:
    """Return (batches of events as JSON-ready dicts in the event contract, ground truth).

    The events come in time order across all batches. The truth holds the spec, the number
    of events, the roster (`agents`), the planted `incidents` (kind, expected rule ids,
    account, user and/or ip, start, end, event ids) and `benign` look-alikes.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    gen = _Generator(spec)
    gen.run()
    return gen.batches(batch_size), gen.truth()


def write_ndjson(spec: DemoSpec, path: Path) -> dict[str, Any]:
    """Write events as NDJSON to path and the truth to path with suffix .truth.json; return truth."""
    path = Path(path)
    batches, truth = generate(spec)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with path.open("w", encoding="utf-8") as fh:
        for batch in batches:
            fh.write("\n".join(dumps(ev) for ev in batch))
            fh.write("\n")
    truth_path = path.with_suffix(".truth.json")
    truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return truth
