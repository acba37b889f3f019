"""``webhook-inspector`` with no sub-command: open the window and start listening.

Everything a user can get wrong (no display, port in use, unreadable session) ends
as one clear line on stderr, or a dialog once the window exists; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from inspector import APP_ID, __version__
from inspector.core.capture.engine import ListenError
from inspector.core.capture.inspection import check_config
from inspector.core.capture.limits import DEFAULT_MAX_BODY, DEFAULT_MAX_HEADER_BYTES
from inspector.core.capture.provider_settings import ProviderSettings, ProviderSettingsStore
from inspector.core.session.store import SessionError, default_session_path
from inspector.core.tunnel import is_tunnel_basic_auth, tunnel_client_address

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

#: Developer hook (packaging checks, start-up timing): once the window is up, save it to this
#: PNG and quit; lets a frozen build, which runs no test code, show what it draws.
SNAPSHOT_ENV = "WEBHOOK_INSPECTOR_SNAPSHOT"
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


def _snapshot_then_quit(window: QWidget, path: Path) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    def shoot() -> None:
        # Written beside, then renamed: a watcher never reads half a file.
        partial = path.with_name(path.name + ".part")
        if not window.grab().save(str(partial), "PNG"):
            print(f"error: cannot write the snapshot {path}", file=sys.stderr, flush=True)
            QApplication.exit(1)
            return
        os.replace(partial, path)
        QApplication.quit()

    QTimer.singleShot(0, shoot)  # the first turn of the event loop: shown and laid out


def run_window(args: argparse.Namespace) -> int:
    if not display_available():
        print(NO_DISPLAY, file=sys.stderr, flush=True)
        return 1
    from inspector.gui import system_libraries as syslibs

    # Before Qt is imported: a missing xcb library or an X display that does not answer
    # makes Qt abort (exit 134) with no useful advice.
    missing = syslibs.missing_libraries()
    if missing:
        print(syslibs.missing_message(missing), file=sys.stderr, flush=True)
        return 1
    display = os.environ.get("DISPLAY")
    if syslibs.uses_xcb(os.environ) and not syslibs.x_display_reachable(display):
        print(syslibs.unreachable_display_message(display), file=sys.stderr, flush=True)
        return 1

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QMessageBox

    from inspector.gui.theme import apply_theme, icon

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    # The name is the X11 WM_CLASS (the desktop entry's StartupWMClass) and the desktop
    # file name the Wayland app id: how a task bar finds the entry's name and icon.
    app.setApplicationName("webhook-inspector")
    app.setApplicationDisplayName("Webhook Inspector")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("webhook-inspector")
    app.setDesktopFileName(APP_ID)
    apply_theme(app)
    app.setWindowIcon(icon("app"))

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr, flush=True)
        if app.platformName() not in _HEADLESS_PLATFORMS:
            box = QMessageBox(QMessageBox.Icon.Critical, "Webhook Inspector", message)
            box.setTextFormat(Qt.TextFormat.PlainText)  # the message may quote a path
            box.exec()
        return 1

    provider = ProviderSettingsStore().load()
    try:
        check_config(provider.inspection_config())
    except ValueError as exc:  # saved settings that no longer work: start without them
        print(f"warning: provider settings not used: {exc}", file=sys.stderr)
        provider = ProviderSettings(
            answer_verification=provider.answer_verification,
            validation_key=provider.validation_key,
        )
    from inspector.gui.session_actions import SessionHost, crashed_session

    host = SessionHost(
        host=args.host,
        port=args.port,
        max_body=getattr(args, "max_body", DEFAULT_MAX_BODY),
        client_address=tunnel_client_address,
        engine_options={
            "max_header_bytes": getattr(args, "max_header_size", DEFAULT_MAX_HEADER_BYTES),
            "answers": provider.answer_config(),
            "inspection": provider.inspection_config(),
            "tunnel_credential": is_tunnel_basic_auth,
        },
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
    window = host.current.window if host.current is not None else None
    snapshot = os.environ.get(SNAPSHOT_ENV)
    if snapshot and window is not None:
        _snapshot_then_quit(window, Path(snapshot))
    try:
        return app.exec()
    finally:
        host.shutdown()
