"""The keyboard shortcuts, listed once so the window and the help dialog agree."""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from inspector.core.session.query import HELP

#: (keys as Qt reads them, what they do); the window binds every entry of this list.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Up / Down, J / K", "move to the previous / next request"),
    ("Home / End", "first / last request"),
    ("Ctrl+F, /", "focus the filter"),
    ("Esc", "clear the filter"),
    ("Ctrl+C", "copy the selected request's body"),
    ("Ctrl+L", "copy the listening URL"),
    ("Delete", "remove the selected rows from the view (the session keeps them)"),
    ("Ctrl+P", "pause / resume the live view (capture continues)"),
    ("Ctrl+E", "follow the newest request on / off"),
    ("Ctrl+K", "clear the view (the session keeps everything)"),
    ("F1, ?", "this help"),
)


def help_html() -> str:
    from inspector.gui.actions import menu_shortcuts

    rows = "".join(
        f"<tr><td style='padding-right:16px'><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>"
        for k, v in (*SHORTCUTS, *menu_shortcuts())
    )
    return (
        "<h3>Keyboard</h3>"
        f"<table>{rows}</table>"
        "<h3>Filter language</h3>"
        f"<pre>{escape(HELP)}</pre>"
        "<p>Full description: docs/filter-language.md</p>"
    )


class HelpDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("helpDialog")
        self.setWindowTitle("Webhook Inspector help")
        self.resize(760, 620)
        self.browser = QTextBrowser(self)
        self.browser.setHtml(help_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
