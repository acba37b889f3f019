"""The Rules panel and the Send Test Event dialog, driven as a user would, on a real engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt

from inspector.core.capture.engine import CaptureEngine
from inspector.core.session.query import QueryError, compile_query
from inspector.gui.rules_panel import RulesPanel
from tests.core.httpraw import send
from tests.gui.conftest import CATALOGUE

pytestmark = pytest.mark.gui

JSON = [("Content-Type", "application/json")]
WA_STATUS = (CATALOGUE / "03_whatsapp_message_status.json").read_bytes()


@pytest.fixture
def panel(qtbot: Any, engine: CaptureEngine, settings: QSettings) -> Iterator[RulesPanel]:
    p = RulesPanel(engine, settings)
    qtbot.addWidget(p)
    p.resize(460, 640)
    p.show()
    yield p
    p.shutdown()


def wait_status(engine: CaptureEngine, status: int, body: bytes = WA_STATUS) -> list[int]:
    """Post until the engine answers ``status`` (rule changes reach the writer in a moment)."""
    import time

    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = send(engine.url, "POST", "/whatsapp", JSON, body).status
        seen.append(got)
        if got == status:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"never answered {status}: {seen}")


def edit_rule(qtbot: Any, panel: RulesPanel, **fields: str) -> None:
    for key, text in fields.items():
        widget = getattr(panel, f"{key}_edit")
        widget.clear()
        qtbot.keyClicks(widget, text)


def test_the_event_tab_says_which_rule_answered(qtbot, engine_window, engine) -> None:
    w = engine_window
    w.rules_panel.set_rules_fields([{"name": "slow", "respond": "503", "delay": "200ms"}])
    wait_status(engine, 503)
    qtbot.waitUntil(lambda: w.model.rowCount() >= 1, timeout=5000)
    w.select_request(w.model.rowCount())
    text = w.detail.event_card._values["response"].text()
    assert text == "503 \u00b7 rule slow \u00b7 after 0.2 s"


def test_a_rule_made_in_the_panel_answers_and_counts(qtbot, panel, engine) -> None:
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    edit_rule(qtbot, panel, name="wa-fails", match="event:whatsapp:message:status",
              respond="500, 200")  # fmt: skip
    assert panel.errors() == [""]
    wait_status(engine, 500)
    assert send(engine.url, "POST", "/whatsapp", JSON, WA_STATUS).status == 200
    assert send(engine.url, "POST", "/whatsapp", JSON, b"{}").status == 200  # not matched
    qtbot.waitUntil(lambda: "2 hits" in panel.hit_text(0), timeout=3000)
    assert panel.hit_text(0).startswith("wa-fails")
    # Reset: the count and the sequence start over.
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "0 hits" in panel.hit_text(0), timeout=3000)
    wait_status(engine, 500)


def test_a_bad_expression_is_red_says_why_and_is_skipped_whole(qtbot, panel, engine) -> None:
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    edit_rule(qtbot, panel, name="r", respond="503")
    wait_status(engine, 503)
    qtbot.keyClicks(panel.match_edit, "evnt:x")
    with pytest.raises(QueryError) as bar:
        compile_query("evnt:x")
    assert panel.errors() == [f"match: {bar.value}"]
    assert panel.error_label.isVisible() and str(bar.value) in panel.error_label.text()
    assert panel.error_label.textFormat() == Qt.TextFormat.PlainText
    item = panel.list.item(0)
    assert item.foreground().color().name() == "#e5534b"
    assert "Skipped" in item.toolTip()

    # Not half-applied: the rule (and its 503) is out altogether until it is fixed.
    wait_status(engine, 200)
    panel.match_edit.clear()
    qtbot.keyClicks(panel.match_edit, "event:whatsapp")
    assert panel.errors() == [""]
    wait_status(engine, 503)


def test_typed_markup_is_never_rendered(qtbot, panel) -> None:
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    edit_rule(qtbot, panel, match="product:<b>x</b>")
    assert "&lt;b&gt;" in panel.list.item(0).toolTip()
    assert "<b>" not in panel.list.item(0).toolTip()


def test_the_match_editor_completes_like_the_filter_bar(qtbot, panel) -> None:
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(panel.match_edit, "eve")
    assert "event:" in panel.match_edit.completion_model.stringList()
    qtbot.keyClicks(panel.match_edit, "nt:whatsapp:message:s")
    assert "event:whatsapp:message:status" in panel.match_edit.completion_model.stringList()


def test_provider_warnings_show_as_you_type(qtbot, panel) -> None:
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    edit_rule(qtbot, panel, respond="201")
    assert "only 200 and 202 as delivered" in panel.warning_label.text()
    edit_rule(qtbot, panel, respond="200", delay="4s")
    assert "over 3 s: WhatsApp retries in 10 s" in panel.warning_label.text()
    edit_rule(qtbot, panel, path="/sms/*")
    assert not panel.warning_label.isVisible()


def test_order_on_off_and_kept_between_runs(qtbot, panel, engine, settings) -> None:
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    edit_rule(qtbot, panel, name="first", respond="501")
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    edit_rule(qtbot, panel, name="second", respond="502")
    wait_status(engine, 501)  # first match wins
    qtbot.mouseClick(panel.up_button, Qt.MouseButton.LeftButton)
    assert [r.name for r in panel.rules()] == ["second", "first"]
    wait_status(engine, 502)
    panel.list.item(0).setCheckState(Qt.CheckState.Unchecked)  # "second" off
    wait_status(engine, 501)
    again = RulesPanel(None, settings)
    qtbot.addWidget(again)
    assert [(r.name, r.enabled) for r in again.rules()] == [("second", False), ("first", True)]


def test_duplicate_names_mark_the_second(qtbot, panel) -> None:
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    edit_rule(qtbot, panel, name="same")
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    edit_rule(qtbot, panel, name="same")
    assert panel.errors() == ["", "name: another rule above is named 'same'"]


# -- the window's Send Test Event ------------------------------------------------------------


@pytest.fixture
def engine_window(qtbot, engine, settings):  # noqa: ANN001, ANN201 - fixtures
    from inspector.gui.main_window import MainWindow

    w = MainWindow(engine.store, engine.url, host=engine.host, port=engine.port,
                   settings=settings, engine=engine)  # fmt: skip
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()


def test_send_a_story_from_the_window(qtbot, engine_window, engine) -> None:
    w = engine_window
    assert "Send a sample" in w.empty_label.text()
    w.empty_label.linkActivated.emit("send")
    dialog = w._send_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.target_edit.text() == engine.url
    dialog.set_sample("story:whatsapp-read")
    dialog.speed_box.setCurrentText("600x")
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.log.blockCount() >= 3 and dialog.send_button.isEnabled(),
                    timeout=10_000)  # fmt: skip
    lines = dialog.log.toPlainText().splitlines()
    assert len(lines) == 3 and all("200 in" in line and "delivered" in line for line in lines)
    qtbot.waitUntil(lambda: w.model.rowCount() == 3, timeout=5000)
    conn = engine.store.open_reader()
    try:
        statuses = [r[0] for r in conn.execute("SELECT status FROM requests ORDER BY id")]
    finally:
        conn.close()
    assert statuses == ["sent", "delivered", "read"]
    # The Event tab says who answered and how (the default answer here).
    w.select_request(1)
    assert w.detail.event_card._values["response"].text() == "200"
    # The same dialog from the toolbar action (a menu can hold it too).
    w.action_send_test_event.trigger()
    assert w._send_dialog is dialog


def test_the_preview_shows_the_request_as_sent(qtbot, engine_window) -> None:
    dialog = engine_window.show_send_dialog()
    dialog.set_sample("whatsapp:message:in:image")
    qtbot.keyClicks(dialog.key_edit, "wh-1")
    qtbot.keyClicks(dialog.secret_edit, "s3")
    text = dialog.preview.toPlainText()
    assert "POST " + engine_window.url + "whatsapp" in text
    assert "Authorization: Bearer s3" in text and "Signature: " in text
    assert "https:\\/\\/" in text  # PHP's escaping, as the provider's sender emits it
    dialog.target_edit.setText("ftp://nowhere")
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    assert "error: --to must be an http" in dialog.log.toPlainText()


def test_the_dialog_works_without_an_engine(qtbot, engine) -> None:
    from inspector.gui.send_dialog import SendTestEventDialog

    dialog = SendTestEventDialog(engine.url)
    qtbot.addWidget(dialog)
    dialog.set_sample("verification")
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.log.blockCount() >= 1 and dialog.send_button.isEnabled(),
                    timeout=10_000)  # fmt: skip
    assert "200 in" in dialog.log.toPlainText()
    dialog.close()


def test_rules_dock_is_reachable_from_the_toolbar(qtbot, engine_window) -> None:
    w = engine_window
    assert not w.rules_dock.isVisible()
    w.rules_action.trigger()
    assert w.rules_dock.isVisible() and w.rules_panel.isVisible()


def test_test_events_go_to_the_forward_url_once_one_is_set(qtbot, engine, settings) -> None:  # noqa: ANN001
    from inspector.core.send.relay import Relay
    from inspector.gui.main_window import MainWindow

    relay = Relay(engine.store)
    relay.configure("http://127.0.0.1:9/app")
    w = MainWindow(engine.store, engine.url, host=engine.host, port=engine.port,
                   settings=settings, engine=engine, relay=relay)  # fmt: skip
    qtbot.addWidget(w)
    try:
        assert w.show_send_dialog().target_edit.text() == "http://127.0.0.1:9/app"
    finally:
        w.shutdown()
