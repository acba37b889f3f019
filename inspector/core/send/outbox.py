"""The forward outbox worker: drains the session's outbox to the app, in arrival order.

Rows enter the outbox in the same commit as the request (``store.commit_batch``); this
worker sends them one at a time, oldest first, and a row leaves the outbox only in the
transaction that records the app's answer. So a kill -9 at any moment loses nothing:
the next run sends again whatever had no recorded answer (at-least-once, as the
provider itself delivers).

When the app is not there at all (connection refused, name or TLS problem) the worker
waits and retries the same row with backoff, without limit: nothing behind it overtakes
it, nothing is dropped. When the app answers 5xx, times out, or answers garbage, the row
is retried up to ``max_attempts`` times and then recorded as failed, so one request the
app can never digest does not hold the outbox for good (replay it once the app is fixed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from inspector.core.send.app_client import (
    AppClient,
    forward_headers,
    forward_url,
    is_connection_failure,
)
from inspector.core.send.recorder import AnswerRecorder
from inspector.core.session.forwards import AnswerEntry, AppAnswer, pending_outbox
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import StoredRequest, get_request

log = logging.getLogger(__name__)

#: Seconds between retries of the row at the head of the outbox, the last one repeating.
RETRY_DELAYS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0)
MAX_ATTEMPTS = 5
#: Captures per second above which the listener is taken to be flooded (a load test:
#: far above what a provider sends a developer's endpoint)...
BUSY_ARRIVALS = 1000.0
#: ...and forwarding then holds itself to this many per second, catching up once the
#: flood is over: answering the provider comes first (it retries on a slow answer; the
#: outbox keeps everything meanwhile). Otherwise rows go as fast as the app answers.
BUSY_FORWARDS = 50.0
#: The arrival rate is counted over windows of this many seconds.
_RATE_WINDOW = 0.1

OutboxState = Literal["off", "idle", "sending", "up", "down", "paused"]


#: Requests kept in memory between their commit and their forward (beyond it they are
#: read back from the session file).
_FRESH_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a forward needs of a request, from memory (just captured) or the session."""

    id: int
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    remote: str
    via_tunnel: bool

    @classmethod
    def from_stored(cls, r: StoredRequest) -> Outgoing:
        return cls(
            r.id, r.method, r.path, r.query, r.headers, r.body, r.client_addr or r.remote,
            bool(r.via_tunnel),
        )  # fmt: skip

    @classmethod
    def from_captured(cls, row_id: int, r: CapturedRequest) -> Outgoing:
        return cls(
            row_id, r.method, r.path, r.query, r.headers, r.body, r.client_addr or r.remote,
            r.via_tunnel,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """What the status light shows; built on the engine loop, read from any thread."""

    state: OutboxState
    waiting: int
    message: str
    forwarded: int
    failed: int


class OutboxWorker:
    """Runs on the engine loop; its SQLite work runs on a one-thread executor of its own."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        db: concurrent.futures.ThreadPoolExecutor,
        client: AppClient,
        recorder: AnswerRecorder,
        *,
        deadline: float,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        max_attempts: int = MAX_ATTEMPTS,
        on_status: Callable[[OutboxStatus], None] | None = None,
    ) -> None:
        self._conn = conn
        self._db = db
        self._client = client
        self.deadline = deadline
        self.retry_delays = tuple(retry_delays) or (1.0,)
        self.max_attempts = max_attempts
        self.target: str | None = None
        self.exact = False
        self.paused = False
        self._on_status = on_status
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._state: OutboxState = "off"
        self._message = ""
        self._waiting = 0
        self._forwarded = 0
        self._failed = 0
        #: The last row this run has finished with (its answer may still be committing):
        #: the next read starts after it, so a row is never sent twice in one run.
        self._after = 0
        self._recorder = recorder
        self.busy_arrivals = BUSY_ARRIVALS
        self.busy_forwards = BUSY_FORWARDS
        self._next_busy_send = 0.0
        #: Arrivals: (start of the current window, its count, the previous window's count).
        self._window = (0.0, 0, 0)
        self._fresh: dict[int, Outgoing] = {}

    # -- control (engine loop) -----------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self._recorder.flush()

    def wake(self) -> None:
        """Something changed: a row was committed, the target was set, pause was lifted."""
        self._wake.set()

    def arrived(self, row_id: int, request: CapturedRequest | None = None) -> None:
        """A captured row went into the outbox (``request``: its content, so the forward
        need not read it back)."""
        self._count_arrival()
        if request is not None and len(self._fresh) < _FRESH_MAX:
            self._fresh[row_id] = Outgoing.from_captured(row_id, request)
        self._wake.set()

    def _count_arrival(self) -> None:
        now = time.monotonic()
        start, cur, prev = self._window
        if now - start < _RATE_WINDOW:
            self._window = (start, cur + 1, prev)
        else:
            recent = cur if now - start < 2 * _RATE_WINDOW else 0
            self._window = (now, 1, recent)

    def arrival_rate(self) -> float:
        """Captures per second over the last one or two windows."""
        start, cur, prev = self._window
        age = time.monotonic() - start
        if age >= 2 * _RATE_WINDOW:
            return 0.0
        return (cur + prev) / (_RATE_WINDOW + max(age, 0.0))

    async def _yield_to_capture(self) -> None:
        """While captures flood in, keep forwarding to ``busy_forwards`` per second."""
        if self.arrival_rate() < self.busy_arrivals:
            return
        now = time.monotonic()
        wait = self._next_busy_send - now
        if wait > 0:
            await asyncio.sleep(wait)
        self._next_busy_send = max(now, self._next_busy_send) + 1.0 / self.busy_forwards

    @property
    def status(self) -> OutboxStatus:
        return OutboxStatus(
            self._state, self._waiting, self._message, self._forwarded, self._failed
        )

    # -- the loop ------------------------------------------------------------------------

    def _set(self, state: OutboxState, message: str = "") -> None:
        if (state, message) != (self._state, self._message) or state == "sending":
            self._state, self._message = state, message
            if self._on_status is not None:
                self._on_status(self.status)

    async def _in_db(self, fn: Callable[..., object], *args: object) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.target is None:
                self._set("off", "no forward URL set")
            elif self.paused:
                self._set("paused", "forwarding paused")
            else:
                rows: list[tuple[int, int]] = await loop.run_in_executor(
                    self._db, pending_outbox, self._conn, self._after, 128
                )
                if rows:
                    await self._send_rows(rows)
                    continue
                self._waiting = 0
                if self._state not in ("down",):
                    self._set("idle" if self._forwarded == 0 else "up", self._message)
            self._wake.clear()
            await self._wake.wait()

    async def _send_rows(self, rows: list[tuple[int, int]]) -> None:
        loop = asyncio.get_running_loop()
        self._waiting = max(self._waiting, len(rows))
        fresh = self._fresh
        missing = [r for r, _ in rows if r not in fresh]
        stored: dict[int, Outgoing | None] = {}
        if missing:
            stored = await loop.run_in_executor(self._db, _load, self._conn, missing)
        for rid, attempts in rows:
            target = self.target
            if target is None or self.paused:
                return
            req = fresh.pop(rid, None) or stored.get(rid)
            if req is None:  # the row is gone (a damaged session): nothing to send
                await loop.run_in_executor(self._db, _drop, self._conn, rid)
                self._after = rid
                continue
            if await self._send_one(req, attempts, target):
                self._after = rid
            else:
                return
            self._waiting = max(0, self._waiting - 1)

    async def _send_one(self, req: Outgoing, attempts: int, target: str) -> bool:
        """Send one row until it is done with (True) or forwarding stops or moves (False)."""
        failures = 0
        failing = 0  # answers that were not good enough (5xx, timeout, garbage)
        while True:
            url = forward_url(target, req.path, req.query, exact=self.exact)
            headers = forward_headers(
                req.headers,
                target=url,
                remote=req.remote,
                proto="https" if req.via_tunnel else "http",
            )
            await self._yield_to_capture()
            at_us = time.time_ns() // 1000
            answer = await self._client.send(
                req.method, url, headers, req.body, deadline=self.deadline
            )
            attempts += 1
            down = is_connection_failure(answer)
            retry = down or _worth_retrying(answer)
            if retry and not down:
                failing += 1
            give_up = retry and not down and failing >= self.max_attempts
            done = not retry or give_up
            self._record(req.id, url, answer, attempts, at_us, done)
            if done:
                if answer.failed:
                    self._failed += 1
                self._forwarded += 1
                self._set("up" if not down else "down", _said(answer, give_up))
                return True
            delay = self.retry_delays[min(failures, len(self.retry_delays) - 1)]
            failures += 1
            reason = answer.error or f"answered {answer.status}"
            self._set(
                "down", f"app {'down' if down else 'failing'}: {reason}; retrying in {delay:g} s"
            )
            self._wake.clear()
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()  # a new target or a pause cuts the wait short
            except TimeoutError:
                pass
            new_target = self.target
            if new_target is None or self.paused:
                return False
            target = new_target

    def _record(
        self, rid: int, url: str, answer: AppAnswer, attempt: int, at_us: int, done: bool
    ) -> None:
        """Queue an answer for the next group commit; the row leaves the outbox only then
        (a kill before it commits leaves the row in the outbox, to be sent again)."""
        entry = AnswerEntry(
            rid, "forward", url, answer, attempt, at_us, leave_outbox=done, retry_later=not done
        )
        self._recorder.add(entry).add_done_callback(self._committed)

    def _committed(self, fut: asyncio.Future[None]) -> None:
        """An answer is on disk: tell the status listeners (the window re-reads the App
        column then, not before the row it would read exists)."""
        _consume(fut)
        if self._on_status is not None:
            self._on_status(self.status)


def _consume(fut: asyncio.Future[None]) -> None:
    """The recorder logs a failed commit; the row then stays in the outbox."""
    if not fut.cancelled():
        fut.exception()


def _worth_retrying(answer: AppAnswer) -> bool:
    return answer.status is None or answer.status >= 500 or bool(answer.error)


def _said(answer: AppAnswer, gave_up: bool) -> str:
    if answer.error:
        text = answer.error
    else:
        text = f"last answer {answer.status} in {answer.duration_ms:.0f} ms"
    return f"gave up after retries: {text}" if gave_up else text


def _load(conn: sqlite3.Connection, ids: list[int]) -> dict[int, Outgoing | None]:
    out: dict[int, Outgoing | None] = {}
    for i in ids:
        r = get_request(conn, i)
        out[i] = Outgoing.from_stored(r) if r is not None else None
    return out


def _drop(conn: sqlite3.Connection, rid: int) -> None:
    conn.execute("DELETE FROM outbox WHERE request_id = ?", (rid,))
