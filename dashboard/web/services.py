"""The server's background work, wired at start (each `install_*` is one of the app's
installers, dashboard/web/app.py): detection (the ingest listener, scheduled runs and
notification delivery), retention (scheduled purge, checkpoints and verification), the
Chatwoot connector's scheduled pulls and the streams to SIEMs (a job per destination). The
services themselves live in detect/, retention/, evidence/, ingest/ and stream/; this module
only registers them with the in-process scheduler.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

import dash
import flask

from dashboard.access.users import Actor
from dashboard.config import ConfigError, Settings
from dashboard.detect.service import DetectionService, build_service
from dashboard.evidence.checkpoints import write_checkpoint
from dashboard.evidence.locations import Locations
from dashboard.evidence.status import scheduled_verify
from dashboard.ingest.chatwoot_api import ChatwootError, ChatwootSource, pull
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.stream.destinations import StreamConfigError
from dashboard.stream.service import StreamService
from dashboard.web.state import AppState

log = logging.getLogger(__name__)

#: where the app keeps its detection service (Flask extensions)
DETECTION_KEY = "auditdash.detect"
#: where the app keeps its stream service (Flask extensions)
STREAMS_KEY = "auditdash.streams"


def detection() -> DetectionService:
    """The detection service of the app serving the current request."""
    found: DetectionService = flask.current_app.extensions[DETECTION_KEY]
    return found


def install_detection(app: dash.Dash, state: AppState) -> None:
    """Installer: rules checked at start, ingest listener, scheduled detection and delivery."""
    settings: Settings = state.settings
    service = build_service(state.db, settings)
    app.server.extensions[DETECTION_KEY] = service
    state.ingestor.listeners.append(service.on_stored)
    scheduler = state.scheduler
    if settings.detect_interval_s > 0:
        scheduler.add("detect", settings.detect_interval_s, service.run_incremental, first_delay_s=2.0)
    if settings.silence_check_s > 0:
        scheduler.add("detect-silence", settings.silence_check_s, service.check_silence, first_delay_s=60.0)
    if settings.deadline_check_s > 0:
        grace = timedelta(seconds=max(0, settings.deadline_grace_s))
        scheduler.add(
            "detect-deadlines",
            settings.deadline_check_s,
            lambda: service.check_deadlines(grace=grace),
            first_delay_s=90.0,
        )
    notifier = service.notifier
    if notifier is not None and notifier.config.channels():
        scheduler.add("notify", 5, notifier.deliver_due, first_delay_s=3.0)
        if settings.digest_interval_s > 0:
            scheduler.add("notify-digest", settings.digest_interval_s, notifier.make_digest, settings.digest_interval_s)


def install_retention(app: dash.Dash, state: AppState) -> None:
    """Register the scheduled purge, checkpoint and verification jobs of the server."""
    settings, db = state.settings, state.db
    where = Locations.resolve(settings, db.path)
    policy = RetentionPolicy.from_settings(settings)
    system = Actor("system")
    if settings.purge_interval_s > 0:
        state.scheduler.add(
            "retention.purge",
            settings.purge_interval_s,
            lambda: run_purge(db, where, policy, system),
            first_delay_s=min(600.0, settings.purge_interval_s),
        )
    if settings.checkpoint_interval_s > 0:
        state.scheduler.add(
            "integrity.checkpoint",
            settings.checkpoint_interval_s,
            lambda: write_checkpoint(db, where, "scheduled", only_if_moved=True),
            first_delay_s=min(60.0, settings.checkpoint_interval_s),
        )
    if settings.verify_interval_s > 0:
        # At start, in the background: the events since the newest checkpoint, so a store changed
        # while the server was down is not served unchecked until the first full verification.
        state.scheduler.add("integrity.verify-start", 0, lambda: scheduled_verify(db, where, tail=True), 0.0, once=True)
        state.scheduler.add(
            "integrity.verify",
            settings.verify_interval_s,
            lambda: scheduled_verify(db, where),
            first_delay_s=min(900.0, settings.verify_interval_s),
        )


def install_chatwoot(app: dash.Dash, st: AppState) -> None:
    """Pull on a schedule in the server when the connector is configured (a bad setting stops the start)."""
    try:
        source = ChatwootSource.from_settings(st.settings)
    except ChatwootError as exc:
        raise ConfigError(f"the Chatwoot connector: {exc}") from exc
    if source is None or st.settings.chatwoot_interval_s <= 0:
        return
    log.info("chatwoot: pulling %s every %s s", source.source, st.settings.chatwoot_interval_s)
    st.scheduler.add(
        "connector.chatwoot",
        st.settings.chatwoot_interval_s,
        lambda: pull(st.db, st.ingestor, source),
        first_delay_s=min(10.0, float(st.settings.chatwoot_interval_s)),
    )


def streams() -> StreamService | None:
    """The stream service of the app serving the current request (None: streaming not installed)."""
    found: StreamService | None = flask.current_app.extensions.get(STREAMS_KEY)
    return found


def install_streams(app: dash.Dash, st: AppState) -> None:
    """One job per destination of `AUDITDASH_STREAMS` (a bad file stops the start) and per
    destination made on the Streams page (added and deleted there while the server runs); lag
    alerts go through the detection service's alert store, so they are notified like any alert."""
    service_detect: DetectionService | None = app.server.extensions.get(DETECTION_KEY)
    try:
        service = StreamService.from_settings(st.db, st.settings, service_detect.alerts if service_detect else None)
    except StreamConfigError as exc:
        raise ConfigError(str(exc)) from exc
    app.server.extensions[STREAMS_KEY] = service
    for said in service.sync_config():
        log.info("%s", said)

    def reconcile(name: str, running: bool) -> None:
        # a destination added or deleted on the Streams page: its job starts or stops, no restart
        if running:
            st.scheduler.add(f"stream.{name}", 1.0, functools.partial(service.cycle, name), first_delay_s=0.0)
        else:
            st.scheduler.remove(f"stream.{name}")

    service.listeners.append(reconcile)
    for name in service.streams:
        st.scheduler.add(f"stream.{name}", 1.0, functools.partial(service.cycle, name), first_delay_s=3.0)
