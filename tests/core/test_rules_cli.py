"""capture --rules as a user runs it: refused mistakes, and kill -9 during delayed answers."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

from tests.core.test_cli import Capture, cli


def test_a_bad_rules_file_is_one_error_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "x"\nrespond = 700\n')
    result = cli("capture", "--port", "0", "--session", str(tmp_path / "s.whsession"),
                 "--rules", str(rules))  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == f"error: {rules}:3: respond: status 700 is outside 100-599\n"
    assert result.stdout == ""
    assert not (tmp_path / "s.whsession").exists()  # refused before anything started


def test_rules_answer_in_capture(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "busy"\npath = "/sms"\nrespond = [503, 200]\n')
    cap = Capture(tmp_path / "s.whsession", "--rules", str(rules))
    try:
        got = []
        for _ in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", cap.port, timeout=5)
            conn.request("POST", "/sms", body=b"{}")
            got.append(conn.getresponse().status)
            conn.close()
    finally:
        _, err = cap.stop()
    assert got == [503, 200, 200]
    assert "Traceback" not in err


def test_kill_9_during_delayed_answers_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Rows are committed before the delay starts: whatever was answered 2xx is on disk,
    and so is every request still waiting for its delayed answer when capture dies."""
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "slow"\nrespond = 200\ndelay = "300ms"\n')
    session = tmp_path / "k.whsession"
    cap = Capture(session, "--rules", str(rules))
    acked: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", cap.port, timeout=5)
        try:
            i = 0
            while not stop.is_set():
                i += 1
                body = json.dumps({"id": f"c{n}-{i}", "mobile": "1", "status": "DELIVRD"})
                try:
                    conn.request("POST", "/sms", body=body.encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
                    resp = conn.getresponse()
                    resp.read()
                except (OSError, http.client.HTTPException):
                    return
                if 200 <= resp.status < 300:
                    with lock:
                        acked.append(f"c{n}-{i}")  # type: ignore[arg-type]
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 64:
                break
        time.sleep(0.01)
    time.sleep(0.15)  # kill in the middle of a round of delays
    os.kill(cap.proc.pid, signal.SIGKILL)
    cap.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    cap.proc.stdout.close()  # type: ignore[union-attr]
    cap.proc.stderr.close()  # type: ignore[union-attr]
    assert len(acked) >= 64, "load did not get going"
    conn = sqlite3.connect(session)
    stored = {json.loads(row[0])["id"] for row in conn.execute("SELECT body FROM request_data")}
    delays = {row[0] for row in conn.execute("SELECT answer_delay_ms FROM requests")}
    conn.close()
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged request(s) lost"
    assert delays == {300}
    # Requests that were waiting out their delay when capture died are kept too.
    assert len(stored) > len(acked)


def test_close_and_hold_print_no_traceback(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nname = "drop"\npath = "/close"\nrespond = "close"\n\n'
        '[[rule]]\nname = "hang"\npath = "/hold"\nrespond = "hold"\n'
    )
    cap = Capture(tmp_path / "s.whsession", "--rules", str(rules))
    try:
        for path in ("/close", "/hold"):
            conn = http.client.HTTPConnection("127.0.0.1", cap.port, timeout=0.5)
            try:
                conn.request("POST", path, body=b"{}")
                conn.getresponse()
            except (OSError, http.client.HTTPException):
                pass  # no response: closed, or given up on
            finally:
                conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", cap.port, timeout=5)
        conn.request("POST", "/ok", body=b"{}")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        out, err = cap.stop()
    assert cap.proc.returncode == 0
    assert "Traceback" not in err and "Error" not in err, err
    assert len(out.splitlines()) == 3
