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


def shoot(theme: str, out: Path) -> Path:
    os.environ["WEBHOOK_INSPECTOR_THEME"] = theme
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="wi-shots-"))
    os.environ["WEBHOOK_INSPECTOR_DATA_DIR"] = str(tmp / "data")
    os.environ["WEBHOOK_INSPECTOR_CONFIG_DIR"] = str(tmp / "config")

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from inspector.core.engine import CaptureEngine
    from inspector.core.store import SessionStore
    from inspector.gui.main_window import MainWindow
    from inspector.gui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app)
    store = SessionStore(tmp / "screens.whsession")
    engine = CaptureEngine(store, host="127.0.0.1", port=8765)
    try:
        engine.start()
    except Exception:  # noqa: BLE001 - 8765 busy: any free port looks the same on screen
        engine = CaptureEngine(store, host="127.0.0.1", port=0)
        engine.start()
    window = MainWindow(store, engine.url, host=engine.host, port=engine.port)
    window.resize(1500, 1040)
    window.show()
    window.splitter.setSizes([600, 400])
    try:
        for path, body in payloads():
            _post(engine.url.rstrip("/") + path, body)
        deadline = time.monotonic() + 5
        while window.model.rowCount() < len(payloads()) and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.01)
        window.select_request(4)
        end = time.monotonic() + 0.6
        while time.monotonic() < end:
            QCoreApplication.processEvents()
            time.sleep(0.01)
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"main-{theme}.png"
        window.grab().save(str(target))
        return target
    finally:
        window.shutdown()
        window.close()
        engine.stop()
        store.close()


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
