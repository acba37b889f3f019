"""The help carries the whole filter reference; sizes read the same in the table and pane."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from inspector.gui.detail import DetailPane
from inspector.gui.shortcuts import HelpDialog
from inspector.gui.table_model import COLUMN_INDEX, EventTableModel

from .conftest import append

pytestmark = pytest.mark.gui


def test_help_shows_the_filter_reference_not_a_path(qtbot) -> None:
    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    text = dialog.browser.toPlainText()
    assert "docs/filter-language.md" not in text, "a pip user has no docs folder"
    for section in ("Terms", "Combining", "Examples", "How it runs"):
        assert section in text
    assert "A backslash escapes a quote inside quotes." in text
    assert "Ctrl+Z" in text and "Ctrl+Q" in text
    assert "Raw tab: copy the selected text" in text  # the detail pane's keys too


def test_sizes_use_binary_units_everywhere(store, qtbot) -> None:
    body = b'{"id": "m", "mobile": "1", "status": "DELIVRD", "pad": "' + b"x" * 1478 + b'"}'
    assert len(body) == 1536
    (summary,) = append(store, [("/sms", body)])
    model = EventTableModel(store)
    pane = DetailPane()
    qtbot.addWidget(pane)
    try:
        cell = model.index(0, COLUMN_INDEX["size"]).data(Qt.ItemDataRole.DisplayRole)
        assert cell == "1.5 KiB"
        pane.set_store(store)
        pane.show_request(summary.id)
        assert pane.raw_view.size_label.text() == "1.5 KiB"
        assert "1.5 KiB" in pane.event_card.value_text("request")
    finally:
        pane.close_store()
        model.close()
