"""Every menu command once: text, shortcut, tooltip, menu, and whether it needs a selection.

The menu bar, the table's row context menu and the help dialog's list are all built from
:data:`ACTIONS`, so a label or a shortcut changes in one place.  Commands the window had
before menus existed (copy URL, pause, follow, clear view, help) keep their own toolbar
actions and shortcuts; the menus show those same QAction objects (:data:`WINDOW_ACTIONS`),
never a second binding of the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

Key = QKeySequence.StandardKey | str | None


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    text: str
    menu: str  # "File", "Edit", "View", "Help"
    shortcut: Key = None
    tip: str = ""
    #: Acts on the selected rows: in the row context menu, disabled with no selection.
    selection: bool = False
    #: A separator goes before it in its menu.
    group_start: bool = False


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("new_session", "&New Session", "File", QKeySequence.StandardKey.New,
               "Start a new, empty session file and record into it"),
    ActionSpec("open_session", "&Open Session\u2026", "File", QKeySequence.StandardKey.Open,
               "Open a session file; one that is read-only or another user's is shown without "
               "writing to it"),
    ActionSpec("save_copy", "Save a &Copy As\u2026", "File", "Ctrl+Shift+S",
               "Write a consistent copy of this session while capture goes on", group_start=True),
    ActionSpec("import_file", "&Import HAR or JSONL\u2026", "File", "Ctrl+I",
               "Bring a HAR (ours, Chrome, Firefox, Charles, HTTP Toolkit) or JSONL file into "
               "a new session", group_start=True),
    ActionSpec("export", "&Export\u2026", "File", "Ctrl+Shift+X",
               "Write the selected, filtered or all requests as HAR, JSONL or curl"),
    ActionSpec("share", "&Share for Bug Report\u2026", "File", "Ctrl+Shift+B",
               "Preview every redaction, then write a redacted HAR you can attach to a report"),
    ActionSpec("copy_curl", "Copy as &curl", "Edit", None,
               "Copy bash curl commands that send the selected requests again, byte for byte",
               selection=True, group_start=True),
    ActionSpec("copy_tracker", "Copy for &Issue Tracker", "Edit", None,
               "Copy the selected requests as a Markdown table with their redacted JSON",
               selection=True),
    ActionSpec("export_selected", "Export &Selected\u2026", "Edit", None,
               "Export only the selected requests", selection=True),
    ActionSpec("share_selected", "Share Selected for Bug Report\u2026", "Edit", None,
               "Redacted export of the selected requests, with a preview", selection=True),
)

#: The window's own actions (attribute names on MainWindow) and the menu each goes in.
WINDOW_ACTIONS: tuple[tuple[str, str], ...] = (
    ("action_send_test_event", "File"),
    ("action_quit", "File"),
    ("action_undo", "Edit"),
    ("action_replay", "Edit"),
    ("action_replay_edit", "Edit"),
    ("action_replay_to", "Edit"),
    ("copy_url_action", "Edit"),
    ("provider_action", "Edit"),
    ("pause_action", "View"),
    ("follow_action", "View"),
    ("clear_action", "View"),
    ("tunnel_action", "View"),
    ("rules_action", "View"),
    ("help_action", "Help"),
)
#: Window actions that start a group of their own in their menu.
_GROUP_STARTS = frozenset({"action_send_test_event", "action_quit", "tunnel_action"})

MENUS = ("File", "Edit", "View", "Help")


def shortcut_text(spec: ActionSpec) -> str:
    if spec.shortcut is None:
        return ""
    return QKeySequence(spec.shortcut).toString(QKeySequence.SequenceFormat.NativeText)


def build_actions(
    parent: QWidget, handlers: dict[str, Callable[[], object]]
) -> dict[str, QAction]:
    """One QAction per spec, triggering its handler."""
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, parent)
        action.setObjectName(f"action_{spec.name}")
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        tip = spec.tip
        keys = shortcut_text(spec)
        action.setToolTip(f"{tip} ({keys})" if keys else tip)
        action.setStatusTip(tip)
        handler = handlers.get(spec.name)
        if handler is not None:
            action.triggered.connect(lambda _checked=False, h=handler: h())
        else:
            action.setEnabled(False)
        actions[spec.name] = action
    return actions


def build_menu_bar(
    bar: QMenuBar,
    actions: dict[str, QAction],
    window_actions: dict[str, QAction],
    recent_menu: QMenu | None = None,
) -> dict[str, QMenu]:
    menus = {name: bar.addMenu(f"&{name}") for name in MENUS}
    for name, menu in menus.items():
        menu.setObjectName(f"menu{name}")
    for spec in ACTIONS:
        menu = menus[spec.menu]
        if spec.group_start and not menu.isEmpty():
            menu.addSeparator()
        menu.addAction(actions[spec.name])
        if spec.name == "open_session" and recent_menu is not None:
            menu.addMenu(recent_menu)
    edit_first = menus["Edit"].actions()[0] if menus["Edit"].actions() else None
    for attr, menu_name in WINDOW_ACTIONS:
        action = window_actions.get(attr)
        if action is None:
            continue
        menu = menus[menu_name]
        if menu_name == "Edit" and edit_first is not None:
            # The window's own edit commands (undo, copy URL, settings) come first.
            menu.insertAction(edit_first, action)
            continue
        if attr in _GROUP_STARTS and not menu.isEmpty():
            menu.addSeparator()
        menu.addAction(action)
    if edit_first is not None:
        menus["Edit"].insertSeparator(edit_first)
    return menus


def row_context_menu(parent: QWidget, actions: dict[str, QAction]) -> QMenu:
    """The same QActions as the menu bar, for the selected rows."""
    menu = QMenu(parent)
    menu.setObjectName("rowContextMenu")
    for spec in ACTIONS:
        if spec.selection:
            menu.addAction(actions[spec.name])
    return menu


def set_selection_enabled(actions: dict[str, QAction], has_selection: bool) -> None:
    for spec in ACTIONS:
        if spec.selection:
            actions[spec.name].setEnabled(has_selection)


def menu_shortcuts() -> tuple[tuple[str, str], ...]:
    """(keys, what they do) for the help dialog."""
    return tuple(
        (shortcut_text(spec), spec.text.replace("&", "").rstrip("\u2026"))
        for spec in ACTIONS
        if spec.shortcut is not None
    )
