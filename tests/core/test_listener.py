"""The listener over real loopback sockets: exact bytes kept, bad input recorded, nothing refused."""

from __future__ import annotations

import gzip
import json
import socket
import time

import pytest

from inspector.core.capture.engine import CaptureEngine
from inspector.core.session.store import SessionStore
from tests.conftest import CATALOGUE
from tests.core.httpraw import send


def only(engine):
    assert engine.store.count() == 1
    stored = engine.store.get(1)
    assert stored is not None
    return stored


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "REPORT"])
def test_any_method_any_path_is_answered_and_recorded(engine, method: str) -> None:
    resp = send(engine.url, method, "/deep/path/x.php?a=1&a=2&b=%20")
    assert resp.status == 200
    assert json.loads(resp.body) == {"ok": True, "seq": 1}
    stored = only(engine)
    assert (stored.method, stored.path, stored.query) == (method, "/deep/path/x.php", "a=1&a=2&b=%20")
    assert stored.http_version == "1.1"
    assert stored.remote == "127.0.0.1"
    assert stored.response_status == 200


def test_headers_keep_order_case_and_duplicates(engine) -> None:
    headers = [("X-Trace", "1"), ("x-trace", "2"), ("X-Signature", "abc=="), ("X-TRACE", "3")]
    send(engine.url, "POST", "/h", headers, b"{}")
    stored = only(engine)
    sent = [h for h in stored.headers if h[0].lower() in ("x-trace", "x-signature")]
    assert sent == headers


def test_thousand_headers_are_recorded(engine) -> None:
    headers = [(f"X-H{i}", f"v{i}") for i in range(1000)]
    resp = send(engine.url, "POST", "/many", headers, b"{}")
    assert resp.status == 200
    stored = only(engine)
    assert sum(1 for k, _ in stored.headers if k.startswith("X-H")) == 1000


@pytest.mark.parametrize(
    ("body", "ctype", "warning"),
    [
        (b"this is not json", "application/json", "not valid JSON"),
        (bytes(range(256)), "application/octet-stream", "not valid UTF-8"),
        (b'{"text": "caf\xe9"}', "application/json", "not valid UTF-8"),
        (b"[" * 10_000 + b"]" * 10_000, "application/json", "nested too deeply"),
    ],
    ids=["not-json", "binary", "invalid-utf8", "deep-nesting"],
)
def test_bad_bodies_are_recorded_exactly_and_flagged(engine, body: bytes, ctype: str, warning: str) -> None:
    resp = send(engine.url, "POST", "/bad", [("Content-Type", ctype)], body)
    assert resp.status == 200
    stored = only(engine)
    assert stored.body == body
    assert stored.event == ""
    assert any(warning in w for w in stored.warnings), stored.warnings


def test_empty_body(engine) -> None:
    resp = send(engine.url, "POST", "/empty", [("Content-Type", "application/json")], b"")
    assert resp.status == 200
    stored = only(engine)
    assert stored.body == b"" and stored.body_size == 0


def test_gzip_body_is_stored_raw_and_decoded(engine) -> None:
    payload = json.dumps({"event": "rcs:message:status", "payload": {"id": "g1", "status": "read"}})
    packed = gzip.compress(payload.encode())
    send(engine.url, "POST", "/rcs", [("Content-Type", "application/json"),
                                      ("Content-Encoding", "gzip")], packed)
    stored = only(engine)
    assert stored.body == packed, "stored bytes must be what was sent, not decompressed"
    assert (stored.event, stored.message_id, stored.status_class) == (
        "rcs:message:status", "g1", "success")


def test_declared_body_over_limit_gets_413_and_is_recorded(session_path) -> None:
    store = SessionStore(session_path)
    eng = CaptureEngine(store, port=0, max_body=1000)
    eng.start()
    try:
        resp = send(eng.url, "POST", "/big", [("Content-Type", "application/json"),
                                             ("X-Keep", "me")], b"x" * 5000)
        assert resp.status == 413
        stored = store.get(1)
        assert stored is not None
        assert stored.response_status == 413
        assert stored.declared_size == 5000
        assert stored.body == b""
        assert ("X-Keep", "me") in stored.headers
        assert any("over the 1000 bytes limit" in w for w in stored.warnings), stored.warnings
    finally:
        eng.stop()
        store.close()


def test_chunked_body_over_limit_gets_413_and_is_recorded(session_path) -> None:
    store = SessionStore(session_path)
    eng = CaptureEngine(store, port=0, max_body=1000)
    eng.start()
    try:
        chunk = b"y" * 600
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
        resp = send(eng.url, "POST", "/chunked", [("Transfer-Encoding", "chunked")], body,
                    content_length=False)
        assert resp.status == 413
        stored = store.get(1)
        assert stored is not None and stored.response_status == 413
        assert stored.declared_size is None
        assert any("passed the 1000 bytes limit" in w for w in stored.warnings), stored.warnings
    finally:
        eng.stop()
        store.close()


def test_default_limit_accepts_a_25_mib_body(engine) -> None:
    body = b'{"blob": "' + b"a" * (25 * 1024 * 1024 - 12) + b'"}'
    assert len(body) == 25 * 1024 * 1024
    resp = send(engine.url, "POST", "/large", [("Content-Type", "application/json")], body, timeout=60)
    assert resp.status == 200
    assert only(engine).body_size == len(body)


def test_slow_client_gets_408_and_partial_body_kept(session_path) -> None:
    store = SessionStore(session_path)
    eng = CaptureEngine(store, port=0, body_timeout=0.5)
    eng.start()
    try:
        with socket.create_connection(("127.0.0.1", eng.port), timeout=5) as sock:
            sock.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
            data = sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 408")
        stored = store.get(1)
        assert stored is not None and stored.body == b"half"
        assert any("answered 408" in w for w in stored.warnings)
    finally:
        eng.stop()
        store.close()


def test_arrival_order_and_timestamps(engine) -> None:
    before = time.time_ns() // 1000
    for i in range(5):
        send(engine.url, "POST", f"/n{i}", [], b"{}")
    after = time.time_ns() // 1000
    conn = engine.store.open_reader()
    rows = conn.execute("SELECT seq, path, received_us FROM requests ORDER BY id").fetchall()
    conn.close()
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert [r[1] for r in rows] == [f"/n{i}" for i in range(5)]
    stamps = [r[2] for r in rows]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after


def test_seq_continues_when_a_session_is_reopened(session_path) -> None:
    for expected in (1, 2):
        store = SessionStore(session_path)
        eng = CaptureEngine(store, port=0)
        eng.start()
        try:
            assert send(eng.url, "POST", "/r", [], b"{}").json()["seq"] == expected
        finally:
            eng.stop()
            store.close()


def test_port_in_use_is_a_clear_error(engine, tmp_path) -> None:
    from inspector.core.capture.engine import ListenError

    store = SessionStore(tmp_path / "second.whsession")
    other = CaptureEngine(store, port=engine.port)
    try:
        with pytest.raises(ListenError, match="already in use"):
            other.start()
    finally:
        other.stop()
        store.close()


def test_ipv6_loopback(tmp_path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    store = SessionStore(tmp_path / "v6.whsession")
    eng = CaptureEngine(store, host="::1", port=0)
    try:
        eng.start()
    except Exception as exc:  # noqa: BLE001
        store.close()
        pytest.skip(f"::1 not available: {exc}")
    try:
        assert eng.url.startswith("http://[::1]:")
        with socket.create_connection(("::1", eng.port), timeout=5) as sock:
            sock.sendall(b"GET /six HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
        stored = store.get(1)
        assert stored is not None and stored.remote == "::1"
    finally:
        eng.stop()
        store.close()


def test_acknowledged_body_is_already_found_by_text_search(engine) -> None:
    """Text indexing trails the acknowledgement; a body search must still find the row."""
    from inspector.core.session.query import compile_query, count_matching, register_functions

    body = (CATALOGUE / "05_whatsapp_message_in_image.json").read_bytes()
    assert send(engine.url, "POST", "/whatsapp", [("Content-Type", "application/json")], body).status == 200
    conn = engine.store.open_reader()
    register_functions(conn)
    try:
        assert count_matching(conn, compile_query("caption")) == 1
        assert count_matching(conn, compile_query('"some caption for image"')) == 1
        assert count_matching(conn, compile_query("captionless")) == 0
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"POST /no-host HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", "Host"),
        (b"THIS IS NOT HTTP\r\n\r\n", ""),
    ],
    ids=["missing-host", "garbage"],
)
def test_requests_the_http_parser_refuses_are_recorded_with_the_reason(
    engine, raw: bytes, reason: str
) -> None:
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as sock:
        sock.sendall(raw)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.0 400"), answer
    deadline = time.monotonic() + 5
    while engine.store.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    stored = only(engine)
    assert stored.response_status == 400
    assert stored.remote == "127.0.0.1"
    assert any("malformed HTTP request" in w and reason in w for w in stored.warnings), stored.warnings
