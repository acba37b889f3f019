"""Test data built the way the listener builds it: captured requests, decoded, stored.

One place for the fields a test does not care about, so each test names only what it does.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from inspector.core.capture.engine import CaptureEngine
from inspector.core.provider.decoder import EventDecoder
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import RowSummary, SessionStore, StoredRequest

JSON_HEADERS = [("Content-Type", "application/json")]


def captured_request(
    path: str,
    body: bytes,
    *,
    seq: int,
    method: str = "POST",
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    received_us: int | None = None,
    http_version: str = "1.1",
    remote: str = "127.0.0.1",
    response_headers: list[tuple[str, str]] | None = None,
) -> CapturedRequest:
    """A request as the listener records it; received now, with a JSON content type."""
    extra: dict[str, Any] = {}
    if response_headers is not None:
        extra["response_headers"] = response_headers
    return CapturedRequest(
        seq=seq,
        received_us=time.time_ns() // 1000 if received_us is None else received_us,
        method=method,
        path=path,
        query=query,
        http_version=http_version,
        remote=remote,
        headers=list(JSON_HEADERS) if headers is None else headers,
        body=body,
        **extra,
    )


def fts_rowids(conn: sqlite3.Connection, word: str) -> list[int]:
    """Ids of the rows the full-text index itself finds ``word`` in (no scan of newer rows)."""
    sql = "SELECT rowid FROM requests_fts WHERE requests_fts MATCH ? ORDER BY rowid"
    return [r[0] for r in conn.execute(sql, (word,))]


def append_decoded(store: SessionStore, requests: Iterable[CapturedRequest]) -> list[RowSummary]:
    """Store ``requests`` in one batch, each decoded by the real decoder."""
    decoder = EventDecoder()
    return store.append(
        [(r, decoder.decode(r.method, r.path, r.query, r.headers, r.body)) for r in requests]
    )


@contextmanager
def running_engine(
    session_path: Path, *, relay: Callable[[SessionStore], Any] | None = None, **kwargs: Any
) -> Iterator[CaptureEngine]:
    """A capture engine on a free loopback port, recording into a fresh session;
    ``relay`` makes its relay (forwarding to an app) from the session's store."""
    store = SessionStore(session_path)
    if relay is not None:
        kwargs["relay"] = relay(store)
    eng = CaptureEngine(store, host="127.0.0.1", port=0, **kwargs)
    eng.start()
    try:
        yield eng
    finally:
        eng.stop()
        store.close()


def last_stored(engine: CaptureEngine) -> StoredRequest:
    """The newest request the engine's session holds, read back in full."""
    from inspector.core.session.store import get_request

    conn = engine.store.open_reader()
    try:
        rid = conn.execute("SELECT max(id) FROM requests").fetchone()[0]
        stored = get_request(conn, rid)
    finally:
        conn.close()
    assert stored is not None
    return stored


def schema_2_session(path: Path, body: bytes = b"{}") -> None:
    """A session file as schema 2 wrote it (before any upgrade step), holding one SMS
    delivery report: what a user's older session looks like to today's code."""
    from inspector.core.session.store import _SCHEMA, APPLICATION_ID

    old = sqlite3.connect(path, isolation_level=None)
    try:
        old.executescript(
            f"BEGIN; {_SCHEMA} PRAGMA application_id = {APPLICATION_ID}; "
            "PRAGMA user_version = 2; COMMIT;"
        )
        old.execute(
            "INSERT INTO requests VALUES (1, 1, 0, 'POST', '/sms', '', 'sms:message:status',"
            " 'sms', 'DELIVRD', 'success', 'm', '', '', '', ?, 0, 200, 0, '', '127.0.0.1',"
            " '1.1', NULL, 'application/json', '[]')",
            (len(body),),
        )
        old.execute("INSERT INTO request_data VALUES (1, '[]', ?, '[]', x'')", (body,))
    finally:
        old.close()


def frozen_executable(tmp_path: Path, monkeypatch: Any) -> Path:
    """Stand in for a frozen build: ``sys.frozen`` set, and ``sys.executable`` a program
    that, like PyInstaller's, runs the CLI's main with the arguments it is given and
    knows nothing of ``-m``."""
    import sys

    exe = tmp_path / "webhook-inspector"
    exe.write_text(
        "#!/bin/sh\n"
        'case "$1" in -m) echo "no -m in a frozen build" >&2; exit 2;; esac\n'
        f"exec {sys.executable} -c 'import sys; from inspector.cli import main; "
        'sys.exit(main())\' "$@"\n'
    )
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    return exe
