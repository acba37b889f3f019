"""Share for Bug Report: every change redaction will make, shown before anything is written.

A selection may hold a million requests of about ten changes each, so the preview is a
lazy model (:class:`RedactionPreviewModel`): one top-level row per request, known at once;
a request is redacted when its row is looked at, a few rows at a time, and only a bounded
number of redacted rows is kept.  The summary of the whole selection is counted on a thread
of its own (:class:`SummaryWorker`, :func:`inspector.core.share.preview.count_redactions`)
while the user reads, saves or copies.

Preview, count and file use one key: masks depend only on it, so a request redacted on
demand shows the masks the file will have.  Each thread has its own
:class:`~inspector.core.share.redact.Redactor` with that key, because a redactor keeps
working state between the passes over one row.  Originals are shown here, on the user's
own screen, as plain text, and written nowhere.  Also the clipboard helpers for the row
context menu: "Copy as curl" and "Copy for issue tracker" (always redacted).
"""

from __future__ import annotations

import io
import secrets
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.session.query import CompiledQuery
from inspector.core.session.store import SessionError, open_existing
from inspector.core.share.export import (
    ExportCancelled,
    ExportOptions,
    ExportResult,
    export_to,
)
from inspector.core.share.preview import (
    SelectionIds,
    count_redactions,
    frozen,
    redacted_rows,
)
from inspector.core.share.redact import RedactionOptions, RedactionSummary, Redactor
from inspector.core.share.rows import ExportRow
from inspector.core.share.selection import Selection
from inspector.gui.columns import column_title
from inspector.gui.export_dialog import ExportWorker, SessionWorker, describe
from inspector.gui.plain_text import clip, plain_tooltip

#: A shown original or mask is cut to this many characters ...
_CELL = 120
#: ... and its tooltip to this many (a kept line holds no more).
_TIP = 1000
#: Requests redacted at most per look-up of a row not yet seen ...
BATCH_ROWS = 32
#: ... and for at most this long (the row asked for is always done).
BATCH_SECONDS = 0.03
#: Lines (requests and their changes) the preview keeps redacted; the rest are redacted
#: again when they are looked at again (same key, same masks).
MAX_HELD_LINES = 10_000
#: Ids read per query, and pages of them kept.
ID_PAGE = 256
MAX_ID_PAGES = 64

#: The count lets the GUI thread run at least this often.
YIELD_SECONDS = 0.001

COLUMNS = ("Request", "Where", "Kind", "Original", "Written as")
_WIDTHS = (96, 240, 96, 300)

AnyIndex = QModelIndex | QPersistentModelIndex
_TOP = QModelIndex()


def _cell(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _CELL else flat[: _CELL - 1] + "\u2026"


def _words(text: str) -> frozenset[str]:
    return frozenset(w.strip() for w in text.replace("\n", ",").split(",") if w.strip())


@dataclass(frozen=True, slots=True)
class PreviewLine:
    """One line of the preview, cut for showing; ``tips`` are longer, for tooltips."""

    cells: tuple[str, str, str, str, str]
    tips: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """A request as the preview shows it: its own line and one line per change."""

    line: PreviewLine
    changes: tuple[PreviewLine, ...]


def preview_row(row: ExportRow) -> PreviewRow:
    """What the preview keeps of a redacted row: cut text only, never whole bodies."""
    s = row.request.summary
    changes = [
        PreviewLine(
            ("", _cell(c.where), c.kind, _cell(c.original), _cell(c.mask)),
            (None, clip(c.where, _TIP), None, clip(c.original, _TIP), clip(c.mask, _TIP)),
        )
        for c in row.changes or ()
    ]
    changes.extend(
        PreviewLine(("", "body", "removed", _cell(part), ""), (None, None, None, clip(part, _TIP)))
        for part in row.dropped
    )
    n = len(changes)
    line = PreviewLine(
        (f"#{s.seq}", f"{s.method} {_cell(s.path)}", "", _cell(s.event or "not decoded"),
         f"{n} change{'' if n == 1 else 's'}"),
        (None, clip(s.path, _TIP), None, clip(s.event or "", _TIP)),
    )
    return PreviewRow(line, tuple(changes))


_GONE = PreviewRow(PreviewLine(("", "no longer in the session", "", "", "")), ())


class RedactionPreviewModel(QAbstractItemModel):
    """Every change of a redacted export, request by request, redacted when looked at.

    Top-level rows are the selection's requests in arrival order (``rowCount`` is the
    selection's count from the start); a request's children are its changes.  A child's
    internal id is its request's row + 1; a request's is 0.
    """

    def __init__(
        self,
        conn: Any,
        selection: Selection,
        redactor: Redactor,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._conn = conn
        self._ids = SelectionIds(conn, selection) if conn is not None else None
        #: Requests in the selection: the top-level rows.
        self.total = self._ids.count if self._ids is not None else 0
        self._redactor = redactor
        self._rows: OrderedDict[int, PreviewRow] = OrderedDict()
        self._held = 0
        self._id_pages: OrderedDict[int, list[int]] = OrderedDict()
        #: Requests redacted so far (tests read it to see that rows are made on demand).
        self.redacted = 0

    def reset_with(self, redactor: Redactor) -> None:
        """Other options or another key: every row is redacted again when looked at."""
        self.beginResetModel()
        self._redactor = redactor
        self._rows.clear()
        self._held = 0
        self.endResetModel()

    def held_lines(self) -> int:
        return self._held

    # -- rows, on demand ---------------------------------------------------------------

    def _id_page(self, page: int) -> list[int]:
        ids = self._id_pages.get(page)
        if ids is None:
            assert self._ids is not None
            ids = self._ids.ids(page * ID_PAGE, (page + 1) * ID_PAGE)
            self._id_pages[page] = ids
            if len(self._id_pages) > MAX_ID_PAGES:
                self._id_pages.popitem(last=False)
        else:
            self._id_pages.move_to_end(page)
        return ids

    def _wanted(self, row: int) -> list[tuple[int, int]]:
        """(row, id) of ``row`` and the rows after it not yet held, within one page."""
        page = self._id_page(row // ID_PAGE)
        first = row - (row // ID_PAGE) * ID_PAGE
        out: list[tuple[int, int]] = []
        for i, rid in enumerate(page[first : first + BATCH_ROWS]):
            if i == 0 or (row + i) not in self._rows:
                out.append((row + i, rid))
        return out

    def close(self) -> None:
        """The dialog closed its connection: nothing more is read."""
        self._conn = None

    def row_at(self, row: int) -> PreviewRow:
        held = self._rows.get(row)
        if held is not None:
            self._rows.move_to_end(row)
            return held
        if self._conn is None:
            return _GONE
        wanted = self._wanted(row)
        by_id = {rid: r for r, rid in wanted}
        started = time.monotonic()
        found: dict[int, PreviewRow] = {}
        rows = redacted_rows(self._conn, [rid for _r, rid in wanted], self._redactor)
        try:
            for export_row in rows:
                r = by_id[export_row.request.summary.id]
                found[r] = preview_row(export_row)
                self.redacted += 1
                if row in found and time.monotonic() - started > BATCH_SECONDS:
                    break
        except sqlite3.Error as exc:  # the file went away or broke: said in the row
            found.setdefault(row, PreviewRow(PreviewLine(("", _cell(f"cannot read: {exc}"),
                                                          "", "", "")), ()))
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
        found.setdefault(row, _GONE)
        for r, shown in found.items():
            self._hold(r, shown)
        return found[row]

    def _hold(self, row: int, shown: PreviewRow) -> None:
        if row in self._rows:
            return
        self._rows[row] = shown
        self._held += 1 + len(shown.changes)
        while self._held > MAX_HELD_LINES and len(self._rows) > 1:
            _r, old = self._rows.popitem(last=False)
            self._held -= 1 + len(old.changes)

    # -- structure ---------------------------------------------------------------------

    # The view asks index() and hasChildren() of every request when it lays them out (a
    # million of each for a million requests): both stay a few operations.  flags() is
    # Qt's own for the same reason (Python's flag arithmetic costs 2.5 us a call).

    def index(self, row: int, column: int, parent: AnyIndex = _TOP) -> QModelIndex:
        if not parent.isValid():
            if 0 <= row < self.total and 0 <= column < 5:
                return self.createIndex(row, column, 0)
            return QModelIndex()
        if column < 0 or column >= 5 or row < 0 or parent.internalId() != 0 or parent.column() != 0:
            return QModelIndex()
        if row >= len(self.row_at(parent.row()).changes):
            return QModelIndex()
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, child: AnyIndex | None = None) -> Any:  # type: ignore[override]
        if child is None:
            return QObject.parent(self)
        if not child.isValid() or child.internalId() == 0:
            return QModelIndex()
        return self.createIndex(child.internalId() - 1, 0, 0)

    def rowCount(self, parent: AnyIndex = _TOP) -> int:
        if not parent.isValid():
            return self.total
        if parent.internalId() != 0 or parent.column() != 0:
            return 0
        return len(self.row_at(parent.row()).changes)

    def columnCount(self, parent: AnyIndex = _TOP) -> int:
        return len(COLUMNS)

    def hasChildren(self, parent: AnyIndex = _TOP) -> bool:
        # Yes for every request, without redacting it (one with no change expands to
        # nothing; its row says "0 changes").
        if parent.internalId():
            return False  # a change
        if not parent.isValid():
            return self.total > 0
        return parent.column() == 0

    # -- data --------------------------------------------------------------------------

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        return column_title(COLUMNS, section, orientation, role)

    def line(self, index: AnyIndex) -> PreviewLine | None:
        if not index.isValid():
            return None
        top = index.internalId()
        if top == 0:
            return self.row_at(index.row()).line
        changes = self.row_at(top - 1).changes
        return changes[index.row()] if index.row() < len(changes) else None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        line = self.line(index)
        if line is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return line.cells[col]
        tip = line.tips[col] if col < len(line.tips) else None
        return plain_tooltip(tip) if tip and tip != line.cells[col] else None


class SummaryWorker(SessionWorker):
    """Counts what redacting the whole selection changes, writing nothing. Its outcome
    is the RedactionSummary."""

    progressed = Signal(int, int)  # requests done, requests in all

    def __init__(
        self, session: Path, selection: Selection, redactor: Redactor,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(session, selection, redactor, parent)
        self.redactor: Redactor = redactor

    def work(self, conn: sqlite3.Connection) -> object:
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done in (0, total) or now - last[0] >= 0.1:  # ten signals a second at most
                last[0] = now
                self.progressed.emit(done, total)

        yielded = [time.monotonic()]

        def cancelled() -> bool:
            # Asked between rows: every millisecond or so, let the GUI thread in, whose
            # calls into Python (a cell painted, a row laid out) would else each wait for
            # the interpreter's switch interval (5 ms) while this thread redacts.
            now = time.monotonic()
            if now - yielded[0] >= YIELD_SECONDS:
                time.sleep(0)
                yielded[0] = time.monotonic()
            return self._cancel

        try:
            return count_redactions(
                conn, self.selection, self.redactor, progress=progress, cancelled=cancelled,
            )
        except ExportCancelled:
            return None
        except SessionError as exc:
            return str(exc)
        except sqlite3.Error as exc:  # the file went away or broke while it was read
            return f"cannot count what will be redacted: {exc}"


class ShareDialog(QDialog):
    """Preview of a redacted export of ``selection``, then a redacted HAR written."""

    exported = Signal(str)
    #: The summary of the whole selection has been counted (its sentence).
    counted = Signal(str)

    def __init__(
        self, session: Path, selection: Selection, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("shareDialog")
        self.setWindowTitle("Share for bug report")
        self.session = session
        self.worker: ExportWorker | None = None
        self.counter: SummaryWorker | None = None
        self.key = secrets.token_bytes(32)
        self.redactor = Redactor(key=self.key)
        self.full_summary: RedactionSummary | None = None
        try:
            self._conn: Any = open_existing(session)
        except SessionError as exc:
            self._conn = None
            problem: str | None = str(exc)
        else:
            problem = None
        # What the dialog opened on: requests that arrive later are not in it.
        self.selection = frozen(self._conn, selection) if self._conn is not None else selection

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

        self.model = RedactionPreviewModel(self._conn, self.selection, self.redactor, self)
        self.tree = QTreeView(self)
        self.tree.setObjectName("redactionPreview")
        self.tree.setUniformRowHeights(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionBehavior(QTreeView.SelectionBehavior.SelectRows)
        self.tree.setEditTriggers(QTreeView.EditTrigger.NoEditTriggers)
        self.tree.setModel(self.model)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in enumerate(_WIDTHS):
            header.resizeSection(col, width)
        self.summary = QLabel(self)
        self.summary.setObjectName("redactionSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        # Room for the two lines a long summary takes: the preview does not jump when
        # the count ends.
        self.summary.setMinimumHeight(2 * self.summary.fontMetrics().lineSpacing())
        self.count_progress = QProgressBar(self)
        self.count_progress.setObjectName("redactionCountProgress")
        self.count_progress.setTextVisible(False)
        self.count_progress.setFixedWidth(160)
        self.count_progress.hide()
        summary_row = QHBoxLayout()
        summary_row.addWidget(self.summary, 1)
        summary_row.addWidget(self.count_progress)
        self.message = QLabel(self)
        self.message.setObjectName("shareMessage")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        self.message.hide()
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
        layout.addLayout(summary_row)
        layout.addWidget(self.message)
        layout.addWidget(self.progress)
        layout.addWidget(buttons)
        self.resize(980, 620)
        if problem is not None:
            self.summary.setText(problem)
            self.save_button.setEnabled(False)
            self.copy_button.setEnabled(False)
        else:
            self._lay_out_then_count()

    def _lay_out_then_count(self) -> None:
        """Lay the rows out (about 2 us a request: 2 s for a million), then count.

        The count would slow the layout's million calls into Python by as much again
        if it ran meanwhile, each of them waiting for the interpreter.
        """
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.tree.doItemsLayout()
        finally:
            QApplication.restoreOverrideCursor()
        if self.model.total:
            self.tree.expand(self.model.index(0, 0))
        self._start_count()

    def _options(self) -> RedactionOptions:
        return RedactionOptions(_words(self.extra_keys.text()), _words(self.keep_values.text()))

    def _new_redactor(self) -> Redactor:
        """Another redactor with this preview's key and options: the same masks."""
        return Redactor(self._options(), key=self.key)

    @Slot()
    def refresh(self) -> None:
        """Options changed: new masks, every row redacted again when looked at, and the
        count started over."""
        if self._conn is None:
            return
        self._stop_count()
        self.key = secrets.token_bytes(32)
        self.redactor = self._new_redactor()
        self.model.reset_with(self.redactor)
        self._lay_out_then_count()

    # -- the summary of the whole selection -----------------------------------------------

    def _start_count(self) -> None:
        self.full_summary = None
        total = self.model.total
        self.count_progress.setRange(0, max(total, 1))
        self.count_progress.setValue(0)
        self.count_progress.show()
        self._show_count(0, total)
        counter = SummaryWorker(self.session, self.selection, self._new_redactor(), self)
        counter.progressed.connect(
            lambda done, total, c=counter: self._show_count(done, total) if c is self.counter else None
        )
        counter.finished_with.connect(lambda outcome, c=counter: self._on_counted(c, outcome))
        self.counter = counter
        counter.start()

    def _stop_count(self) -> None:
        counter, self.counter = self.counter, None
        if counter is not None:
            counter.cancel()
            counter.wait()

    def _show_count(self, done: int, total: int) -> None:
        self.count_progress.setMaximum(max(total, 1))
        self.count_progress.setValue(done)
        self.summary.setText(
            f"{total:,} request(s) to share; counting what will be redacted\u2026 "
            f"{done:,} of {total:,}"
        )

    def _on_counted(self, counter: SummaryWorker, outcome: object) -> None:
        counter.wait()
        if counter is not self.counter:  # a count the options made obsolete
            return
        self.counter = None
        self.count_progress.hide()
        if isinstance(outcome, RedactionSummary):
            self._show_summary(outcome)
        elif isinstance(outcome, str):
            self.summary.setText(outcome)

    def _show_summary(self, summary: RedactionSummary) -> None:
        self.full_summary = summary
        sentence = summary.sentence()
        self.summary.setText(sentence)  # word for word what the file's summary says
        self.counted.emit(sentence)

    def change_count(self) -> int:
        """Changes in the whole selection (0 until counted)."""
        s = self.full_summary
        return sum(s.by_kind.values()) + s.dropped if s is not None else 0

    # -- saving and copying -------------------------------------------------------------------

    @Slot()
    def choose_and_save(self) -> None:
        default = str(self.session.with_name(self.session.stem + "-redacted.har"))
        chosen, _ = QFileDialog.getSaveFileName(self, "Save redacted HAR", default, "HAR (*.har)")
        if chosen:
            self.save(Path(chosen))

    def save(self, path: Path) -> None:
        if self.worker is not None:
            return
        options = ExportOptions(format="har", redact=True, redaction=self._options(),
                                session_name=self.session.stem)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.save_button.setEnabled(False)
        # The preview's key, a redactor of its own (the file's summary is counted afresh).
        self.worker = ExportWorker(self.session, path, self.selection, options,
                                   self._new_redactor(), self)
        self.worker.finished_with.connect(lambda outcome: self._on_saved(outcome, path))
        self.worker.start()

    def _on_saved(self, outcome: object, path: Path) -> None:
        if self.worker is not None:
            self.worker.wait()
        self.worker = None
        self.progress.hide()
        self.save_button.setEnabled(True)
        self.message.show()
        if isinstance(outcome, ExportResult):
            sentence = describe(outcome, path)
            self.message.setText(sentence)
            if self.counter is not None and outcome.redaction is not None:
                # The file was the whole selection: its summary is the count.
                self._stop_count()
                self.count_progress.hide()
                self._show_summary(outcome.redaction)
            self.exported.emit(sentence)
        else:
            self.message.setText(str(outcome) if outcome else "Cancelled; nothing was written.")

    @Slot()
    def copy_for_tracker(self) -> None:
        refusal = too_many_to_copy(self.model.total, "Save Redacted HAR")
        if refusal is not None:
            self.message.show()
            self.message.setText(refusal)
            return
        text = markdown_text(self.session, self.selection, self._new_redactor())
        QGuiApplication.clipboard().setText(text)
        self.message.show()
        self.message.setText("Copied the Markdown table and the redacted JSON to the clipboard.")

    @Slot()
    def _on_close(self) -> None:
        self.reject()

    def done(self, result: int) -> None:
        self._stop_count()
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
            self.worker = None
        if self._conn is not None:
            self.model.close()
            self._conn.close()
            self._conn = None
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


#: Requests copied to the clipboard at most: the copy is built on the window's thread,
#: and a clipboard of megabytes is no way to share them (a file is).
COPY_LIMIT = 1_000


def too_many_to_copy(count: int, instead: str = "Share for Bug Report or Export") -> str | None:
    """Why ``count`` requests are not copied (``instead``: how to save them), or None
    when they can be."""
    if count <= COPY_LIMIT:
        return None
    return (
        f"{count:,} requests are too many for the clipboard (at most {COPY_LIMIT:,}): "
        f"select fewer, or save them with {instead}"
    )


def selection_for(ids: list[int], query: CompiledQuery) -> Selection:
    return Selection.of_ids(ids) if ids else Selection(query)
