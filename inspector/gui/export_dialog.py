"""The Export dialog: which requests, which format, redacted or not, where; then a progress
bar and Cancel while the core writes the file on a thread of its own.

The work is :func:`inspector.core.share.export.write_export_file`, the same call as the
CLI's; progress arrives as one queued signal per 1,000 rows, never per row.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.session.query import CompiledQuery
from inspector.core.session.store import SessionError, open_existing
from inspector.core.share.export import (
    FORMATS,
    ExportCancelled,
    ExportError,
    ExportOptions,
    ExportResult,
    write_export_file,
)
from inspector.core.share.redact import Redactor
from inspector.core.share.selection import Selection


class SessionWorker(QThread):
    """Reads a session off the GUI thread; ``cancel()`` asks it to stop. ``work`` gets
    the open connection and returns the outcome, emitted once with ``finished_with``
    (a session that cannot be opened is its one-line message)."""

    #: The outcome on success, else the one-line message (str); None when cancelled.
    finished_with = Signal(object)

    def __init__(
        self, session: Path, selection: Selection, redactor: Redactor | None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.selection = selection
        self.redactor = redactor
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:
        try:
            conn = open_existing(self.session)
        except SessionError as exc:
            self.finished_with.emit(str(exc))
            return
        try:
            outcome = self.work(conn)
        finally:
            conn.close()
        self.finished_with.emit(outcome)

    def work(self, conn: sqlite3.Connection) -> object:
        raise NotImplementedError


class ExportWorker(SessionWorker):
    """Writes one export off the GUI thread; ``cancel()`` stops it between batches.
    Its outcome is the ExportResult."""

    progressed = Signal(int)

    def __init__(
        self,
        session: Path,
        out_path: Path,
        selection: Selection,
        options: ExportOptions,
        redactor: Redactor | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(session, selection, redactor, parent)
        self.out_path = out_path
        self.options = options

    def work(self, conn: sqlite3.Connection) -> object:
        try:
            return write_export_file(
                conn,
                self.out_path,
                self.selection,
                self.options,
                session_path=self.session,
                progress=self.progressed.emit,
                cancelled=lambda: self._cancel,
                redactor=self.redactor,
            )
        except ExportCancelled:
            return None
        except ExportError as exc:
            return str(exc)


def describe(result: ExportResult, path: Path) -> str:
    text = f"Exported {result.count:,} request(s) to {path}"
    if result.redaction is not None:
        text += f"; {result.redaction.sentence()}"
    return text


class ExportDialog(QDialog):
    """``selected``: ids of the selected rows; ``query``: what the table's filter shows."""

    exported = Signal(str)  # the sentence for the status bar

    def __init__(
        self,
        session: Path,
        *,
        selected: list[int],
        query: CompiledQuery,
        filtered_count: int,
        total: int,
        redact: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export requests")
        self.session = session
        self._selected = selected
        self._query = query
        self.worker: ExportWorker | None = None

        self.scope_selected = QRadioButton(f"Selected requests ({len(selected):,})", self)
        self.scope_filtered = QRadioButton(
            f"What the filter shows ({filtered_count:,})", self
        )
        self.scope_all = QRadioButton(f"All requests in the session ({total:,})", self)
        self.scope = QButtonGroup(self)
        for button in (self.scope_selected, self.scope_filtered, self.scope_all):
            self.scope.addButton(button)
        self.scope_selected.setEnabled(bool(selected))
        (self.scope_selected if selected else self.scope_filtered).setChecked(True)

        self.format = QComboBox(self)
        self.format.setObjectName("exportFormat")
        for fmt in FORMATS.values():
            if fmt.name != "markdown":
                self.format.addItem(fmt.label, fmt.name)
        self.format.currentIndexChanged.connect(self._suggest_name)
        self.redact = QCheckBox("Redact secrets, phone numbers, names and message text", self)
        self.redact.setChecked(redact)
        self.base_url = QLineEdit(self)
        self.base_url.setPlaceholderText("each request's Host (e.g. http://127.0.0.1:8765)")
        self.path = QLineEdit(self)
        self.path.setObjectName("exportPath")
        browse = QPushButton("Browse\u2026", self)
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)

        form = QFormLayout()
        scope_box = QVBoxLayout()
        for button in (self.scope_selected, self.scope_filtered, self.scope_all):
            scope_box.addWidget(button)
        form.addRow("Requests:", scope_box)
        form.addRow("Format:", self.format)
        form.addRow("", self.redact)
        form.addRow("Base URL:", self.base_url)
        form.addRow("File:", path_row)

        self.progress = QProgressBar(self)
        self.progress.setObjectName("exportProgress")
        self.progress.hide()
        self.message = QLabel(self)
        self.message.setObjectName("exportMessage")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)

        self.buttons = QDialogButtonBox(self)
        self.export_button = self.buttons.addButton(
            "Export", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_button.clicked.connect(lambda _checked=False: self.start())
        self.cancel_button.clicked.connect(self._on_cancel)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._suggest_name()
        self.resize(560, self.sizeHint().height())

    # -- choices -------------------------------------------------------------------------

    def format_name(self) -> str:
        return str(self.format.currentData())

    def selection(self) -> Selection:
        if self.scope_selected.isChecked():
            return Selection.of_ids(self._selected)
        if self.scope_filtered.isChecked():
            return Selection(self._query)
        return Selection()

    def options(self) -> ExportOptions:
        base = self.base_url.text().strip() or None
        return ExportOptions(
            format=self.format_name(),
            redact=self.redact.isChecked(),
            base_url=base.rstrip("/") if base else None,
            session_name=self.session.stem,
        )

    @Slot()
    def _suggest_name(self) -> None:
        current = self.path.text().strip()
        suffix = FORMATS[self.format_name()].suffix
        if not current:
            self.path.setText(str(self.session.with_name(self.session.stem + suffix)))
        else:
            self.path.setText(str(Path(current).with_suffix(suffix)))

    @Slot()
    def _browse(self) -> None:
        chosen, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text())
        if chosen:
            self.path.setText(chosen)

    # -- running -------------------------------------------------------------------------

    def start(self, redactor: Redactor | None = None) -> None:
        if self.worker is not None:
            return
        text = self.path.text().strip()
        if not text:
            self.message.setText("Choose a file to write.")
            return
        self.progress.setRange(0, max(1, self._count()))
        self.progress.setValue(0)
        self.progress.show()
        self.message.setText("Exporting\u2026")
        self.export_button.setEnabled(False)
        self.worker = ExportWorker(
            self.session, Path(text).expanduser(), self.selection(), self.options(),
            redactor, self,
        )
        self.worker.progressed.connect(self.progress.setValue)
        self.worker.finished_with.connect(self._on_finished)
        self.worker.start()

    def _count(self) -> int:
        if self.scope_selected.isChecked():
            return len(self._selected)
        try:
            conn = open_existing(self.session)
        except SessionError:
            return 0
        try:
            return self.selection().count(conn)
        finally:
            conn.close()

    @Slot()
    def _on_cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.message.setText("Cancelling\u2026")
        else:
            self.reject()

    @Slot(object)
    def _on_finished(self, outcome: object) -> None:
        worker = self.worker
        if worker is not None:
            worker.wait()
        self.worker = None
        self.export_button.setEnabled(True)
        if outcome is None:
            self.progress.hide()
            self.message.setText("Cancelled; nothing was written.")
            return
        if isinstance(outcome, str):
            self.progress.hide()
            self.message.setText(outcome)
            return
        assert isinstance(outcome, ExportResult)
        self.progress.setValue(self.progress.maximum())
        sentence = describe(outcome, Path(self.path.text()).expanduser())
        self.message.setText(sentence)
        self.exported.emit(sentence)
        self.accept()

    def done(self, result: int) -> None:
        if self.worker is not None:  # closing mid-export cancels it; nothing is left behind
            self.worker.cancel()
            self.worker.wait()
            self.worker = None
        super().done(result)
