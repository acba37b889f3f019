"""Header floods (issue 9, item 4): the total size of a request's headers is bounded; past
it the request is answered 431 and still recorded, with what is known and why."""

from __future__ import annotations

import socket
import threading

from tests.core.httpraw import send
from tests.factories import running_engine


def flood(url_port: int, headers: list[tuple[str, str]], path: str = "/flood") -> bytes:
    """Send a request with ``headers`` while reading the answer (the server may answer
    before the client has finished sending); returns the raw answer."""
    head = (
        f"POST {path}?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 2\r\n"
    )
    data = (head + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n{}").encode()
    sock = socket.create_connection(("127.0.0.1", url_port), timeout=20)

    def sender() -> None:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server closed while we sent: fine, it has answered

    t = threading.Thread(target=sender)
    t.start()
    chunks = []
    try:
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        t.join(20)
        sock.close()
    return b"".join(chunks)


def test_headers_past_the_total_are_answered_431_and_recorded(session_path) -> None:
    big = [(f"X-Flood-{i}", "v" * 32_000) for i in range(40)]  # 1.25 MiB in all
    with running_engine(session_path, max_body=1024) as eng:
        answer = flood(eng.port, big)
        assert answer.split(b" ", 2)[1] == b"431", answer[:200]
        # The next request is served as usual.
        assert send(eng.url, "POST", "/after", [], b"{}").status == 200
        eng.store.count()
    from inspector.core.session.store import SessionStore

    store = SessionStore(session_path)
    try:
        first = store.get(1)
        assert first is not None
        assert (first.method, first.path, first.query) == ("POST", "/flood", "x=1")
        assert first.response_status == 431
        assert answer.endswith(first.response_body)
        assert ("Content-Length", "2") in first.headers
        (warning,) = [w for w in first.warnings if "header" in w]
        assert "1.0 MiB" in warning and "431" in warning, warning
        after = store.get(2)
        assert after is not None and after.path == "/after"
    finally:
        store.close()


def test_headers_under_the_total_are_accepted(session_path) -> None:
    near = [(f"X-Big-{i}", "v" * 30_000) for i in range(30)]  # 0.86 MiB in all
    with running_engine(session_path, max_body=1024) as eng:
        answer = flood(eng.port, near)
        assert answer.split(b" ", 2)[1] == b"200", answer[:200]
        stored = eng.store.get(1)
        assert stored is not None
        assert sum(1 for k, _ in stored.headers if k.startswith("X-Big-")) == 30


def test_the_total_is_configurable(session_path) -> None:
    with running_engine(session_path, max_header_bytes=16 << 10) as eng:
        answer = flood(eng.port, [(f"X-{i}", "v" * 1000) for i in range(20)])
        assert answer.split(b" ", 2)[1] == b"431", answer[:200]
        assert send(eng.url, "POST", "/small", [("X-A", "1")], b"{}").status == 200
