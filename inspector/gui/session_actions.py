"""Sessions in the window: new, open, recent, read-only, save a copy, import, drop, crash.

:class:`SessionHost` owns what one open session needs (the store, the capture engine and the
window) and can swap them for another session, so the listening port stays the same when
the user opens yesterday's session to keep capturing into it.  It also builds the menu bar
and the row context menu from :mod:`inspector.gui.actions` onto the window, from outside,
so :class:`~inspector.gui.main_window.MainWindow` stays an assembler.

A session that is read-only, or belongs to another user, is shown from a private copy
(SQLite's backup API) and never written to; the title and status bar say so.  That copy,
and Save a Copy As..., are made by :func:`inspector.core.session.copy.copy_session` on a
thread of their own, with a progress dialog and Cancel, so the window goes on painting and
capturing meanwhile.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QEventLoop,
    QObject,
    QPoint,
    QSettings,
    Qt,
    QThread,
    Signal,
    Slot,
)
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox, QProgressDialog

from inspector.core.capture.engine import CaptureEngine, ListenError
from inspector.core.capture.limits import DEFAULT_MAX_BODY
from inspector.core.capture.provider_settings import ProviderSettings
from inspector.core.send.relay import Relay
from inspector.core.session.copy import STEP_PAGES, CopyCancelled, copy_session
from inspector.core.session.store import (
    SESSION_SUFFIX,
    SessionError,
    SessionStore,
    default_session_path,
)
from inspector.core.share.importer import ImportFileError, ImportResult, import_file
from inspector.gui.actions import (
    WINDOW_ACTIONS,
    build_actions,
    build_menu_bar,
    row_context_menu,
    set_selection_enabled,
)
from inspector.gui.export_dialog import ExportDialog
from inspector.gui.main_window import MainWindow, window_settings
from inspector.gui.share_dialog import (
    ShareDialog,
    curl_text,
    markdown_text,
    selection_for,
    too_many_to_copy,
)

MAX_RECENT = 8
IMPORTABLE = (".har", ".jsonl", ".ndjson")
_HEADLESS = ("offscreen", "minimal")


def is_foreign(path: Path) -> bool:
    """A session we must not write to: read-only for us, or another user's file."""
    try:
        st = path.stat()
    except OSError:
        return False
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        return True
    getuid = getattr(os, "getuid", None)
    return getuid is not None and st.st_uid != getuid()


def recent_sessions(settings: QSettings) -> list[Path]:
    value = settings.value("session/recent") or []
    items = [value] if isinstance(value, str) else list(value)
    return [Path(str(p)) for p in items if str(p)]


def remember_recent(settings: QSettings, path: Path) -> None:
    items = [p for p in recent_sessions(settings) if p != path]
    settings.setValue("session/recent", [str(p) for p in [path, *items][:MAX_RECENT]])
    settings.setValue("session/last", str(path))
    settings.sync()


def crashed_session(settings: QSettings) -> Path | None:
    """The session that was open when the app last stopped without closing (a crash)."""
    value = settings.value("session/open")
    if not value:
        return None
    path = Path(str(value))
    return path if path.is_file() else None


@dataclass
class OpenSession:
    path: Path  # what the user opened
    store: SessionStore
    engine: CaptureEngine | None
    window: MainWindow
    read_only: bool


class CopyWorker(QThread):
    """Copies a session off the GUI thread; ``cancel()`` stops it between backup steps.

    ``outcome`` is set before ``finished_with`` is emitted: True when the copy is written,
    the one-line message (str) when it failed, None when it was cancelled.
    """

    progressed = Signal(int, int)  # pages done, pages in all
    finished_with = Signal(object)

    def __init__(
        self, source: Path, target: Path, parent: QObject | None = None, *, pages: int = STEP_PAGES
    ) -> None:
        super().__init__(parent)
        self.source = source
        self.target = target
        self.pages = pages
        self.outcome: object = None
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:
        outcome: object
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done == total or now - last[0] >= 0.05:  # a signal per 50 ms, not per step
                last[0] = now
                self.progressed.emit(done, total)

        try:
            copy_session(
                self.source, self.target, progress=progress,
                cancelled=lambda: self._cancel, pages=self.pages,
            )
            outcome = True
        except CopyCancelled:
            outcome = None
        except SessionError as exc:
            outcome = str(exc)
        self.outcome = outcome
        self.finished_with.emit(outcome)


class ImportWorker(QThread):
    progressed = Signal(int)
    finished_with = Signal(object)  # ImportResult or an error sentence

    def __init__(self, source: Path, target: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.target = target
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:
        try:
            store = SessionStore(self.target)
        except SessionError as exc:
            self.finished_with.emit(str(exc))
            return
        try:
            result: object = import_file(
                self.source, store, progress=self.progressed.emit, cancelled=lambda: self._cancel
            )
        except ImportFileError as exc:
            result = str(exc)
        finally:
            store.close()
        self.finished_with.emit(result)


class SessionHost(QObject):
    """The open session and its window; swaps both for another session on request."""

    session_changed = Signal(str)
    #: A Save a Copy As... ended: True when the copy was written.
    copy_finished = Signal(bool)

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body: int | None = None,
        client_address: Callable[..., str | None] | None = None,
        settings: QSettings | None = None,
        parent: QObject | None = None,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        """``engine_options``: more :class:`CaptureEngine` settings every session's engine
        gets (header limit, provider answers and checks, the tunnel's credentials)."""
        super().__init__(parent)
        self.host = host
        self.port = port
        self.max_body = max_body
        self.client_address = client_address
        self.engine_options = dict(engine_options or {})
        self.settings = settings or window_settings()
        self.current: OpenSession | None = None
        self._private_dirs: list[tempfile.TemporaryDirectory[str]] = []
        self._workers: list[QThread] = []
        self.last_message = ""
        #: Pages a session copy copies per step (each step looks at Cancel).
        self.copy_pages = STEP_PAGES
        self.copy_progress: QProgressDialog | None = None

    # -- opening -------------------------------------------------------------------------

    def open(self, path: Path, *, read_only: bool | None = None) -> MainWindow:
        """Open ``path`` (raises SessionError / ListenError with a sentence)."""
        path = path.expanduser()
        if read_only is None:
            read_only = path.exists() and is_foreign(path)
        # The private copy is made before the open session is closed: the window goes on
        # meanwhile, and a copy that fails or is cancelled changes nothing.
        copy = self._private_copy(path) if read_only else None
        previous = self.current
        if previous is not None:
            self._close_current()
        try:
            opened = self._open_copy(path, copy) if copy is not None else self._open_writable(path)
        except (SessionError, ListenError):
            if previous is not None and previous.path != path:
                self.current = (
                    self._open_copy(previous.path, previous.store.path)
                    if previous.read_only
                    else self._open_writable(previous.path)
                )
                self.current.window.show()
            raise
        self.current = opened
        if previous is not None:
            previous.window.close()
            previous.window.deleteLater()
        opened.window.show()
        if not read_only:
            remember_recent(self.settings, path)
            self.settings.setValue("session/open", str(path))
            self.settings.sync()
        self.session_changed.emit(str(path))
        return opened.window

    def _engine_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {"host": self.host, "port": self.port}
        if self.max_body is not None:
            kwargs["max_body"] = self.max_body
        if self.client_address is not None:
            kwargs["client_address"] = self.client_address
        kwargs.update(self.engine_options)
        return kwargs

    def apply_provider_settings(self, settings: ProviderSettings) -> None:
        """Saved in the provider dialog: the running engine and every later session's."""
        self.engine_options["answers"] = {
            **(self.engine_options.get("answers") or {}),
            **settings.answer_config(),
        }
        self.engine_options["inspection"] = settings.inspection_config()
        engine = self.current.engine if self.current is not None else None
        if engine is not None:
            engine.set_inspection(settings.inspection_config())
            engine.update_answers(settings.answer_config())

    def _open_writable(self, path: Path) -> OpenSession:
        store = SessionStore(path)
        # The window's Forward to field sets the relay's target; an outbox a killed run left
        # in this session resumes as soon as it is set again (it is remembered).
        relay = Relay(store, max_body=self.max_body or DEFAULT_MAX_BODY)
        engine = CaptureEngine(store, relay=relay, **self._engine_kwargs())  # type: ignore[arg-type]
        try:
            engine.start()
        except ListenError:
            store.close(remove_if_empty=True)  # a failed start leaves no empty session behind
            raise
        if self.port == 0:
            self.port = engine.port  # keep the same URL when the session changes
        window = MainWindow(
            store, engine.url, host=engine.host, port=engine.port,
            recording_problem=lambda: engine.recording_problem,
            recording_trouble=lambda: engine.recording_trouble,
            engine=engine,
            apply_provider_settings=self.apply_provider_settings,
            busy_problem=lambda: engine.overload.problem,
            relay=relay,
            run_on_engine=engine.call,
        )  # fmt: skip
        opened = OpenSession(path, store, engine, window, False)
        self._install(opened)
        return opened

    def _private_copy(self, path: Path) -> Path:
        """A copy of ``path`` in a private folder, to show without ever writing to it."""
        if not path.is_file():
            raise SessionError(f"no session file at {path}")
        private = tempfile.TemporaryDirectory(prefix="wi-readonly-")
        copy = Path(private.name) / path.name
        try:
            self._copy_and_wait(path, copy, f"Reading {path.name} (read-only)\u2026")
        except BaseException:
            private.cleanup()
            raise
        self._private_dirs.append(private)
        return copy

    def _open_copy(self, path: Path, copy: Path) -> OpenSession:
        store = SessionStore(copy)
        window = MainWindow(store, "", host=self.host, port=None)
        opened = OpenSession(path, store, None, window, True)
        self._install(opened)
        return opened

    # -- copies, off the GUI thread ---------------------------------------------------------

    def _start_copy(
        self, source: Path, target: Path, label: str, *, modal: bool = False
    ) -> CopyWorker:
        """A running copy with its progress dialog (shown after half a second) and Cancel.

        ``modal``: the window takes no input meanwhile (it still paints and captures)."""
        worker = CopyWorker(source, target, self, pages=self.copy_pages)
        self._workers.append(worker)
        progress = QProgressDialog(label, "Cancel", 0, 0, self._window())
        progress.setObjectName("copyProgress")
        progress.setMinimumWidth(360)
        progress.setWindowModality(
            Qt.WindowModality.WindowModal if modal else Qt.WindowModality.NonModal
        )
        progress.setMinimumDuration(500)
        progress.setAutoReset(False)
        progress.setAutoClose(False)
        progress.canceled.connect(worker.cancel)

        def advance(done: int, total: int) -> None:
            if total and progress.maximum() != total:
                progress.setMaximum(total)
            progress.setValue(done)

        def finish(_outcome: object) -> None:
            worker.wait()
            if worker in self._workers:
                self._workers.remove(worker)
            progress.close()
            progress.deleteLater()

        worker.progressed.connect(advance)
        worker.finished_with.connect(finish)
        self.copy_progress = progress
        worker.start()
        return worker

    def _copy_and_wait(self, source: Path, target: Path, label: str) -> None:
        """Copy, waiting in a local event loop: the window keeps painting and capturing
        (its input goes to the modal progress dialog, so no other command starts
        meanwhile), and the caller gets the copy."""
        worker = self._start_copy(source, target, label, modal=True)
        loop = QEventLoop()
        worker.finished_with.connect(lambda _o: loop.quit())  # queued: never missed
        loop.exec()
        worker.wait()
        if worker.outcome is None:
            raise SessionError(f"Cancelled; {source.name} was not opened")
        if isinstance(worker.outcome, str):
            raise SessionError(worker.outcome)

    def _close_current(self) -> None:
        current = self.current
        if current is None:
            return
        current.window.save_state()
        current.window.hide()  # it must not paint rows from a closed store
        current.window.shutdown()
        if current.engine is not None:
            current.engine.stop()
        current.store.close()
        self.current = None

    def shutdown(self) -> None:
        """A clean stop: the next start offers no crash recovery."""
        for worker in list(self._workers):
            if isinstance(worker, CopyWorker):
                worker.cancel()  # a copy left unfinished leaves nothing behind
            worker.wait()
        self._close_current()
        self.settings.remove("session/open")
        self.settings.sync()
        for private in self._private_dirs:
            private.cleanup()
        self._private_dirs.clear()

    # -- the window's menus ----------------------------------------------------------------

    def _install(self, opened: OpenSession) -> None:
        window = opened.window
        handlers: dict[str, Callable[[], object]] = {
            "new_session": self.new_session,
            "open_session": self.choose_and_open,
            "save_copy": self.choose_and_save_copy,
            "import_file": self.choose_and_import,
            "export": lambda: self.export(selected_only=False),
            "share": lambda: self.share(selected_only=False),
            "copy_curl": self.copy_curl,
            "copy_tracker": self.copy_tracker,
            "export_selected": lambda: self.export(selected_only=True),
            "share_selected": lambda: self.share(selected_only=True),
        }
        actions = build_actions(window, handlers)
        window_actions = {
            attr: getattr(window, attr) for attr, _menu in WINDOW_ACTIONS if hasattr(window, attr)
        }
        recent = QMenu("Open &Recent", window)
        recent.setObjectName("menuRecent")
        recent.aboutToShow.connect(lambda: self._fill_recent(recent))
        self._fill_recent(recent)
        menus = build_menu_bar(window.menuBar(), actions, window_actions, recent)
        window.setProperty("sessionActions", True)
        window.actions_by_name = actions  # type: ignore[attr-defined]
        window.menus_by_name = menus  # type: ignore[attr-defined]
        table = window.table
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        context = row_context_menu(window, actions)
        replays = getattr(getattr(window, "send", None), "actions", [])
        if replays:  # replay the selection, beside copying and exporting it
            context.addSeparator()
            context.addActions(replays)
        window.row_menu = context  # type: ignore[attr-defined]
        table.customContextMenuRequested.connect(
            lambda pos: self._show_row_menu(context, pos)
        )
        sel = table.selectionModel()
        can_replay = opened.engine is not None  # a read-only session has no listener

        def on_selection(*_: object) -> None:
            selected = bool(sel.selectedRows())
            set_selection_enabled(actions, selected)
            for action in replays:
                action.setEnabled(can_replay and selected)

        sel.selectionChanged.connect(on_selection)
        on_selection()
        if opened.read_only:
            for name in ("save_copy",):
                actions[name].setEnabled(True)
            window.setWindowTitle(f"{opened.path.name} (read-only) \u2014 Webhook Inspector")
            window.statusBar().showMessage(
                f"{opened.path} is read-only or another user's: shown from a private copy, "
                "never written; not listening"
            )
        else:
            window.setWindowTitle(f"{opened.path.name} \u2014 Webhook Inspector")
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    def _show_row_menu(self, menu: QMenu, pos: QPoint) -> None:
        window = self._window()
        if window is None:
            return
        index = window.table.indexAt(pos)
        if index.isValid() and not window.table.selectionModel().isRowSelected(index.row()):
            window.table.selectRow(index.row())
        menu.popup(window.table.viewport().mapToGlobal(pos))

    def _fill_recent(self, menu: QMenu) -> None:
        menu.clear()
        items = [p for p in recent_sessions(self.settings) if p.is_file()]
        if not items:
            empty = menu.addAction("No recent sessions")
            empty.setEnabled(False)
            return
        for path in items:
            action = menu.addAction(path.name)
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _c=False, p=path: self.open_reporting(p))

    def _window(self) -> MainWindow | None:
        return self.current.window if self.current is not None else None

    def _say(self, text: str, timeout: int = 6000) -> None:
        self.last_message = text
        window = self._window()
        if window is not None:
            window.statusBar().showMessage(text, timeout)

    def _error(self, text: str) -> None:
        self._say(text, 10000)
        window = self._window()
        app = QApplication.instance()
        headless = isinstance(app, QGuiApplication) and app.platformName() in _HEADLESS
        if window is not None and not headless:
            box = QMessageBox(QMessageBox.Icon.Warning, "Webhook Inspector", text, parent=window)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.exec()

    # -- commands ------------------------------------------------------------------------

    def open_reporting(self, path: Path, *, read_only: bool | None = None) -> bool:
        try:
            self.open(path, read_only=read_only)
        except (SessionError, ListenError) as exc:
            self._error(str(exc))
            return False
        return True

    @Slot()
    def new_session(self) -> bool:
        return self.open_reporting(default_session_path())

    @Slot()
    def choose_and_open(self) -> None:
        window = self._window()
        start = str(self.current.path.parent) if self.current else ""
        chosen, _ = QFileDialog.getOpenFileName(
            window, "Open session", start, f"Sessions (*{SESSION_SUFFIX});;All files (*)"
        )
        if chosen:
            self.open_reporting(Path(chosen))

    @Slot()
    def choose_and_save_copy(self) -> None:
        if self.current is None:
            return
        default = str(self.current.path.with_name(self.current.path.stem + "-copy" + SESSION_SUFFIX))
        chosen, _ = QFileDialog.getSaveFileName(
            self._window(), "Save a copy of the session", default, f"Sessions (*{SESSION_SUFFIX})"
        )
        if chosen:
            self.save_copy(Path(chosen))

    def save_copy(self, target: Path) -> CopyWorker | None:
        """Start writing a copy of the open session to ``target`` (None when refused);
        the status bar says how it ended, and ``copy_finished`` tells whether it was written."""
        current = self.current
        if current is None:
            return None
        target = target.expanduser()
        if target.exists() and (
            target.resolve() == current.path.resolve() or target.resolve() == current.store.path.resolve()
        ):
            self._error("A copy cannot be written over the session itself; choose another name.")
            return None
        worker = self._start_copy(current.store.path, target, f"Saving a copy to {target.name}\u2026")

        def done(outcome: object) -> None:
            if outcome is True:
                self._say(f"Saved a copy of the session to {target}")
            elif outcome is None:
                self._say("Cancelled; no copy was written")
            else:
                self._error(str(outcome))
            self.copy_finished.emit(outcome is True)

        worker.finished_with.connect(done)
        return worker

    @Slot()
    def choose_and_import(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self._window(), "Import", "", "HAR or JSONL (*.har *.jsonl *.ndjson);;All files (*)"
        )
        if chosen:
            self.import_into_new_session(Path(chosen))

    def import_into_new_session(self, source: Path, target: Path | None = None) -> ImportWorker:
        """Import off the GUI thread into a new session, then open it."""
        target = target or default_session_path()
        worker = ImportWorker(source, target, self)
        self._workers.append(worker)
        window = self._window()
        progress = QProgressDialog(f"Importing {source.name}\u2026", "Cancel", 0, 0, window)
        progress.setObjectName("importProgress")
        progress.setMinimumDuration(500)
        progress.canceled.connect(worker.cancel)
        worker.progressed.connect(lambda n: progress.setLabelText(f"Imported {n:,} request(s)\u2026"))

        def done(outcome: object) -> None:
            worker.wait()
            self._workers.remove(worker)
            progress.close()
            if isinstance(outcome, str):
                self._error(outcome)
                return
            assert isinstance(outcome, ImportResult)
            if outcome.imported == 0:
                for suffix in ("", "-wal", "-shm"):
                    Path(str(target) + suffix).unlink(missing_ok=True)
                self._error(f"Nothing could be imported from {source.name}: "
                            + ("; ".join(outcome.problems[:3]) or "no entries"))
                return
            if self.open_reporting(target):
                left = f"; {outcome.problem_count} left out" if outcome.problem_count else ""
                self._say(f"Imported {outcome.imported:,} request(s) from {source.name}{left}",
                          10000)
                if outcome.problems:
                    self._error("Some entries could not be imported:\n" + "\n".join(outcome.problems[:20]))

        worker.finished_with.connect(done)
        worker.start()
        return worker

    def _selected_ids(self) -> list[int]:
        window = self._window()
        if window is None:
            return []
        rows = sorted({i.row() for i in window.table.selectionModel().selectedRows()})
        ids = [window.model.id_at(r) for r in rows]
        return [i for i in ids if i is not None]

    def export(self, *, selected_only: bool, redact: bool = False) -> ExportDialog | None:
        current = self.current
        if current is None:
            return None
        window = current.window
        ids = self._selected_ids()
        dialog = ExportDialog(
            current.store.path,
            selected=ids,
            query=window.model.query,
            filtered_count=window.model.rowCount(),
            total=current.store.count(),
            redact=redact,
            parent=window,
        )
        if selected_only and ids:
            dialog.scope_selected.setChecked(True)
        dialog.exported.connect(self._say)
        dialog.show()
        return dialog

    def share(self, *, selected_only: bool) -> ShareDialog | None:
        current = self.current
        if current is None:
            return None
        ids = self._selected_ids() if selected_only else []
        dialog = ShareDialog(current.store.path, selection_for(ids, current.window.model.query),
                             current.window)
        dialog.exported.connect(self._say)
        dialog.show()
        return dialog

    @Slot()
    def copy_curl(self) -> None:
        ids = self._selected_ids()
        if not ids or self.current is None:
            self._say("Select requests to copy as curl")
            return
        refusal = too_many_to_copy(len(ids))
        if refusal is not None:
            self._say(refusal)
            return
        QGuiApplication.clipboard().setText(curl_text(self.current.store.path, ids))
        self._say(f"Copied {len(ids)} curl command(s)")

    @Slot()
    def copy_tracker(self) -> None:
        ids = self._selected_ids()
        if not ids or self.current is None:
            self._say("Select requests to copy for an issue tracker")
            return
        refusal = too_many_to_copy(len(ids))
        if refusal is not None:
            self._say(refusal)
            return
        text = markdown_text(self.current.store.path, selection_for(ids, self.current.window.model.query))
        QGuiApplication.clipboard().setText(text)
        self._say(f"Copied {len(ids)} request(s) as Markdown, redacted")

    # -- drag and drop ---------------------------------------------------------------------

    def dropped_paths(self, paths: list[Path]) -> None:
        for path in paths:
            suffix = path.suffix.lower()
            if suffix == SESSION_SUFFIX:
                self.open_reporting(path)
                return
            if suffix in IMPORTABLE:
                self.import_into_new_session(path)
                return
        self._say("Drop a .whsession to open it, or a .har / .jsonl file to import it")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QDragEnterEvent):
            urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
            if any(Path(u.toLocalFile()).suffix.lower() in (SESSION_SUFFIX, *IMPORTABLE)
                   for u in urls if u.isLocalFile()):
                event.acceptProposedAction()
                return True
        elif isinstance(event, QDropEvent):
            urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
            paths = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
            if paths:
                event.acceptProposedAction()
                self.dropped_paths(paths)
                return True
        return super().eventFilter(watched, event)
