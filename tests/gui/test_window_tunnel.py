"""The real window with its real tunnel control, real pyngrok and the stand-in ngrok agent.

The agent forwards its loopback "public" port to the window's listener with the headers
ngrok adds, so a request sent there arrives exactly as one from the internet would.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QPushButton

from inspector.core.capture.engine import CaptureEngine
from inspector.core.tunnel import TunnelState
from inspector.core.tunnel.secrets import TunnelSettings, TunnelSettingsStore
from inspector.gui.main_window import MainWindow
from inspector.gui.table_model import COLUMN_INDEX
from inspector.gui.tunnel_widget import TunnelControl
from tests.fake_ngrok import harness
from tests.fake_ngrok.fixtures import FakeAgent

from .conftest import catalogue_requests, post, shown_window

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(sys.platform == "win32", reason="stand-in agent is a sh wrapper"),
]

#: What the stand-in agent puts in X-Forwarded-For: a documentation address, so it can only
#: have come from the header (the real peer is 127.0.0.1).
CLIENT_IP = "203.0.113.9"


@pytest.fixture
def agent_state(fake_agent: FakeAgent, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app's own tunnel settings (in the test's config dir) at the stand-in agent."""
    monkeypatch.setenv("FAKE_NGROK_CLIENT_IP", CLIENT_IP)
    monkeypatch.delenv("WEBHOOK_INSPECTOR_SECRET_BACKEND", raising=False)
    store = TunnelSettingsStore()  # the default one, which the window's control uses too
    store.save(TunnelSettings(ngrok_path=str(fake_agent.path), webhook_path="/whatsapp"))
    store.set_authtoken(harness.AUTHTOKEN)
    return fake_agent.state_dir


@pytest.fixture
def tunnel_window(
    qtbot, tunnel_engine: CaptureEngine, agent_state: Path, settings: QSettings
) -> Iterator[MainWindow]:
    yield from shown_window(qtbot, tunnel_engine, settings, size=(1400, 800))


def _button(control: TunnelControl, text: str) -> QPushButton:
    [button] = [b for b in control.findChildren(QPushButton) if b.text() == text]
    return button


def _agent_pid(state_dir: Path) -> int:
    state = harness.read_state(state_dir)
    assert state is not None, "the stand-in agent never wrote its state"
    return int(state["pid"])


def _go_online(qtbot, window: MainWindow) -> str:
    control = window.tunnel
    with qtbot.waitSignal(control.public_url_changed, timeout=20000) as got:
        qtbot.mouseClick(_button(control, "Start tunnel"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: control.state is TunnelState.ONLINE, timeout=10000)
    return str(got.args[0])


def _our_threads(before: set[threading.Thread]) -> list[str]:
    """Threads started since ``before`` that are still running (asyncio/Qt pools aside)."""
    alive = []
    for t in set(threading.enumerate()) - before:
        if t.daemon and t.name.startswith(("asyncio_", "ThreadPoolExecutor", "QThread", "Dummy")):
            continue
        t.join(2.0)
        if t.is_alive():
            alive.append(t.name)
    return alive


def test_tunnel_from_the_window_marks_requests_and_dies_with_it(
    qtbot, tunnel_window: MainWindow, tunnel_engine: CaptureEngine, agent_state: Path
) -> None:
    window = tunnel_window
    before = set(threading.enumerate())
    assert isinstance(window.tunnel, TunnelControl)
    assert not window.tunnel_dock.isVisible()
    assert not window.public_url_label.isVisible()

    # Open the dock from the toolbar's Tunnel button, as a user would.
    tunnel_button = window.toolbar.widgetForAction(window.tunnel_action)
    qtbot.mouseClick(tunnel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.tunnel_dock.isVisible, timeout=2000)
    assert window.tunnel._local.text() == tunnel_engine.url

    url = _go_online(qtbot, window)
    assert url.startswith("https://") and url.endswith(".ngrok-free.app")
    assert window.public_url == url
    assert window.tunnel.webhook_url == f"{url}/whatsapp"
    # The dock opened wide enough to show the whole webhook URL, not its tail.
    webhook_field = window.tunnel._webhook
    shown = webhook_field.fontMetrics().horizontalAdvance(webhook_field.text())
    assert shown < webhook_field.contentsRect().width() - 4
    # The public URL sits right after the local one (and its copy button) in the toolbar.
    qtbot.waitUntil(window.public_url_label.isVisible, timeout=2000)
    assert url in window.public_url_label.text()
    local_box = window.url_label.geometry()
    public_box = window.public_url_label.geometry()
    assert window.public_url_label.parent() is window.url_label.parent()
    assert local_box.right() < public_box.left() < local_box.right() + 80
    assert abs(local_box.center().y() - public_box.center().y()) <= 2
    assert url in window.empty_label.text()  # "waiting for webhooks" names both URLs
    agent_pid = _agent_pid(agent_state)
    assert harness.pid_alive(agent_pid)

    # One request straight to the listener, one through the tunnel's public side.
    direct_path, direct_body = catalogue_requests()[0]
    tunnel_path, tunnel_body = catalogue_requests()[3]
    assert post(tunnel_engine.url, direct_path, direct_body) == 200
    status, _ = harness.send(harness.public_port(agent_state, url), tunnel_path, tunnel_body)
    assert status == 200
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=10000)

    path_col = COLUMN_INDEX["path"]
    direct, tunnelled = (window.model.index(r, path_col) for r in range(2))
    assert direct.data() == direct_path and tunnelled.data() == tunnel_path
    assert direct.data(Qt.ItemDataRole.DecorationRole) is None
    assert tunnelled.data(Qt.ItemDataRole.DecorationRole) is not None
    assert f"Through the ngrok tunnel from {CLIENT_IP}" in tunnelled.data(
        Qt.ItemDataRole.ToolTipRole
    )
    assert "tunnel" not in direct.data(Qt.ItemDataRole.ToolTipRole)

    window.select_request(window.model.id_at(1) or -1)
    source = window.detail.event_card._values["source"]
    qtbot.waitUntil(lambda: source.text() == f"{CLIENT_IP} (ngrok tunnel)", timeout=5000)
    window.select_request(window.model.id_at(0) or -1)
    qtbot.waitUntil(lambda: source.text() == "127.0.0.1 (direct)", timeout=5000)

    # Stop from the dock: the URL goes away everywhere, the agent exits.
    with qtbot.waitSignal(window.tunnel.public_url_changed, timeout=10000) as gone:
        qtbot.mouseClick(_button(window.tunnel, "Stop tunnel"), Qt.MouseButton.LeftButton)
    assert gone.args == [""]
    qtbot.waitUntil(lambda: window.tunnel.state is TunnelState.OFF, timeout=10000)
    assert window.public_url == "" and window.public_url_label.text() == ""
    qtbot.waitUntil(lambda: not window.public_url_label.isVisible(), timeout=2000)
    harness.wait_for(lambda: not harness.pid_alive(agent_pid), 10, "the stopped agent to exit")

    # Online again, then close the window with the tunnel up: nothing may outlive it.
    _go_online(qtbot, window)
    second_pid = _agent_pid(agent_state)
    assert second_pid != agent_pid and harness.pid_alive(second_pid)
    assert window.close()
    assert window.tunnel.state is not TunnelState.ONLINE
    assert not harness.pid_alive(second_pid), "the ngrok agent outlived the window"
    assert _our_threads(before) == []


def test_the_providers_url_verification_through_the_tunnel(
    qtbot, tunnel_window: MainWindow, tunnel_engine: CaptureEngine, agent_state: Path
) -> None:
    """The console's first request, sent to the public URL, is answered with its challenge."""
    window = tunnel_window
    url = _go_online(qtbot, window)
    handshake = b'{\n"validation_key": "vk-77",\n"challenge": "7d3f-challenge",\n}'
    status, body = harness.send(
        harness.public_port(agent_state, url), "/whatsapp?token=vk-77", handshake
    )
    assert status == 200
    assert json.loads(body) == {"challenge": "7d3f-challenge"}
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10000)
    event = window.model.index(0, COLUMN_INDEX["event"])
    assert event.data() == "webhook:verification"
    assert window.model.index(0, COLUMN_INDEX["path"]).data(Qt.ItemDataRole.DecorationRole)
    assert window.statusBar().currentMessage() == (
        "The provider verified this URL (challenge answered)"
    )
    assert window.close()
