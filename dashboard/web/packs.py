"""Packs in the server: the job queue, the schedules' job, and the download route.

`install_packs(app, state)` is one of the app's installers (dashboard/web/app.py). It keeps a
`PackService` (the queue and its worker thread) and a `ScheduleRunner` in the Flask app's
extensions, registers `packs.schedules` with the in-process scheduler, and serves
`/report/download/<pack id>/<file>`, which checks the session's viewer against the pack's
manifest (its author, administrators, and unmasked roles for scheduled packs).
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import flask
from werkzeug.wrappers import Response

from dashboard.access import saved_views
from dashboard.packs.build import PackSettings
from dashboard.packs.jobs import PackService, may_download
from dashboard.packs.mail import SmtpConfig
from dashboard.packs.model import MEDIA_TYPES, PackRequest
from dashboard.packs.schedule import ScheduleRunner, parse_schedules
from dashboard.store import selflog
from dashboard.web.access import viewer
from dashboard.web.state import AppState

log = logging.getLogger(__name__)

SERVICE_KEY = "auditdash.packs"
RUNNER_KEY = "auditdash.packs.schedules"
DOWNLOAD_PREFIX = "/report/download"
#: how long a scheduled build may take before the schedule reports it as failed (the pack goes on).
SCHEDULED_BUILD_TIMEOUT_S = 3600.0


def service() -> PackService:
    """The pack queue of the app serving this request."""
    found: PackService = flask.current_app.extensions[SERVICE_KEY]
    return found


def runner() -> ScheduleRunner:
    """The schedules of the app serving this request."""
    found: ScheduleRunner = flask.current_app.extensions[RUNNER_KEY]
    return found


def download_url(pack_id: str, name: str) -> str:
    """Where the page links a file of a pack."""
    return f"{DOWNLOAD_PREFIX}/{pack_id}/{name}"


def submit_and_wait(
    svc: PackService, request: PackRequest, timeout: float = SCHEDULED_BUILD_TIMEOUT_S
) -> tuple[str | None, str | None]:
    """Queue a pack behind the others and wait for it: (pack id, None) or (None, why)."""
    job = svc.submit(request)
    if not job.finished.wait(timeout):
        return None, f"still building after {timeout:.0f} s (job {job.id})"
    if job.result is None:
        return None, job.error or job.state
    return job.result.pack_id, None


def _download(pack_id: str, name: str) -> Response:
    v = viewer()
    svc = service()
    manifest = svc.manifest(pack_id)
    if manifest is None:
        flask.abort(404)
    if not may_download(manifest, v.username, v.role, v.can_export, v.masked):
        flask.abort(403)
    path = svc.file_for(pack_id, name)
    if path is None:
        flask.abort(404)
    kind = next((f.get("kind") for f in manifest.get("files", []) if f.get("name") == name), None)
    if name.endswith(".zip"):
        kind = "zip"
    elif name == manifest.get("manifest_file", "manifest.json"):
        kind = "manifest"
    try:
        from dashboard.web.auth import request_actor

        actor = request_actor()
        selflog.record(
            svc.db,
            "audit.export",
            actor.name,
            **actor.audit(),
            target_type="pack",
            target_id=pack_id,
            target_name=name,
            metadata={"download": name, "pack_id": pack_id, "events": manifest.get("counts", {}).get("events")},
        )
    except Exception:  # PCI DSS 10.2.1.3: no unrecorded access to the log
        log.exception("could not record the download of %s/%s", pack_id, name)
        flask.abort(503)
    download_name = name if name != "manifest.json" else f"auditdash-{pack_id}-manifest.json"
    return flask.send_file(
        path.absolute(),  # Flask resolves a relative path under the app's package folder, not the cwd
        mimetype=MEDIA_TYPES.get(kind or "", "application/octet-stream"),
        as_attachment=True,
        download_name=download_name,
        max_age=0,
    )


def install_packs(app: dash.Dash, st: AppState) -> None:
    """Wire the pack queue, the schedules and the download route into the app."""
    server = app.server
    settings = st.settings
    pack_settings = PackSettings.from_settings(settings)
    svc = PackService(st.db, pack_settings)
    schedules = parse_schedules(settings.pack_schedules)  # a bad entry stops the start, with its reason
    sched_runner = ScheduleRunner(
        schedules,
        pack_settings.reports_dir,
        submit=lambda request: submit_and_wait(svc, request),
        smtp=SmtpConfig.from_settings(settings),
        manifest_of=svc.manifest,
        view_query=lambda view_id: saved_views.query_of(st.db, view_id),
    )
    server.extensions[SERVICE_KEY] = svc
    server.extensions[RUNNER_KEY] = sched_runner
    if schedules:
        st.scheduler.add("packs.schedules", 60.0, sched_runner.tick, first_delay_s=10.0)
    server.add_url_rule(f"{DOWNLOAD_PREFIX}/<pack_id>/<name>", "report_download", _download, methods=["GET"])


def _view_name(view_id: str | None) -> str | None:
    """The name of a schedule's saved view (None without one; "deleted" when it is gone)."""
    if not view_id:
        return None
    found = saved_views.name_of(service().db, view_id)
    return found if found is not None else "deleted"


def page_state() -> dict[str, Any]:
    """Schedules and deliveries for the report page."""
    r = runner()
    book = r.book()
    return {
        "schedules": [
            {
                **s.to_json(),
                **(book.schedules[s.name].__dict__ if s.name in book.schedules else {}),
                "view_name": _view_name(s.view),
            }
            for s in r.schedules
        ],
        "outbox": [d.__dict__ for d in reversed(book.outbox)],
        "smtp": r.smtp.configured,
    }
