"""One recorder per session: an OS lock on ``<session>.lock`` beside the session file.

Two processes recording into one file would hand out the same ``seq`` numbers and lose
the arrival order. The lock is ``flock`` on a file of its own, not on the database: SQLite
takes POSIX locks on the database file, and closing any descriptor of a file drops all of
a process's POSIX locks on it. The lock file holds the holder's pid and command line, so
the one refused can say who holds it; the OS releases the lock when its holder dies,
whatever way it dies, so a stale file never blocks anyone. Readers (export) take no lock.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one recorder by trust
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock"


class SessionLockedError(Exception):
    """Another process records into this session; the message names it."""


def lock_path(session: Path) -> Path:
    return session.with_name(session.name + LOCK_SUFFIX)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return "another process"
    pid, _, command = text.partition("\n")
    command = " ".join(command.split())
    if not pid.strip().isdigit():
        return "another process"
    return f"process {pid.strip()} ({command})" if command else f"process {pid.strip()}"


class SessionLock:
    """Held for as long as a process records into a session; :meth:`release` ends it."""

    def __init__(self, session: Path) -> None:
        self.path = lock_path(session)
        self._fd: int | None = None
        if fcntl is None:
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise SessionLockedError(
                    f"session {session} is being recorded by {holder}; stop it first, or "
                    "record into another session (export reads it meanwhile)"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            # The holder before us may have removed the file between our open and our
            # lock: then we hold a lock on a name nobody else will find. Take it again.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        command = " ".join(["webhook-inspector", *sys.argv[1:]]) if sys.argv else ""
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{command}\n".encode("utf-8", "replace"), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file, then drop the lock (in that order: see ``__init__``)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)
