"""Carries the store's append notifications from the writer thread to the GUI thread.

The store calls us on its writer thread after each commit.  We only queue the
summaries there and wake the GUI thread with one queued signal; the GUI side then
hands them on as one batch at most every ``interval_ms`` (Anki's taskman pattern),
so a flood of requests costs the table at most ~20 inserts a second, never one per
request.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from inspector.core.session.store import RowSummary, SessionStore


class RowBridge(QObject):
    """Subscribe with :meth:`attach`; connect to :attr:`rows_appended` (GUI thread, batched)."""

    rows_appended = Signal(object)  # list[RowSummary], in commit order
    _sig_wake = Signal()

    def __init__(self, interval_ms: int = 50, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._interval = interval_ms / 1000
        self._lock = threading.Lock()
        self._pending: list[RowSummary] = []
        self._woken = False
        self._last_flush = 0.0
        self._store: SessionStore | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._sig_wake.connect(self._on_wake)

    def attach(self, store: SessionStore) -> None:
        self._store = store
        store.add_append_listener(self)

    def detach(self) -> None:
        """Stop listening; call before the store closes or the bridge is deleted."""
        if self._store is not None:
            self._store.remove_append_listener(self)
            self._store = None
        self._timer.stop()

    def __call__(self, rows: list[RowSummary]) -> None:
        """Writer thread: queue the rows, and wake the GUI thread once per flush."""
        with self._lock:
            self._pending.extend(rows)
            if self._woken:
                return
            self._woken = True
        self._sig_wake.emit()

    @Slot()
    def _on_wake(self) -> None:
        wait = self._last_flush + self._interval - time.monotonic()
        if wait <= 0:
            self._flush()
        elif not self._timer.isActive():
            self._timer.start(max(1, int(wait * 1000)))

    @Slot()
    def _flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
            self._woken = False
        self._last_flush = time.monotonic()
        if rows:
            self.rows_appended.emit(rows)
