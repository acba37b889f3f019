"""The window and the session file: refused when another process records into it (issue 9,
item 10), and nothing left behind when it cannot start (item 17)."""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

from inspector.core.session.store import SessionStore
from inspector.gui import app as gui_app
from tests.core.test_cli import Capture


def _args(**kw: object) -> argparse.Namespace:
    base = {"host": "127.0.0.1", "port": 0, "session": None, "max_body": 1 << 20, "reopen": False}
    base.update(kw)
    return argparse.Namespace(**base)


def test_window_on_a_session_a_capture_records_is_refused(qapp, tmp_path, capsys) -> None:
    session = tmp_path / "held.whsession"
    cap = Capture(session)
    try:
        assert gui_app.run_window(_args(session=session)) == 1
    finally:
        cap.stop()
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: session ") and "is being recorded by" in err
    assert f"process {cap.proc.pid} (webhook-inspector capture" in err


def test_capture_on_a_session_the_window_records_is_refused(qapp, tmp_path, capsys) -> None:
    """The window's store holds the lock like capture's (same process here: same rule)."""
    session = tmp_path / "window.whsession"
    store = SessionStore(session)
    try:
        assert gui_app.run_window(_args(session=session)) == 1
    finally:
        store.close()
    assert f"process {os.getpid()}" in capsys.readouterr().err


def test_window_that_cannot_listen_leaves_no_file(qapp, tmp_path: Path, capsys) -> None:
    session = tmp_path / "new" / "w.whsession"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert gui_app.run_window(_args(port=port, session=session)) == 1
    assert "already in use" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
