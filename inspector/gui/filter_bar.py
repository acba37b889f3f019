"""The filter line: the query language with autocomplete, an error line, and quick menus.

A filter is compiled on every (debounced) edit; while the text does not parse, the
error is shown under the bar and the table keeps the last filter that did, so a
half-typed ``event:`` never empties the view.
"""

from __future__ import annotations

import re
from functools import partial

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.provider.catalogue import EVENTS, PRODUCT_LABELS, PRODUCTS, STATUS_CLASSES
from inspector.core.session.query import (
    FIELDS,
    KNOWN_VALUES,
    CompiledQuery,
    QueryError,
    compile_query,
)
from inspector.gui.plain_text import plain_label
from inspector.gui.theme import icon

DEBOUNCE_MS = 60

_TOKEN_START = re.compile(r'[^\s()"]*$')


def _field_term_re(name: str) -> re.Pattern[str]:
    return re.compile(rf'(?:(?<=\s)|^)(?:-|not\s+)?{name}:(?:"[^"]*"|\S+)\s*', re.IGNORECASE)


def completions_for(token: str) -> list[str]:
    """What the word being typed could become: a field name, or a known value of its field."""
    neg = "-" if token.startswith("-") else ""
    body = token[1:] if neg else token
    if ":" in body:
        name, _, _partial = body.partition(":")
        values = KNOWN_VALUES.get(name.lower(), ())
        return [f"{neg}{name.lower()}:{v}" for v in values]
    return [f"{neg}{f}:" for f in FIELDS]


class FilterLineEdit(QLineEdit):
    """Line edit whose completer completes only the word under the cursor."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = QStringListModel(self)
        self.completer_popup = QCompleter(self._model, self)
        self.completer_popup.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer_popup.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer_popup.setMaxVisibleItems(12)
        self.completer_popup.setWidget(self)
        self.completer_popup.activated.connect(self._insert_completion)
        self.textEdited.connect(self._update_completions)

    @property
    def completion_model(self) -> QStringListModel:
        return self._model

    def current_token(self) -> str:
        before = self.text()[: self.cursorPosition()]
        m = _TOKEN_START.search(before)
        return m.group(0) if m else ""

    @Slot(str)
    def _update_completions(self, _text: str) -> None:
        token = self.current_token()
        popup = self.completer_popup.popup()
        if not token or token in ("-",):
            if popup is not None:
                popup.hide()
            return
        options = completions_for(token)
        self._model.setStringList(options)
        self.completer_popup.setCompletionPrefix(token)
        if self.completer_popup.completionCount() == 0 or (
            self.completer_popup.completionCount() == 1
            and self.completer_popup.currentCompletion().lower() == token.lower()
        ):
            if popup is not None:
                popup.hide()
            return
        self.completer_popup.complete()

    @Slot(str)
    def _insert_completion(self, completion: str) -> None:
        token = self.current_token()
        pos = self.cursorPosition()
        text = self.text()
        start = pos - len(token)
        suffix = "" if completion.endswith(":") else " "
        new = text[:start] + completion + suffix + text[pos:].lstrip(" " if suffix else "")
        self.setText(new)
        self.setCursorPosition(start + len(completion) + len(suffix))
        self.textEdited.emit(self.text())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        popup = self.completer_popup.popup()
        if (
            popup is not None
            and popup.isVisible()
            and event.key()
            in (
                Qt.Key.Key_Enter,
                Qt.Key.Key_Return,
                Qt.Key.Key_Tab,
            )
        ):
            event.ignore()
            return
        super().keyPressEvent(event)


class FilterBar(QWidget):
    """Emits :attr:`filter_changed` with each new valid filter; shows errors for the rest."""

    filter_changed = Signal(object)  # CompiledQuery
    error_changed = Signal(str)  # "" when the filter is valid

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = FilterLineEdit(self)
        self.edit.setObjectName("filterEdit")
        self.edit.setClearButtonEnabled(True)
        self.edit.setPlaceholderText(
            "Filter: words in bodies, event:…, product:…, status:…, class:…, from:…, "
            "-exclude, OR, /regex/   (Ctrl+F, F1 for help)"
        )
        self.edit.addAction(icon("filter"), QLineEdit.ActionPosition.LeadingPosition)
        self.error_label = plain_label(QLabel(self))
        self.error_label.setObjectName("filterError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e5534b;")
        self.error_label.hide()
        self.count_label = QLabel(self)
        self.count_label.setObjectName("filterCount")

        self.event_button = self._menu_button("Event", self._event_menu())
        self.product_button = self._menu_button("Product", self._value_menu("product", PRODUCTS))
        self.class_button = self._menu_button("Class", self._value_menu("class", STATUS_CLASSES))

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(self.edit, 1)
        row.addWidget(self.event_button)
        row.addWidget(self.product_button)
        row.addWidget(self.class_button)
        row.addWidget(self.count_label)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 4, 6, 2)
        outer.setSpacing(2)
        outer.addLayout(row)
        outer.addWidget(self.error_label)

        self._last_valid: CompiledQuery = compile_query("")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.apply_now)
        self.edit.textChanged.connect(self._on_text_changed)

    @property
    def last_valid(self) -> CompiledQuery:
        return self._last_valid

    def text(self) -> str:
        return self.edit.text()

    def set_text(self, text: str) -> None:
        self.edit.setText(text)
        self.apply_now()

    def clear(self) -> None:
        self.set_text("")

    @Slot(str)
    def _on_text_changed(self, _text: str) -> None:
        self._timer.start()

    @Slot()
    def apply_now(self) -> None:
        """Compile the current text now (the debounce timer does this after typing pauses)."""
        self._timer.stop()
        try:
            query = compile_query(self.edit.text())
        except QueryError as exc:
            self.error_label.setText(f"\u26a0 {exc} \u2014 showing the last valid filter")
            self.error_label.show()
            self.error_changed.emit(str(exc))
            return
        if self.error_label.isVisible():
            self.error_label.hide()
            self.error_changed.emit("")
        if (
            query.text.strip() == self._last_valid.text.strip()
            and query.where == self._last_valid.where
        ):
            return
        self._last_valid = query
        self.filter_changed.emit(query)

    def set_field_term(self, name: str, value: str | None) -> None:
        """Replace any ``name:...`` term with ``name:value`` (or drop it for ``None``)."""
        text = _field_term_re(name).sub("", self.edit.text()).strip()
        if value:
            text = f"{text} {name}:{value}".strip()
        self.set_text(text)

    def _menu_button(self, title: str, menu: QMenu) -> QToolButton:
        button = QToolButton(self)
        button.setText(title)
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setToolTip(f"Filter by {title.lower()}")
        return button

    def _value_menu(self, name: str, values: tuple[str, ...]) -> QMenu:
        menu = QMenu(self)
        menu.addAction(f"Any {name}", lambda: self.set_field_term(name, None))
        menu.addSeparator()
        for v in values:
            label = (
                PRODUCT_LABELS.get(v, v.replace("_", "-"))
                if name == "product"
                else v.replace("_", "-")
            )
            menu.addAction(label, partial(self.set_field_term, name, v))
        return menu

    def _event_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.addAction("Any event", lambda: self.set_field_term("event", None))
        menu.addSeparator()
        for product in PRODUCTS:
            sub = menu.addMenu(PRODUCT_LABELS[product])
            sub.addAction(
                f"All {PRODUCT_LABELS[product]} events",
                partial(self.set_field_term, "event", product),
            )
            for e in EVENTS:
                if e.product == product:
                    sub.addAction(e.name, partial(self.set_field_term, "event", e.name))
        menu.addSeparator()
        menu.addAction(
            "Any opt-out (unsubscription)", lambda: self.set_field_term("event", "unsubscription")
        )
        menu.addAction("Not decoded", lambda: self.set_field_term("event", "none"))
        return menu
