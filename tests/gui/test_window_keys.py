"""Keyboard traps: each key does what the focused part of the window promises, and no more."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextCursor

from inspector.gui.detail.pane import TAB_JSON, TAB_RAW
from inspector.gui.main_window import MainWindow
from inspector.gui.shortcuts import SHORTCUTS

from .conftest import catalogue_requests, post
from .test_hostile_text import assert_literal, displayed

pytestmark = pytest.mark.gui

CTRL = Qt.KeyboardModifier.ControlModifier
README = Path(__file__).resolve().parents[2] / "README.md"


def _send_catalogue(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    for path, body in catalogue_requests():
        assert post(window.url, path, body) == 200
    qtbot.waitUntil(lambda: window.model.rowCount() == 19, timeout=5000)


def test_ctrl_c_in_the_raw_tab_copies_the_selection(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    window.select_request(3)
    body = catalogue_requests()[2][1].decode()
    window.detail.tabs.setCurrentIndex(TAB_RAW)
    text = window.detail.raw_view.text
    text.setFocus()
    qtbot.waitUntil(text.hasFocus, timeout=2000)
    cursor = text.textCursor()
    cursor.setPosition(0)
    cursor.setPosition(12, QTextCursor.MoveMode.KeepAnchor)
    text.setTextCursor(cursor)
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("before")
    qtbot.keyClick(text, Qt.Key.Key_C, CTRL)
    assert clipboard.text() == body[:12]
    # Nothing selected: Ctrl+C is the window's "copy the body" again.
    cursor.clearSelection()
    text.setTextCursor(cursor)
    qtbot.keyClick(text, Qt.Key.Key_C, CTRL)
    assert clipboard.text() == body


def test_esc_in_the_json_search_box_leaves_the_table_filter(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    window.filter_bar.set_text("product:sms")
    assert window.model.rowCount() == 2
    window.select_request(window.model.id_at(0) or 0)
    window.detail.tabs.setCurrentIndex(TAB_JSON)
    box = window.detail.json_tab.search_box
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    qtbot.keyClicks(box, "status")
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    assert box.text() == ""
    assert window.filter_bar.text() == "product:sms"
    assert window.model.rowCount() == 2
    qtbot.keyClick(box, Qt.Key.Key_Escape)  # empty: Esc goes back to the tree
    assert window.detail.json_tab.tree.hasFocus()
    assert window.filter_bar.text() == "product:sms"
    # In the filter bar and the table, Esc still clears the filter.
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Escape)
    assert window.filter_bar.text() == ""


def test_the_session_path_stays_in_the_status_bar(window, qtbot) -> None:
    label = window.session_label
    path = str(window.store.path)
    assert label.isVisible()
    assert label.text() == f"Recording to {path}"
    window.copy_url()  # a passing message, as after every copy
    assert window.statusBar().currentMessage().startswith("Copied")
    assert label.isVisible() and label.text() == f"Recording to {path}"
    assert path in label.toolTip()
    window.resize(520, 600)
    qtbot.waitUntil(lambda: label.width() < label.fontMetrics().horizontalAdvance(label.text()))
    shown = label.shown_text()
    assert "\u2026" in shown, "elided when there is no room"
    assert shown.startswith("Recording") and shown.endswith(Path(path).name[-4:])


def test_session_path_tooltip_is_plain_text(engine, settings, qtbot) -> None:
    w = MainWindow(engine.store, engine.url, settings=settings)
    qtbot.addWidget(w)
    try:
        w.session_label.setText("Recording to /tmp/<img src=/dev/zero>.whsession")
        assert_literal(displayed(w.session_label.toolTip()), "<img src=/dev/zero>")
    finally:
        w.shutdown()


def test_ctrl_q_quits(window, qtbot) -> None:
    assert window.action_quit.shortcut().toString() == "Ctrl+Q"
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Q, CTRL)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)


def test_delete_and_clear_view_can_be_undone(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    table = window.table
    table.setFocus()
    window.select_request(3)
    flags = table.selectionModel().SelectionFlag
    for row in (3, 4):  # rows 2-4 hold requests 3-5
        table.selectionModel().select(window.model.index(row, 0), flags.Select | flags.Rows)
    assert not window.action_undo.isEnabled()
    qtbot.keyClick(table, Qt.Key.Key_Delete)
    assert window.model.rowCount() == 16
    assert window.statusBar().currentMessage() == (
        "Removed 3 requests from the view \u2014 Ctrl+Z to undo"
    )
    assert window.action_undo.isEnabled()
    qtbot.keyClick(table, Qt.Key.Key_Z, CTRL)
    assert window.model.rowCount() == 19
    assert [window.model.id_at(r) for r in range(19)] == list(range(1, 20))
    assert window.current_request_id() == 3
    assert "back in the view" in window.statusBar().currentMessage()

    qtbot.keyClick(table, Qt.Key.Key_K, CTRL)  # Clear view
    assert window.model.rowCount() == 0
    assert window.statusBar().currentMessage() == (
        "Cleared 19 requests from the view \u2014 Ctrl+Z to undo"
    )
    post(window.url, "/sms", b'{"id": "new", "mobile": "1", "status": "DELIVRD"}')
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    qtbot.keyClick(table, Qt.Key.Key_Z, CTRL)
    assert window.model.rowCount() == 20
    assert not window.action_undo.isEnabled()
    qtbot.keyClick(table, Qt.Key.Key_Z, CTRL)  # nothing left to undo: nothing changes
    assert window.model.rowCount() == 20


def test_ctrl_z_in_the_filter_box_undoes_typing_not_the_view(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    window.table.setFocus()
    window.select_request(5)
    qtbot.keyClick(window.table, Qt.Key.Key_Delete)
    assert window.model.rowCount() == 18
    edit = window.filter_bar.edit
    edit.setFocus()
    qtbot.keyClicks(edit, "abc")
    qtbot.keyClick(edit, Qt.Key.Key_Z, CTRL)
    assert edit.text() == ""
    window.filter_bar.apply_now()
    assert window.model.rowCount() == 18, "the removed row stays removed"


def test_j_is_next_and_k_previous_in_the_code_the_help_and_the_readme(window, qtbot) -> None:
    _send_catalogue(window, qtbot)
    window.table.setFocus()
    window.select_request(5)
    qtbot.keyClick(window.table, Qt.Key.Key_J)
    assert window.current_request_id() == 6
    qtbot.keyClick(window.table, Qt.Key.Key_K)
    assert window.current_request_id() == 5
    help_keys = dict(SHORTCUTS)
    assert "next" in help_keys["Down, J"] and "previous" in help_keys["Up, K"]
    readme = README.read_text()
    rows = dict(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", readme, re.MULTILINE))
    assert "next" in rows["Down, J"] and "previous" in rows["Up, K"]
    for keys in ("Ctrl+Z", "Ctrl+Q"):
        assert keys in rows, keys
