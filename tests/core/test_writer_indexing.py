"""The writer fills the lookup tables and the text index after acknowledging requests."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

from tests.core.httpraw import send
from tests.factories import fts_rowids

_JSON = [("Content-Type", "application/json")]


def _status(message_id: str, status: str, word: str) -> bytes:
    payload = {"id": message_id, "channel": "whatsapp", "status": status, "note": word}
    return json.dumps({"event": "whatsapp:message:status", "payload": payload}).encode()


def _index_state(conn: sqlite3.Connection) -> tuple[int, int]:
    upto = int(conn.execute("SELECT value FROM meta WHERE key = 'indexed_upto'").fetchone()[0])
    last = int(conn.execute("SELECT coalesce(max(id), 0) FROM requests").fetchone()[0])
    return upto, last


def _wait_indexed(conn: sqlite3.Connection, rows: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        upto, last = _index_state(conn)
        if last >= rows and upto == last:
            return
        time.sleep(0.02)
    raise AssertionError(f"indexing stalled at {_index_state(conn)} for {rows} rows")


def test_committed_rows_are_indexed_once_traffic_pauses(engine) -> None:
    for i in range(12):
        status = "delivered" if i % 3 else "failed"
        resp = send(engine.url, "POST", "/hooks", _JSON, _status(f"m-{i % 4}", status, f"w{i}"))
        assert resp.status == 200
    conn = engine.store.open_reader()
    try:
        _wait_indexed(conn, 12)
        by_message = conn.execute(
            "SELECT id FROM by_message WHERE message_id = 'm-1' ORDER BY id"
        ).fetchall()
        assert [r[0] for r in by_message] == [2, 6, 10]
        assert conn.execute(
            "SELECT count(*) FROM by_class WHERE status_class = 'failure'"
        ).fetchone() == (4,)
        assert conn.execute(
            "SELECT count(*) FROM by_event WHERE event = 'whatsapp:message:status'"
        ).fetchone() == (12,)
        assert fts_rowids(conn, "w7") == [8]
    finally:
        conn.close()


def test_a_new_writer_indexes_the_text_a_killed_one_had_not(engine) -> None:
    committer = engine._committer
    first = committer._proc.pid
    for i in range(5):
        assert (
            send(engine.url, "POST", "/hooks", _JSON, _status("k", "sent", f"early{i}")).status
            == 200
        )
    # Killed right after the acknowledgements: its index run waits for a 50 ms lull.
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        resp = send(engine.url, "POST", "/hooks", _JSON, _status("k", "read", "late"))
        if resp.status == 200 and committer._proc.pid != first:
            break
        time.sleep(0.05)
    conn = engine.store.open_reader()
    try:
        _wait_indexed(conn, 6)
        for i in range(5):
            assert fts_rowids(conn, f"early{i}") == [i + 1]
    finally:
        conn.close()
