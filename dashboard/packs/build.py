"""Build one compliance pack: PDF, CSV, JSON, manifest and ZIP from one snapshot of the filtered view.

`build_pack` is what the report page's job runner, the schedules and `auditdash report` call.
It writes into a folder of its own under the reports directory, reports progress and honours
cancellation between batches; a cancelled or failed pack leaves no files behind. Every pack
built (or refused by an error) is recorded in the audit log itself: `audit.report` when it
holds a PDF, `audit.export` for data files only, with the filters, the row counts and the files.
"""

from __future__ import annotations

import logging
import queue
import secrets
import shutil
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dashboard import __version__, config
from dashboard.config import Settings
from dashboard.evidence import pack_proof
from dashboard.evidence.locations import Locations
from dashboard.packs import charts, csvout, manifest, ndjson, pdf, sections
from dashboard.packs.model import EXTENSIONS, Control, PackCancelled, PackError, PackFile, PackRequest, PackResult
from dashboard.packs.view import PackView, open_view
from dashboard.store import selflog
from dashboard.store.archive import ArchivedInView, month_range
from dashboard.store.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackSettings:
    """What packs need from the configuration."""

    reports_dir: Path = field(default=config.default("reports_dir"))
    organisation: str = field(default=config.default("organisation"))
    verify_max_events: int = field(default=config.default("pack_verify_max_events"))
    settings: Settings | None = None  # the full Settings, for the integrity module's locations

    @classmethod
    def from_settings(cls, settings: Settings) -> PackSettings:
        """The pack settings of the configuration."""
        return cls(
            reports_dir=Path(settings.reports_dir),
            organisation=settings.organisation,
            verify_max_events=settings.pack_verify_max_events,
            settings=settings,
        )


def new_pack_id(now: datetime) -> str:
    """`20261126-051900-3fa9c2`: sortable, unique, safe in a file name and a URL."""
    return f"{now.astimezone(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


#: how the PDF's note names a chart that could not be drawn
CHART_TITLES = {
    "timeline": "activity over time",
    "heatmap": "failed logins by weekday and hour",
    "top_users": "busiest users",
    "reasons": "failures by reason",
    "top_actions": "most frequent actions",
    "user_days": "failed logins by user and day",
    "map": "the map",
}


def _figure(name: str, values: dict[str, Any], tz: str) -> charts.Chart | None:
    """The dashboard's figure (dashboard.figures) for one chart of the PDF, or None when it has no data."""
    from dashboard import figures

    value = values[name]
    if name == "timeline":
        t = value
        return charts.Chart(figures.timeline_figure(t.frame, t.bucket.seconds, t.bucket.per, t.start, t.end, tz))
    if name == "heatmap":
        return charts.Chart(figures.weekday_hour_heatmap(value, tz), height=340)
    if name == "map":
        if not (value.placed or value.country_only):
            return None
        if not charts.maps_drawable():
            log.warning("map outlines not found in %s: the PDF has no map", charts.TOPOJSON_DIR)
            return None
        title = "Events by place (size: events; colour: share failed)"
        return charts.Chart(figures.ip_map(value.points, value.countries, title=title), height=480)
    if value.empty:
        return None
    if name == "top_users":
        labels = [str(n or i) for n, i in zip(value["actor_name"], value["actor_id"], strict=True)]
        figure = figures.ranking_figure(labels, list(value["events"]), "Busiest users", keys=list(value["actor_id"]))
        return charts.Chart(figure, height=max(260, 70 + 30 * len(labels)))
    if name == "top_actions":
        colors = [figures.CATEGORY_COLORS.get(c, figures.CATEGORY_COLORS["other"]) for c in value["category"]]
        figure = figures.ranking_figure(
            list(value["action"]), list(value["events"]), "Most frequent actions", colors=colors
        )
        return charts.Chart(figure, height=max(260, 70 + 30 * len(value)))
    if name == "reasons":
        return charts.Chart(figures.reasons_figure(value), height=300)
    if name == "user_days":
        t = values["timeline"]
        figure = figures.user_day_heatmap(value, t.start.date(), t.end.date(), tz)
        return charts.Chart(figure, height=max(300, 110 + 24 * value["actor_id"].nunique()))
    raise ValueError(f"no figure for {name}")  # pragma: no cover - chart_steps and this agree


class _Drawer(threading.Thread):
    """Draws charts as their data arrives (kaleido's browser works while the database reads)."""

    def __init__(self, session: charts.Session, pack_id: str) -> None:
        super().__init__(name=f"pack-charts-{pack_id}", daemon=True)
        self.session = session
        self.todo: queue.Queue[tuple[str, charts.Chart] | None] = queue.Queue()
        self.images: dict[str, bytes] = {}
        self.failed: dict[str, Exception] = {}

    def run(self) -> None:
        # A chart that fails does not stop the others (without a browser they all fail at once).
        while (item := self.todo.get()) is not None:
            name, chart = item
            try:
                (self.images[name],) = self.session.render([chart])
            except (charts.ChartError, ImportError) as exc:
                self.failed[name] = exc

    def note(self) -> str | None:
        """What the PDF says about charts that could not be drawn (None: all were)."""
        if not self.failed:
            return None
        if not self.images:
            reason = next(iter(self.failed.values()))
            return f"The charts could not be drawn on this server ({reason}); every figure is in the tables."
        names = ", ".join(CHART_TITLES.get(n, n) for n in self.failed)
        return f"Some charts could not be drawn on this server ({names}); their figures are in the tables and notes."


def _write_pdf(
    view: PackView,
    request: PackRequest,
    ps: PackSettings,
    path: Path,
    pack_id: str,
    integrity: sections.Integrity,
    control: Control,
    weight: tuple[float, float],
    session: charts.Session,
    from_archive: str | None = None,
    not_included: str | None = None,
) -> PackFile:
    base, span = weight
    control.report("PDF: reading the charts' data and drawing them", base)
    drawer = _Drawer(session, pack_id)
    drawer.start()
    try:
        values: dict[str, Any] = {}
        for name, step in sections.chart_steps(view, request.masked):
            values[name] = step()
            chart = _figure(name, values, view.filters.tz)
            if chart is not None:
                drawer.todo.put((name, chart))
            control.check()
        control.report("PDF: reading the tables", base + span * 0.4)
        data = sections.gather(view, request.masked, sections.ChartData(**values))
    finally:
        drawer.todo.put(None)
        drawer.join()
    images = drawer.images
    for name, exc in drawer.failed.items():
        log.warning("pack %s: chart %s: %s", pack_id, name, exc)
    note = drawer.note()
    control.check()
    control.report("PDF: laying out the pages", base + span * 0.8)
    generated = view.now
    cover = pdf.Cover(
        title=request.title,
        organisation=ps.organisation,
        period=view.period_text(),
        tz=view.filters.tz,
        filters=view.filters.describe(view.now),
        events=view.events,
        generated_by=request.requested_by,
        role=request.role,
        generated_local=generated.astimezone(view.filters.zone),
        generated_utc=generated.astimezone(UTC).replace(tzinfo=None),
        version=__version__,
        integrity=integrity,
        pack_id=pack_id,
        masked=request.masked,
        csv_in_pack="csv" in request.file_formats,
        schedule=request.schedule,
        from_archive=from_archive,
        not_included=not_included,
    )
    pdf.write_pdf(path, cover, data, images, note)
    control.report("PDF: done", base + span)
    return manifest.describe_file(path, "pdf")


def from_archive_text(found: ArchivedInView) -> str:
    """The words packs and the report page use for events of the view read from archived months."""
    months = found.months[0] if len(found.months) == 1 else f"{found.months[0]} to {found.months[-1]}"
    return f"{found.events:,} events of this view are read from the archive ({months})"


def restore_command(months: tuple[str, ...]) -> str:
    """The command that brings archived `months` (YYYY-MM, oldest first) back into the store."""
    first, _ = month_range(months[0])
    _, after = month_range(months[-1])
    return f"auditdash archive restore --from {first:%Y-%m-%d} --to {after - timedelta(days=1):%Y-%m-%d}"


def not_included_text(found: ArchivedInView) -> str:
    """The words packs and the report page use for events of the view in archived months that the
    pack cannot read (a PostgreSQL store): which months, how many events, how to include them."""
    months = found.months[0] if len(found.months) == 1 else f"{found.months[0]} to {found.months[-1]}"
    return (
        f"{found.events:,} events of this view are in archived months ({months}) and are NOT included: "
        "a pack from a PostgreSQL store cannot read archived months in place. To include them, restore "
        f"the months first ({restore_command(found.months)}), then build the pack again."
    )


def not_included_json(found: ArchivedInView) -> dict[str, Any]:
    """For pack headers and manifests: what `not_included_text` says."""
    return {**found.to_json(), "included": False, "restore": restore_command(found.months)}


def _header(
    view: PackView,
    request: PackRequest,
    ps: PackSettings,
    pack_id: str,
    archived: ArchivedInView | None = None,
    not_included: ArchivedInView | None = None,
) -> dict[str, Any]:
    """What the pack is: shared by the NDJSON header line and the manifest."""
    extra: dict[str, Any] = {"from_archive": archived.to_json()} if archived else {}
    if not_included:
        extra["archived_not_included"] = not_included_json(not_included)
    return {
        "pack_id": pack_id,
        "title": request.title,
        "organisation": ps.organisation,
        "generated_at": view.now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generated_at_local": view.now.astimezone(view.filters.zone).isoformat(timespec="seconds"),
        "generated_by": request.requested_by,
        "role": request.role,
        "product": "auditdash",
        "product_version": __version__,
        "schedule": request.schedule,
        "filters": {
            "words": view.filters.describe(view.now),
            "query": view.filters.to_query(),
            "values": view.filters.to_store(),
        },
        "time_zone": view.filters.tz,
        "period": view.period_json(),
        "counts": {"events": view.events},
        "snapshot_seq": view.snapshot_seq,
        "masked": request.masked,
        **extra,
    }


def build_pack(db: Database, ps: PackSettings, request: PackRequest, control: Control | None = None) -> PackResult:
    """Build the pack, record it in the audit log, and return its files.

    Raises:
        PackCancelled: cancel() was called (the folder is removed).
        PackError: the pack could not be built (the folder is removed; the refusal is recorded).
    """
    control = control or Control()
    clock = time.monotonic()
    now = request.resolved_now()
    pack_id = new_pack_id(now)
    folder = ps.reports_dir / pack_id
    folder.mkdir(parents=True, exist_ok=False)
    stem = f"auditdash-{pack_id}"
    formats = request.file_formats
    action = "audit.report" if "pdf" in formats else "audit.export"
    # archived months of the period are read in place (without settings: the hot store only)
    archive = Locations.resolve(ps.settings, db.path) if ps.settings is not None else None
    try:
        # the chart browser boots while the queries run
        with (
            charts.Session() if "pdf" in formats else nullcontext(charts.Session()) as session,
            open_view(db, request.filters, now, archive) as view,
        ):
            control.report("checking the integrity of the period", 0.01)
            integrity = sections.integrity_state(db, view, ps.settings, ps.verify_max_events, verify="pdf" in formats)
            control.check()
            archived = view.from_archive if view.from_archive.events else None
            not_included = view.not_included if view.not_included.events else None
            header = _header(view, request, ps, pack_id, archived, not_included)
            # progress shares: the PDF is a fixed step, CSV and JSON grow with the rows, the ZIP with the bytes
            shares = {"pdf": 1.0, "csv": 2.0, "json": 2.0, "ocsf": 6.0}
            total = sum(shares[f] for f in formats) + (2.0 if request.zipped else 0.0)
            position = 0.02
            files: list[PackFile] = []
            for fmt in formats:
                span = 0.96 * shares[fmt] / total
                path = folder / f"{stem}.{EXTENSIONS[fmt]}"
                if fmt == "pdf":
                    files.append(
                        _write_pdf(
                            view,
                            request,
                            ps,
                            path,
                            pack_id,
                            integrity,
                            control,
                            (position, span),
                            session,
                            from_archive_text(archived) if archived is not None else None,
                            not_included_text(not_included) if not_included is not None else None,
                        )
                    )
                elif fmt == "csv":
                    files.append(csvout.write_csv(view, path, request.masked, control, (position, span)))
                elif fmt == "ocsf":
                    files.append(ndjson.write_ocsf(view, path, control, (position, span)))
                else:
                    files.append(ndjson.write_ndjson(view, path, header, control, (position, span)))
                position += span
                control.check()
            # ZIP packs carry the proof an auditor verifies offline (masked packs: no stored values)
            proof_data = None
            if request.zipped and not request.masked:
                control.report("proof: the chain of every event", position)
                with view.on_duckdb() as proof_view:
                    proof_data = pack_proof.collect(proof_view, folder, archive, control)
            events = view.events
        proof_summary: dict[str, Any] | None = None
        if proof_data is not None:
            where = archive or Locations.resolve(Settings(), db.path)
            view_doc = {k: header[k] for k in pack_proof.VIEW_KEYS}
            proof_files, proof_summary = pack_proof.write_proof(db, where, folder, proof_data, view_doc)
            files.extend(PackFile(f.name, f.kind, f.size, f.sha256, None) for f in proof_files)
        doc: dict[str, Any] = {
            "format": manifest.MANIFEST_FORMAT,
            **header,
            "integrity": integrity.to_json(),
            "columns_left_out": [c.name for c in csvout.COLUMNS if c.raw_json] if request.masked else [],
            "files": [f.to_json() for f in files],
            "manifest_file": manifest.MANIFEST_NAME,
        }
        if request.zipped:
            doc["proof"] = proof_summary or {"included": False, "reason": "masked packs carry no proof"}
        doc["counts"] = {"events": events, **{f"{f.kind}_rows": f.rows for f in files if f.rows is not None}}
        manifest.write_json(folder / manifest.MANIFEST_NAME, doc)
        deliverables = [f.name for f in files]
        if request.zipped:
            signed = []
            if proof_data is not None:
                signature = pack_proof.sign_manifest(where, (folder / manifest.MANIFEST_NAME).read_bytes())
                if signature is not None:
                    manifest.write_json(folder / pack_proof.SIGNATURE_NAME, signature)
                    signed = [pack_proof.SIGNATURE_NAME]
            zip_entry = manifest.write_zip(
                folder / f"{stem}.zip",
                folder,
                files,
                manifest.MANIFEST_NAME,
                control,
                (position, 0.98 - position),
                extra=signed,
            )
            for name in [*(f.name for f in files), *signed]:  # the archive holds them; keep the folder small
                (folder / name).unlink()
            if (folder / pack_proof.PROOF_DIR).is_dir():
                (folder / pack_proof.PROOF_DIR).rmdir()
            doc["archive"] = zip_entry.to_json()
            manifest.write_json(folder / manifest.MANIFEST_NAME, doc)
            deliverables = [zip_entry.name]
        deliverables.append(manifest.MANIFEST_NAME)
    except PackCancelled:
        shutil.rmtree(folder, ignore_errors=True)
        _record(db, request, action, pack_id, outcome="failure", reason="cancelled by the user")
        raise
    except BaseException as exc:  # interrupted (Ctrl+C) or failed: no partial pack stays behind
        shutil.rmtree(folder, ignore_errors=True)
        reason = str(exc) if isinstance(exc, PackError) else f"{type(exc).__name__}: {exc}"
        _record(db, request, action, pack_id, outcome="failure", reason=reason[:256] or type(exc).__name__)
        if isinstance(exc, PackError) or not isinstance(exc, Exception):
            raise
        raise PackError(f"the pack could not be built: {reason}") from exc
    control.report("done", 1.0)
    result = PackResult(
        pack_id=pack_id,
        folder=folder,
        events=events,
        files=files,
        manifest=doc,
        deliverables=deliverables,
        seconds=time.monotonic() - clock,
    )
    try:
        _record(
            db,
            request,
            action,
            pack_id,
            metadata=_metadata(request, doc, files, events, integrity),
        )
    except Exception as exc:
        # PCI DSS 10.2.1.3: access to the audit log is logged; a pack that cannot be recorded is withheld.
        shutil.rmtree(folder, ignore_errors=True)
        raise PackError(f"the pack could not be recorded in the audit log, so it was not kept: {exc}") from exc
    return result


def _metadata(
    request: PackRequest, doc: dict[str, Any], files: list[PackFile], events: int, integrity: sections.Integrity
) -> dict[str, Any]:
    return {
        "formats": list(request.formats),
        "filters": doc["filters"]["query"],
        "filters_words": doc["filters"]["words"],
        "period": doc["period"],
        "events": events,
        "rows": {f.name: f.rows for f in files if f.rows is not None},
        "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in files],
        "archive": doc.get("archive", {}).get("name"),
        "masked": request.masked,
        "schedule": request.schedule,
        "integrity": integrity.state,
    }


def _record(
    db: Database,
    request: PackRequest,
    action: str,
    pack_id: str,
    outcome: str = "success",
    reason: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write the pack's audit event; a failure to record is logged loudly, never hidden."""
    meta = metadata or {"formats": list(request.formats), "filters": request.filters.to_query()}
    try:
        selflog.record(
            db,
            action,
            request.actor.name,
            **{**request.actor.audit(), "role": request.role},
            outcome=outcome,
            reason=reason,
            target_type="pack",
            target_id=pack_id,
            target_name=f"auditdash-{pack_id}",
            metadata=meta,
        )
    except Exception:
        if outcome == "success":
            raise
        log.exception("could not record the refused pack %s in the audit log", pack_id)
