"""The toolbar's "Forward to" field: where captured requests go on to, and how that goes.

A URL field (remembered in QSettings), the mode (decoupled through the outbox, or
pass-through), a pause toggle, and a status light: green when the app answers, red
when it is down (the outbox waits and retries), amber when forwarding is paused, grey
when nothing is forwarded. It drives the core's ``Relay`` and shows what the relay
reports; the window only mounts it and feeds it the relay's status.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from inspector.core.send.outbox import OutboxStatus
from inspector.core.send.relay import Relay, validate_target
from inspector.gui.theme import icon

#: Light colours, readable on light and dark toolbars.
LIGHTS = {
    "up": "#2e9d4a",
    "down": "#d64541",
    "paused": "#e0a100",
    "off": "#8a8f98",
}

_MODES = (("decoupled", "Decoupled"), ("pass-through", "Pass-through"))
_MODE_TIPS = {
    "decoupled": "The provider is answered at once; requests go on to your app through a "
    "durable outbox, in order, retried while it is down",
    "pass-through": "The provider gets your app's own answer (within the deadline, else 504)",
}


def plain_tooltip(text: str) -> str:
    """A tooltip Qt shows as the exact text (it guesses HTML otherwise)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<p style='white-space:pre-wrap'>{escaped}</p>"


class ForwardControl(QWidget):
    """Edits the relay's target, mode and pause; shows its status light."""

    #: The forward URL now in force ("" when forwarding is off).
    target_changed = Signal(str)

    def __init__(self, relay: Relay, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("forwardControl")
        self._relay = relay
        self._settings = settings
        self._status: OutboxStatus | None = None

        self.light = QLabel(self)
        self.light.setObjectName("forwardLight")
        self.light.setFixedSize(10, 10)
        caption = QLabel("Forward to", self)
        self.url_edit = QLineEdit(self)
        self.url_edit.setObjectName("forwardUrl")
        self.url_edit.setPlaceholderText("http://localhost:3000 (your app)")
        self.url_edit.setClearButtonEnabled(True)
        self.url_edit.setMinimumWidth(210)
        self.url_edit.setAccessibleName("Forward to URL")
        self.url_edit.setToolTip(
            "Every captured request is sent on to this URL, its path and query appended "
            "(Enter to apply; empty turns forwarding off)"
        )
        self.url_edit.editingFinished.connect(self._on_url_edited)
        self.mode_box = QComboBox(self)
        self.mode_box.setObjectName("forwardMode")
        for key, title in _MODES:
            self.mode_box.addItem(title, key)
            self.mode_box.setItemData(
                self.mode_box.count() - 1, _MODE_TIPS[key], Qt.ItemDataRole.ToolTipRole
            )
        self.mode_box.currentIndexChanged.connect(self._on_mode_changed)
        self.exact_box = QCheckBox("Exact URL", self)
        self.exact_box.setObjectName("forwardExact")
        self.exact_box.setToolTip("Send to the URL as typed, without appending each request's path")
        self.exact_box.toggled.connect(self._on_mode_changed)
        self.deadline_box = QDoubleSpinBox(self)
        self.deadline_box.setObjectName("forwardDeadline")
        self.deadline_box.setRange(0.1, 120.0)
        self.deadline_box.setDecimals(1)
        self.deadline_box.setSuffix(" s")
        self.deadline_box.setValue(3.0)
        self.deadline_box.setToolTip(
            "How long your app has to answer (the provider's is 3 s); in pass-through mode "
            "the provider gets 504 past it"
        )
        self.deadline_box.editingFinished.connect(self._on_deadline_edited)
        self.pause_button = QToolButton(self)
        self.pause_button.setObjectName("forwardPause")
        self.pause_button.setIcon(icon("pause"))
        self.pause_button.setCheckable(True)
        self.pause_button.setAutoRaise(True)
        self.pause_button.setToolTip("Pause forwarding (requests wait in the outbox)")
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.state_label = QLabel(self)
        self.state_label.setObjectName("forwardState")
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)

        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 6, 0)
        row.setSpacing(6)
        row.addWidget(self.light)
        row.addWidget(caption)
        row.addWidget(self.url_edit, 1)
        row.addWidget(self.mode_box)
        row.addWidget(self.exact_box)
        row.addWidget(self.deadline_box)
        row.addWidget(self.pause_button)
        row.addWidget(self.state_label)

        self._restore()

    # -- remembered --------------------------------------------------------------------

    def _restore(self) -> None:
        url = str(self._settings.value("forward/url", "") or "")
        mode = str(self._settings.value("forward/mode", "decoupled") or "decoupled")
        index = self.mode_box.findData(mode)
        for w in (self.mode_box, self.exact_box, self.deadline_box):
            w.blockSignals(True)
        self.mode_box.setCurrentIndex(max(index, 0))
        self.exact_box.setChecked(str(self._settings.value("forward/exact", "false")) == "true")
        try:
            deadline = float(str(self._settings.value("forward/deadline", self._relay.deadline)))
        except ValueError:
            deadline = self._relay.deadline
        self.deadline_box.setValue(deadline)
        for w in (self.mode_box, self.exact_box, self.deadline_box):
            w.blockSignals(False)
        if self._relay.target:
            url = self._relay.target  # given on the command line: it wins
        self.url_edit.setText(url)
        self._apply(url, remember=False)

    # -- applying ------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return str(self.mode_box.currentData())

    def _apply(self, text: str, *, remember: bool = True) -> bool:
        text = text.strip()
        try:
            target = validate_target(text) if text else None
            self._relay.configure(
                target,
                mode=self.mode,  # type: ignore[arg-type]
                exact=self.exact_box.isChecked(),
                deadline=self.deadline_box.value(),
            )
        except ValueError as exc:
            self.url_edit.setStyleSheet("QLineEdit { border: 1px solid #d64541; }")
            self.url_edit.setToolTip(plain_tooltip(str(exc)))
            self._show("off", str(exc))
            return False
        self.url_edit.setStyleSheet("")
        if remember:
            self._settings.setValue("forward/url", text)
            self._settings.setValue("forward/mode", self.mode)
            self._settings.setValue(
                "forward/exact", "true" if self.exact_box.isChecked() else "false"
            )
            self._settings.setValue("forward/deadline", self.deadline_box.value())
        self.target_changed.emit(target or "")
        self._refresh()
        return True

    def set_target(self, text: str) -> bool:
        """Set the URL as if typed and confirmed (tests, and the window's replay default)."""
        self.url_edit.setText(text)
        return self._apply(text)

    @Slot()
    def _on_url_edited(self) -> None:
        if self.url_edit.text().strip() != (self._relay.target or ""):
            self._apply(self.url_edit.text())

    def _on_mode_changed(self, *_args: object) -> None:
        self._apply(self.url_edit.text())

    @Slot()
    def _on_deadline_edited(self) -> None:
        if abs(self.deadline_box.value() - self._relay.deadline) > 1e-9:
            self._apply(self.url_edit.text())

    @Slot(bool)
    def _on_pause_toggled(self, paused: bool) -> None:
        self._relay.set_paused(paused)
        self.pause_button.setIcon(icon("play" if paused else "pause"))
        self.pause_button.setToolTip("Resume forwarding" if paused else "Pause forwarding")
        self._refresh()

    # -- status ------------------------------------------------------------------------

    @Slot(object)
    def set_status(self, status: OutboxStatus) -> None:
        """The relay's newest outbox status (GUI thread, via the window's bridge)."""
        self._status = status
        self._refresh()

    def _refresh(self) -> None:
        relay = self._relay
        status = self._status
        if not relay.target:
            self._show("off", "Not forwarding: type your app's URL and press Enter")
        elif relay.paused:
            waiting = f"; {status.waiting} waiting" if status and status.waiting else ""
            self._show("paused", f"Forwarding paused{waiting}", "paused")
        elif relay.mode == "pass-through":
            self._show(
                "up",
                f"Pass-through to {relay.target}: the provider gets your app's answer",
                "pass-through",
            )
        elif status is not None and status.state == "down":
            self._show("down", status.message, "app down")
        elif status is None or status.state in ("idle", "off"):
            self._show("up", f"Forwarding to {relay.target}", "ready")
        else:
            waiting = f", {status.waiting} waiting" if status.waiting else ""
            self._show("up", f"Forwarding to {relay.target}{waiting}", "app up")

    def _show(self, light: str, tip: str, text: str = "") -> None:
        colour = LIGHTS[light]
        self.light.setStyleSheet(f"QLabel {{ background: {colour}; border-radius: 5px; }}")
        tip = plain_tooltip(tip)  # error text can carry what the app sent
        self.light.setToolTip(tip)
        self.light.setProperty("state", light)
        self.state_label.setText(text)
        self.state_label.setToolTip(tip)

    @property
    def light_state(self) -> str:
        return str(self.light.property("state"))
