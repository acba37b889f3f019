"""Too many open files (issue 9, item 15): the soft limit is raised to the hard one, running
out is said once, and the connections already open are still served."""

from __future__ import annotations

import http.client
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from inspector.core.session.store import open_existing


def capture_with_limit(session: Path, soft: int, hard: int) -> tuple[subprocess.Popen[str], int]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    preexec: Callable[[], None] = limit
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", "capture", "--port", "0", "--session", str(session)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("Listening on "), line
    return proc, int(line.strip().rsplit(":", 1)[1].rstrip("/"))


def post(conn: http.client.HTTPConnection, path: str) -> int:
    conn.request("POST", path, body=b"{}")
    resp = conn.getresponse()
    resp.read()
    return resp.status


def test_the_soft_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    proc, _ = capture_with_limit(tmp_path / "r.whsession", 64, 2048)
    try:
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    [row] = [r for r in limits.splitlines() if r.startswith("Max open files")]
    assert row.split()[3:5] == ["2048", "2048"], row


def test_out_of_descriptors_is_said_once_and_open_connections_are_served(
    tmp_path: Path,
) -> None:
    session = tmp_path / "fd.whsession"
    proc, port = capture_with_limit(session, 64, 64)  # the hard limit is low too
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    crowd: list[socket.socket] = []
    try:
        assert post(kept, "/before") == 200
        for _ in range(150):
            try:
                crowd.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
            except OSError:
                pass  # refused or left waiting: the listener is out of descriptors
        time.sleep(1.5)  # asyncio retries accept() every second
        t0 = time.monotonic()
        assert post(kept, "/kept") == 200  # a connection it has is still served
        assert time.monotonic() - t0 < 1.0
        for s in crowd:
            s.close()
        crowd.clear()
        # New connections are taken again once the listener has seen some close (it
        # learns of each close when it reads the end of that connection: a moment).
        deadline = time.monotonic() + 5
        while True:
            fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                assert post(fresh, "/after") == 200
                break
            except ConnectionError:
                assert time.monotonic() < deadline, "new connections still refused after 5 s"
                time.sleep(0.1)
            finally:
                fresh.close()
    finally:
        for s in crowd:
            s.close()
        kept.close()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err[:3000]
    told = [line for line in err.splitlines() if "too many open files" in line]
    assert len(told) == 1, err[:3000]
    assert "limit 64" in told[0] and "still served" in told[0]
    conn = open_existing(session)
    try:
        paths = [r[0] for r in conn.execute("SELECT path FROM requests ORDER BY id")]
    finally:
        conn.close()
    assert paths == ["/before", "/kept", "/after"]
