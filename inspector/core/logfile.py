"""The app's log file: rotating, in the user's state folder, secrets redacted.

Both faces (the window and ``capture``) call :func:`setup_logging` once at start, so a
user who reports a problem has one file to attach, whichever face they used.  The
tunnel's redactor is attached to the file handler itself, so an authtoken or basic-auth
password is rewritten whichever logger a record comes from (tracebacks included), and an
uncaught exception is logged before Python reports it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

import platformdirs

from inspector.core.tunnel.redact import redact, redacting_filter

APP_NAME = "webhook-inspector"
#: Moves the log folder (tests; a user who wants the log elsewhere).
LOG_DIR_ENV = "WEBHOOK_INSPECTOR_LOG_DIR"
#: When only the data folder is moved (as tests do), the log follows it there.
DATA_DIR_ENV = "WEBHOOK_INSPECTOR_DATA_DIR"
LOG_NAME = "webhook-inspector.log"
#: Size at which the file rotates, and how many old files are kept (4 MiB in all).
MAX_BYTES = 1024 * 1024
BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)-7s %(process)d %(name)s: %(message)s"


def log_dir() -> Path:
    """``WEBHOOK_INSPECTOR_LOG_DIR``, else ``<data dir>/log`` when the data dir is moved,
    else the platform's user log folder (``~/.local/state/webhook-inspector/log``)."""
    override = os.environ.get(LOG_DIR_ENV)
    if override:
        return Path(override)
    data = os.environ.get(DATA_DIR_ENV)
    if data:
        return Path(data) / "log"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def log_file() -> Path:
    return log_dir() / LOG_NAME


class _AppLogHandler(RotatingFileHandler):
    """Marks the handler as ours, so a second set-up in the same process is a no-op."""


class _RedactingFormatter(logging.Formatter):
    """The filter rewrites a record's message; this also covers its traceback text."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_log = logging.getLogger(__name__)


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if not issubclass(kind, KeyboardInterrupt):
        # Started from a menu there is no terminal: the log file is where a crash is seen.
        _log.critical("uncaught exception", exc_info=(kind, value, tb))


def _install_excepthooks() -> None:
    previous = sys.excepthook
    if getattr(previous, "_app_log", False):
        return

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        _log_uncaught(kind, value, tb)
        previous(kind, value, tb)

    hook._app_log = True  # type: ignore[attr-defined]
    sys.excepthook = hook
    previous_thread = threading.excepthook

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)
        previous_thread(args)

    threading.excepthook = thread_hook


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Send the app's log records (``level`` and up) to the rotating file; returns its
    path, or ``None`` when the folder cannot be written (that must not stop the app)."""
    root = logging.getLogger()
    path = log_file()
    for h in root.handlers:
        if isinstance(h, _AppLogHandler) and Path(h.baseFilename) == path.absolute():
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _AppLogHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
    except OSError:
        return None
    handler.setLevel(level)
    handler.setFormatter(_RedactingFormatter(_FORMAT))
    handler.addFilter(redacting_filter())
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    _install_excepthooks()
    return path


def close_logging() -> None:
    """Detach and close the file handler (end of a test, or of the process)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _AppLogHandler):
            root.removeHandler(h)
            h.close()
