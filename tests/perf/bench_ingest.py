"""Ingest benchmark: ``capture`` with every request persisted vs a bare aiohttp server.

Run by hand (not part of the test suite):

    .venv/bin/python tests/perf/bench_ingest.py [--seconds 10] [--connections 64] [--rounds 2]
                                                [--generator auto|wrk|python] [--with-checks]

Both servers run as separate processes on 127.0.0.1 and are driven by the same load
generator (keep-alive connections, the 19 catalogue payloads in turn); rounds
alternate bare/capture so drift on a shared machine hits both alike.

Generators: ``wrk`` (``apt-get install wrk``; the default when it is on PATH) costs
little CPU, so on a 2-core machine it leaves the servers the cores they need; the
``python`` one (asyncio, one process) costs about as much CPU per request as the bare
server itself, which starves capture's two processes more than the bare server's one.
wrk abandons the requests in flight when its time is up, so its 2xx count can fall
short of the session's rows by at most the number of connections; the python
generator waits for every answer, and a last round with it checks that the session
holds exactly as many rows as there were 2xx answers.

``--with-checks``: every request carries the provider's ``Authorization: Bearer`` secret and a
``Signature`` header, and each round also runs capture with that secret and a signing key
configured (through the environment, as a user would), to compare against capture without
them in the same run (target: within 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The secret and signing key of ``--with-checks`` (the Signature key is the webhook id).
SECRET = "bench-secret-6b1f"
SIGNING_KEY = "0f8e2c44-webhook-id"
#: Whether the requests carry the Authorization and Signature headers (``--with-checks``).
SIGNED = False
CATALOGUE = ROOT / "tests" / "fixtures" / "catalogue"
PATHS = {
    "sms": "/sms",
    "whatsapp": "/whatsapp",
    "rcs": "/rcs",
    "voice": "/voice",
    "viber": "/viber",
    "vmn": "/vmn",
    "contacts": "/contacts",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the baseline server -------------------------------------------------------------


def serve_bare(port: int) -> None:
    """A bare aiohttp server that reads the body and answers 200, nothing else."""
    from aiohttp import web

    async def handle(request: web.BaseRequest) -> web.Response:
        await request.read()
        return web.Response(body=b'{"ok":true}', content_type="application/json")

    async def main() -> None:
        server = web.Server(handle, auto_decompress=False, access_log=None)
        runner = web.ServerRunner(server)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"Listening on http://127.0.0.1:{port}/", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the load generator ----------------------------------------------------------------


def auth_headers(body: bytes) -> dict[str, str]:
    """The headers the provider adds when a secret and signing are set, or none."""
    if not SIGNED:
        return {}
    signature = hmac.new(SIGNING_KEY.encode(), body, hashlib.sha256).hexdigest()
    return {"Authorization": f"Bearer {SECRET}", "Signature": signature}


def build_requests(port: int) -> list[bytes]:
    out = []
    for f in sorted(CATALOGUE.glob("*.json")):
        body = f.read_bytes()
        product = f.stem.split("_")[1]
        extra = "".join(f"{k}: {v}\r\n" for k, v in auth_headers(body).items())
        head = (
            f"POST {PATHS.get(product, '/')} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


async def _worker(
    port: int, reqs: list[bytes], offset: int, deadline: float, counts: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.monotonic() < deadline:
            writer.write(reqs[i % len(reqs)])
            i += 1
            status_line = await reader.readline()
            if not status_line:
                counts["errors"] += 1
                return
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            status = int(status_line.split()[1])
            counts["ok" if 200 <= status < 300 else "other"] += 1
    except (OSError, asyncio.IncompleteReadError):
        counts["errors"] += 1
    finally:
        writer.close()


def run_load(port: int, seconds: float, connections: int, result: mp.Queue) -> None:
    async def main() -> None:
        reqs = build_requests(port)
        counts = {"ok": 0, "other": 0, "errors": 0}
        start = time.monotonic()
        await asyncio.gather(
            *(_worker(port, reqs, n, start + seconds, counts) for n in range(connections))
        )
        counts["elapsed"] = time.monotonic() - start  # type: ignore[assignment]
        result.put(counts)

    asyncio.run(main())


def drive(port: int, seconds: float, connections: int) -> dict[str, float]:
    q: mp.Queue = mp.Queue()
    p = mp.Process(target=run_load, args=(port, seconds, connections, q))
    p.start()
    counts = q.get(timeout=seconds + 120)
    p.join()
    return counts


def wrk_script(path: Path) -> Path:
    """A Lua script for wrk that sends the catalogue payloads in turn."""
    lines = ["local reqs = {}"]
    for f in sorted(CATALOGUE.glob("*.json")):
        body = f.read_text()
        assert "]==]" not in body
        product = f.stem.split("_")[1]
        extra = "".join(f', ["{k}"] = "{v}"' for k, v in auth_headers(f.read_bytes()).items())
        lines.append(
            f'reqs[#reqs + 1] = wrk.format("POST", "{PATHS.get(product, "/")}", '
            f'{{["Host"] = "127.0.0.1", ["Content-Type"] = "application/json"{extra}}}, '
            f"[==[{body}]==])"
        )
    lines += [
        "local i = 0",
        "request = function()",
        "  i = i + 1",
        "  return reqs[(i % #reqs) + 1]",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def drive_wrk(port: int, seconds: float, connections: int, script: Path) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script),
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert m is not None, out
    done = int(m.group(1))
    elapsed = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    other = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "ok": done - (int(other.group(1)) if other else 0),
        "other": int(other.group(1)) if other else 0,
        "errors": 1 if errors else 0,
        "elapsed": elapsed,
    }


# -- one measured round ------------------------------------------------------------------


def start_server(
    cmd: list[str], out: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server with stdout to a file (nothing in this process reads its lines).

    capture prints a line per request; a reader thread here would take CPU from the
    very machine being measured, which the bare server does not pay for.
    """
    with out.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        first = out.read_bytes().split(b"\n", 1)[0]
        if first.startswith(b"Listening on"):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not start: {out.read_text(errors='replace')[-2000:]}")


Driver = Callable[[int, float, int], dict[str, float]]


def round_bare(seconds: float, connections: int, workdir: Path, drive_fn: Driver) -> float:
    port = free_port()
    proc = start_server([sys.executable, __file__, "--serve-bare", str(port)], workdir / "bare.out")
    try:
        c = drive_fn(port, seconds, connections)
    finally:
        proc.terminate()
        proc.wait(10)
    return c["ok"] / c["elapsed"]


def tree_cpu(pid: int) -> float | None:
    """CPU seconds used so far by ``pid`` and its descendants (Linux ``/proc``; else None).

    CPU per request does not depend on what else the shared machine runs the way a rate
    does, so it is the steadier figure for comparing two configurations of capture."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            children = [int(c) for c in fh.read().split()]
    except (OSError, ValueError, IndexError):
        return None
    for child in children:
        used = tree_cpu(child)
        total += used or 0.0
    return total


def round_capture(
    seconds: float,
    connections: int,
    workdir: Path,
    n: int | str,
    drive_fn: Driver,
    checks: bool = False,
) -> tuple[float, int, int, float | None]:
    """capture's rate, the 2xx answers the generator read, the 2xx rows in the session, and
    the CPU µs capture (listener and writer) spent per row.

    ``checks``: with the webhook secret and a signing key configured."""
    port = free_port()
    session = workdir / f"bench-{n}.whsession"
    cmd = [sys.executable, "-m", "inspector", "capture", "--port", str(port)]
    # A profile of its own: the user's saved provider settings must not change the figures.
    env = {**os.environ, "WEBHOOK_INSPECTOR_CONFIG_DIR": str(workdir / "config")}
    if checks:
        env["WEBHOOK_INSPECTOR_SECRET"] = SECRET
        env["WEBHOOK_INSPECTOR_SIGNING_KEYS"] = SIGNING_KEY
    proc = start_server([*cmd, "--session", str(session)], workdir / f"capture-{n}.out", env)
    try:
        before = tree_cpu(proc.pid)
        c = drive_fn(port, seconds, connections)
        after = tree_cpu(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    conn = sqlite3.connect(session)
    rows = conn.execute(
        "SELECT count(*) FROM requests WHERE response_status BETWEEN 200 AND 299"
    ).fetchone()[0]
    conn.close()
    cpu = (
        (after - before) / rows * 1e6 if before is not None and after is not None and rows else None
    )
    return c["ok"] / c["elapsed"], int(c["ok"]), int(rows), cpu


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument(
        "--with-checks",
        action="store_true",
        help="signed requests; also capture with a secret and a signing key configured",
    )
    ap.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    global SIGNED
    SIGNED = args.with_checks
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    if generator == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --generator python")
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load generator "
        f"{generator}, {args.connections} keep-alive connections, {args.seconds:g} s per run, "
        f"{args.rounds} rounds",
        flush=True,
    )
    bare_rates: list[float] = []
    cap_rates: list[float] = []
    checked_rates: list[float] = []
    cpu_plain: list[float] = []
    cpu_checked: list[float] = []
    consistent = True
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        drive_fn: Driver = drive
        if generator == "wrk":
            script = wrk_script(work / "catalogue.lua")

            def drive_fn(port: int, seconds: float, connections: int) -> dict[str, float]:
                return drive_wrk(port, seconds, connections, script)

        for n in range(args.rounds):
            checked: tuple[float, int, int, float | None] | None = None
            if args.with_checks and n % 2:
                # Odd rounds measure with checks first: drift on a shared machine then
                # favours neither side.
                checked = round_capture(
                    args.seconds, args.connections, work, f"checks-{n}", drive_fn, checks=True
                )
            b = round_bare(args.seconds, args.connections, work, drive_fn)
            bare_rates.append(b)
            r, acked, rows, cpu = round_capture(args.seconds, args.connections, work, n, drive_fn)
            cap_rates.append(r)
            if cpu is not None:
                cpu_plain.append(cpu)
            if generator == "wrk":
                ok = acked <= rows <= acked + args.connections
                check = f"rows {rows} for {acked} 2xx read ({'ok' if ok else 'MISMATCH'})"
            else:
                ok = acked == rows
                check = f"rows {rows} for {acked} 2xx ({'exact' if ok else 'MISMATCH'})"
            consistent &= ok
            print(
                f"round {n + 1}: bare {b:8.0f} req/s   capture {r:8.0f} req/s   "
                f"ratio {r / b:5.1%}   {check}",
                flush=True,
            )
            if args.with_checks:
                if checked is None:
                    checked = round_capture(
                        args.seconds, args.connections, work, f"checks-{n}", drive_fn, checks=True
                    )
                rc, acked, rows, cpu_c = checked
                checked_rates.append(rc)
                if cpu_c is not None:
                    cpu_checked.append(cpu_c)
                cpu_text = (
                    f"   CPU {cpu_c:.1f} vs {cpu:.1f} us/request"
                    if cpu_c is not None and cpu is not None
                    else ""
                )
                print(
                    f"round {n + 1}: capture with secret and signing key {rc:8.0f} req/s   "
                    f"vs without {rc / r:5.1%}   rows {rows} for {acked} 2xx read{cpu_text}",
                    flush=True,
                )
        # Every 2xx answer must be in the session: the python generator reads every answer.
        _, acked, rows, _ = round_capture(min(args.seconds, 4.0), args.connections, work, -1, drive)
        exact = acked == rows
        print(
            f"exactness: {acked} 2xx answers read, {rows} rows in the session "
            f"({'exact' if exact else 'MISMATCH'})",
            flush=True,
        )
    bare = statistics.median(bare_rates)
    cap = statistics.median(cap_rates)
    # Each round pairs a bare run with a capture run close in time; the median of those
    # paired ratios is steadier on a shared machine than a ratio of two medians.
    ratio = statistics.median(c / b for c, b in zip(cap_rates, bare_rates, strict=True))
    passed = ratio >= 0.5 and exact and consistent
    checks_ratio = None
    if checked_rates:
        checks_ratio = statistics.median(
            c / r for c, r in zip(checked_rates, cap_rates, strict=True)
        )
        passed = passed and checks_ratio >= 0.9
    print(
        json.dumps(
            {
                "generator": generator,
                "bare_req_per_s": round(bare),
                "capture_req_per_s": round(cap),
                "ratio": round(ratio, 3),
                "session_matches_2xx": exact and consistent,
                **(
                    {
                        "capture_with_checks_req_per_s": round(statistics.median(checked_rates)),
                        "checks_ratio": round(checks_ratio, 3),
                        **(
                            {
                                "cpu_us_per_request": round(statistics.median(cpu_plain), 1),
                                "cpu_us_per_request_with_checks": round(
                                    statistics.median(cpu_checked), 1
                                ),
                            }
                            if cpu_plain and cpu_checked
                            else {}
                        ),
                    }
                    if checks_ratio is not None
                    else {}
                ),
            }
        )
    )
    print(
        f"median: bare {bare:.0f} req/s, capture (persisted) {cap:.0f} req/s, "
        f"paired ratio {ratio:.1%} (target >= 50%)"
        + (
            f"; with secret and signing key {checks_ratio:.1%} of without (target >= 90%)"
            if checks_ratio is not None
            else ""
        )
        + f" -> {'PASS' if passed else 'FAIL'}"
    )
    if cpu_plain and cpu_checked:
        plain, with_checks = statistics.median(cpu_plain), statistics.median(cpu_checked)
        print(
            f"CPU per request (listener and writer): {plain:.1f} us without, {with_checks:.1f} us "
            f"with secret and signing key ({with_checks / plain - 1:+.1%})"
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
