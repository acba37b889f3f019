"""Save screenshots of the main window with the catalogue events, in light and dark.

Runs the real window offscreen on a temporary session, sends the provider's 19
catalogue payloads (plus three status variants so every badge colour shows) over
loopback to the real listener, selects a row and grabs the window::

    .venv/bin/python tests/screenshots/make_screenshots.py [--out docs/screenshots]

Each theme runs in its own process so nothing of the other palette leaks in.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspector.core.capture.engine import CaptureEngine
    from inspector.core.session.store import SessionStore
    from inspector.gui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "tests" / "fixtures" / "catalogue"


def payloads() -> list[tuple[str, bytes]]:
    """(path, body) in sending order: the catalogue, then delivered/failed/sent variants."""
    out = []
    for p in sorted(CATALOGUE.glob("*.json")):
        product = p.stem.split("_")[1]
        out.append((f"/{product}", p.read_bytes()))
    for event, status, to in (
        ("whatsapp:message:status", "delivered", "447700900123"),
        ("whatsapp:message:status", "failed", "447700900456"),
        ("rcs:message:status", "sent", "919876500001"),
    ):
        body = {
            "event": event,
            "payload": {
                "id": f"5f2c9e1a-{status}-4d1b-9a7e-1c3b5d7f9a0b",
                "channel": event.split(":")[0],
                "from": "919019120123",
                "to": to,
                "status": status,
                "timestamp": "2026-11-25T16:37:22.123456Z",
            },
        }
        out.append((f"/{event.split(':')[0]}", json.dumps(body, indent=1).encode()))
    return out


def _post(url: str, body: bytes) -> None:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def prepare(theme: str, prefix: str) -> Path:
    """Set up this process for one theme's shot: the theme, offscreen Qt, and data and
    config folders in a fresh temporary folder, which is returned."""
    os.environ["WEBHOOK_INSPECTOR_THEME"] = theme
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["WEBHOOK_INSPECTOR_DATA_DIR"] = str(tmp / "data")
    os.environ["WEBHOOK_INSPECTOR_CONFIG_DIR"] = str(tmp / "config")
    return tmp


def start_engine(store: SessionStore, **options: Any) -> CaptureEngine:
    """The listener on the README's port 8765, or any free port when that one is busy."""
    from inspector.core.capture.engine import CaptureEngine

    def listening_on(port: int) -> CaptureEngine:
        engine = CaptureEngine(store, host="127.0.0.1", port=port, **options)
        engine.start()
        return engine

    try:
        return listening_on(8765)
    except Exception:  # noqa: BLE001 - 8765 busy: any free port looks the same on screen
        return listening_on(0)


def pump(until: Callable[[], bool], timeout: float, what: str) -> None:
    """Run the Qt event loop until ``until()`` holds; give up after ``timeout`` seconds."""
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        QCoreApplication.processEvents()
        time.sleep(0.01)


def save_grab(window: MainWindow, target: Path) -> Path:
    """Let the window settle for a moment, then save its picture to ``target``."""
    end = time.monotonic() + 0.6
    pump(lambda: time.monotonic() > end, 5, "the window to settle")
    target.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(target))
    return target


def close_all(window: MainWindow, engine: CaptureEngine, store: SessionStore) -> None:
    window.shutdown()
    window.close()
    engine.stop()
    store.close()


def shoot(theme: str, out: Path) -> Path:
    tmp = prepare(theme, "wi-shots-")

    from PySide6.QtWidgets import QApplication

    from inspector.core.session.store import SessionStore
    from inspector.gui.main_window import MainWindow
    from inspector.gui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app)
    store = SessionStore(tmp / "screens.whsession")
    engine = start_engine(store)
    window = MainWindow(store, engine.url, host=engine.host, port=engine.port)
    window.resize(1500, 1040)
    window.show()
    window.splitter.setSizes([600, 400])
    try:
        sent = payloads()
        for path, body in sent:
            _post(engine.url.rstrip("/") + path, body)
        pump(lambda: window.model.rowCount() >= len(sent), 5, "every request to show")
        window.select_request(4)
        return save_grab(window, out / f"main-{theme}.png")
    finally:
        close_all(window, engine, store)


def run(shoot_theme: Callable[[str, Path], Path], script: str, description: str) -> int:
    """The command line both screenshot scripts share: ``--out``, and ``--theme`` for one
    theme in this process; without it, each theme in a fresh ``script`` process."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--theme", choices=["light", "dark"], help="one theme, in this process")
    args = parser.parse_args()
    if args.theme:
        print(shoot_theme(args.theme, args.out))
        return 0
    for theme in ("light", "dark"):
        cmd = [sys.executable, script, "--theme", theme, "--out", str(args.out)]
        subprocess.run(cmd, check=True)
    return 0


def main() -> int:
    return run(shoot, __file__, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
