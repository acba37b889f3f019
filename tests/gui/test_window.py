"""The real main window on a real listener: rows, filter bar, keyboard, settings, start-up."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication

from inspector.core.session.store import SessionError
from inspector.gui import app as gui_app
from inspector.gui.filter_bar import completions_for
from inspector.gui.main_window import MainWindow
from inspector.gui.shortcuts import SHORTCUTS
from inspector.gui.table_model import COLUMN_INDEX

from .conftest import catalogue_requests, post, status_body

pytestmark = pytest.mark.gui


def _send_catalogue(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    for path, body in catalogue_requests():
        assert post(window.url, path, body) == 200
    qtbot.waitUntil(lambda: window.model.rowCount() == 19, timeout=5000)


def _type_filter(window: MainWindow, qtbot, text: str) -> None:  # noqa: ANN001
    edit = window.filter_bar.edit
    edit.clear()
    qtbot.keyClicks(edit, text)
    window.filter_bar.apply_now()


def _column(window: MainWindow, key: str) -> list[str]:
    m = window.model
    return [m.index(r, COLUMN_INDEX[key]).data() for r in range(m.rowCount())]


def test_rows_appear_for_requests_sent_over_loopback(window, qtbot, qtmodeltester) -> None:
    qtmodeltester.check(window.model)
    assert window.empty_label.isVisible()
    _send_catalogue(window, qtbot)
    assert not window.empty_label.isVisible()
    events = _column(window, "event")
    assert events[0] == "sms:message:status" and events[-1] == "contacts:subscriber:subscription"
    assert _column(window, "path")[:3] == ["/sms", "/sms", "/whatsapp"]
    assert "19 requests" in window.stats_label.text()
    table = window.table
    assert table.isSortingEnabled()
    assert window.model.index(0, 0).data().count(":") == 2  # HH:MM:SS.mmm


def test_follow_newest_keeps_the_last_row_in_view(window, qtbot) -> None:
    for _ in range(3):
        _send_catalogue_more(window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 57, timeout=5000)
    qtbot.waitUntil(lambda: window.table.verticalScrollBar().value() > 0, timeout=3000)
    bar = window.table.verticalScrollBar()
    assert bar.value() == bar.maximum()
    window.follow_action.setChecked(False)
    bar.setValue(0)
    _send_catalogue_more(window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 76, timeout=5000)
    assert bar.value() == 0


def _send_catalogue_more(window: MainWindow) -> None:
    for path, body in catalogue_requests():
        post(window.url, path, body)


def test_filter_language_in_the_bar(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    _type_filter(window, qtbot, "product:rcs")
    assert _column(window, "product") == ["RCS"] * 4
    _type_filter(window, qtbot, "product:rcs -class:opt_out")
    assert len(_column(window, "product")) == 3
    _type_filter(window, qtbot, "class:success OR class:info")
    assert set(_column(window, "status")) == {
        "DELIVRD",
        "ANSWER",
        "Subscriber created successfully",
        "Subscriber updated successfully",
    }
    _type_filter(window, qtbot, "caption")
    assert window.model.rowCount() == 2
    _type_filter(window, qtbot, "nosuchwordanywhere")
    assert window.model.rowCount() == 0
    assert window.empty_label.isVisible()
    assert "No request matches" in window.empty_label.text()


def test_invalid_filter_says_why_and_keeps_the_last_result(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    _type_filter(window, qtbot, "event:whatsapp")
    assert window.model.rowCount() == 4
    _type_filter(window, qtbot, "event:whatsapp (")
    label = window.filter_bar.error_label
    assert label.isVisible()
    assert "column 16" in label.text() and "never closed" in label.text()
    assert window.model.rowCount() == 4
    _type_filter(window, qtbot, "event:whatsapp (class:inbound)")
    assert not label.isVisible()
    assert window.model.rowCount() == 2


def test_filter_is_debounced_while_typing(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    qtbot.keyClicks(window.filter_bar.edit, "product:voice")
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=3000)


def test_autocomplete_offers_fields_then_values(window, qtbot) -> None:
    assert "product:" in completions_for("pro")
    assert "class:failure" in completions_for("class:f")
    assert "-event:whatsapp:message:status" in completions_for("-event:wh")
    edit = window.filter_bar.edit
    edit.setFocus()
    qtbot.keyClicks(edit, "cla")
    completer = edit.completer_popup
    assert completer.completionCount() == 1
    assert completer.currentCompletion() == "class:"
    completer.activated.emit("class:")
    assert edit.text() == "class:"
    qtbot.keyClicks(edit, "fa")
    assert completer.currentCompletion() == "class:failure"
    completer.activated.emit("class:failure")
    assert edit.text() == "class:failure "


def test_quick_menus_set_one_term_per_field(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    bar = window.filter_bar
    product_menu = bar.product_button.menu()
    rcs = next(a for a in product_menu.actions() if a.text() == "RCS")
    rcs.trigger()
    assert bar.text() == "product:rcs"
    voice = next(a for a in product_menu.actions() if a.text() == "Voice")
    voice.trigger()
    assert bar.text() == "product:voice"
    assert window.model.rowCount() == 2
    class_menu = bar.class_button.menu()
    next(a for a in class_menu.actions() if a.text() == "opt-out").trigger()
    assert bar.text() == "product:voice class:opt_out"
    assert window.model.rowCount() == 1
    event_menu = bar.event_button.menu()
    whatsapp = next(a for a in event_menu.actions() if a.text() == "WhatsApp").menu()
    next(a for a in whatsapp.actions() if a.text() == "whatsapp:message:in").trigger()
    assert "event:whatsapp:message:in" in bar.text()
    next(a for a in product_menu.actions() if a.text() == "Any product").trigger()
    next(a for a in class_menu.actions() if a.text() == "Any class").trigger()
    assert bar.text() == "event:whatsapp:message:in"
    assert window.model.rowCount() == 2


def test_keyboard_navigation_and_focus(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    table = window.table
    table.setFocus()
    window.select_request(1)
    qtbot.keyClick(table, Qt.Key.Key_J)
    assert window.current_request_id() == 2
    qtbot.keyClick(table, Qt.Key.Key_J)
    qtbot.keyClick(table, Qt.Key.Key_J)
    assert window.current_request_id() == 4
    qtbot.keyClick(table, Qt.Key.Key_K)
    assert window.current_request_id() == 3
    qtbot.keyClick(table, Qt.Key.Key_Down)
    assert window.current_request_id() == 4
    assert window.detail.current_request_id() == 4
    qtbot.keyClick(table, Qt.Key.Key_Up)
    assert window.current_request_id() == 3
    qtbot.keyClick(table, Qt.Key.Key_Slash)
    assert window.filter_bar.edit.hasFocus()
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.filter_bar.edit.hasFocus()
    qtbot.keyClicks(window.filter_bar.edit, "product:sms")
    window.filter_bar.apply_now()
    assert window.model.rowCount() == 2
    qtbot.keyClick(window.filter_bar.edit, Qt.Key.Key_Escape)
    assert window.filter_bar.text() == ""
    assert window.model.rowCount() == 19


def test_copy_shortcuts(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    clipboard = QGuiApplication.clipboard()
    table = window.table
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == window.url
    window.select_request(3)
    qtbot.keyClick(table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == catalogue_requests()[2][1].decode()


def test_delete_removes_rows_from_the_view_only(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    table = window.table
    table.setFocus()
    window.select_request(5)
    qtbot.keyClick(table, Qt.Key.Key_Delete)
    assert window.model.rowCount() == 18
    assert 5 not in {window.model.id_at(r) for r in range(18)}
    assert window.current_request_id() == 6
    assert window.store.count() == 19
    qtbot.keyClick(table, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.model.rowCount() == 0
    assert "View cleared" in window.empty_label.text()


def test_pause_holds_the_view_and_resume_catches_up(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert window.pause_action.isChecked()
    post(window.url, "/whatsapp", status_body("whatsapp:message:status", "failed"))
    qtbot.waitUntil(lambda: "1 new" in window.stats_label.text(), timeout=5000)
    assert window.model.rowCount() == 19
    qtbot.keyClick(window.table, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert window.model.rowCount() == 20
    assert _column(window, "status")[-1] == "failed"


def test_follow_toggle_shortcut(window, qtbot) -> None:
    assert window.follow_action.isChecked()
    qtbot.keyClick(window.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert not window.follow_action.isChecked()


def test_help_lists_every_shortcut_and_the_language(window, qtbot) -> None:
    qtbot.keyClick(window.table, Qt.Key.Key_F1)
    dialog = window._help
    assert dialog is not None and dialog.isVisible()
    text = dialog.browser.toPlainText()
    for keys, _what in SHORTCUTS:
        assert keys in text
    assert "class:X" in text and "/regex/" in text
    dialog.close()


def test_timeline_activation_selects_the_row(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    window.detail.request_activated.emit(7)
    assert window.current_request_id() == 7
    _type_filter(window, qtbot, "product:sms")
    assert window.select_request(7) is False
    assert "not in the view" in window.statusBar().currentMessage()


def test_columns_hidden_and_moved_are_remembered(engine, qtbot, settings: QSettings) -> None:
    first = MainWindow(engine.store, engine.url, settings=settings)
    qtbot.addWidget(first)
    header = first.table.horizontalHeader()
    first.set_column_visible(COLUMN_INDEX["message_id"], False)
    header.moveSection(header.visualIndex(COLUMN_INDEX["event"]), 0)
    menu = first.column_menu()
    assert [a.isChecked() for a in menu.actions()].count(False) == 1
    first.close()
    first.shutdown()
    second = MainWindow(engine.store, engine.url, settings=settings)
    qtbot.addWidget(second)
    try:
        h2 = second.table.horizontalHeader()
        assert h2.isSectionHidden(COLUMN_INDEX["message_id"])
        assert h2.logicalIndex(0) == COLUMN_INDEX["event"]
    finally:
        second.shutdown()


def test_selection_survives_a_filter_change(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    window.select_request(9)  # rcs:message:in image
    _type_filter(window, qtbot, "product:rcs")
    assert window.current_request_id() == 9
    assert window.table.currentIndex().row() == 2


def test_tunnel_control_is_mounted(window) -> None:
    from inspector.gui.tunnel_widget import TunnelControl

    assert isinstance(window.tunnel, TunnelControl)
    assert window.tunnel_action in window.toolbar.actions()
    window.tunnel.public_url_changed.emit("https://abc.ngrok.app")
    assert "https://abc.ngrok.app" in window.public_url_label.text()
    window.tunnel.public_url_changed.emit("")
    assert window.public_url_label.text() == ""


# -- start-up --------------------------------------------------------------------------


def _args(**kw: object) -> argparse.Namespace:
    base = {"host": "127.0.0.1", "port": 0, "session": None, "max_body": 1 << 20, "reopen": False}
    base.update(kw)
    return argparse.Namespace(**base)


def test_no_display_is_one_line_pointing_to_capture(monkeypatch, capsys) -> None:
    monkeypatch.setattr(gui_app.sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    from inspector.cli import main

    assert main([]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: no display available; use 'webhook-inspector capture' to record headless\n"
    )


def test_display_detection() -> None:
    assert gui_app.display_available({"DISPLAY": ":0"}, "linux")
    assert gui_app.display_available({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert gui_app.display_available({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not gui_app.display_available({}, "linux")
    assert not gui_app.display_available({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert gui_app.display_available({}, "win32")


def test_reopen_uses_the_last_session(tmp_path) -> None:
    with pytest.raises(SessionError, match="no previous session"):
        gui_app.choose_session(_args(reopen=True))
    last = tmp_path / "last.whsession"
    gui_app.remember_session(last)
    with pytest.raises(SessionError, match="no longer exists"):
        gui_app.choose_session(_args(reopen=True))
    last.write_bytes(b"")
    assert gui_app.choose_session(_args(reopen=True)) == last
    assert (
        gui_app.choose_session(_args(session=tmp_path / "x.whsession")) == tmp_path / "x.whsession"
    )
    assert gui_app.choose_session(_args()).suffix == ".whsession"


def test_run_window_opens_listens_and_remembers_the_session(tmp_path) -> None:
    """The whole start-up path in a child process (its event loop quits after a moment)."""
    session = tmp_path / "run.whsession"
    code = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication(sys.argv[:1])\n"
        "QTimer.singleShot(800, app.quit)\n"
        "from inspector.cli import main\n"
        f"raise SystemExit(main(['--port', '0', '--session', {str(session)!r}]))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert session.exists()
    assert gui_app.last_session_path() == session


def test_run_window_port_in_use_is_one_error_line(qapp, tmp_path, capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert gui_app.run_window(_args(port=port, session=tmp_path / "p.whsession")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: port") and "already in use" in err
