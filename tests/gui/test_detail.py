"""The detail pane driven through its real widgets: tabs, keys, clipboard, timeline."""

from __future__ import annotations

import gzip
import json
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

from inspector.core.session.store import SessionStore
from inspector.gui.detail import SHORTCUTS, DetailPane
from inspector.gui.detail.json_model import CHUNK
from inspector.gui.detail.pane import EMPTY_TEXT, TAB_JSON, TAB_TIMELINE
from inspector.gui.detail.raw_view import TEXT_PREVIEW_BYTES
from inspector.gui.detail.timeline import REQUEST_ID_ROLE
from inspector.gui.status_style import StatusPill
from tests.factories import JSON_HEADERS, append_decoded, captured_request

CATALOGUE = Path(__file__).parent.parent / "fixtures" / "catalogue"


def append(
    store: SessionStore,
    body: bytes,
    *,
    headers: list[tuple[str, str]] | None = None,
    path: str = "/hook",
    query: str = "",
    response_headers: list[tuple[str, str]] | None = None,
) -> int:
    req = captured_request(
        path,
        body,
        seq=store.take_seq(),
        query=query,
        headers=headers,
        received_us=int(time.time() * 1e6),
        http_version="HTTP/1.1",
        response_headers=response_headers or [("Content-Type", "text/plain")],
    )
    (summary,) = append_decoded(store, [req])
    return summary.id




def activate(qtbot: Any, widget: QWidget) -> None:
    widget.window().show()
    qtbot.waitExposed(widget.window())
    widget.window().activateWindow()
    qtbot.waitUntil(lambda: widget.window().isActiveWindow())


def show_catalogue(store: SessionStore, pane: DetailPane, name: str, path: str = "/hook") -> int:
    rid = append(store, (CATALOGUE / name).read_bytes(), path=path)
    pane.show_request(rid)
    return rid


def open_json_tab(qtbot: Any, pane: DetailPane, store: SessionStore, name: str) -> Any:
    """Show a catalogue payload, bring the window up and switch to the JSON tab."""
    show_catalogue(store, pane, name)
    activate(qtbot, pane)
    pane.tabs.setCurrentIndex(TAB_JSON)
    return pane.json_tab


# -- empty state ------------------------------------------------------------------------


def test_empty_state_before_and_after_a_session(qtbot: Any, store: SessionStore) -> None:
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show_request(None)
    assert pane.stack.currentWidget() is pane.empty
    assert pane.empty_title.text() == "No session is open"
    pane.set_store(store)
    assert pane.empty_title.text() == EMPTY_TEXT
    pane.show_request(12345)
    assert pane.stack.currentWidget() is pane.empty
    assert "12345" in pane.empty_title.text()
    rid = append(store, b'{"a": 1}')
    pane.show_request(rid)
    assert pane.stack.currentWidget() is pane.tabs
    assert pane.current_request_id() == rid
    pane.show_request(None)
    assert pane.stack.currentWidget() is pane.empty
    assert pane.json_tab.model.rowCount() == 0
    assert pane.raw_view.shown_text() == ""
    pane.close_store()
    assert pane.empty_title.text() == "No session is open"


# -- event card -------------------------------------------------------------------------


def test_event_card_for_an_sms_delivery_report(pane: DetailPane, store: SessionStore) -> None:
    show_catalogue(store, pane, "01_sms_message_status.json", path="/sms")
    card = pane.event_card
    assert card.title.text() == "sms:message:status"
    assert "delivery or undelivery" in card.description.text()
    assert card.pill.text() == "DELIVRD" and card.pill.status_class() == "success"
    assert card.value_text("to") == "918921269xxx"
    assert card.value_text("message_id") == "b34e35ad-fe34-4a8b-977c-b21cd76cd7d6:1"
    assert "delivered 12 s after submitted (16 s after sent)" in card.delays_label.text()
    assert "trailing comma" in card.warnings_label.text()
    assert card.warnings_heading.text() == "Warnings (1)"


def test_event_card_for_unrecognised_body(pane: DetailPane, store: SessionStore) -> None:
    rid = append(store, b"hello", headers=[("Content-Type", "text/plain")])
    pane.show_request(rid)
    assert pane.event_card.title.text() == "Not a recognised provider event"
    assert pane.event_card.pill.status_class() == "unknown"
    assert "not JSON" in pane.event_card.warnings_label.text()
    assert pane.json_tab.stack.currentWidget() is pane.json_tab.message
    assert "not JSON" in pane.json_tab.message.text()


def test_status_pill_paints_in_both_palettes(qtbot: Any) -> None:
    from PySide6.QtGui import QColor, QPalette

    from inspector.gui.status_style import is_dark, status_colors

    pill = StatusPill()
    qtbot.addWidget(pill)
    pill.set_status("read", "success")
    image = pill.grab().toImage()
    assert not image.isNull() and pill.sizeHint().width() > pill.fontMetrics().horizontalAdvance(
        "read"
    )
    dark = QPalette(QColor("#202020"))
    light = QPalette(QColor("#f0f0f0"))
    assert is_dark(dark) and not is_dark(light)
    assert status_colors("success", dark).fill != status_colors("success", light).fill
    assert status_colors("unknown", light).fill is None  # outlined
    assert status_colors("no-such-class", light) == status_colors("unknown", light)


# -- JSON tab ---------------------------------------------------------------------------


def test_json_tab_lazy_loading_in_the_view(
    qtbot: Any, pane: DetailPane, store: SessionStore
) -> None:
    rid = append(store, json.dumps(list(range(100_000))).encode())
    activate(qtbot, pane)
    pane.tabs.setCurrentIndex(TAB_JSON)
    pane.show_request(rid)
    model, tree = pane.json_tab.model, pane.json_tab.tree
    top = model.index(0, 0)
    assert tree.isExpanded(top)
    assert model.rowCount(top) == CHUNK, "only the first chunk exists until the view needs more"
    assert model.loaded_count() == 1 + CHUNK
    bar = tree.verticalScrollBar()
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: model.rowCount(top) > CHUNK)
    assert model.rowCount(top) < 100_000


def test_copy_path_and_value_with_keys_and_buttons(
    qtbot: Any, pane: DetailPane, store: SessionStore
) -> None:
    tab = open_json_tab(qtbot, pane, store, "04_whatsapp_message_in_text.json")
    index = tab.model.index_for_rows((0, 1, 1, 0, 1))
    tab.tree.setCurrentIndex(index)
    tab.tree.setFocus()
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    qtbot.keyClick(tab.tree, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == "919019120xxx"
    qtbot.keyClick(
        tab.tree,
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert clipboard.text() == "$.payload.channels[0].to"
    tab.tree.setCurrentIndex(tab.model.index_for_rows((0, 1, 2)))
    tab.copy_value()
    assert json.loads(clipboard.text())["from"] == "91XXXXXX"
    tab.copy_key()
    assert clipboard.text() == "recipient"


def test_search_finds_nested_key_and_steps_through_matches(
    qtbot: Any, pane: DetailPane, store: SessionStore
) -> None:
    tab = open_json_tab(qtbot, pane, store, "14_viber_message_in_text.json")
    tab.tree.setFocus()
    qtbot.keyClick(tab.tree, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert tab.search_box.hasFocus()
    qtbot.keyClicks(tab.search_box, "middle_name")
    qtbot.keyClick(tab.search_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: tab.search_status.text().startswith("Match"))
    current = tab.tree.currentIndex()
    assert tab.model.json_path(current) == "$.payload.recipient.user.middle_name"
    parent = current.parent()
    while parent.isValid():
        assert tab.tree.isExpanded(parent)
        parent = parent.parent()
    tab.search_box.setText("viber")
    found = []
    for _ in range(4):
        tab.find_next()
        qtbot.waitUntil(lambda: not tab.searching())
        found.append(tab.model.json_path(tab.tree.currentIndex()))
    assert found[:3] == ["$.event", "$.payload.channels[0].name", "$.payload.message.payload.text"]
    assert "No more matches" in tab.search_status.text()
    tab.find_next()
    qtbot.waitUntil(lambda: not tab.searching())
    assert tab.model.json_path(tab.tree.currentIndex()) == "$.event"
    assert "from the top" in tab.search_status.text()
    tab.search_box.setText("zzz-not-there")
    tab.find_next()
    qtbot.waitUntil(lambda: tab.search_status.text() == "No match")


def test_search_in_a_big_document_runs_in_slices(
    qtbot: Any, pane: DetailPane, store: SessionStore
) -> None:
    doc = {"rows": [{"n": i, "v": "x"} for i in range(60_000)], "tail": {"needle": 1}}
    pane.show_request(append(store, json.dumps(doc).encode()))
    tab = pane.json_tab
    tab.search_box.setText("needle")
    tab.find_next()
    assert tab.searching(), "a search over 120k nodes does not finish in one go"
    qtbot.waitUntil(lambda: tab.search_status.text().startswith("Match"), timeout=10_000)
    assert tab.model.json_path(tab.tree.currentIndex()) == "$.tail.needle"
    assert tab.model.rowCount(tab.model.index_for_rows((0, 0))) == 0, "rows never built"


def test_expand_and_collapse_all_with_keys(
    qtbot: Any, pane: DetailPane, store: SessionStore
) -> None:
    tab = open_json_tab(qtbot, pane, store, "04_whatsapp_message_in_text.json")
    tab.tree.setFocus()
    user_info = tab.model.index_for_rows((0, 1, 2, 1, 6))
    assert tab.model.json_path(user_info) == "$.payload.recipient.user.user_info"
    assert not tab.tree.isExpanded(user_info)
    qtbot.keyClick(tab.tree, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert tab.tree.isExpanded(user_info)
    qtbot.keyClick(
        tab.tree,
        Qt.Key.Key_E,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert not tab.tree.isExpanded(user_info)
    assert tab.tree.isExpanded(tab.model.index(0, 0)), "the document row stays open"


def test_expand_all_stops_at_its_limit_on_huge_documents(
    qtbot: Any, pane: DetailPane, store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inspector.gui.detail.pane as pane_module

    monkeypatch.setattr(pane_module, "EXPAND_LIMIT", 50)
    pane.show_request(append(store, json.dumps([[i] for i in range(10_000)]).encode()))
    pane.json_tab.expand_all()
    assert "first 50" in pane.json_tab.search_status.text()
    assert pane.json_tab.model.loaded_count() < 1000


def test_ctrl_f_stays_with_the_main_window_outside_the_json_tab(
    qtbot: Any, store: SessionStore
) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    filter_box = QLineEdit()
    pane = DetailPane()
    layout = QVBoxLayout(window)
    layout.addWidget(filter_box)
    layout.addWidget(pane)
    hits: list[str] = []
    main_find = QShortcut(QKeySequence("Ctrl+F"), window)
    main_find.activated.connect(lambda: hits.append("main"))
    main_find.activatedAmbiguously.connect(lambda: hits.append("ambiguous"))
    pane.set_store(store)
    pane.show_request(append(store, b'{"a": {"b": 1}}'))
    pane.tabs.setCurrentIndex(TAB_JSON)
    activate(qtbot, window)
    filter_box.setFocus()
    qtbot.keyClick(filter_box, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert hits == ["main"]
    pane.json_tab.tree.setFocus()
    qtbot.keyClick(pane.json_tab.tree, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert hits == ["main"], "inside the JSON tab Ctrl+F is the tab's, without ambiguity"
    assert pane.json_tab.search_box.hasFocus()
    pane.close_store()


def test_too_deep_json_gets_a_clear_message(
    qtbot: Any, pane: DetailPane, store: SessionStore
) -> None:
    depth = 10_000
    body = ("[" * depth + "1" + "]" * depth).encode()
    pane.show_request(append(store, body))
    tab = pane.json_tab
    assert tab.stack.currentWidget() is tab.message
    assert "nested too deeply" in tab.message.text()
    assert pane.raw_view.shown_text().startswith("[[[[")
    assert pane.event_card.title.text() == "Not a recognised provider event"


def test_25_mb_body_opens(qtbot: Any, pane: DetailPane, store: SessionStore) -> None:
    row = {"id": "a418d672-9781-4d97-b517-a56f7d95ad8a", "status": "delivered", "n": 0}
    body = json.dumps({"event": "bulk", "payload": [row] * 420_000}).encode()
    assert len(body) > 25_000_000
    rid = append(store, body)
    pane.tabs.setCurrentIndex(TAB_JSON)
    pane.show_request(rid)
    tab = pane.json_tab
    assert tab.model.loaded_count() < 2 * CHUNK
    payload = tab.model.index_for_rows((0, 1))
    assert tab.model.data(payload.siblingAtColumn(1)) == "[420000 items]"
    raw = pane.raw_view
    assert len(raw.shown_text()) == TEXT_PREVIEW_BYTES
    assert raw.show_all_button.isVisibleTo(raw)
    assert not raw.pretty_box.isEnabled(), "no synchronous pretty-print of 25 MB"


# -- Raw tab ----------------------------------------------------------------------------


def test_raw_tab_hex_for_binary_and_wrap_toggle(pane: DetailPane, store: SessionStore) -> None:
    body = bytes(range(256)) * 2
    pane.show_request(append(store, body, headers=[("Content-Type", "application/octet-stream")]))
    raw = pane.raw_view
    lines = raw.shown_text().splitlines()
    assert len(lines) == 32
    assert lines[0] == (
        "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|"
    )
    assert lines[4].endswith("|@ABCDEFGHIJKLMNO|")
    assert "hex dump" in raw.note.text()
    assert pane.json_tab.stack.currentWidget() is pane.json_tab.message
    raw.wrap_box.setChecked(False)
    assert raw.text.lineWrapMode() == raw.text.LineWrapMode.NoWrap
    raw.wrap_box.setChecked(True)
    assert raw.text.lineWrapMode() == raw.text.LineWrapMode.WidgetWidth


def test_raw_tab_gzip_body_shown_decoded_and_pretty(pane: DetailPane, store: SessionStore) -> None:
    text = (CATALOGUE / "11_voice_message_out.json").read_bytes()
    body = gzip.compress(text)
    rid = append(store, body, headers=[*JSON_HEADERS, ("Content-Encoding", "gzip")], path="/voice")
    pane.show_request(rid)
    raw = pane.raw_view
    assert raw.shown_text() == text.decode()
    assert "shown decompressed" in raw.note.text()
    assert raw.pretty_box.isEnabled()
    raw.pretty_box.setChecked(True)
    assert json.loads(raw.shown_text())["mid"] == "1234-1333-XXXXX"
    assert "decoded leniently" in raw.note.text()
    assert pane.event_card.title.text() == "voice:message:out"


def test_raw_show_all(qtbot: Any, pane: DetailPane, store: SessionStore) -> None:
    body = b'"' + b"a" * (TEXT_PREVIEW_BYTES + 10) + b'"'
    pane.show_request(append(store, body, headers=[("Content-Type", "text/plain")]))
    raw = pane.raw_view
    assert len(raw.shown_text()) == TEXT_PREVIEW_BYTES
    qtbot.mouseClick(raw.show_all_button, Qt.MouseButton.LeftButton)
    assert len(raw.shown_text()) == len(body)
    assert not raw.show_all_button.isVisibleTo(raw)


# -- Headers tab ------------------------------------------------------------------------


def test_headers_tab_keeps_duplicates_and_case(
    qtbot: Any, pane: DetailPane, store: SessionStore, qtmodeltester: Any
) -> None:
    headers = [
        ("Content-Type", "application/json"),
        ("X-Signature", "one"),
        ("x-signature", "two"),
        ("User-Agent", "provider/2"),
    ]
    rid = append(store, b"{}", headers=headers, response_headers=[("Server", "inspector")])
    pane.show_request(rid)
    view = pane.headers_view
    model = view.request_model
    assert [
        (model.index(r, 0).data(), model.index(r, 1).data()) for r in range(model.rowCount())
    ] == headers
    assert "repeated: X-Signature" in view.request_label.text()
    assert "appears more than once" in model.index(2, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert view.response_model.headers() == [("Server", "inspector")]
    assert pane.tabs.tabText(3) == "&Headers (4)"
    qtmodeltester.check(model)
    qtmodeltester.check(view.response_model)
    activate(qtbot, pane)
    pane.tabs.setCurrentIndex(3)
    view.request_table.setFocus()
    view.request_table.selectRow(1)
    qtbot.keyClick(view.request_table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "X-Signature: one"


# -- Timeline tab -----------------------------------------------------------------------


def _post(url: str, body: bytes) -> None:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def test_timeline_groups_one_message_over_loopback(
    qtbot: Any, engine: Any, qtmodeltester: Any
) -> None:
    def status(message_id: str, value: str) -> bytes:
        return json.dumps(
            {
                "event": "whatsapp:message:status",
                "payload": {
                    "id": message_id,
                    "channel": "whatsapp",
                    "from": "919019120xxx",
                    "to": "9190199xxxxx",
                    "status": value,
                },
            }
        ).encode()

    for message_id, value in (
        ("msg-1", "sent"),
        ("msg-2", "sent"),
        ("msg-1", "delivered"),
        ("msg-1", "read"),
    ):
        _post(engine.url + "whatsapp", status(message_id, value))
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.resize(900, 600)
    pane.set_store(engine.store)
    pane.show_request(3)
    timeline = pane.timeline
    model = timeline.model
    qtmodeltester.check(model)
    assert [r.status for r in model.rows()] == ["sent", "delivered", "read"]
    assert [r.id for r in model.rows()] == [1, 3, 4]
    assert model.index(0, 2).data() == "first"
    assert model.index(1, 2).data().startswith("+")
    assert model.index(2, 4).data() == "read"
    assert pane.tabs.tabText(TAB_TIMELINE) == "&Timeline (3)"
    assert timeline.table.currentIndex().row() == 1, "the shown request is selected"
    activate(qtbot, pane)
    pane.tabs.setCurrentIndex(TAB_TIMELINE)
    timeline.table.setFocus()
    timeline.table.setCurrentIndex(model.index(2, 0))
    with qtbot.waitSignal(pane.request_activated) as blocker:
        qtbot.keyClick(timeline.table, Qt.Key.Key_Return)
    assert blocker.args == [4]
    assert model.index(2, 0).data(REQUEST_ID_ROLE) == 4
    # A new request for the same message shows up when the pane refreshes.
    _post(engine.url + "whatsapp", status("msg-1", "deleted"))
    pane.refresh()
    assert [r.status for r in model.rows()][-1] == "deleted"
    pane.close_store()


def test_timeline_of_a_long_message_shows_the_selected_request(
    pane: DetailPane, store: SessionStore
) -> None:
    """600 requests for one message: the selected one, late in the list, is in its timeline,
    the delays count from the message's first request, in units a person reads."""
    from inspector.gui.detail.timeline import TIMELINE_LIMIT

    start = 1_700_000_000_000_000
    body = json.dumps(
        {"event": "whatsapp:message:status", "payload": {"id": "m-long", "status": "sent"}}
    ).encode()
    reqs = [
        captured_request("/whatsapp", body, seq=store.take_seq(), received_us=start + 71 * n)
        for n in range(TIMELINE_LIMIT + 100)
    ]
    ids = [s.id for s in append_decoded(store, reqs)]
    pane.show_request(ids[-10])
    model = pane.timeline.model
    assert ids[-10] in [r.id for r in model.rows()]
    assert model.rowCount() == TIMELINE_LIMIT
    row = model.row_of(ids[-10])
    assert pane.timeline.table.currentIndex().row() == row
    assert model.index(row, 2).data() == f"+{round(71 * 590 / 1000)} ms"
    assert "600 requests" in pane.timeline.heading.text()
    assert "101\u2013600 shown" in pane.timeline.heading.text()
    assert pane.tabs.tabText(TAB_TIMELINE) == "&Timeline (600)"
    pane.show_request(ids[1])
    assert model.index(0, 2).data() == "first"
    assert model.index(1, 2).data() == "+71 \u00b5s"


def test_timeline_without_message_id(pane: DetailPane, store: SessionStore) -> None:
    pane.show_request(append(store, b"plain text", headers=[("Content-Type", "text/plain")]))
    assert pane.timeline.model.rowCount() == 0
    assert "no message id" in pane.timeline.heading.text()
    assert pane.tabs.tabText(TAB_TIMELINE) == "&Timeline"


def test_every_catalogue_example_renders(pane: DetailPane, store: SessionStore) -> None:
    for path in sorted(CATALOGUE.glob("*.json")):
        product = path.stem.split("_")[1]
        rid = append(store, path.read_bytes(), path=f"/{product}")
        pane.show_request(rid)
        assert pane.event_card.title.text().startswith(product), path.name
        assert pane.json_tab.model.has_document(), path.name
        assert pane.raw_view.shown_text() == path.read_text(), path.name


def test_shortcuts_are_listed_for_the_help_dialog() -> None:
    keys = [k for k, _ in SHORTCUTS]
    for expected in ("Ctrl+F", "Ctrl+E", "Ctrl+Shift+E", "Ctrl+Shift+C"):
        assert expected in keys
    assert all(isinstance(text, str) and text for _, text in SHORTCUTS)


def test_reader_is_closed_when_the_pane_is_destroyed(qtbot: Any, store: SessionStore) -> None:
    pane = DetailPane()
    pane.set_store(store)
    reader = pane._reader
    conn = reader.conn
    assert conn is not None
    pane.deleteLater()
    qtbot.waitUntil(lambda: reader.conn is None)
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")
