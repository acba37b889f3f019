"""Text from a request is shown as plain text everywhere, and never all of a huge one.

Qt renders a tooltip or an AutoText label as rich text when it looks like HTML: a header
``<img src=/dev/zero>`` then loads /dev/zero as an image. Each surface is checked by what
it would display: a rich text tooltip or label is parsed (never laid out, so no image is
loaded) and its visible text compared with the payload.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextDocument
from PySide6.QtGui import Qt as QtGui_Qt
from PySide6.QtWidgets import QLabel

from inspector.core.provider.warning_limits import MAX_WARNING_CHARS
from inspector.core.session.store import SessionStore, get_request
from inspector.gui.detail import DetailPane
from inspector.gui.detail.event_card import EventCard
from inspector.gui.detail.headers_view import HeadersModel
from inspector.gui.detail.json_model import KEY_COLUMN, VALUE_COLUMN, JsonTreeModel
from inspector.gui.detail.raw_view import LINE_CHUNK, RawView
from inspector.gui.detail.timeline import TimelineModel
from inspector.gui.filter_bar import FilterBar
from inspector.gui.table_model import COLUMN_INDEX, EventTableModel
from tests.factories import append_decoded, captured_request

pytestmark = pytest.mark.gui

IMG = "<img src=/dev/zero>"
BOLD = "<b>x</b>"
TIP = Qt.ItemDataRole.ToolTipRole


def displayed(text: str | None, rich: bool | None = None) -> str | None:
    """What Qt shows for ``text`` in a tooltip (``rich=None``: Qt guesses) or a label."""
    if text is None:
        return None
    if rich is None:
        rich = QtGui_Qt.mightBeRichText(text)
    if not rich:
        return text
    doc = QTextDocument()
    doc.setHtml(text)  # parsing only: images load when laid out, which this never does
    return doc.toPlainText()


def label_shows(label: QLabel) -> str | None:
    fmt = label.textFormat()
    rich = None if fmt == Qt.TextFormat.AutoText else fmt == Qt.TextFormat.RichText
    return displayed(label.text(), rich)


def assert_literal(shown: str | None, *payloads: str) -> None:
    assert shown is not None
    for payload in payloads:
        assert payload in shown, (payload, shown)
    assert "\ufffc" not in shown  # an image (object replacement character) would be here


@pytest.fixture
def store(session_path: Path) -> Iterator[SessionStore]:
    s = SessionStore(session_path)
    yield s
    s.close()


def _hostile_status(store: SessionStore, *, path: str = f"/whatsapp/{BOLD}") -> int:
    payload = {
        "id": f"{BOLD}{IMG}",
        "from": IMG,
        "to": BOLD,
        "status": f"{IMG}",
        "text": f"{BOLD} {IMG}",
    }
    body = json.dumps({"event": "whatsapp:message:status", "payload": payload}).encode()
    headers = [("Content-Type", "application/json"), ("X-Evil", IMG)]
    req = captured_request(path, body, seq=store.take_seq(), headers=headers)
    return append_decoded(store, [req])[0].id


def test_table_tooltips_show_payload_text_literally(store, qtbot) -> None:
    _hostile_status(store)
    model = EventTableModel(store)
    try:
        for key in ("path", "event", "status", "from", "to", "message_id"):
            tip = model.index(0, COLUMN_INDEX[key]).data(TIP)
            shown = model.index(0, COLUMN_INDEX[key]).data()
            assert tip is not None, key
            payload = BOLD if key in ("path", "to") else IMG if key in ("from",) else None
            if payload is not None:
                assert_literal(displayed(tip), payload)
            else:
                assert "\ufffc" not in (displayed(tip) or ""), key
            if key != "event":  # the event cell shows the name, its tooltip the summary
                assert_literal(displayed(tip), shown)
    finally:
        model.close()


def test_header_value_tooltip_is_plain(qtbot) -> None:
    model = HeadersModel()
    model.set_headers([("X-Evil", IMG), ("X-Bold", BOLD)])
    assert_literal(displayed(model.index(0, 1).data(TIP)), IMG)
    assert_literal(displayed(model.index(1, 1).data(TIP)), BOLD)


def test_json_key_and_value_tooltips_are_plain(qtbot) -> None:
    model = JsonTreeModel()
    model.set_document({BOLD: IMG})
    root = model.index(0, 0)
    model.fetchMore(root)
    key = model.index(0, KEY_COLUMN, root)
    value = model.index(0, VALUE_COLUMN, root)
    assert_literal(displayed(key.data(TIP)), BOLD)
    assert_literal(displayed(value.data(TIP)), IMG)


def test_timeline_tooltip_is_plain(store, qtbot) -> None:
    rid = _hostile_status(store, path=f"/{IMG}")
    request = get_request(store.open_reader(), rid)
    assert request is not None
    model = TimelineModel()
    model.set_rows([request.summary], rid)
    assert_literal(displayed(model.index(0, 0).data(TIP)), IMG)


def test_tooltips_are_bounded(qtbot) -> None:
    model = HeadersModel()
    model.set_headers([("X-Big", "y" * 1_000_000)])
    tip = model.index(0, 1).data(TIP)
    assert len(tip) < 3000 and "more characters" in tip


def test_raw_tab_note_quotes_content_encoding_as_text(qtbot) -> None:
    raw = RawView()
    qtbot.addWidget(raw)
    raw.set_body(b"hello", [("Content-Encoding", IMG)])
    assert raw.note.isVisibleTo(raw)
    assert_literal(label_shows(raw.note), IMG)


def test_detail_pane_labels_show_payload_text_literally(store, qtbot) -> None:
    rid = _hostile_status(store)
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.set_store(store)
    pane.show_request(rid)
    card = pane.event_card
    for key in ("message_id", "from", "to", "status"):
        assert_literal(label_shows(card._values[key]), IMG if key != "to" else BOLD)
    assert_literal(label_shows(pane.headers_view.request_label), BOLD)
    pane.json_tab.show_message(f"note {IMG}")
    assert_literal(label_shows(pane.json_tab.message), IMG)
    pane.json_tab._set_note(f"note {IMG}")
    assert_literal(label_shows(pane.json_tab.note), IMG)
    pane.close_store()


def test_filter_error_label_is_plain(qtbot) -> None:
    bar = FilterBar()
    qtbot.addWidget(bar)
    bar.set_text(f"class:{BOLD}")  # the error quotes the text
    assert bar.error_label.isVisibleTo(bar)
    assert_literal(label_shows(bar.error_label), BOLD)


def test_recording_banner_and_status_quote_the_problem_as_text(engine, settings, qtbot) -> None:
    from inspector.gui.main_window import MainWindow

    w = MainWindow(
        engine.store, engine.url, settings=settings, recording_problem=lambda: f"died {IMG}"
    )
    qtbot.addWidget(w)
    try:
        assert_literal(label_shows(w.recording_label), IMG)
        assert_literal(displayed(w.recording_status.toolTip()), IMG)
    finally:
        w.shutdown()


# -- huge text ---------------------------------------------------------------------------


def test_event_card_bounds_a_huge_stored_warning(store, qtbot) -> None:
    """A session written before warnings were bounded may hold one of megabytes."""
    rid = _hostile_status(store)
    request = get_request(store.open_reader(), rid)
    assert request is not None
    huge = "unexpected field(s): " + ", ".join(f"k{i}" for i in range(1_000_000))
    old = dataclasses.replace(request, warnings=[huge, *(["another"] * 500)])
    card = EventCard()
    qtbot.addWidget(card)
    card.resize(800, 600)
    card.show()
    started = time.perf_counter()
    card.set_request(old, None, False)
    card.grab()
    elapsed = time.perf_counter() - started
    text = card.warnings_label.text()
    assert len(text) < 100 * MAX_WARNING_CHARS
    assert "more characters" in text and "more warnings" in text
    assert "Warnings (501)" == card.warnings_heading.text()
    assert elapsed < 5, elapsed


def test_raw_tab_lays_out_a_megabyte_without_line_breaks_quickly(qtbot) -> None:
    raw = RawView()
    qtbot.addWidget(raw)
    raw.resize(900, 500)
    raw.show()
    qtbot.waitExposed(raw)
    body = b"a" * (1 << 20)
    started = time.perf_counter()
    raw.set_body(body, [])
    raw.grab()
    elapsed = time.perf_counter() - started
    doc = raw.text.document()
    longest = max(doc.findBlockByNumber(n).length() for n in range(doc.blockCount()))
    assert longest <= LINE_CHUNK + 1
    assert raw.shown_text() == body.decode()
    assert elapsed < 5, elapsed


def test_raw_tab_copy_joins_display_breaks_again(qtbot) -> None:
    raw = RawView()
    qtbot.addWidget(raw)
    line = "".join(chr(ord("a") + i % 26) for i in range(3 * LINE_CHUNK + 5))
    text = f"first\n{line}\n\u00e9\U0001f600 end"
    raw.set_body(text.encode(), [])
    raw.text.selectAll()
    raw.text.copy()
    assert QGuiApplication.clipboard().text() == text
    cursor = raw.text.textCursor()
    cursor.setPosition(2)
    cursor.setPosition(6 + LINE_CHUNK + 3, cursor.MoveMode.KeepAnchor)
    raw.text.setTextCursor(cursor)
    assert raw.text.selected_text() == text[2 : 6 + LINE_CHUNK + 2]


def test_huge_values_are_cut_for_display_and_kept_whole_for_copying(store, qtbot) -> None:
    """A 1 MiB header or field: cells show the start (Qt measures the whole text on each
    repaint: two such headers cost over a second a repaint), copying gives it all."""
    from inspector.gui.detail.headers_view import HeadersView

    big = "a" * (1 << 20)
    view = HeadersView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    qtbot.waitExposed(view)
    view.set_request("POST / HTTP/1.1", [("X-Big", big), ("X-Words", "word " * 200_000)], 200, [])
    started = time.perf_counter()
    view.grab()
    assert time.perf_counter() - started < 0.5
    model = view.request_model
    assert len(model.index(0, 1).data()) <= 1001
    assert model.as_text([0]) == f"X-Big: {big}"

    payload = {"id": "m-big", "from": big, "status": big}
    body = json.dumps({"event": "whatsapp:message:status", "payload": payload}).encode()
    (summary,) = append_decoded(store, [captured_request("/whatsapp", body, seq=1)])
    table = EventTableModel(store)
    try:
        for key in ("from", "status"):
            assert len(table.index(0, COLUMN_INDEX[key]).data()) <= 1001, key
    finally:
        table.close()
    card = EventCard()
    qtbot.addWidget(card)
    request = get_request(store.open_reader(), summary.id)
    assert request is not None
    card.set_request(request, None, False)
    assert len(card.value_text("from")) <= 1001
