"""Peak memory of `capture` (listener and writer) under a header flood and with a stopped
writer, and what was answered; run by hand, not in the test run.

    .venv/bin/python tests/perf/bench_floods.py [--source DIR]

``--source`` runs another checkout's ``inspector`` (e.g. an export of an older commit) with
this interpreter, to compare before and after in one run. Peak memory is each process's
VmHWM (peak resident set) from /proc.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _writer(pid: int) -> int:
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"capture.writer" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    raise RuntimeError("no writer")


class Capture:
    def __init__(self, source: Path, session: Path, *extra: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(source)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "capture", "--port", "0", "--session",
             str(session), *extra],
            cwd=source, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        self.port = int(line.strip().rsplit(":", 1)[1].rstrip("/"))
        threading.Thread(target=self._drain, daemon=True).start()
        self.writer = _writer(self.proc.pid)

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def peaks(self) -> tuple[int, int]:
        return _hwm(self.proc.pid), _hwm(self.writer)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=120)
        return err.decode(errors="replace")


def _status(sock: socket.socket) -> str:
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        return type(exc).__name__
    return data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "no answer"


def header_flood(source: Path, tmp: Path) -> None:
    cap = Capture(source, tmp / "flood.whsession", "--max-body", "1K")
    value = b"v" * (30 << 10)
    head = b"POST /flood HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n"
    sock = socket.create_connection(("127.0.0.1", cap.port), timeout=120)
    t0 = time.monotonic()
    sent = 0
    try:
        sock.sendall(head)
        for i in range(9_990):  # with the 3 above, within aiohttp's count limit
            sock.sendall(b"X-Flood-%d: %s\r\n" % (i, value))
            sent += len(value)
        sock.sendall(b"\r\n{}")
    except OSError:
        pass
    status = _status(sock)
    sock.close()
    time.sleep(1)
    listener, writer = cap.peaks()
    cap.stop()
    print(
        f"header flood (9,990 x 30 KiB = 293 MiB offered, {sent / 2**20:.0f} MiB sent before "
        f"the server stopped reading): answer {status} in {time.monotonic() - t0:.1f} s; "
        f"peak listener {listener / 2**20:.0f} MiB, writer {writer / 2**20:.0f} MiB"
    )


def stopped_writer(source: Path, tmp: Path) -> None:
    cap = Capture(source, tmp / "stall.whsession")
    os.kill(cap.writer, signal.SIGSTOP)
    body = b'{"x":"' + b"a" * ((1 << 20) - 8) + b'"}'
    statuses: list[str] = []
    socks: list[socket.socket] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        s = socket.create_connection(("127.0.0.1", cap.port), timeout=120)
        s.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        try:
            s.sendall(body)
        except OSError:
            pass
        s.settimeout(3)
        st = _status(s)
        with lock:
            statuses.append(st)
            socks.append(s)

    t0 = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        list(pool.map(one, range(1500)))
    during = time.monotonic() - t0
    listener, _ = cap.peaks()
    refused = statuses.count("503")
    os.kill(cap.writer, signal.SIGCONT)
    for s in socks:
        s.close()
    time.sleep(2)
    _, writer = cap.peaks()
    err = cap.stop()
    held = sum(1 for line in err.splitlines() if "not keeping up" in line)
    conn = sqlite3.connect(tmp / "stall.whsession")
    rows = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    conn.close()
    print(
        f"stopped writer, 1,500 x 1 MiB bodies: {refused} answered 503 at once, "
        f"{statuses.count('TimeoutError')} waiting (no answer within 3 s) in {during:.0f} s; "
        f"peak listener {listener / 2**20:.0f} MiB, writer {writer / 2**20:.0f} MiB; "
        f"'not keeping up' lines on stderr: {held}; rows recorded: {rows}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--only", choices=["flood", "stall"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"source: {args.source}")
        if args.only in (None, "flood"):
            header_flood(args.source, Path(tmp))
        if args.only in (None, "stall"):
            stopped_writer(args.source, Path(tmp))


if __name__ == "__main__":
    main()
