"""Export and import benchmark on bench_gui.py's 1,000,000-row session (run by hand).

    .venv/bin/python tests/perf/bench_export.py [--rows 1000000] [--import-entries 100000]

Prints, each measured in a process of its own (so its peak resident memory is its own):
JSONL export, HAR export and redacted HAR export of every row (written to a sink that
counts characters, so the disk is not what is measured), rows/s and peak memory (for a
redacted export with worker processes, the exporting process's peak plus each worker's
largest); the redacted export again with no workers, for comparison; the HAR ratios
against JSONL in the same run (targets: HAR >= 1/2 of JSONL, redacted HAR >= 1/4,
peak < 200 MB); and the import of a HAR of ``--import-entries`` entries into a new session
(target >= 10,000 entries/s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sink:
    """Counts what an export writes."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def one_export(session: Path, fmt: str, redact: bool, workers: int | None) -> None:
    """Child: export every row, print a JSON line of figures (with the largest peak of
    the export's worker processes, if it had any)."""
    import resource

    from inspector.core.session.store import open_existing
    from inspector.core.share.export import ExportOptions, export_to

    conn = open_existing(session)
    sink = Sink()
    t0 = time.perf_counter()
    result = export_to(conn, sink, options=ExportOptions(format=fmt, redact=redact, workers=workers))  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    conn.close()
    print(json.dumps({"rows": result.count, "seconds": seconds, "chars": sink.chars,
                      "peak_mb": peak_rss_mb(),
                      "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                      "summary": result.redaction.sentence() if result.redaction else ""}))


def one_import(har: Path, target: Path) -> None:
    from inspector.core.session.store import SessionStore
    from inspector.core.share.importer import import_file

    store = SessionStore(target)
    t0 = time.perf_counter()
    result = import_file(har, store)
    seconds = time.perf_counter() - t0
    store.close()
    print(json.dumps({"rows": result.imported, "seconds": seconds, "problems": result.problem_count,
                      "peak_mb": peak_rss_mb()}))


def child(*args: str) -> dict:
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def cached_session(rows: int, cache: Path) -> Path:
    from bench_gui import build_session

    from inspector.core.session.store import SCHEMA_VERSION, SessionStore

    cached = cache / f"wi-bench-{rows}-schema{SCHEMA_VERSION}.whsession"
    if cached.exists():
        return cached
    older = sorted(cache.glob(f"wi-bench-{rows}-schema*.whsession"))
    if older:
        # An older schema's cache: a copy brought up to date is the same rows.
        tmp = cached.with_suffix(".building")
        shutil.copyfile(older[-1], tmp)
        SessionStore(tmp).close()
        tmp.rename(cached)
        return cached
    print(f"building {cached} (once) ...")
    build_session(cached, rows)
    return cached


def main() -> int:
    parser = argparse.ArgumentParser(description="Export benchmark (see module docstring)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--import-entries", type=int, default=100_000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "export":
            one_export(Path(rest[0]), rest[1], rest[2] == "1", None if rest[3] == "auto" else int(rest[3]))
        else:
            one_import(Path(rest[0]), Path(rest[1]))
        return 0

    home = Path(tempfile.mkdtemp(prefix="wi-bench-export-"))
    os.environ["WEBHOOK_INSPECTOR_DATA_DIR"] = str(home / "data")
    os.environ["WEBHOOK_INSPECTOR_CONFIG_DIR"] = str(home / "config")
    session = cached_session(args.rows, args.cache)
    with open(session, "rb") as fh:  # warm the OS cache, as for every run after the first
        while fh.read(1 << 24):
            pass
    print(f"session: {session} ({session.stat().st_size / 1e6:,.0f} MB, {args.rows:,} rows)")

    from inspector.core.share.workers import available_cores

    workers = min(4, available_cores())
    figures = {}
    runs = [("JSONL", "jsonl", "0", "auto"), ("HAR", "har", "0", "auto"),
            ("HAR redacted", "har", "1", "auto")]
    if workers > 1:
        # The same export with its redaction in this process only, for comparison.
        runs.append(("HAR redacted, no workers", "har", "1", "0"))
    for name, fmt, redact, nworkers in runs:
        f = child("--child", "export", str(session), fmt, redact, nworkers)
        figures[name] = f
        print(f"{name:<13} {f['rows']:>9,} rows in {f['seconds']:6.1f} s = "
              f"{f['rows'] / f['seconds']:>8,.0f} rows/s, {f['chars'] / 1e6:,.0f} M chars, "
              f"peak {f['peak_mb']:.0f} MB")
        if redact == "1" and nworkers == "auto" and workers > 1:
            f["total_mb"] = f["peak_mb"] + workers * f["worker_peak_mb"]
            print(f"              {workers} workers, each at most {f['worker_peak_mb']:.0f} MB: "
                  f"{f['total_mb']:.0f} MB for the export's processes together")
        if f["summary"]:
            print(f"              {f['summary']}")
    base = figures["JSONL"]["rows"] / figures["JSONL"]["seconds"]
    for name, target in (("HAR", 0.5), ("HAR redacted", 0.25), ("HAR redacted, no workers", 0.25)):
        if name not in figures:
            continue
        speed = figures[name]["rows"] / figures[name]["seconds"]
        verdict = "met" if speed / base >= target else "MISSED"
        print(f"{name} / JSONL speed: {speed / base:.2f} (target {target}: {verdict})")
    for name, f in figures.items():
        peak = f.get("total_mb", f["peak_mb"])
        verdict = "met" if peak < 200 else "MISSED"
        print(f"{name} peak memory: {peak:.0f} MB (target < 200 MB: {verdict})")

    # Import: a HAR of the first N rows, imported into a new session.
    from inspector.core.session.store import open_existing
    from inspector.core.share.export import ExportOptions, write_export_file
    from inspector.core.share.selection import Selection

    har = home / "import.har"
    conn = open_existing(session)
    write_export_file(conn, har, Selection.of_ids(range(1, args.import_entries + 1)),
                      ExportOptions(format="har"))
    conn.close()
    f = child("--child", "import", str(har), str(home / "imported.whsession"))
    speed = f["rows"] / f["seconds"]
    verdict = "met" if speed >= 10_000 else "MISSED"
    print(f"import HAR    {f['rows']:>9,} entries ({har.stat().st_size / 1e6:,.0f} MB) in "
          f"{f['seconds']:.1f} s = {speed:,.0f} entries/s (target >= 10,000: {verdict}), "
          f"peak {f['peak_mb']:.0f} MB, {f['problems']} problems")
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
