"""The session writer: decoding and SQLite commits in a process of their own.

Why a process: decoding (pydantic, JSON repair) and the SQLite inserts are CPU
work.  In the listener's process they share one GIL with the HTTP handling, and
capture ran at a quarter of a bare aiohttp server's rate.  In a child process they
run on the other core, and a payload that makes the decoder misbehave can never
take the window down with it.

Protocol over one duplex pipe: the parent sends pickled batches of requests (as
plain tuples); the child answers each commit with the committed row summaries,
in order, and only then indexes their text.  The parent keeps the waiting
futures in send order, so an answer for N rows resolves the next N futures.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing as mp
import pickle
import queue
import signal
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from inspector.core.decoder import EventDecoder
from inspector.core.record import CapturedRequest
from inspector.core.store import (
    RowSummary,
    SessionStore,
    _connect,
    commit_batch,
    index_texts,
)

log = logging.getLogger(__name__)

#: Requests sent to the writer in one message at most.
MAX_BATCH = 1024
_STOP = b""
_READY = b"ready"
_START_TIMEOUT = 30.0


class WriterError(Exception):
    """The writer process failed; requests waiting on it are not acknowledged."""


def _to_wire(r: CapturedRequest) -> tuple[Any, ...]:
    return (
        r.seq, r.received_us, r.method, r.path, r.query, r.http_version, r.remote, r.headers,
        r.body, r.declared_size, r.response_status, r.response_headers, r.response_body,
        r.capture_warnings, r.via_tunnel, r.client_addr,
    )  # fmt: skip


def _from_wire(t: tuple[Any, ...]) -> CapturedRequest:
    return CapturedRequest(*t)


def _writer_main(path: str, conn: Connection) -> None:
    """Child process: open the session, then decode and commit until told to stop."""
    # The parent decides when to stop (Ctrl-C reaches the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        db = _connect(Path(path), readonly=False)
        db.execute("PRAGMA synchronous = NORMAL")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        conn.send_bytes(pickle.dumps(("fatal", f"cannot open {path}: {exc}")))
        return
    conn.send_bytes(_READY)
    decoder = EventDecoder()
    stopping = False
    while not stopping:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError):
            break  # parent gone (even kill -9): everything acknowledged is committed
        if msg == _STOP:
            break
        wire: list[tuple[Any, ...]] = pickle.loads(msg)
        while len(wire) < MAX_BATCH and conn.poll(0):
            more = conn.recv_bytes()
            if more == _STOP:
                stopping = True
                break
            wire.extend(pickle.loads(more))
        requests = [_from_wire(t) for t in wire]
        decoded = [
            (r, decoder.decode(r.method, r.path, r.query, r.headers, r.body)) for r in requests
        ]
        try:
            summaries, texts = commit_batch(db, decoded)
        except Exception as exc:  # noqa: BLE001 - the parent answers 503 for these
            conn.send_bytes(pickle.dumps(("error", len(wire), str(exc))))
            continue
        conn.send_bytes(pickle.dumps(("ok", [tuple(s) for s in summaries])))
        try:
            index_texts(db, texts)
        except Exception as exc:  # noqa: BLE001 - rows are safe; the index catches up on reopen
            print(f"webhook-inspector: full-text indexing failed: {exc}", file=sys.stderr)
    db.close()


def _context() -> mp.context.BaseContext:
    """forkserver where the platform has it (a clean, fast-to-fork server), else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["inspector.core.writer"])
        return ctx
    return mp.get_context("spawn")


class ProcessCommitter:
    """Parent side: hands requests to the writer process, resolves each once committed."""

    def __init__(self, store: SessionStore, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        ctx = _context()
        self._conn, child = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(
            target=_writer_main, args=(str(store.path), child), name="session-writer", daemon=True
        )
        self._proc.start()
        child.close()
        if not self._conn.poll(_START_TIMEOUT):
            self._proc.kill()
            raise WriterError("session writer did not start in time")
        first = self._conn.recv_bytes()
        if first != _READY:
            self._proc.join(5)
            raise WriterError(pickle.loads(first)[1])
        self._queue: queue.SimpleQueue[tuple[CapturedRequest, asyncio.Future[int]] | None] = (
            queue.SimpleQueue()
        )
        self._inflight: collections.deque[asyncio.Future[int]] = collections.deque()
        self._dead: str | None = None
        self._sender = threading.Thread(target=self._send_loop, name="writer-send", daemon=True)
        self._receiver = threading.Thread(target=self._recv_loop, name="writer-recv", daemon=True)
        self._sender.start()
        self._receiver.start()

    def submit(self, request: CapturedRequest) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = self._loop.create_future()
        if self._dead is not None:
            fut.set_exception(WriterError(self._dead))
        else:
            self._queue.put((request, fut))
        return fut

    def stop(self) -> None:
        """Commit everything already handed over, then end the process and threads."""
        self._queue.put(None)
        self._sender.join()
        self._receiver.join()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()

    def _send_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._send(_STOP)
                return
            batch = [item]
            stop_after = False
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop_after = True
                    break
                batch.append(nxt)
            payload = pickle.dumps([_to_wire(r) for r, _ in batch], pickle.HIGHEST_PROTOCOL)
            self._inflight.extend(f for _, f in batch)
            if not self._send(payload):
                return
            if stop_after:
                self._send(_STOP)
                return

    def _send(self, data: bytes) -> bool:
        try:
            self._conn.send_bytes(data)
            return True
        except (OSError, ValueError) as exc:
            self._die(f"session writer stopped: {exc}")
            return False

    def _recv_loop(self) -> None:
        while True:
            try:
                msg = self._conn.recv_bytes()
            except (EOFError, OSError):
                break
            kind, *rest = pickle.loads(msg)
            if kind == "ok":
                summaries = [RowSummary._make(t) for t in rest[0]]
                futs = [self._inflight.popleft() for _ in summaries]
                self._call(_resolve_all, futs, [s.id for s in summaries])
                self._store.notify(summaries)
            else:
                count, text = rest
                futs = [self._inflight.popleft() for _ in range(count)]
                log.error("could not commit %d request(s): %s", count, text)
                self._call(_fail_all, futs, WriterError(text))
        self._die("session writer stopped unexpectedly")

    def _die(self, reason: str) -> None:
        if self._dead is None:
            self._dead = reason
        futs = list(self._inflight)
        self._inflight.clear()
        if futs:
            self._call(_fail_all, futs, WriterError(reason))

    def _call(self, fn: Any, *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # loop closed: nobody is waiting any more


def _resolve_all(futures: list[asyncio.Future[int]], ids: list[int]) -> None:
    for fut, rid in zip(futures, ids, strict=True):
        if not fut.done():
            fut.set_result(rid)


def _fail_all(futures: list[asyncio.Future[int]], exc: BaseException) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_exception(exc)
