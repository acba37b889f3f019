"""Share for Bug Report: every change redaction will make, shown before anything is written.

The preview and the file use the same :class:`~inspector.core.share.redact.Redactor` (the
same per-export key), so the masks in the file are the masks the user saw.  Originals are
shown here, on the user's own screen, and written nowhere.  Also the clipboard helpers for
the row context menu: "Copy as curl" and "Copy for issue tracker" (always redacted).
"""

from __future__ import annotations

import io
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.session.query import CompiledQuery
from inspector.core.session.store import SessionError, open_existing
from inspector.core.share.export import ExportOptions, ExportResult, export_rows, export_to
from inspector.core.share.redact import RedactionOptions, RedactionSummary, Redactor
from inspector.core.share.rows import ExportRow
from inspector.core.share.selection import Selection
from inspector.gui.export_dialog import ExportWorker, describe

#: Requests shown in the preview (the file holds them all; the summary counts them all).
PREVIEW_ROWS = 200
#: A shown original or mask is cut to this many characters.
_CELL = 120


def _cell(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _CELL else flat[: _CELL - 1] + "\u2026"


def _words(text: str) -> frozenset[str]:
    return frozenset(w.strip() for w in text.replace("\n", ",").split(",") if w.strip())


class ShareDialog(QDialog):
    """Preview of a redacted export of ``selection``, then a redacted HAR written."""

    exported = Signal(str)

    def __init__(
        self, session: Path, selection: Selection, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("shareDialog")
        self.setWindowTitle("Share for bug report")
        self.session = session
        self.selection = selection
        self.redactor = Redactor()
        self.worker: ExportWorker | None = None

        intro = QLabel(
            "Everything below is replaced before the file is written. Originals stay on "
            "this computer; the same value always gets the same mask, so a message's "
            "timeline still lines up.",
            self,
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        self.extra_keys = QLineEdit(self)
        self.extra_keys.setPlaceholderText("more keys to redact, comma-separated (e.g. order_ref)")
        self.keep_values = QLineEdit(self)
        self.keep_values.setPlaceholderText("values to keep as they are (e.g. a test number)")
        refresh = QPushButton("Update preview", self)
        refresh.clicked.connect(self.refresh)
        form = QFormLayout()
        form.addRow("Also redact:", self.extra_keys)
        form.addRow("Keep:", self.keep_values)
        form.addRow("", refresh)

        self.tree = QTreeWidget(self)
        self.tree.setObjectName("redactionPreview")
        self.tree.setHeaderLabels(["Request", "Where", "Kind", "Original", "Written as"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.summary = QLabel(self)
        self.summary.setObjectName("redactionSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.progress = QProgressBar(self)
        self.progress.hide()

        buttons = QDialogButtonBox(self)
        self.save_button = buttons.addButton(
            "Save Redacted HAR\u2026", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.copy_button = buttons.addButton(
            "Copy for Issue Tracker", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.save_button.clicked.connect(self.choose_and_save)
        self.copy_button.clicked.connect(self.copy_for_tracker)
        self.close_button.clicked.connect(self._on_close)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.progress)
        layout.addWidget(buttons)
        self.resize(980, 620)
        self.refresh()

    def _options(self) -> RedactionOptions:
        return RedactionOptions(_words(self.extra_keys.text()), _words(self.keep_values.text()))

    @Slot()
    def refresh(self) -> None:
        """Redact the first rows again with the current options and show every change."""
        self.redactor = Redactor(self._options())
        self.tree.clear()
        shown: list[ExportRow] = []
        try:
            conn = open_existing(self.session)
        except SessionError as exc:
            self.summary.setText(str(exc))
            return
        try:
            total = self.selection.count(conn)
            for row in export_rows(conn, self.selection, redactor=self.redactor):
                shown.append(row)
                if len(shown) >= PREVIEW_ROWS:
                    break
        finally:
            conn.close()
        for row in shown:
            s = row.request.summary
            changes = row.changes or ()
            top = QTreeWidgetItem(
                [f"#{s.seq}", f"{s.method} {_cell(s.path)}", "",
                 s.event or "not decoded", f"{len(changes)} change(s)"]
            )
            for change in changes:
                top.addChild(QTreeWidgetItem(
                    ["", change.where, change.kind, _cell(change.original), change.mask]
                ))
            for part in row.dropped:
                top.addChild(QTreeWidgetItem(["", "body", "removed", part, ""]))
            self.tree.addTopLevelItem(top)
        self.tree.expandAll()
        for col in range(4):
            self.tree.resizeColumnToContents(col)
        more = f" (preview shows the first {len(shown)} of {total:,})" if total > len(shown) else ""
        self.summary.setText(self.redactor.summary.sentence() + more)

    def change_count(self) -> int:
        total = 0
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            total += item.childCount() if item is not None else 0
        return total

    @Slot()
    def choose_and_save(self) -> None:
        default = str(self.session.with_name(self.session.stem + "-redacted.har"))
        chosen, _ = QFileDialog.getSaveFileName(self, "Save redacted HAR", default, "HAR (*.har)")
        if chosen:
            self.save(Path(chosen))

    def save(self, path: Path) -> None:
        if self.worker is not None:
            return
        # Same key as the preview; counts afresh for the whole file.
        self.redactor.summary = RedactionSummary()
        options = ExportOptions(format="har", redact=True, redaction=self._options(),
                                session_name=self.session.stem)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.save_button.setEnabled(False)
        self.worker = ExportWorker(self.session, path, self.selection, options, self.redactor, self)
        self.worker.finished_with.connect(lambda outcome: self._on_saved(outcome, path))
        self.worker.start()

    def _on_saved(self, outcome: object, path: Path) -> None:
        if self.worker is not None:
            self.worker.wait()
        self.worker = None
        self.progress.hide()
        self.save_button.setEnabled(True)
        if isinstance(outcome, ExportResult):
            sentence = describe(outcome, path)
            self.summary.setText(sentence)
            self.exported.emit(sentence)
        else:
            self.summary.setText(str(outcome) if outcome else "Cancelled; nothing was written.")

    @Slot()
    def copy_for_tracker(self) -> None:
        text = markdown_text(self.session, self.selection, self.redactor)
        QGuiApplication.clipboard().setText(text)
        self.summary.setText("Copied the Markdown table and the redacted JSON to the clipboard.")

    @Slot()
    def _on_close(self) -> None:
        self.reject()

    def done(self, result: int) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
            self.worker = None
        super().done(result)


def _text(session: Path, selection: Selection, fmt: str, redactor: Redactor | None) -> str:
    conn = open_existing(session)
    try:
        out = io.StringIO()
        export_to(conn, out, selection, ExportOptions(format=fmt, redact=redactor is not None),
                  redactor=redactor)
        return out.getvalue()
    finally:
        conn.close()


def curl_text(session: Path, ids: list[int]) -> str:
    """bash curl commands for these requests, exact (not redacted: they are for replaying)."""
    return _text(session, Selection.of_ids(ids), "curl", None)


def markdown_text(session: Path, selection: Selection, redactor: Redactor | None = None) -> str:
    """The issue-tracker copy: always redacted."""
    return _text(session, selection, "markdown", redactor or Redactor())


def selection_for(ids: list[int], query: CompiledQuery) -> Selection:
    return Selection.of_ids(ids) if ids else Selection(query)
