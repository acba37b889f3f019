"""Forward and replay benchmark, against a bare aiohttp app on the same machine.

Run by hand (not part of the test suite):

    .venv/bin/python tests/perf/bench_forward.py [--seconds 8] [--connections 32] [--rounds 2]
                                                 [--rate 500] [--replays 3000]
                                                 [--replay-concurrency 1,8]

Three figures, each measured against a baseline in the same run:

1. Capture throughput with ``--forward-to`` a bare aiohttp app, as a ratio of capture
   alone (rounds alternate so drift hits both alike; load from ``wrk`` when installed).
   Also how many requests had reached the app by the end of the round, and how long
   the outbox took to drain after it.
2. The latency forwarding adds at ``--rate`` requests/s (an open-loop paced sender):
   from the moment the provider sends to the moment the app receives, through the
   inspector (decoupled, and pass-through) minus straight to the app; p50 and p99.
   The provider-side answer time with forwarding on is reported next to capture alone.
3. Replay throughput (each replay committed as a new linked row, then sent) against
   the same app, as a ratio of a bare aiohttp client loop sending the same requests at
   the same concurrency: one at a time (replay's default) and eight at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import bench_ingest as ingest  # noqa: E402

# -- the app: a bare aiohttp server that also notes when each request arrived ----------


def serve_app(port: int) -> None:
    """Reads the body, answers 200; keeps (sent_ns, received_ns) for bodies that carry
    ``"t": <ns>``; GET /stats returns them and forgets them."""
    from aiohttp import web

    seen: list[tuple[int, int]] = []

    async def handle(request: web.BaseRequest) -> web.Response:
        body = await request.read()
        now = time.time_ns()
        if request.method == "GET" and request.path == "/stats":
            data = json.dumps({"n": len(seen), "pairs": seen}).encode()
            seen.clear()
            return web.Response(body=data, content_type="application/json")
        if body.startswith(b'{"t":'):
            end = body.index(b",")
            seen.append((int(body[5:end]), now))
        else:
            seen.append((0, now))
        return web.Response(body=b'{"ok":true}', content_type="application/json")

    async def main() -> None:
        server = web.Server(handle, auto_decompress=False, access_log=None)
        runner = web.ServerRunner(server)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"Listening on http://127.0.0.1:{port}/", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def app_stats(port: int) -> dict[str, object]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=30) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def start_app(workdir: Path, name: str) -> tuple[subprocess.Popen[bytes], int]:
    port = ingest.free_port()
    proc = ingest.start_server(
        [sys.executable, __file__, "--serve-app", str(port)], workdir / f"{name}.out"
    )
    return proc, port


def start_capture(
    workdir: Path, name: str, *extra: str
) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = ingest.free_port()
    session = workdir / f"{name}.whsession"
    cmd = [sys.executable, "-m", "inspector", "capture", "--port", str(port)]
    proc = ingest.start_server([*cmd, "--session", str(session), *extra], workdir / f"{name}.out")
    return proc, port, session


def _outbox(session: Path) -> int:
    conn = sqlite3.connect(session)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


# -- 1. throughput -------------------------------------------------------------------


def round_throughput(
    seconds: float, connections: int, workdir: Path, n: int, drive: ingest.Driver, forward: bool
) -> dict[str, float]:
    app = app_port = None
    extra: list[str] = []
    if forward:
        app, app_port = start_app(workdir, f"app-{n}")
        extra = ["--forward-to", f"http://127.0.0.1:{app_port}"]
    proc, port, session = start_capture(workdir, f"tp-{n}-{int(forward)}", *extra)
    out: dict[str, float] = {}
    try:
        c = drive(port, seconds, connections)
        out["rate"] = c["ok"] / c["elapsed"]
        if forward and app_port is not None:
            at_end = app_stats(app_port)["n"]
            out["forwarded_in_round"] = float(at_end)  # type: ignore[arg-type]
            t0 = time.monotonic()
            while _outbox(session) and time.monotonic() - t0 < 300:
                time.sleep(0.1)
            out["drain_s"] = time.monotonic() - t0
            out["left"] = float(_outbox(session))
    finally:
        proc.terminate()
        proc.wait(30)
        if app is not None:
            app.terminate()
            app.wait(10)
    return out


# -- 2. latency at a fixed rate --------------------------------------------------------


async def _paced(port: int, rate: float, seconds: float, conns: int) -> list[float]:
    """Open-loop sender: request i leaves at start + i/rate; returns answer times (ms)."""
    import aiohttp

    total = int(rate * seconds)
    answers: list[float] = []
    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic()

        async def one(i: int) -> None:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sent = time.time_ns()
            body = b'{"t":%d,"i":%d,"event":"sms:message:status"}' % (sent, i)
            t = time.perf_counter()
            async with session.post(f"http://127.0.0.1:{port}/sms", data=body) as r:
                await r.read()
            answers.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(one(i) for i in range(total)))
    return answers


def paced(port: int, rate: float, seconds: float, conns: int = 64) -> list[float]:
    return asyncio.run(_paced(port, rate, seconds, conns))


def _delivery_ms(pairs: list[list[int]]) -> list[float]:
    return [(b - a) / 1e6 for a, b in pairs if a]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def latency(rate: float, seconds: float, workdir: Path) -> dict[str, dict[str, float]]:
    app, app_port = start_app(workdir, "lat-app")
    results: dict[str, dict[str, float]] = {}
    try:
        paced(app_port, rate, 1.0)  # warm up
        app_stats(app_port)
        direct_answer = paced(app_port, rate, seconds)
        direct = _delivery_ms(app_stats(app_port)["pairs"])  # type: ignore[arg-type]
        results["direct"] = _summary(direct, direct_answer)

        proc, port, _ = start_capture(workdir, "lat-alone")
        try:
            results["capture alone"] = _summary([], paced(port, rate, seconds))
        finally:
            proc.terminate()
            proc.wait(30)

        for mode in ("decoupled", "pass-through"):
            proc, port, session = start_capture(
                workdir, f"lat-{mode}", "--forward-to", f"http://127.0.0.1:{app_port}",
                "--forward-mode", mode,
            )  # fmt: skip
            try:
                paced(port, rate, 1.0)
                time.sleep(0.5)
                app_stats(app_port)
                answers = paced(port, rate, seconds)
                t0 = time.monotonic()
                while _outbox(session) and time.monotonic() - t0 < 120:
                    time.sleep(0.05)
                delivered = _delivery_ms(app_stats(app_port)["pairs"])  # type: ignore[arg-type]
                results[mode] = _summary(delivered, answers)
            finally:
                proc.terminate()
                proc.wait(30)
    finally:
        app.terminate()
        app.wait(10)
    return results


def _summary(delivered: list[float], answers: list[float]) -> dict[str, float]:
    return {
        "n": float(len(answers)),
        "delivery_p50": pct(delivered, 50),
        "delivery_p99": pct(delivered, 99),
        "answer_p50": pct(answers, 50),
        "answer_p99": pct(answers, 99),
    }


# -- 3. replay throughput ------------------------------------------------------------


def replay_bench(count: int, concurrency: int, workdir: Path, rounds: int) -> dict[str, float]:

    from inspector.core.capture.writer import ProcessCommitter
    from inspector.core.send.app_client import AppClient
    from inspector.core.send.replay import CommitterSink, ReplayBatch, item_from_stored
    from inspector.core.session.store import SessionStore, iter_requests
    from tests.factories import append_decoded, captured_request

    app, app_port = start_app(workdir, "replay-app")
    target = f"http://127.0.0.1:{app_port}"
    session = workdir / "replay.whsession"
    store = SessionStore(session)
    bodies = [p.read_bytes() for p in sorted(ingest.CATALOGUE.glob("*.json"))]
    reqs = [
        captured_request("/sms", bodies[i % len(bodies)], seq=store.take_seq())
        for i in range(count)
    ]
    for start in range(0, count, 500):
        append_decoded(store, reqs[start : start + 500])
    conn = store.open_reader()
    items = [item_from_stored(r, target) for r in iter_requests(conn)]
    conn.close()
    out: dict[str, float] = {}
    try:

        async def bare() -> float:
            import aiohttp

            sem = asyncio.Semaphore(concurrency)
            async with aiohttp.ClientSession() as s:
                t = time.perf_counter()

                async def one(i: int) -> None:
                    it = items[i]
                    async with sem:
                        async with s.request(
                            it.method, it.url, data=it.body, headers=it.headers
                        ) as r:
                            await r.read()

                await asyncio.gather(*(one(i) for i in range(len(items))))
                return len(items) / (time.perf_counter() - t)

        async def replay() -> float:
            # As the CLI and the window do: rows and the app's answers through a writer
            # process, one aiohttp client. run() returns once every answer is committed.
            committer = ProcessCommitter(store, summaries=False, answers=None)
            await committer.start()
            client = AppClient()
            try:
                batch = ReplayBatch(items, concurrency=concurrency)
                t = time.perf_counter()
                final = await batch.run(client, CommitterSink(committer, store))
                took = time.perf_counter() - t
                assert final.done == len(items) and final.failed == 0, final
                return len(items) / took
            finally:
                await client.close()
                await committer.stop()

        bare_rates, replay_rates = [], []
        for _ in range(rounds):
            bare_rates.append(asyncio.run(bare()))
            replay_rates.append(asyncio.run(replay()))
        out["bare"] = statistics.median(bare_rates)
        out["replay"] = statistics.median(replay_rates)
        out["paired"] = statistics.median(
            r / b for b, r in zip(bare_rates, replay_rates, strict=True)
        )
        out["rows"] = float(store.count())
    finally:
        store.close()
        app.terminate()
        app.wait(10)
    return out


# -- main ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--latency-seconds", type=float, default=6)
    parser.add_argument("--replays", type=int, default=3000)
    parser.add_argument(
        "--replay-concurrency", default="1,8",
        help="replays at once, comma-separated for several measures (1: replay's default)",
    )
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--serve-app", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=["throughput", "latency", "replay"])
    args = parser.parse_args()
    if args.serve_app:
        serve_app(args.serve_app)
        return 0
    use_wrk = args.generator == "wrk" or (
        args.generator == "auto" and ingest.shutil.which("wrk") is not None
    )
    with tempfile.TemporaryDirectory(prefix="bench-forward-") as tmp:
        workdir = Path(tmp)
        if use_wrk:
            script = ingest.wrk_script(workdir / "catalogue.lua")

            def drive(port: int, seconds: float, conns: int) -> dict[str, float]:
                return ingest.drive_wrk(port, seconds, conns, script)

        else:
            drive = ingest.drive
        print(f"machine: {os.cpu_count()} cores; load: {'wrk' if use_wrk else 'python'}")
        if args.only in (None, "throughput"):
            alone, fwd = [], []
            for n in range(args.rounds):
                alone.append(
                    round_throughput(args.seconds, args.connections, workdir, n, drive, False)
                )
                fwd.append(
                    round_throughput(args.seconds, args.connections, workdir, n, drive, True)
                )
            a = statistics.median(r["rate"] for r in alone)
            f = statistics.median(r["rate"] for r in fwd)
            paired = statistics.median(
                y["rate"] / x["rate"] for x, y in zip(alone, fwd, strict=True)
            )
            print("\n1. capture throughput (requests/s answered 2xx, median of rounds)")
            print(f"   capture alone:                 {a:8.0f}")
            print(f"   capture --forward-to bare app: {f:8.0f}")
            print(f"   paired ratio, median: {paired:.2f} (target >= 0.80)")
            for x, r in zip(alone, fwd, strict=True):
                print(
                    f"   round: alone {x['rate']:.0f}/s, forwarding {r['rate']:.0f}/s "
                    f"({r['rate'] / x['rate']:.2f}); {r['forwarded_in_round']:.0f} reached the "
                    f"app during the {args.seconds:g} s, outbox drained {r['drain_s']:.1f} s "
                    f"later ({r['left']:.0f} left)"
                )
        if args.only in (None, "latency"):
            res = latency(args.rate, args.latency_seconds, workdir)
            print(f"\n2. latency at {args.rate:g} requests/s (ms)")
            d = res["direct"]
            for name, r in res.items():
                deliv = (
                    f"delivery p50 {r['delivery_p50']:6.2f} p99 {r['delivery_p99']:7.2f}"
                    if r["delivery_p50"] == r["delivery_p50"]
                    else " " * 34
                )
                print(
                    f"   {name:<14} {deliv}   provider's answer p50 {r['answer_p50']:6.2f} "
                    f"p99 {r['answer_p99']:7.2f}   (n={r['n']:.0f})"
                )
            for mode in ("decoupled", "pass-through"):
                r = res[mode]
                print(
                    f"   extra latency forwarding adds ({mode}): p50 "
                    f"{r['delivery_p50'] - d['delivery_p50']:.2f} ms, p99 "
                    f"{r['delivery_p99'] - d['delivery_p99']:.2f} ms"
                )
        for concurrency in (int(c) for c in args.replay_concurrency.split(",")):
            if args.only not in (None, "replay"):
                break
            (workdir / f"c{concurrency}").mkdir()
            r = replay_bench(args.replays, concurrency, workdir / f"c{concurrency}", args.rounds)
            print(
                f"\n3. replay throughput, {args.replays} requests, "
                f"{concurrency} at a time (requests/s, median of {args.rounds})"
            )
            print(f"   bare aiohttp client loop: {r['bare']:8.0f}")
            print(
                f"   replay (new linked rows): {r['replay']:8.0f}   paired ratio, median "
                f"{r['paired']:.2f} (target >= 0.70); session rows {r['rows']:.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
