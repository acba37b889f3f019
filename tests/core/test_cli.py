"""The CLI contract, run as a user would: a real subprocess, real sockets, real files."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from inspector.core.session.store import open_existing
from tests.conftest import CATALOGUE
from tests.core.httpraw import send

EXPORT_KEYS = {
    "id", "seq", "received_at", "method", "path", "query", "headers", "body_text", "body_base64",
    "body_size", "content_type", "response_status", "event", "product", "status", "status_class",
    "message_id", "from", "to", "warnings", "auth", "attempt", "first_id", "verification",
    "forwards", "replay_of",
}


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=timeout
    )


class Capture:
    """``webhook-inspector capture`` in a subprocess, with its URL read from the first line."""

    def __init__(self, session: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "capture", "--port", "0", "--session", str(session),
             *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        self.first_line = self.proc.stdout.readline()
        assert self.first_line.startswith("Listening on http://127.0.0.1:"), self.first_line
        self.url = self.first_line.split(" ", 2)[2].strip()
        self.port = int(self.url.rsplit(":", 1)[1].rstrip("/"))

    def stop(self, sig: int = signal.SIGINT) -> tuple[str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=30)
        return out, err


def test_capture_prints_listening_line_then_one_line_per_event(tmp_path: Path) -> None:
    cap = Capture(tmp_path / "s.whsession")
    try:
        body = (CATALOGUE / "01_sms_message_status.json").read_bytes()
        assert send(cap.url, "POST", "/sms", [("Content-Type", "application/json")], body).status == 200
        wa = (CATALOGUE / "04_whatsapp_message_in_text.json").read_bytes()
        send(cap.url, "POST", "/whatsapp", [("Content-Type", "application/json")], wa)
    finally:
        out, err = cap.stop()
    assert cap.proc.returncode == 0
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert "POST" in lines[0] and "/sms" in lines[0] and "sms:message:status" in lines[0]
    assert "DELIVRD" in lines[0] and "918921269xxx" in lines[0]
    assert "whatsapp:message:in" in lines[1] and "inbound" in lines[1]
    assert '"This is a simple text' in lines[1]
    assert "Traceback" not in err
    assert "2 request(s)" in err


def test_a_line_is_printed_while_capture_runs_not_only_at_the_end(tmp_path: Path) -> None:
    """Lines wait for the writer to be idle (or 100 ms under load); traffic that simply
    stops must not leave the last ones unprinted until Ctrl-C."""
    import queue
    import threading

    cap = Capture(tmp_path / "l.whsession")
    lines: queue.Queue[str] = queue.Queue()
    assert cap.proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in cap.proc.stdout], daemon=True)
    reader.start()
    try:
        for path in ("/first", "/second"):
            assert send(cap.url, "POST", path, [], b"{}").status == 200
            line = lines.get(timeout=10)
            assert line.split()[1:3] == ["POST", path], line
    finally:
        cap.stop()
        reader.join(10)


def test_sigterm_stops_cleanly_and_keeps_everything(tmp_path: Path) -> None:
    session = tmp_path / "t.whsession"
    cap = Capture(session)
    for i in range(20):
        send(cap.url, "POST", f"/r{i}", [], b"{}")
    _, err = cap.stop(signal.SIGTERM)
    assert cap.proc.returncode == 0, err
    conn = open_existing(session)
    assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 20
    conn.close()


def test_kill_9_loses_no_acknowledged_request(tmp_path: Path) -> None:
    session = tmp_path / "k.whsession"
    cap = Capture(session)
    acked: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", cap.port, timeout=5)
        try:
            while not stop.is_set():
                try:
                    conn.request("POST", "/sms",
                                 body=b'{"id": "x", "mobile": "1", "status": "DELIVRD"}',
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException):
                    return
                if 200 <= resp.status < 300:
                    with lock:
                        acked.append(json.loads(data)["seq"])
        finally:
            # The listener is killed under this connection; close it here rather than leave
            # the socket to the garbage collector (an unraisable ResourceWarning).
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 300:
                break
        time.sleep(0.01)
    os.kill(cap.proc.pid, signal.SIGKILL)
    cap.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    cap.proc.stdout.close()  # type: ignore[union-attr]
    cap.proc.stderr.close()  # type: ignore[union-attr]
    assert len(acked) >= 300, "load did not get going"
    conn = sqlite3.connect(session)
    stored = {row[0] for row in conn.execute("SELECT seq FROM requests")}
    conn.close()
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged request(s) lost, e.g. {sorted(missing)[:5]}"


def test_export_jsonl_contract(tmp_path: Path) -> None:
    session = tmp_path / "e.whsession"
    cap = Capture(session)
    body = (CATALOGUE / "11_voice_message_out.json").read_bytes()
    send(cap.url, "POST", "/voice?x=1", [("Content-Type", "application/json"), ("X-A", "1"),
                                        ("X-A", "2")], body)
    send(cap.url, "POST", "/bin", [("Content-Type", "application/octet-stream")], b"\xff\x00\xfe")
    cap.stop()
    res = cli("export", str(session), "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 2
    first, second = rows
    assert set(first) == EXPORT_KEYS
    assert first["seq"] == 1 and first["id"] == 1
    assert first["received_at"].endswith("Z") and "T" in first["received_at"]
    assert (first["method"], first["path"], first["query"]) == ("POST", "/voice", "x=1")
    assert ["X-A", "1"] in first["headers"] and ["X-A", "2"] in first["headers"]
    assert first["body_text"] == body.decode()
    assert base64.b64decode(first["body_base64"]) == body
    assert first["body_size"] == len(body)
    assert first["content_type"] == "application/json"
    assert first["response_status"] == 200
    assert (first["event"], first["product"], first["status"], first["status_class"]) == (
        "voice:message:out", "voice", "ANSWER", "success")
    assert (first["message_id"], first["from"], first["to"]) == (
        "1234-1333-XXXXX", "918919521234", "918867131234")
    assert any("trailing comma" in w for w in first["warnings"])
    assert second["body_text"] is None
    assert base64.b64decode(second["body_base64"]) == b"\xff\x00\xfe"

    out = tmp_path / "out.jsonl"
    res = cli("export", str(session), "--format", "jsonl", "-o", str(out))
    assert res.returncode == 0
    assert out.read_text().splitlines() == [json.dumps(r, ensure_ascii=False) for r in rows]


def test_events_lists_the_catalogue() -> None:
    res = cli("events")
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert len(lines) == 16
    assert any(line.split()[:2] == ["WhatsApp", "whatsapp:message:status"] for line in lines)
    assert any(line.split()[:2] == ["Webhook", "webhook:verification"] for line in lines)
    assert any("contacts:subscriber:subscription" in line for line in lines)


def one_line_error(res: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_port_in_use(tmp_path: Path) -> None:
    cap = Capture(tmp_path / "a.whsession")
    try:
        res = cli("capture", "--port", str(cap.port), "--session", str(tmp_path / "b.whsession"))
    finally:
        cap.stop()
    one_line_error(res, "already in use", str(cap.port))


def test_unwritable_session_path(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            target = "/proc/webhook-inspector/session.whsession"
        else:
            target = str(locked / "s.whsession")
        res = cli("capture", "--port", "0", "--session", target)
    finally:
        locked.chmod(0o700)
    one_line_error(res, "error:")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"this is not a database at all" * 100, "not a readable session file"),
     (None, "not a Webhook Inspector session")],
    ids=["garbage", "foreign-sqlite"],
)
def test_corrupt_session_file(tmp_path: Path, content: bytes | None, fragment: str) -> None:
    path = tmp_path / "bad.whsession"
    if content is None:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE t(x)")
        conn.commit()
        conn.close()
    else:
        path.write_bytes(content)
    one_line_error(cli("capture", "--port", "0", "--session", str(path)), fragment)
    one_line_error(cli("export", str(path), "--format", "jsonl"), fragment)


def test_export_of_missing_file() -> None:
    one_line_error(cli("export", "/nonexistent/x.whsession"), "no session file")


def test_default_session_goes_to_the_data_folder(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", "capture", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    data = Path(os.environ["WEBHOOK_INSPECTOR_DATA_DIR"]) / "sessions"
    files = list(data.glob("*.whsession"))
    assert len(files) == 1, err
    assert str(files[0]) in err


def test_a_malformed_request_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    import socket

    cap = Capture(tmp_path / "m.whsession")
    try:
        with socket.create_connection(("127.0.0.1", cap.port), timeout=5) as sock:
            sock.sendall(b"GET /x HTTP/1.1\r\n\r\n")
            assert b" 400 " in sock.recv(100)
        time.sleep(0.3)
    finally:
        out, err = cap.stop()
    assert "Traceback" not in err, err
    lines = out.splitlines()
    assert len(lines) == 1 and "[400]" in lines[0] and "(1 warning)" in lines[0], out
