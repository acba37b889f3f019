"""``capture`` when the machine fails it: a writer that keeps dying, a full disk, a
read-only session.  Each is said once, plainly, on stderr; nothing hangs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.core.session.store import SessionStore
from tests.core.httpraw import send
from tests.core.test_cli import Capture, cli
from tests.factories import append_decoded, captured_request


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(t) for t in text)
    return found


def _writer_of(cap: Capture, old: int | None = None, timeout: float = 5) -> int | None:
    """The capture's writer process (not ``old``), once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [k for k in _children(cap.proc.pid) if k != old]
        if kids:
            return kids[0]
        time.sleep(0.02)
    return None


# -- 8. recording that stops for good ---------------------------------------------------


def test_capture_that_can_no_longer_record_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    cap = Capture(tmp_path / "s.whsession")
    try:
        assert send(cap.url, "POST", "/ok", [], b"{}").status == 200
        pid: int | None = None
        for _ in range(6):  # more than five unexpected exits within a minute
            deadline = time.monotonic() + 10
            while cap.proc.poll() is None and time.monotonic() < deadline:
                try:
                    if send(cap.url, "POST", "/up", [], b"{}").status == 200:
                        break  # a writer is up and recording
                except OSError:
                    break  # capture has ended
                time.sleep(0.05)
            pid = _writer_of(cap, pid)
            if pid is None or cap.proc.poll() is not None:
                break  # not restarted any more
            os.kill(pid, signal.SIGKILL)
        # It ends by itself, at once: nobody has to notice that nothing is recorded.
        code = cap.proc.wait(timeout=15)
    finally:
        if cap.proc.poll() is None:
            cap.proc.kill()
    out, err = cap.proc.communicate(timeout=10)
    assert code != 0
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "recording stopped" in errors[0] and "within a minute" in errors[0]


# -- 14. a disk that fills up -----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only): a real full disk, not a simulation."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_is_said_once_answered_503_and_recording_resumes(small_disk: Path) -> None:
    cap = Capture(small_disk / "s.whsession")
    try:
        body = b'{"blob": "' + b"x" * 100_000 + b'"}'
        filler = small_disk / "filler"
        with filler.open("wb") as fh:  # fill the disk, leaving the session a little room
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        refused = 0
        for i in range(40):
            status = send(cap.url, "POST", f"/full/{i}", [], body).status
            assert status in (200, 503)
            refused += status == 503
        assert refused > 0
        filler.unlink()  # space is back
        deadline = time.monotonic() + 10
        status = 0
        while time.monotonic() < deadline:
            status = send(cap.url, "POST", "/after", [], b"{}").status
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200
        time.sleep(2.6)  # a cause shows for 2 s after its last refusal; then "again"
    finally:
        out, err = cap.stop()
    assert cap.proc.returncode == 0
    assert "Traceback" not in err and "cannot rollback" not in err
    warned = [line for line in err.splitlines() if "disk full" in line]
    assert len(warned) == 1, err
    assert warned[0].startswith("warning: not recording: disk full")
    assert "recording again" in err
    assert len(err.splitlines()) <= 6, err


# -- 14. a read-only session ------------------------------------------------------------


@pytest.fixture
def read_only_session(tmp_path: Path) -> Iterator[Path]:
    """A valid session in a folder nothing can write to, not even root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "s.whsession"
    store = SessionStore(path)
    append_decoded(store, [captured_request("/sms", b'{"id": "a"}', seq=1)])
    store.close()
    assert (
        not (folder / "s.whsession-wal").exists() or not (folder / "s.whsession-wal").stat().st_size
    )
    for extra in folder.glob("s.whsession-*"):
        extra.unlink()
    locked: list[Path] = []
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("root ignores permissions and chattr is missing")
        for p in (path, folder):  # immutable: refused even to root
            if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode != 0:
                pytest.skip("this filesystem has no immutable attribute")
            locked.append(p)
    else:
        path.chmod(0o444)
        folder.chmod(0o555)
    try:
        with pytest.raises(OSError):
            (folder / "probe").touch()  # the folder really is read-only
        yield path
    finally:
        for p in reversed(locked):
            subprocess.run(["chattr", "-i", str(p)], check=False)
        folder.chmod(0o755)
        path.chmod(0o644)


def test_a_session_on_a_read_only_medium_exports(read_only_session: Path) -> None:
    res = cli("export", str(read_only_session), "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    assert "corrupt" not in res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 1 and '"path":"/sms"' in lines[0].replace(" ", "")
