"""copy_session: consistent while rows are appended, whole or not at all, one clear line."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.core.session.copy import CopyCancelled, copy_session
from inspector.core.session.store import SessionError, SessionStore, open_existing
from tests.gui.conftest import append, catalogue_requests


def filled(path: Path, n: int) -> Path:
    store = SessionStore(path)
    append(store, catalogue_requests() * n)
    store.close()
    return path


def rows_and_integrity(path: Path) -> tuple[int, str]:
    conn = open_existing(path)
    try:
        count = int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])
        return count, str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_a_copy_made_while_rows_are_appended_is_a_consistent_session(tmp_path: Path) -> None:
    path = filled(tmp_path / "live.whsession", 100)  # 1,900 rows
    store = SessionStore(path)
    stop = threading.Event()
    appended = [0]

    def writer() -> None:
        while not stop.is_set():
            append(store, catalogue_requests()[:2])
            appended[0] += 2

    thread = threading.Thread(target=writer)
    thread.start()
    steps: list[tuple[int, int]] = []
    try:
        while appended[0] < 10:  # the writer is committing before the copy starts
            pass
        before = store.count()
        copy_session(path, tmp_path / "copy.whsession", pages=4,
                     progress=lambda done, total: steps.append((done, total)))
    finally:
        stop.set()
        thread.join()
    after = store.count()
    store.close()
    count, integrity = rows_and_integrity(tmp_path / "copy.whsession")
    assert integrity == "ok"
    assert before <= count <= after and after > before  # rows went on arriving
    # One pinned snapshot: the backup never restarted (done only grows), to the last page.
    assert len(steps) > 10
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)
    assert steps[-1][0] == steps[-1][1]
    copy = SessionStore(tmp_path / "copy.whsession")  # and it opens as a session to record into
    assert copy.count() == count
    copy.close()


def test_cancel_leaves_nothing_and_an_existing_target_untouched(tmp_path: Path) -> None:
    path = filled(tmp_path / "a.whsession", 50)
    target = tmp_path / "b.whsession"
    target.write_bytes(b"what was there")
    steps = [0]

    def progress(_done: int, _total: int) -> None:
        steps[0] += 1

    with pytest.raises(CopyCancelled):
        copy_session(path, target, pages=2, progress=progress, cancelled=lambda: steps[0] >= 3)
    assert target.read_bytes() == b"what was there"
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("a.whsession"))
    assert left == ["b.whsession"]
    copy_session(path, target)  # replaced whole
    assert rows_and_integrity(target) == (19 * 50, "ok")


def test_refusals_are_one_line(tmp_path: Path) -> None:
    path = filled(tmp_path / "a.whsession", 1)
    cases = {
        path: "a copy cannot be written over the session itself",
        tmp_path: "it is a folder",
        tmp_path / "missing" / "c.whsession": "folder",
    }
    for target, words in cases.items():
        with pytest.raises(SessionError) as err:
            copy_session(path, target)
        assert words in str(err.value) and "\n" not in str(err.value)
    # A stale write-ahead log beside the target would be replayed onto the copy.
    (tmp_path / "old.whsession").write_bytes(b"")
    (tmp_path / "old.whsession-wal").write_bytes(b"x" * 64)
    with pytest.raises(SessionError, match="not closed cleanly"):
        copy_session(path, tmp_path / "old.whsession")
    not_ours = tmp_path / "plain.db"
    sqlite3.connect(not_ours).execute("CREATE TABLE t(x)").connection.close()
    with pytest.raises(SessionError, match="not a Webhook Inspector session"):
        copy_session(not_ours, tmp_path / "d.whsession")
    assert not list(tmp_path.glob(".*.part"))


def test_an_unwritable_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = filled(tmp_path / "a.whsession", 1)
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: the folder refuses as it would a user
        def refuse(*_a: object, **_k: object) -> tuple[int, str]:
            raise PermissionError(errno.EACCES, "Permission denied", str(folder))

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        folder.chmod(0o500)
    try:
        with pytest.raises(SessionError) as err:
            copy_session(path, folder / "c.whsession")
    finally:
        folder.chmod(0o700)
    assert str(err.value) == f"cannot write {folder / 'c.whsession'}: folder {folder} is not writable"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a real full disk (root on Linux; elsewhere the test cannot run)."""
    mount = shutil.which("mount")
    point = tmp_path / "tiny"
    point.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or mount is None:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    res = subprocess.run([mount, "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(point)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path, tiny_disk: Path) -> None:
    path = filled(tmp_path / "a.whsession", 40)
    assert path.stat().st_size > 3 * 256 * 1024  # three times the disk
    with pytest.raises(SessionError) as err:
        copy_session(path, tiny_disk / "copy.whsession")
    assert str(err.value) == f"cannot write {tiny_disk / 'copy.whsession'}: the disk is full"
    assert list(tiny_disk.iterdir()) == []
