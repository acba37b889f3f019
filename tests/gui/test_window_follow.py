"""Follow newest turns itself off when the user leaves the newest end, and on when they return.

The real window on a real listener; rows arrive over loopback, the user is played with
real wheel, mouse and key events (the scroll bar and the table see what a user sends).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollBar, QStyle, QStyleOptionSlider, QWidget

from inspector.gui.main_window import MainWindow

from .conftest import post, status_body

pytestmark = pytest.mark.gui
CTRL = Qt.KeyboardModifier.ControlModifier


def _send(window: MainWindow, qtbot, n: int) -> None:  # noqa: ANN001
    """``n`` more requests over loopback; returns once the table shows them."""
    start = window.model.rowCount()
    for i in range(n):
        body = status_body("whatsapp:message:status", "sent", f"m-{start + i:04d}")
        assert post(window.url, "/whatsapp", body) == 200
    qtbot.waitUntil(lambda: window.model.rowCount() == start + n, timeout=5000)


def _bar(window: MainWindow) -> QScrollBar:
    return window.table.verticalScrollBar()


def _wheel(widget: QWidget, notches: int) -> None:
    """Turn the mouse wheel over ``widget``: positive notches scroll up (towards older rows)."""
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(
        pos,
        QPointF(widget.mapToGlobal(pos.toPoint())),
        QPoint(),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def _drag_handle(qtbot, bar: QScrollBar, to_y: int) -> None:  # noqa: ANN001
    """Press on the scroll bar's handle and drag it to ``to_y`` (bar coordinates)."""
    opt = QStyleOptionSlider()
    bar.initStyleOption(opt)
    handle = bar.style().subControlRect(
        QStyle.ComplexControl.CC_ScrollBar, opt, QStyle.SubControl.SC_ScrollBarSlider, bar
    )
    start = handle.center()
    qtbot.mousePress(bar, Qt.MouseButton.LeftButton, pos=start)
    for y in (start.y() + (to_y - start.y()) // 2, to_y):
        qtbot.mouseMove(bar, QPoint(start.x(), y))
    qtbot.mouseRelease(bar, Qt.MouseButton.LeftButton, pos=QPoint(start.x(), to_y))


@pytest.fixture
def full(window: MainWindow, qtbot) -> MainWindow:  # noqa: ANN001
    """The window with three screens of rows, following the newest at the bottom."""
    _send(window, qtbot, 60)
    bar = _bar(window)
    qtbot.waitUntil(lambda: 0 < bar.maximum() == bar.value(), timeout=3000)
    assert window.follow_action.isChecked()
    return window


def test_follows_own_scrolls_never_turn_it_off(full: MainWindow, qtbot) -> None:  # noqa: ANN001
    toggles: list[bool] = []
    full.follow_action.toggled.connect(toggles.append)
    before = _bar(full).maximum()
    _send(full, qtbot, 30)
    bar = _bar(full)
    qtbot.waitUntil(lambda: bar.maximum() > before and bar.value() == bar.maximum(), timeout=3000)
    assert toggles == []
    assert full.follow_action.isChecked()


def test_wheel_away_turns_follow_off_and_wheel_back_turns_it_on(
    full: MainWindow,
    qtbot,  # noqa: ANN001
) -> None:
    bar = _bar(full)
    _wheel(full.table.viewport(), 3)
    assert bar.value() < bar.maximum()
    assert not full.follow_action.isChecked()
    held = bar.value()
    _send(full, qtbot, 5)
    assert bar.value() == held, "the view must stay where the user left it"

    _wheel(full.table.viewport(), -100)
    assert bar.value() == bar.maximum()
    assert full.follow_action.isChecked()
    _send(full, qtbot, 5)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=3000)
    assert full.follow_action.isChecked()


def test_dragging_the_scroll_bar_turns_follow_off_and_back_on(
    full: MainWindow,
    qtbot,  # noqa: ANN001
) -> None:
    bar = _bar(full)
    _drag_handle(qtbot, bar, 0)
    assert bar.value() == 0
    assert not full.follow_action.isChecked()
    _send(full, qtbot, 3)
    assert bar.value() == 0

    _drag_handle(qtbot, bar, bar.height())
    assert bar.value() == bar.maximum()
    assert full.follow_action.isChecked()


def test_page_up_and_older_rows_turn_follow_off_ctrl_end_turns_it_on(
    full: MainWindow,
    qtbot,  # noqa: ANN001
) -> None:
    table, bar = full.table, _bar(full)
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_End, CTRL)
    assert full.current_request_id() == 60
    assert full.follow_action.isChecked()

    qtbot.keyClick(table, Qt.Key.Key_Up)  # an older row, the view does not move
    assert full.current_request_id() == 59
    assert bar.value() == bar.maximum()
    assert not full.follow_action.isChecked()
    qtbot.keyClick(table, Qt.Key.Key_End, CTRL)
    assert full.follow_action.isChecked()

    qtbot.keyClick(table, Qt.Key.Key_PageUp)
    assert bar.value() < bar.maximum()
    assert not full.follow_action.isChecked()
    qtbot.keyClick(table, Qt.Key.Key_End, CTRL)
    assert full.follow_action.isChecked()

    qtbot.keyClick(table, Qt.Key.Key_K)  # the window's own J/K shortcuts
    assert full.current_request_id() == 59
    assert not full.follow_action.isChecked()
    qtbot.keyClick(table, Qt.Key.Key_J)
    assert full.follow_action.isChecked()

    assert full.select_request(10)  # what the detail pane's timeline asks for
    assert not full.follow_action.isChecked()


def test_clicking_an_older_row_turns_follow_off_ctrl_e_turns_it_on(
    full: MainWindow,
    qtbot,  # noqa: ANN001
) -> None:
    table, bar = full.table, _bar(full)
    last = full.model.rowCount() - 1
    older = full.model.index(last - 3, 0)
    qtbot.mouseClick(
        table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(older).center()
    )
    assert full.current_request_id() == full.model.id_at(last - 3)
    assert not full.follow_action.isChecked()
    _send(full, qtbot, 20)
    assert table.visualRect(table.currentIndex()).intersects(table.viewport().rect()), (
        "the row the user clicked must stay in view"
    )

    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert full.follow_action.isChecked()
    assert bar.value() == bar.maximum()
    _send(full, qtbot, 5)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=3000)
    assert full.follow_action.isChecked()


def test_newest_on_top_follows_the_top(full: MainWindow, qtbot) -> None:  # noqa: ANN001
    table, bar = full.table, _bar(full)
    table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    full.follow_action.toggle()
    full.follow_action.toggle()  # on again: jumps to the newest end, the top
    assert bar.value() == 0 and full.follow_action.isChecked()
    _send(full, qtbot, 3)
    assert bar.value() == 0 and full.follow_action.isChecked()

    _wheel(table.viewport(), -3)  # down, towards older rows
    assert bar.value() > 0
    assert not full.follow_action.isChecked()
    _wheel(table.viewport(), 100)
    assert bar.value() == 0
    assert full.follow_action.isChecked()


def test_home_and_end_go_to_the_first_and_last_request(window, qtbot) -> None:
    """Help lists Home / End as first / last request, not first / last column."""
    from .conftest import append, catalogue_requests

    append(window.store, catalogue_requests())
    qtbot.waitUntil(lambda: window.model.rowCount() >= 19, timeout=5000)
    table = window.table
    table.setFocus()
    table.setCurrentIndex(window.model.index(5, 3))
    qtbot.keyClick(table, Qt.Key.Key_End)
    assert table.currentIndex().row() == window.model.rowCount() - 1
    qtbot.keyClick(table, Qt.Key.Key_Home)
    assert table.currentIndex().row() == 0


def test_reopening_a_session_opens_at_the_newest_rows(engine, settings, qtbot) -> None:  # noqa: ANN001
    """Follow newest is on when the window opens: a session with history shows its end."""
    from .conftest import append

    append(engine.store, [("/whatsapp", status_body("whatsapp:message:status", "sent"))] * 300)
    w = MainWindow(engine.store, engine.url, settings=settings)
    qtbot.addWidget(w)
    try:
        w.resize(1200, 800)
        w.show()
        qtbot.waitExposed(w)
        bar = _bar(w)
        assert w.follow_action.isChecked()
        qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=3000)
        assert w.follow_action.isChecked()
    finally:
        w.shutdown()
