"""The window says when requests are refused for back-pressure, and when that is over
(issue 9, item 5)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from inspector.gui.main_window import MainWindow
from tests.core.httpraw import send
from tests.core.test_backpressure import stopped, wait_until, writer_pid
from tests.factories import running_engine

pytestmark = pytest.mark.gui


def test_status_bar_shows_busy_while_requests_are_refused(qtbot, settings, tmp_path) -> None:
    with running_engine(tmp_path / "b.whsession", max_inflight_requests=2) as eng:
        w = MainWindow(
            eng.store, eng.url, settings=settings, busy_problem=lambda: eng.overload.problem
        )
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        try:
            with ThreadPoolExecutor(2) as pool:
                with stopped(writer_pid(os.getpid())):
                    held = [pool.submit(send, eng.url, "POST", "/h", [], b"{}") for _ in range(2)]
                    wait_until(
                        lambda: eng.listener is not None and eng.listener._held_requests == 2
                    )
                    assert send(eng.url, "POST", "/refused", [], b"{}").status == 503
                    qtbot.waitUntil(w.recording_status.isVisible, timeout=3000)
                    assert w.recording_status.text() == "Busy: new requests are answered 503"
                    assert "not keeping up" in w.recording_status.toolTip()
                assert [f.result(timeout=30).status for f in held] == [200, 200]
            qtbot.waitUntil(lambda: not w.recording_status.isVisible(), timeout=3000)
            assert not w.recording_banner.isVisible()  # busy is not "no longer recording"
        finally:
            w.shutdown()
