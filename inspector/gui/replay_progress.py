"""The batch replay progress panel: counts, a bar, the last answer, Pause and Cancel.

It shows the core ``ReplayProgress`` snapshots the window hands it (through the
batched bridge) and emits what the user asks; it never touches the batch itself.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from inspector.core.send.replay import ReplayProgress


def progress_text(p: ReplayProgress) -> str:
    if p.finished:
        head = "Replay cancelled" if p.cancelled else "Replay finished"
    elif p.paused:
        head = "Replay paused"
    else:
        head = "Replaying"
    parts = [f"{head}: {p.done:,} of {p.total:,} sent"]
    if p.failed:
        parts.append(f"{p.failed:,} failed")
    if p.in_flight and not p.finished:
        parts.append(f"{p.in_flight:,} waiting for an answer")
    return " \u00b7 ".join(parts)


def last_text(p: ReplayProgress) -> str:
    r = p.last
    if r is None:
        return ""
    a = r.answer
    what = f"{a.status}" if a.status is not None and not a.error else f"failed: {a.error}"
    row = f" as #{r.row_id}" if r.row_id is not None else ""
    origin = f"#{r.item.original_id}" if r.item.original_id else "request"
    return f"Last: {origin}{row} \u2192 {what} in {a.duration_ms:.0f} ms"


class ReplayProgressPanel(QFrame):
    """Hidden until a batch starts; Close appears once it is over."""

    pause_requested = Signal(bool)
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("replayProgress")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel(self)
        self.label.setObjectName("replayProgressText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.bar = QProgressBar(self)
        self.bar.setObjectName("replayProgressBar")
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(10)
        self.last = QLabel(self)
        self.last.setObjectName("replayLast")
        self.last.setTextFormat(Qt.TextFormat.PlainText)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setObjectName("replayPause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._on_pause)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("replayCancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.hide)
        self.close_button.setVisible(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.label)
        row.addWidget(self.bar, 1)
        row.addWidget(self.last, 1)
        row.addWidget(self.pause_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.close_button)
        self.hide()

    def start(self, total: int) -> None:
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(False)
        self.pause_button.setText("Pause")
        self.pause_button.blockSignals(False)
        self.show_progress(ReplayProgress(total=total))
        self.show()

    @Slot(object)
    def show_progress(self, p: ReplayProgress) -> None:
        self.label.setText(progress_text(p))
        self.bar.setMaximum(max(p.total, 1))
        self.bar.setValue(p.done)
        self.last.setText(last_text(p))
        self.pause_button.setVisible(not p.finished)
        self.cancel_button.setVisible(not p.finished)
        self.close_button.setVisible(p.finished)

    @Slot(bool)
    def _on_pause(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_requested.emit(paused)
