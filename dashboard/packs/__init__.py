"""Compliance packs: the current filtered view as a PDF report, CSV, NDJSON, manifest and ZIP.

`build.build_pack` builds one pack from one snapshot of the database; `jobs.PackService` runs
packs as jobs of the server (the report page), `schedule` runs daily, weekly and monthly packs
and e-mails them. `auditdash report` is dashboard/cli/report.py, the queue and download route in
the server dashboard/web/packs.py. See docs/packs.md.
"""
