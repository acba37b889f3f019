"""The window and the real provider: verification message, authenticity badge, retries,
the Event card's sentences and the provider settings dialog."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from inspector.core.capture.engine import CaptureEngine
from inspector.core.capture.provider_settings import ProviderSettings, ProviderSettingsStore
from inspector.gui.main_window import MainWindow
from inspector.gui.table_model import COLUMN_INDEX
from tests.core.httpraw import send
from tests.factories import running_engine

pytestmark = pytest.mark.gui

JSON = [("Content-Type", "application/json")]
HANDSHAKE = b'{\n"validation_key": "vk-4f1c2a9d",\n"challenge": "c8a1f9e0-3b7d",\n}'
DLR = (
    b'{"id": "m-1", "mobile": "918921269123", "status": "MOB-OFF", "credits": "1",'
    b' "deliv_time": "2021-04-09 16:27:51", "sent_time": "2021-04-09 16:27:35",'
    b' "submit_time": "2021-04-09 16:27:39", "deliv_at": "1617965871", "sent_at": "1617965855",'
    b' "submit_at": "1617965859", "provider": "Jio", "provider_code": "RJ",'
    b' "region": "Bangalore", "region_code": "KA", "location": "India", "location_code": "in"}'
)
WA = b'{"event":"whatsapp:message:status","payload":{"id":"w1","channel":"whatsapp","status":"read"}}'


@pytest.fixture
def provider_engine(session_path: Path) -> Iterator[CaptureEngine]:
    with running_engine(session_path) as eng:
        yield eng


@pytest.fixture
def pwindow(qtbot, provider_engine: CaptureEngine, settings: QSettings) -> Iterator[MainWindow]:
    engine = provider_engine

    def apply(s: ProviderSettings) -> None:
        engine.set_inspection(s.inspection_config())
        engine.set_answers(s.answer_config())

    w = MainWindow(
        engine.store, engine.url, host=engine.host, port=engine.port, settings=settings,
        apply_provider_settings=apply,
    )  # fmt: skip
    qtbot.addWidget(w)
    w.resize(1400, 800)
    w.show()
    qtbot.waitExposed(w)
    try:
        yield w
    finally:
        w.shutdown()


def _cell(window: MainWindow, row: int, key: str, role: int = Qt.ItemDataRole.DisplayRole):
    return window.model.index(row, COLUMN_INDEX[key]).data(role)


def test_the_verification_is_announced_in_the_status_bar(
    qtbot, pwindow: MainWindow, provider_engine: CaptureEngine
) -> None:
    resp = send(provider_engine.url, "POST", "/sms?token=vk-4f1c2a9d", JSON, HANDSHAKE)
    assert resp.json() == {"challenge": "c8a1f9e0-3b7d"}
    qtbot.waitUntil(lambda: pwindow.model.rowCount() == 1, timeout=10000)
    assert pwindow.statusBar().currentMessage() == (
        "The provider verified this URL (challenge answered)"
    )
    assert _cell(pwindow, 0, "event") == "webhook:verification"
    pwindow.select_request(pwindow.model.id_at(0) or -1)
    card = pwindow.detail.event_card
    qtbot.waitUntil(lambda: bool(card.value_text("verification")), timeout=5000)
    assert "Validation key vk-4f1c2a9d" in card.value_text("verification")
    assert "the console accepts the URL" in card.value_text("verification")


def test_status_meaning_carrier_and_unix_times_on_the_card(
    qtbot, pwindow: MainWindow, provider_engine: CaptureEngine
) -> None:
    send(provider_engine.url, "POST", "/sms", JSON, DLR)
    qtbot.waitUntil(lambda: pwindow.model.rowCount() == 1, timeout=10000)
    tip = _cell(pwindow, 0, "status", Qt.ItemDataRole.ToolTipRole)
    assert tip == "MOB-OFF (failure): the handset is switched off"
    pwindow.select_request(pwindow.model.id_at(0) or -1)
    card = pwindow.detail.event_card
    qtbot.waitUntil(lambda: card.value_text("meaning") != "", timeout=5000)
    assert card.value_text("meaning") == "the handset is switched off"
    assert card.value_text("carrier") == "Jio (RJ) \u00b7 Bangalore (KA) \u00b7 India"
    assert "deliv_at 1617965871 = 2021-04-09 10:57:51 UTC = 16:27:51 UTC+05:30" in (
        card.value_text("unix_times")
    )
    assert card.value_text("verdict") == "The provider counts this answer (200) as delivered."
    assert card.warnings_label.text().startswith("None")


def test_retry_column_and_card(qtbot, pwindow: MainWindow, provider_engine: CaptureEngine) -> None:
    for _ in range(2):
        send(provider_engine.url, "POST", "/sms", JSON, DLR)
    qtbot.waitUntil(lambda: pwindow.model.rowCount() == 2, timeout=10000)
    assert [_cell(pwindow, r, "attempt") for r in range(2)] == ["", "retry 2"]
    pwindow.select_request(pwindow.model.id_at(1) or -1)
    card = pwindow.detail.event_card
    qtbot.waitUntil(lambda: card.value_text("attempt") != "", timeout=5000)
    text = card.value_text("attempt")
    assert text.startswith("Attempt 2: the provider re-sent the same body to the same path")
    assert "was answered 200" in text


def test_settings_dialog_turns_on_the_checks_and_the_badge_says_so(
    qtbot, pwindow: MainWindow, provider_engine: CaptureEngine
) -> None:
    pwindow.show_provider_settings()
    dialog = pwindow.provider_dialog
    assert dialog is not None
    dialog.secret.setText("s3cret-value")
    dialog.signing_keys.setPlainText("9a1f-webhook-id")
    dialog.accept()
    assert pwindow.provider_dialog is None or not dialog.isVisible()
    assert ProviderSettingsStore().load().secret == "s3cret-value"
    # The replay dialogs' "re-sign" takes the first signing key from now on.
    assert pwindow.send.signing_key == "9a1f-webhook-id"
    signature = hmac.new(b"9a1f-webhook-id", WA, hashlib.sha256).hexdigest()
    good = JSON + [("Authorization", "Bearer s3cret-value"), ("Signature", signature)]
    qtbot.wait(200)  # the writer takes the settings before the next request it reads
    send(provider_engine.url, "POST", "/whatsapp", good, WA)
    send(provider_engine.url, "POST", "/whatsapp", JSON + [("Authorization", "Bearer no")],
         WA.replace(b"w1", b"w2"))  # fmt: skip
    qtbot.waitUntil(lambda: pwindow.model.rowCount() == 2, timeout=10000)
    tips = [_cell(pwindow, r, "auth", Qt.ItemDataRole.ToolTipRole) for r in range(2)]
    assert tips[0].startswith("Authentic") and tips[1].startswith("Not authentic")
    assert all(_cell(pwindow, r, "auth", Qt.ItemDataRole.DecorationRole) for r in range(2))
    pwindow.select_request(pwindow.model.id_at(1) or -1)
    card = pwindow.detail.event_card
    qtbot.waitUntil(lambda: "Webhook secret: wrong" in card.value_text("auth"), timeout=5000)
    assert "Signature: missing" in card.value_text("auth")
    assert card._values["auth"].textFormat() == Qt.TextFormat.PlainText


def test_settings_the_engine_refuses_keep_the_dialog_open(qtbot, pwindow: MainWindow) -> None:
    pwindow.show_provider_settings()
    dialog = pwindow.provider_dialog
    assert dialog is not None
    dialog.compose.setPlainText("GET https://x/a?m=@{{nope}}")
    dialog.accept()
    assert dialog.isVisible() and "unknown variable(s) nope" in dialog.error.text()
    dialog.reject()


def test_replay_re_signs_with_the_saved_signing_key(qtbot, provider_engine, settings) -> None:  # noqa: ANN001
    ProviderSettingsStore().save(ProviderSettings(signing_keys=["wh-key-1", "wh-key-2"]))
    w = MainWindow(provider_engine.store, provider_engine.url, settings=settings)
    qtbot.addWidget(w)
    try:
        assert w.send.signing_key == "wh-key-1"
    finally:
        w.shutdown()
