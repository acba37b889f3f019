"""Re-deliveries: the provider re-sends a failed delivery with the very same bytes.

A request whose method, path, query and body bytes equal an earlier one's in the session is
attempt 2, 3, ... of the first. Recognised at commit time, cheaply: each row stores a short
hash of those bytes (``body_hash``); the lookup table ``by_body`` holds the hashes of the
indexed rows (filled with the other lookup tables, in big batches, after acknowledgement),
and the writer keeps the hashes it committed since the last indexing in memory. So a
lookup is a dictionary probe, and for a first delivery one B-tree probe more.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import NamedTuple

#: The lookup table and how it is filled from ``requests`` for ids in ``(?, ?]``.
BY_BODY_SCHEMA = (
    "CREATE TABLE by_body (body_hash BLOB NOT NULL, id INTEGER NOT NULL, "
    "PRIMARY KEY (body_hash, id)) WITHOUT ROWID;"
)
COPY_BY_BODY = (
    "INSERT INTO by_body (body_hash, id) SELECT body_hash, id FROM requests "
    "WHERE id > ? AND id <= ? AND body_hash IS NOT NULL ORDER BY body_hash, id"
)


def retry_key(method: str, path: str, query: str, body: bytes) -> bytes | None:
    """What two deliveries of one payload share; ``None`` for a request with nothing in it
    (a bare GET repeated is not a re-delivery of anything)."""
    if not body and not query:
        return None
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{method}\x00{path}\x00{query}\x00".encode("utf-8", "surrogateescape"))
    h.update(body)
    return h.digest()


class Attempt(NamedTuple):
    number: int
    first_id: int | None


FIRST = Attempt(1, None)


#: Bits of the filter that spares most first deliveries a probe of ``by_body`` (2 MiB).
_FILTER_BITS = 24


def _bit(key: bytes) -> tuple[int, int]:
    n = int.from_bytes(key[:3], "big")
    return n >> 3, 1 << (n & 7)


class RetryIndex:
    """The hashes seen so far in one session, for the connection that commits its rows.

    Most requests are first deliveries, whose hash is nowhere yet: a bitmap of every hash
    in ``by_body`` (one bit per hash, filled at start) answers "surely not there" for them
    without a query; only a set bit (a real earlier delivery, or a rare collision) costs
    the B-tree probe.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        #: hash -> (first id, attempts so far), for rows not in ``by_body`` yet.
        self._recent: dict[bytes, tuple[int, int]] = {}
        self._undo: list[tuple[bytes, tuple[int, int] | None]] = []
        self._seen = bytearray(1 << (_FILTER_BITS - 3))
        try:
            for (key,) in conn.execute("SELECT body_hash FROM by_body"):
                byte, mask = _bit(bytes(key))
                self._seen[byte] |= mask
        except sqlite3.OperationalError:
            pass  # a session from before re-deliveries were recognised has no by_body yet

    def note(self, key: bytes | None, row_id: int) -> Attempt:
        """Record row ``row_id`` (inside the open transaction) and say which attempt it is."""
        if key is None:
            return FIRST
        known = self._recent.get(key)
        byte, mask = _bit(key)
        if known is None and self._seen[byte] & mask:
            first, count = self._conn.execute(
                "SELECT min(id), count(*) FROM by_body WHERE body_hash = ?", (key,)
            ).fetchone()
            known = (int(first), int(count)) if count else None
        self._seen[byte] |= mask
        self._undo.append((key, self._recent.get(key)))
        if known is None:
            self._recent[key] = (row_id, 1)
            return FIRST
        first_id, count = known
        self._recent[key] = (first_id, count + 1)
        return Attempt(count + 1, first_id)

    def committed(self) -> None:
        self._undo.clear()

    def rolled_back(self) -> None:
        """Forget what the failed transaction noted."""
        for key, previous in reversed(self._undo):
            if previous is None:
                self._recent.pop(key, None)
            else:
                self._recent[key] = previous
        self._undo.clear()

    def indexed(self) -> None:
        """The rows noted so far are in ``by_body`` now: the table answers for them."""
        self._recent.clear()


class EarlierAttempt(NamedTuple):
    id: int
    received_us: int
    response_status: int
    attempt: int


def earlier_attempt(conn: sqlite3.Connection, row_id: int) -> EarlierAttempt | None:
    """The attempt just before row ``row_id`` of the same payload, if it is a retry."""
    row = conn.execute("SELECT body_hash, attempt FROM requests WHERE id = ?", (row_id,)).fetchone()
    if row is None or row[0] is None or (row[1] or 1) < 2:
        return None
    found = conn.execute(
        "SELECT id, received_us, response_status, attempt FROM requests WHERE id IN ("
        "SELECT id FROM by_body WHERE body_hash = ?1 AND id < ?2 UNION ALL "
        "SELECT id FROM requests WHERE id > (SELECT CAST(value AS INTEGER) FROM meta "
        "WHERE key = 'indexed_upto') AND id < ?2 AND body_hash = ?1) ORDER BY id DESC LIMIT 1",
        (row[0], row_id),
    ).fetchone()
    return EarlierAttempt(*found) if found else None
