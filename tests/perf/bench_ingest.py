"""Ingest benchmark: ``capture`` with every request persisted vs a bare aiohttp server.

Run by hand (not part of the test suite):

    .venv/bin/python tests/perf/bench_ingest.py [--seconds 10] [--connections 64] [--rounds 2]
                                                [--generator auto|wrk|python] [--rules]

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

``--rules``: each round also runs capture with 20 response rules loaded (``capture
--rules``), once with none of them matching any request and once with the last one
matching every request (so all 20 are tried each time), against plain capture in the same
round; the target is 0.9x of plain capture or better.
"""

from __future__ import annotations

import argparse
import asyncio
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


def build_requests(port: int) -> list[bytes]:
    out = []
    for f in sorted(CATALOGUE.glob("*.json")):
        body = f.read_bytes()
        product = f.stem.split("_")[1]
        head = (
            f"POST {PATHS.get(product, '/')} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
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
        lines.append(
            f'reqs[#reqs + 1] = wrk.format("POST", "{PATHS.get(product, "/")}", '
            f'{{["Host"] = "127.0.0.1", ["Content-Type"] = "application/json"}}, '
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


# -- response rules ---------------------------------------------------------------------

#: Twenty rules of the kinds users write (event, status, product, path, method, numbers),
#: none of which matches a catalogue payload.
_MISSING_RULES = [
    ("match", "event:rcs:message:in status:nothing"),
    ("match", "event:whatsapp:message:status status:deleted"),
    ("match", "event:viber:message:status status:failed"),
    ("match", "product:sms class:failure"),
    ("match", "event:voice:message:out status:BUSY"),
    ("match", "has:tunnel"),
    ("match", "from:44"),
    ("match", "to:*99999"),
    ("match", "id:zz"),
    ("match", "method:DELETE"),
    ("match", 'event:vmn:message:in "refund"'),
    ("match", "event:contacts status:deleted"),
    ("match", "product:rcs status:read -class:success"),
    ("match", "event:sms:unsubscription from:1"),
    ("path", "/nope/*"),
    ("path", "/whatsapp/retry*"),
    ("method", "PUT"),
    ("match", "class:unknown product:contacts"),
    ("match", "event:whatsapp:message:in id:none"),
]


def rules_file(path: Path, *, last_matches: bool) -> Path:
    """20 rules: 19 that never match, and a 20th that matches everything or nothing."""
    lines = []
    for n, (key, value) in enumerate(_MISSING_RULES):
        lines += [
            "[[rule]]",
            f'name = "miss-{n}"',
            f"{key} = {json.dumps(value)}",
            "respond = 500",
            "",
        ]
    last = '"/*"' if last_matches else '"/never/*"'
    lines += ["[[rule]]", 'name = "last"', f"path = {last}", "respond = 200",
              "body = '{\"ok\": true}'", ""]  # fmt: skip
    path.write_text("\n".join(lines))
    return path


# -- one measured round ------------------------------------------------------------------


def start_server(cmd: list[str], out: Path) -> subprocess.Popen[bytes]:
    """Start a server with stdout to a file (nothing in this process reads its lines).

    capture prints a line per request; a reader thread here would take CPU from the
    very machine being measured, which the bare server does not pay for.
    """
    with out.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
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


def round_capture(
    seconds: float,
    connections: int,
    workdir: Path,
    n: int,
    drive_fn: Driver,
    rules: Path | None = None,
    tag: str = "",
) -> tuple[float, int, int]:
    """capture's rate, the 2xx answers the generator read, and the 2xx rows in the session."""
    port = free_port()
    session = workdir / f"bench-{n}{tag}.whsession"
    cmd = [sys.executable, "-m", "inspector", "capture", "--port", str(port)]
    if rules is not None:
        cmd += ["--rules", str(rules)]
    proc = start_server([*cmd, "--session", str(session)], workdir / f"capture-{n}{tag}.out")
    try:
        before = process_cpu(proc.pid)
        c = drive_fn(port, seconds, connections)
        after = process_cpu(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    conn = sqlite3.connect(session)
    rows = conn.execute(
        "SELECT count(*) FROM requests WHERE response_status BETWEEN 200 AND 299"
    ).fetchone()[0]
    total = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    conn.close()
    CPU_PER_REQUEST[tag or "plain"].append((after - before) / max(total, 1) * 1e6)
    return c["ok"] / c["elapsed"], int(c["ok"]), int(rows)


#: CPU µs per request of capture's two processes (listener and writer), per variant: on a
#: shared machine this is steadier than requests per second, which other users' load moves.
CPU_PER_REQUEST: dict[str, list[float]] = {"plain": [], "-none": [], "-one": [], "-plain": []}


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its children, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):  # the writer is a child of the engine thread
        try:
            pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument(
        "--rules", action="store_true", help="also capture with 20 rules loaded (see above)"
    )
    ap.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
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
    none_rates: list[float] = []
    one_rates: list[float] = []
    consistent = True
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        drive_fn: Driver = drive
        if generator == "wrk":
            script = wrk_script(work / "catalogue.lua")

            def drive_fn(port: int, seconds: float, connections: int) -> dict[str, float]:
                return drive_wrk(port, seconds, connections, script)

        rules_files = {
            "none": rules_file(work / "rules-none.toml", last_matches=False),
            "one": rules_file(work / "rules-one.toml", last_matches=True),
        }
        for n in range(args.rounds):
            b = round_bare(args.seconds, args.connections, work, drive_fn)
            bare_rates.append(b)
            # With --rules, the three captures take turns going first, so that a load that
            # changes during a round does not always favour the same one.
            order = ["plain", "none", "one"] if args.rules else ["plain"]
            order = order[n % len(order) :] + order[: n % len(order)]
            rates: dict[str, float] = {}
            checks: dict[str, str] = {}
            for tag in order:
                rr, acked, rows = round_capture(
                    args.seconds, args.connections, work, n, drive_fn,
                    rules_files.get(tag), f"-{tag}",
                )  # fmt: skip
                rates[tag] = rr
                if generator == "wrk":
                    ok = acked <= rows <= acked + args.connections
                    checks[tag] = f"rows {rows} for {acked} 2xx read ({'ok' if ok else 'MISMATCH'})"
                else:
                    ok = acked == rows
                    checks[tag] = f"rows {rows} for {acked} 2xx ({'exact' if ok else 'MISMATCH'})"
                consistent &= ok
            r = rates["plain"]
            cap_rates.append(r)
            print(
                f"round {n + 1}: bare {b:8.0f} req/s   capture {r:8.0f} req/s   "
                f"ratio {r / b:5.1%}   {checks['plain']}",
                flush=True,
            )
            if args.rules:
                none_rates.append(rates["none"])
                one_rates.append(rates["one"])
                for tag, what in (
                    ("none", "none matching"),
                    ("one", "the 20th matching every request"),
                ):
                    print(
                        f"         20 rules, {what}: {rates[tag]:8.0f} req/s   "
                        f"{rates[tag] / r:5.1%} of capture   {checks[tag]}",
                        flush=True,
                    )
        # Every 2xx answer must be in the session: the python generator reads every answer.
        _, acked, rows = round_capture(min(args.seconds, 4.0), args.connections, work, -1, drive)
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
    figures: dict[str, object] = {
        "generator": generator,
        "bare_req_per_s": round(bare),
        "capture_req_per_s": round(cap),
        "ratio": round(ratio, 3),
        "session_matches_2xx": exact and consistent,
    }
    if args.rules:
        for tag, rates in (("none", none_rates), ("one", one_rates)):
            paired = statistics.median(x / c for x, c in zip(rates, cap_rates, strict=True))
            figures[f"rules_{tag}_req_per_s"] = round(statistics.median(rates))
            figures[f"rules_{tag}_vs_capture"] = round(paired, 3)
            passed &= paired >= 0.9
            print(
                f"median with 20 rules ({tag} matching): {statistics.median(rates):.0f} req/s, "
                f"paired {paired:.1%} of capture without rules (target >= 90%)",
                flush=True,
            )
    if args.rules:
        for tag in ("-plain", "-none", "-one"):
            cpu = CPU_PER_REQUEST[tag]
            if cpu:
                figures[f"cpu_us_per_request{tag.replace('-', '_')}"] = round(
                    statistics.median(cpu), 1
                )
        print(
            "CPU per request (listener + writer, median): "
            + ", ".join(
                f"{name} {statistics.median(CPU_PER_REQUEST[tag]):.1f} us"
                for tag, name in (("-plain", "no rules"), ("-none", "20 rules, none matching"),
                                  ("-one", "20 rules, one matching"))
                if CPU_PER_REQUEST[tag]
            ),
            flush=True,
        )  # fmt: skip
    print(json.dumps(figures))
    print(
        f"median: bare {bare:.0f} req/s, capture (persisted) {cap:.0f} req/s, "
        f"paired ratio {ratio:.1%} (target >= 50%) -> {'PASS' if passed else 'FAIL'}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
