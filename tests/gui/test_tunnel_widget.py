"""The tunnel control driven with qtbot against real pyngrok and the stand-in ngrok agent."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton

from inspector.core.tunnel import TunnelManager, TunnelOptions, TunnelState
from inspector.core.tunnel.secrets import SecretStore, TunnelSettings, TunnelSettingsStore
from inspector.gui.tunnel_widget import TunnelControl, TunnelSettingsDialog, join_webhook_url
from tests.fake_ngrok import harness
from tests.fake_ngrok.fixtures import FakeAgent

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(sys.platform == "win32", reason="stand-in agent is a sh wrapper"),
]


@pytest.fixture
def store(tmp_path: Path, fake_agent: FakeAgent) -> TunnelSettingsStore:
    s = TunnelSettingsStore(tmp_path / "config", SecretStore(tmp_path / "config", backend="file"))
    s.save(TunnelSettings(ngrok_path=str(fake_agent.path)))
    s.set_authtoken(harness.AUTHTOKEN)
    return s


@pytest.fixture
def control(qtbot, store: TunnelSettingsStore) -> Iterator[TunnelControl]:
    def factory(options: TunnelOptions, on_state) -> TunnelManager:
        return TunnelManager(options, on_state, check_interval=0.2, backoff_initial=0.1)

    widget = TunnelControl(factory, store)
    qtbot.addWidget(widget)
    widget.set_local_address("127.0.0.1", 8765)
    widget.show()
    yield widget
    widget.shutdown()


def _button(widget: TunnelControl, text: str) -> QPushButton:
    [button] = [b for b in widget.findChildren(QPushButton) if b.text() == text]
    return button


def test_start_goes_online_and_urls_can_be_copied(qtbot, control: TunnelControl) -> None:
    seen: list[str] = []
    control.state_changed.connect(seen.append)
    assert control.state is TunnelState.OFF and control.public_url == ""
    assert not control._copy_public.isEnabled() and not control._copy_webhook.isEnabled()

    with qtbot.waitSignal(control.public_url_changed, timeout=15000) as url_signal:
        qtbot.mouseClick(_button(control, "Start tunnel"), Qt.MouseButton.LeftButton)
    url = url_signal.args[0]
    assert url.startswith("https://") and url.endswith(".ngrok-free.app")
    assert seen == ["starting", "online"]
    assert control.public_url == url and control._public.text() == url
    assert control._status.text() == "Online"
    assert _button(control, "Stop tunnel").isEnabled()

    qtbot.mouseClick(control._copy_public, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == url

    control._path_edit.setText("whatsapp")
    assert control.webhook_url == f"{url}/whatsapp"
    control._copy_webhook.click()
    assert QGuiApplication.clipboard().text() == f"{url}/whatsapp"

    with qtbot.waitSignal(control.public_url_changed, timeout=10000) as gone:
        _button(control, "Stop tunnel").click()
    assert gone.args == [""]
    qtbot.waitUntil(lambda: control.state is TunnelState.OFF, timeout=10000)
    assert control._public.text() == "" and control.webhook_url == ""
    assert control._status.text() == "Tunnel off"
    assert seen[-1] == "off"


def test_webhook_path_is_remembered(qtbot, control: TunnelControl, store) -> None:
    control._path_edit.setText("/viber")
    control._path_edit.editingFinished.emit()
    assert store.load().webhook_path == "/viber"


def test_bad_token_shows_the_message_and_the_way_out(
    qtbot, control: TunnelControl, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_NGROK_MODE", "bad_authtoken")
    control.start()
    qtbot.waitUntil(lambda: control.state is TunnelState.ERROR, timeout=15000)

    text = control._detail.text()
    assert "ngrok rejected the authtoken" in text
    assert 'href="https://dashboard.ngrok.com/get-started/your-authtoken"' in text
    assert "2abcFAKEtoken" not in text
    assert control._status.text() == "Tunnel error"
    assert control._token_button.isVisible() and control._enter_token_button.isVisible()
    assert not control._install_button.isVisible()
    assert _button(control, "Start tunnel").isEnabled()


def test_window_stays_responsive_while_the_agent_hangs(
    qtbot, control: TunnelControl, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_NGROK_MODE", "hang")
    control.start()
    assert control.state is TunnelState.STARTING
    ticks: list[int] = []
    timer = QTimer(control)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 20, timeout=3000)  # the event loop keeps turning
    timer.stop()
    assert control.state is TunnelState.STARTING

    _button(control, "Stop tunnel").click()
    qtbot.waitUntil(lambda: control.state is TunnelState.OFF, timeout=10000)


def test_missing_binary_offers_install_which_then_starts(
    qtbot,
    store: TunnelSettingsStore,
    tmp_path: Path,
    archive_server: tuple[str, dict[str, bytes]],
) -> None:
    base, files = archive_server
    files["/ngrok.tgz"] = harness.tgz(
        "ngrok", harness.install_fake_agent(tmp_path / "src").read_bytes()
    )

    target = tmp_path / "installed" / "ngrok"
    settings = store.load()
    settings.ngrok_path = str(target)
    store.save(settings)
    widget = TunnelControl(
        lambda o, cb: TunnelManager(o, cb, check_interval=0.2),
        store,
        install_url=f"{base}/ngrok.tgz",
    )
    qtbot.addWidget(widget)
    widget.set_local_address("127.0.0.1", 8765)
    widget.show()
    try:
        widget.start()
        qtbot.waitUntil(lambda: widget.state is TunnelState.ERROR, timeout=10000)
        assert "ngrok is not installed" in widget._detail.text()
        assert widget._install_button.isVisible() and widget._choose_button.isVisible()

        widget._install_button.click()
        qtbot.waitUntil(lambda: widget.state is TunnelState.ONLINE, timeout=15000)
        assert os.access(target, os.X_OK)
        assert widget.public_url.startswith("https://")
    finally:
        widget.shutdown()


def test_settings_dialog_checks_basic_auth_and_saves(qtbot, store: TunnelSettingsStore) -> None:
    dialog = TunnelSettingsDialog(store)
    qtbot.addWidget(dialog)
    dialog.token.setText("2newTOKEN")
    dialog.region.setCurrentIndex(dialog.region.findData("eu"))
    dialog.domain.setText("hooks.example.ngrok.app")
    dialog.user.setText("hooks")
    dialog.password.setText("short")
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert "8 to 128 characters" in dialog.error.text()

    dialog.password.setText("long-enough-1")
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    options = store.tunnel_options()
    assert options.authtoken == "2newTOKEN" and options.region == "eu"
    assert options.basic_auth == "hooks:long-enough-1"
    assert options.domain == "hooks.example.ngrok.app"
    assert "2newTOKEN" not in store.settings_path.read_text()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "https://a.ngrok.app/"),
        ("whatsapp", "https://a.ngrok.app/whatsapp"),
        ("/sms/dlr", "https://a.ngrok.app/sms/dlr"),
        ("", "https://a.ngrok.app/"),
    ],
)
def test_join_webhook_url(path: str, expected: str) -> None:
    assert join_webhook_url("https://a.ngrok.app/", path) == expected
