"""Replay dialogs: edit one request before sending it again, or choose how many go.

:class:`ReplayEditor` edits one request: method, URL, a headers table and the body, its
JSON checked as you type (and kept pretty-printed if asked), form fields as a table, and
"re-sign" when a signing key is given (the ``Signature`` header recomputed over the
exact bytes that will be sent). What it returns is a core ``ReplayItem``: exactly what
the app will receive.

:class:`BatchReplayDialog` sends many: where to (the forward URL, our own listener, or
any URL), how many at once, and at what pace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.send.relay import validate_target
from inspector.core.send.replay import ReplayItem, with_signature

METHODS = ("POST", "GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
#: How long typing pauses before the JSON is checked (and re-indented if asked).
CHECK_DELAY_MS = 250


def _is_form(headers: list[tuple[str, str]]) -> bool:
    ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
    return ctype.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


def check_json(text: str) -> tuple[bool, str]:
    """(is valid JSON, a one-line verdict naming the line and column of a mistake)."""
    if not text.strip():
        return False, "Empty body"
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return False, f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    return True, "Valid JSON"


def pretty_json(text: str) -> str | None:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (json.JSONDecodeError, ValueError):
        return None


class HeadersEditor(QWidget):
    """Name/value rows, editable, with Add and Remove."""

    def __init__(self, headers: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 2, self)
        self.table.setObjectName("replayHeaders")
        self.table.setHorizontalHeaderLabels(["Name", "Value"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(0, 200)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        for k, v in headers:
            self.add_row(k, v)
        add = QPushButton("Add header")
        add.clicked.connect(lambda: self.add_row("", ""))
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def add_row(self, name: str, value: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(name))
        self.table.setItem(row, 1, QTableWidgetItem(value))

    @Slot()
    def remove_selected(self) -> None:
        for row in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(row)

    def headers(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for row in range(self.table.rowCount()):
            name = self.table.item(row, 0)
            value = self.table.item(row, 1)
            key = name.text().strip() if name is not None else ""
            if key:
                out.append((key, value.text() if value is not None else ""))
        return out

    def set_header(self, name: str, value: str) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.text().strip().lower() == name.lower():
                self.table.setItem(row, 1, QTableWidgetItem(value))
                return
        self.add_row(name, value)


class ReplayEditor(QDialog):
    """Edit one request, then Send. :meth:`item` is exactly what will be sent."""

    def __init__(
        self,
        item: ReplayItem,
        *,
        targets: dict[str, str] | None = None,
        signing_key: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("replayEditor")
        title = f"Edit and replay #{item.original_id}" if item.original_id else "Edit and send"
        self.setWindowTitle(title)
        self._original = item
        self._binary = False
        try:
            text = item.body.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
            self._binary = True

        self.method = QComboBox()
        self.method.setObjectName("replayMethod")
        self.method.setEditable(True)
        self.method.addItems(METHODS)
        self.method.setCurrentText(item.method)
        self.url = QLineEdit(item.url)
        self.url.setObjectName("replayUrl")
        self.url.setMinimumWidth(420)
        self.target_box = QComboBox()
        self.target_box.setObjectName("replayTarget")
        self.target_box.addItem("Send to\u2026", "")
        for label, url in (targets or {}).items():
            if url:
                self.target_box.addItem(label, url)
        self.target_box.activated.connect(self._on_target_chosen)
        line = QHBoxLayout()
        line.addWidget(self.method)
        line.addWidget(self.url, 1)
        line.addWidget(self.target_box)

        # Host follows the URL (aiohttp sets it), so an edited URL never keeps a stale one.
        self.headers = HeadersEditor([(k, v) for k, v in item.headers if k.lower() != "host"])

        self.body = QPlainTextEdit()
        self.body.setObjectName("replayBody")
        self.body.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.body.setPlainText(text)
        if self._binary:
            self.body.setReadOnly(True)
            self.body.setPlaceholderText(
                f"The body is {len(item.body)} bytes of binary data; it is sent as it was."
            )
        self.json_state = QLabel()
        self.json_state.setObjectName("replayJsonState")
        self.json_state.setTextFormat(Qt.TextFormat.PlainText)
        self.keep_pretty = QCheckBox("Keep pretty-printed")
        self.keep_pretty.setToolTip(
            "Re-indent the JSON as you type (after each pause); the app receives the "
            "indented text"
        )
        self.keep_pretty.toggled.connect(lambda _on: self._check_soon())
        format_button = QPushButton("Pretty-print")
        format_button.clicked.connect(self.pretty_print)
        body_bar = QHBoxLayout()
        body_bar.addWidget(self.json_state, 1)
        body_bar.addWidget(self.keep_pretty)
        body_bar.addWidget(format_button)
        body_page = QWidget()
        body_layout = QVBoxLayout(body_page)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.addWidget(self.body, 1)
        body_layout.addLayout(body_bar)

        self.form = QTableWidget(0, 2)
        self.form.setObjectName("replayForm")
        self.form.setHorizontalHeaderLabels(["Field", "Value"])
        self.form.verticalHeader().setVisible(False)
        self.form.horizontalHeader().setStretchLastSection(True)
        self.form.setColumnWidth(0, 200)
        self.form.itemChanged.connect(self._on_form_edited)
        self._filling_form = False

        self.body_tabs = QTabWidget()
        self.body_tabs.addTab(body_page, "Body")
        self.body_tabs.addTab(self.form, "Form fields")
        self.body_tabs.currentChanged.connect(self._on_body_tab)

        self.sign_key = QLineEdit(signing_key)
        self.sign_key.setObjectName("replaySignKey")
        self.sign_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.sign_key.setPlaceholderText("signing key (HMAC-SHA256 of the body)")
        self.resign = QCheckBox("Re-sign (recompute the Signature header)")
        self.resign.setObjectName("replayResign")
        self.resign.setChecked(bool(signing_key))
        self.sign_key.textChanged.connect(self._on_key_changed)
        self._on_key_changed(signing_key)
        sign_row = QHBoxLayout()
        sign_row.addWidget(self.resign)
        sign_row.addWidget(self.sign_key, 1)

        self.error = QLabel()
        self.error.setObjectName("replayError")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setStyleSheet("QLabel { color: #d64541; }")
        self.error.setVisible(False)

        buttons = QDialogButtonBox()
        self.send_button = buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_send)
        buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Request", line)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Headers"))
        layout.addWidget(self.headers, 2)
        layout.addWidget(self.body_tabs, 3)
        layout.addLayout(sign_row)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(760, 640)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self._check_body)
        self.body.textChanged.connect(self._check_soon)
        self._fill_form()
        if _is_form(item.headers):
            self.body_tabs.setCurrentIndex(1)
        self._check_body()

    # -- body ------------------------------------------------------------------------

    def body_bytes(self) -> bytes:
        if self._binary:
            return self._original.body
        return self.body.toPlainText().encode("utf-8")

    def _check_soon(self) -> None:
        self._timer.start()

    @Slot()
    def _check_body(self) -> None:
        if self._binary:
            self.json_state.setText("Binary body: sent unchanged")
            return
        text = self.body.toPlainText()
        if _is_form(self.headers.headers()):
            self.json_state.setText(f"Form body: {len(parse_qsl(text))} field(s)")
            return
        ok, verdict = check_json(text)
        self.json_state.setText(verdict)
        self.json_state.setStyleSheet("" if ok or not text.strip() else "QLabel { color: #d64541; }")
        if ok and self.keep_pretty.isChecked():
            self.pretty_print()

    @Slot()
    def pretty_print(self) -> None:
        text = self.body.toPlainText()
        pretty = pretty_json(text)
        if pretty is None or pretty == text:
            return
        cursor = self.body.textCursor()
        where = cursor.position()
        self.body.blockSignals(True)
        self.body.setPlainText(pretty)
        self.body.blockSignals(False)
        cursor = self.body.textCursor()
        cursor.setPosition(min(where, len(pretty)))
        self.body.setTextCursor(cursor)
        self.json_state.setText("Valid JSON")

    def _fill_form(self) -> None:
        self._filling_form = True
        self.form.setRowCount(0)
        if not self._binary:
            for k, v in parse_qsl(self.body.toPlainText(), keep_blank_values=True):
                row = self.form.rowCount()
                self.form.insertRow(row)
                self.form.setItem(row, 0, QTableWidgetItem(k))
                self.form.setItem(row, 1, QTableWidgetItem(v))
        self._filling_form = False

    @Slot(int)
    def _on_body_tab(self, index: int) -> None:
        if index == 1:
            self._fill_form()

    @Slot(QTableWidgetItem)
    def _on_form_edited(self, _item: QTableWidgetItem) -> None:
        if self._filling_form:
            return
        pairs = []
        for row in range(self.form.rowCount()):
            k, v = self.form.item(row, 0), self.form.item(row, 1)
            if k is not None and k.text():
                pairs.append((k.text(), v.text() if v is not None else ""))
        self.body.setPlainText(urlencode(pairs))

    # -- target and signing -------------------------------------------------------

    @Slot(int)
    def _on_target_chosen(self, index: int) -> None:
        base = str(self.target_box.itemData(index) or "")
        if not base:
            return
        from inspector.core.send.app_client import forward_url

        path = self._original.url.partition("://")[2]
        tail = "/" + path.partition("/")[2] if "/" in path else "/"
        p, _, q = tail.partition("?")
        self.url.setText(forward_url(base, p, q))
        self.target_box.setCurrentIndex(0)

    @Slot(str)
    def _on_key_changed(self, key: str) -> None:
        self.resign.setEnabled(bool(key))
        if not key:
            self.resign.setChecked(False)

    # -- result ------------------------------------------------------------------------

    def item(self) -> ReplayItem:
        """Exactly what will be sent: the edited bytes, re-signed if asked."""
        body = self.body_bytes()
        headers = self.headers.headers()
        if self.resign.isChecked() and self.sign_key.text():
            headers = with_signature(headers, body, self.sign_key.text())
        return ReplayItem(
            self._original.original_id,
            self.method.currentText().strip().upper() or "POST",
            self.url.text().strip(),
            headers,
            body,
            self._original.received_us,
        )

    @Slot()
    def _on_send(self) -> None:
        try:
            validate_target(self.url.text())
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.setVisible(True)
            return
        self.accept()


@dataclass(frozen=True, slots=True)
class BatchChoice:
    """How to send many: to where, how many at once, at what pace."""

    url: str
    exact: bool
    concurrency: int
    #: None: as fast as the app answers; 1.0: the originals' pace; 10.0: ten times faster.
    speed: float | None
    signing_key: str


class BatchReplayDialog(QDialog):
    """Where and how to replay ``count`` requests."""

    def __init__(
        self,
        count: int,
        *,
        targets: dict[str, str],
        signing_key: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("batchReplayDialog")
        self.setWindowTitle(f"Replay {count} request{'s' if count != 1 else ''}")
        self.target = QComboBox()
        self.target.setObjectName("batchTarget")
        for label, url in targets.items():
            if url:
                self.target.addItem(f"{label}: {url}", url)
        self.target.addItem("Another URL\u2026", "")
        self.other = QLineEdit()
        self.other.setObjectName("batchOtherUrl")
        self.other.setPlaceholderText("http://localhost:3000")
        self.target.currentIndexChanged.connect(self._on_target)
        self.exact = QCheckBox("Exactly this URL (do not append each request's path)")
        self.concurrency = QSpinBox()
        self.concurrency.setObjectName("batchConcurrency")
        self.concurrency.setRange(1, 256)
        self.concurrency.setValue(1)
        self.concurrency.setToolTip("1 sends them one after another, in their original order")
        self.pace = QComboBox()
        self.pace.setObjectName("batchPace")
        self.pace.addItem("As fast as possible", "fast")
        self.pace.addItem("At the original pace", "original")
        self.pace.addItem("At the original pace, faster by", "scaled")
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.1, 1000)
        self.scale.setValue(10)
        self.scale.setSuffix("x")
        self.scale.setEnabled(False)
        self.pace.currentIndexChanged.connect(
            lambda i: self.scale.setEnabled(self.pace.itemData(i) == "scaled")
        )
        pace_row = QHBoxLayout()
        pace_row.addWidget(self.pace, 1)
        pace_row.addWidget(self.scale)
        self.sign_key = QLineEdit(signing_key)
        self.sign_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.sign_key.setPlaceholderText("leave empty to send the original Signature")
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setStyleSheet("QLabel { color: #d64541; }")
        self.error.setVisible(False)
        form = QFormLayout(self)
        form.addRow("Send to", self.target)
        form.addRow("", self.other)
        form.addRow("", self.exact)
        form.addRow("At once", self.concurrency)
        form.addRow("Pace", pace_row)
        form.addRow("Re-sign with key", self.sign_key)
        form.addRow(self.error)
        buttons = QDialogButtonBox()
        buttons.addButton("Replay", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._on_target(self.target.currentIndex())

    @Slot(int)
    def _on_target(self, index: int) -> None:
        self.other.setVisible(not self.target.itemData(index))

    def choice(self) -> BatchChoice:
        url = str(self.target.currentData() or "") or self.other.text().strip()
        mode = self.pace.currentData()
        speed = None if mode == "fast" else 1.0 if mode == "original" else self.scale.value()
        return BatchChoice(
            url, self.exact.isChecked(), self.concurrency.value(), speed, self.sign_key.text()
        )

    @Slot()
    def _on_accept(self) -> None:
        try:
            validate_target(self.choice().url)
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.setVisible(True)
            return
        self.accept()
