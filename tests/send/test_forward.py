"""Forwarding to the user's app over loopback, with a real aiohttp app as the target."""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from inspector.core.capture.engine import CaptureEngine
from inspector.core.send.app_client import forward_headers, forward_url
from inspector.core.send.relay import Relay
from inspector.core.session.forwards import forwards_for, outbox_size
from inspector.core.session.store import get_request
from tests.factories import running_engine
from tests.send.app import TargetApp, free_port, target_app, wait_for


@contextmanager
def relaying(session: Path, target: str | None, **kwargs: Any) -> Iterator[CaptureEngine]:
    """A capture engine forwarding to ``target`` (retrying quickly)."""
    kwargs.setdefault("retry_delays", (0.05, 0.1, 0.2))
    with running_engine(session, relay=lambda store: Relay(store, target=target, **kwargs)) as eng:
        yield eng


def post(
    url: str, body: bytes, path: str = "/sms", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_forward_url_appends_path_and_query() -> None:
    assert (
        forward_url("http://127.0.0.1:3000", "/whatsapp", "a=1")
        == "http://127.0.0.1:3000/whatsapp?a=1"
    )
    assert (
        forward_url("http://127.0.0.1:3000/hooks/", "/sms", "") == "http://127.0.0.1:3000/hooks/sms"
    )
    assert forward_url("http://h:1/x?k=v", "/sms", "a=1") == "http://h:1/x/sms?k=v&a=1"
    assert forward_url("http://h:1/exact", "/sms", "a=1", exact=True) == "http://h:1/exact"


def test_forward_headers_drop_hop_by_hop_and_add_forwarded() -> None:
    headers = [
        ("Host", "abc.ngrok.app"),
        ("Connection", "keep-alive, X-Secret-Hop"),
        ("X-Secret-Hop", "1"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "3"),
        ("Signature", "abc"),
        ("X-Forwarded-For", "1.2.3.4"),
    ]
    out = forward_headers(
        headers, target="http://127.0.0.1:3000/x", remote="5.6.7.8", proto="https"
    )
    assert out[0] == ("Host", "127.0.0.1:3000")
    names = [k.lower() for k, _ in out]
    assert "connection" not in names and "x-secret-hop" not in names
    assert "transfer-encoding" not in names and "content-length" not in names
    assert ("Signature", "abc") in out
    assert ("X-Forwarded-For", "1.2.3.4, 5.6.7.8") in out
    assert ("X-Forwarded-Host", "abc.ngrok.app") in out
    assert ("X-Forwarded-Proto", "https") in out


def test_forward_keeps_method_headers_exact_body(session_path: Path) -> None:
    body = b'{"a": 1,\n "b": "\xc3\xa9"}  '
    with target_app() as app, relaying(session_path, app.url + "/hooks") as eng:
        status, _, _ = post(eng.url, body, "/whatsapp?x=1", {"Signature": "s1"})
        assert status == 200
        wait_for(lambda: len(app.received) == 1)
        got = app.received[0]
        assert got.method == "POST" and got.path_qs == "/hooks/whatsapp?x=1"
        assert got.body == body
        h = {k.lower(): v for k, v in got.headers}
        assert h["signature"] == "s1" and h["content-type"] == "application/json"
        assert h["host"] == f"127.0.0.1:{app.port}"
        assert h["x-forwarded-for"] == "127.0.0.1"
        assert "user-agent" not in h  # only what the provider sent
        wait_for(lambda: _forwards(eng, 1))
        conn = eng.store.open_reader()
        (rec,) = forwards_for(conn, 1)
        assert rec.answer.status == 200 and rec.answer.body == b'{"ok": true}'
        assert rec.url == app.url + "/hooks/whatsapp?x=1" and rec.attempt == 1
        assert outbox_size(conn) == 0
        conn.close()


def _forwards(eng: CaptureEngine, rid: int) -> int:
    conn = eng.store.open_reader()
    try:
        return len(forwards_for(conn, rid))
    finally:
        conn.close()


@pytest.mark.slow
def test_order_kept_across_1000_requests(session_path: Path) -> None:
    with target_app() as app, relaying(session_path, app.url) as eng:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: post(eng.url, b'{"n":%d}' % i), range(1000)))
        wait_for(lambda: len(app.received) == 1000, 60)
        conn = eng.store.open_reader()
        by_id = [get_request(conn, i).body for i in range(1, 1001)]  # type: ignore[union-attr]
        conn.close()
        assert app.bodies() == by_id  # arrival (row) order, each exactly once
        assert len(set(by_id)) == 1000


def test_app_down_then_up_each_forwarded_once_in_order(session_path: Path) -> None:
    port = free_port()
    with relaying(session_path, f"http://127.0.0.1:{port}") as eng:
        for i in range(30):
            assert post(eng.url, b'{"n":%d}' % i)[0] == 200  # the provider is not kept waiting
        time.sleep(0.4)
        conn = eng.store.open_reader()
        assert outbox_size(conn) == 30
        errors = [f.answer.error for f in forwards_for(conn, 1)]
        conn.close()
        assert errors and all(e.startswith("connection refused") for e in errors)
        status = eng.relay.status()  # type: ignore[union-attr]
        assert status is not None and status.state == "down"
        with target_app(port=port) as app:
            wait_for(lambda: len(app.received) == 30, 30)
            time.sleep(0.3)
            assert app.bodies() == [b'{"n":%d}' % i for i in range(30)]
        conn = eng.store.open_reader()
        assert outbox_size(conn) == 0
        conn.close()


def test_5xx_retried_then_given_up_so_the_outbox_moves_on(session_path: Path) -> None:
    async def answer(request: web.Request, body: bytes) -> web.StreamResponse:
        if body == b"bad":
            return web.Response(status=500, text="boom")
        return web.Response(text="fine")

    with target_app(answer=answer) as app, relaying(session_path, app.url, max_attempts=3) as eng:
        post(eng.url, b"bad")
        post(eng.url, b"good")
        wait_for(lambda: b"good" in app.bodies())
        assert app.bodies() == [b"bad", b"bad", b"bad", b"good"]
        wait_for(lambda: _forwards(eng, 2) == 1)
        conn = eng.store.open_reader()
        attempts = forwards_for(conn, 1)
        assert [f.answer.status for f in attempts] == [500, 500, 500]
        assert [f.attempt for f in attempts] == [1, 2, 3]
        assert conn.execute("SELECT failed FROM app_last WHERE request_id = 1").fetchone()[0] == 1
        conn.close()


def test_pass_through_gives_the_apps_answer(session_path: Path) -> None:
    async def answer(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.Response(status=201, body=b"created!", headers={"X-App": "yes"})

    with (
        target_app(answer=answer) as app,
        relaying(session_path, app.url, mode="pass-through") as eng,
    ):
        status, headers, body = post(eng.url, b"{}")
        assert (status, body, headers.get("X-App")) == (201, b"created!", "yes")
        conn = eng.store.open_reader()
        (rec,) = forwards_for(conn, 1)
        assert rec.given and rec.answer.status == 201
        stored = get_request(conn, 1)
        assert stored is not None and stored.response_status == 201
        assert stored.response_body == b"created!"
        assert outbox_size(conn) == 0  # pass-through does not queue
        conn.close()


def test_pass_through_deadline_answers_504_and_records_it(session_path: Path) -> None:
    async def answer(request: web.Request, body: bytes) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(text="too late")

    with (
        target_app(answer=answer) as app,
        relaying(session_path, app.url, mode="pass-through", deadline=0.5) as eng,
    ):
        started = time.monotonic()
        status, _, body = post(eng.url, b"{}")
        took = time.monotonic() - started
        assert status == 504 and b"did not answer within 0.5 s" in body
        assert took < 2.5
        conn = eng.store.open_reader()
        (rec,) = forwards_for(conn, 1)
        assert rec.answer.error == "timed out after 0.5 s" and rec.answer.status is None
        assert get_request(conn, 1).response_status == 504  # type: ignore[union-attr]
        conn.close()


def test_pass_through_app_down_answers_502(session_path: Path) -> None:
    with relaying(session_path, f"http://127.0.0.1:{free_port()}", mode="pass-through") as eng:
        status, _, body = post(eng.url, b"{}")
        assert status == 502 and b"connection refused" in body


def test_verification_echo_still_answered_in_pass_through(session_path: Path) -> None:
    with target_app() as app, relaying(session_path, app.url, mode="pass-through") as eng:
        status, _, body = post(eng.url, b'{"challenge": "abc123"}', "/hook?token=t")
        assert status == 200 and b"abc123" in body
        wait_for(lambda: len(app.received) == 1)


def test_answers_recorded_in_plain_words(session_path: Path) -> None:
    async def answer(request: web.Request, body: bytes) -> web.StreamResponse:
        if body == b"redirect":
            raise web.HTTPFound("/elsewhere")
        if body == b"big":
            return web.Response(body=b"x" * 5000)
        if body == b"stream":
            resp = web.StreamResponse()
            await resp.prepare(request)
            while True:
                await resp.write(b"more ")
                await asyncio.sleep(0.01)
        return web.Response(text="?")

    with (
        target_app(answer=answer) as app,
        relaying(session_path, app.url, deadline=0.5, max_body=1000, max_attempts=1) as eng,
    ):
        for b in (b"redirect", b"big", b"stream"):
            post(eng.url, b)
        wait_for(lambda: _forwards(eng, 3) == 1)
        conn = eng.store.open_reader()
        (redirect,), (big,), (stream,) = (forwards_for(conn, i) for i in (1, 2, 3))
        conn.close()
        assert redirect.answer.status == 302
        assert ("Location", "/elsewhere") in redirect.answer.headers
        assert len(app.received) >= 3 and app.received[1].path_qs == "/sms"  # not followed
        assert big.answer.status == 200 and big.answer.body_cut and len(big.answer.body) == 1000
        assert stream.answer.status == 200 and stream.answer.body_cut
        assert stream.answer.error == "timed out after 0.5 s while reading the body"


def test_connection_refused_in_plain_words(session_path: Path) -> None:
    port = free_port()
    with relaying(session_path, f"http://127.0.0.1:{port}") as eng:
        post(eng.url, b"{}")
        wait_for(lambda: _forwards(eng, 1) >= 1)
        conn = eng.store.open_reader()
        err = forwards_for(conn, 1)[0].answer.error
        conn.close()
        assert err == f"connection refused by 127.0.0.1:{port}"


def test_garbage_answer_is_recorded_and_does_not_hold_the_outbox(session_path: Path) -> None:
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except TimeoutError:
                continue
            c.recv(65536)
            c.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            c.close()

    t = threading.Thread(target=serve, name="garbage")
    t.start()
    try:
        with relaying(session_path, f"http://127.0.0.1:{port}", max_attempts=2) as eng:
            post(eng.url, b"1")
            post(eng.url, b"2")
            wait_for(lambda: _forwards(eng, 2) == 2)
            conn = eng.store.open_reader()
            errs = [f.answer.error for f in forwards_for(conn, 1)]
            assert outbox_size(conn) == 0
            conn.close()
            assert len(errs) == 2 and all("not valid HTTP" in e for e in errs)
    finally:
        stop.set()
        t.join()
        srv.close()


def test_changing_the_target_sends_waiting_rows_there(session_path: Path) -> None:
    with relaying(session_path, f"http://127.0.0.1:{free_port()}") as eng:
        post(eng.url, b"a")
        with target_app() as app:
            eng.relay.configure(app.url)  # type: ignore[union-attr]
            wait_for(lambda: app.bodies() == [b"a"])


def test_paused_forwarding_queues_and_resumes(session_path: Path) -> None:
    with target_app() as app, relaying(session_path, app.url) as eng:
        relay = eng.relay
        assert relay is not None
        relay.set_paused(True)
        time.sleep(0.1)
        post(eng.url, b"a")
        post(eng.url, b"b")
        time.sleep(0.3)
        assert app.bodies() == []
        assert relay.status().state == "paused"  # type: ignore[union-attr]
        relay.set_paused(False)
        wait_for(lambda: app.bodies() == [b"a", b"b"])


def test_target_app_is_real(session_path: Path) -> None:
    """The helper itself: a plain POST reaches it and is recorded."""
    app = TargetApp().start()
    try:
        assert post(app.url, b"x")[0] == 200
        assert app.bodies() == [b"x"]
    finally:
        app.stop()


def test_forwarding_yields_to_a_flood_of_captures() -> None:
    """Above BUSY_ARRIVALS captures/s forwarding is paced to BUSY_FORWARDS/s; below, not."""
    from inspector.core.send.outbox import OutboxWorker

    async def run() -> tuple[float, float]:
        w = OutboxWorker(None, None, None, None, deadline=1.0)  # type: ignore[arg-type]
        w.busy_forwards = 100.0
        started = time.monotonic()
        for _ in range(5):
            await w._yield_to_capture()  # noqa: SLF001
        calm = time.monotonic() - started
        for i in range(300):  # 300 arrivals at once: far above 1,000/s
            w.arrived(i)
        started = time.monotonic()
        for _ in range(6):
            await w._yield_to_capture()  # noqa: SLF001
        return calm, time.monotonic() - started

    calm, flooded = asyncio.run(run())
    assert calm < 0.01
    assert flooded >= 0.045  # 6 sends at 100/s: at least 5 gaps of 10 ms
