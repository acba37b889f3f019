"""The session writer: decoding and SQLite commits in a process of their own.

Why a process: decoding (pydantic, JSON repair) and the SQLite inserts are CPU
work.  In the listener's process they share one GIL with the HTTP handling, and
capture ran at a quarter of a bare aiohttp server's rate.  In a child process they
run on the other core, and a payload that makes the decoder misbehave can never
take the listener or the window down with it.

The child is a plain ``python -m inspector.core.capture.writer`` (no multiprocessing
start-method magic, which would re-run the parent's main script).  It talks over
a socket pair in length-prefixed frames: the parent sends pickled batches of
requests as plain tuples; the child answers each commit with the committed rows'
summaries, in order, and only then indexes their text.  The parent keeps the
waiting futures in send order, so an answer for N rows resolves the next N.
On the parent side everything runs on the engine's event loop: no extra threads
competing for the GIL with the HTTP handling.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import pickle
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspector.core.capture.answers import (
    Answer,
    AnswerConfig,
    AnswerPolicy,
    Committed,
    build_policies,
    decide,
)
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import (
    RowSummary,
    SessionStore,
    _connect,
    catch_up_index,
    commit_batch,
    index_rows,
)

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
_STOP = b""
_READY = b"ready"
#: Tells a writer started with ``--lines`` that it may print (after the caller's own first lines).
_LINES_GO = b"lines"
_START_TIMEOUT = 30.0
#: Unexpected writer exits tolerated within a minute before recording stops for good.
_MAX_RESTARTS = 5
#: Indexing (lookup tables and full text, see ``store.index_rows``) waits for a quiet
#: moment: the parent has sent nothing for this long (seconds)...
_INDEX_QUIET = 0.05
#: ...but under steady traffic it runs anyway once this many rows wait,
_INDEX_BACKLOG_ROWS = 32768
#: or their body text reaches this many characters,
_INDEX_BACKLOG_TEXT = 32 << 20
#: or the oldest has waited this long (seconds): rows not indexed yet are found by a
#: scan, which stays cheap for this many.
_INDEX_MAX_DELAY = 1.0
#: Requests decoded and committed per transaction (and per answer to the parent).
_CHUNK = 32
_CHECKPOINT_EVERY = 1.0
#: capture's lines wait for an idle moment, but no longer than this (seconds) or this many.
_LINES_MAX_DELAY = 0.1
_LINES_BACKLOG = 4096


class WriterError(Exception):
    """The writer process failed; requests waiting on it are not acknowledged."""


def _to_wire(r: CapturedRequest) -> tuple[Any, ...]:
    return (
        r.seq, r.received_us, r.method, r.path, r.query, r.http_version, r.remote, r.headers,
        r.body, r.declared_size, r.response_status, r.response_headers, r.response_body,
        r.capture_warnings, r.via_tunnel, r.client_addr, r.forward, r.replay_of,
    )  # fmt: skip


# -- child side ---------------------------------------------------------------------------


class _FrameSocket:
    """Length-prefixed frames over the blocking socket pair."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    def recv(self) -> bytes:
        while True:
            if len(self._buf) >= 4:
                (n,) = _HEADER.unpack_from(self._buf)
                if len(self._buf) >= 4 + n:
                    data = bytes(self._buf[4 : 4 + n])
                    del self._buf[: 4 + n]
                    return data
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self._buf += chunk

    def waiting(self, timeout: float) -> bool:
        """Whether the parent sends anything (or closes) within ``timeout`` seconds."""
        return bool(self._buf) or bool(select.select([self._sock], [], [], timeout)[0])

    def send(self, data: bytes) -> None:
        self._sock.sendall(_HEADER.pack(len(data)) + data)


def _index(db: sqlite3.Connection, upto: int, texts: list[tuple[int, str]]) -> bool:
    try:
        index_rows(db, upto, texts)
    except Exception as exc:  # noqa: BLE001 - rows are safe; indexing catches up on reopen
        print(f"webhook-inspector: indexing stopped: {exc}", file=sys.stderr)
        return False
    return True


class _Checkpointer:
    """Copies the WAL into the database every second on its own connection and thread.

    A checkpoint fsyncs; done by the writer itself it would stall acknowledgements.
    PASSIVE never waits for the writer or readers, so it is safe to run alongside.
    """

    def __init__(self, path: str) -> None:
        self._conn = _connect(Path(path), readonly=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(_CHECKPOINT_EVERY):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                print(f"webhook-inspector: checkpoint failed: {exc}", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


def _writer_main(path: str, fd: int, *, lines: bool = False, summaries: bool = True) -> int:
    """Child process: open the session, then decode and commit until told to stop.

    ``lines``: print one line per committed request on stdout (``capture``), once the
    parent says go.  ``summaries``: answer with the committed rows' summaries (the
    window listens for them) rather than just their ids.
    """
    # The parent decides when to stop (Ctrl-C reaches the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from inspector.core.provider.decoder import EventDecoder

    chan = _FrameSocket(socket.socket(fileno=fd))
    try:
        db = _connect(Path(path), readonly=False)
        db.execute("PRAGMA synchronous = NORMAL")
        # Checkpoints (and their fsyncs) run on the checkpointer thread instead.
        db.execute("PRAGMA wal_autocheckpoint = 0")
        # Rows a previous writer committed but had not indexed yet (it was killed).
        catch_up_index(db)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        chan.send(pickle.dumps(("fatal", f"cannot open {path}: {exc}")))
        return 1
    chan.send(_READY)
    checkpointer = _Checkpointer(path)
    committer = _Committer(db, chan, _LinePrinter() if lines else None, summaries)
    decoder = EventDecoder()
    printer = committer.printer
    policies: list[AnswerPolicy] = []
    while True:
        if printer is not None and printer.pending and not chan.waiting(0):
            printer.flush()
        if committer.waiting and not chan.waiting(_INDEX_QUIET):
            # Indexing costs far less per row in big transactions, so it waits for a
            # quiet moment (or a backlog, see _Committer), never sitting between a
            # request and its acknowledgement under steady traffic.
            committer.index()
        try:
            msg = chan.recv()
        except (EOFError, OSError):
            break  # parent gone (even kill -9): everything acknowledged is committed
        if msg == _STOP:
            break
        if msg == _LINES_GO:
            committer.lines_go()
            continue
        wire: list[tuple[Any, ...]] | tuple[str, AnswerConfig] = pickle.loads(msg)
        if isinstance(wire, tuple):  # ("answers", config): the parent checked it already
            policies = build_policies(wire[1])
            continue
        # Small commits, each answered at once: the parent sends the first answers
        # back to their clients while later ones are still being decoded, instead
        # of every connection waiting for one big batch (a convoy).
        for start in range(0, len(wire), _CHUNK):
            chunk = [CapturedRequest(*t) for t in wire[start : start + _CHUNK]]
            decoded = [
                (r, decoder.decode(r.method, r.path, r.query, r.headers, r.body)) for r in chunk
            ]
            answers: list[tuple[int, tuple[Any, ...]]] = []
            if policies:
                for i, (r, d) in enumerate(decoded):
                    answer = decide(policies, r, d)
                    if answer is not None:
                        answers.append((i, answer.to_wire()))
            committer.commit(decoded, answers)
    if printer is not None:
        printer.flush()
    committer.index()
    checkpointer.stop()
    db.close()
    return 0


class _LinePrinter:
    """capture's per-request lines, written from this process so that formatting them
    takes nothing from the listener; held back until the parent has printed its own.

    Lines are written when the writer has nothing else to do, or at the latest
    ``_LINES_MAX_DELAY`` after their requests were committed: under load, formatting
    them never sits between one acknowledgement and the next commit.
    """

    def __init__(self) -> None:
        self._pending: list[RowSummary] = []
        self._since = 0.0
        self._go = False
        self._broken = False

    def go(self) -> None:
        self._go = True
        self.flush()

    @property
    def pending(self) -> bool:
        return self._go and bool(self._pending)

    def add(self, rows: list[RowSummary]) -> None:
        if self._broken:
            return
        if not self._pending:
            self._since = time.monotonic()
        self._pending.extend(rows)
        if self._go and (
            len(self._pending) >= _LINES_BACKLOG
            or time.monotonic() - self._since >= _LINES_MAX_DELAY
        ):
            self.flush()

    def flush(self) -> None:
        if not self._go or not self._pending:
            return
        from inspector.core.capture.lines import format_line

        rows, self._pending = self._pending, []
        try:
            sys.stdout.write("".join([format_line(r) + "\n" for r in rows]))
            sys.stdout.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._broken = True  # e.g. piped into head: keep recording, stop printing


class _Committer:
    """Commits decoded chunks, answers the parent, prints lines, feeds the text index."""

    def __init__(
        self,
        db: sqlite3.Connection,
        chan: _FrameSocket,
        printer: _LinePrinter | None,
        summaries: bool,
    ) -> None:
        self._db = db
        self._chan = chan
        self.printer = printer
        self._summaries = summaries
        #: Rows committed but not indexed yet: how many, their body texts, since when.
        self.waiting = 0
        self._texts: list[tuple[int, str]] = []
        self._text_size = 0
        self._waiting_since = 0.0
        self._last_id = 0
        #: After a failed index run, rows are left to the scan until the session is
        #: reopened: indexing later rows would leave the failed ones unfindable.
        self._indexing = True

    def lines_go(self) -> None:
        if self.printer is not None:
            self.printer.go()

    def commit(self, decoded: list[Any], answers: list[tuple[int, tuple[Any, ...]]]) -> None:
        """Commit one chunk and answer the parent; ``answers`` are the policies' choices,
        by position in the chunk."""
        rows: list[RowSummary] = []
        try:
            rows, texts = commit_batch(self._db, decoded)
        except Exception as exc:  # noqa: BLE001 - the parent answers 503 for these
            reply = pickle.dumps(("error", len(decoded), str(exc)))
        else:
            if self._indexing and rows:
                if not self.waiting:
                    self._waiting_since = time.monotonic()
                self.waiting += len(rows)
                self._last_id = rows[-1].id
                self._texts.extend(texts)
                self._text_size += sum(len(t) for _, t in texts)
            if self._summaries:
                reply = pickle.dumps(
                    ("ok", [tuple(r) for r in rows], answers), pickle.HIGHEST_PROTOCOL
                )
            else:
                reply = pickle.dumps(("ids", rows[0].id, len(rows), answers))
        try:
            self._chan.send(reply)
        except OSError:
            pass  # the parent is gone: nobody waits for the answer, but the rows are kept
        if self.printer is not None and rows:
            self.printer.add(rows)
        if self.waiting and (
            self.waiting >= _INDEX_BACKLOG_ROWS
            or self._text_size >= _INDEX_BACKLOG_TEXT
            or time.monotonic() - self._waiting_since >= _INDEX_MAX_DELAY
        ):
            self.index()

    def index(self) -> None:
        if self.waiting:
            self._indexing = _index(self._db, self._last_id, self._texts)
            self.waiting = 0
            self._texts = []
            self._text_size = 0


# -- parent side --------------------------------------------------------------------------


class ProcessCommitter:
    """Hands requests to the writer process and resolves each future once its row is committed.

    Every method runs on the engine's event loop.
    """

    def __init__(
        self,
        store: SessionStore,
        *,
        lines: bool = False,
        summaries: bool = True,
        answers: AnswerConfig | None = None,
    ) -> None:
        """``answers``: how the writer chooses answers (see :mod:`.answers`); checked here,
        so a bad configuration fails at start, not in the writer."""
        build_policies(answers)
        self._answers = dict(answers or {})
        self._store = store
        self._lines = lines
        self._summaries = summaries
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: list[tuple[CapturedRequest, asyncio.Future[Committed]]] = []
        self._inflight: collections.deque[asyncio.Future[Committed]] = collections.deque()
        self._flush_scheduled = False
        self._dead: str | None = None
        self._stopping = False
        self._restarting = False
        self._lines_started = False
        self._restarts: list[float] = []

    async def start(self) -> None:
        """Start the writer process; returns once it has the session open."""
        await self._spawn()

    async def _spawn(self) -> None:
        parent, child = socket.socketpair()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "inspector.core.capture.writer", str(self._store.path),
                str(child.fileno()),
                *(["--lines"] if self._lines else []),
                *([] if self._summaries else ["--no-summaries"]),
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=None if self._lines else subprocess.DEVNULL,
            )  # fmt: skip
        except OSError as exc:
            parent.close()
            raise WriterError(f"cannot start the session writer: {exc}") from exc
        finally:
            child.close()
        self._reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        try:
            first = await asyncio.wait_for(self._read_frame(), _START_TIMEOUT)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
            await self._reap()
            raise WriterError("the session writer exited at start") from exc
        if first != _READY:
            await self._reap()
            raise WriterError(str(pickle.loads(first)[1]))
        if self._answers:
            self._send(pickle.dumps(("answers", self._answers)))
        self._task = asyncio.get_running_loop().create_task(self._recv_loop())

    def set_answers(self, answers: AnswerConfig | None) -> None:
        """Change how answers are chosen, from the next request on (raises ValueError for a
        configuration the policies refuse, leaving the current one in force)."""
        build_policies(answers)
        self._answers = dict(answers or {})
        if self._dead is None and not self._restarting and self._writer is not None:
            self._send(pickle.dumps(("answers", self._answers)))

    def submit(self, request: CapturedRequest) -> asyncio.Future[Committed]:
        fut: asyncio.Future[Committed] = asyncio.get_running_loop().create_future()
        if self._dead is not None:
            fut.set_exception(WriterError(self._dead))
            return fut
        self._pending.append((request, fut))
        if not self._flush_scheduled:
            # Everything submitted during this turn of the loop goes in one message.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return fut

    @property
    def problem(self) -> str | None:
        """Why recording has stopped for good, or None while requests are being recorded."""
        return None if self._stopping else self._dead

    def start_lines(self) -> None:
        """Let the writer print its per-request lines (held until now)."""
        self._lines_started = True
        if self._dead is None and not self._restarting and self._writer is not None:
            self._send(_LINES_GO)

    async def stop(self) -> None:
        """Commit everything already handed over, then end the writer process."""
        self._stopping = True
        for _ in range(200):  # a restart under way finishes first (it takes well under 10 s)
            if not self._restarting:
                break
            await asyncio.sleep(0.05)
        if self._writer is None:
            return
        if self._pending:
            self._flush()
        if self._dead is None:
            self._send(_STOP)
            try:
                await self._writer.drain()
            except ConnectionError:
                pass
        if self._task is not None:
            await self._task
        await self._reap()

    # -- internals --------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._restarting:
            return  # kept in _pending and sent once the new writer is up
        batch, self._pending = self._pending, []
        if not batch:
            return
        if self._dead is not None:
            _fail_all([f for _, f in batch], WriterError(self._dead))
            return
        data = pickle.dumps([_to_wire(r) for r, _ in batch], pickle.HIGHEST_PROTOCOL)
        self._inflight.extend(f for _, f in batch)
        self._send(data)

    def _send(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(_HEADER.pack(len(data)))
        self._writer.write(data)

    async def _read_frame(self) -> bytes:
        assert self._reader is not None
        (n,) = _HEADER.unpack(await self._reader.readexactly(4))
        return await self._reader.readexactly(n) if n else b""

    async def _recv_loop(self) -> None:
        try:
            while True:
                kind, *rest = pickle.loads(await self._read_frame())
                if kind == "ok":
                    summaries = [RowSummary._make(t) for t in rest[0]]
                    self._resolve([s.id for s in summaries], rest[1])
                    self._store.notify(summaries)
                elif kind == "ids":
                    first, count, answers = rest
                    self._resolve(range(first, first + count), answers)
                else:
                    count, text = rest
                    log.error("could not commit %d request(s): %s", count, text)
                    _fail_all([self._inflight.popleft() for _ in range(count)], WriterError(text))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if self._stopping or self._dead is not None:
            if self._inflight or self._pending:
                self._die("the session writer stopped before answering; requests not recorded")
            self._dead = self._dead or "the session writer has stopped"
            return
        await self._restart()

    def _resolve(self, ids: Sequence[int], answers: list[tuple[int, tuple[Any, ...]]]) -> None:
        chosen = {i: Answer.from_wire(t) for i, t in answers}
        for i, rid in enumerate(ids):
            fut = self._inflight.popleft()
            if not fut.done():
                fut.set_result(Committed(rid, chosen.get(i)))

    async def _restart(self) -> None:
        """The writer died (killed, out of memory...): answer what it held with an error,
        so the sender retries, and start a new one for everything after."""
        lost = list(self._inflight)
        self._inflight.clear()
        _fail_all(lost, WriterError("the session writer stopped unexpectedly; not recorded"))
        log.error("session writer stopped unexpectedly; starting a new one")
        self._restarting = True
        try:
            await self._reap()
            now = asyncio.get_running_loop().time()
            self._restarts = [t for t in self._restarts if now - t < 60] + [now]
            if len(self._restarts) > _MAX_RESTARTS:
                self._die(
                    f"the session writer stopped {len(self._restarts)} time(s) within a minute, "
                    "so recording has stopped"
                )
                return
            try:
                await self._spawn()
            except WriterError as exc:
                self._die(f"the session writer could not be restarted: {exc}")
                return
        finally:
            self._restarting = False
        if self._lines_started:
            self._send(_LINES_GO)
        self._flush()

    def _die(self, reason: str) -> None:
        self._dead = reason
        futs = list(self._inflight) + [f for _, f in self._pending]
        self._inflight.clear()
        self._pending.clear()
        _fail_all(futs, WriterError(reason))

    async def _reap(self) -> None:
        if self._writer is not None:
            self._writer.close()
        proc = self._proc
        if proc is None:
            return
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def _fail_all(futures: list[asyncio.Future[Committed]], exc: BaseException) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_exception(exc)


if __name__ == "__main__":
    sys.exit(
        _writer_main(
            sys.argv[1],
            int(sys.argv[2]),
            lines="--lines" in sys.argv[3:],
            summaries="--no-summaries" not in sys.argv[3:],
        )
    )
