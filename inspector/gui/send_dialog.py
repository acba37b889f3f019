"""Send Test Event...: the simulator's events and stories, sent from the window.

The dialog builds nothing itself: it shows the core's samples (``provider.simulator``)
with a preview of the exact request, and sends through ``send.simulate`` on an event loop
(the capture engine's, so the window needs no second one). Results come back through a
queued signal, one line per request, plain text only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inspector.core.provider.simulator import SAMPLES, build, new_context
from inspector.core.send.client import Delivery, target_url
from inspector.core.send.simulate import SendError, SendPlan, parse_speed, run_plan

Runner = Callable[[Coroutine[Any, Any, Any]], "concurrent.futures.Future[Any]"]
_SPEEDS = ("1x", "10x", "60x", "600x")


class _LoopThread:
    """An event loop of the dialog's own, when no engine loop is given (started on first use,
    stopped and joined when the dialog closes)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._thread = threading.Thread(
                target=loop.run_forever, name="send-dialog", daemon=True
            )
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        self._loop = self._thread = None


class _Relay(QObject):
    """Carries results from the loop's thread to the GUI thread (queued)."""

    delivered = Signal(object)  # Delivery
    finished = Signal(str)  # "" or what went wrong


class SendTestEventDialog(QDialog):
    """Pick an event or a story, see the request, send it to the listener (or any URL)."""

    def __init__(
        self,
        target: str,
        run: Runner | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sendTestEventDialog")
        self.setWindowTitle("Send Test Event")
        self._own_loop = _LoopThread() if run is None else None
        self._run: Runner = run if run is not None else self._own_loop.run  # type: ignore[union-attr]
        self._pending: concurrent.futures.Future[Any] | None = None
        self._relay = _Relay(self)
        self._relay.delivered.connect(self._on_delivered)
        self._relay.finished.connect(self._on_finished)

        self.sample_box = QComboBox(self)
        self.sample_box.setObjectName("sampleBox")
        for sample in SAMPLES.values():
            self.sample_box.addItem(sample.name, sample.name)
        self.sample_box.currentIndexChanged.connect(self._update_preview)
        self.description = QLabel(self)
        self.description.setTextFormat(Qt.TextFormat.PlainText)
        self.description.setWordWrap(True)
        self.target_edit = QLineEdit(target, self)
        self.target_edit.setObjectName("targetEdit")
        self.target_edit.textChanged.connect(self._update_preview)
        self.secret_edit = QLineEdit(self)
        self.secret_edit.setPlaceholderText("sends Authorization: Bearer <secret>")
        self.secret_edit.textChanged.connect(self._update_preview)
        self.key_edit = QLineEdit(self)
        self.key_edit.setPlaceholderText("signs WhatsApp, RCS and Viber callbacks (Signature)")
        self.key_edit.textChanged.connect(self._update_preview)
        self.count_box = QSpinBox(self)
        self.count_box.setRange(1, 10_000)
        self.speed_box = QComboBox(self)
        self.speed_box.setEditable(True)
        self.speed_box.addItems(_SPEEDS)
        self.speed_box.setToolTip("Compress a story's gaps: 60x turns a minute into a second")

        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.preview = QPlainTextEdit(self)
        self.preview.setObjectName("sendPreview")
        self.preview.setReadOnly(True)
        self.preview.setFont(mono)
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log = QPlainTextEdit(self)
        self.log.setObjectName("sendLog")
        self.log.setReadOnly(True)
        self.log.setFont(mono)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("Results appear here, one line per request.")
        self.log.setFixedHeight(110)

        form = QFormLayout()
        form.addRow("Event or story", self.sample_box)
        form.addRow("", self.description)
        form.addRow("Send to", self.target_edit)
        form.addRow("Secret", self.secret_edit)
        form.addRow("Signing key", self.key_edit)
        form.addRow("Times", self.count_box)
        form.addRow("Speed", self.speed_box)

        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Request (as the provider sends it; ids are fresh on each send)"))
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.log)
        layout.addWidget(buttons)
        self.resize(720, 620)
        self._update_preview()

    def set_sample(self, name: str) -> None:
        index = self.sample_box.findData(name)
        if index >= 0:
            self.sample_box.setCurrentIndex(index)

    def plan(self) -> SendPlan:
        """What Send would send; raises :class:`SendError` for a value it cannot use."""
        plan = SendPlan(
            str(self.sample_box.currentData()),
            self.target_edit.text().strip(),
            count=self.count_box.value(),
            speed=parse_speed(self.speed_box.currentText()),
            secret=self.secret_edit.text(),
            signing_key=self.key_edit.text(),
        )
        plan.check()
        return plan

    @Slot()
    def _update_preview(self) -> None:
        name = str(self.sample_box.currentData())
        sample = SAMPLES[name]
        self.description.setText(sample.description)
        ctx = new_context(secret=self.secret_edit.text(), signing_key=self.key_edit.text())
        parts = []
        for req in build(name, ctx):
            url = target_url(self.target_edit.text().strip() or "http://127.0.0.1/", req)
            wait = f"  (after {req.after:.1f} s)" if req.after else ""
            step = f"# {req.label}{wait}\n" if req.label else ""
            head = "\n".join(f"{k}: {v}" for k, v in req.headers)
            body = req.body.decode("utf-8", "replace")
            parts.append(f"{step}{req.method} {url}\n{head}\n\n{body}")
        self.preview.setPlainText("\n\n".join(parts))

    @Slot()
    def send(self) -> None:
        if self._pending is not None and not self._pending.done():
            return
        try:
            plan = self.plan()
        except SendError as exc:
            self.log.appendPlainText(f"error: {exc}")
            return
        relay = self._relay
        self.send_button.setEnabled(False)

        async def go() -> None:
            try:
                await run_plan(plan, relay.delivered.emit)
            except SendError as exc:
                relay.finished.emit(str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - shown in the log, never a crash
                relay.finished.emit(f"{type(exc).__name__}: {exc}")
                return
            relay.finished.emit("")

        self._pending = self._run(go())

    @Slot(object)
    def _on_delivered(self, d: Delivery) -> None:
        req = d.request
        step = f" ({req.label})" if req.label else ""
        if d.error:
            answer = d.error
        else:
            verdict = "delivered" if d.delivered else "failed for the provider"
            answer = f"{d.status} in {d.elapsed * 1000:.0f} ms: {verdict}"
        self.log.appendPlainText(f"{req.claim.event or '?'}{step} \u2192 {answer}")

    @Slot(str)
    def _on_finished(self, problem: str) -> None:
        if problem:
            self.log.appendPlainText(f"error: {problem}")
        self.send_button.setEnabled(True)
        self._update_preview()  # the next send has fresh ids again

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until the send under way is over (tests, and closing)."""
        if self._pending is not None:
            try:
                self._pending.result(timeout)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                pass

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        if self._own_loop is not None:
            self._own_loop.stop()
        super().closeEvent(event)
