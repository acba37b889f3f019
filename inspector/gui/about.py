"""Help > About and Help > Open log folder: where the app keeps what, for a bug report.

The two actions are built here, not in the window, so any menu (the toolbar's Help
button today, a menu bar later) can carry the same ones.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector import __version__
from inspector.core.logfile import log_dir, log_file
from inspector.core.tunnel.secrets import config_dir
from inspector.gui.theme import icon


def open_folder(path: Path) -> bool:
    """Open ``path`` in the desktop's file manager (created first, so there is one to open)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def open_log_folder() -> bool:
    return open_folder(log_dir())


def about_facts(session_path: Path) -> list[tuple[str, str]]:
    """(label, value) rows of the About dialog."""
    return [
        ("Version", __version__),
        ("Session", str(session_path)),
        ("Session folder", str(session_path.parent)),
        ("Config folder", str(config_dir())),
        ("Log file", str(log_file())),
    ]


class AboutDialog(QDialog):
    def __init__(self, session_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Webhook Inspector")
        title = QLabel("Webhook Inspector", self)
        title.setObjectName("aboutTitle")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        blurb = QLabel("Capture, decode and inspect a messaging provider's webhooks.", self)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.values: dict[str, QLabel] = {}
        for label, value in about_facts(Path(session_path)):
            field = QLabel(value, self)
            field.setTextFormat(Qt.TextFormat.PlainText)  # paths are text, never markup
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{label}:", field)
            self.values[label] = field
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        self.open_logs_button = QPushButton("Open log folder", self)
        buttons.addButton(self.open_logs_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.open_logs_button.clicked.connect(lambda: open_log_folder())
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(blurb)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(buttons)


def help_actions(parent: QWidget, session_path: Path) -> tuple[QAction, QAction]:
    """The "About Webhook Inspector" and "Open log folder" actions, for any menu."""
    about = QAction(icon("app"), "About Webhook Inspector", parent)
    about.setObjectName("aboutAction")
    about.setMenuRole(QAction.MenuRole.AboutRole)
    dialogs: list[AboutDialog] = []

    def show_about() -> None:
        if not dialogs:
            dialogs.append(AboutDialog(session_path, parent))
        dialogs[0].show()
        dialogs[0].raise_()

    about.triggered.connect(show_about)
    logs = QAction("Open log folder", parent)
    logs.setObjectName("openLogFolderAction")
    logs.setToolTip(f"Open {log_dir()} in the file manager")
    logs.triggered.connect(lambda: open_log_folder())
    return about, logs


def attach_help_menu(bar: QToolBar, help_action: QAction, actions: list[QAction]) -> QMenu:
    """Give the toolbar's Help button a drop-down with ``actions`` (a click still opens help)."""
    button = bar.widgetForAction(help_action)
    menu = QMenu(bar)
    menu.setObjectName("helpMenu")
    # "\tF1" shows the key in the menu's shortcut column without binding it a second time.
    shortcuts = menu.addAction(help_action.icon(), "Keyboard shortcuts and filter language\tF1")
    shortcuts.triggered.connect(help_action.trigger)
    menu.addSeparator()
    menu.addActions(actions)
    if isinstance(button, QToolButton):
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
    return menu
