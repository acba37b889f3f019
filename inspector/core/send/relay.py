"""The relay to the user's app, plugged into the capture engine's loop.

The capture wing does not know this module (the wings are independent); it talks to a
:class:`Relay` through the ``Relay`` protocol of ``inspector.core.capture.listener``,
and the front ends (CLI, window) hand one to the engine. Everything here runs on the
engine loop, with one :class:`AppClient` (one ``aiohttp.ClientSession``) shared by
forwarding, pass-through and replay; SQLite work runs on a one-thread executor so the
loop keeps answering the provider.

Two modes:

- ``decoupled`` (the default): the provider is answered as soon as the row is
  committed; the row went into the outbox in that same commit and the
  :class:`OutboxWorker` sends it on, in order, retrying while the app is down.
- ``pass-through``: the provider gets the app's own answer, within ``deadline``
  seconds; past it, 504 (502 when the app cannot be reached), and that is recorded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import orjson

from inspector.core.send.app_client import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BODY,
    HOP_BY_HOP,
    AppClient,
    forward_headers,
    forward_url,
)
from inspector.core.send.outbox import RETRY_DELAYS, OutboxStatus, OutboxWorker
from inspector.core.send.recorder import AnswerRecorder
from inspector.core.send.replay import CommitterSink, ReplaySink, RowCommitter, StoreSink
from inspector.core.session.forwards import AnswerEntry, AppAnswer
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import SessionStore

Mode = Literal["decoupled", "pass-through"]
MODES: tuple[Mode, ...] = ("decoupled", "pass-through")

#: What the provider gets when the app did not answer in pass-through mode.
_JSON = [("Content-Type", "application/json")]
#: Headers of the app's answer that aiohttp sets itself when we pass it on.
_NOT_PASSED = HOP_BY_HOP | {"date", "server"}

ProviderAnswer = tuple[int, list[tuple[str, str]], bytes]


def validate_target(url: str) -> str:
    """A forward URL the client can use, or ValueError with a one-line reason."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ValueError(f"forward URL must start with http:// or https://, not {url!r}")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    if not host:
        raise ValueError(f"forward URL has no host: {url!r}")
    return text


class Relay:
    """Forwarding and pass-through for one engine; controls are callable from any thread."""

    def __init__(
        self,
        store: SessionStore,
        *,
        target: str | None = None,
        mode: Mode = "decoupled",
        deadline: float = DEFAULT_DEADLINE,
        exact: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        max_attempts: int = 5,
        on_status: Callable[[OutboxStatus], None] | None = None,
    ) -> None:
        """``on_status`` is called on the engine loop when the outbox's state changes
        (the window bridges it to the GUI thread)."""
        if mode not in MODES:
            raise ValueError(f"unknown forward mode {mode!r} (decoupled or pass-through)")
        if deadline <= 0:
            raise ValueError("the deadline must be positive")
        self.store = store
        self._target = validate_target(target) if target else None
        self._mode: Mode = mode
        self.deadline = deadline
        self.exact = exact
        self._paused = False
        self.client = AppClient(max_body=max_body)
        # Writes (answers) and reads (the outbox) on threads and connections of their own:
        # a commit waiting for the writer process's lock never holds up the next forward.
        self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="relay-db")
        self._read_db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="relay-read")
        self._conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._status_listeners: list[Callable[[OutboxStatus], None]] = (
            [on_status] if on_status is not None else []
        )
        self._worker_args: dict[str, Any] = {
            "retry_delays": retry_delays,
            "max_attempts": max_attempts,
            "on_status": self._emit_status,
        }
        self._worker: OutboxWorker | None = None
        self._recorder: AnswerRecorder | None = None
        #: Where replays' rows and answers go while this relay runs (see :meth:`start`).
        self.replay_sink: ReplaySink = StoreSink(store)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.listener_url: str | None = None
        #: Replays sent to our own listener: token -> (original id, future of the new row id).
        self.replay_marks: dict[str, tuple[int, asyncio.Future[int]]] = {}

    # -- what the listener asks (engine loop) ------------------------------------------

    @property
    def outbox_active(self) -> bool:
        """New rows go in the outbox: a target is set and the mode is decoupled.
        Paused forwarding still queues them (they go once it resumes)."""
        return self._target is not None and self._mode == "decoupled"

    @property
    def pass_through_active(self) -> bool:
        return self._target is not None and self._mode == "pass-through" and not self._paused

    def committed(self, row_id: int, request: CapturedRequest | None = None) -> None:
        """A row that went into the outbox is committed: let the worker see it."""
        if self._worker is not None:
            self._worker.arrived(row_id, request)

    async def start(self, listener_url: str, committer: RowCommitter | None = None) -> None:
        """Open the session's outbox and start draining it (rows left by an earlier run
        that was stopped or killed go first). ``committer``: the engine's writer, through
        which replay rows are committed (:attr:`replay_sink`)."""
        self._loop = asyncio.get_running_loop()
        self.listener_url = listener_url
        self._conn = await self._loop.run_in_executor(self._db, self.store.open_reader)
        self._read_conn = await self._loop.run_in_executor(self._read_db, self.store.open_reader)
        self._recorder = AnswerRecorder(self._conn, self._db)
        self.replay_sink = (
            CommitterSink(committer, self.store)
            if committer is not None
            else StoreSink(self.store)
        )
        worker = OutboxWorker(
            self._read_conn,
            self._read_db,
            self.client,
            self._recorder,
            deadline=self.deadline,
            **self._worker_args,
        )
        worker.target = self._target if self._mode == "decoupled" else None
        worker.exact = self.exact
        worker.paused = self._paused
        self._worker = worker
        worker.start()

    async def stop(self) -> None:
        """Stop sending; a row whose answer was not recorded stays in the outbox."""
        if self._worker is not None:
            await self._worker.stop()
            self._worker = None
        if self._recorder is not None:
            await self._recorder.flush()
        await self.client.close()
        loop = asyncio.get_running_loop()
        if self._conn is not None:
            await loop.run_in_executor(self._db, self._conn.close)
            self._conn = None
        if self._read_conn is not None:
            await loop.run_in_executor(self._read_db, self._read_conn.close)
            self._read_conn = None
        self._db.shutdown(wait=True)
        self._read_db.shutdown(wait=True)

    async def pass_through(
        self, request: CapturedRequest, row_id: int, *, give: bool = True
    ) -> ProviderAnswer:
        """Send a just-committed request to the app and record its answer; returns what
        the provider is to be given (the app's answer, or 504/502 in its place)."""
        target = self._target
        if target is None:  # turned off between the commit and now: our own answer stands
            return request.response_status, list(request.response_headers), request.response_body
        url = forward_url(target, request.path, request.query, exact=self.exact)
        headers = forward_headers(
            request.headers,
            target=url,
            remote=request.client_addr or request.remote,
            proto="https" if request.via_tunnel else "http",
        )
        at_us = time.time_ns() // 1000
        answer = await self.client.send(
            request.method, url, headers, request.body, deadline=self.deadline
        )
        given = provider_answer(answer, self.deadline)
        recorder = self._recorder
        assert recorder is not None
        await recorder.add(
            AnswerEntry(
                row_id,
                "forward",
                url,
                answer,
                1,
                at_us,
                given=give,
                provider_answer=given if give else None,
            )
        )
        worker = self._worker
        if worker is not None:
            self._emit_status(worker.status)  # the window re-reads the App column
        return given

    # -- controls (any thread) -------------------------------------------------------

    @property
    def target(self) -> str | None:
        return self._target

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def paused(self) -> bool:
        return self._paused

    def configure(
        self,
        target: str | None,
        *,
        mode: Mode | None = None,
        deadline: float | None = None,
        exact: bool | None = None,
    ) -> None:
        """Point forwarding somewhere else (or nowhere: None), from the next request on;
        rows already in the outbox go to the new target."""
        new_target = validate_target(target) if target else None
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown forward mode {mode!r}")
        if deadline is not None and deadline <= 0:
            raise ValueError("the deadline must be positive")
        with self._lock:
            self._target = new_target
            if mode is not None:
                self._mode = mode
            if deadline is not None:
                self.deadline = deadline
            if exact is not None:
                self.exact = exact
        self._push()

    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        self._push()

    def _push(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._apply)

    def _apply(self) -> None:
        worker = self._worker
        if worker is None:
            return
        worker.target = self._target if self._mode == "decoupled" else None
        worker.exact = self.exact
        worker.deadline = self.deadline
        worker.paused = self._paused
        worker.wake()

    def add_status_listener(self, listener: Callable[[OutboxStatus], None]) -> None:
        """``listener`` is called on the engine loop with each new outbox status."""
        with self._lock:
            self._status_listeners = [*self._status_listeners, listener]

    def remove_status_listener(self, listener: Callable[[OutboxStatus], None]) -> None:
        with self._lock:
            self._status_listeners = [x for x in self._status_listeners if x is not listener]

    def _emit_status(self, status: OutboxStatus) -> None:
        for listener in self._status_listeners:
            listener(status)

    def status(self) -> OutboxStatus | None:
        worker = self._worker
        return worker.status if worker is not None else None

    # -- shared with replay ----------------------------------------------------------

    async def in_db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, lambda: fn(*args, **kwargs))

    def _require_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the relay is not started")
        return self._conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The relay's own connection; use it only through :meth:`in_db`."""
        return self._require_conn()


def provider_answer(answer: AppAnswer, deadline: float) -> ProviderAnswer:
    """What the provider gets in pass-through mode for the app's ``answer``."""
    if answer.status is not None and not answer.error and not answer.body_cut:
        headers = [(k, v) for k, v in answer.headers if k.lower() not in _NOT_PASSED]
        return answer.status, headers, answer.body
    timed_out = answer.error.startswith("timed out")
    status = 504 if timed_out else 502
    reason = answer.error or "the app's answer was over the size limit"
    if timed_out:
        reason = f"the app did not answer within {deadline:.1f} s"
    body = orjson.dumps({"ok": False, "error": reason})
    return status, list(_JSON), body
