"""Carries news from a worker thread to the GUI thread, batched (Anki's taskman pattern).

The worker side only stores what arrived and wakes the GUI thread with one queued signal;
the GUI side then hands it on at most every ``interval_ms``. :class:`RowBridge` carries
the store's append notifications (every row, in commit order), so a flood of requests costs
the table at most ~20 inserts a second, never one per request; :class:`LatestBridge` carries
a state of which only the newest value matters (outbox state, replay progress).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from inspector.core.session.store import RowSummary, SessionStore


class _ThrottledBridge(QObject):
    """The waking and the pacing; a subclass says what it keeps (:meth:`_take`) and what
    it hands on (:meth:`_deliver`)."""

    _sig_wake = Signal()

    def __init__(self, interval_ms: int, parent: QObject | None) -> None:
        super().__init__(parent)
        self._interval = interval_ms / 1000
        self._lock = threading.Lock()
        self._woken = False
        self._last_flush = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._sig_wake.connect(self._on_wake)

    def _offer(self, keep: Callable[[], None]) -> None:
        """Worker thread: ``keep`` stores the news under the lock; the GUI thread is woken
        once per flush."""
        with self._lock:
            keep()
            if self._woken:
                return
            self._woken = True
        self._sig_wake.emit()

    def _take(self) -> Any:
        """Under the lock: what was kept since the last flush (and forget it)."""
        raise NotImplementedError

    def _deliver(self, taken: Any) -> None:
        raise NotImplementedError

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
            taken = self._take()
            self._woken = False
        self._last_flush = time.monotonic()
        self._deliver(taken)


class RowBridge(_ThrottledBridge):
    """Subscribe with :meth:`attach`; connect to :attr:`rows_appended` (GUI thread, batched)."""

    rows_appended = Signal(object)  # list[RowSummary], in commit order

    def __init__(self, interval_ms: int = 50, parent: QObject | None = None) -> None:
        super().__init__(interval_ms, parent)
        self._pending: list[RowSummary] = []
        self._store: SessionStore | None = None

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
        self._offer(lambda: self._pending.extend(rows))

    def _take(self) -> list[RowSummary]:
        rows, self._pending = self._pending, []
        return rows

    def _deliver(self, taken: list[RowSummary]) -> None:
        if taken:
            self.rows_appended.emit(taken)


class LatestBridge(_ThrottledBridge):
    """Call it from any thread with a value; connect to :attr:`changed` (GUI thread). Only
    the newest value is kept: a thousand replays finishing in a second cost the window
    about twenty updates."""

    changed = Signal(object)

    def __init__(self, interval_ms: int = 50, parent: QObject | None = None) -> None:
        super().__init__(interval_ms, parent)
        self._value: Any = None
        self._has_value = False

    def __call__(self, value: Any) -> None:
        def keep() -> None:
            self._value = value
            self._has_value = True

        self._offer(keep)

    def stop(self) -> None:
        self._timer.stop()
        with self._lock:
            self._has_value = False

    def _take(self) -> tuple[Any, bool]:
        taken = (self._value, self._has_value)
        self._has_value = False
        return taken

    def _deliver(self, taken: tuple[Any, bool]) -> None:
        value, has = taken
        if has:
            self.changed.emit(value)
