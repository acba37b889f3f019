"""The Event tab: what a request means, in words, before anyone reads JSON.

Everything here comes from columns the decoder stored at capture time plus the
timestamps found in the payload, so the card costs nothing to build even for a
huge body.  Colours come from the palette (or the shared status style), never
from hard-coded rich text, so the card follows the system's light/dark switch.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from inspector.core.capture.answers import describe_answer
from inspector.core.provider.catalogue import PRODUCT_LABELS, describe
from inspector.core.provider.warning_limits import bound_warnings
from inspector.core.session.findings import (
    auth_lines,
    dlr_extras,
    meaning,
    retry_sentence,
    verdict_sentence,
    verification_sentence,
)
from inspector.core.session.record import rfc3339_from_us
from inspector.core.session.store import StoredRequest
from inspector.core.session.timeline import describe_delays, extract_timestamps
from inspector.gui.plain_text import cell_text
from inspector.gui.sizes import format_size
from inspector.gui.status_style import STATUS_CLASS_LABELS, StatusPill

_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse


def _label(text: str = "", *, secondary: bool = False, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(_SELECTABLE)
    label.setWordWrap(wrap)
    if secondary:
        label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def _heading(text: str) -> QLabel:
    label = _label(text, wrap=False)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


def _local(received_us: int) -> str:
    dt = datetime.fromtimestamp(received_us / 1e6).astimezone()
    return dt.strftime("%Y-%m-%d %H:%M:%S %Z")


class EventCard(QScrollArea):
    """Event name and description, status badge, parties, timestamps with delays, warnings."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setBackgroundRole(QPalette.ColorRole.Base)
        body.setAutoFillBackground(True)
        self.setWidget(body)

        self.title = _label(wrap=True)
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.35)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.title.setAccessibleName("Event")
        self.pill = StatusPill()
        self.description = _label(secondary=True)

        title_row = QHBoxLayout()
        title_row.setSpacing(10)
        title_row.addWidget(self.title, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addWidget(self.pill, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addStretch(1)

        self.fields = QFormLayout()
        self.fields.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.fields.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields.setHorizontalSpacing(14)
        self.fields.setVerticalSpacing(6)
        self._values: dict[str, QLabel] = {}
        for key, caption in (
            ("product", "Product"),
            ("status", "Status"),
            ("meaning", "Meaning"),
            ("message_id", "Message id"),
            ("from", "From"),
            ("to", "To"),
            ("summary", "Summary"),
            ("carrier", "Carrier"),
            ("unix_times", "Unix times"),
            ("verification", "Verification"),
            ("auth", "Authenticity"),
            ("attempt", "Re-delivery"),
            ("received", "Received"),
            ("request", "Request"),
            ("response", "Answered"),
            ("verdict", "Provider"),
            ("source", "Source"),
        ):
            value = _label()
            value.setAccessibleName(caption)
            self._values[key] = value
            self.fields.addRow(_label(caption, secondary=True, wrap=False), value)

        self.times_heading = _heading("Timestamps in the payload")
        self.times_grid = QGridLayout()
        self.times_grid.setHorizontalSpacing(14)
        self.times_grid.setVerticalSpacing(4)
        self.delays_label = _label()
        self.delays_label.setAccessibleName("Delays")

        self.warnings_heading = _heading("Warnings")
        self.warnings_label = _label()
        self.warnings_label.setAccessibleName("Warnings")

        layout = QVBoxLayout(body)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(8)
        layout.addLayout(title_row)
        layout.addWidget(self.description)
        layout.addSpacing(6)
        layout.addLayout(self.fields)
        layout.addSpacing(10)
        layout.addWidget(self.times_heading)
        layout.addLayout(self.times_grid)
        layout.addWidget(self.delays_label)
        layout.addSpacing(10)
        layout.addWidget(self.warnings_heading)
        layout.addWidget(self.warnings_label)
        layout.addStretch(1)

    # -- content ---------------------------------------------------------------------

    def value_text(self, key: str) -> str:
        return self._values[key].text()

    def set_request(
        self,
        request: StoredRequest,
        parsed: Any,
        parsed_ok: bool,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Fill the card; ``parsed`` is the body's JSON when ``parsed_ok``; ``conn`` reads
        the session for what a re-delivery's earlier attempt was answered."""
        s = request.summary
        self.title.setText(s.event or "Not a recognised provider event")
        description = describe(s.event) if s.event else ""
        if not description:
            description = (
                "The decoder could not match this request to an event in the provider's "
                "catalogue; the warnings below say why."
            )
        self.description.setText(description)
        self.pill.set_status(s.status, s.status_class)
        class_label = STATUS_CLASS_LABELS.get(s.status_class, "Unknown")
        self._set("product", PRODUCT_LABELS.get(s.product, s.product))
        self._set("status", f"{s.status or '(none)'} \u2014 {class_label.lower()}")
        self._set("message_id", s.message_id)
        self._set("from", s.from_addr)
        self._set("to", s.to_addr)
        self._set("summary", s.summary)
        self._set("received", f"{_local(s.received_us)}  ({rfc3339_from_us(s.received_us)})")
        parts = [f"{s.method} {s.path}" + (f"?{s.query}" if s.query else "")]
        parts.append(format_size(s.body_size))
        if request.content_type:
            parts.append(request.content_type)
        self._set("request", " \u00b7 ".join(parts))
        self._set(
            "response",
            describe_answer(
                s.response_status,
                request.answer_source,
                request.answer_delay_ms,
                request.answer_action,
            ),
        )
        via = "ngrok tunnel" if s.via_tunnel else "direct"
        client = s.client_addr or s.remote
        self._set("source", f"{client} ({via})" if client else via)
        status_meaning = meaning(request)
        self._set("meaning", status_meaning)
        if status_meaning:  # the table's words, never the payload's: safe as a tooltip
            self.pill.setToolTip(f"Status class: {class_label}. Meaning: {status_meaning}")
        carrier, unix_times, time_problems = dlr_extras(request, parsed if parsed_ok else None)
        self._set("carrier", carrier)
        self._set("unix_times", "\n".join(unix_times))
        self._set("verification", verification_sentence(request))
        self._set("auth", "\n".join(auth_lines(request)))
        self._set("attempt", retry_sentence(conn, request))
        self._set("verdict", verdict_sentence(request))
        self._fill_times(parsed if parsed_ok else None)
        self._fill_warnings(request.warnings + time_problems)

    def _set(self, key: str, text: str) -> None:
        label = self._values[key]
        label.setText(cell_text(text))  # a word-wrapped megabyte would freeze the tab
        self.fields.setRowVisible(label, bool(text))

    def _fill_times(self, parsed: Any) -> None:
        while self.times_grid.count():
            item = self.times_grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                # Hide now: deleteLater waits for the event loop, and until then the old
                # labels would still paint over the new ones.
                widget.hide()
                widget.deleteLater()
        stamps = extract_timestamps(parsed) if parsed is not None else []
        self.times_heading.setVisible(bool(stamps))
        self.delays_label.setVisible(bool(stamps))
        if not stamps:
            self.delays_label.clear()
            return
        for row, stamp in enumerate(stamps):
            self.times_grid.addWidget(_label(stamp.label, secondary=True, wrap=False), row, 0)
            self.times_grid.addWidget(_label(stamp.raw, wrap=False), row, 1)
            self.times_grid.addWidget(_label(stamp.key, secondary=True, wrap=False), row, 2)
        self.times_grid.setColumnStretch(2, 1)
        unreadable = [s.key for s in stamps if s.when is None]
        lines = describe_delays(stamps)
        if unreadable:
            lines.append(f"Not read as times: {', '.join(unreadable)}")
        self.delays_label.setText("\n".join(lines))
        self.delays_label.setVisible(bool(lines))

    def _fill_warnings(self, warnings: list[str]) -> None:
        n = len(warnings)
        self.warnings_heading.setText(f"Warnings ({n})" if n else "Warnings")
        if warnings:
            self.warnings_label.setForegroundRole(QPalette.ColorRole.WindowText)
            # Bounded again here: sessions stored before the bound may hold megabytes.
            shown = bound_warnings(warnings)
            self.warnings_label.setText("\n".join(f"\u2022 {w}" for w in shown))
        else:
            self.warnings_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            self.warnings_label.setText("None: the request matches the provider's documentation.")

    def clear(self) -> None:
        self.title.clear()
        self.description.clear()
        self.pill.set_status("", "unknown")
        for key in self._values:
            self._set(key, "")
        self._fill_times(None)
        self._fill_warnings([])
