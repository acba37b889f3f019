"""``webhook-inspector`` with no sub-command: open the window and start listening.

Everything a user can get wrong (no display, port in use, unreadable session) ends
as one clear line on stderr, or a dialog once the window exists; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from inspector.core.capture.engine import ListenError
from inspector.core.capture.listener import DEFAULT_MAX_BODY
from inspector.core.session.store import SessionError, default_session_path
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

    from inspector.gui.session_actions import SessionHost, crashed_session

    host = SessionHost(
        host=args.host,
        port=args.port,
        max_body=getattr(args, "max_body", DEFAULT_MAX_BODY),
        client_address=tunnel_client_address,
    )
    try:
        session = choose_session(args)
        crashed = crashed_session(host.settings)
        if (
            crashed is not None
            and not getattr(args, "session", None)
            and app.platformName() not in _HEADLESS_PLATFORMS
        ):
            answer = QMessageBox.question(
                None,
                "Webhook Inspector",
                f"Webhook Inspector did not close properly last time.\n\nReopen {crashed}?",
            )
            if answer == QMessageBox.StandardButton.Yes:
                session = crashed
        host.open(session)
    except (SessionError, ListenError) as exc:
        return fail(str(exc))
    try:
        return app.exec()
    finally:
        host.shutdown()
