"""The window says so, plainly and for good, once the engine has stopped recording."""

from __future__ import annotations

import os
import signal
import time
import urllib.error

import pytest
from PySide6.QtCore import QPoint, QSettings

from inspector.gui.main_window import RECORDING_ADVICE, MainWindow

from .conftest import post

pytestmark = pytest.mark.gui


def _writer_pid(engine) -> int:  # noqa: ANN001
    committer = engine._committer
    assert committer is not None and committer._proc is not None
    return committer._proc.pid


def test_banner_appears_within_a_second_once_the_writer_is_gone(
    window: MainWindow,
    engine,  # noqa: ANN001
    qtbot,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import inspector.core.capture.writer as writer

    assert post(window.url, "/sms", b"{}") == 200
    assert not window.recording_banner.isVisible()
    assert not window.recording_status.isVisible()

    monkeypatch.setattr(writer, "_MAX_RESTARTS", 0)
    os.kill(_writer_pid(engine), signal.SIGKILL)
    qtbot.waitUntil(lambda: engine.recording_problem is not None, timeout=10_000)
    problem = engine.recording_problem
    assert problem is not None
    noticed = time.monotonic()
    qtbot.waitUntil(window.recording_banner.isVisible, timeout=3000)
    assert time.monotonic() - noticed < 2.0  # polled every second

    text = window.recording_label.text()
    assert "no longer being recorded" in text
    assert problem[1:] in text  # the engine's sentence, capitalised
    assert RECORDING_ADVICE in text
    assert window.recording_status.isVisible()
    assert "Not recording" in window.recording_status.text()
    assert problem[1:] in window.recording_status.toolTip()
    assert "Recording to" not in window.statusBar().currentMessage()
    toolbar_bottom = window.toolbar.mapTo(window, QPoint(0, window.toolbar.height())).y()
    banner_top = window.recording_banner.mapTo(window, QPoint(0, 0)).y()
    filter_top = window.filter_bar.mapTo(window, QPoint(0, 0)).y()
    assert toolbar_bottom <= banner_top < filter_top, "the banner sits under the toolbar"

    with pytest.raises(urllib.error.HTTPError) as refused:
        post(window.url, "/sms", b"{}")
    refused.value.close()
    assert refused.value.code == 503
    window.statusBar().showMessage("Copied something", 50)  # a passing message
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "", timeout=2000)
    assert window.recording_banner.isVisible() and window.recording_status.isVisible()


def test_banner_stays_once_shown_and_never_shows_without_a_problem(
    engine,  # noqa: ANN001
    qtbot,  # noqa: ANN001
    settings: QSettings,
) -> None:
    problem: list[str | None] = [None]
    w = MainWindow(
        engine.store, engine.url, settings=settings, recording_problem=lambda: problem[0]
    )
    qtbot.addWidget(w)
    plain = MainWindow(engine.store, engine.url, settings=settings)
    qtbot.addWidget(plain)
    try:
        w.show()
        plain.show()
        qtbot.waitExposed(w)
        problem[0] = "the session writer could not be restarted: disk full"
        qtbot.waitUntil(w.recording_banner.isVisible, timeout=3000)
        assert "The session writer could not be restarted: disk full." in w.recording_label.text()
        problem[0] = None  # the engine stopping reports None again: the warning must stay
        ticks = [0]
        w._rate_timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
        qtbot.waitUntil(lambda: ticks[0] >= 1, timeout=3000)
        assert w.recording_banner.isVisible()
        assert not plain.recording_banner.isVisible()
    finally:
        w.shutdown()
        plain.shutdown()
