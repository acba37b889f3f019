"""Save screenshots of the main window with the ngrok tunnel online, in light and dark.

Runs the real window offscreen with its real tunnel control and real pyngrok, pointed at
the stand-in agent (``tests/fake_ngrok``), so no network is needed. Catalogue payloads go
through the stand-in's public side (arriving with the ``X-Forwarded-*`` headers ngrok adds)
and a few straight to the listener, so marked and unmarked rows show side by side::

    .venv/bin/python tests/screenshots/make_tunnel_screenshot.py [--out docs/screenshots]

Writes ``tunnel-online-light.png`` and ``tunnel-online-dark.png``; each theme runs in its own
process so nothing of the other palette leaks in.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script, only tests/screenshots is on the path
    sys.path.insert(0, str(ROOT))

from tests.fake_ngrok import harness  # noqa: E402
from tests.screenshots import make_screenshots as shots  # noqa: E402

#: The address the stand-in agent reports in X-Forwarded-For (a documentation address).
CLIENT_IP = "203.0.113.24"
#: How many of the sent payloads go straight to the listener (the rest use the tunnel).
DIRECT = 3


def shoot(theme: str, out: Path) -> Path:
    tmp = shots.prepare(theme, "wi-tunnel-shots-")
    os.environ["FAKE_NGROK_STATE_DIR"] = str(tmp / "agent-state")
    os.environ["FAKE_NGROK_CLIENT_IP"] = CLIENT_IP
    for name in ("FAKE_NGROK_MODE", "FAKE_NGROK_DIE_AFTER", "NGROK_AUTHTOKEN"):
        os.environ.pop(name, None)

    from PySide6.QtWidgets import QApplication

    from inspector.core.session.store import SessionStore
    from inspector.core.tunnel import TunnelState, tunnel_client_address
    from inspector.core.tunnel.secrets import TunnelSettings, TunnelSettingsStore
    from inspector.gui.main_window import MainWindow
    from inspector.gui.theme import apply_theme

    agent = harness.install_fake_agent(tmp / "bin")
    settings = TunnelSettingsStore()
    settings.save(TunnelSettings(ngrok_path=str(agent), webhook_path="/whatsapp"))
    settings.set_authtoken(harness.AUTHTOKEN)

    app = QApplication(sys.argv[:1])
    apply_theme(app)
    store = SessionStore(tmp / "tunnel.whsession")

    engine = shots.start_engine(store, client_address=tunnel_client_address)
    window = MainWindow(store, engine.url, host=engine.host, port=engine.port)
    # A common laptop size: with the tunnel bar open, every column must still show whole.
    window.resize(1280, 800)
    window.tunnel_action.trigger()  # the dock opens with the window, as the user left it
    window.show()
    window.splitter.setSizes([420, 300])
    try:
        end = time.monotonic() + 0.3
        shots.pump(lambda: time.monotonic() > end, 5, "the dock to take its width")
        window._fit_default_widths()  # the first-run fit, again for the table beside the dock
        window.tunnel.start()
        shots.pump(lambda: window.tunnel.state is TunnelState.ONLINE, 20, "the tunnel to go online")
        public_port = harness.public_port(tmp / "agent-state", window.tunnel.public_url)
        sent = shots.payloads()
        for i, (path, body) in enumerate(sent):
            if i < DIRECT:
                shots._post(engine.url.rstrip("/") + path, body)
            else:
                status, _ = harness.send(public_port, path, body)
                assert status == 200, status
        shots.pump(lambda: window.model.rowCount() >= len(sent), 10, "every request to show")
        window.select_request(DIRECT + 2)
        return shots.save_grab(window, out / f"tunnel-online-{theme}.png")
    finally:
        shots.close_all(window, engine, store)


def main() -> int:
    return shots.run(shoot, __file__, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
