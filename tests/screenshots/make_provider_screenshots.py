"""Save screenshots of the provider connection: a verification, an authenticity failure and
a retry, each selected in the real window, in light and dark.

Runs the real window offscreen on a temporary session with a webhook secret and a signing key
configured, and sends over loopback what the provider sends: the console's URL verification,
delivery reports (one of them twice, as a re-delivery), signed WhatsApp status callbacks and
one with a wrong secret and a bad signature::

    .venv/bin/python tests/screenshots/make_provider_screenshots.py [--out docs/screenshots]

Writes ``provider-verification-*.png``, ``provider-auth-failure-*.png`` and
``provider-retry-*.png``; each theme runs in its own process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script, only tests/screenshots is on the path
    sys.path.insert(0, str(ROOT))

from tests.screenshots import make_screenshots as shots  # noqa: E402

SECRET = "wh-secret-2f9c"
WEBHOOK_ID = "6f1d2b7a-webhook"
HANDSHAKE = b'{\n"validation_key": "vk-4f1c2a9d",\n"challenge": "c8a1f9e0-3b7d-4c55",\n}'


def dlr(mid: str, status: str, mobile: str) -> bytes:
    return json.dumps(
        {
            "id": mid,
            "mobile": mobile,
            "status": status,
            "credits": "1.0000",
            "units": 1,
            "deliv_time": "2026-11-25 16:27:51",
            "sent_time": "2026-11-25 16:27:35",
            "submit_time": "2026-11-25 16:27:39",
            "deliv_at": "1795604271",
            "sent_at": "1795604255",
            "submit_at": "1795604259",
            "cid": "12344441234",
            "custom": "order-1742",
            "provider": "Jio",
            "provider_code": "RJ",
            "region": "Bangalore",
            "region_code": "KA",
            "location": "India",
            "location_code": "in",
        }
    ).encode()


def status_callback(mid: str, status: str) -> bytes:
    body = {
        "event": "whatsapp:message:status",
        "payload": {
            "id": mid,
            "channel": "whatsapp",
            "from": "919019120123",
            "to": "447700900123",
            "status": status,
            "timestamp": "2026-11-25T16:37:22.123456Z",
            "foreign_id": "orders/1742",
        },
    }
    # PHP's json_encode, as the provider's sender sends it: slashes escaped.
    return json.dumps(body, separators=(",", ":")).replace("/", "\\/").encode()


def send(url: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> None:
    req = urllib.request.Request(
        url.rstrip("/") + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def signed(body: bytes) -> dict[str, str]:
    signature = hmac.new(WEBHOOK_ID.encode(), body, hashlib.sha256).hexdigest()
    return {"Authorization": f"Bearer {SECRET}", "Signature": signature}


def shoot(theme: str, out: Path) -> Path:
    tmp = shots.prepare(theme, "wi-provider-shots-")
    from PySide6.QtWidgets import QApplication

    from inspector.core.session.store import SessionStore
    from inspector.gui.detail.pane import TAB_EVENT
    from inspector.gui.main_window import MainWindow
    from inspector.gui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app)
    store = SessionStore(tmp / "provider.whsession")
    inspection = {"auth": {"secret": SECRET, "signing_keys": [WEBHOOK_ID]}}
    engine = shots.start_engine(store, inspection=inspection)
    window = MainWindow(store, engine.url, host=engine.host, port=engine.port)
    window.resize(1500, 1040)
    window.show()
    window.splitter.setSizes([430, 570])
    try:
        first = dlr("b34e35ad-fe34-4a8b-977c-b21cd76cd7d6:1", "MOB-OFF", "918921269123")
        ok_wa = status_callback("a418d672-9781-4d97-b517-a56f7d95ad8a", "delivered")
        bad_wa = status_callback("a418d672-9781-4d97-b517-a56f7d95ad8b", "read")
        sent = [
            ("/sms?token=vk-4f1c2a9d", HANDSHAKE, {"Authorization": f"Bearer {SECRET}"}),
            ("/sms", first, {"Authorization": f"Bearer {SECRET}"}),
            ("/sms", dlr("c7e0-4a11:1", "DELIVRD", "918921269456"),
             {"Authorization": f"Bearer {SECRET}"}),
            ("/whatsapp", ok_wa, signed(ok_wa)),
            ("/whatsapp", bad_wa, {"Authorization": "Bearer old-secret", "Signature": "0" * 64}),
            ("/sms", dlr("d2f1-9b02:1", "DLT-REJECTED", "918921269789"),
             {"Authorization": f"Bearer {SECRET}"}),
            ("/sms", first, {"Authorization": f"Bearer {SECRET}"}),
        ]  # fmt: skip
        for path, body, headers in sent:
            send(engine.url, path, body, headers)
        shots.pump(lambda: window.model.rowCount() >= len(sent), 10, "every request to show")
        window.detail.tabs.setCurrentIndex(TAB_EVENT)
        targets = []
        for row_id, name in ((1, "verification"), (5, "auth-failure"), (7, "retry")):
            window.select_request(row_id)
            if name == "verification":
                window._announce_verification([store.get(1).summary])  # type: ignore[union-attr]
            targets.append(shots.save_grab(window, out / f"provider-{name}-{theme}.png"))
        return targets[-1]
    finally:
        shots.close_all(window, engine, store)


def main() -> int:
    return shots.run(shoot, __file__, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
