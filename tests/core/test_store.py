"""Session file format: versioned, recognisable, reopenable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inspector.core.provider.decoder import DecodedEvent
from inspector.core.session.record import CapturedRequest, rfc3339_from_us
from inspector.core.session.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    SessionError,
    SessionStore,
    iter_requests,
)
from tests.factories import captured_request, fts_rowids


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
    hits = fts_rowids(conn, "delivrd")
    conn.close()
    store.close()
    assert hits == [1]


def test_rfc3339() -> None:
    assert rfc3339_from_us(1_700_000_000_123_456) == "2023-11-14T22:13:20.123456Z"
    assert rfc3339_from_us(999_999) == "1970-01-01T00:00:00.999999Z"


def test_reopening_indexes_text_a_kill_left_unindexed(tmp_path: Path) -> None:
    from inspector.core.session.store import commit_batch

    path = tmp_path / "k.whsession"
    store = SessionStore(path)
    commit_batch(store._conn, [(rec(1, b'{"status": "DELIVRD"}'), DecodedEvent())])
    store.close()  # committed, never indexed: as if the writer died right after
    store = SessionStore(path)
    conn = store.open_reader()
    hits = fts_rowids(conn, "delivrd")
    conn.close()
    store.close()
    assert hits == [1]


#: Schema 1 as earlier versions wrote it: SQL indexes on ``requests``, text indexed up to fts_upto.
_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE requests (
    id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, received_us INTEGER NOT NULL,
    method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL, event TEXT NOT NULL,
    product TEXT NOT NULL, status TEXT NOT NULL, status_class TEXT NOT NULL,
    message_id TEXT NOT NULL, from_addr TEXT NOT NULL, to_addr TEXT NOT NULL,
    summary TEXT NOT NULL, body_size INTEGER NOT NULL, warning_count INTEGER NOT NULL,
    response_status INTEGER NOT NULL, via_tunnel INTEGER NOT NULL, client_addr TEXT NOT NULL,
    remote TEXT NOT NULL, http_version TEXT NOT NULL, declared_size INTEGER,
    content_type TEXT NOT NULL, warnings TEXT NOT NULL
);
CREATE TABLE request_data (
    id INTEGER PRIMARY KEY REFERENCES requests(id), headers TEXT NOT NULL, body BLOB NOT NULL,
    response_headers TEXT NOT NULL, response_body BLOB NOT NULL
);
CREATE INDEX requests_event ON requests(event);
CREATE INDEX requests_status_class ON requests(status_class);
CREATE INDEX requests_message_id ON requests(message_id);
CREATE VIRTUAL TABLE requests_fts USING fts5(
    body, content='', tokenize="unicode61 remove_diacritics 2 tokenchars '_'"
);
INSERT INTO meta(key, value) VALUES ('fts_upto', '0');
"""


def test_a_schema_1_session_is_upgraded_and_keeps_every_row(tmp_path: Path) -> None:
    from inspector.core.session.query import compile_query, count_matching, register_functions
    from inspector.core.session.timeline import requests_for_message

    path = tmp_path / "old.whsession"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(
        f"BEGIN; {_SCHEMA_1} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;"
        " COMMIT;"
    )
    bodies = [
        (1, "whatsapp:message:status", "failure", "m-1", b'{"status": "failed"}'),
        (2, "whatsapp:message:status", "success", "m-1", b'{"status": "delivered"}'),
        (3, "sms:message:status", "success", "s-9", b'{"status": "DELIVRD"}'),
    ]
    for rid, event, cls, mid, body in bodies:
        old.execute(
            "INSERT INTO requests VALUES (?, ?, 0, 'POST', '/', '', ?, '', '', ?, ?, '', '', '',"
            " ?, 0, 200, 0, '', '127.0.0.1', '1.1', NULL, '', '[]')",
            (rid, rid, event, cls, mid, len(body)),
        )
        old.execute("INSERT INTO request_data VALUES (?, '[]', ?, '[]', x'')", (rid, body))
    # Rows 1-2 were text-indexed before the old writer stopped; row 3 was not.
    old.executemany(
        "INSERT INTO requests_fts(rowid, body) VALUES (?, ?)",
        [(rid, body.decode()) for rid, _, _, _, body in bodies[:2]],
    )
    old.execute("UPDATE meta SET value = '2' WHERE key = 'fts_upto'")
    old.close()

    SessionStore(path).close()

    conn = sqlite3.connect(path)
    register_functions(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert not indexes & {"requests_event", "requests_status_class", "requests_message_id"}
    assert conn.execute("SELECT value FROM meta WHERE key = 'indexed_upto'").fetchone() == ("3",)
    assert conn.execute("SELECT count(*) FROM by_event").fetchone() == (3,)

    def count(text: str) -> int:
        return count_matching(conn, compile_query(text))

    assert count("") == 3
    assert count("event:whatsapp:message:status") == 2
    assert count("class:success") == 2
    assert count("id:s-") == 1
    assert count("delivrd") == 1  # row 3, indexed by the upgrade's catch-up
    assert count("failed") == 1  # row 1, indexed under schema 1
    assert [r.id for r in requests_for_message(conn, "m-1")] == [1, 2]
    conn.close()
