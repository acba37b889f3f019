"""Session file format: versioned, recognisable, reopenable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inspector.core.decoder import DecodedEvent
from inspector.core.record import CapturedRequest, rfc3339_from_us
from inspector.core.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    SessionError,
    SessionStore,
    iter_requests,
)
from tests.factories import captured_request


def rec(seq: int, body: bytes = b"{}") -> CapturedRequest:
    return captured_request(
        "/p", body, seq=seq, received_us=1_700_000_000_000_000 + seq, headers=[("A", "1")]
    )


def test_new_file_is_wal_versioned_and_marked(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "a.whsession")
    store.close()
    conn = sqlite3.connect(tmp_path / "a.whsession")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


def test_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "n.whsession"
    SessionStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SessionError, match="newer Webhook Inspector"):
        SessionStore(path)


def test_append_notifies_listeners_after_commit(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "l.whsession")
    seen: list[int] = []

    def listener(rows) -> None:
        reader = store.open_reader()
        n = reader.execute("SELECT count(*) FROM requests").fetchone()[0]
        reader.close()
        seen.append(n)
        assert n == rows[-1].id, "rows must be visible to other connections when announced"

    store.add_append_listener(listener)
    store.append([(rec(1), DecodedEvent(event="sms:message:status")), (rec(2), DecodedEvent())])
    store.append([(rec(3), DecodedEvent())])
    assert seen == [2, 3]
    conn = store.open_reader()
    assert [r.seq for r in iter_requests(conn, batch=2)] == [1, 2, 3]
    hits = conn.execute(
        "SELECT rowid FROM requests_fts WHERE requests_fts MATCH 'delivrd'"
    ).fetchall()
    conn.close()
    store.close()
    assert hits == []


def test_body_text_is_full_text_indexed(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "f.whsession")
    store.append(
        [
            (rec(1, b'{"status": "DELIVRD", "mobile": "918921269000"}'), DecodedEvent()),
            (rec(2, b"\xff\xfe binary"), DecodedEvent()),
        ]
    )
    conn = store.open_reader()
    hits = conn.execute(
        "SELECT rowid FROM requests_fts WHERE requests_fts MATCH 'delivrd'"
    ).fetchall()
    conn.close()
    store.close()
    assert hits == [(1,)]


def test_rfc3339() -> None:
    assert rfc3339_from_us(1_700_000_000_123_456) == "2023-11-14T22:13:20.123456Z"
    assert rfc3339_from_us(999_999) == "1970-01-01T00:00:00.999999Z"


def test_reopening_indexes_text_a_kill_left_unindexed(tmp_path: Path) -> None:
    from inspector.core.store import commit_batch

    path = tmp_path / "k.whsession"
    store = SessionStore(path)
    commit_batch(store._conn, [(rec(1, b'{"status": "DELIVRD"}'), DecodedEvent())])
    store.close()  # committed, never indexed: as if the writer died right after
    store = SessionStore(path)
    conn = store.open_reader()
    hits = conn.execute("SELECT rowid FROM requests_fts WHERE requests_fts MATCH 'delivrd'").fetchall()
    conn.close()
    store.close()
    assert hits == [(1,)]
