"""A consistent copy of a session file, made while capture may still append to it.

SQLite's online backup copies a few pages a step, so a caller can show progress and stop
it. A step-wise backup restarts whenever another connection commits between two steps (a
capturing session commits every few milliseconds: measured, 1,691 restarts in 3 s for a
20 MB file); so the source connection holds one read transaction for the whole copy, which
pins a WAL snapshot: the copy is the session as it stood when the copy began, never
restarted, and the writer goes on meanwhile.

The copy is written whole or not at all: a temporary file beside the target, synced, then
renamed over it.  Every failure is a :class:`~inspector.core.session.store.SessionError`
with one line for the user.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from inspector.core.session.store import SessionError, open_existing

__all__ = ["CopyCancelled", "copy_session"]

#: Pages copied per backup step (4 MiB with the default 4 KiB page): a step between two
#: looks at ``cancelled``.
STEP_PAGES = 1024


class CopyCancelled(Exception):
    """The user cancelled the copy; nothing was written."""


class _Stop(Exception):
    """Raised inside the backup's progress callback to abort it."""


def _reason(exc: BaseException) -> str:
    """Why writing failed, in the user's words."""
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code == sqlite3.SQLITE_FULL:
            return "the disk is full"
        if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
            return "permission denied"
        return str(exc)
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "the disk is full"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "permission denied"
        return exc.strerror or str(exc)
    return str(exc)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_target(source: Path, target: Path) -> None:
    if target.is_dir():
        raise SessionError(f"cannot write {target}: it is a folder; give a file name")
    if not target.parent.is_dir():
        raise SessionError(f"cannot write {target}: folder {target.parent} does not exist")
    if target.exists() and _same_file(source, target):
        raise SessionError("a copy cannot be written over the session itself; choose another name")
    wal = target.with_name(target.name + "-wal")
    if wal.exists():
        # A stale write-ahead log would be replayed onto the new file and damage it.
        raise SessionError(
            f"cannot write {target}: a session by that name is open or was not closed "
            f"cleanly ({wal.name} is beside it); choose another name"
        )


def copy_session(
    source: Path,
    target: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    pages: int = STEP_PAGES,
) -> None:
    """Copy the session ``source`` to ``target``, consistent and whole.

    ``progress(done, total)`` gets pages copied after each step; ``cancelled`` is asked
    between steps (then :class:`CopyCancelled` is raised and nothing is left behind).
    Raises :class:`SessionError` for a source that is not a readable session and for a
    target that cannot be written (a full disk, an unwritable or missing folder).
    """
    source = Path(source).expanduser()
    target = Path(target).expanduser()
    _check_target(source, target)
    src = open_existing(source)
    try:
        try:
            # One read transaction for the whole copy: a fixed snapshot, no restarts.
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise SessionError(f"cannot read {source}: {exc}") from exc
        try:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                        dir=target.parent)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise SessionError(
                    f"cannot write {target}: folder {target.parent} is not writable"
                ) from exc
            raise SessionError(f"cannot write {target}: {_reason(exc)}") from exc
        os.close(fd)
        tmp = Path(name)
        try:
            _backup(src, tmp, progress, cancelled, pages)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except _Stop:
            _discard(tmp)
            raise CopyCancelled() from None
        except (OSError, sqlite3.Error) as exc:
            _discard(tmp)
            raise SessionError(f"cannot write {target}: {_reason(exc)}") from exc
        except BaseException:
            _discard(tmp)
            raise
    finally:
        src.close()


def _backup(
    src: sqlite3.Connection,
    tmp: Path,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
    pages: int,
) -> None:
    def step(_status: int, remaining: int, total: int) -> None:
        if cancelled is not None and cancelled():
            raise _Stop()
        if progress is not None:
            progress(total - remaining, total)

    dst = sqlite3.connect(tmp)
    try:
        if cancelled is not None and cancelled():
            raise _Stop()
        src.backup(dst, pages=max(1, pages), progress=step)
    finally:
        dst.close()


def _discard(tmp: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
