"""The session file on disk: private modes (issue 9, item 16), one recorder at a time
(item 10), and nothing left behind by a start that failed (item 17)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspector.core.session.store import SessionError, SessionStore
from tests.core.httpraw import send
from tests.core.test_cli import Capture, cli, one_line_error
from tests.factories import append_decoded, captured_request


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sessions_and_their_folders_are_private(tmp_path: Path) -> None:
    os.umask(0o022)
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    path = existing / "new" / "deeper" / "s.whsession"
    store = SessionStore(path)
    try:
        append_decoded(store, [captured_request("/sms", b"{}", seq=1)])
        wal, shm = (path.with_name(path.name + side) for side in ("-wal", "-shm"))
        assert wal.exists() and shm.exists()
        assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
        assert mode(path.parent) == mode(path.parent.parent) == 0o700
        assert mode(existing) == 0o755  # a folder that was there is left as it was
    finally:
        store.close()


def test_capture_default_session_is_private() -> None:
    cap = subprocess.Popen(
        [sys.executable, "-m", "inspector", "capture", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert cap.stdout is not None
    cap.stdout.readline()
    cap.send_signal(signal.SIGINT)
    cap.communicate(timeout=30)
    sessions = Path(os.environ["WEBHOOK_INSPECTOR_DATA_DIR"]) / "sessions"
    [session] = sessions.glob("*.whsession")
    assert mode(session) == 0o600
    assert mode(sessions) == mode(sessions.parent) == 0o700


# -- one recorder -------------------------------------------------------------------------


def test_a_second_capture_on_a_session_is_refused_and_says_who_holds_it(
    tmp_path: Path,
) -> None:
    session = tmp_path / "one.whsession"
    first = Capture(session)
    try:
        assert send(first.url, "POST", "/sms", [], b"{}").status == 200
        res = cli("capture", "--port", "0", "--session", str(session))
        one_line_error(res, "is being recorded by", f"process {first.proc.pid}", "capture")
        # Readers are welcome meanwhile.
        exported = cli("export", str(session))
        assert exported.returncode == 0 and exported.stdout.count("\n") == 1, exported.stderr
    finally:
        first.stop()
    assert not (tmp_path / "one.whsession.lock").exists()
    again = Capture(session)  # free once the first has stopped
    try:
        assert send(again.url, "POST", "/sms", [], b"{}").json()["seq"] == 2
    finally:
        again.stop()


def test_a_killed_recorder_leaves_no_lock(tmp_path: Path) -> None:
    session = tmp_path / "k.whsession"
    first = Capture(session)
    first.proc.kill()
    first.proc.communicate(timeout=30)
    time.sleep(0.5)  # its writer notices the parent has gone
    store = SessionStore(session)
    store.close()


def test_a_second_store_in_one_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.whsession"
    store = SessionStore(path)
    try:
        with pytest.raises(SessionError, match=f"process {os.getpid()}"):
            SessionStore(path)
    finally:
        store.close()
    SessionStore(path).close()


# -- failed starts ------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> object:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


def test_a_failed_capture_leaves_no_file_behind(tmp_path: Path, busy_port: int) -> None:
    session = tmp_path / "new" / "s.whsession"
    res = cli("capture", "--port", str(busy_port), "--session", str(session))
    one_line_error(res, "already in use")
    assert not (tmp_path / "new").exists(), list((tmp_path / "new").iterdir())


def test_a_failed_capture_with_no_session_leaves_nothing(busy_port: int) -> None:
    res = cli("capture", "--port", str(busy_port))
    one_line_error(res, "already in use")
    data = Path(os.environ["WEBHOOK_INSPECTOR_DATA_DIR"])
    assert not list(data.rglob("*.whsession*"))


@pytest.mark.parametrize("rows", [0, 1])
def test_a_failed_start_keeps_a_session_that_was_there(
    tmp_path: Path, busy_port: int, rows: int
) -> None:
    session = tmp_path / "old.whsession"
    store = SessionStore(session)
    append_decoded(store, [captured_request("/sms", b"{}", seq=n + 1) for n in range(rows)])
    store.close()
    res = cli("capture", "--port", str(busy_port), "--session", str(session))
    one_line_error(res, "already in use")
    assert session.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.whsession"]
