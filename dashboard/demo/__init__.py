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

Where each part lives: `spec` (what to generate), `catalog` (accounts, teams, names, devices,
labels, macros and the other catalogues), `places` (time zones, distances), `people` (the
roster), `sessions` (the session plan), `logins`, `desk`/`admin`/`workspace`/`staff` (the
administrative changes), `automation` (the platform's own events), `activity` (agents at
work), `incidents/` (one module per family of planted incidents), `columns` (how events are
held), `assemble` (ordered, with actors), `render` (rows to event dicts), `truth` (the ground
truth), `clock`, `ids` (time and identifiers), `world` (the parts all stages share), `generator` (the
order of it all), `output` (`write_ndjson`).
"""

from dashboard.demo.generator import generate
from dashboard.demo.output import write_ndjson
from dashboard.demo.spec import DemoSpec

__all__ = ["DemoSpec", "generate", "write_ndjson"]
