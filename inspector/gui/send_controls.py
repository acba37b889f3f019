"""The window's send side: the Forward toolbar, the replay actions and the progress panel.

Kept out of ``main_window`` so the window stays an assembler: this wires the core's
``Relay`` and ``ReplayBatch`` (run on the engine loop through ``run``) to the widgets
that show them, and reports back through batched bridges, never a signal per request.
The replay actions are plain QActions (``action_replay``, ``action_replay_edit``,
``action_replay_to``) that the window exposes for its menus and context menu.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QToolBar, QWidget

from inspector.core.send.outbox import OutboxStatus
from inspector.core.send.relay import Relay
from inspector.core.send.replay import (
    ReplayBatch,
    ReplayItem,
    ReplayProgress,
    item_from_stored,
    with_signature,
)
from inspector.gui.bridge import LatestBridge
from inspector.gui.forward_widget import ForwardControl
from inspector.gui.replay_dialog import BatchReplayDialog, ReplayEditor
from inspector.gui.replay_progress import ReplayProgressPanel
from inspector.gui.theme import icon

if TYPE_CHECKING:
    from inspector.gui.main_window import MainWindow

log = logging.getLogger(__name__)

RunOnEngine = Callable[[Coroutine[Any, Any, Any]], "concurrent.futures.Future[Any]"]
#: Seconds a replay waits for the app's answer.
REPLAY_DEADLINE = 10.0


class SendControls(QObject):
    """Builds and wires the send side of ``window``; ``relay``/``run`` None disables it."""

    def __init__(
        self,
        window: MainWindow,
        relay: Relay | None,
        run: RunOnEngine | None,
        settings: QSettings,
    ) -> None:
        super().__init__(window)
        self._window = window
        self.relay = relay
        self._run = run
        #: The provider's signing secret, for "re-sign" (set by the settings, when there are).
        self.signing_key = ""
        self.batch: ReplayBatch | None = None
        self._future: concurrent.futures.Future[Any] | None = None

        self.action_replay = QAction(icon("play"), "Replay", window)
        self.action_replay.setObjectName("actionReplay")
        self.action_replay.setShortcut(QKeySequence("Ctrl+R"))
        self.action_replay.setToolTip(
            "Send the selected requests again, as they were, to the Forward to URL "
            "(or this listener when none is set) (Ctrl+R)"
        )
        self.action_replay.triggered.connect(self.replay_selected)
        self.action_replay_edit = QAction("Edit and replay\u2026", window)
        self.action_replay_edit.setObjectName("actionReplayEdit")
        self.action_replay_edit.setShortcut(QKeySequence("Ctrl+Shift+R"))
        self.action_replay_edit.setToolTip("Edit the selected request, then send it (Ctrl+Shift+R)")
        self.action_replay_edit.triggered.connect(self.edit_and_replay)
        self.action_replay_to = QAction("Replay to\u2026", window)
        self.action_replay_to.setObjectName("actionReplayTo")
        self.action_replay_to.setShortcut(QKeySequence("Ctrl+Alt+R"))
        self.action_replay_to.setToolTip(
            "Replay the selected requests to a URL you choose, N at a time or at their pace"
        )
        self.action_replay_to.triggered.connect(self.replay_to)
        self.actions = [self.action_replay, self.action_replay_edit, self.action_replay_to]
        for action in self.actions:
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setEnabled(relay is not None and run is not None)
            window.addAction(action)

        self.progress_panel = ReplayProgressPanel(window)
        self.progress_panel.pause_requested.connect(self._on_pause_requested)
        self.progress_panel.cancel_requested.connect(self.cancel_replay)
        self._progress_bridge = LatestBridge(parent=self)
        self._progress_bridge.changed.connect(self._on_progress)
        self._status_bridge = LatestBridge(parent=self)
        self._status_bridge.changed.connect(self._on_status)

        self.forward: ForwardControl | None = None
        bar = QToolBar("Forward", window)
        bar.setObjectName("forwardToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        if relay is not None:
            self.forward = ForwardControl(relay, settings, bar)
            bar.addWidget(self.forward)
            relay.add_status_listener(self._status_bridge)
        bar.addAction(self.action_replay)
        self.toolbar = bar

    # -- mounting --------------------------------------------------------------------

    def mount(self, table: QWidget) -> None:
        """Put the toolbar under the window's, and the actions in the table's menu."""
        window = self._window
        window.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        table.addActions(self.actions)

    def shutdown(self) -> None:
        if self.relay is not None:
            self.relay.remove_status_listener(self._status_bridge)
        self.cancel_replay()
        self._progress_bridge.stop()
        self._status_bridge.stop()

    # -- replay ----------------------------------------------------------------------

    def targets(self) -> dict[str, str]:
        relay = self.relay
        return {
            "Forward to URL": relay.target or "" if relay is not None else "",
            "This listener": self._window.url,
        }

    def default_target(self) -> str:
        relay = self.relay
        return (relay.target if relay is not None else None) or self._window.url

    def _selected_items(self, to: str, *, exact: bool = False) -> list[ReplayItem]:
        items = []
        for rid in self._window.selected_request_ids():
            req = self._window.model.request(rid)
            if req is not None:
                items.append(item_from_stored(req, to, exact=exact))
        return items

    @Slot()
    def replay_selected(self) -> None:
        """As-is, one at a time, to the forward URL (or our own listener)."""
        items = self._selected_items(self.default_target())
        if not items:
            self._window.statusBar().showMessage("Select requests to replay", 3000)
            return
        self.start(items)

    @Slot()
    def replay_to(self) -> None:
        ids = self._window.selected_request_ids()
        if not ids:
            self._window.statusBar().showMessage("Select requests to replay", 3000)
            return
        dialog = BatchReplayDialog(
            len(ids), targets=self.targets(), signing_key=self.signing_key, parent=self._window
        )
        self.last_dialog: QDialog = dialog
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        choice = dialog.choice()
        items = self._selected_items(choice.url, exact=choice.exact)
        if choice.signing_key:
            key = choice.signing_key
            items = [
                dataclasses.replace(i, headers=with_signature(i.headers, i.body, key))
                for i in items
            ]
        self.start(items, concurrency=choice.concurrency, speed=choice.speed)

    def editor_for_current(self) -> ReplayEditor | None:
        rid = self._window.current_request_id()
        req = self._window.model.request(rid) if rid is not None else None
        if req is None:
            self._window.statusBar().showMessage("Select a request to edit and replay", 3000)
            return None
        item = item_from_stored(req, self.default_target())
        return ReplayEditor(
            item, targets=self.targets(), signing_key=self.signing_key, parent=self._window
        )

    @Slot()
    def edit_and_replay(self) -> None:
        editor = self.editor_for_current()
        if editor is None:
            return
        self.last_dialog = editor
        if editor.exec() == QDialog.DialogCode.Accepted:
            self.start([editor.item()])

    def start(
        self, items: list[ReplayItem], *, concurrency: int = 1, speed: float | None = None
    ) -> ReplayBatch | None:
        """Run a batch on the engine loop; progress comes back through the bridge."""
        relay, run = self.relay, self._run
        if relay is None or run is None:
            return None
        if self.batch is not None and not self.batch.progress.finished:
            self._window.statusBar().showMessage(
                "A replay is already running: pause or cancel it first", 4000
            )
            return None
        batch = ReplayBatch(
            items,
            concurrency=concurrency,
            speed=speed,
            deadline=REPLAY_DEADLINE,
            on_progress=self._progress_bridge,
        )
        self.batch = batch
        self.progress_panel.start(len(items))
        self._future = run(batch.run(relay.client, relay.replay_sink, relay=relay))
        self._future.add_done_callback(_log_failure)
        return batch

    @Slot()
    def cancel_replay(self) -> None:
        if self.batch is not None:
            self.batch.cancel()

    @Slot(bool)
    def _on_pause_requested(self, paused: bool) -> None:
        if self.batch is not None:
            if paused:
                self.batch.pause()
            else:
                self.batch.resume()

    @Slot(object)
    def _on_progress(self, progress: ReplayProgress) -> None:
        self.progress_panel.show_progress(progress)
        self._window.model.app_outcomes_changed()
        refresh = getattr(self._window.detail, "refresh_response", None)
        if refresh is not None:
            refresh()

    @Slot(object)
    def _on_status(self, status: OutboxStatus) -> None:
        if self.forward is not None:
            self.forward.set_status(status)
        self._window.model.app_outcomes_changed()
        refresh = getattr(self._window.detail, "refresh_response", None)
        if refresh is not None:
            refresh()


def _log_failure(fut: concurrent.futures.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("replay stopped: %s", fut.exception())
