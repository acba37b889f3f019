"""The keyboard shortcuts, listed once so the window and the help dialog agree."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from inspector.core.session.query import HELP, filter_reference

#: (keys as Qt reads them, what they do); the window binds every entry of this list.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Down, J", "next request (the one below)"),
    ("Up, K", "previous request (the one above)"),
    ("Home / End", "first / last request"),
    ("Ctrl+F, /", "focus the filter"),
    ("Esc", "clear the filter"),
    ("Ctrl+C", "copy the selected request's body"),
    ("Ctrl+L", "copy the listening URL"),
    ("Delete", "remove the selected rows from the view (the session keeps them)"),
    ("Ctrl+Z", "undo the last Delete or Clear view"),
    ("Ctrl+P", "pause / resume the live view (capture continues)"),
    ("Ctrl+E", "follow the newest request on / off"),
    ("Ctrl+K", "clear the view (the session keeps everything)"),
    ("F1, ?", "this help"),
    ("Ctrl+Q", "quit"),
)


def _table(rows: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|")

    lines = ["| Keys | Action |", "|---|---|"]
    lines += [f"| **{cell(k)}** | {cell(v)} |" for k, v in rows]
    return "\n".join(lines)


def help_markdown() -> str:
    """The help: the window's keys, the detail pane's, and the whole filter language
    reference as shipped in the package (no docs/ folder needed)."""
    from inspector.gui.actions import menu_shortcuts
    from inspector.gui.detail.pane import SHORTCUTS as PANE_SHORTCUTS

    return (
        "# Keyboard\n\n"
        f"{_table(SHORTCUTS)}\n\n"
        "## Menu commands\n\n"
        f"{_table(menu_shortcuts())}\n\n"
        "## In the detail pane\n\n"
        f"{_table(PANE_SHORTCUTS)}\n\n"
        f"{filter_reference()}\n\n"
        "## In short\n\n"
        f"```\n{HELP}```\n"
    )


class HelpDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("helpDialog")
        self.setWindowTitle("Webhook Inspector help")
        self.resize(760, 620)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(help_markdown())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
