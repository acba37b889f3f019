"""The Timeline tab: every request carrying the selected request's message id.

One message produces several webhooks (sent, delivered, read...); lining them up
in arrival order with the time since the first shows where a delivery stalled.
Activating a row asks the main window to select that request.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.session.store import RowSummary
from inspector.core.session.timeline import format_duration, timeline_around
from inspector.gui.columns import column_title
from inspector.gui.plain_text import cell_text, plain_tooltip
from inspector.gui.status_style import StatusPillDelegate

AnyIndex = QModelIndex | QPersistentModelIndex
#: The invisible root's index, as a default argument (never mutated).
_TOP = QModelIndex()

STATUS_CLASS_ROLE = Qt.ItemDataRole.UserRole + 1
REQUEST_ID_ROLE = Qt.ItemDataRole.UserRole + 2

#: How many requests of one message id are listed, around the selected one (a stuck
#: retry loop can send thousands).
TIMELINE_LIMIT = 500


def _local_time(received_us: int) -> str:
    dt = datetime.fromtimestamp(received_us / 1e6).astimezone()
    return dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


class TimelineModel(QAbstractTableModel):
    """Rows of one message's requests, oldest first, with the delay from the first."""

    COLUMNS = ("#", "Received", "After first", "Event", "Status")
    STATUS_COLUMN = 4

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[RowSummary] = []
        self._current_id: int | None = None
        self._first_us: int | None = None
        self._first_shown = True

    def set_rows(
        self, rows: list[RowSummary], current_id: int | None, first_us: int | None = None
    ) -> None:
        """``first_us``: when the message's first request arrived, if it is not ``rows[0]``
        (the rows are a window further into a long timeline)."""
        self.beginResetModel()
        self._rows = list(rows)
        self._current_id = current_id
        self._first_shown = first_us is None
        self._first_us = rows[0].received_us if first_us is None and rows else first_us
        self.endResetModel()

    def rows(self) -> list[RowSummary]:
        return list(self._rows)

    def row_of(self, request_id: int) -> int:
        for n, row in enumerate(self._rows):
            if row.id == request_id:
                return n
        return -1

    def rowCount(self, parent: AnyIndex = _TOP) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = _TOP) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return column_title(self.COLUMNS, section, orientation, role)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return str(row.seq)
            if column == 1:
                return _local_time(row.received_us)
            if column == 2:
                if index.row() == 0 and self._first_shown:
                    return "first"
                first = self._first_us if self._first_us is not None else row.received_us
                delta = (row.received_us - first) / 1e6
                return f"+{format_duration(delta)}"
            if column == 3:
                return row.event or "(not decoded)"
            if column == 4:
                return cell_text(row.status)
        elif role == STATUS_CLASS_ROLE:
            return row.status_class
        elif role == REQUEST_ID_ROLE:
            return row.id
        elif role == Qt.ItemDataRole.FontRole and row.id == self._current_id:
            font = QFont()
            font.setBold(True)
            return font
        elif role == Qt.ItemDataRole.ToolTipRole:
            current = " (shown now)" if row.id == self._current_id else ""
            return plain_tooltip(
                f"Request #{row.seq}{current}: {row.method} {row.path}. "
                "Enter or double-click to open it."
            )
        elif role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 2):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class TimelineView(QWidget):
    """A heading ("3 requests for message …") over the timeline table."""

    request_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = TimelineModel(self)
        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.RichText)  # built with every value escaped
        self.heading.setWordWrap(True)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Timeline")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 10)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setItemDelegateForColumn(
            TimelineModel.STATUS_COLUMN, StatusPillDelegate(STATUS_CLASS_ROLE, self.table)
        )
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((50, 110, 90, 200)):
            header.resizeSection(column, width)
        self.table.activated.connect(self._on_activated)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)

    def load(self, conn: sqlite3.Connection, message_id: str, current_id: int) -> int:
        """Fill from the session; return how many requests share the id."""
        if not message_id:
            self.model.set_rows([], current_id)
            self.heading.setText(
                "This request carries no message id, so there is nothing to line up with it."
            )
            self.table.setVisible(False)
            return 0
        found = timeline_around(conn, message_id, current_id, TIMELINE_LIMIT)
        rows = found.rows
        self.model.set_rows(rows, current_id, found.first_received_us if found.start > 0 else None)
        self.table.setVisible(True)
        n = found.total
        more = (
            f" (requests {found.start + 1:,}\u2013{found.start + len(rows):,} shown, "
            "around this one)"
            if len(rows) < n
            else ""
        )
        self.heading.setText(
            f"{n:,} request{'s' if n != 1 else ''} for message id "
            f"<code>{_escape(message_id)}</code>{more}, in arrival order. "
            "Press Enter or double-click to open one."
        )
        current = self.model.row_of(current_id)
        if current >= 0:
            self.table.selectRow(current)
            self.table.scrollTo(self.model.index(current, 0))
        return n

    def clear(self) -> None:
        self.model.set_rows([], None)
        self.heading.clear()

    def _on_activated(self, index: QModelIndex) -> None:
        request_id = index.data(REQUEST_ID_ROLE)
        if isinstance(request_id, int):
            self.request_activated.emit(request_id)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
