"""Checks the frozen build against the installed package, and prints its size and start-up.

Run by hand after ``packaging/build-linux.sh`` (it is not part of the test run: it needs the
build, which takes a minute and 150 MB)::

    .venv/bin/python packaging/check_frozen.py [--app dist/webhook-inspector] [--shot FILE.png]

For the frozen binary and for the venv's ``webhook-inspector`` alike it starts ``capture``
on 127.0.0.1, sends the catalogue payloads (tests/fixtures/catalogue) over loopback, stops
it, exports the session as JSONL with the same binary, and compares the two exports (the
arrival times and the Host header's port must differ; nothing else may). Then it opens the
frozen window offscreen and saves a screenshot, starts the frozen ``capture --tunnel``
against the test suite's stand-in ngrok agent, and times ``--help``, ``events`` and the
window (start to first frame, ``WEBHOOK_INSPECTOR_SNAPSHOT``) for both. Exits non-zero on
any difference or failure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "tests" / "fixtures" / "catalogue"


def private_env(home: Path, **extra: str) -> dict[str, str]:
    """The user's folders moved into ``home``: the check never touches the real ones."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.update(
        WEBHOOK_INSPECTOR_DATA_DIR=str(home / "data"),
        WEBHOOK_INSPECTOR_CONFIG_DIR=str(home / "config"),
        WEBHOOK_INSPECTOR_LOG_DIR=str(home / "log"),
        XDG_CONFIG_HOME=str(home / "xdg-config"),
    )
    env.pop("NGROK_AUTHTOKEN", None)
    env.update(extra)
    return env


def capture_and_export(command: list[str], work: Path) -> list[dict[str, Any]]:
    """Capture the catalogue with ``command`` and export it with the same command."""
    work.mkdir(parents=True)
    session = work / "catalogue.whsession"
    env = private_env(work)
    proc = subprocess.Popen(
        [*command, "capture", "--host", "127.0.0.1", "--port", "0", "--session", str(session)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        if not first.startswith("Listening on http://127.0.0.1:"):
            raise SystemExit(f"error: {command[0]} capture did not start: {first!r}")
        url = first.removeprefix("Listening on ").rstrip("/")
        for payload in sorted(CATALOGUE.glob("*.json")):
            product = payload.stem.split("_")[1]
            req = urllib.request.Request(
                f"{url}/{product}",
                data=payload.read_bytes(),
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "check-frozen"},
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                if resp.status != 200:
                    raise SystemExit(f"error: {payload.name} was answered {resp.status}")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    if proc.returncode != 0:
        raise SystemExit(f"error: capture exited {proc.returncode}: {err.strip()}")
    out = work / "export.jsonl"
    done = subprocess.run(
        [*command, "export", str(session), "--format", "jsonl", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise SystemExit(f"error: export failed: {done.stderr.strip()}")
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def tunnel_starts(command: list[str], work: Path) -> str:
    """``capture --tunnel`` against the test suite's stand-in ngrok agent: the public URL."""
    sys.path.insert(0, str(ROOT))
    from tests.fake_ngrok.harness import AUTHTOKEN, install_fake_agent

    agent = install_fake_agent(work / "bin")
    env = private_env(
        work, NGROK_AUTHTOKEN=AUTHTOKEN, FAKE_NGROK_STATE_DIR=str(work / "agent-state")
    )
    proc = subprocess.Popen(
        [*command, "capture", "--port", "0", "--session", str(work / "t.whsession"),
         "--tunnel", "--ngrok-path", str(agent)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        second = proc.stdout.readline().strip()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    if not second.startswith("Public URL: https://"):
        raise SystemExit(f"error: the tunnel did not start: {second!r} {err.strip()}")
    return second.removeprefix("Public URL: ")


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A row without what must differ between two runs: arrival time, the Host's port."""
    row = dict(row)
    row.pop("received_at")
    row["headers"] = [
        [name, "127.0.0.1:PORT" if name.lower() == "host" else value]
        for name, value in row["headers"]
    ]
    return row


def run_ms(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU time (user + system) of one successful run of ``command``, in ms. The
    CPU time hardly moves with the load of a shared machine; the wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def window_shown(command: list[str], home: Path, shot: Path, session: Path | None = None) -> float:
    """ms from starting the window (on a new session, or ``session``) to its first frame
    saved (the snapshot hook)."""
    shot.unlink(missing_ok=True)
    env = private_env(home, WEBHOOK_INSPECTOR_SNAPSHOT=str(shot))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*command, "--port", "0", "--session", str(session or home / "window.whsession")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    while not shot.exists():
        if proc.poll() is not None:
            raise SystemExit(f"error: the window exited {proc.returncode} without a snapshot")
        if time.perf_counter() - start > 60:
            proc.kill()
            raise SystemExit("error: the window showed nothing within 60 s")
        time.sleep(0.002)
    shown = (time.perf_counter() - start) * 1000
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise SystemExit(f"error: the window exited {proc.returncode}: {err.decode().strip()}")
    return shown


def size_mb(folder: Path) -> float:
    # PyInstaller links some libraries twice (symlinks): count each file once.
    files = [f for f in folder.rglob("*") if f.is_file() and not f.is_symlink()]
    return sum(f.stat().st_size for f in files) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", type=Path, default=ROOT / "dist" / "webhook-inspector")
    parser.add_argument("--shot", type=Path, default=Path("frozen-window.png"))
    parser.add_argument("--runs", type=int, default=5, help="runs per timing (median)")
    args = parser.parse_args()

    frozen = [str(args.app / "webhook-inspector")]
    venv_exe = shutil.which("webhook-inspector", path=str(Path(sys.executable).parent))
    venv = [venv_exe] if venv_exe else [sys.executable, "-m", "inspector"]
    if not Path(frozen[0]).is_file():
        print(
            f"error: no frozen build at {args.app}; run packaging/build-linux.sh", file=sys.stderr
        )
        return 1

    with tempfile.TemporaryDirectory(prefix="check-frozen-") as tmp:
        work = Path(tmp)
        rows_frozen = capture_and_export(frozen, work / "frozen")
        rows_venv = capture_and_export(venv, work / "venv")
        expected = len(list(CATALOGUE.glob("*.json")))
        if len(rows_frozen) != expected or len(rows_venv) != expected:
            print(f"error: {len(rows_frozen)} and {len(rows_venv)} rows, not {expected}")
            return 1
        differ = [
            (f["seq"], key)
            for f, v in zip(rows_frozen, rows_venv, strict=True)
            for key in sorted(set(f) | set(v))
            if comparable(f).get(key) != comparable(v).get(key)
        ]
        if differ:
            print(f"error: the exports differ at (seq, key): {differ[:10]}")
            return 1
        print(f"capture + export: {expected} catalogue requests, frozen and venv exports identical")
        events = len({r["event"] for r in rows_frozen})
        print(f"  ({events} distinct events; received_at and the Host port aside)")

        url = tunnel_starts(frozen, work / "tunnel")
        print(f"capture --tunnel (stand-in ngrok agent): {url}")

        captured = work / "frozen" / "catalogue.whsession"
        window_shown(frozen, work / "shot", args.shot.resolve(), captured)
        print(f"window screenshot of the frozen build on the captured session: {args.shot}")

        print(f"\nsize of {args.app}: {size_mb(args.app):.0f} MB")
        print(f"timings, median of {args.runs} runs, ms: frozen (CPU)   venv (CPU)")
        # Frozen and venv alternate, so a change in the machine's load hits both alike.
        for label, sub in (("--help", ["--help"]), ("events", ["events"])):
            env = private_env(work / "t")
            runs_f, runs_v = [], []
            for _ in range(args.runs):
                runs_f.append(run_ms([*frozen, *sub], env))
                runs_v.append(run_ms([*venv, *sub], env))
            fw, fc = (statistics.median(x) for x in zip(*runs_f, strict=True))
            vw, vc = (statistics.median(x) for x in zip(*runs_v, strict=True))
            print(f"  {label:<30} {fw:6.0f} ({fc:4.0f})  {vw:6.0f} ({vc:4.0f})")
        shown_f, shown_v = [], []
        for i in range(args.runs):
            shown_f.append(window_shown(frozen, work / f"wf{i}", work / f"wf{i}.png"))
            shown_v.append(window_shown(venv, work / f"wv{i}", work / f"wv{i}.png"))
        print(
            f"  {'window, start to first frame':<30} "
            f"{statistics.median(shown_f):6.0f}         {statistics.median(shown_v):6.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
