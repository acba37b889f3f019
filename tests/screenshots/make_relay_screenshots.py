"""Save screenshots of forwarding and replay, in light and dark.

The real window offscreen, forwarding to a real aiohttp app on loopback that answers
some requests with a 500; then the replay editor; then a batch replay in progress
against a slow app::

    .venv/bin/python tests/screenshots/make_relay_screenshots.py [--out docs/screenshots]

Writes ``relay-response-*.png`` (the Response tab with the app's 500),
``replay-editor-*.png`` and ``replay-batch-*.png`` for each theme, each theme in its
own process.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script, only tests/screenshots is on the path
    sys.path.insert(0, str(ROOT))

from tests.screenshots import make_screenshots as shots  # noqa: E402


def shoot(theme: str, out: Path) -> Path:
    tmp = shots.prepare(theme, "wi-relay-shots-")

    from aiohttp import web
    from PySide6.QtWidgets import QApplication

    from inspector.core.send.relay import Relay
    from inspector.core.session.store import SessionStore
    from inspector.gui.detail.pane import TAB_RESPONSE
    from inspector.gui.main_window import MainWindow
    from inspector.gui.theme import apply_theme
    from tests.send.app import TargetApp

    slow = {"on": False}

    async def answer(request: web.Request, body: bytes) -> web.StreamResponse:
        if slow["on"]:
            await asyncio.sleep(0.25)
            return web.json_response({"ok": True})
        if b"whatsapp:message:status" in body:
            return web.json_response(
                {"error": "database is locked", "detail": "could not save the status update",
                 "request_id": "7f3c2a"},
                status=500,
            )  # fmt: skip
        return web.json_response({"received": True})

    target = TargetApp(answer=answer).start()
    app = QApplication(sys.argv[:1])
    apply_theme(app)
    store = SessionStore(tmp / "relay.whsession")
    relay = Relay(store, max_attempts=1)
    engine = shots.start_engine(store, relay=relay)
    window = MainWindow(
        store, engine.url, host=engine.host, port=engine.port, relay=relay,
        run_on_engine=engine.call,
    )  # fmt: skip
    window.resize(1500, 1040)
    window.show()
    window.splitter.setSizes([520, 480])
    try:
        window.send.forward.set_target(f"{target.url}/hooks")
        sent = shots.payloads()
        for path, body in sent:
            shots._post(engine.url.rstrip("/") + path, body)  # noqa: SLF001
        shots.pump(lambda: window.model.rowCount() >= len(sent), 10, "every request to show")
        shots.pump(lambda: len(target.received) >= len(sent), 20, "every forward")
        window.model.app_outcomes_changed()
        failing = next(
            i for i in range(1, len(sent) + 1)
            if b"whatsapp:message:status" in (store.get(i).body or b"")  # type: ignore[union-attr]
        )  # fmt: skip
        shots.pump(lambda: window.select_request(failing), 5, "the failing row")
        window.detail.tabs.setCurrentIndex(TAB_RESPONSE)
        shots.pump(lambda: window.detail.response_tab.latest is not None, 10, "its answer")
        shots.save_grab(window, out / f"relay-response-{theme}.png")

        editor = window.send.editor_for_current()
        assert editor is not None
        editor.sign_key.setText("whsec_example")
        editor.resign.setChecked(True)
        editor.body.setPlainText(editor.body.toPlainText().replace('"read"', '"delivered"'))
        editor.keep_pretty.setChecked(True)
        editor.show()
        shots.pump(lambda: editor.body.toPlainText().startswith("{\n"), 5, "pretty JSON")
        shots.save_grab(editor, out / f"replay-editor-{theme}.png")  # type: ignore[arg-type]
        editor.close()

        slow["on"] = True
        window.table.selectAll()
        from inspector.core.send.replay import item_from_stored

        items = [item_from_stored(store.get(i), target.url) for i in range(1, len(sent) + 1)]  # type: ignore[arg-type]
        window.send.start(items * 3, concurrency=2)
        shots.pump(
            lambda: window.send.batch is not None and window.send.batch.progress.done >= 14,
            30,
            "replays under way",
        )
        path = shots.save_grab(window, out / f"replay-batch-{theme}.png")
        window.send.cancel_replay()
        shots.pump(lambda: window.send.batch.progress.finished, 10, "the cancel")  # type: ignore[union-attr]
        return path
    finally:
        shots.close_all(window, engine, store)
        target.stop()


def main() -> int:
    return shots.run(shoot, __file__, __doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
