"""The writer under hostile rows and a hostile machine.

One request that SQLite refuses must not fail the requests committed with it; a full
disk is one clear state (not thousands of lines), answered 503 and left by itself; a
decoder that runs long is cut short; a writer that cannot be restarted is retried while
requests are answered 503, never left hanging.
"""

from __future__ import annotations

import pickle
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import inspector.core.capture.writer as writer
from inspector.core.capture.writer import _Committer, decode_bounded
from inspector.core.provider.decoder import DecodedEvent, EventDecoder
from inspector.core.session.store import SessionStore, _connect, commit_batch, get_request
from tests.core.httpraw import send
from tests.factories import captured_request


class _Chan:
    """Stands in for the socket to the parent: keeps every answer."""

    def __init__(self) -> None:
        self.replies: list[tuple[Any, ...]] = []

    def send(self, data: bytes) -> None:
        self.replies.append(pickle.loads(data))


def _decoded(seq: int, **fields: Any) -> tuple[Any, DecodedEvent]:
    req = captured_request("/", seq=seq, body=b'{"n": %d}' % seq)
    dec = DecodedEvent(event="sms:message:status", message_id=f"m{seq}")
    for k, v in fields.items():
        setattr(dec, k, v)
    return req, dec


def _answered(replies: list[tuple[Any, ...]]) -> list[str]:
    """One outcome per request, in order: "ok" or the error text."""
    out: list[str] = []
    for kind, *rest in replies:
        if kind == "ok":
            out.extend("ok" for _ in rest[0])
        else:
            out.extend(rest[1] for _ in range(rest[0]))
    return out


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    s = SessionStore(tmp_path / "w.whsession")
    yield s
    s.close()


# -- 1. one bad row ---------------------------------------------------------------------


def test_a_row_sqlite_refuses_does_not_fail_its_neighbours(store: SessionStore) -> None:
    db = _connect(store.path, readonly=False)
    chan = _Chan()
    committer = _Committer(db, chan, None, True)  # type: ignore[arg-type]
    chunk = [_decoded(1), _decoded(2, message_id="bad\ud800", to="91\udfff"), _decoded(3)]
    committer.commit(chunk)
    assert _answered(chan.replies) == ["ok", "ok", "ok"], chan.replies
    ids = [rid for kind, rows, *_ in chan.replies for rid, *_ in rows]
    bad = get_request(db, ids[1])
    assert bad is not None
    assert bad.message_id == "bad\\ud800" and bad.to_addr == "91\\udfff"
    assert any("stored with the unstorable text escaped" in w for w in bad.warnings)
    assert bad.body == chunk[1][0].body  # the bytes as sent
    assert [get_request(db, i).message_id for i in (ids[0], ids[2])] == ["m1", "m3"]  # type: ignore[union-attr]
    db.close()


def test_surrogates_in_headers_and_an_oversized_length_are_stored_safely(
    store: SessionStore,
) -> None:
    db = _connect(store.path, readonly=False)
    chan = _Chan()
    req, dec = _decoded(1)
    req.headers = [("X-Odd", "a\udc80b")]
    req.declared_size = 1 << 70
    _Committer(db, chan, None, True).commit([(req, dec), _decoded(2)])  # type: ignore[arg-type]
    assert _answered(chan.replies) == ["ok", "ok"]
    stored = get_request(db, chan.replies[0][1][0][0])
    assert stored is not None and stored.headers == [("X-Odd", "a\\udc80b")]
    assert stored.declared_size is None
    db.close()


def test_surrogate_body_among_concurrent_innocents_over_http(engine) -> None:  # noqa: ANN001
    bad = b'{"event": "whatsapp:message:status", "payload": {"id": "\\ud800", "status": "read"}}'
    good = b'{"event": "whatsapp:message:status", "payload": {"id": "ok", "status": "read"}}'
    statuses: dict[int, int] = {}

    def post(i: int) -> None:
        body = bad if i % 10 == 0 else good
        statuses[i] = send(engine.url, "POST", f"/r/{i}", [], body).status

    threads = [threading.Thread(target=post, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(statuses.values())) == [200], statuses
    conn = engine.store.open_reader()
    rows = conn.execute("SELECT message_id, warnings FROM requests").fetchall()
    conn.close()
    assert len(rows) == 60
    flagged = [r for r in rows if r[0] == "\\ud800"]
    assert len(flagged) == 6 and all("surrogate" in r[1] for r in flagged)


# -- 14. disk full ----------------------------------------------------------------------


def _fill(db: sqlite3.Connection) -> int:
    """Let the database grow no further (SQLite's page cap: a full disk, for SQLite)."""
    pages = int(db.execute("PRAGMA page_count").fetchone()[0])
    db.execute(f"PRAGMA max_page_count = {pages}")
    return pages


def test_a_full_database_keeps_its_real_error_not_cannot_rollback(store: SessionStore) -> None:
    db = _connect(store.path, readonly=False)
    _fill(db)
    big = [(captured_request("/", seq=i, body=b"x" * 200_000), DecodedEvent()) for i in range(3)]
    with pytest.raises(sqlite3.OperationalError) as raised:
        commit_batch(db, big)
    assert "full" in str(raised.value), raised.value
    assert not db.in_transaction
    db.close()


def test_disk_full_answers_each_request_with_the_cause_and_recovers(store: SessionStore) -> None:
    db = _connect(store.path, readonly=False)
    pages = _fill(db)
    chan = _Chan()
    committer = _Committer(db, chan, None, True)  # type: ignore[arg-type]
    big = [(captured_request("/", seq=i, body=b"x" * 200_000), DecodedEvent()) for i in range(4)]
    committer.commit(big)
    # One answer for the whole chunk (no row-by-row retries against a full disk).
    assert len(chan.replies) == 1 and chan.replies[0][:2] == ("error", 4)
    assert chan.replies[0][2].startswith("disk full: "), chan.replies[0]
    db.execute(f"PRAGMA max_page_count = {pages * 100}")  # space is back
    committer.commit(big[:2])
    assert _answered(chan.replies[1:]) == ["ok", "ok"]
    db.close()


# -- 2. a decoder that runs long --------------------------------------------------------


def test_decoding_is_cut_short_at_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    monkeypatch.setattr(writer, "DECODE_TIME_LIMIT", 0.2)
    previous = signal.signal(signal.SIGALRM, writer._on_alarm)
    decoder = EventDecoder()

    def endless(*args: Any) -> DecodedEvent:
        while True:
            sum(range(1000))

    monkeypatch.setattr(decoder, "decode", endless)
    try:
        start = time.monotonic()
        out = decode_bounded(decoder, captured_request("/", seq=1, body=b"[" * 5000))
        took = time.monotonic() - start
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert took < 2.0
    assert out.event == "" and "given up" in out.warnings[0]


# -- 8. a writer that cannot be restarted -----------------------------------------------


def test_a_failed_restart_is_retried_and_requests_are_answered_meanwhile(
    engine,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    import os
    import signal

    assert send(engine.url, "POST", "/before", [], b"{}").status == 200
    real = socket.socketpair
    failing = threading.Event()
    failing.set()

    def socketpair(*args: Any) -> Any:
        if failing.is_set():
            raise OSError(24, "Too many open files")
        return real(*args)

    monkeypatch.setattr(writer.socket, "socketpair", socketpair)
    os.kill(engine._committer._proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    resp = None
    while time.monotonic() < deadline:
        # Answered, not left hanging (a timeout here raises): 503, naming the cause.
        resp = send(engine.url, "POST", "/during", [], b"{}", timeout=5)
        assert resp.status == 503
        if b"Too many open files" in resp.body:
            break
        time.sleep(0.05)
    assert resp is not None and b"Too many open files" in resp.body, resp
    assert "could not be restarted" in (engine.recording_trouble or "")
    assert engine.recording_problem is None  # not given up: retried

    failing.clear()  # the pressure ends
    deadline = time.monotonic() + 15
    status = 0
    while time.monotonic() < deadline:
        status = send(engine.url, "POST", "/after", [], b"{}", timeout=5).status
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200
    assert engine.recording_trouble is None


def test_indexing_that_fails_on_a_full_disk_is_retried_once_there_is_room(
    store: SessionStore,
) -> None:
    db = _connect(store.path, readonly=False)
    chan = _Chan()
    committer = _Committer(db, chan, None, True)  # type: ignore[arg-type]
    words = " ".join(f"w{i}" for i in range(40_000)).encode()
    committer.commit([(captured_request("/", words, seq=i), DecodedEvent()) for i in (1, 2)])
    assert committer.waiting == 2
    pages = _fill(db)
    committer.index()
    upto = "SELECT value FROM meta WHERE key = 'indexed_upto'"
    assert db.execute(upto).fetchone()[0] == "0"
    assert committer.waiting == 2  # kept for later, not dropped
    db.execute(f"PRAGMA max_page_count = {pages * 100}")
    committer.index()
    assert db.execute(upto).fetchone()[0] == "2" and committer.waiting == 0
    hits = db.execute("SELECT rowid FROM requests_fts WHERE requests_fts MATCH 'w39999'")
    assert sorted(r[0] for r in hits) == [1, 2]
    db.close()
