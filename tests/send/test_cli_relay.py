"""``capture --forward-to`` and ``replay`` run as a user would: real subprocesses and sockets."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiohttp import web

from inspector.core.send.replay import sign
from tests.core.test_cli import Capture, cli
from tests.send.app import free_port, target_app, wait_for


def _post(url: str, body: bytes, path: str = "/sms") -> int:
    host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _outbox(session: Path) -> int:
    conn = sqlite3.connect(session)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


def test_kill_9_with_a_full_outbox_then_restart_loses_nothing(tmp_path: Path) -> None:
    session = tmp_path / "s.whsession"
    port = free_port()
    cap = Capture(session, "--forward-to", f"http://127.0.0.1:{port}")
    try:
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(lambda i: _post(cap.url, b'{"n":%d}' % i), range(200)))
        assert statuses == [200] * 200
        assert _outbox(session) == 200
    finally:
        os.kill(cap.proc.pid, signal.SIGKILL)
        cap.proc.communicate(timeout=30)
    conn = sqlite3.connect(session)
    expected = [bytes(b) for (b,) in conn.execute("SELECT body FROM request_data ORDER BY id")]
    conn.close()
    assert len(expected) == 200
    with target_app(port=port) as app:
        cap = Capture(session, "--forward-to", app.url)
        try:
            wait_for(lambda: len(app.received) >= 200, 60)
            wait_for(lambda: _outbox(session) == 0)
        finally:
            out, err = cap.stop()
        assert app.bodies() == expected  # every one, once, in arrival order
    assert cap.proc.returncode == 0, err


def test_kill_9_mid_drain_resends_at_most_the_one_in_flight(tmp_path: Path) -> None:
    session = tmp_path / "s.whsession"

    async def slow(request: web.Request, body: bytes) -> web.StreamResponse:
        await asyncio.sleep(0.02)
        return web.Response(text="ok")

    with target_app(answer=slow) as app:
        cap = Capture(session, "--forward-to", app.url)
        try:
            for i in range(100):
                _post(cap.url, b'{"n":%d}' % i)
            wait_for(lambda: len(app.received) >= 10)
        finally:
            os.kill(cap.proc.pid, signal.SIGKILL)
            cap.proc.communicate(timeout=30)
        assert len(app.received) < 100  # killed with rows still waiting
        cap = Capture(session, "--forward-to", app.url)
        try:
            wait_for(lambda: _outbox(session) == 0, 60)
        finally:
            cap.stop()
        bodies = app.bodies()
    want = [b'{"n":%d}' % i for i in range(100)]
    deduped = [b for i, b in enumerate(bodies) if i == 0 or b != bodies[i - 1]]
    assert deduped == want  # in order; a repeat only of the one in flight at the kill
    assert len(bodies) - len(want) <= 1


def test_capture_says_when_the_app_is_down(tmp_path: Path) -> None:
    cap = Capture(tmp_path / "s.whsession", "--forward-to", f"http://127.0.0.1:{free_port()}")
    try:
        _post(cap.url, b"{}")
        wait_for(lambda: _outbox(tmp_path / "s.whsession") == 1)
        import time

        time.sleep(0.5)
    finally:
        out, err = cap.stop()
    assert "Forwarding to http://127.0.0.1:" in err
    assert "forward: app down: connection refused" in err
    assert "Traceback" not in err


def test_capture_refuses_a_bad_forward_url(tmp_path: Path) -> None:
    r = cli("capture", "--port", "0", "--session", str(tmp_path / "s"), "--forward-to", "ftp://x")
    assert r.returncode != 0
    assert "forward URL must start with http:// or https://" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["inf", "1e400", "7200", "nan", "0"])
def test_deadlines_are_parsed_strictly(tmp_path: Path, value: str) -> None:
    r = cli("capture", "--port", "0", "--session", str(tmp_path / "s.whsession"),
            "--forward-to", "http://127.0.0.1:9/", "--forward-deadline", value)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "--forward-deadline" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "s.whsession").exists()


def _session_with(tmp_path: Path, bodies: list[bytes]) -> Path:
    session = tmp_path / "s.whsession"
    cap = Capture(session)
    try:
        for b in bodies:
            assert _post(cap.url, b, "/whatsapp") == 200
    finally:
        cap.stop()
    return session


def test_replay_cli_prints_a_line_per_request_and_a_summary(tmp_path: Path) -> None:
    session = _session_with(tmp_path, [b'{"n":1}', b'{"n":2}', b'{"n":3}'])
    with target_app() as app:
        r = cli("replay", str(session), "--id", "1", "--id", "3", "--to", app.url + "/in")
        assert r.returncode == 0, r.stderr
        assert app.bodies() == [b'{"n":1}', b'{"n":3}']
        assert [x.path_qs for x in app.received] == ["/in/whatsapp", "/in/whatsapp"]
    lines = r.stdout.splitlines()
    assert lines[0].startswith("#1 -> #4  POST /in/whatsapp  200  ")
    assert lines[1].startswith("#3 -> #5  POST /in/whatsapp  200  ")
    assert lines[2].startswith("replayed 2 of 2 request(s) to http://127.0.0.1:")
    conn = sqlite3.connect(session)
    links = conn.execute("SELECT id, original FROM replays ORDER BY id").fetchall()
    originals = [bytes(b) for (b,) in conn.execute("SELECT body FROM request_data WHERE id <= 3")]
    conn.close()
    assert links == [(4, 1), (5, 3)]
    assert originals == [b'{"n":1}', b'{"n":2}', b'{"n":3}']  # never overwritten


def test_replay_cli_filter_sign_and_failures(tmp_path: Path) -> None:
    session = _session_with(tmp_path, [b'{"n":1}', b'{"n":2}'])
    with target_app() as app:
        r = cli(
            "replay", str(session), "--filter", "method:POST", "--to", app.url, "--sign-key", "k3y"
        )
        assert r.returncode == 0, r.stderr
        for got in app.received:
            sig = dict((k.lower(), v) for k, v in got.headers)["signature"]
            assert sig == sign(got.body, "k3y")
    r = cli("replay", str(session), "--id", "1", "--to", f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 1
    assert "failed: connection refused by 127.0.0.1:" in r.stdout
    assert "0 answered 1xx-3xx, 1 failed" in r.stdout


def test_replay_cli_errors_are_one_line(tmp_path: Path) -> None:
    session = _session_with(tmp_path, [b"{}"])
    for args, text in (
        (["--to", "nope"], "forward URL must start with http"),
        (["--to", "http://127.0.0.1:9", "--filter", "product:zzz"], "bad --filter"),
        (["--to", "http://127.0.0.1:9", "--id", "99"], "no request #99"),
    ):
        r = cli("replay", str(session), *args)
        assert r.returncode != 0 and text in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    r = cli("replay", str(tmp_path / "missing.whsession"), "--to", "http://127.0.0.1:9")
    assert r.returncode != 0 and "no session file" in r.stderr


def test_replay_cli_escapes_payload_text(tmp_path: Path) -> None:
    session = tmp_path / "s.whsession"
    cap = Capture(session)
    try:
        _post(cap.url, b"{}", "/a%1b[31mred")
    finally:
        cap.stop()
    with target_app() as app:
        r = cli("replay", str(session), "--to", app.url)
    assert "\x1b" not in r.stdout
    assert r.returncode == 0


def test_export_carries_forwards_and_replay_of(tmp_path: Path) -> None:
    session = _session_with(tmp_path, [b'{"n":1}'])
    with target_app() as app:
        assert cli("replay", str(session), "--id", "1", "--to", app.url).returncode == 0
    r = cli("export", str(session))
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows[0]["replay_of"] is None and rows[0]["forwards"] == []
    assert rows[1]["replay_of"] == 1
    (fwd,) = rows[1]["forwards"]
    assert set(fwd) == {
        "url",
        "status",
        "headers",
        "body_base64",
        "duration_ms",
        "error",
        "attempt",
        "at",
    }
    assert fwd["status"] == 200 and fwd["error"] is None and fwd["attempt"] == 1
    assert fwd["url"] == app.url + "/whatsapp"
