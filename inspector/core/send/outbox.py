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

from inspector.core.send.client import (
    AppClient,
    forward_headers,
    forward_url,
    is_connection_failure,
)
from inspector.core.session.forwards import AppAnswer, pending_outbox, record_answer
from inspector.core.session.store import StoredRequest, get_request

log = logging.getLogger(__name__)

#: Seconds between retries of the row at the head of the outbox, the last one repeating.
RETRY_DELAYS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0)
MAX_ATTEMPTS = 5

OutboxState = Literal["off", "idle", "sending", "up", "down", "paused"]


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

    # -- control (engine loop) -----------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task = self._task
        self._task = None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def wake(self) -> None:
        """Something changed: a row was committed, the target was set, pause was lifted."""
        self._wake.set()

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
                    self._db, pending_outbox, self._conn, 0, 128
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
        stored: dict[int, StoredRequest | None] = await loop.run_in_executor(
            self._db, _load, self._conn, [r for r, _ in rows]
        )
        for rid, attempts in rows:
            target = self.target
            if target is None or self.paused:
                return
            req = stored.get(rid)
            if req is None:  # the row is gone (a damaged session): nothing to send
                await loop.run_in_executor(self._db, _drop, self._conn, rid)
                continue
            await self._send_one(req, attempts, target)
            self._waiting = max(0, self._waiting - 1)

    async def _send_one(self, req: StoredRequest, attempts: int, target: str) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        failing = 0  # answers that were not good enough (5xx, timeout, garbage)
        while True:
            url = forward_url(target, req.path, req.query, exact=self.exact)
            headers = forward_headers(
                req.headers,
                target=url,
                remote=req.client_addr or req.remote,
                proto="https" if req.via_tunnel else "http",
            )
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
            await loop.run_in_executor(
                self._db,
                _record,
                self._conn,
                req.id,
                url,
                answer,
                attempts,
                at_us,
                done,
            )
            if done:
                if answer.failed:
                    self._failed += 1
                self._forwarded += 1
                self._set("up" if not down else "down", _said(answer, give_up))
                return
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
                return
            target = new_target


def _worth_retrying(answer: AppAnswer) -> bool:
    return answer.status is None or answer.status >= 500 or bool(answer.error)


def _said(answer: AppAnswer, gave_up: bool) -> str:
    if answer.error:
        text = answer.error
    else:
        text = f"last answer {answer.status} in {answer.duration_ms:.0f} ms"
    return f"gave up after retries: {text}" if gave_up else text


def _load(conn: sqlite3.Connection, ids: list[int]) -> dict[int, StoredRequest | None]:
    return {i: get_request(conn, i) for i in ids}


def _drop(conn: sqlite3.Connection, rid: int) -> None:
    conn.execute("DELETE FROM outbox WHERE request_id = ?", (rid,))


def _record(
    conn: sqlite3.Connection,
    rid: int,
    url: str,
    answer: AppAnswer,
    attempt: int,
    at_us: int,
    done: bool,
) -> None:
    record_answer(
        conn,
        rid,
        kind="forward",
        url=url,
        answer=answer,
        attempt=attempt,
        at_us=at_us,
        leave_outbox=done,
        retry_later=not done,
    )
