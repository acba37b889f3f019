"""A terminal that stops reading (``capture | less``, paused) never holds up recording
(issue 9, item 6): lines are dropped past a bound, and how many is said."""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from inspector.core.session.store import open_existing
from tests.core.test_cli import Capture


def test_requests_are_answered_while_nobody_reads_stdout(tmp_path: Path) -> None:
    session = tmp_path / "slow.whsession"
    cap = Capture(session)  # its stdout is a pipe this test stops reading after line one
    n, clients = 6000, 4  # ~100 bytes a line: far past the pipe (64 KiB) and the queue
    slowest: list[float] = []

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", cap.port, timeout=5)
        worst = 0.0
        try:
            for i in range(k, n, clients):
                t0 = time.monotonic()
                conn.request("POST", f"/whatsapp/{i}", body=b"{}")
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200
                worst = max(worst, time.monotonic() - t0)
        finally:
            conn.close()
            slowest.append(worst)

    try:
        with ThreadPoolExecutor(clients) as pool:
            for f in [pool.submit(client, k) for k in range(clients)]:
                f.result()
        assert max(slowest) < 2.0, slowest
        time.sleep(0.5)  # lines are flushed when the writer is idle
    finally:
        out, err = cap.stop()
    assert "Traceback" not in err
    lines = out.splitlines()
    dropped = [line for line in lines if "not printed" in line]
    assert dropped, out[-2000:]
    count = sum(int(line.split()[0][1:].replace(",", "")) for line in dropped)
    printed = [line for line in lines if "/whatsapp/" in line]
    assert count + len(printed) == n
    assert count > 0 and len(printed) > 0
    assert f"{count:,} line(s) were not printed because stdout was not being read" in err
    conn2 = open_existing(session)
    try:
        assert conn2.execute("SELECT count(*) FROM requests").fetchone()[0] == n
    finally:
        conn2.close()
