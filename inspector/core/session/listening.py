"""Where the running listener is: a one-line file in the data folder.

``capture`` and the window write their listening URL here when they start, so that
``webhook-inspector send`` reaches them without being told a port; the file is removed
again when they stop (only if it still names them: the newest listener wins).
It lives in the session wing because both the capture and the send wings use it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from inspector.core.session.store import data_dir

#: Where ``send`` goes when no listener has said where it is: capture's default port.
DEFAULT_TARGET = "http://127.0.0.1:8765/"
_FILE = "listening-url"


def listening_file() -> Path:
    return data_dir() / _FILE


def _reachable(url: str) -> str:
    """A wildcard listening address is reached over loopback."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    loop = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host)
    if loop is None:
        return url
    netloc = f"{loop}:{parts.port}" if parts.port else loop
    return urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))


def record_listening(url: str) -> None:
    """Say where this listener is (best effort: a read-only data folder is not an error)."""
    path = listening_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".listening-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_reachable(url) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass


def forget_listening(url: str) -> None:
    """This listener stops: remove the file if it still names it."""
    path = listening_file()
    try:
        if path.read_text(encoding="utf-8").strip() == _reachable(url):
            path.unlink()
    except OSError:
        pass


def last_listening_url() -> str | None:
    """The URL of the listener that started last and is still running, if any said so."""
    try:
        text = listening_file().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return text


def default_target() -> str:
    return last_listening_url() or DEFAULT_TARGET
