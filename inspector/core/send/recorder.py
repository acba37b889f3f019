"""Group commit for the app's answers, as the capture writer does for requests.

Forwards and pass-through answers arrive hundreds a second; a transaction each, racing
the writer process for the session's lock, backed up the relay's one database thread
until pass-through answers took seconds. Entries that arrive while a commit is under
way go together in the next one; each caller's future resolves once its entry is on
disk (so a row leaves the outbox, and a pass-through provider is answered, only then).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3

from inspector.core.session.forwards import AnswerEntry, record_entries

log = logging.getLogger(__name__)


class AnswerRecorder:
    """Runs on the engine loop; commits on the relay's one-thread executor."""

    def __init__(self, conn: sqlite3.Connection, db: concurrent.futures.Executor) -> None:
        self._conn = conn
        self._db = db
        self._pending: list[tuple[AnswerEntry, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, entry: AnswerEntry) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, fut))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return fut

    async def flush(self) -> None:
        """Wait until everything added so far is committed (or failed)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await loop.run_in_executor(
                        self._db, record_entries, self._conn, [e for e, _ in batch]
                    )
                except Exception as exc:  # noqa: BLE001 - each caller hears of it
                    log.error("could not record %d answer(s) from the app: %s", len(batch), exc)
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._task = None
