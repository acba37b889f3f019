"""The Headers tab: request and response headers exactly as they went over the wire.

Headers are kept as a list of pairs, never a dict: a provider that sends
``X-Signature`` twice, or in odd capitalisation, is a bug worth seeing.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QAction, QFontDatabase, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector.gui.plain_text import cell_text, plain_tooltip

AnyIndex = QModelIndex | QPersistentModelIndex
#: The invisible root's index, as a default argument (never mutated).
_TOP = QModelIndex()


class HeadersModel(QAbstractTableModel):
    """Name / value rows, in arrival order, duplicates and case kept."""

    COLUMNS = ("Name", "Value")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._headers: list[tuple[str, str]] = []
        self._dupes: set[str] = set()

    def set_headers(self, headers: list[tuple[str, str]]) -> None:
        self.beginResetModel()
        self._headers = list(headers)
        seen: set[str] = set()
        self._dupes = set()
        for name, _ in self._headers:
            key = name.lower()
            if key in seen:
                self._dupes.add(key)
            seen.add(key)
        self.endResetModel()

    def headers(self) -> list[tuple[str, str]]:
        return list(self._headers)

    def rowCount(self, parent: AnyIndex = _TOP) -> int:
        return 0 if parent.isValid() else len(self._headers)

    def columnCount(self, parent: AnyIndex = _TOP) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        if orientation == Qt.Orientation.Vertical and 0 <= section < len(self._headers):
            return str(section + 1)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._headers):
            return None
        name, value = self._headers[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:  # copying gives the whole value
            return cell_text(name if index.column() == 0 else value)
        if role == Qt.ItemDataRole.EditRole:
            return name if index.column() == 0 else value
        if role == Qt.ItemDataRole.ToolTipRole:
            if name.lower() in self._dupes:
                return plain_tooltip(f"{name} appears more than once in this message")
            return plain_tooltip(value) if index.column() == 1 else None
        return None

    def is_duplicate(self, row: int) -> bool:
        return self._headers[row][0].lower() in self._dupes

    def as_text(self, rows: list[int]) -> str:
        return "\n".join(f"{self._headers[r][0]}: {self._headers[r][1]}" for r in sorted(rows))


class HeadersTable(QTableView):
    """Table whose Ctrl+C copies ``Name: value`` lines, even if the window binds Ctrl+C."""

    def __init__(self, model: HeadersModel) -> None:
        super().__init__()
        self._headers = model
        self.setModel(model)

    def copy_selection(self) -> None:
        rows = sorted({i.row() for i in self.selectionModel().selectedIndexes()})
        if rows:
            QGuiApplication.clipboard().setText(self._headers.as_text(rows))

    def event(self, event: QEvent) -> bool:
        # Accepting the override makes Ctrl+C a key press here instead of a window shortcut.
        if event.type() == QEvent.Type.ShortcutOverride:
            assert isinstance(event, QKeyEvent)
            if event.matches(QKeySequence.StandardKey.Copy):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection()
            event.accept()
            return
        super().keyPressEvent(event)


def _table(model: HeadersModel, name: str) -> HeadersTable:
    view = HeadersTable(model)
    view.setAccessibleName(name)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 6)
    header = view.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    header.resizeSection(0, 220)
    copy = QAction("Copy as Name: value\tCtrl+C", view)
    copy.triggered.connect(view.copy_selection)
    view.addAction(copy)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    return view


class HeadersView(QWidget):
    """Request line and headers above, the response we gave below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.request_model = HeadersModel(self)
        self.response_model = HeadersModel(self)
        self.request_label = QLabel()
        self.request_label.setTextFormat(Qt.TextFormat.RichText)  # every value escaped
        self.request_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.request_label.setWordWrap(True)
        self.response_label = QLabel()
        self.response_label.setTextFormat(Qt.TextFormat.RichText)
        self.response_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.request_table = _table(self.request_model, "Request headers")
        self.response_table = _table(self.response_model, "Response headers")

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.request_label)
        top_layout.addWidget(self.request_table)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.response_label)
        bottom_layout.addWidget(self.response_table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

    def set_request(
        self,
        request_line: str,
        headers: list[tuple[str, str]],
        response_status: int,
        response_headers: list[tuple[str, str]],
    ) -> None:
        self.request_model.set_headers(headers)
        self.response_model.set_headers(response_headers)
        dupes = sorted(
            {headers[r][0] for r in range(len(headers)) if self.request_model.is_duplicate(r)}
        )
        extra = f" \u2014 repeated: {', '.join(dupes)}" if dupes else ""
        self.request_label.setText(
            f"<b>Request</b> \u00b7 {_escape(request_line)} \u00b7 "
            f"{len(headers)} header{'s' if len(headers) != 1 else ''}{_escape(extra)}"
        )
        self.response_label.setText(
            f"<b>Response</b> \u00b7 {response_status} \u00b7 "
            f"{len(response_headers)} header{'s' if len(response_headers) != 1 else ''}"
        )

    def clear(self) -> None:
        self.request_model.set_headers([])
        self.response_model.set_headers([])
        self.request_label.clear()
        self.response_label.clear()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
