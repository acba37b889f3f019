"""How long the detail pane takes to show hostile-sized text: seconds per view, offscreen.

Run by hand (not part of the test suite):

    .venv/bin/python tests/perf/bench_hostile_views.py [--baseline REV] [--timeout 120]

Three cases, each set into its real widget (900 x 600, shown) and grabbed, which lays
out and paints what is visible:

- event card: a stored warning of 8.9 MB (``unexpected field(s): k0, k1, ...`` for a
  body of a million keys, as sessions written before warnings were bounded hold);
- raw tab: 1 MiB of text without a line break;
- headers tab: two 1 MiB header values (one a single word, one many words).

Each case runs in a process of its own.  ``--baseline REV`` also runs them on the code
at git revision REV (exported to a temporary folder), in the same run, for a ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = ("event card", "raw tab", "headers tab")

_MEASURE = r"""
import sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
case = sys.argv[1]
if case == "event card":
    from inspector.core.session.store import RowSummary, StoredRequest
    from inspector.gui.detail.event_card import EventCard
    s = RowSummary(1, 1, 1_700_000_000_000_000, "POST", "/w", "", "whatsapp:message:status",
                   "whatsapp", "read", "success", "m", "a", "b", "", 10, 1, 200, False, "", "")
    huge = "unexpected field(s): " + ", ".join(f"k{i}" for i in range(1_000_000))
    request = StoredRequest(s, "1.1", [], b"{}", None, "application/json", [], b"", [huge])
    widget = EventCard()
    show = lambda: widget.set_request(request, None, False)
elif case == "raw tab":
    from inspector.gui.detail.raw_view import RawView
    widget = RawView()
    show = lambda: widget.set_body(b"a" * (1 << 20), [])
else:
    from inspector.gui.detail.headers_view import HeadersView
    widget = HeadersView()
    headers = [("X-Big", "a" * (1 << 20)), ("X-Words", "word " * 209_716)]
    show = lambda: widget.set_request("POST / HTTP/1.1", headers, 200, [])
widget.resize(900, 600)
widget.show()
app.processEvents()
started = time.perf_counter()
show()
app.processEvents()
widget.grab()
print(f"{time.perf_counter() - started:.3f}")
"""


def measure(tree: Path, case: str, timeout: float) -> str:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(tree))
    try:
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, case],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f}"
    return done.stdout.strip().splitlines()[-1]


def export(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", rev, "inspector", "resources"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    # The package maps resources/ to inspector.resources; a plain tree needs the folder there.
    (into / "inspector" / "resources").mkdir(exist_ok=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--baseline", metavar="REV", help="also time the code at git REV")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = export(args.baseline, Path(tmp)) if args.baseline else None
        print(f"{'case':<14}{'now, s':>10}" + (f"{'baseline, s':>14}" if base else ""))
        for case in CASES:
            now = measure(ROOT, case, args.timeout)
            line = f"{case:<14}{now:>10}"
            if base is not None:
                line += f"{measure(base, case, args.timeout):>14}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
