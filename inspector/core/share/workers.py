"""Worker processes for a redacted export: redaction is most of its time, and one core.

Redacting a request (tokenizing its JSON, asking ``phonenumbers`` about every number,
masking) costs about three times writing it.  On a machine with more cores, each
worker reads a group of rows from the session itself, redacts them with the export's
key (so a value gets the same mask whichever worker meets it: masks are a keyed MAC of
the value, nothing else), writes each entry's text and sends the texts back; the
exporting process only joins them, in order, and writes the file.

Like the session writer, a worker is a plain ``python -m inspector.core.share.workers``
child (no multiprocessing start-method magic), talking pickled frames over a socket
pair. Nothing a request carries ever reaches its stderr: a failure comes back as a
frame naming the error, which the export reports as one line.
"""

from __future__ import annotations

import collections
import os
import pickle
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.core.frames import FrameSocket

#: The hidden first argument a frozen build's entry point hands to :func:`run_worker`.
FROZEN_WORKER_ARG = "__export-worker__"
#: Groups handed to each worker ahead of the one being joined: enough to keep every
#: core busy, few enough that memory stays bounded (a group is at most ~1 MiB of rows).
AHEAD = 2


class WorkerError(Exception):
    """A worker failed; the message is one line for the user."""


@dataclass(slots=True)
class GroupResult:
    """One group's entries, with what redacting them counted."""

    texts: list[str]
    first_us: int | None
    kinds: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    dropped: int = 0


def worker_command() -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_WORKER_ARG]
    return [sys.executable, "-m", "inspector.core.share.workers"]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ExportWorkers:
    """``count`` worker processes for one export; a context manager that stops them."""

    def __init__(
        self, session: Path, fmt: str, options: Any, key: bytes, count: int
    ) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._chans: list[FrameSocket] = []
        config = pickle.dumps((fmt, options, key), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            for _ in range(count):
                parent, child = socket.socketpair()
                try:
                    proc = subprocess.Popen(
                        [*worker_command(), str(session), str(child.fileno())],
                        pass_fds=(child.fileno(),),
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                finally:
                    child.close()
                self._procs.append(proc)
                chan = FrameSocket(parent)
                self._chans.append(chan)
                chan.send(config)
        except OSError:
            self.close()
            raise

    def __enter__(self) -> ExportWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, groups: Iterable[list[int]]) -> Iterator[GroupResult]:
        """Each group's result, in the groups' order (round-robin over the workers, each
        kept :data:`AHEAD` groups ahead)."""
        pending: collections.deque[int] = collections.deque()  # worker index per group
        groups = iter(groups)
        n = len(self._chans)
        turn = 0
        exhausted = False
        while True:
            while not exhausted and len(pending) < n * AHEAD:
                group = next(groups, None)
                if group is None:
                    exhausted = True
                    break
                self._send(turn, group)
                pending.append(turn)
                turn = (turn + 1) % n
            if not pending:
                return
            yield self._receive(pending.popleft())

    def _send(self, i: int, group: list[int]) -> None:
        try:
            self._chans[i].send(pickle.dumps(group, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError as exc:
            raise WorkerError(self._stopped(i, exc)) from None

    def _receive(self, i: int) -> GroupResult:
        try:
            kind, value = pickle.loads(self._chans[i].recv())
        except (EOFError, OSError) as exc:
            raise WorkerError(self._stopped(i, exc)) from None
        if kind == "error":
            raise WorkerError(f"an export worker failed: {value}")
        return GroupResult(*value)

    def _stopped(self, i: int, exc: BaseException) -> str:
        proc = self._procs[i]
        try:
            code = proc.wait(2)
        except subprocess.TimeoutExpired:
            code = None
        how = f"exit status {code}" if code is not None else type(exc).__name__
        return f"an export worker stopped unexpectedly ({how}); nothing was written"

    def close(self) -> None:
        for chan in self._chans:
            chan.close()  # a worker waiting for work reads the end and exits
        for proc in self._procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._chans.clear()
        self._procs.clear()


# -- child side ---------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    """The error in one line that carries no request text: the message of a database or
    file error, only the type of anything else (its message may quote a payload)."""
    if isinstance(exc, sqlite3.Error | OSError):
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return type(exc).__name__


def _worker_main(session: str, fd: int) -> int:
    from inspector.core.session.store import get_requests, open_existing
    from inspector.core.share.export import FORMATS, rows_of
    from inspector.core.share.redact import RedactionSummary, Redactor

    chan = FrameSocket(socket.socket(fileno=fd))
    try:
        fmt_name, options, key = pickle.loads(chan.recv())
    except EOFError:
        return 0
    parts = FORMATS[fmt_name].parts
    assert parts is not None
    conn = open_existing(session)
    redactor = Redactor(options.redaction, key=key)
    while True:
        try:
            group = pickle.loads(chan.recv())
        except EOFError:
            return 0
        try:
            redactor.summary = RedactionSummary()
            reqs = get_requests(conn, group)
            texts = ["".join(parts.entry(row, options)) for row in rows_of(conn, reqs, redactor)]
            s = redactor.summary
            # Plain values: this module is ``__main__`` here, its classes unknown by
            # that name to the exporting process.
            first_us = reqs[0].summary.received_us if reqs else None
            reply: tuple[str, Any] = (
                "ok", (texts, first_us, dict(s.by_kind), s.rows, s.dropped)
            )
        except Exception as exc:  # noqa: BLE001 - reported to the exporting process
            reply = ("error", _describe(exc))
        try:
            chan.send(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            return 0


def run_worker(argv: list[str]) -> int:
    """A worker's main from its arguments: SESSION FD."""
    return _worker_main(argv[0], int(argv[1]))


if __name__ == "__main__":
    sys.exit(run_worker(sys.argv[1:]))
