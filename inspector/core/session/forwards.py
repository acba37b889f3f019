"""What the user's app answered, the forward outbox, and which row replays which.

Three small tables next to the requests (schema step "relay" in :mod:`.store`):

- ``outbox``: rows still to forward, written in the same commit as the request (see
  ``store.commit_batch``), so "acknowledged" implies "will reach the app" even after a
  kill -9. A row leaves the outbox in the same transaction that records the app's
  answer: at-least-once, like the provider's own delivery.
- ``forwards``: one row per attempt to send a request to the app (a forward or a
  replay): the answer's status, headers and body (cut at a limit, marked), the time it
  took, or the error in plain words. ``app_last`` keeps each request's latest outcome
  so the table and the filter language read one row, not every attempt.
- ``replays``: a replay is a new request row pointing at its original; nothing is
  ever overwritten.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class AppAnswer:
    """The outcome of one request sent to the app: an answer, or why there is none."""

    status: int | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    #: The body was longer than the limit and was cut there (or the app never finished it).
    body_cut: bool = False
    duration_ms: float = 0.0
    #: Plain words ("connection refused", "timed out after 3.0 s"); empty when it answered.
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.status is not None and not self.error

    @property
    def failed(self) -> bool:
        """No usable answer, or the app said no (4xx/5xx)."""
        return self.status is None or bool(self.error) or self.status >= 400


@dataclass(frozen=True, slots=True)
class ForwardRecord:
    """One stored attempt, as the detail pane and the export show it."""

    id: int
    request_id: int
    kind: str  # "forward" or "replay"
    url: str
    answer: AppAnswer
    attempt: int
    at_us: int
    #: The app's answer was given to the provider (pass-through mode).
    given: bool


@dataclass(frozen=True, slots=True)
class AnswerEntry:
    """One attempt to store (see :func:`record_entries`)."""

    request_id: int
    kind: str
    url: str
    answer: AppAnswer
    attempt: int
    at_us: int
    #: The app's answer was given to the provider (pass-through).
    given: bool = False
    #: The request leaves the outbox (its answer is final)...
    leave_outbox: bool = False
    #: ...or stays, one attempt more.
    retry_later: bool = False
    #: What the provider was actually given, when decided after the row was committed.
    provider_answer: tuple[int, list[tuple[str, str]], bytes] | None = None


def record_entries(conn: sqlite3.Connection, entries: Sequence[AnswerEntry]) -> None:
    """Store attempts in one transaction: each answer, its request's latest outcome, its
    exit from the outbox or its attempt count, and the answer given to the provider.
    One statement per kind of row for the whole batch (a replay batch's answers come
    hundreds at a time)."""
    answers = [
        (
            e.request_id, e.kind, e.url, e.answer.status, orjson.dumps(e.answer.headers).decode(),
            e.answer.body, int(e.answer.body_cut), e.answer.duration_ms, e.answer.error,
            e.attempt, e.at_us, int(e.given),
        )
        for e in entries
    ]  # fmt: skip
    latest = [
        (e.request_id, e.answer.status if not e.answer.error else None, int(e.answer.failed))
        for e in entries
    ]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_INSERT_ANSWER, answers)
        conn.executemany(_LATEST, latest)
        leaving = [(e.request_id,) for e in entries if e.leave_outbox]
        if leaving:
            conn.executemany("DELETE FROM outbox WHERE request_id = ?", leaving)
        again = [(e.request_id,) for e in entries if e.retry_later and not e.leave_outbox]
        if again:
            conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE request_id = ?", again
            )
        for e in entries:
            if e.provider_answer is not None:
                status, headers, body = e.provider_answer
                conn.execute(
                    "UPDATE requests SET response_status = ? WHERE id = ?", (status, e.request_id)
                )
                conn.execute(
                    "UPDATE request_data SET response_headers = ?, response_body = ? WHERE id = ?",
                    (orjson.dumps(headers).decode(), body, e.request_id),
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


_INSERT_ANSWER = (
    "INSERT INTO forwards (request_id, kind, url, status, headers, body, body_cut, "
    "duration_ms, error, attempt, at_us, given) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_LATEST = "INSERT OR REPLACE INTO app_last (request_id, status, failed) VALUES (?, ?, ?)"


def record_answer(
    conn: sqlite3.Connection,
    request_id: int,
    *,
    kind: str,
    url: str,
    answer: AppAnswer,
    attempt: int,
    at_us: int,
    given: bool = False,
    leave_outbox: bool = False,
    retry_later: bool = False,
    provider_answer: tuple[int, list[tuple[str, str]], bytes] | None = None,
) -> None:
    """Store one attempt in a transaction of its own (see :class:`AnswerEntry`)."""
    record_entries(
        conn,
        [
            AnswerEntry(
                request_id,
                kind,
                url,
                answer,
                attempt,
                at_us,
                given,
                leave_outbox,
                retry_later,
                provider_answer,
            )  # fmt: skip
        ],
    )


def record_answers(
    conn: sqlite3.Connection, rows: Sequence[tuple[int, str, str, AppAnswer, int, int]]
) -> None:
    """Many ``(request_id, kind, url, answer, attempt, at_us)`` in one transaction."""
    record_entries(conn, [AnswerEntry(*row) for row in rows])


def pending_outbox(
    conn: sqlite3.Connection, after: int = 0, limit: int = 256
) -> list[tuple[int, int]]:
    """The next ``(request_id, attempts)`` waiting to be forwarded, in arrival order."""
    rows = conn.execute(
        "SELECT request_id, attempts FROM outbox WHERE request_id > ? AND state = 'pending' "
        "ORDER BY request_id LIMIT ?",
        (after, limit),
    ).fetchall()
    return [(int(r), int(a)) for r, a in rows]


def outbox_size(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0])


def enqueue(conn: sqlite3.Connection, request_ids: Iterable[int]) -> None:
    """Put already-committed rows in the outbox (forward rows captured earlier)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR IGNORE INTO outbox (request_id) VALUES (?)", [(i,) for i in request_ids]
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _record(row: Sequence[Any]) -> ForwardRecord:
    (fid, rid, kind, url, status, headers, body, cut, dur, error, attempt, at_us, given) = row
    answer = AppAnswer(
        status=None if status is None else int(status),
        headers=[(k, v) for k, v in orjson.loads(str(headers))],
        body=bytes(body),
        body_cut=bool(cut),
        duration_ms=float(dur),
        error=str(error),
    )
    return ForwardRecord(
        int(fid),
        int(rid),
        str(kind),
        str(url),
        answer,
        int(attempt),
        int(at_us),
        bool(given),
    )


_SELECT = (
    "SELECT id, request_id, kind, url, status, headers, body, body_cut, duration_ms, error, "
    "attempt, at_us, given FROM forwards"
)


def forwards_for(conn: sqlite3.Connection, request_id: int) -> list[ForwardRecord]:
    """Every attempt to send this request to the app, oldest first."""
    if not has_relay_tables(conn):
        return []
    rows = conn.execute(f"{_SELECT} WHERE request_id = ? ORDER BY id", (request_id,)).fetchall()
    return [_record(r) for r in rows]


def replay_of(conn: sqlite3.Connection, request_id: int) -> int | None:
    if not has_relay_tables(conn):
        return None
    row = conn.execute("SELECT original FROM replays WHERE id = ?", (request_id,)).fetchone()
    return None if row is None else int(row[0])


def replays_of(conn: sqlite3.Connection, request_id: int) -> list[int]:
    if not has_relay_tables(conn):
        return []
    rows = conn.execute(
        "SELECT id FROM replays WHERE original = ? ORDER BY id", (request_id,)
    ).fetchall()
    return [int(r[0]) for r in rows]


def app_outcomes(
    conn: sqlite3.Connection, ids: Iterable[int]
) -> dict[int, tuple[int | None, bool]]:
    """Each request's latest ``(status or None, failed)``; requests never sent are absent."""
    wanted = list(ids)
    if not wanted or not has_relay_tables(conn):
        return {}
    out: dict[int, tuple[int | None, bool]] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        rows = conn.execute(
            f"SELECT request_id, status, failed FROM app_last WHERE request_id IN "
            f"({','.join('?' for _ in part)})",
            part,
        ).fetchall()
        for rid, status, failed in rows:
            out[int(rid)] = (None if status is None else int(status), bool(failed))
    return out


def relay_records(
    conn: sqlite3.Connection, ids: Sequence[int]
) -> dict[int, tuple[list[ForwardRecord], int | None]]:
    """For the rows of ``ids`` that have any: their attempts to reach the app (oldest
    first) and the row each replays; two queries per call, for an export's batch."""
    if not ids or not has_relay_tables(conn):
        return {}
    marks = ",".join("?" for _ in ids)
    out: dict[int, tuple[list[ForwardRecord], int | None]] = {}
    for row in conn.execute(
        f"{_SELECT} WHERE request_id IN ({marks}) ORDER BY request_id, id", tuple(ids)
    ):
        record = _record(row)
        out.setdefault(record.request_id, ([], None))[0].append(record)
    for rid, original in conn.execute(
        f"SELECT id, original FROM replays WHERE id IN ({marks})", tuple(ids)
    ):
        forwards = out.get(int(rid), ([], None))[0]
        out[int(rid)] = (forwards, int(original))
    return out


def has_relay_tables(conn: sqlite3.Connection) -> bool:
    """Sessions opened read-only at an older schema have none of these tables yet."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'forwards'"
    ).fetchone()
    return row is not None
