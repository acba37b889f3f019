"""Window benchmark on a session of 1,000,000 stored requests (run by hand, not by pytest).

    .venv/bin/python tests/perf/bench_gui.py [--rows 1000000] [--rate 1000] [--seconds 5]

Prints: time to open the session and show the first screen, time per filter
keystroke (field filters and body words), the process's resident memory per
stored request, and the receive-to-visible delay of requests sent over loopback
at ``--rate`` per second to the running window (p50/p99).

The session is built once through the store's own batch commit from the 19
catalogue payloads with varied message ids, numbers and statuses (full-text index
filled too) and cached under /tmp, so later runs start at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "tests" / "fixtures" / "catalogue"
STATUSES = {
    "sms": [("DELIVRD", "success"), ("UNDELIV", "failure"), ("EXPIRED", "failure")],
    "msg": [
        ("delivered", "success"),
        ("read", "success"),
        ("sent", "pending"),
        ("failed", "failure"),
    ],
}


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def build_session(path: Path, rows: int) -> None:
    from inspector.core.provider.decoder import EventDecoder
    from inspector.core.session.record import CapturedRequest
    from inspector.core.session.store import SessionStore, commit_batch, index_rows

    decoder = EventDecoder()
    templates = []
    for p in sorted(CATALOGUE.glob("*.json")):
        route = f"/{p.stem.split('_')[1]}"
        body = p.read_text()
        dec = decoder.decode(
            "POST", route, "", [("Content-Type", "application/json")], body.encode()
        )
        templates.append((route, body, dec))
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    store = SessionStore(tmp)
    conn = store.open_reader()
    conn.execute("PRAGMA synchronous = OFF")
    t0 = time.perf_counter()
    base_us = int(time.time() * 1e6) - rows * 1000
    chunk = 20_000
    for start in range(0, rows, chunk):
        batch = []
        for i in range(start, min(rows, start + chunk)):
            route, body, dec = templates[i % len(templates)]
            mid = f"{i:08x}-4d1b-9a7e-{i * 7919 % 10**12:012d}"
            number = f"9190{i * 37 % 10**8:08d}"
            status, cls = dec.status, dec.status_class
            if dec.event.endswith(":message:status"):
                status, cls = STATUSES["sms" if dec.product == "sms" else "msg"][
                    i % 4 % (3 if dec.product == "sms" else 4)
                ]
            text = body.replace(dec.message_id, mid) if dec.message_id else body
            text = text.replace(dec.to or "\x00", number) if dec.to else text
            if dec.status:
                text = text.replace(dec.status, status)
            req = CapturedRequest(
                seq=i + 1,
                received_us=base_us + i * 1000,
                method="POST",
                path=route,
                query="",
                http_version="1.1",
                remote="127.0.0.1",
                headers=[("Content-Type", "application/json"), ("User-Agent", "provider/2")],
                body=text.encode(),
            )
            d = type(dec)(
                dec.event,
                dec.product,
                status,
                cls,
                mid if dec.message_id else "",
                dec.from_,
                number if dec.to else "",
                dec.summary,
                list(dec.warnings),
            )
            batch.append((req, d))
        summaries, texts = commit_batch(conn, batch)
        index_rows(conn, summaries[-1].id, texts)
        done = min(rows, start + chunk)
        print(
            f"\r  built {done:,}/{rows:,} rows ({time.perf_counter() - t0:.0f} s)",
            end="",
            flush=True,
        )
    print()
    conn.execute("PRAGMA optimize")
    conn.close()
    store.close()
    tmp.rename(path)


SENDER = r"""
import http.client, json, sys, threading, time
host, port, rate, seconds, conns = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
start = time.time() + 0.5
def run(k):
    c = http.client.HTTPConnection(host, port, timeout=10)
    n = 0
    per = rate / conns
    while True:
        due = start + n / per + k / rate
        if due - start > seconds:
            break
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        stamp = time.time_ns()
        body = json.dumps({"event": "whatsapp:message:status", "payload": {"id": f"bench-{stamp}", "from": "919019120000", "to": "447700900001", "status": "delivered"}})
        c.request("POST", "/whatsapp", body, {"Content-Type": "application/json"})
        c.getresponse().read()
        n += 1
ts = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
[t.start() for t in ts]
[t.join() for t in ts]
"""


def main() -> int:
    parser = argparse.ArgumentParser(description="Window benchmark (see module docstring)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(tempfile.mkdtemp(prefix="wi-bench-"))
    os.environ["WEBHOOK_INSPECTOR_CONFIG_DIR"] = str(home / "config")
    os.environ["WEBHOOK_INSPECTOR_DATA_DIR"] = str(home / "data")

    from inspector.core.session.store import SCHEMA_VERSION

    # One cache per schema: an older file would be upgraded inside the timed open.
    cached = args.cache / f"wi-bench-{args.rows}-schema{SCHEMA_VERSION}.whsession"
    if not cached.exists():
        print(f"building {cached} (once) ...")
        build_session(cached, args.rows)
    for suffix in ("-wal", "-shm"):
        Path(str(cached) + suffix).unlink(missing_ok=True)
    session = home / "bench.whsession"
    subprocess.run(["cp", "--reflink=auto", str(cached), str(session)], check=True)
    # warm the OS cache like a second open of the same file would be
    with open(session, "rb") as fh:
        while fh.read(1 << 24):
            pass

    rss0 = rss_bytes()
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from inspector.core.capture.engine import CaptureEngine
    from inspector.core.session.store import SessionStore
    from inspector.gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    rss_qt = rss_bytes()

    t0 = time.perf_counter()
    store = SessionStore(session)
    t_store = time.perf_counter()
    engine = CaptureEngine(store, host="127.0.0.1", port=0)
    engine.start()
    t_engine = time.perf_counter()
    window = MainWindow(store, engine.url, host=engine.host, port=engine.port)
    window.resize(1400, 900)
    window.show()
    window.table.scrollToBottom()
    window.grab()  # paints the first screen: the rows are fetched for real
    t_shown = time.perf_counter()
    total = window.model.rowCount()
    print(f"rows in session:               {total:,}")
    print(
        f"open -> first screen:          {(t_shown - t0) * 1000:7.0f} ms"
        f"  (store {1000 * (t_store - t0):.0f}, listener {1000 * (t_engine - t_store):.0f}, "
        f"window+paint {1000 * (t_shown - t_engine):.0f})"
    )

    def keystroke(text: str) -> tuple[float, int]:
        start = time.perf_counter()
        window.filter_bar.edit.setText(text)
        window.filter_bar.apply_now()
        window.table.scrollToTop()
        window.table.viewport().grab()
        return (time.perf_counter() - start) * 1000, window.model.rowCount()

    print("filter keystroke (count + first screen painted):")
    for text in (
        "product:rcs",
        "class:failure",
        "event:whatsapp:message:status",
        "status:failed",
        "from:9190",
        "to:91900",
        "id:0001",
        "has:warning",
        "product:viber -class:inbound",
        "event:sms class:failure",
        "event:whatsapp OR class:failure",
        "event:whatsapp",
        "id:000123",
        "caption",
        "deliv",
        "delivered",
        '"simple text message"',
        "product:rcs caption",
        "",
    ):
        ms, n = keystroke(text)
        print(f"  {text or '(cleared)':32s} {ms:7.1f} ms  {n:>9,} rows")
    ms, n = keystroke("/imag[e]/")
    print(f"  {'/imag[e]/ (regex, full scan)':32s} {ms:7.1f} ms  {n:>9,} rows")
    keystroke("")
    window.table.scrollToBottom()
    window.grab()
    QCoreApplication.processEvents()

    rss = rss_bytes()
    print(
        f"RSS: {rss / 2**20:.0f} MiB (Python+Qt before session: {rss_qt / 2**20:.0f} MiB, "
        f"interpreter {rss0 / 2**20:.0f} MiB)"
    )
    print(
        f"memory per stored request:     {rss / total:7.1f} B (whole process)"
        f"  / {(rss - rss_qt) / total:.1f} B (beyond Python+Qt)"
    )

    delays: list[float] = []

    def on_inserted(_parent: object, first: int, last: int) -> None:
        now = time.time_ns()
        for row in range(first, last + 1):
            s = window.model.summary_at(row)
            if s is not None and s.message_id.startswith("bench-"):
                delays.append((now - int(s.message_id[6:])) / 1e6)

    window.model.rowsInserted.connect(on_inserted)
    expected = int(args.rate * args.seconds)
    sender = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SENDER,
            "127.0.0.1",
            str(engine.port),
            str(args.rate),
            str(args.seconds),
            "8",
        ]
    )
    deadline = time.monotonic() + args.seconds + 30
    while (sender.poll() is None or len(delays) < expected) and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.002)
    sender.wait()
    window.grab()
    if delays:
        delays.sort()
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(
            f"receive-to-visible at {args.rate:.0f}/s: {len(delays):,} requests, "
            f"p50 {statistics.median(delays):.0f} ms, p99 {p99:.0f} ms, max {delays[-1]:.0f} ms"
        )
    rss = rss_bytes()
    print(
        f"RSS after live run:            {rss / 2**20:.0f} MiB for {window.model.rowCount():,} rows"
    )
    window.shutdown()
    window.close()
    engine.stop()
    store.close()
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
