"""Share dialog and session copy on a large session (run by hand, not by pytest).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/perf/bench_share_preview.py \
        [--rows 1000000] [--count-seconds 10] [--no-copy]

Uses the cached session of ``bench_gui.py`` (built once under /tmp).  Prints: the time to
open the Share dialog on every request and show its first screen, to jump to the last
request and expand it, to rebuild the preview (Update preview); the background count's
rate (requests a second) with the dialog idle and while jumping through the preview, the
longest gap of a 10 ms GUI timer meanwhile, the time to paint after a jump; and for
Save a Copy As...: the copy's time and rate, and the longest timer gap while it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.perf.bench_gui import build_session  # noqa: E402


def cached_session(rows: int, cache: Path) -> Path:
    """bench_gui.py's session of ``rows`` requests, built once (read here, never written)."""
    from inspector.core.session.store import SCHEMA_VERSION

    cached = cache / f"wi-bench-{rows}-schema{SCHEMA_VERSION}.whsession"
    if not cached.exists():
        print(f"building {cached} (once) ...")
        build_session(cached, rows)
    return cached


class Gaps:
    """A 10 ms timer that remembers the longest time between two of its ticks."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.longest = 0
        self.ticks = 0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.clock.start()
        self.timer.start()

    def _tick(self) -> None:
        self.longest = max(self.longest, self.clock.restart())
        self.ticks += 1

    def stop(self) -> int:
        self.timer.stop()
        return self.longest


def pump(app: QApplication, seconds: float) -> None:
    """Run the event loop for ``seconds``, idle as the app's own loop is (no Python)."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--count-seconds", type=float, default=10.0)
    parser.add_argument("--no-copy", action="store_true")
    args = parser.parse_args()
    session = cached_session(args.rows, args.cache)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)

    from inspector.core.share.selection import Selection
    from inspector.gui.share_dialog import ShareDialog

    t = time.perf_counter()
    dialog = ShareDialog(session, Selection())
    dialog.show()
    app.processEvents()
    print(f"share dialog on {dialog.model.rowCount():,} requests: first screen in "
          f"{time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    last = dialog.model.index(dialog.model.rowCount() - 1, 0)
    dialog.tree.expand(last)
    dialog.tree.scrollTo(dialog.model.index(0, 0, last))
    app.processEvents()
    print(f"jump to the last request and expand it ({dialog.model.rowCount(last)} changes): "
          f"{time.perf_counter() - t:.3f} s")
    gaps = Gaps()
    gaps.start()
    pump(app, args.count_seconds)
    idle = dialog.count_progress.value()
    print(f"count, dialog idle: {idle:,} requests in {args.count_seconds:.0f} s = "
          f"{idle / args.count_seconds:,.0f}/s; longest 10 ms timer gap meanwhile "
          f"{gaps.stop()} ms over {gaps.ticks} ticks")
    bar = dialog.tree.verticalScrollBar()

    def jumps(seconds: float, seed: int) -> str:
        """Jump through the preview as a drag of the scroll bar does, painting each time."""
        repaints = []
        end = time.monotonic() + seconds
        step = 0
        while time.monotonic() < end:
            step += 1
            bar.setValue(bar.maximum() * ((seed + step * 7919) % 100_003) // 100_003)
            t = time.perf_counter()
            dialog.tree.viewport().repaint()
            repaints.append(time.perf_counter() - t)
            pump(app, 0.05)
        repaints.sort()
        return (f"a jump painted in {repaints[len(repaints) // 2] * 1000:.0f} ms (median), "
                f"{repaints[-1] * 1000:.0f} ms (worst of {len(repaints)})")

    during = jumps(args.count_seconds, 1)
    counter = dialog.counter
    done = dialog.count_progress.value() - idle
    print(f"count, jumping through the preview: {done:,} requests in "
          f"{args.count_seconds:.0f} s = {done / args.count_seconds:,.0f}/s; {during}")
    dialog._stop_count()
    print(f"the same jumps with no count running (baseline): {jumps(args.count_seconds, 50_000)}")
    t = time.perf_counter()
    dialog.refresh()
    app.processEvents()
    print(f"Update preview: {time.perf_counter() - t:.2f} s")
    dialog.close()
    assert counter is not None and counter.isFinished()
    if args.no_copy:
        return 0

    from inspector.gui.session_actions import CopyWorker

    with tempfile.TemporaryDirectory(dir=args.cache) as tmp:
        target = Path(tmp) / "copy.whsession"
        worker = CopyWorker(session, target)
        gaps = Gaps()
        gaps.start()
        t = time.perf_counter()
        loop = QEventLoop()
        worker.finished.connect(loop.quit)
        worker.start()
        loop.exec()
        worker.wait()
        took = time.perf_counter() - t
        size = session.stat().st_size
        print(f"Save a Copy As... of {size / 2**20:,.0f} MiB: {took:.1f} s "
              f"({size / 2**20 / took:,.0f} MiB/s), outcome {worker.outcome!r}; "
              f"longest 10 ms timer gap meanwhile {gaps.stop()} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
