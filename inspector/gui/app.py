"""``webhook-inspector`` with no sub-command: open the window and start listening.

Everything a user can get wrong (no display, port in use, unreadable session) ends
as one clear line on stderr, or a dialog once the window exists; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from inspector.core.capture.engine import CaptureEngine, ListenError
from inspector.core.capture.listener import DEFAULT_MAX_BODY
from inspector.core.session.store import SessionError, SessionStore, default_session_path
from inspector.core.tunnel import tunnel_client_address

NO_DISPLAY = "error: no display available; use 'webhook-inspector capture' to record headless"
_HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


def display_available(env: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """False when Qt would have nothing to draw on (Linux/BSD without X11 or Wayland)."""
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if qpa in _HEADLESS_PLATFORMS:
        return True
    if platform.startswith(("win", "darwin")):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def last_session_path() -> Path | None:
    from inspector.gui.main_window import window_settings

    value = window_settings().value("session/last")
    return Path(str(value)) if value else None


def remember_session(path: Path) -> None:
    from inspector.gui.main_window import window_settings

    settings = window_settings()
    settings.setValue("session/last", str(path))
    settings.sync()


def choose_session(args: argparse.Namespace) -> Path:
    """``--session`` if given, the last one for ``--reopen``, else a new one."""
    if getattr(args, "session", None):
        return Path(args.session).expanduser()
    if getattr(args, "reopen", False):
        last = last_session_path()
        if last is None:
            raise SessionError("no previous session to reopen; start without --reopen")
        if not last.is_file():
            raise SessionError(f"the last session {last} no longer exists")
        return last
    return default_session_path()


def run_window(args: argparse.Namespace) -> int:
    if not display_available():
        print(NO_DISPLAY, file=sys.stderr, flush=True)
        return 1
    from PySide6.QtWidgets import QApplication, QMessageBox

    from inspector.gui.main_window import MainWindow
    from inspector.gui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Webhook Inspector")
    app.setOrganizationName("webhook-inspector")
    apply_theme(app)

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr, flush=True)
        if app.platformName() not in _HEADLESS_PLATFORMS:
            QMessageBox.critical(None, "Webhook Inspector", message)
        return 1

    try:
        session = choose_session(args)
        store = SessionStore(session)
    except SessionError as exc:
        return fail(str(exc))
    from inspector.core.send.relay import Relay

    max_body = getattr(args, "max_body", DEFAULT_MAX_BODY)
    # The window's Forward to field sets the target; an outbox left by a killed run
    # resumes as soon as it is set again (it is remembered).
    relay = Relay(store, max_body=max_body)
    engine = CaptureEngine(
        store,
        host=args.host,
        port=args.port,
        max_body=max_body,
        client_address=tunnel_client_address,
        relay=relay,
    )
    try:
        engine.start()
    except ListenError as exc:
        store.close()
        return fail(str(exc))
    remember_session(store.path)
    window = MainWindow(
        store,
        engine.url,
        host=engine.host,
        port=engine.port,
        recording_problem=lambda: engine.recording_problem,
        relay=relay,
        run_on_engine=engine.call,
    )
    window.show()
    try:
        return app.exec()
    finally:
        window.shutdown()
        engine.stop()
        store.close()
