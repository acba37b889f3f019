"""Layout at a laptop's 1280 x 800: the tunnel control opens as a bar, every column shows
whole, and the last column takes whatever room the window has beyond that."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from inspector.gui.main_window import MainWindow
from inspector.gui.table_model import COLUMN_INDEX, COLUMNS

from .conftest import catalogue_requests, post, shown_window

pytestmark = pytest.mark.gui


@pytest.fixture
def laptop(qtbot, engine, settings):  # noqa: ANN001, ANN201 - fixtures
    yield from shown_window(qtbot, engine, settings, size=(1280, 800))


def _fill(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    for path, body in catalogue_requests():
        assert post(window.url, path, body) == 200
    qtbot.waitUntil(lambda: window.model.rowCount() == 19, timeout=5000)
    qtbot.waitUntil(window.table.verticalScrollBar().isVisible, timeout=2000)


def _hidden_columns(table: QTableView) -> list[str]:
    """Columns not shown whole in the table's viewport."""
    header = table.horizontalHeader()
    width = table.viewport().width()
    cut = []
    for i, col in enumerate(COLUMNS):
        left = header.sectionViewportPosition(i)
        if left < 0 or left + header.sectionSize(i) > width:
            cut.append(col.key)
    return cut


def _open_tunnel(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    qtbot.mouseClick(
        window.toolbar.widgetForAction(window.tunnel_action), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(window.tunnel_dock.isVisible, timeout=2000)
    qtbot.wait(50)  # the dock takes its place on the next layout pass


def test_every_column_shows_whole_at_1280_with_the_tunnel_open(laptop, qtbot) -> None:
    _fill(laptop, qtbot)
    assert _hidden_columns(laptop.table) == []
    _open_tunnel(laptop, qtbot)
    assert laptop.tunnel.is_bar(), "the tunnel control opens as a bar"
    assert laptop.tunnel_dock.height() < 110, "a bar, not a panel"
    assert laptop.table.width() >= laptop.width() - 4, "the table keeps the window's width"
    assert _hidden_columns(laptop.table) == []
    assert not laptop.table.horizontalScrollBar().isVisible()
    warning = COLUMN_INDEX["warning"]
    header = laptop.table.horizontalHeader()
    assert header.sectionSize(warning) >= COLUMNS[warning].width
    field = laptop.tunnel._webhook
    sample = "https://0123456789ab.ngrok-free.app/whatsapp"
    assert field.fontMetrics().horizontalAdvance(sample) < field.contentsRect().width()


def test_the_last_column_stretches_when_the_window_grows(laptop, qtbot) -> None:
    _fill(laptop, qtbot)
    header = laptop.table.horizontalHeader()
    last = header.logicalIndex(header.count() - 1)
    before = header.sectionSize(last)
    laptop.resize(1900, 1000)
    qtbot.waitUntil(lambda: header.sectionSize(last) > before + 500, timeout=2000)
    right = header.sectionViewportPosition(last) + header.sectionSize(last)
    assert right == laptop.table.viewport().width(), "no empty strip after the last column"
    assert header.stretchLastSection()


def test_the_tunnel_control_is_a_form_again_at_the_side(laptop, qtbot) -> None:
    _open_tunnel(laptop, qtbot)
    laptop.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, laptop.tunnel_dock)
    qtbot.waitUntil(lambda: not laptop.tunnel.is_bar(), timeout=2000)
    assert laptop.tunnel._local.isVisible() and laptop.tunnel._public.isVisible()
    laptop.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, laptop.tunnel_dock)
    qtbot.waitUntil(laptop.tunnel.is_bar, timeout=2000)
    assert not laptop.tunnel._public.isVisible()
