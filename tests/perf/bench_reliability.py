"""Reliability under attack: memory, a normal request's latency, and requests lost.

Run by hand (not part of the test suite):

    .venv/bin/python tests/perf/bench_reliability.py [--only NAME[,NAME...]] [--list]

Each attack of the hardening list runs against a fresh ``webhook-inspector capture``
(a subprocess on 127.0.0.1, port 0, a session in a temporary folder):

    big-body       the yardstick: two ordinary 24 MB JSON bodies (what any large body
                   costs, to read the bombs' figures against)
    surrogate      200 bodies with a lone surrogate escape (\\ud800), 20 at a time,
                   interleaved with as many innocent bodies
    slow-parse     1 MB bodies crafted for the lenient JSON repair (500,000 bare words),
                   and one of 24 MB
    gzip-1g        a 1 MB gzip body that inflates to 1 GiB
    gzip-24g       a 24 MB gzip body (24 members) that inflates to 24 GiB
    array-bomb     24 MB of ``[[],[],...]`` (8 million arrays)
    header-flood   with --max-body 1K: one request with 200 headers of 1 MiB each
    back-pressure  the writer stopped (SIGSTOP), 1,500 x 1 MiB bodies sent at once
    slow-stdout    capture's stdout is not read (a paused pager) while 3,000 requests
                   arrive

While each runs, a probe sends a normal webhook every 100 ms and times its answer (5 s
timeout: "no answer" counts as refused).  Figures per attack:

    listener MB / writer MB   peak RSS of capture's process and of its writer process(es),
                              sampled from /proc every 20 ms
    probe p50 / max ms        latency of the probe requests answered
    innocent refused          probes (and innocent attack neighbours) not answered 2xx
    acked lost                requests answered 2xx whose seq is missing from the session
    writers                   writer processes seen (1 = never restarted)
    exit                      capture's exit code after SIGINT (or its state)

Everything is bounded in count and time; only loopback is used.  Some attacks (header
flood, back-pressure, slow stdout) are the subject of separate fixes: where those are
not in the tree being measured their figures show it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PROBE_BODY = json.dumps(
    {"event": "whatsapp:message:status", "payload": {"id": "probe", "status": "read"}}
).encode()
PROBE_EVERY = 0.1
PROBE_TIMEOUT = 5.0
ATTACK_TIMEOUT = 120.0


# -- HTTP over loopback -------------------------------------------------------------------


def request_bytes(
    port: int, path: str, body: bytes, headers: list[tuple[str, str]] | None = None
) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers or [("Content-Type", "application/json")]]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def post(
    port: int,
    path: str,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> tuple[int, int | None]:
    """Send one request; (status, seq if acknowledged).  Status 0: no answer in time."""
    data = request_bytes(port, path, body, headers)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(data)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError:
        return 0, None
    return parse_response(b"".join(chunks))


def parse_response(raw: bytes) -> tuple[int, int | None]:
    if not raw.startswith(b"HTTP/1."):
        return 0, None
    status = int(raw.split(b" ", 2)[1])
    seq = None
    if 200 <= status < 300:
        try:
            seq = int(json.loads(raw.split(b"\r\n\r\n", 1)[1])["seq"])
        except (ValueError, KeyError, IndexError):
            seq = None
    return status, seq


# -- the capture under test -----------------------------------------------------------------


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(t) for t in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Capture:
    def __init__(self, workdir: Path, *extra: str) -> None:
        self.session = workdir / f"s-{time.monotonic_ns()}.whsession"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "capture", "--port", "0",
             "--session", str(self.session), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().decode()
        if not first.startswith("Listening on"):
            raise RuntimeError(f"capture did not start: {first!r}")
        self.port = int(first.rsplit(":", 1)[1].strip().rstrip("/"))
        self.reading = threading.Event()
        self.reading.set()
        self._stdout = threading.Thread(target=self._drain, daemon=True)
        self._stdout.start()
        self.stderr: list[str] = []
        self._stderr = threading.Thread(target=self._drain_err, daemon=True)
        self._stderr.start()
        self.writers: set[int] = set()
        self.peak_listener = 0.0
        self.peak_writer = 0.0
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        while True:
            self.reading.wait()
            if not self.proc.stdout.readline():
                return

    def _drain_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())

    def _sample(self) -> None:
        while self._sampling:
            self.peak_listener = max(self.peak_listener, rss_mb(self.proc.pid))
            for kid in children(self.proc.pid):
                self.writers.add(kid)
                self.peak_writer = max(self.peak_writer, rss_mb(kid))
            time.sleep(0.02)

    def writer_pid(self) -> int | None:
        kids = children(self.proc.pid)
        return kids[0] if kids else None

    def stop(self) -> str:
        """SIGINT, wait, read the high-water marks; returns the exit state."""
        self.peak_listener = max(self.peak_listener, rss_mb(self.proc.pid, "VmHWM"))
        for kid in children(self.proc.pid):
            self.peak_writer = max(self.peak_writer, rss_mb(kid, "VmHWM"))
        self.reading.set()
        if self.proc.poll() is not None:
            state = f"exited {self.proc.returncode} by itself"
        else:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
                state = str(self.proc.returncode)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                state = "hung: killed"
        self._sampling = False
        self._sampler.join()
        return state

    def stored_seqs(self) -> set[int]:
        conn = sqlite3.connect(f"{self.session.as_uri()}?mode=ro", uri=True)
        try:
            return {r[0] for r in conn.execute("SELECT seq FROM requests")}
        finally:
            conn.close()


# -- probing and accounting -------------------------------------------------------------------


@dataclass
class Outcome:
    acked: list[int] = field(default_factory=list)
    innocent_refused: int = 0
    probe_ms: list[float] = field(default_factory=list)
    probes: int = 0
    notes: list[str] = field(default_factory=list)

    def innocent(self, status: int, seq: int | None) -> None:
        if 200 <= status < 300:
            if seq is not None:
                self.acked.append(seq)
        else:
            self.innocent_refused += 1

    def attack(self, status: int, seq: int | None) -> None:
        if 200 <= status < 300 and seq is not None:
            self.acked.append(seq)


class Prober:
    """Sends a normal webhook every 100 ms while the attack runs."""

    def __init__(self, port: int, outcome: Outcome) -> None:
        self._port = port
        self._outcome = outcome
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            status, seq = post(self._port, "/whatsapp/probe", PROBE_BODY)
            took = (time.perf_counter() - start) * 1000
            with self._lock:
                self._outcome.probes += 1
                self._outcome.innocent(status, seq)
                if status:
                    self._outcome.probe_ms.append(took)
            self._stop.wait(max(0.0, PROBE_EVERY - took / 1000))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def in_threads(n: int, fn: Callable[[int], None], deadline: float) -> None:
    threads = [threading.Thread(target=fn, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))


# -- attack bodies ------------------------------------------------------------------------------

_GZIP_GIB: bytes | None = None


def gzip_gib() -> bytes:
    """One gzip member inflating to 1 GiB of zeros (about 1 MB), built once."""
    global _GZIP_GIB
    if _GZIP_GIB is None:
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = b"\0" * (1 << 20)
        _GZIP_GIB = b"".join([packer.compress(block) for _ in range(1024)] + [packer.flush()])
    return _GZIP_GIB


def slow_parse_body(size: int) -> bytes:
    return b"[" + b"a," * (size // 2 - 1) + b"a]"


# -- the attacks ----------------------------------------------------------------------------------

GZIP = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]


def attack_big_body(cap: Capture, out: Outcome) -> None:
    body = json.dumps({"event": "whatsapp:message:in", "payload": {"t": "x" * (24 << 20)}})
    for _ in range(2):
        out.attack(*post(cap.port, "/big", body.encode(), timeout=ATTACK_TIMEOUT))


def attack_surrogate(cap: Capture, out: Outcome) -> None:
    bad = b'{"event": "whatsapp:message:status", "payload": {"id": "\\ud800", "status": "read"}}'
    lock = threading.Lock()

    def client(i: int) -> None:
        for k in range(20):
            innocent = (i + k) % 2 == 1
            status, seq = post(cap.port, f"/s/{i}/{k}", PROBE_BODY if innocent else bad)
            with lock:
                (out.innocent if innocent else out.attack)(status, seq)

    in_threads(20, client, time.monotonic() + ATTACK_TIMEOUT)


def attack_slow_parse(cap: Capture, out: Outcome) -> None:
    for body in [slow_parse_body(1 << 20)] * 5 + [slow_parse_body(24 << 20)]:
        out.attack(*post(cap.port, "/slow", body, timeout=ATTACK_TIMEOUT))


def attack_gzip(cap: Capture, out: Outcome, gib: int) -> None:
    body = gzip_gib() * gib  # gib members: gzip allows any number, one after another
    for _ in range(2):
        out.attack(*post(cap.port, "/bomb", body, GZIP, timeout=ATTACK_TIMEOUT))


def attack_array_bomb(cap: Capture, out: Outcome) -> None:
    body = b"[" + b"[]," * (8 << 20) + b"[]]"
    for _ in range(2):
        out.attack(*post(cap.port, "/array", body, timeout=ATTACK_TIMEOUT))


def attack_header_flood(cap: Capture, out: Outcome) -> None:
    value = "v" * ((1 << 20) - 200)
    headers = [("Content-Type", "application/json")] + [(f"X-F{i}", value) for i in range(200)]
    out.attack(*post(cap.port, "/flood", b"{}", headers, timeout=ATTACK_TIMEOUT))


def attack_back_pressure(cap: Capture, out: Outcome) -> None:
    writer = cap.writer_pid()
    if writer is None:
        out.notes.append("no writer found")
        return
    body = b'{"blob": "' + b"x" * ((1 << 20) - 12) + b'"}'
    data = request_bytes(cap.port, "/bp", body)

    async def one(results: list[bytes]) -> None:
        try:
            reader, w = await asyncio.open_connection("127.0.0.1", cap.port)
        except OSError:
            results.append(b"")
            return
        try:
            w.write(data)
            await w.drain()
            results.append(await asyncio.wait_for(reader.read(), ATTACK_TIMEOUT))
        except (OSError, TimeoutError):
            results.append(b"")
        finally:
            w.close()

    async def main() -> list[bytes]:
        results: list[bytes] = []
        tasks = [asyncio.create_task(one(results)) for _ in range(1500)]
        await asyncio.sleep(8)  # all sent (or refused), the writer still stopped
        out.notes.append(f"listener {rss_mb(cap.proc.pid):.0f} MB with the writer stopped")
        os.kill(writer, signal.SIGCONT)
        await asyncio.gather(*tasks)
        return results

    os.kill(writer, signal.SIGSTOP)
    try:
        results = asyncio.run(main())
    finally:
        os.kill(writer, signal.SIGCONT)
    codes = [parse_response(r) for r in results]
    for status, seq in codes:
        out.attack(status, seq)
    refused = sum(1 for s, _ in codes if s == 503)
    out.notes.append(f"{refused} of 1500 answered 503")


def attack_slow_stdout(cap: Capture, out: Outcome) -> None:
    cap.reading.clear()  # stop reading capture's stdout: its pipe fills up
    lock = threading.Lock()

    def client(i: int) -> None:
        for k in range(300):
            status, seq = post(cap.port, f"/stdout/{i}/{k}", PROBE_BODY)
            with lock:
                out.innocent(status, seq)

    in_threads(10, client, time.monotonic() + 60)


ATTACKS: dict[str, tuple[Callable[[Capture, Outcome], None], tuple[str, ...]]] = {
    "big-body": (attack_big_body, ()),
    "surrogate": (attack_surrogate, ()),
    "slow-parse": (attack_slow_parse, ()),
    "gzip-1g": (lambda c, o: attack_gzip(c, o, 1), ()),
    "gzip-24g": (lambda c, o: attack_gzip(c, o, 24), ()),
    "array-bomb": (attack_array_bomb, ()),
    "header-flood": (attack_header_flood, ("--max-body", "1K")),
    "back-pressure": (attack_back_pressure, ()),
    "slow-stdout": (attack_slow_stdout, ()),
}


def run(name: str, workdir: Path) -> dict[str, str]:
    fn, extra = ATTACKS[name]
    cap = Capture(workdir, *extra)
    out = Outcome()
    time.sleep(0.5)
    baseline = [post(cap.port, "/warm", PROBE_BODY) for _ in range(5)]
    for status, seq in baseline:
        out.innocent(status, seq)
    prober = Prober(cap.port, out)
    started = time.monotonic()
    try:
        fn(cap, out)
    finally:
        time.sleep(1.0)  # a last second of probes after the attack
        prober.stop()
    took = time.monotonic() - started
    state = cap.stop()
    stored = cap.stored_seqs()
    lost = [s for s in out.acked if s not in stored]
    ms = sorted(out.probe_ms)
    troubles = [line for line in cap.stderr if line.startswith(("error:", "warning:"))]
    if len(cap.stderr) > 8:
        out.notes.append(f"{len(cap.stderr)} stderr lines")
    out.notes += [t[:90] for t in troubles[:2]]
    return {
        "attack": name,
        "listener MB": f"{cap.peak_listener:.0f}",
        "writer MB": f"{cap.peak_writer:.0f}",
        "probe p50 ms": f"{statistics.median(ms):.0f}" if ms else "-",
        "probe max ms": f"{ms[-1]:.0f}" if ms else "-",
        "probes": str(out.probes),
        "innocent refused": str(out.innocent_refused),
        "acked lost": str(len(lost)),
        "writers": str(len(cap.writers)),
        "exit": state,
        "s": f"{took:.0f}",
        "notes": "; ".join(out.notes),
    }


def print_table(rows: list[dict[str, str]]) -> None:
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols if c != "notes"}
    print("  ".join(f"{c:>{widths[c]}}" if c != "attack" else f"{c:<{widths[c]}}"
                    for c in cols if c != "notes"))  # fmt: skip
    for r in rows:
        cells = [
            f"{r[c]:>{widths[c]}}" if c != "attack" else f"{r[c]:<{widths[c]}}"
            for c in cols
            if c != "notes"
        ]
        print("  ".join(cells))
        if r["notes"]:
            print(f"    {r['notes']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", help="comma-separated attacks (default: all)")
    parser.add_argument("--list", action="store_true", help="list the attacks and exit")
    args = parser.parse_args()
    if args.list:
        print("\n".join(ATTACKS))
        return 0
    names = args.only.split(",") if args.only else list(ATTACKS)
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        parser.error(f"unknown attack(s): {', '.join(unknown)}")
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(f"bench_reliability at {rev or '?'} on {os.cpu_count()} cores", flush=True)
    rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        for name in names:
            print(f"  {name} ...", file=sys.stderr, flush=True)
            rows.append(run(name, Path(tmp)))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
