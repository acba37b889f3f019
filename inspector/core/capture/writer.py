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
import os
import pickle
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from inspector.core.capture import rules as _rules  # noqa: F401 - registers the "rules" builder
from inspector.core.capture.answers import (
    Answer,
    AnswerConfig,
    AnswerPolicy,
    Committed,
    build_policies,
    decide,
)
from inspector.core.capture.inspection import InspectionConfig, RequestInspection
from inspector.core.frames import HEADER, FrameSocket
from inspector.core.provider.decoder import DecodedEvent, EventDecoder
from inspector.core.session.forwards import AnswerEntry, AppAnswer, record_entries
from inspector.core.session.record import CapturedRequest
from inspector.core.session.retries import RetryIndex
from inspector.core.session.store import (
    RowSummary,
    SessionStore,
    _connect,
    catch_up_index,
    commit_batch,
    index_rows,
    safe_form,
    storage_problem,
)

log = logging.getLogger(__name__)

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
#: Seconds one request's decoding may take before it is given up (the raw request is
#: stored with a warning): the requests behind it in the writer must not wait longer.
DECODE_TIME_LIMIT = 2.0
#: Bodies smaller than this are decoded without the clock (they cannot take long).
_CLOCK_FROM = 4096
#: A failed writer start is retried after this many seconds, doubling up to the last.
_RESTART_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
#: A refusal's cause stays visible (window banner, capture's stderr) this long (seconds).
_TROUBLE_HOLD = 2.0
#: capture's lines wait for an idle moment, but no longer than this (seconds) or this many.
_LINES_MAX_DELAY = 0.1
_LINES_BACKLOG = 4096
#: Characters of lines waiting for a slow stdout (about 2,500 lines, more than a screen
#: holds) before lines are dropped; and how long, at the end, the queue may take to drain.
_LINES_QUEUED = 256 << 10
_LINES_DRAIN = 2.0


class WriterError(Exception):
    """The writer process failed; requests waiting on it are not acknowledged."""


def _to_wire(r: CapturedRequest) -> tuple[Any, ...]:
    return (
        r.seq, r.received_us, r.method, r.path, r.query, r.http_version, r.remote, r.headers,
        r.body, r.declared_size, r.response_status, r.response_headers, r.response_body,
        r.capture_warnings, r.via_tunnel, r.client_addr, r.forward, r.replay_of,
        None if r.known is None else _decoded_to_wire(r.known),
    )  # fmt: skip


def _request_from_wire(t: tuple[Any, ...]) -> CapturedRequest:
    r = CapturedRequest(*t[:-1])
    if t[-1] is not None:
        r.known = DecodedEvent(*t[-1])
    return r


# Plain tuples on the wire: pickling a slots dataclass costs four times as much.


def _decoded_to_wire(d: DecodedEvent) -> tuple[Any, ...]:
    return (
        d.event, d.product, d.status, d.status_class, d.message_id, d.from_, d.to, d.summary,
        d.warnings, d.auth, d.verification,
    )  # fmt: skip


def _entry_to_wire(e: AnswerEntry) -> tuple[Any, ...]:
    a = e.answer
    return (
        e.request_id, e.kind, e.url, (a.status, a.headers, a.body, a.body_cut, a.duration_ms, a.error),
        e.attempt, e.at_us, e.given, e.leave_outbox, e.retry_later, e.provider_answer,
    )  # fmt: skip


def _entry_from_wire(t: tuple[Any, ...]) -> AnswerEntry:
    return AnswerEntry(t[0], t[1], t[2], AppAnswer(*t[3]), *t[4:])


# -- child side ---------------------------------------------------------------------------


def _index(db: sqlite3.Connection, upto: int, texts: list[tuple[int, str]]) -> str | None:
    """Index the waiting rows; None when done, else why not ("disk full"...: worth trying
    again later, nothing of the failed run is kept) or "" when it should not be retried."""
    try:
        index_rows(db, upto, texts)
    except Exception as exc:  # noqa: BLE001 - rows are safe; indexing catches up on reopen
        cause = storage_problem(exc)
        if cause is None:
            print(f"webhook-inspector: indexing stopped: {exc}", file=sys.stderr)
            return ""
        return cause
    return None


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
        failing = False
        while not self._stop.wait(_CHECKPOINT_EVERY):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                if not failing:  # once, not every second (a full disk lasts)
                    print(f"webhook-inspector: checkpoint failed: {exc}", file=sys.stderr)
                failing = True
            else:
                failing = False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


class _DecodeTimeout(BaseException):
    """Raised by the alarm in the decoding it interrupts (not an Exception: the decoder's
    own catch-all must not swallow it)."""


_alarm_armed = False


def _on_alarm(signum: int, frame: object) -> None:
    if _alarm_armed:
        raise _DecodeTimeout


def decode_bounded(decoder: EventDecoder, r: CapturedRequest) -> DecodedEvent:
    """Decode ``r``, giving up after :data:`DECODE_TIME_LIMIT` seconds.

    The alarm (``SIGALRM``, this process's main thread) interrupts whatever Python code
    the decoder is running; a single C call (parsing one huge JSON text) finishes first,
    and those are linear and bounded by the inflate and JSON limits.
    """
    global _alarm_armed
    if len(r.body) < _CLOCK_FROM:
        return decoder.decode(r.method, r.path, r.query, r.headers, r.body)
    result: DecodedEvent | None = None
    try:
        _alarm_armed = True
        signal.setitimer(signal.ITIMER_REAL, DECODE_TIME_LIMIT)
        result = decoder.decode(r.method, r.path, r.query, r.headers, r.body)
        _alarm_armed = False
    except _DecodeTimeout:
        _alarm_armed = False
    signal.setitimer(signal.ITIMER_REAL, 0)
    if result is None:
        result = DecodedEvent()
        result.warnings.append(
            f"decoding took over {DECODE_TIME_LIMIT:g} s and was given up, so that the "
            "requests behind it are not held up; raw request kept"
        )
    return result


def _writer_main(path: str, fd: int, *, lines: bool = False, summaries: bool = True) -> int:
    """Child process: open the session, then decode and commit until told to stop.

    ``lines``: print one line per committed request on stdout (``capture``), once the
    parent says go.  ``summaries``: answer with the committed rows' summaries (the
    window listens for them) rather than just their ids.
    """
    # The parent decides when to stop (Ctrl-C reaches the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)

    chan = FrameSocket(socket.socket(fileno=fd))
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
    inspection = RequestInspection()
    printer = committer.printer
    policies: list[AnswerPolicy] = []
    #: Hit counts of the policies that count (response rules), kept across configurations.
    counts: dict[str, int] = {}
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
        wire: list[tuple[Any, ...]] | tuple[Any, ...] = pickle.loads(msg)
        if isinstance(wire, tuple):  # (kind, config, ...): the parent checked it already
            if wire[0] == "record":  # the user's app's answers to store
                committer.record([_entry_from_wire(t) for t in wire[1]])
                continue
            if wire[0] == "inspection":
                inspection.configure(wire[1])
                continue
            # ("answers", config, counts or None). Counts come from the parent at start
            # (what it saw answered) and on a reset; None carries this writer's own over
            # to the new rules.
            for policy in policies:
                if hasattr(policy, "counts"):
                    counts = policy.counts()
            if wire[2] is not None:
                counts = dict(wire[2])
            policies = build_policies(wire[1])
            inspection.set_answers(wire[1])
            for policy in policies:
                if hasattr(policy, "set_counts"):
                    policy.set_counts(counts)
            continue
        # Small commits, each answered at once: the parent sends the first answers
        # back to their clients while later ones are still being decoded, instead
        # of every connection waiting for one big batch (a convoy).
        for start in range(0, len(wire), _CHUNK):
            chunk = [_request_from_wire(t) for t in wire[start : start + _CHUNK]]
            decoded = [
                (r, r.known if r.known is not None else inspection.decode(decoder, r, decode_bounded))
                for r in chunk
            ]
            answers: list[tuple[int, tuple[Any, ...]]] = []
            for i, (r, d) in enumerate(decoded):
                answer = decide(policies, r, d) if policies else None
                if answer is not None:
                    answers.append((i, answer.to_wire()))
                inspection.judge(r, d, answer)
            committer.commit(decoded, answers)
    if printer is not None:
        printer.close()
    committer.index()
    checkpointer.stop()
    db.close()
    return 0


class _LinePrinter:
    """capture's per-request lines, written from this process so that formatting them
    takes nothing from the listener; held back until the parent has printed its own.

    Lines are formatted when the writer has nothing else to do, or at the latest
    ``_LINES_MAX_DELAY`` after their requests were committed: under load, formatting
    them never sits between one acknowledgement and the next commit.

    Writing them to stdout is a thread's job, fed through a queue of at most
    ``_LINES_QUEUED`` characters: a reader that stops reading (``capture | less``
    paused, a stuck terminal) blocks that thread, never the commits. Lines past the
    bound are dropped, and a line in their place says how many.
    """

    def __init__(self) -> None:
        self._pending: list[RowSummary] = []
        self._since = 0.0
        self._go = False
        self._broken = False
        #: Text waiting for the thread, and ints: how many lines were dropped at that point.
        self._queue: collections.deque[str | int] = collections.deque()
        self._queued = 0
        self.dropped = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

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
        if not self._go or not self._pending or self._broken:
            return
        from inspector.core.capture.lines import format_line

        rows, self._pending = self._pending, []
        text = "".join([format_line(r) + "\n" for r in rows])
        with self._cond:
            if self._queued + len(text) > _LINES_QUEUED:
                self.dropped += len(rows)
                if self._queue and isinstance(self._queue[-1], int):
                    self._queue[-1] += len(rows)
                else:
                    self._queue.append(len(rows))
            else:
                self._queue.append(text)
                self._queued += len(text)
            self._cond.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._print, name="lines", daemon=True)
            self._thread.start()

    def close(self, timeout: float = _LINES_DRAIN) -> None:
        """Let the thread print what is queued, for ``timeout`` seconds at most (stdout
        may never drain), then say on stderr how many lines were dropped."""
        self.flush()
        thread = self._thread
        if thread is not None:
            with self._cond:
                self._closing = True
                self._cond.notify()
            thread.join(timeout)
        if self.dropped:
            print(
                f"webhook-inspector: {self.dropped:,} line(s) were not printed because stdout "
                "was not being read; every request is in the session",
                file=sys.stderr,
                flush=True,
            )

    def _print(self) -> None:
        """The thread: plain ``os.write`` on stdout's descriptor, blocking as long as it
        must. (Not ``sys.stdout``: its lock, held by a blocked daemon thread, would hang
        the interpreter's exit.)"""
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, ValueError, OSError):  # stdout closed (capture >&-)
            self._broken = True
            return
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                item = self._queue.popleft()
                if isinstance(item, str):
                    self._queued -= len(item)
            if isinstance(item, int):
                item = (
                    f"[{item:,} line(s) not printed: stdout was not being read; "
                    "they are in the session]\n"
                )
            data = item.encode("utf-8", "replace")
            try:
                while data:
                    data = data[os.write(fd, data) :]
            except OSError:
                self._broken = True  # e.g. piped into head: keep recording, stop printing
                return


class _Committer:
    """Commits decoded chunks, answers the parent, prints lines, feeds the text index."""

    def __init__(
        self,
        db: sqlite3.Connection,
        chan: FrameSocket,
        printer: _LinePrinter | None,
        summaries: bool,
    ) -> None:
        self._db = db
        self._retries = RetryIndex(db)
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

    def commit(
        self, decoded: list[Any], answers: Sequence[tuple[int, tuple[Any, ...]]] = ()
    ) -> None:
        """Commit a chunk and answer for it; one bad row never fails the others.

        ``answers`` are the answer policies' choices, by position in the chunk. If the
        chunk fails because of its rows (a value SQLite refuses), each row is committed
        alone, and a row that still fails is stored in a safe form (see
        :func:`safe_form`).  If it fails because of the file (disk full...), every row is
        answered with an error naming the cause, and the next chunk tries again.
        """
        try:
            rows, texts = commit_batch(self._db, decoded, self._retries)
        except Exception as exc:  # noqa: BLE001 - the parent answers 503 for these
            cause = storage_problem(exc)
            if cause is not None:
                self._reply(pickle.dumps(("error", len(decoded), f"{cause}: {exc}")))
                return
            if len(decoded) > 1:
                chosen = dict(answers)
                for i, item in enumerate(decoded):
                    self.commit([item], [(0, chosen[i])] if i in chosen else [])
                return
            try:
                req, dec = decoded[0]
                rows, texts = commit_batch(self._db, [safe_form(req, dec, exc)])
            except Exception as exc2:  # noqa: BLE001
                cause = storage_problem(exc2)
                text = f"{cause}: {exc2}" if cause else f"request could not be stored: {exc2}"
                self._reply(pickle.dumps(("error", 1, text)))
                return
        self._committed(rows, texts, answers)

    def _committed(
        self,
        rows: list[RowSummary],
        texts: list[tuple[int, str]],
        answers: Sequence[tuple[int, tuple[Any, ...]]],
    ) -> None:
        if self._indexing and rows:
            if not self.waiting:
                self._waiting_since = time.monotonic()
            self.waiting += len(rows)
            self._last_id = rows[-1].id
            self._texts.extend(texts)
            self._text_size += sum(len(t) for _, t in texts)
        if self._summaries:
            reply = pickle.dumps(("ok", [tuple(r) for r in rows], list(answers)), pickle.HIGHEST_PROTOCOL)
        else:
            reply = pickle.dumps(("ids", rows[0].id, len(rows), list(answers)))
        self._reply(reply)
        if self.printer is not None and rows:
            self.printer.add(rows)
        if self.waiting and (
            self.waiting >= _INDEX_BACKLOG_ROWS
            or self._text_size >= _INDEX_BACKLOG_TEXT
            or time.monotonic() - self._waiting_since >= _INDEX_MAX_DELAY
        ):
            self.index()

    def record(self, entries: list[AnswerEntry]) -> None:
        """Store the user's app's answers (to replays) in one transaction, and say so:
        the parent's futures for them resolve in the order they were sent."""
        try:
            record_entries(self._db, entries)
        except Exception as exc:  # noqa: BLE001 - each waiting replay reports it
            cause = storage_problem(exc)
            self._reply(pickle.dumps(("unrecorded", f"{cause or 'not recorded'}: {exc}")))
            return
        self._reply(pickle.dumps(("recorded",)))

    def _reply(self, reply: bytes) -> None:
        try:
            self._chan.send(reply)
        except OSError:
            pass  # the parent is gone: nobody waits for the answer, but the rows are kept

    def index(self) -> None:
        if self.waiting:
            failed = _index(self._db, self._last_id, self._texts)
            if failed and self._text_size > 2 * _INDEX_BACKLOG_TEXT:
                print(f"webhook-inspector: indexing stopped: {failed}", file=sys.stderr)
                failed = ""  # too much held for later: left to the scan until reopened
            if failed:
                # The file's fault (a full disk): the same rows are indexed at the next
                # quiet moment or backlog, once there is room again.
                self._waiting_since = time.monotonic()
                return
            self._indexing = failed is None
            if self._indexing:
                self._retries.indexed()
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
        inspection: InspectionConfig | None = None,
    ) -> None:
        """``answers``: how the writer chooses answers (see :mod:`.answers`); ``inspection``:
        authenticity checks and composed templates (see :mod:`.inspection`); both checked
        here, so a bad configuration fails at start, not in the writer."""
        build_policies(answers)
        RequestInspection(inspection)
        self._answers = dict(answers or {})
        self._inspection = dict(inspection or {})
        self._store = store
        self._lines = lines
        self._summaries = summaries
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: list[tuple[CapturedRequest, asyncio.Future[Committed]]] = []
        self._inflight: collections.deque[asyncio.Future[Committed]] = collections.deque()
        #: The app's answers waiting to be sent, and those sent, a future per message.
        self._answers_pending: list[tuple[list[AnswerEntry], asyncio.Future[None]]] = []
        self._answers_inflight: collections.deque[asyncio.Future[None]] = collections.deque()
        self._flush_scheduled = False
        self._dead: str | None = None
        self._stopping = False
        self._restarting = False
        #: A restart has failed at least once: requests are refused at once meanwhile.
        self._retrying: str | None = None
        #: Why the last commit failed (disk full...); whether none has succeeded since;
        #: until when it is shown anyway (see ``trouble``).
        self._trouble: str | None = None
        self._failing = False
        self._trouble_until = 0.0
        self._lines_started = False
        self._restarts: list[float] = []
        #: Answers given per rule (``"rule:NAME"`` sources), counted from the commits'
        #: answers: what the clients were actually given. A new writer starts from these.
        self._hits: dict[str, int] = {}
        self._hits_lock = threading.Lock()
        #: Requests already in the writer when the counts were reset: their answers were
        #: decided before the reset, so they are not counted after it.
        self._uncounted = 0

    async def start(self) -> None:
        """Start the writer process; returns once it has the session open."""
        await self._spawn()

    async def _spawn(self) -> None:
        try:
            parent, child = socket.socketpair()
        except OSError as exc:  # e.g. out of file descriptors
            raise WriterError(f"cannot start the session writer: {exc.strerror or exc}") from exc
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *writer_command(), str(self._store.path),
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
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        except OSError as exc:
            parent.close()
            await self._reap()
            raise WriterError(f"cannot talk to the session writer: {exc.strerror or exc}") from exc
        try:
            first = await asyncio.wait_for(self._read_frame(), _START_TIMEOUT)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
            await self._reap()
            raise WriterError("the session writer exited at start") from exc
        if first != _READY:
            await self._reap()
            raise WriterError(str(pickle.loads(first)[1]))
        if self._inspection:
            self._send(pickle.dumps(("inspection", self._inspection)))
        if self._answers:
            self._send(pickle.dumps(("answers", self._answers, self.rule_hits())))
        self._task = asyncio.get_running_loop().create_task(self._recv_loop())

    def set_answers(self, answers: AnswerConfig | None) -> None:
        """Change how answers are chosen, from the next request on (raises ValueError for a
        configuration the policies refuse, leaving the current one in force)."""
        build_policies(answers)
        self._answers = dict(answers or {})
        if self._dead is None and not self._restarting and self._writer is not None:
            self._send(pickle.dumps(("answers", self._answers, None)))

    def rule_hits(self) -> dict[str, int]:
        """How many answers each rule has given (by rule name); safe from any thread."""
        with self._hits_lock:
            return dict(self._hits)

    def reset_rule_hits(self) -> None:
        """Start every rule's count (and sequence) over, from the next request on."""
        with self._hits_lock:
            self._hits = {}
        self._uncounted = len(self._inflight)
        if self._dead is None and not self._restarting and self._writer is not None:
            self._send(pickle.dumps(("answers", self._answers, {})))

    def set_inspection(self, inspection: InspectionConfig | None) -> None:
        """Change the authenticity checks and composed templates, from the next request on
        (raises ValueError for a configuration they refuse, leaving the current one)."""
        RequestInspection(inspection)
        self._inspection = dict(inspection or {})
        if self._dead is None and not self._restarting and self._writer is not None:
            self._send(pickle.dumps(("inspection", self._inspection)))

    def submit(self, request: CapturedRequest) -> asyncio.Future[Committed]:
        return self._queue(self._pending, request)

    def record(self, entries: list[AnswerEntry]) -> asyncio.Future[None]:
        """Store the user's app's answers (to replays) in the writer, in one transaction:
        no second connection writing to the session, no thread in this process. The
        future resolves once they are committed."""
        return self._queue(self._answers_pending, entries)

    def _queue(
        self, waiting: list[tuple[Any, asyncio.Future[Any]]], item: Any
    ) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        refusal = self._dead or self._retrying
        if refusal is not None:
            fut.set_exception(WriterError(refusal))
            return fut
        waiting.append((item, fut))
        if not self._flush_scheduled:
            # Everything submitted during this turn of the loop goes in one message.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return fut

    @property
    def problem(self) -> str | None:
        """Why recording has stopped for good, or None while requests are being recorded."""
        return None if self._stopping else self._dead

    @property
    def trouble(self) -> str | None:
        """Why requests are being refused right now (stopped for good, a writer restart
        being retried, a full disk...), or None while they are recorded.

        A cause shows for at least :data:`_TROUBLE_HOLD` seconds after its last refusal,
        so that a window or a terminal polling it sees even a short episode; it clears
        itself once requests are recorded again."""
        if self._stopping:
            return None
        if self._dead or self._retrying:
            return self._dead or self._retrying
        trouble = self._trouble
        if trouble is not None and (self._failing or time.monotonic() < self._trouble_until):
            return trouble
        return None

    def _set_trouble(self, text: str | None) -> None:
        """Note a failed commit's cause (``text``), or a success (None)."""
        if text is None:
            if self._failing:
                log.info("recording again: requests are being stored")
            self._failing = False
            return
        if not self._failing:
            # The window and capture show the state (see ``trouble``); the log only notes it.
            log.info("requests are not being recorded (answered 503): %s", text)
        self._trouble = text
        self._failing = True
        self._trouble_until = time.monotonic() + _TROUBLE_HOLD

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
        if self._pending or self._answers_pending:
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
        answers, self._answers_pending = self._answers_pending, []
        if self._dead is not None:
            _fail_all([f for _, f in batch], WriterError(self._dead))
            _fail_all([f for _, f in answers], WriterError(self._dead))
            return
        if batch:
            data = pickle.dumps([_to_wire(r) for r, _ in batch], pickle.HIGHEST_PROTOCOL)
            self._inflight.extend(f for _, f in batch)
            self._send(data)
        if answers:
            entries = [_entry_to_wire(e) for group, _ in answers for e in group]
            self._send(pickle.dumps(("record", entries), pickle.HIGHEST_PROTOCOL))
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.add_done_callback(partial(_pass_on_all, [f for _, f in answers]))
            self._answers_inflight.append(done)

    def _send(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(HEADER.pack(len(data)))
        self._writer.write(data)

    async def _read_frame(self) -> bytes:
        assert self._reader is not None
        (n,) = HEADER.unpack(await self._reader.readexactly(4))
        return await self._reader.readexactly(n) if n else b""

    async def _recv_loop(self) -> None:
        try:
            while True:
                kind, *rest = pickle.loads(await self._read_frame())
                if kind == "ok":
                    summaries = [RowSummary._make(t) for t in rest[0]]
                    self._resolve([s.id for s in summaries], rest[1])
                    if self._failing:
                        self._set_trouble(None)
                    self._store.notify(summaries)
                elif kind in ("recorded", "unrecorded"):
                    fut = self._answers_inflight.popleft()
                    if kind == "recorded":
                        fut.set_result(None)
                    else:
                        fut.set_exception(WriterError(rest[0]))
                elif kind == "ids":
                    first, count, answers = rest
                    self._resolve(range(first, first + count), answers)
                    if self._failing:
                        self._set_trouble(None)
                else:
                    count, text = rest
                    self._set_trouble(text)
                    self._uncounted = max(0, self._uncounted - count)
                    _fail_all([self._inflight.popleft() for _ in range(count)], WriterError(text))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if self._stopping or self._dead is not None:
            if self._inflight or self._pending or self._answers_inflight or self._answers_pending:
                self._die("the session writer stopped before answering; requests not recorded")
            self._dead = self._dead or "the session writer has stopped"
            return
        await self._restart()

    def _resolve(self, ids: Sequence[int], answers: list[tuple[int, tuple[Any, ...]]]) -> None:
        chosen: dict[int, Answer] = {}
        if answers:
            # One rule's answer arrives as one tuple shared by every request it answered
            # (pickle keeps the sharing): rebuild it once per reply.
            built: dict[int, Answer] = {}
            for i, t in answers:
                answer = built.get(id(t))
                if answer is None:
                    answer = built[id(t)] = Answer.from_wire(t)
                chosen[i] = answer
        if chosen:
            self._count(chosen, len(ids))
        if self._uncounted:
            self._uncounted = max(0, self._uncounted - len(ids))
        for i, rid in enumerate(ids):
            fut = self._inflight.popleft()
            if not fut.done():
                fut.set_result(Committed(rid, chosen.get(i)))

    def _count(self, chosen: dict[int, Answer], n: int) -> None:
        skip = min(self._uncounted, n)  # the first ``skip`` were decided before a reset
        with self._hits_lock:
            for i, answer in chosen.items():
                if i >= skip and answer.source.startswith("rule:"):
                    name = answer.source[5:]
                    self._hits[name] = self._hits.get(name, 0) + 1

    async def _restart(self) -> None:
        """The writer died (killed, out of memory...): answer what it held with an error,
        so the sender retries, and start a new one for everything after."""
        lost = list(self._inflight)
        self._inflight.clear()
        self._uncounted = 0
        _fail_all(lost, WriterError("the session writer stopped unexpectedly; not recorded"))
        lost_answers = list(self._answers_inflight)
        self._answers_inflight.clear()
        _fail_all(lost_answers, WriterError("the session writer stopped unexpectedly; not recorded"))
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
            await self._spawn_until_up()
            if self._dead is not None or self._writer is None:
                return
        finally:
            self._restarting = False
            self._retrying = None
        if self._lines_started:
            self._send(_LINES_GO)
        self._flush()

    async def _spawn_until_up(self) -> None:
        """Start a new writer, retrying with a growing delay while it cannot start (out of
        file descriptors, memory...); requests are answered 503 meanwhile, not held."""
        attempt = 0
        while not self._stopping:
            try:
                await self._spawn()
                return
            except WriterError as exc:
                self._writer = None
                delay = _RESTART_BACKOFF[min(attempt, len(_RESTART_BACKOFF) - 1)]
                if self._retrying is None:
                    log.info("%s; retrying (requests are answered 503 meanwhile)", exc)
                self._retrying = f"the session writer could not be restarted ({exc}); retrying"
                waiting = [f for _, f in self._pending] + [f for _, f in self._answers_pending]
                self._pending.clear()
                self._answers_pending.clear()
                _fail_all(waiting, WriterError(self._retrying))
                attempt += 1
                await asyncio.sleep(delay)
        self._die("capture is stopping; the session writer was not restarted")

    def _die(self, reason: str) -> None:
        self._dead = reason
        futs = list(self._inflight) + [f for _, f in self._pending]
        answers = list(self._answers_inflight) + [f for _, f in self._answers_pending]
        self._inflight.clear()
        self._pending.clear()
        self._answers_inflight.clear()
        self._answers_pending.clear()
        _fail_all(futs, WriterError(reason))
        _fail_all(answers, WriterError(reason))

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


def _fail_all(futures: Sequence[asyncio.Future[Any]], exc: BaseException) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_exception(exc)


def _pass_on_all(futures: list[asyncio.Future[None]], done: asyncio.Future[None]) -> None:
    """One message's outcome on the future of every group of answers it carried."""
    exc = done.exception()
    for fut in futures:
        if fut.done():
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(None)


#: The hidden first argument a frozen build's entry point (``inspector.cli.main``) hands
#: to :func:`run_writer`: a frozen executable has no ``-m``.
FROZEN_WRITER_ARG = "__session-writer__"


def writer_command() -> list[str]:
    """The writer's command line up to its arguments: ``python -m`` from an installed
    package, the executable itself with :data:`FROZEN_WRITER_ARG` from a frozen build."""
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_WRITER_ARG]
    return [sys.executable, "-m", "inspector.core.capture.writer"]


def run_writer(argv: list[str]) -> int:
    """The writer's main from its arguments: SESSION FD [--lines] [--no-summaries]."""
    return _writer_main(
        argv[0],
        int(argv[1]),
        lines="--lines" in argv[2:],
        summaries="--no-summaries" not in argv[2:],
    )


if __name__ == "__main__":
    sys.exit(run_writer(sys.argv[1:]))
