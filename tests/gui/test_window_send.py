"""Forwarding and replay from the window: real widgets, a real engine, a real aiohttp app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QDialog

from inspector.core.capture.engine import CaptureEngine
from inspector.core.send.relay import Relay
from inspector.core.send.replay import ReplayItem, sign
from inspector.core.session.forwards import replay_of
from inspector.gui.detail.pane import TAB_RESPONSE
from inspector.gui.table_model import COLUMN_INDEX
from tests.factories import running_engine
from tests.gui.conftest import post
from tests.send.app import target_app

pytestmark = pytest.mark.gui


@pytest.fixture
def relay_engine(session_path: Path) -> Iterator[CaptureEngine]:
    with running_engine(
        session_path, relay=lambda store: Relay(store, retry_delays=(0.05, 0.1))
    ) as eng:
        yield eng


def _window(qtbot: Any, eng: CaptureEngine, settings: QSettings) -> Any:
    from inspector.gui.main_window import MainWindow

    w = MainWindow(eng.store, eng.url, settings=settings, relay=eng.relay, run_on_engine=eng.call)
    qtbot.addWidget(w)
    w.resize(1300, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def send_window(qtbot, relay_engine, settings):  # noqa: ANN001, ANN201
    w = _window(qtbot, relay_engine, settings)
    try:
        yield w
    finally:
        w.shutdown()


def _type_forward(qtbot: Any, window: Any, text: str) -> None:
    edit = window.send.forward.url_edit
    edit.clear()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def test_forward_field_applies_remembers_and_lights(
    qtbot, send_window, relay_engine, settings
) -> None:  # noqa: ANN001
    control = send_window.send.forward
    assert control.light_state == "off"
    with target_app() as app:
        _type_forward(qtbot, send_window, app.url)
        assert relay_engine.relay.target == app.url
        assert settings.value("forward/url") == app.url
        post(relay_engine.url, "/sms", b'{"a":1}')
        qtbot.waitUntil(lambda: len(app.received) == 1, timeout=5000)
        qtbot.waitUntil(lambda: control.state_label.text() == "app up", timeout=5000)
        assert control.light_state == "up"
    # the app is gone now: the next request is held and the light goes red
    post(relay_engine.url, "/sms", b'{"a":2}')
    qtbot.waitUntil(lambda: control.light_state == "down", timeout=5000)
    assert "connection refused" in control.light.toolTip()
    qtbot.mouseClick(control.pause_button, Qt.MouseButton.LeftButton)
    assert relay_engine.relay.paused and control.light_state == "paused"


def test_forward_field_refuses_a_bad_url(qtbot, send_window, relay_engine, settings) -> None:  # noqa: ANN001
    _type_forward(qtbot, send_window, "localhost:3000")
    assert relay_engine.relay.target is None
    assert "must start with http://" in send_window.send.forward.url_edit.toolTip()
    assert settings.value("forward/url") in (None, "")


def test_forward_field_is_restored_from_settings(qtbot, relay_engine, settings) -> None:  # noqa: ANN001
    settings.setValue("forward/url", "http://127.0.0.1:9/app")
    settings.setValue("forward/mode", "pass-through")
    settings.setValue("forward/exact", "true")
    settings.setValue("forward/deadline", 1.5)
    w = _window(qtbot, relay_engine, settings)
    try:
        assert w.send.forward.url_edit.text() == "http://127.0.0.1:9/app"
        relay = relay_engine.relay
        assert relay.target == "http://127.0.0.1:9/app"
        assert (relay.mode, relay.exact, relay.deadline) == ("pass-through", True, 1.5)
        control = w.send.forward
        control.exact_box.setChecked(False)
        control.deadline_box.setValue(4.0)
        control.deadline_box.editingFinished.emit()
        assert (relay.exact, relay.deadline) == (False, 4.0)
        assert settings.value("forward/exact") == "false"
    finally:
        w.shutdown()


def test_response_tab_shows_the_apps_500_beside_our_200(qtbot, send_window, relay_engine) -> None:  # noqa: ANN001
    async def boom(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.json_response({"error": "db down", "code": 17}, status=500)

    relay_engine.relay.configure(None)
    with target_app(answer=boom) as app:
        _type_forward(qtbot, send_window, app.url)
        relay_engine.relay._worker.max_attempts = 1  # noqa: SLF001
        post(relay_engine.url, "/whatsapp", b'{"event":"x"}')
        qtbot.waitUntil(lambda: send_window.model.rowCount() == 1, timeout=5000)
        model = send_window.model
        qtbot.waitUntil(lambda: model.index(0, COLUMN_INDEX["app"]).data() == "500", timeout=5000)
        send_window.select_request(1)
        pane = send_window.detail
        qtbot.waitUntil(lambda: pane.response_tab.latest is not None, timeout=5000)
        pane.tabs.setCurrentIndex(TAB_RESPONSE)
        tab = pane.response_tab
        assert pane.tabs.tabText(TAB_RESPONSE) == "Res&ponse (app 500)"
        assert tab.provider_side.status_line.text().startswith("200")
        assert tab.app_side.status_line.text().startswith("500")
        assert tab.app_side.json_tab.model.document() == {"error": "db down", "code": 17}
        assert "db down" in tab.app_side.raw_view.shown_text()


def test_app_column_says_failed_when_the_app_never_answers(
    qtbot, send_window, relay_engine
) -> None:  # noqa: ANN001
    relay_engine.relay._worker.max_attempts = 1  # noqa: SLF001

    async def silent(request: web.Request, body: bytes) -> web.StreamResponse:
        await asyncio.sleep(10)
        return web.Response()

    send_window.send.forward.deadline_box.setValue(0.3)
    with target_app(answer=silent) as app:
        _type_forward(qtbot, send_window, app.url)
        post(relay_engine.url, "/sms", b"{}")
        qtbot.waitUntil(
            lambda: send_window.model.index(0, COLUMN_INDEX["app"]).data() == "failed",
            timeout=8000,
        )
        send_window.select_request(1)
        side = send_window.detail.response_tab.app_side
        assert side.status_line.text().startswith("No answer: timed out after 0.3 s")


def test_replay_action_sends_selected_rows_as_new_linked_rows(
    qtbot, send_window, relay_engine
) -> None:  # noqa: ANN001
    for i in range(3):
        post(relay_engine.url, "/sms", b'{"n":%d}' % i)
    qtbot.waitUntil(lambda: send_window.model.rowCount() == 3, timeout=5000)
    with target_app() as app:
        _type_forward(qtbot, send_window, app.url)
        send_window.table.selectAll()
        send_window.action_replay.trigger()
        panel = send_window.send.progress_panel
        assert panel.isVisible()
        qtbot.waitUntil(lambda: send_window.model.rowCount() == 6, timeout=8000)
        qtbot.waitUntil(lambda: panel.close_button.isVisible(), timeout=8000)
        assert "Replay finished: 3 of 3 sent" in panel.label.text()
        assert app.bodies() == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    conn = relay_engine.store.open_reader()
    assert [replay_of(conn, i) for i in (4, 5, 6)] == [1, 2, 3]
    conn.close()
    send_window.select_request(1)
    assert [b.text() for b in send_window.detail.response_tab._link_buttons] == ["#4"]  # noqa: SLF001


def test_replay_editor_edits_checks_json_and_resigns(qtbot) -> None:  # noqa: ANN001
    from inspector.gui.replay_dialog import ReplayEditor

    item = ReplayItem(
        7,
        "POST",
        "http://127.0.0.1:9/sms",
        [("Host", "x"), ("Signature", "old"), ("Content-Type", "application/json")],
        b'{"a":1}',
    )
    editor = ReplayEditor(item, signing_key="")
    qtbot.addWidget(editor)
    assert editor.json_state.text() == "Valid JSON"
    assert [k for k, _ in editor.headers.headers()] == [
        "Signature",
        "Content-Type",
    ]  # Host follows the URL
    editor.body.setPlainText('{"a": 2,')
    qtbot.waitUntil(lambda: editor.json_state.text().startswith("Not valid JSON"), timeout=2000)
    assert "line 1" in editor.json_state.text()
    editor.keep_pretty.setChecked(True)
    editor.body.setPlainText('{"a": 2, "b": [1]}')
    qtbot.waitUntil(lambda: editor.body.toPlainText().startswith("{\n  "), timeout=2000)
    assert not editor.resign.isEnabled()
    editor.sign_key.setText("k")
    assert editor.resign.isEnabled()
    editor.resign.setChecked(True)
    out = editor.item()
    expected = b'{\n  "a": 2,\n  "b": [\n    1\n  ]\n}'
    assert out.body == expected
    assert ("Signature", sign(expected, "k")) in out.headers
    assert out.original_id == 7 and out.method == "POST"


def test_replay_editor_form_fields_edit_the_body(qtbot) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QTableWidgetItem

    from inspector.gui.replay_dialog import ReplayEditor

    item = ReplayItem(
        1,
        "POST",
        "http://127.0.0.1:9/sms",
        [("Content-Type", "application/x-www-form-urlencoded")],
        b"to=123&text=hi+there",
    )
    editor = ReplayEditor(item)
    qtbot.addWidget(editor)
    assert editor.body_tabs.currentIndex() == 1
    assert editor.form.item(1, 1).text() == "hi there"
    editor.form.setItem(1, 1, QTableWidgetItem("bye & more"))
    assert editor.item().body == b"to=123&text=bye+%26+more"


def test_edit_and_replay_from_the_window_sends_the_edited_bytes(
    qtbot, send_window, relay_engine
) -> None:  # noqa: ANN001
    post(relay_engine.url, "/sms", b'{"n":1}')
    qtbot.waitUntil(lambda: send_window.model.rowCount() == 1, timeout=5000)
    send_window.select_request(1)
    with target_app() as app:
        editor = send_window.send.editor_for_current()
        assert editor is not None
        qtbot.addWidget(editor)
        editor.url.setText(app.url + "/edited")
        editor.body.setPlainText('{"n": 2}')
        send_window.send.start([editor.item()])
        qtbot.waitUntil(lambda: len(app.received) == 1, timeout=5000)
        assert app.received[0].body == b'{"n": 2}' and app.received[0].path_qs == "/edited"
        qtbot.waitUntil(lambda: send_window.model.rowCount() == 2, timeout=5000)


def test_batch_dialog_choice(qtbot) -> None:  # noqa: ANN001
    from inspector.gui.replay_dialog import BatchReplayDialog

    d = BatchReplayDialog(5, targets={"Forward to URL": "", "This listener": "http://127.0.0.1:1/"})
    qtbot.addWidget(d)
    d.concurrency.setValue(4)
    d.pace.setCurrentIndex(2)
    d.scale.setValue(10)
    c = d.choice()
    assert (c.url, c.concurrency, c.speed) == ("http://127.0.0.1:1/", 4, 10.0)
    d.target.setCurrentIndex(d.target.count() - 1)
    d.other.setText("nope")
    d._on_accept()  # noqa: SLF001
    assert d.result() != QDialog.DialogCode.Accepted and "http://" in d.error.text()


@pytest.mark.slow
def test_window_stays_responsive_with_1000_replays_at_a_silent_app(
    qtbot, send_window, relay_engine
) -> None:  # noqa: ANN001
    async def never(request: web.Request, body: bytes) -> web.StreamResponse:
        await asyncio.sleep(3600)
        raise AssertionError

    with target_app(answer=never) as app:
        items = [ReplayItem(None, "POST", app.url, [], b"%d" % i) for i in range(1000)]
        batch = send_window.send.start(items, concurrency=20)
        assert batch is not None
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(20)
        timer.timeout.connect(lambda: ticks.append(time.monotonic()))
        timer.start()
        started = time.monotonic()
        qtbot.waitUntil(lambda: len(app.received) >= 20, timeout=5000)
        # the engine keeps answering the provider, and the GUI keeps turning, meanwhile
        for i in range(20):
            t = time.monotonic()
            assert post(relay_engine.url, "/sms", b'{"p":%d}' % i) == 200
            assert time.monotonic() - t < 1.0
            qtbot.wait(20)
        qtbot.wait(300)
        timer.stop()
        gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
        assert len(ticks) > (time.monotonic() - started) / 0.2  # ticked throughout
        assert max(gaps) < 0.5, max(gaps)
        panel = send_window.send.progress_panel
        assert "20 waiting for an answer" in panel.label.text()
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.close_button.isVisible(), timeout=10000)
        assert "Replay cancelled" in panel.label.text()
