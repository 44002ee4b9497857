"""The PDF report of a pack (reportlab): cover, summary, charts, analyses, appendix.

Every page has its number ("Page 3 of 12") and the pack id; tables repeat their header rows
on each page and are capped at `sections.MAX_TABLE_ROWS` rows with a note pointing to the
CSV, which has every event. Text is real text (pdftotext extracts it); charts are images
drawn by the dashboard's own figure functions. A TrueType font with wide coverage (DejaVu
Sans when installed, else Bitstream Vera shipped with reportlab) is embedded, so names in
any Latin, Greek or Cyrillic script print as they are.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from dashboard.events.taxonomy import CATEGORY_TITLES
from dashboard.figures import map_note
from dashboard.packs.sections import Capped, Integrity, ReportData, local_text

#: section titles, in order (tests look for them in the extracted text).
SECTION_TITLES: dict[str, str] = {
    "summary": "Summary",
    "failed_logins": "Failed-login analysis",
    "privilege": "Privilege and role changes",
    "config": "Configuration changes",
    "alerts": "Alerts and their review",
    "audit": "Access to the audit log",
    "appendix": "Appendix: compliance mapping",
}

#: what the pack shows for each requirement (docs/packs.md repeats this table).
COMPLIANCE_MAPPING: tuple[tuple[str, str, str], ...] = (
    (
        "PCI DSS 10.2.1",
        "Audit logs capture user access, administrator actions, access to the audit logs, invalid "
        "access attempts, changes to credentials and the creation or deletion of objects.",
        "Every matching event (CSV and JSON files); Failed-login analysis (10.2.1.4); Privilege and role "
        "changes and credential changes (10.2.1.2, 10.2.1.5); Access to the audit log (10.2.1.3); "
        "Configuration changes (10.2.1.7).",
    ),
    (
        "PCI DSS 10.2.2",
        "Each entry records user identification, type of event, date and time, success or failure, "
        "origin of the event and the affected data, component or resource.",
        "CSV columns actor_id / actor_name (user), action and category (type), occurred_at with its UTC "
        "offset and occurred_at_utc (date and time), outcome (success or failure), ip and geo_country "
        "(origin), target_type / target_id / target_name (affected resource).",
    ),
    (
        "SOC 2 CC7.2",
        "Monitor system components for anomalies that indicate malicious acts, unauthorised actions of "
        "authorised staff and use of compromised credentials; filters to analyse anomalies.",
        "Failed-login analysis (heatmap, top sources, failing users), Alerts and their review status, "
        "Privilege and role changes; the filters on the cover state how the events were selected.",
    ),
    (
        "ISO/IEC 27001:2022 A.8.15",
        "Logs record user ids, activities, dates and times, device identity and location and network "
        "addresses, and are protected from alteration.",
        "CSV columns actor_id, action, occurred_at, user_agent, geo_country / geo_city, ip; the integrity "
        "statement on the cover and the chain head in the manifest show the log was not altered.",
    ),
)

# Binary streams: ASCII85 encoding of the chart images is pure Python here and costs seconds.
rl_config.useA85 = 0

INK = colors.HexColor("#1f2937")
MUTED = colors.HexColor("#6b7280")
RULE = colors.HexColor("#d1d5db")
HEAD_BG = colors.HexColor("#f3f4f6")
STATE_COLORS = {"verified": "#166534", "broken": "#b91c1c", "not verified": "#92400e"}


# -- fonts -----------------------------------------------------------------------------------------
_FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)


def _fonts() -> tuple[str, str]:
    """Register (once) and return the regular and bold font names."""
    if "PackSans" in pdfmetrics.getRegisteredFontNames():
        return "PackSans", "PackSans-Bold"
    import reportlab

    vera = Path(reportlab.__file__).parent / "fonts"
    candidates = [*_FONT_CANDIDATES, (str(vera / "Vera.ttf"), str(vera / "VeraBd.ttf"))]
    for regular, bold in candidates:
        if Path(regular).exists() and Path(bold).exists():
            pdfmetrics.registerFont(TTFont("PackSans", regular))
            pdfmetrics.registerFont(TTFont("PackSans-Bold", bold))
            return "PackSans", "PackSans-Bold"
    return "Helvetica", "Helvetica-Bold"  # pragma: no cover - reportlab always ships Vera


def _arrow(font: str) -> str:
    try:
        face = pdfmetrics.getFont(font).face
        return " → " if 0x2192 in getattr(face, "charToGlyph", {}) else " -> "
    except (KeyError, AttributeError):  # pragma: no cover
        return " -> "


@dataclass(frozen=True)
class Styles:
    """The paragraph styles of the report."""

    font: str
    bold: str
    body: ParagraphStyle
    small: ParagraphStyle
    cell: ParagraphStyle
    head: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    title: ParagraphStyle
    note: ParagraphStyle


def styles() -> Styles:
    """Build the styles (fonts registered on first use)."""
    font, bold = _fonts()
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13, textColor=INK, alignment=TA_LEFT)
    return Styles(
        font=font,
        bold=bold,
        body=body,
        small=ParagraphStyle("small", parent=body, fontSize=8, leading=10.5, textColor=MUTED),
        cell=ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9.5),
        head=ParagraphStyle("head", parent=body, fontName=bold, fontSize=7.5, leading=9.5),
        h1=ParagraphStyle("h1", parent=body, fontName=bold, fontSize=15, leading=19, spaceBefore=4, spaceAfter=8),
        h2=ParagraphStyle("h2", parent=body, fontName=bold, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4),
        title=ParagraphStyle("title", parent=body, fontName=bold, fontSize=24, leading=30, spaceAfter=6),
        note=ParagraphStyle(
            "note", parent=body, fontSize=8.5, leading=11, textColor=colors.HexColor("#92400e"), spaceBefore=3
        ),
    )


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text if text is not None else "")), style)


def _clip(text: Any, limit: int = 240) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


# -- the document ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cover:
    """What the cover states."""

    title: str
    organisation: str
    period: str
    tz: str
    filters: str
    events: int
    generated_by: str
    role: str
    generated_local: datetime
    generated_utc: datetime
    version: str
    integrity: Integrity
    pack_id: str
    masked: bool
    csv_in_pack: bool
    schedule: str | None = None
    from_archive: str | None = None  # events of the view read from archived months, in words
    not_included: str | None = None  # events of the view in archived months the pack could not read, in words


def generated_text(local: datetime, utc: datetime, tz: str) -> str:
    """When the pack was made, once: in the pack's zone (named), and in UTC only when that differs.

    `2026-05-04 14:03:07 UTC`; `2026-05-04 16:03:07 Europe/Berlin (14:03:07 UTC)`; the UTC date is
    written too when it is another day than the local one.
    """
    shown = f"{local:%Y-%m-%d %H:%M:%S}"
    if local.replace(tzinfo=None) == utc.replace(tzinfo=None):
        return f"{shown} {'UTC' if tz in ('UTC', 'Etc/UTC') else tz}"
    other = f"{utc:%H:%M:%S}" if utc.date() == local.date() else f"{utc:%Y-%m-%d %H:%M:%S}"
    return f"{shown} {tz} ({other} UTC)"


class _NumberedCanvas(Canvas):
    """Draws "Page n of N" and the pack id on every page, once the page count is known."""

    footer = ""
    font = "Helvetica"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._footer(total)
            super().showPage()
        super().save()

    def _footer(self, total: int) -> None:
        width, _ = A4
        self.saveState()
        self.setFont(self.font, 7.5)
        self.setFillColor(MUTED)
        self.drawString(18 * mm, 10 * mm, self.footer)
        self.drawRightString(width - 18 * mm, 10 * mm, f"Page {self._pageNumber} of {total}")
        self.restoreState()


def _canvas_class(footer: str, font: str) -> type[_NumberedCanvas]:
    return type("PackCanvas", (_NumberedCanvas,), {"footer": footer, "font": font})


def _table(
    st: Styles,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    numeric: Sequence[int] = (),
    clip: int = 240,
) -> Table:
    """A table whose header row repeats on every page.

    Cells that fit on one line are plain strings (drawn as they are); longer ones become
    paragraphs that wrap. Paragraphs cost reportlab about 50 times more, and most cells are short.
    """
    right = ParagraphStyle("num", parent=st.cell, alignment=TA_RIGHT)
    right_head = ParagraphStyle("numhead", parent=st.head, alignment=TA_RIGHT)
    data: list[list[Any]] = [[_p(h, right_head if i in numeric else st.head) for i, h in enumerate(header)]]
    # characters that surely fit: a wide glyph is about 0.62 em, less the cell's padding
    fits = [max(int((w - 6) / (st.cell.fontSize * 0.62)), 1) for w in widths]
    for row in rows:
        cells: list[Any] = []
        for i, value in enumerate(row):
            text = _clip(value, clip)
            if len(text) <= fits[i] and "\n" not in text:
                cells.append(text)
            else:
                cells.append(_p(text, right if i in numeric else st.cell))
        data.append(cells)
    table = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    style = [
        ("FONT", (0, 1), (-1, -1), st.font, st.cell.fontSize, st.cell.leading),
        ("TEXTCOLOR", (0, 1), (-1, -1), INK),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for col in numeric:
        style.append(("ALIGN", (col, 0), (col, -1), "RIGHT"))
    table.setStyle(TableStyle(style))
    return table


class _Row:
    """A table row with attribute access (values typed Any: they come from DataFrames)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)

    def __getattr__(self, name: str) -> Any:  # only called for missing names
        raise AttributeError(name)


def _rows(frame: pd.DataFrame) -> list[Any]:
    return [_Row({str(k): v for k, v in rec.items()}) for rec in frame.to_dict("records")]


def _num(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


class _Report:
    def __init__(self, cover: Cover, data: ReportData, images: dict[str, bytes], chart_note: str | None) -> None:
        self.cover = cover
        self.data = data
        self.images = images
        self.chart_note = chart_note
        self.st = styles()
        self.arrow = _arrow(self.st.font)
        self.width = A4[0] - 36 * mm
        self.story: list[Flowable] = []

    # helpers
    def add(self, *items: Flowable) -> None:
        self.story.extend(items)

    def h1(self, key: str) -> None:
        self.add(_p(SECTION_TITLES[key], self.st.h1))

    def para(self, text: str, style: ParagraphStyle | None = None) -> None:
        self.add(_p(text, style or self.st.body))

    def chart(self, name: str) -> None:
        image = self.images.get(name)
        if image is None:
            return
        reader = ImageReader(io.BytesIO(image))
        w, h = reader.getSize()
        height = self.width * h / w
        self.add(Spacer(1, 4), Image(io.BytesIO(image), width=self.width, height=height), Spacer(1, 6))

    def capped_note(self, capped: Capped, what: str) -> None:
        if not capped.capped:
            return
        where = (
            "the CSV file of this pack has every event"
            if self.cover.csv_in_pack
            else "a CSV pack of the same view has every event"
        )
        self.para(
            f"Showing the {len(capped.frame):,} most recent of {capped.total:,} {what}; {where}.",
            self.st.note,
        )

    # sections
    def build_cover(self) -> None:
        c, st = self.cover, self.st
        self.add(Spacer(1, 30 * mm), _p(c.title, st.title))
        if c.organisation:
            self.add(_p(c.organisation, ParagraphStyle("org", parent=st.h2, fontSize=14, leading=18)))
        self.add(Spacer(1, 10 * mm))
        integrity = c.integrity
        color = STATE_COLORS.get(integrity.state, "#1f2937")
        rows: list[tuple[str, Flowable]] = [
            ("Period", _p(c.period, st.body)),
            ("Time zone", _p(c.tz, st.body)),
            ("Filters", _p(c.filters, st.body)),
            ("Events in this pack", _p(f"{c.events:,}", st.body)),
            *([("From the archive", _p(c.from_archive, st.body))] if c.from_archive else []),
            *(
                [("Not included", Paragraph(f'<font color="#b91c1c"><b>{escape(c.not_included)}</b></font>', st.body))]
                if c.not_included
                else []
            ),
            ("Generated by", _p(f"{c.generated_by} ({c.role})", st.body)),
            ("Generated at", _p(generated_text(c.generated_local, c.generated_utc, c.tz), st.body)),
            ("Product", _p(f"auditdash {c.version}", st.body)),
            (
                "Integrity of the log",
                Paragraph(
                    f'<font color="{color}"><b>{escape(integrity.state.upper())}</b></font> '
                    f"{escape(integrity.summary)}",
                    st.body,
                ),
            ),
            (
                "Chain head for the period",
                _p(
                    f"batch {integrity.period_head[0]}, {integrity.period_head[1]}"
                    if integrity.period_head
                    else "no batch holds an event of this period",
                    st.body,
                ),
            ),
            ("Pack", _p(c.pack_id + (f" (schedule {c.schedule})" if c.schedule else ""), st.body)),
        ]
        table = Table(
            [[_p(k, st.head), v] for k, v in rows],
            colWidths=[42 * mm, self.width - 42 * mm],
            hAlign="LEFT",
        )
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                    ("TOPPADDING", (0, 0), (-1, -1), 4),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                ]
            )
        )
        self.add(table, Spacer(1, 8 * mm))
        if c.masked:
            self.para(
                "Addresses are masked (203.0.113.x) and raw JSON is left out, as for every pack made by the "
                f"{c.role} role.",
                st.small,
            )
        self.para(
            "The CSV and JSON files hold every event that matches the filters; the manifest lists each file "
            "with its SHA-256 so the pack can be checked after it was handed over.",
            st.small,
        )
        self.add(PageBreak())

    def build_summary(self) -> None:
        d, st = self.data, self.st
        self.h1("summary")
        h = d.headline
        figures = [
            ("Events", h.events),
            ("Failed logins", d.security.failed_logins),
            ("Account lockouts", d.security.lockouts),
            ("Users", h.users),
            ("Source addresses", h.ips),
            ("Privilege and role changes", d.role_changes.total),
            ("Credential changes", d.credential_changes.total),
            ("Configuration changes", d.config_changes.total),
        ]
        if h.open_alerts is not None:
            figures.append(("Open alerts (now)", h.open_alerts))
        self.add(
            _table(st, ["Figure", "Value"], [(k, _num(v)) for k, v in figures], [90 * mm, 40 * mm], numeric=[1]),
            Spacer(1, 6),
        )
        if not d.categories.empty:
            self.add(_p("Events by category", st.h2))
            rows: list[tuple[Any, ...]] = [
                (CATEGORY_TITLES.get(r.category, r.category), _num(r.events), _num(r.failures))
                for r in _rows(d.categories)
            ]
            self.add(_table(st, ["Category", "Events", "Failed"], rows, [90 * mm, 30 * mm, 30 * mm], numeric=[1, 2]))
        if self.chart_note:
            self.para(self.chart_note, st.note)
        self.chart("timeline")
        self.add(CondPageBreak(90 * mm))
        self.chart("top_users")
        self.chart("top_actions")
        if not d.charts.top_users.empty:
            self.add(_p("Busiest users", st.h2))
            rows = [
                (r.actor_name or r.actor_id, r.actor_id, r.actor_role or "", _num(r.events), _num(r.failures))
                for r in _rows(d.charts.top_users)
            ]
            self.add(
                _table(
                    st,
                    ["Name", "User id", "Role", "Events", "Failed"],
                    rows,
                    [55 * mm, 35 * mm, 30 * mm, 27 * mm, 27 * mm],
                    numeric=[3, 4],
                )
            )
        self.build_map()
        self.add(PageBreak())

    def build_map(self) -> None:
        """Where the view's activity comes from: the Security page's map, and what it places."""
        m, st = self.data.charts.map, self.st
        self.add(CondPageBreak(110 * mm), _p("Where activity comes from", st.h2))
        if not (m.placed or m.country_only):
            self.para("No event of this view has an address that can be placed on a map.", st.small)
            return
        if "map" in self.images:
            self.chart("map")
        else:
            self.para("The map could not be drawn on this server; what it shows is counted here.", st.small)
        self.para(map_note(m.placed, m.country_only), st.note)

    def build_failed_logins(self) -> None:
        d, st = self.data, self.st
        self.h1("failed_logins")
        s = d.security
        self.para(
            f"{s.failed_logins:,} failed logins ({s.lockouts:,} account lockouts) from {s.failing_users:,} "
            f"user names and {s.failing_ips:,} addresses in this view. Times are in {self.cover.tz}."
        )
        self.chart("heatmap")
        self.add(_p("Top sources of failed logins", st.h2))
        if d.sources.empty:
            self.para("No failed logins in this view.", st.small)
        else:
            rows: list[tuple[Any, ...]] = [
                (
                    r.ip,
                    r.country or "",
                    r.city or "",
                    _num(r.failures),
                    _num(r.users),
                    local_text(r.first),
                    local_text(r.last),
                )
                for r in _rows(d.sources)
            ]
            self.add(
                _table(
                    st,
                    ["Address", "Country", "City", "Failed", "Users", "First", "Last"],
                    rows,
                    [32 * mm, 16 * mm, 26 * mm, 16 * mm, 14 * mm, 35 * mm, 35 * mm],
                    numeric=[3, 4],
                )
            )
        self.chart("reasons")
        self.add(CondPageBreak(80 * mm))
        self.chart("user_days")
        self.add(PageBreak())

    def _changes(self, capped: Capped, empty: str, what: str) -> None:
        st = self.st
        if capped.frame.empty:
            self.para(empty, st.small)
            return
        rows: list[tuple[Any, ...]] = [
            (local_text(r.occurred_at), r.actor, r.action, r.target, self._change_text(r.field, r.before, r.after))
            for r in _rows(capped.frame)
        ]
        self.add(
            _table(
                st,
                [f"When ({self.cover.tz})", "Who", "Action", "Target", f"Before{self.arrow}after"],
                rows,
                [26 * mm, 28 * mm, 37 * mm, 33 * mm, self.width - 124 * mm],
            )
        )
        self.capped_note(capped, what)

    def _change_text(self, field: str, before: str, after: str) -> str:
        if field.startswith("("):  # "(not recorded)": the event carries no before/after values
            return "no values recorded"
        return f"{field}: {_clip(before, 80)}{self.arrow}{_clip(after, 80)}"

    def build_privilege(self) -> None:
        d = self.data
        self.h1("privilege")
        self.para(f"{d.role_changes.total:,} role and permission changes in this view, newest first.")
        self._changes(d.role_changes, "No role or permission changes in this view.", "role and permission changes")
        self.add(_p("Credential changes", self.st.h2))
        self.para(f"{d.credential_changes.total:,} password and second-factor changes in this view.")
        self._changes(d.credential_changes, "No credential changes in this view.", "credential changes")
        self.add(PageBreak())

    def build_config(self) -> None:
        d = self.data
        self.h1("config")
        self.para(
            f"{d.config_changes.total:,} changes to settings, features, integrations, workflows, automation "
            "rules and bots in this view, newest first."
        )
        self._changes(d.config_changes, "No configuration changes in this view.", "configuration changes")
        self.add(PageBreak())

    def build_alerts(self) -> None:
        d, st = self.data, self.st
        if d.alerts is None:
            return
        self.h1("alerts")
        status = ", ".join(f"{n:,} {s}" for s, n in sorted(d.alert_status.items())) or "none"
        self.para(f"{d.alerts.total:,} alerts were active during the period ({status}).")
        if not d.alerts.frame.empty:
            rows: list[tuple[Any, ...]] = [
                (
                    r.id,
                    local_text(r.first_seen),
                    r.severity,
                    r.title,
                    r.status,
                    r.by,
                    local_text(r.at) if r.at is not None and not pd.isna(r.at) else "",
                    str(r.resolution or "").replace("_", " "),
                )
                for r in _rows(d.alerts.frame)
            ]
            self.add(
                _table(
                    st,
                    ["#", "First seen", "Severity", "Alert", "Status", "Reviewed by", "Reviewed at", "Resolution"],
                    rows,
                    [9 * mm, 23 * mm, 15 * mm, 44 * mm, 17 * mm, 18 * mm, 23 * mm, self.width - 149 * mm],
                )
            )
            self.capped_note(d.alerts, "alerts")
        if d.signoffs is not None:
            self.add(_p("Daily review sign-offs", st.h2))
            if d.signoffs.frame.empty:
                self.para("No review was signed off for this period.", st.small)
            else:
                rows = [
                    (f"{r.period_from} to {r.period_to}", r.reviewer, r.role, local_text(r.signed_at), r.note)
                    for r in _rows(d.signoffs.frame)
                ]
                self.add(
                    _table(
                        st,
                        ["Period", "Reviewer", "Role", "Signed at", "Note"],
                        rows,
                        [40 * mm, 28 * mm, 22 * mm, 28 * mm, self.width - 118 * mm],
                    )
                )
                self.capped_note(d.signoffs, "sign-offs")
        self.add(PageBreak())

    def build_audit(self) -> None:
        d, st = self.data, self.st
        self.h1("audit")
        self.para(
            "Views, searches, exports and packs of the audit log and its administration are themselves "
            "logged (PCI DSS 10.2.1.3). In this view:"
        )
        if d.audit_access.empty:
            self.para(
                "No access to the audit log is in this view (its filters may exclude the audit category).", st.small
            )
        else:
            rows: list[tuple[Any, ...]] = [
                (r.action, _num(r.events), _num(r.failures), _num(r.people)) for r in _rows(d.audit_access)
            ]
            self.add(
                _table(
                    st, ["Action", "Events", "Failed", "People"], rows, [70 * mm, 25 * mm, 25 * mm, 25 * mm], [1, 2, 3]
                )
            )
        self.add(PageBreak())

    def build_appendix(self) -> None:
        st = self.st
        self.h1("appendix")
        self.para("Where this pack shows what each requirement asks for.")
        self.add(
            _table(
                st,
                ["Requirement", "What it asks", "Where this pack shows it"],
                COMPLIANCE_MAPPING,
                [30 * mm, 65 * mm, self.width - 95 * mm],
                clip=2_000,
            )
        )
        self.add(
            Spacer(1, 6),
            KeepTogether(
                [
                    _p("About this pack", st.h2),
                    _p(
                        f"Filters: {self.cover.filters}. Period: {self.cover.period}. "
                        f"Events: {self.cover.events:,}. Pack {self.cover.pack_id}.",
                        st.small,
                    ),
                ]
            ),
        )

    def build(self, path: Path) -> int:
        self.build_cover()
        self.build_summary()
        self.build_failed_logins()
        self.build_privilege()
        self.build_config()
        self.build_alerts()
        self.build_audit()
        self.build_appendix()
        doc = SimpleDocTemplate(
            str(path),
            pagesize=A4,
            leftMargin=18 * mm,
            rightMargin=18 * mm,
            topMargin=16 * mm,
            bottomMargin=18 * mm,
            title=self.cover.title,
            author=self.cover.generated_by,
            subject=f"{self.cover.period}; {self.cover.filters}",
            creator=f"auditdash {self.cover.version}",
        )
        parts = [self.cover.title, self.cover.organisation, self.cover.pack_id]
        footer = " · ".join(p for p in parts if p)
        doc.build(self.story, canvasmaker=_canvas_class(footer, self.st.font))
        return int(doc.page)


def write_pdf(path: Path, cover: Cover, data: ReportData, images: dict[str, bytes], chart_note: str | None) -> int:
    """Write the report; return its page count."""
    return _Report(cover, data, images, chart_note).build(path)
