"""The detail pane on hostile bodies: bombs are inflated only so far, UTF-16 is text,
JSON sent as a form is JSON; and the recording banner shows a passing cause."""

from __future__ import annotations

import json
import zlib

import pytest
from PySide6.QtCore import QSettings

from inspector.core.provider.decoder import INFLATE_LIMIT
from inspector.core.session.store import SessionStore
from inspector.gui.detail import DetailPane
from inspector.gui.detail.pane import TAB_RAW
from inspector.gui.detail.raw_view import prepare_raw
from inspector.gui.main_window import MainWindow
from tests.gui.test_detail import append

pytestmark = pytest.mark.gui

STATUS = {"event": "rcs:message:status", "payload": {"id": "m9", "status": "delivered"}}


def _gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"0" * (1 << 20)
    return b"".join([packer.compress(block) for _ in range(size >> 20)] + [packer.flush()])




def test_raw_view_inflates_a_bomb_only_to_the_limit_and_says_so() -> None:
    bomb = _gzip_of_zeros(INFLATE_LIMIT * 4)
    raw = prepare_raw(bomb, [("Content-Encoding", "gzip")])
    assert len(raw.shown) == INFLATE_LIMIT
    assert len(raw.notes) == 1 and "inflates past 50.0 MiB" in raw.notes[0]


def test_bomb_in_the_pane_keeps_the_json_tab_out_of_it(
    pane: DetailPane, store: SessionStore
) -> None:
    bomb = _gzip_of_zeros(INFLATE_LIMIT * 2)
    pane.show_request(append(store, bomb, headers=[("Content-Encoding", "gzip")]))
    assert "inflates past" in pane.json_tab.message.text()
    pane.tabs.setCurrentIndex(TAB_RAW)
    assert "inflates past" in pane.raw_view.note.text()


def test_utf16_body_is_text_in_the_raw_view_and_a_tree_in_the_json_tab(
    pane: DetailPane, store: SessionStore
) -> None:
    body = json.dumps(STATUS).encode("utf-16")
    raw = prepare_raw(body, [])
    assert not raw.binary and raw.shown == json.dumps(STATUS).encode()
    assert any("UTF-16 (little-endian, with a byte-order mark)" in n for n in raw.notes)
    pane.show_request(append(store, body))
    assert pane.json_tab.model.has_document()
    assert pane.event_card.pill.text() == "delivered"
    pane.tabs.setCurrentIndex(TAB_RAW)
    assert '"rcs:message:status"' in pane.raw_view.shown_text()


def test_json_sent_as_a_form_is_a_tree_not_one_key(pane: DetailPane, store: SessionStore) -> None:
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    pane.show_request(append(store, json.dumps(STATUS).encode(), headers=form))
    model = pane.json_tab.model
    assert model.has_document()
    root = model.index(0, 0)  # "$", the document
    if model.canFetchMore(root):
        model.fetchMore(root)
    keys = {model.index(r, 0, root).data() for r in range(model.rowCount(root))}
    assert keys == {"event", "payload"}, keys
    assert "Content-Type is application/x-www-form-urlencoded" in pane.json_tab.note.text()


def test_banner_shows_a_passing_cause_and_hides_once_it_clears(
    engine,  # noqa: ANN001
    qtbot,  # noqa: ANN001
    settings: QSettings,
) -> None:
    trouble: list[str | None] = [None]
    w = MainWindow(
        engine.store,
        engine.url,
        settings=settings,
        recording_problem=lambda: None,
        recording_trouble=lambda: trouble[0],
    )
    qtbot.addWidget(w)
    try:
        w.show()
        qtbot.waitExposed(w)
        assert not w.recording_banner.isVisible()
        trouble[0] = "disk full: database or disk is full"
        qtbot.waitUntil(w.recording_banner.isVisible, timeout=3000)
        text = w.recording_label.text()
        assert "not being recorded right now" in text and "Disk full" in text
        assert "resumes by itself" in text
        assert w.recording_status.isVisible()
        trouble[0] = None
        qtbot.waitUntil(lambda: not w.recording_banner.isVisible(), timeout=3000)
        assert not w.recording_status.isVisible()
    finally:
        w.shutdown()
