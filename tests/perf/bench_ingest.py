"""Ingest benchmark: ``capture`` with every request persisted vs a bare aiohttp server.

Run by hand (not part of the test suite):

    .venv/bin/python tests/perf/bench_ingest.py [--seconds 10] [--connections 64] [--rounds 2]
                                                [--generator auto|wrk|python] [--rules]
                                                [--with-checks]

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

``--with-checks``: every request carries the provider's ``Authorization: Bearer`` secret and a
``Signature`` header, and each round also runs capture with that secret and a signing key
configured (through the environment, as a user would), against capture without them in the
same round; the target is within 10% of capture without them. The session's verdicts must
say every checked request passed, or the run fails.

The two options go together: each round then runs plain capture, the two rule files and the
checks in turn, every request signed. Every capture runs with a configuration folder of its
own, so the provider settings saved in the window do not change the figures; each reports
its rate and the CPU its two processes (listener and writer) spent per request, which a busy
machine disturbs far less than a rate.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The secret and signing key of ``--with-checks`` (the Signature key is the webhook id).
SECRET = "bench-secret-6b1f"
SIGNING_KEY = "0f8e2c44-webhook-id"
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


def auth_headers(body: bytes, signed: bool) -> dict[str, str]:
    """The headers the provider adds when a secret and signing are set, or none."""
    if not signed:
        return {}
    signature = hmac.new(SIGNING_KEY.encode(), body, hashlib.sha256).hexdigest()
    return {"Authorization": f"Bearer {SECRET}", "Signature": signature}


def build_requests(port: int, signed: bool = False) -> list[bytes]:
    out = []
    for f in sorted(CATALOGUE.glob("*.json")):
        body = f.read_bytes()
        product = f.stem.split("_")[1]
        extra = "".join(f"{k}: {v}\r\n" for k, v in auth_headers(body, signed).items())
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


def run_load(port: int, seconds: float, connections: int, signed: bool, result: mp.Queue) -> None:
    async def main() -> None:
        reqs = build_requests(port, signed)
        counts = {"ok": 0, "other": 0, "errors": 0}
        start = time.monotonic()
        await asyncio.gather(
            *(_worker(port, reqs, n, start + seconds, counts) for n in range(connections))
        )
        counts["elapsed"] = time.monotonic() - start  # type: ignore[assignment]
        result.put(counts)

    asyncio.run(main())


def drive(port: int, seconds: float, connections: int, signed: bool = False) -> dict[str, float]:
    q: mp.Queue = mp.Queue()
    p = mp.Process(target=run_load, args=(port, seconds, connections, signed, q))
    p.start()
    counts = q.get(timeout=seconds + 120)
    p.join()
    return counts


def wrk_script(path: Path, signed: bool = False) -> Path:
    """A Lua script for wrk that sends the catalogue payloads in turn."""
    lines = ["local reqs = {}"]
    for f in sorted(CATALOGUE.glob("*.json")):
        body = f.read_text()
        assert "]==]" not in body
        product = f.stem.split("_")[1]
        extra = "".join(
            f', ["{k}"] = "{v}"' for k, v in auth_headers(f.read_bytes(), signed).items()
        )
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


@dataclass(frozen=True)
class Variant:
    """One way of running capture; every other one is compared with plain capture."""

    key: str  # in file names and the JSON figures
    label: str  # in the printed lines
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    #: The authenticity verdict every row must carry: "ok" when the checks are configured,
    #: "" (nothing checked) otherwise, so that a run measuring the wrong thing fails.
    verdict: str = ""


PLAIN = Variant("plain", "plain capture")


@dataclass(frozen=True)
class Measured:
    """What one capture run gave."""

    rate: float  # 2xx answers per second, as the generator read them
    acked: int  # 2xx answers the generator read
    rows: int  # 2xx rows in the session
    total: int  # all rows in the session
    cpu_us: float  # CPU µs of capture's two processes (listener and writer) per row
    verdicts: dict[str, int]  # rows per authenticity verdict


def capture_env(workdir: Path, variant: Variant) -> dict[str, str]:
    """The environment of one capture: a profile of its own, then the variant's settings.

    Settings saved in the window, or provider keys in this shell's environment, would
    otherwise turn plain capture into a checked one and change the figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_INSPECTOR_")}
    env["WEBHOOK_INSPECTOR_CONFIG_DIR"] = str(workdir / "config")
    env["WEBHOOK_INSPECTOR_DATA_DIR"] = str(workdir / "data")
    return {**env, **variant.env}


def round_capture(
    variant: Variant,
    seconds: float,
    connections: int,
    workdir: Path,
    n: int | str,
    drive_fn: Driver,
) -> Measured:
    """Run capture as ``variant`` says under the generator and read back its session."""
    port = free_port()
    name = f"{n}-{variant.key}"
    session = workdir / f"bench-{name}.whsession"
    cmd = [sys.executable, "-m", "inspector", "capture", "--port", str(port), *variant.args]
    proc = start_server(
        [*cmd, "--session", str(session)],
        workdir / f"capture-{name}.out",
        capture_env(workdir, variant),
    )
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
    verdicts = dict(conn.execute("SELECT auth_result, count(*) FROM requests GROUP BY 1"))
    conn.close()
    total = sum(verdicts.values())
    return Measured(
        rate=c["ok"] / c["elapsed"],
        acked=int(c["ok"]),
        rows=int(rows),
        total=total,
        cpu_us=(after - before) / max(total, 1) * 1e6,
        verdicts=verdicts,
    )


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


def verify(m: Measured, variant: Variant, generator: str, connections: int) -> tuple[bool, str]:
    """Whether the session holds what the generator was told, and how that reads."""
    if generator == "wrk":
        ok = m.acked <= m.rows <= m.acked + connections
        text = f"rows {m.rows} for {m.acked} 2xx read ({'ok' if ok else 'MISMATCH'})"
    else:
        ok = m.acked == m.rows
        text = f"rows {m.rows} for {m.acked} 2xx ({'exact' if ok else 'MISMATCH'})"
    if m.verdicts != {variant.verdict: m.total}:
        ok = False
        found = ", ".join(f"{v or 'unchecked'} {c}" for v, c in sorted(m.verdicts.items()))
        text += f"   CHECKS: expected all {variant.verdict or 'unchecked'}, got {found}"
    return ok, text


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
    ap.add_argument(
        "--with-checks",
        action="store_true",
        help="signed requests; also capture with a secret and a signing key configured",
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
    signed = args.with_checks
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load generator "
        f"{generator}, {args.connections} keep-alive connections, {args.seconds:g} s per run, "
        f"{args.rounds} rounds" + ("; every request signed" if signed else ""),
        flush=True,
    )
    bare_rates: list[float] = []
    consistent = True
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        python_drive: Driver = functools.partial(drive, signed=signed)
        drive_fn = python_drive
        if generator == "wrk":
            script = wrk_script(work / "catalogue.lua", signed)

            def drive_fn(port: int, seconds: float, connections: int) -> dict[str, float]:
                return drive_wrk(port, seconds, connections, script)

        variants = [PLAIN]
        if args.rules:
            for key, what, last_matches in (
                ("rules_none", "none matching", False),
                ("rules_one", "the 20th matching every request", True),
            ):
                rules = rules_file(work / f"{key}.toml", last_matches=last_matches)
                variants.append(Variant(key, f"20 rules, {what}", ("--rules", str(rules))))
        if args.with_checks:
            variants.append(
                Variant(
                    "checks",
                    "secret and signing key",
                    env={
                        "WEBHOOK_INSPECTOR_SECRET": SECRET,
                        "WEBHOOK_INSPECTOR_SIGNING_KEYS": SIGNING_KEY,
                    },
                    verdict="ok",
                )  # fmt: skip
            )
        runs: dict[str, list[Measured]] = {v.key: [] for v in variants}
        for n in range(args.rounds):
            b = round_bare(args.seconds, args.connections, work, drive_fn)
            bare_rates.append(b)
            # The captures take turns going first, so that a load that changes during a
            # round does not always favour the same one.
            shift = n % len(variants)
            got = {
                v.key: round_capture(v, args.seconds, args.connections, work, n, drive_fn)
                for v in variants[shift:] + variants[:shift]
            }
            r = got[PLAIN.key].rate
            for v in variants:
                m = got[v.key]
                runs[v.key].append(m)
                ok, check = verify(m, v, generator, args.connections)
                consistent &= ok
                if v is PLAIN:
                    head = f"round {n + 1}: bare {b:8.0f} req/s   capture {r:8.0f} req/s   "
                    print(f"{head}ratio {r / b:5.1%}   {check}   CPU {m.cpu_us:.1f} us/request")
                else:
                    print(
                        f"         {v.label}: {m.rate:8.0f} req/s   {m.rate / r:5.1%} of "
                        f"capture   {check}   CPU {m.cpu_us:.1f} us/request"
                    )
            sys.stdout.flush()
        # Every 2xx answer must be in the session: the python generator reads every answer.
        m = round_capture(PLAIN, min(args.seconds, 4.0), args.connections, work, "exact",
                          python_drive)  # fmt: skip
        exact, check = verify(m, PLAIN, "python", args.connections)
        print(f"exactness: {check}", flush=True)
    bare = statistics.median(bare_rates)
    cap_rates = [m.rate for m in runs[PLAIN.key]]
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
    cpu = {v.key: statistics.median(m.cpu_us for m in runs[v.key]) for v in variants}
    figures["cpu_us_per_request_plain"] = round(cpu[PLAIN.key], 1)
    for v in variants[1:]:
        rates = [m.rate for m in runs[v.key]]
        paired = statistics.median(x / c for x, c in zip(rates, cap_rates, strict=True))
        figures[f"{v.key}_req_per_s"] = round(statistics.median(rates))
        figures[f"{v.key}_vs_capture"] = round(paired, 3)
        figures[f"cpu_us_per_request_{v.key}"] = round(cpu[v.key], 1)
        passed &= paired >= 0.9
        print(
            f"median with {v.label}: {statistics.median(rates):.0f} req/s, paired "
            f"{paired:.1%} of plain capture (target >= 90%)",
            flush=True,
        )
    print(
        "CPU per request (listener + writer, median): "
        + "; ".join(
            f"{v.label} {cpu[v.key]:.1f} us"
            + ("" if v is PLAIN else f" ({cpu[v.key] / cpu[PLAIN.key] - 1:+.1%})")
            for v in variants
        ),
        flush=True,
    )
    print(json.dumps(figures))
    print(
        f"median: bare {bare:.0f} req/s, capture (persisted) {cap:.0f} req/s, "
        f"paired ratio {ratio:.1%} (target >= 50%) -> {'PASS' if passed else 'FAIL'}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
