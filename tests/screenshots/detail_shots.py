"""Render the detail pane's tabs for a few catalogue payloads, light and dark, to PNGs.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python tests/screenshots/detail_shots.py [out_dir]``
(default ``/tmp/detail_shots``) and look at the pictures: alignment, clipped text,
badge contrast.  Uses a throwaway session file in a temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script, only tests/screenshots is on the path
    sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

from inspector.core.session.store import SessionStore  # noqa: E402
from inspector.gui.detail import DetailPane  # noqa: E402
from inspector.gui.detail.pane import TAB_EVENT, TAB_HEADERS, TAB_JSON, TAB_RAW, TAB_TIMELINE  # noqa: E402
from inspector.gui.theme import palette  # noqa: E402
from tests.factories import append_decoded, captured_request  # noqa: E402

CATALOGUE = Path(__file__).parent.parent / "fixtures" / "catalogue"
SHOTS = [
    ("01_sms_message_status.json", "/sms", [TAB_EVENT, TAB_JSON, TAB_RAW]),
    ("04_whatsapp_message_in_text.json", "/whatsapp", [TAB_EVENT, TAB_JSON]),
    ("11_voice_message_out.json", "/voice", [TAB_EVENT, TAB_HEADERS]),
    ("06_whatsapp_unsubscription.json", "/hook", [TAB_EVENT]),
]
STATUSES = ("sent", "delivered", "read", "failed", "bogus")


def capture(store: SessionStore, body: bytes, path: str, seq_time: int) -> int:
    headers = [("Content-Type", "application/json"), ("User-Agent", "provider-webhooks/2.0")]
    req = captured_request(
        path,
        body,
        seq=store.take_seq(),
        received_us=seq_time,
        http_version="HTTP/1.1",
        remote="127.0.0.1:53122",
        headers=headers,
        response_headers=[("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "2")],
    )
    return append_decoded(store, [req])[0].id


def main(out: Path) -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setStyle("Fusion")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = SessionStore(Path(tmp) / "shots.whsession")
        now = int(time.time() * 1e6)
        ids = {}
        for n, (name, path, _) in enumerate(SHOTS):
            ids[name] = capture(store, (CATALOGUE / name).read_bytes(), path, now + n)
        template = (CATALOGUE / "03_whatsapp_message_status.json").read_text()
        timeline_ids = []
        for n, status in enumerate(STATUSES):
            body = template.replace("sent|delivered|read|failed|deleted", status)
            timeline_ids.append(capture(store, body.encode(), "/whatsapp", now + n * 4_300_000))
        pane = DetailPane()
        pane.resize(960, 640)
        pane.set_store(store)
        pane.show()
        for scheme in ("light", "dark"):
            app.setPalette(palette(scheme))
            for name, _, tabs in SHOTS:
                pane.show_request(ids[name])
                for tab in tabs:
                    pane.tabs.setCurrentIndex(tab)
                    if tab == TAB_JSON:
                        pane.json_tab.expand_all()
                    app.processEvents()
                    label = pane.tabs.tabText(tab).replace("&", "").split(" ")[0].lower()
                    pane.grab().save(str(out / f"{scheme}_{name[:2]}_{label}.png"))
            pane.show_request(timeline_ids[2])
            pane.tabs.setCurrentIndex(TAB_TIMELINE)
            app.processEvents()
            pane.grab().save(str(out / f"{scheme}_timeline.png"))
            pane.show_request(None)
            app.processEvents()
            pane.grab().save(str(out / f"{scheme}_empty.png"))
        pane.close_store()
        pane.deleteLater()
        store.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/detail_shots"))
