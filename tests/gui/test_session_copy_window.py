"""Save a Copy As... and the read-only open copy off the GUI thread: the window goes on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QPushButton

from inspector.core.session.store import SessionError, SessionStore, open_existing
from inspector.gui.session_actions import CopyWorker, SessionHost
from tests.gui.conftest import append, catalogue_requests, post

pytestmark = pytest.mark.gui

#: About 48 MiB of bodies: a copy of one page a step takes long enough to watch.
_BIG_BODY = b'{"event": "sms:message:in", "payload": {"text": "' + b"x" * 240_000 + b'"}}'


def big_session(path: Path) -> Path:
    store = SessionStore(path)
    append(store, [("/sms", _BIG_BODY)] * 200 + catalogue_requests())
    store.close()
    return path


class Ticks:
    """A 10 ms timer that counts the ticks it got while a session copy was running."""

    def __init__(self, host: SessionHost) -> None:
        self.host = host
        self.during_copy = 0
        self.modality: Qt.WindowModality | None = None
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        if any(isinstance(w, CopyWorker) and w.isRunning() for w in self.host._workers):
            self.during_copy += 1
            progress = self.host.copy_progress
            if progress is not None:
                self.modality = progress.windowModality()


def _rows(path: Path) -> int:
    conn = open_existing(path)
    try:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])
    finally:
        conn.close()


def test_read_only_open_copies_while_the_window_goes_on(host: SessionHost, tmp_path: Path,
                                                         qtbot) -> None:
    first = host.open(tmp_path / "mine.whsession")
    path = big_session(tmp_path / "theirs.whsession")
    os.chown(path, 4321, -1) if os.geteuid() == 0 else os.chmod(path, 0o444)
    host.copy_pages = 1
    ticks = Ticks(host)
    window = host.open(path)
    ticks.timer.stop()
    assert ticks.during_copy >= 3  # the event loop ran throughout the copy
    assert ticks.modality == Qt.WindowModality.WindowModal  # no other command meanwhile
    assert window is not first and host.current.read_only
    assert window.windowTitle().endswith("(read-only) — Webhook Inspector")
    qtbot.waitUntil(lambda: window.model.rowCount() == 219, timeout=10000)
    assert host.current.store.path != path and _rows(host.current.store.path) == 219


def test_cancelling_the_read_only_copy_keeps_the_open_session(host: SessionHost, tmp_path: Path,
                                                              qtbot) -> None:
    first = host.open(tmp_path / "mine.whsession")
    path = big_session(tmp_path / "theirs.whsession")
    host.copy_pages = 1

    def cancel_once_running() -> None:
        if host.copy_progress is not None and any(isinstance(w, CopyWorker) for w in host._workers):
            host.copy_progress.findChild(QPushButton).click()  # as the user does
        else:
            QTimer.singleShot(5, cancel_once_running)

    QTimer.singleShot(5, cancel_once_running)
    with pytest.raises(SessionError, match="Cancelled; theirs.whsession was not opened"):
        host.open(path, read_only=True)
    assert host.current is not None and host.current.window is first and first.isVisible()
    assert post(first.url, "/sms", b"{}") == 200  # still listening, into the same session
    qtbot.waitUntil(lambda: first.model.rowCount() == 1)
    assert not list(Path(p) for p in host._private_dirs)  # no private copy kept


def test_save_a_copy_of_a_large_session_while_capturing(host: SessionHost, tmp_path: Path,
                                                        qtbot) -> None:
    path = big_session(tmp_path / "live.whsession")
    window = host.open(path)
    host.copy_pages = 1
    ticks = Ticks(host)
    target = tmp_path / "copy.whsession"
    with qtbot.waitSignal(host.copy_finished, timeout=60000) as done:
        worker = host.save_copy(target)
        assert worker is not None
        # The user goes on working in the window meanwhile: the progress dialog is not modal.
        assert host.copy_progress.windowModality() == Qt.WindowModality.NonModal
        posted = 0
        while worker.isRunning() and posted < 20:  # rows arrive while the copy is made
            assert post(window.url, "/sms", b'{"id": "during"}') == 200
            posted += 1
            qtbot.wait(10)  # and the window goes on meanwhile (the post itself blocks it)
    ticks.timer.stop()
    assert done.args == [True] and ticks.during_copy >= 1
    assert posted >= 1
    count = _rows(target)
    assert 219 <= count <= 219 + posted
    conn = open_existing(target)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert not list(tmp_path.glob(".copy.whsession.*.part"))


def test_a_failed_copy_is_one_line(host: SessionHost, tmp_path: Path, qtbot) -> None:
    host.open(tmp_path / "live.whsession")
    target = tmp_path / "missing" / "copy.whsession"
    with qtbot.waitSignal(host.copy_finished, timeout=20000) as done:
        host.save_copy(target)
    assert done.args == [False]
    assert host.last_message == f"cannot write {target}: folder {target.parent} does not exist"
