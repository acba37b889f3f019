"""Carries the send wing's news (outbox state, replay progress) from the engine thread
to the GUI thread, batched like :class:`inspector.gui.bridge.RowBridge`.

The engine loop calls the bridge as often as it likes (once per forward, once per
replay); only the newest value is kept and the GUI thread gets it at most every
``interval_ms``, through one queued signal, so a thousand replays finishing in a
second cost the window about twenty updates.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot


class LatestBridge(QObject):
    """Call it from any thread with a value; connect to :attr:`changed` (GUI thread)."""

    changed = Signal(object)
    _sig_wake = Signal()

    def __init__(self, interval_ms: int = 50, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._interval = interval_ms / 1000
        self._lock = threading.Lock()
        self._value: Any = None
        self._has_value = False
        self._woken = False
        self._last_flush = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._sig_wake.connect(self._on_wake)

    def __call__(self, value: Any) -> None:
        with self._lock:
            self._value = value
            self._has_value = True
            if self._woken:
                return
            self._woken = True
        self._sig_wake.emit()

    def stop(self) -> None:
        self._timer.stop()
        with self._lock:
            self._has_value = False

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
            value, has = self._value, self._has_value
            self._has_value = False
            self._woken = False
        self._last_flush = time.monotonic()
        if has:
            self.changed.emit(value)
