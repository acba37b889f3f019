"""The Rules panel: the response rules as an ordered list, an editor, and live hit counts.

Each edit is checked at once with the core's own rule checks (the filter language's
messages for ``match``, as the filter bar gives them); a rule with a mistake is shown red
and left out of what the engine gets, whole: never half-applied. Every valid change goes
to the engine at once (``update_answers``: its part, the rules), and the hit counts it reports are polled twice a
second. The rules are kept in the window's settings between runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any, Protocol

from PySide6.QtCore import QSettings, QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inspector.core.capture.answers import AnswerConfig
from inspector.core.capture.rules import (
    Rule,
    RuleError,
    check_rule,
    format_delay,
    parse_delay,
    provider_warnings,
    rules_config,
)
from inspector.gui.filter_bar import FilterLineEdit
from inspector.gui.theme import icon

#: How often the hit counts are asked for (ms).
POLL_MS = 500
_SETTINGS_KEY = "rules/list"
_ERROR = QColor("#e5534b")
_WARN_STYLE = "color: #b26a00;"


class AnswerTarget(Protocol):
    """What the panel drives: the capture engine (or a stand-in in tests)."""

    def update_answers(self, parts: AnswerConfig) -> None: ...

    def rule_hits(self) -> dict[str, int]: ...

    def reset_rule_hits(self) -> None: ...


def blank_rule(n: int) -> dict[str, Any]:
    """The editor's fields of a new rule (text as typed)."""
    return {
        "name": f"rule-{n}",
        "enabled": True,
        "match": "",
        "path": "",
        "method": "",
        "respond": "500",
        "times": 0,
        "delay": "",
        "body": "",
        "headers": "",
        "verification": False,
    }


def rule_from_fields(fields: Mapping[str, Any]) -> Rule:
    """The rule the editor's fields describe; raises :class:`RuleError` naming the field."""
    data: dict[str, Any] = {"name": str(fields.get("name", "")).strip()}
    data["enabled"] = bool(fields.get("enabled", True))
    for key in ("match", "path", "method"):
        text = str(fields.get(key, "")).strip()
        if text:
            data[key] = text
    respond = str(fields.get("respond", "")).strip()
    if not respond:
        raise RuleError(
            "respond", 'give a status, a sequence such as "500, 500, 200", hold or close'
        )
    steps: list[Any] = []
    for part in respond.replace(";", ",").split(","):
        word = part.strip().removeprefix("then").strip()
        if not word:
            raise RuleError("respond", f"{respond!r}: an empty step between commas")
        steps.append(int(word) if word.isdigit() else word)
    data["respond"] = steps if len(steps) > 1 else steps[0]
    times = int(fields.get("times") or 0)
    if times:
        data["times"] = times
    delay = str(fields.get("delay", "")).strip()
    if delay:
        data["delay"] = delay
    body = str(fields.get("body", ""))
    if body:
        data["body"] = body
    headers: list[list[str]] = []
    for n, line in enumerate(str(fields.get("headers", "")).splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise RuleError("headers", f"line {n}: write it as Name: value")
        headers.append([name.strip(), value.strip()])
    if headers:
        data["headers"] = headers
    if fields.get("verification"):
        data["verification"] = True
    return check_rule(data)


class RulesPanel(QWidget):
    """Ordered rules, first match wins; emits :attr:`rules_applied` with the rules in force."""

    rules_applied = Signal(list)  # list[Rule]

    def __init__(
        self,
        target: AnswerTarget | None,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("rulesPanel")
        self._target = target
        self._settings = settings
        self._fields: list[dict[str, Any]] = []
        self._errors: list[str] = []
        self._hits: dict[str, int] = {}
        self._loading = False

        self.list = QListWidget(self)
        self.list.setObjectName("rulesList")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setMinimumHeight(120)
        # Long expressions wrap instead of hiding the end of the line behind a scroll bar.
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.currentRowChanged.connect(self._on_current_changed)
        self.list.itemChanged.connect(self._on_item_changed)

        self.add_button = QPushButton("Add", self)
        self.remove_button = QPushButton("Remove", self)
        self.up_button = QPushButton("Up", self)
        self.down_button = QPushButton("Down", self)
        self.reset_button = QPushButton("Reset counters", self)
        self.reset_button.setToolTip("Start every rule's hit count, and its sequence, over")
        self.add_button.clicked.connect(self.add_rule)
        self.remove_button.clicked.connect(self.remove_rule)
        self.up_button.clicked.connect(lambda: self.move_rule(-1))
        self.down_button.clicked.connect(lambda: self.move_rule(1))
        self.reset_button.clicked.connect(self.reset_counters)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.reset_button)

        self.name_edit = QLineEdit(self)
        self.match_edit = FilterLineEdit(self)
        self.match_edit.setObjectName("ruleMatch")
        self.match_edit.setPlaceholderText("filter language, e.g. event:whatsapp:message:status")
        self.path_edit = QLineEdit(self)
        self.path_edit.setPlaceholderText("glob, e.g. /whatsapp/*")
        self.method_edit = QComboBox(self)
        self.method_edit.setEditable(True)
        self.method_edit.addItems(["", "POST", "GET", "PUT"])
        self.respond_edit = QLineEdit(self)
        self.respond_edit.setPlaceholderText("500  ·  500, 500, 200  ·  hold  ·  close")
        self.times_edit = QSpinBox(self)
        self.times_edit.setRange(0, 1_000_000)
        self.times_edit.setSpecialValueText("always")
        self.delay_edit = QLineEdit(self)
        self.delay_edit.setPlaceholderText("e.g. 4s or 500ms (at most 120 s)")
        self.body_edit = QPlainTextEdit(self)
        self.body_edit.setPlaceholderText('{"error": "try again"}')
        self.body_edit.setFixedHeight(56)
        self.headers_edit = QPlainTextEdit(self)
        self.headers_edit.setPlaceholderText("Retry-After: 10")
        self.headers_edit.setFixedHeight(44)
        self.verification_box = QCheckBox("also answer the provider's URL verification", self)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.body_edit.setFont(mono)

        self.error_label = QLabel(self)
        self.error_label.setObjectName("ruleError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e5534b;")
        self.warning_label = QLabel(self)
        self.warning_label.setObjectName("ruleWarning")
        self.warning_label.setTextFormat(Qt.TextFormat.PlainText)
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet(_WARN_STYLE)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Name", self.name_edit)
        form.addRow("Match", self.match_edit)
        form.addRow("Path", self.path_edit)
        form.addRow("Method", self.method_edit)
        form.addRow("Respond", self.respond_edit)
        form.addRow("Times", self.times_edit)
        form.addRow("Delay", self.delay_edit)
        form.addRow("Body", self.body_edit)
        form.addRow("Headers", self.headers_edit)
        form.addRow("", self.verification_box)
        self.editor = QWidget(self)
        self.editor.setLayout(form)
        form.setContentsMargins(0, 0, 0, 0)

        hint = QLabel("First match wins. The URL verification is echoed unless a rule takes it.")
        hint.setWordWrap(True)
        hint.setForegroundRole(hint.foregroundRole())
        hint.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(hint)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.editor)
        layout.addWidget(self.error_label)
        layout.addWidget(self.warning_label)

        for edit in (self.name_edit, self.match_edit, self.path_edit, self.respond_edit,
                     self.delay_edit):  # fmt: skip
            edit.textChanged.connect(self._on_edited)
        self.method_edit.currentTextChanged.connect(self._on_edited)
        self.times_edit.valueChanged.connect(self._on_edited)
        self.body_edit.textChanged.connect(self._on_edited)
        self.headers_edit.textChanged.connect(self._on_edited)
        self.verification_box.toggled.connect(self._on_edited)

        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.refresh_hits)
        if target is not None:
            self._poll.start()
        self._load()

    # -- the list ---------------------------------------------------------------------------

    def rules(self) -> list[Rule]:
        """The rules in force: every valid one, in order (disabled ones included, unapplied)."""
        out = []
        for fields, error in zip(self._fields, self._errors, strict=True):
            if not error:
                out.append(rule_from_fields(fields))
        return out

    def errors(self) -> list[str]:
        return list(self._errors)

    @Slot()
    def add_rule(self) -> None:
        names = {str(f.get("name")) for f in self._fields}
        n = len(self._fields) + 1
        while f"rule-{n}" in names:
            n += 1
        self._fields.append(blank_rule(n))
        self._errors.append("")
        self._check_all()
        self._rebuild(len(self._fields) - 1)
        self._apply()
        self.name_edit.setFocus()
        self.name_edit.selectAll()

    def set_rules_fields(self, fields: list[dict[str, Any]]) -> None:
        """Replace every rule (the editor's text fields, as :func:`blank_rule` has them)."""
        self._fields = [{**blank_rule(i + 1), **f} for i, f in enumerate(fields)]
        self._errors = [""] * len(self._fields)
        self._check_all()
        self._rebuild(0 if self._fields else -1)
        self._apply()

    @Slot()
    def remove_rule(self) -> None:
        row = self.list.currentRow()
        if row < 0:
            return
        del self._fields[row]
        del self._errors[row]
        self._check_all()
        self._rebuild(min(row, len(self._fields) - 1))
        self._apply()

    def move_rule(self, step: int) -> None:
        row = self.list.currentRow()
        dest = row + step
        if row < 0 or not 0 <= dest < len(self._fields):
            return
        self._fields[row], self._fields[dest] = self._fields[dest], self._fields[row]
        self._check_all()
        self._rebuild(dest)
        self._apply()

    @Slot()
    def reset_counters(self) -> None:
        if self._target is not None:
            self._target.reset_rule_hits()
        self._hits = {}
        self._refresh_items()

    @Slot()
    def refresh_hits(self) -> None:
        if self._target is None:
            return
        hits = self._target.rule_hits()
        if hits != self._hits:
            self._hits = hits
            self._refresh_items()

    def _rebuild(self, current: int) -> None:
        with QSignalBlocker(self.list):
            self.list.clear()
            for _ in self._fields:
                item = QListWidgetItem(self.list)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        self._refresh_items()
        if current >= 0:
            self.list.setCurrentRow(current)
        else:
            self._show_editor(None)

    def _refresh_items(self) -> None:
        with QSignalBlocker(self.list):
            for row, fields in enumerate(self._fields):
                item = self.list.item(row)
                if item is None:
                    continue
                error = self._errors[row]
                name = str(fields.get("name", "")) or "(no name)"
                hits = self._hits.get(name, 0)
                item.setText(
                    f"{name}  ({hits} hit{'s' if hits != 1 else ''})  \u2014  {_describe(fields)}"
                )
                item.setCheckState(
                    Qt.CheckState.Checked
                    if fields.get("enabled", True)
                    else Qt.CheckState.Unchecked
                )
                if error:
                    item.setForeground(_ERROR)
                    # Qt guesses rich text in tooltips: the typed text goes in escaped.
                    item.setToolTip(f"<p style='white-space:pre-wrap'>Skipped: {escape(error)}</p>")
                    item.setIcon(icon("warning"))
                else:
                    item.setData(Qt.ItemDataRole.ForegroundRole, None)
                    item.setToolTip("")
                    item.setIcon(icon("rules"))

    def hit_text(self, row: int) -> str:
        item = self.list.item(row)
        return item.text() if item is not None else ""

    @Slot(QListWidgetItem)
    def _on_item_changed(self, item: QListWidgetItem) -> None:
        row = self.list.row(item)
        if 0 <= row < len(self._fields):
            enabled = item.checkState() == Qt.CheckState.Checked
            if bool(self._fields[row].get("enabled", True)) != enabled:
                self._fields[row]["enabled"] = enabled
                self._check_all()
                self._refresh_items()
                self._apply()

    @Slot(int)
    def _on_current_changed(self, row: int) -> None:
        self._show_editor(self._fields[row] if 0 <= row < len(self._fields) else None)

    # -- the editor --------------------------------------------------------------------------

    def _show_editor(self, fields: Mapping[str, Any] | None) -> None:
        self._loading = True
        try:
            self.editor.setEnabled(fields is not None)
            f = fields or {}
            self.name_edit.setText(str(f.get("name", "")))
            self.match_edit.setText(str(f.get("match", "")))
            self.path_edit.setText(str(f.get("path", "")))
            self.method_edit.setCurrentText(str(f.get("method", "")))
            self.respond_edit.setText(str(f.get("respond", "")))
            self.times_edit.setValue(int(f.get("times") or 0))
            self.delay_edit.setText(str(f.get("delay", "")))
            self.body_edit.setPlainText(str(f.get("body", "")))
            self.headers_edit.setPlainText(str(f.get("headers", "")))
            self.verification_box.setChecked(bool(f.get("verification", False)))
        finally:
            self._loading = False
        self._show_checks()

    def _editor_fields(self) -> dict[str, Any]:
        row = self.list.currentRow()
        enabled = self._fields[row].get("enabled", True) if 0 <= row < len(self._fields) else True
        return {
            "name": self.name_edit.text(),
            "enabled": enabled,
            "match": self.match_edit.text(),
            "path": self.path_edit.text(),
            "method": self.method_edit.currentText(),
            "respond": self.respond_edit.text(),
            "times": self.times_edit.value(),
            "delay": self.delay_edit.text(),
            "body": self.body_edit.toPlainText(),
            "headers": self.headers_edit.toPlainText(),
            "verification": self.verification_box.isChecked(),
        }

    @Slot()
    def _on_edited(self, *_: object) -> None:
        if self._loading:
            return
        row = self.list.currentRow()
        if not 0 <= row < len(self._fields):
            return
        self._fields[row] = self._editor_fields()
        self._check_all()
        self._refresh_items()
        self._show_checks()
        self._apply()

    def _show_checks(self) -> None:
        row = self.list.currentRow()
        error = self._errors[row] if 0 <= row < len(self._errors) else ""
        self.error_label.setText(f"\u26a0 {error} \u2014 this rule is skipped" if error else "")
        self.error_label.setVisible(bool(error))
        warnings: list[str] = []
        if 0 <= row < len(self._fields) and not error:
            warnings = provider_warnings(rule_from_fields(self._fields[row]))
        self.warning_label.setText("\n".join(f"Provider: {w}" for w in warnings))
        self.warning_label.setVisible(bool(warnings))

    def _check_all(self) -> None:
        seen: set[str] = set()
        for row, fields in enumerate(self._fields):
            try:
                rule = rule_from_fields(fields)
            except RuleError as exc:
                self._errors[row] = str(exc)
                continue
            if rule.name in seen:
                self._errors[row] = f"name: another rule above is named {rule.name!r}"
                continue
            seen.add(rule.name)
            self._errors[row] = ""

    # -- applying and keeping ---------------------------------------------------------------

    def _apply(self) -> None:
        rules = self.rules()
        if self._target is not None:
            self._target.update_answers({"rules": rules_config(rules)})
        self.rules_applied.emit(rules)
        self._save()

    def _save(self) -> None:
        if self._settings is None or self._loading:
            return
        self._settings.setValue(_SETTINGS_KEY, json.dumps(self._fields))

    def _load(self) -> None:
        if self._settings is None:
            return
        raw = self._settings.value(_SETTINGS_KEY)
        if not raw:
            return
        try:
            fields = json.loads(str(raw))
        except ValueError:
            return
        if isinstance(fields, list):
            self.set_rules_fields([f for f in fields if isinstance(f, dict)])

    def shutdown(self) -> None:
        self._poll.stop()


def _describe(fields: Mapping[str, Any]) -> str:
    """A rule in a few words: ``event:whatsapp… → 500, 500, 200 after 4s``."""
    when = " ".join(
        str(fields.get(k, "")).strip() for k in ("method", "path", "match") if fields.get(k)
    )
    answer = str(fields.get("respond", "")).strip() or "?"
    delay = str(fields.get("delay", "")).strip()
    if delay:
        try:
            delay = format_delay(parse_delay(delay))
        except RuleError:
            pass
        answer += f" after {delay}"
    times = int(fields.get("times") or 0)
    if times:
        answer += f", {times}\u00d7"
    if len(when) > 48:
        when = when[:47] + "\u2026"
    return f"{when or 'any request'} \u2192 {answer}"
