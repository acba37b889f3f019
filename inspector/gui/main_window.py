"""The main window: listening URL and live counters, filter bar, request table, detail pane.

The window owns no requests: the table asks the session store for the page it
shows, new arrivals come in batches through :class:`RowBridge`, and the detail
pane reads the one request that is selected.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from html import escape
from pathlib import Path

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPoint,
    QSettings,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QSizePolicy,
    QSplitter,
    QStyle,
    QTableView,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.capture.engine import CaptureEngine
from inspector.core.capture.provider_settings import ProviderSettings, ProviderSettingsStore
from inspector.core.provider.verification import VERIFICATION_EVENT
from inspector.core.send.relay import Relay
from inspector.core.session.query import CompiledQuery
from inspector.core.session.store import RowSummary, SessionStore
from inspector.core.tunnel.secrets import config_dir
from inspector.gui.about import attach_help_menu, help_actions
from inspector.gui.bridge import RowBridge
from inspector.gui.elided_label import ElidedLabel
from inspector.gui.filter_bar import FilterBar
from inspector.gui.first_run import first_run_html
from inspector.gui.plain_text import plain_label, plain_tooltip
from inspector.gui.provider_settings import ProviderSettingsDialog
from inspector.gui.rules_panel import RulesPanel
from inspector.gui.send_controls import RunOnEngine, SendControls
from inspector.gui.send_dialog import SendTestEventDialog
from inspector.gui.shortcuts import HelpDialog
from inspector.gui.status_style import StatusPillDelegate
from inspector.gui.table_model import (
    COLUMN_INDEX,
    COLUMNS,
    ROLE_APP_CLASS,
    ROLE_CLASS,
    EventTableModel,
)
from inspector.gui.theme import icon
from inspector.gui.tunnel_widget import TunnelControl

_Select = QItemSelectionModel.SelectionFlag

#: Seconds of history the request rate is averaged over.
RATE_WINDOW = 5.0
#: A typical webhook URL; the tunnel dock opens wide enough to show it whole.
_SAMPLE_WEBHOOK_URL = "https://0123456789ab.ngrok-free.app/whatsapp"
#: Steps of view changes (Delete, Clear view) that Ctrl+Z can take back.
UNDO_DEPTH = 20
#: What the user should do once the engine has stopped recording.
RECORDING_ADVICE = (
    "Restart Webhook Inspector; requests sent meanwhile were answered 503 "
    "so the provider will retry."
)
#: The recording banner's colours: white on a red that reads on the light and the dark theme.
_ALERT_BACKGROUND = "#b3261e"
_ALERT_TEXT = "#ffffff"


def window_settings() -> QSettings:
    """The window's settings file, inside the app's config dir (moved by tests via env)."""
    path = config_dir() / "window.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


def _create_detail_pane(store: SessionStore, parent: QWidget) -> QWidget:
    """The detail pane (another module); the one place the window depends on it."""
    from inspector.gui.detail import DetailPane

    pane = DetailPane(parent)
    pane.set_store(store)
    return pane


class RequestTable(QTableView):
    """The request table; says when the user (keyboard or mouse, not the program) moved
    the current row or the view, so the window can turn Follow newest off or on."""

    user_navigated = Signal()

    def moveCursor(
        self, cursorAction: QAbstractItemView.CursorAction, modifiers: Qt.KeyboardModifier
    ) -> QModelIndex:
        # Home/End move between requests (rows), as the help says, not along the row.
        action = QAbstractItemView.CursorAction
        if cursorAction in (action.MoveHome, action.MoveEnd):
            modifiers = modifiers | Qt.KeyboardModifier.ControlModifier
        return super().moveCursor(cursorAction, modifiers)

    def _where(self) -> tuple[int, int]:
        return self.currentIndex().row(), self.verticalScrollBar().value()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        before = self._where()
        super().keyPressEvent(event)
        if self._where() != before:
            self.user_navigated.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        before = self._where()
        super().mousePressEvent(event)
        if self._where() != before:
            self.user_navigated.emit()


class MainWindow(QMainWindow):
    def __init__(
        self,
        store: SessionStore,
        url: str,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        settings: QSettings | None = None,
        recording_problem: Callable[[], str | None] | None = None,
        engine: CaptureEngine | None = None,
        apply_provider_settings: Callable[[ProviderSettings], None] | None = None,
        busy_problem: Callable[[], str | None] | None = None,
        relay: Relay | None = None,
        run_on_engine: RunOnEngine | None = None,
        parent: QWidget | None = None,
        recording_trouble: Callable[[], str | None] | None = None,
    ) -> None:
        """``recording_problem`` (e.g. ``lambda: engine.recording_problem``) is polled
        every second; once it returns a sentence the window shows it until closed.
        ``recording_trouble`` (``engine.recording_trouble``) is polled too: a passing
        cause (a full disk) shows in the same banner while it lasts.
        ``engine``: the capture engine the Rules panel drives and test events are sent
        from (its loop); without one, rules are edited but not applied.
        ``apply_provider_settings`` passes settings saved in the provider dialog to the
        capture engine (verification answer, secrets, composed webhooks).
        ``busy_problem`` (``lambda: engine.overload.problem``) is shown in the status bar
        for as long as it returns a sentence: requests refused for back-pressure.
        ``relay`` and ``run_on_engine`` (``engine.call``) turn on forwarding and replay."""
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.store = store
        self.url = url
        #: The ngrok public URL while the tunnel is up, else "".
        self.public_url = ""
        self._settings = settings or window_settings()
        self._total = store.count()
        self._samples: deque[tuple[float, int]] = deque()
        self._paused = False
        self._paused_max_id = 0
        self._help: HelpDialog | None = None
        self._restore_id: int | None = None
        self._recording_problem = recording_problem
        self._recording_trouble = recording_trouble
        self._shown_problem: str | None = None
        self._shown_trouble: str | None = None
        self._shown_once = False
        self._engine = engine
        self._send_dialog: SendTestEventDialog | None = None
        self._apply_provider = apply_provider_settings
        self.provider_dialog: ProviderSettingsDialog | None = None
        self._busy_problem = busy_problem

        # Ends with the application's display name, so Qt does not append it a second time.
        self.setWindowTitle(f"{Path(store.path).name} \u2014 Webhook Inspector")
        self.setWindowIcon(icon("app"))

        self.model = EventTableModel(store, self)
        self.bridge = RowBridge(parent=self)
        self.bridge.rows_appended.connect(self._on_rows_appended)
        self.bridge.attach(store)

        self.filter_bar = FilterBar(self)
        self.filter_bar.filter_changed.connect(self._on_filter_changed)

        self.table = self._build_table()
        self.detail = _create_detail_pane(store, self)
        if hasattr(self.detail, "request_activated"):
            self.detail.request_activated.connect(self.select_request)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.recording_banner = self._build_recording_banner(central)
        layout.addWidget(self.recording_banner)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self._build_toolbar()
        self.tunnel = self._mount_tunnel(host, port)
        self.rules_panel = self._mount_rules()
        self._build_shortcuts()
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._build_window_actions()
        self.send = SendControls(self, relay, run_on_engine, self._settings)
        self.send.mount(self.table)
        # The first row is full at 1280 px; the second (forwarding, replay) has room for the
        # other commands that send or set up what is sent.
        self.send.toolbar.addSeparator()
        self.send.toolbar.addAction(self.action_send_test_event)
        self.send.toolbar.addAction(self.provider_action)
        layout.insertWidget(layout.indexOf(self.splitter), self.send.progress_panel)
        #: Replay the selected rows (Ctrl+R); for the menu bar and context menus.
        self.action_replay = self.send.action_replay
        self.action_replay_edit = self.send.action_replay_edit
        self.action_replay_to = self.send.action_replay_to
        # "Re-sign" in the replay dialogs uses the first signing key of the provider settings.
        self._use_signing_key(ProviderSettingsStore().load())
        self.recording_status = plain_label(QLabel(self))
        self.recording_status.setObjectName("recordingStatus")
        self.recording_status.setStyleSheet(
            f"QLabel {{ background: {_ALERT_BACKGROUND}; color: {_ALERT_TEXT};"
            " padding: 1px 8px; font-weight: bold; }"
        )
        self.recording_status.hide()
        self.statusBar().addPermanentWidget(self.recording_status)
        #: Names the session file for as long as the window is open (passing messages such
        #: as "Copied ..." take the left of the status bar and leave it alone).
        self.session_label = ElidedLabel(f"Recording to {store.path}", self)
        self.session_label.setObjectName("sessionLabel")
        self.statusBar().addPermanentWidget(self.session_label)

        self._rate_timer = QTimer(self)
        self._rate_timer.setInterval(1000)
        self._rate_timer.timeout.connect(self._update_stats)
        self._rate_timer.timeout.connect(self._check_recording)
        self._rate_timer.start()
        self._update_stats()
        self._check_recording()
        self._update_empty_state()
        self.model.rowsInserted.connect(self._update_empty_state)
        self.model.rowsRemoved.connect(self._update_empty_state)
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.model.modelReset.connect(self._update_empty_state)
        self.model.rows_arrived.connect(self._on_rows_arrived)
        self._restore_state()

    # -- building ------------------------------------------------------------------------

    def _build_table(self) -> QTableView:
        table = RequestTable(self)
        table.setObjectName("requestTable")
        table.setModel(self.model)
        table.setItemDelegateForColumn(
            COLUMN_INDEX["status"], StatusPillDelegate(ROLE_CLASS, table)
        )
        table.setItemDelegateForColumn(
            COLUMN_INDEX["app"], StatusPillDelegate(ROLE_APP_CLASS, table)
        )
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vh = table.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(table.fontMetrics().height() + 10)
        hh = table.horizontalHeader()
        hh.setSectionsMovable(True)
        hh.setHighlightSections(False)
        hh.setStretchLastSection(True)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for i, col in enumerate(COLUMNS):
            table.setColumnWidth(i, col.width)
        hh.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        table.setSortingEnabled(True)
        hh.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        hh.customContextMenuRequested.connect(self._header_menu)
        table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        table.user_navigated.connect(self._on_user_navigated)
        table.verticalScrollBar().actionTriggered.connect(self._on_user_scrolled)

        self.empty_label = QLabel(table.viewport())
        self.empty_label.setTextFormat(Qt.TextFormat.RichText)  # URLs in it are escaped
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.empty_label.setOpenExternalLinks(False)
        self.empty_label.linkActivated.connect(lambda _link: self.show_send_dialog())
        self.empty_label.setForegroundRole(self.empty_label.foregroundRole())
        table.viewport().installEventFilter(self)
        return table

    def _build_toolbar(self) -> None:
        bar = QToolBar("Capture", self)
        bar.setObjectName("captureToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

        listening = QLabel("Listening on", bar)
        listening.setContentsMargins(6, 0, 4, 0)
        bar.addWidget(listening)
        self.url_label = QLabel(f"<b>{escape(self.url)}</b>", bar)
        self.url_label.setTextFormat(Qt.TextFormat.RichText)
        self.url_label.setObjectName("urlLabel")
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar.addWidget(self.url_label)
        self.copy_url_action = QAction(icon("copy"), "Copy URL", self)
        self.copy_url_action.setToolTip("Copy the listening URL (Ctrl+L)")
        self.copy_url_action.triggered.connect(self.copy_url)
        copy_button = QToolButton(bar)
        copy_button.setDefaultAction(self.copy_url_action)
        copy_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        bar.addWidget(copy_button)
        self.public_url_label = QLabel(bar)
        self.public_url_label.setTextFormat(Qt.TextFormat.RichText)  # the URL is escaped
        self.public_url_label.setObjectName("publicUrlLabel")
        self.public_url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.public_url_label.setContentsMargins(8, 0, 0, 0)
        self._public_url_action = bar.addWidget(self.public_url_label)
        self._public_url_action.setVisible(False)
        bar.addSeparator()

        self.pause_action = QAction(icon("pause"), "Pause", self)
        self.pause_action.setCheckable(True)
        self.pause_action.setToolTip(
            "Pause the live view (Ctrl+P). Requests are still recorded and answered."
        )
        self.pause_action.toggled.connect(self.set_paused)
        bar.addAction(self.pause_action)
        self.follow_action = QAction(icon("follow"), "Follow newest", self)
        self.follow_action.setCheckable(True)
        self.follow_action.setChecked(True)
        self.follow_action.setToolTip(
            "Keep the newest request in view (Ctrl+E). Scrolling away or selecting an older "
            "request turns it off; scrolling back to the newest turns it on again."
        )
        self.follow_action.toggled.connect(self._on_follow_toggled)
        bar.addAction(self.follow_action)
        self.clear_action = QAction(icon("clear"), "Clear view", self)
        self.clear_action.setToolTip("Clear the view (Ctrl+K); the session keeps every request")
        self.clear_action.triggered.connect(self.clear_view)
        bar.addAction(self.clear_action)
        bar.addSeparator()
        self.stats_label = QLabel(bar)
        self.stats_label.setObjectName("statsLabel")
        self.stats_label.setContentsMargins(6, 0, 6, 0)
        bar.addWidget(self.stats_label)

        spacer = QWidget(bar)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        #: The tunnel control's toolbar toggle goes here (see ``_mount_tunnel``).
        self._tunnel_slot = bar.addSeparator()
        self.action_send_test_event = QAction(icon("send"), "Send Test Event\u2026", self)
        self.action_send_test_event.setToolTip(
            "Send the provider's events or a whole story to the listener, as the provider would"
        )
        self.action_send_test_event.triggered.connect(self.show_send_dialog)
        self.provider_action = QAction(icon("shield-check"), "Provider", self)
        self.provider_action.setToolTip(
            "Provider settings: URL verification, webhook secret and signing keys, "
            "composed webhooks"
        )
        self.provider_action.triggered.connect(self.show_provider_settings)
        self.help_action = QAction(icon("help"), "Help", self)
        self.help_action.setToolTip("Keyboard shortcuts and filter language (F1)")
        self.help_action.triggered.connect(self.show_help)
        bar.addAction(self.help_action)
        self.about_action, self.open_log_action = help_actions(self, Path(self.store.path))
        attach_help_menu(bar, self.help_action, [self.about_action, self.open_log_action])
        help_button = bar.widgetForAction(self.help_action)
        if isinstance(help_button, QToolButton):  # an icon: the row is full at 1280 px
            help_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.toolbar = bar

    def _build_recording_banner(self, parent: QWidget) -> QFrame:
        """The red line under the toolbar that says recording has stopped (hidden until then)."""
        banner = QFrame(parent)
        banner.setObjectName("recordingBanner")
        banner.setStyleSheet(
            f"QFrame#recordingBanner {{ background: {_ALERT_BACKGROUND}; }}"
            f"QFrame#recordingBanner QLabel {{ color: {_ALERT_TEXT}; }}"
        )
        row = QHBoxLayout(banner)
        row.setContentsMargins(10, 6, 10, 6)
        row.setSpacing(8)
        mark = QLabel(banner)
        mark.setPixmap(icon("warning", QColor(_ALERT_TEXT)).pixmap(20, 20))
        mark.setAlignment(Qt.AlignmentFlag.AlignTop)
        row.addWidget(mark)
        self.recording_label = QLabel(banner)
        self.recording_label.setTextFormat(Qt.TextFormat.RichText)  # the problem is escaped
        self.recording_label.setObjectName("recordingLabel")
        self.recording_label.setWordWrap(True)
        self.recording_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.recording_label, 1)
        banner.hide()
        return banner

    def _mount_tunnel(self, host: str, port: int | None) -> TunnelControl:
        """The ngrok tunnel control in a dock (hidden until the toolbar's Tunnel button).

        It opens as a one-row bar above the table, which keeps every column of the table
        in view (at the side, a form 40% as wide as a 1280 px window hid five columns);
        dragged to a side it becomes a form again."""
        control = TunnelControl(parent=self)
        control.setObjectName("tunnelControl")
        dock, toggle = self._mount_dock(
            control, "Public URL (ngrok)", "tunnelDock", Qt.DockWidgetArea.AllDockWidgetAreas,
            Qt.DockWidgetArea.TopDockWidgetArea,
            "link", "Tunnel", "Show the ngrok tunnel control for a public URL",
        )  # fmt: skip
        self.tunnel_dock = dock
        self.tunnel_action = toggle
        self._arrange_tunnel(Qt.DockWidgetArea.TopDockWidgetArea)
        dock.dockLocationChanged.connect(self._arrange_tunnel)
        self._tunnel_dock_sized = False
        dock.visibilityChanged.connect(self._on_tunnel_dock_visible)
        if port is not None:
            control.set_local_address(host, port)
        control.public_url_changed.connect(self._on_public_url_changed)
        return control

    def _mount_rules(self) -> RulesPanel:
        """The response rules in a dock (hidden until the toolbar's Rules button)."""
        panel = RulesPanel(self._engine, self._settings, self)
        self.rules_dock, self.rules_action = self._mount_dock(
            panel, "Response rules", "rulesDock",
            Qt.DockWidgetArea.RightDockWidgetArea | Qt.DockWidgetArea.LeftDockWidgetArea,
            Qt.DockWidgetArea.RightDockWidgetArea,
            "rules", "Rules", "Answer like your app would: status, delay, sequences, no answer",
        )  # fmt: skip
        return panel

    def _mount_dock(
        self,
        widget: QWidget,
        title: str,
        name: str,
        allowed: Qt.DockWidgetArea,
        area: Qt.DockWidgetArea,
        icon_name: str,
        text: str,
        tip: str,
    ) -> tuple[QDockWidget, QAction]:
        """A dock for ``widget``, hidden until its toggle (put in the toolbar) shows it."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setAllowedAreas(allowed)
        self.addDockWidget(area, dock)
        dock.hide()
        toggle = dock.toggleViewAction()
        toggle.setIcon(icon(icon_name))
        toggle.setText(text)
        toggle.setToolTip(tip)
        self.toolbar.insertAction(self._tunnel_slot, toggle)
        return dock, toggle

    def tunnel_dock_width(self) -> int:
        """Wide enough to show a whole webhook URL (an ngrok-free.app name plus a short path),
        but never more than half the window."""
        fm = self.tunnel.fontMetrics()
        # The control's line edits ask for about 17 "x" wide; make room for the sample instead.
        extra = fm.horizontalAdvance(_SAMPLE_WEBHOOK_URL) - fm.horizontalAdvance("x" * 17)
        wanted = self.tunnel.sizeHint().width() + max(extra, 0) + 8
        return min(wanted, max(self.width() // 2, self.tunnel.minimumSizeHint().width()))

    @Slot(Qt.DockWidgetArea)
    def _arrange_tunnel(self, area: Qt.DockWidgetArea) -> None:
        """Above or below the table: a bar, its title written up its left edge (saves a
        line); at a side: the form, sized to show a whole webhook URL."""
        dock = self.tunnel_dock
        control = dock.widget()
        assert isinstance(control, TunnelControl)
        bar = area in (Qt.DockWidgetArea.TopDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea)
        control.set_bar(bar)
        vertical = QDockWidget.DockWidgetFeature.DockWidgetVerticalTitleBar
        features = dock.features()
        dock.setFeatures(features | vertical if bar else features & ~vertical)
        if not bar and dock.isVisible():
            QTimer.singleShot(0, self, self._size_tunnel_dock)

    @Slot(bool)
    def _on_tunnel_dock_visible(self, visible: bool) -> None:
        # Size the dock the first time it opens; after that it keeps what the user chose.
        if visible and not self._tunnel_dock_sized and not self.tunnel.is_bar():
            self._tunnel_dock_sized = True
            QTimer.singleShot(0, self, self._size_tunnel_dock)

    def _size_tunnel_dock(self) -> None:
        self.resizeDocks([self.tunnel_dock], [self.tunnel_dock_width()], Qt.Orientation.Horizontal)

    def _build_shortcuts(self) -> None:
        def bind(
            keys: str, slot: object, widget: QWidget | None = None, *, local: bool = False
        ) -> None:
            sc = QShortcut(QKeySequence(keys), widget or self)
            sc.setContext(
                Qt.ShortcutContext.WidgetWithChildrenShortcut
                if local
                else Qt.ShortcutContext.WindowShortcut
            )
            sc.activated.connect(slot)
            self._shortcuts.append(sc)

        self._shortcuts: list[QShortcut] = []
        bind("J", lambda: self.move_selection(1), self.table, local=True)
        bind("K", lambda: self.move_selection(-1), self.table, local=True)
        bind("/", self.focus_filter, self.table, local=True)
        bind("?", self.show_help, self.table, local=True)
        bind("Delete", self.remove_selected, self.table, local=True)
        bind("Ctrl+F", self.focus_filter)
        # Esc clears the filter from the filter bar and the table only: elsewhere (the JSON
        # tab's search box, the tunnel's fields) Esc belongs to what has the focus.
        bind("Esc", self.clear_filter, self.filter_bar, local=True)
        bind("Esc", self.clear_filter, self.table, local=True)
        bind("Ctrl+C", self.copy_body)
        bind("Ctrl+L", self.copy_url)
        bind("Ctrl+P", self.pause_action.toggle)
        bind("Ctrl+E", self.follow_action.toggle)
        bind("Ctrl+K", self.clear_view)
        bind("F1", self.show_help)

    def _build_window_actions(self) -> None:
        """Commands of the whole window, as actions (the menu bar shows these same ones)."""
        std = QKeySequence.StandardKey
        self.action_quit = QAction("&Quit", self)
        self.action_quit.setObjectName("actionQuit")
        # The platform's Quit keys, and Ctrl+Q wherever the platform names none.
        quit_keys = QKeySequence.keyBindings(std.Quit)
        if QKeySequence("Ctrl+Q") not in quit_keys:
            quit_keys.append(QKeySequence("Ctrl+Q"))
        self.action_quit.setShortcuts(quit_keys)
        self.action_quit.setMenuRole(QAction.MenuRole.QuitRole)
        self.action_quit.setToolTip("Close the window and stop listening (Ctrl+Q)")
        self.action_quit.triggered.connect(self.close)
        self.addAction(self.action_quit)

        self.action_undo = QAction("&Undo", self)
        self.action_undo.setObjectName("actionUndo")
        self.action_undo.setShortcuts(QKeySequence.keyBindings(std.Undo))
        self.action_undo.setEnabled(False)
        self.action_undo.triggered.connect(self.undo)
        self.addAction(self.action_undo)

    # -- state that is remembered --------------------------------------------------------

    def _restore_state(self) -> None:
        s = self._settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        header = s.value("table/header")
        self._header_restored = isinstance(
            header, QByteArray
        ) and self.table.horizontalHeader().restoreState(header)
        if self._header_restored:
            self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
            # A layout saved before the last column stretched would turn stretching off.
            self.table.horizontalHeader().setStretchLastSection(True)
        splitter = s.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        else:
            self.splitter.setSizes([480, 320])

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._header_restored:
            self._header_restored = True
            QTimer.singleShot(0, self._fit_default_widths)
        if not self._shown_once:
            # A reopened session: Follow newest is on, so open at the newest rows (once the
            # table has its size, or the scroll range is not known yet).
            self._shown_once = True
            QTimer.singleShot(0, self._follow_on_open)

    @Slot()
    def _follow_on_open(self) -> None:
        if self.follow_action.isChecked() and self.model.rowCount():
            self._scroll_to_newest()

    def _fit_default_widths(self) -> None:
        """First run: share the spare width among the wide text columns (no per-row measuring)."""
        width = self.table.viewport().width()
        bar = self.table.verticalScrollBar()
        if not bar.isVisible():  # it appears with the first screenful of rows
            width -= self.table.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        spare = width - sum(c.width for c in COLUMNS)
        grow = ("path", "event", "status", "from", "to", "message_id")
        if spare <= 0:
            return
        for key in grow:
            i = COLUMN_INDEX[key]
            self.table.setColumnWidth(i, COLUMNS[i].width + spare // len(grow))

    def save_state(self) -> None:
        s = self._settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("table/header", self.table.horizontalHeader().saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        s.sync()

    def _header_menu(self, pos: QPoint) -> None:
        menu = self.column_menu()
        menu.exec(self.table.horizontalHeader().mapToGlobal(pos))

    def column_menu(self) -> QMenu:
        """Check a column to show it; the choice and the order are saved on close."""
        hh = self.table.horizontalHeader()
        menu = QMenu(self)
        for i, col in enumerate(COLUMNS):
            title = "Warning marker" if col.key == "warning" else col.title
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(not hh.isSectionHidden(i))
            action.toggled.connect(lambda on, i=i: self.set_column_visible(i, on))
        return menu

    def set_column_visible(self, column: int, visible: bool) -> None:
        hh = self.table.horizontalHeader()
        if not visible and hh.count() - hh.hiddenSectionCount() <= 1:
            return
        hh.setSectionHidden(column, not visible)

    # -- live updates --------------------------------------------------------------------

    @Slot(object)
    def _on_rows_appended(self, rows: list[RowSummary]) -> None:
        self._total += len(rows)
        newest = max(r.id for r in rows)
        self._announce_verification(rows)
        if self._paused:
            self._paused_max_id = max(self._paused_max_id, newest)
            self._update_stats()
            return
        self.model.append_rows(rows)

    def _announce_verification(self, rows: list[RowSummary]) -> None:
        """Say plainly when the provider's console has verified this URL (or failed to)."""
        for row in reversed(rows):
            if row.event != VERIFICATION_EVENT:
                continue
            stored = self.store.get(row.id)
            answered = (
                stored is not None
                and stored.response_status == 200
                and b'"challenge"' in stored.response_body
            )
            self.statusBar().showMessage(
                "The provider verified this URL (challenge answered)"
                if answered
                else "The provider's URL verification arrived; its challenge was not answered",
                15000,
            )
            return

    def show_provider_settings(self) -> None:
        """The provider settings dialog; OK saves the settings and applies them at once."""
        store = ProviderSettingsStore()
        dialog = ProviderSettingsDialog(store.load(), self, apply=self._save_provider)
        self.provider_dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "provider_dialog", None))
        dialog.open()

    def _save_provider(self, settings: ProviderSettings) -> None:
        if self._apply_provider is not None:
            self._apply_provider(settings)  # refused settings raise before anything is saved
        ProviderSettingsStore().save(settings)
        self.statusBar().showMessage("Provider settings saved; they apply from the next request", 5000)
        self._use_signing_key(settings)

    def _use_signing_key(self, settings: ProviderSettings) -> None:
        self.send.signing_key = settings.signing_keys[0] if settings.signing_keys else ""

    @Slot(int)
    def _on_rows_arrived(self, _n: int) -> None:
        if self.follow_action.isChecked():
            self._scroll_to_newest()

    def _newest_at_top(self) -> bool:
        return self.model.sort_key[1]

    def _scroll_to_newest(self) -> None:
        if self._newest_at_top():
            self.table.scrollToTop()
        else:
            self.table.scrollToBottom()

    def _at_newest_end(self, position: int | None = None) -> bool:
        """Whether the table shows its newest end (at scroll bar ``position``, default now)."""
        bar = self.table.verticalScrollBar()
        value = bar.value() if position is None else position
        return value <= bar.minimum() if self._newest_at_top() else value >= bar.maximum()

    def _follow_from(self, on: bool) -> None:
        """Follow newest on or off because of where the user went (on means: at the end)."""
        if self.follow_action.isChecked() != on:
            self.follow_action.setChecked(on)

    @Slot(int)
    def _on_user_scrolled(self, _action: int) -> None:
        """The user moved the scroll bar (drag, wheel, click): follow while at the newest end.

        Only user actions trigger this; follow's own scrolls set the value directly."""
        self._follow_from(self._at_newest_end(self.table.verticalScrollBar().sliderPosition()))

    @Slot()
    def _on_user_navigated(self) -> None:
        """The user moved the current row or the view: follow only at the newest row and end."""
        current = self.table.currentIndex()
        newest = 0 if self._newest_at_top() else self.model.rowCount() - 1
        on_newest = not current.isValid() or current.row() == newest
        self._follow_from(on_newest and self._at_newest_end())

    @Slot()
    def _update_stats(self) -> None:
        now = time.monotonic()
        self._samples.append((now, self._total))
        while self._samples and now - self._samples[0][0] > RATE_WINDOW:
            self._samples.popleft()
        first_t, first_n = self._samples[0]
        rate = (self._total - first_n) / max(now - first_t, 1.0)
        shown = self.model.rowCount()
        text = f"{self._total:,} request{'s' if self._total != 1 else ''} \u00b7 {rate:.1f}/s"
        if shown != self._total:
            text += f" \u00b7 {shown:,} shown"
        if self._paused:
            waiting = self._paused_max_id - self.model.max_id
            text += f" \u00b7 paused ({max(waiting, 0):,} new)" if waiting > 0 else " \u00b7 paused"
        self.stats_label.setText(text)

    @Slot()
    def _check_recording(self) -> None:
        """Poll the engine; once recording has stopped, say so until the window closes."""
        self._check_busy()
        if self._recording_problem is None:
            return
        problem = self._recording_problem()
        if not problem and self._shown_problem is None:
            self._show_trouble()
            return
        if not problem or problem == self._shown_problem:
            return
        self._shown_problem = problem
        sentence = problem[:1].upper() + problem[1:]
        if not sentence.endswith("."):
            sentence += "."
        self.recording_label.setText(
            f"<b>Requests are no longer being recorded.</b> {escape(sentence)}<br>"
            f"{escape(RECORDING_ADVICE)}"
        )
        self.recording_banner.show()
        self.recording_status.setText("Not recording: requests are answered 503")
        self.recording_status.setToolTip(plain_tooltip(f"{sentence}\n{RECORDING_ADVICE}") or "")
        self.recording_status.show()
        self.session_label.setText(f"Not recording; session {self.store.path}")

    def _show_trouble(self) -> None:
        """A passing cause (disk full, a writer restart being retried): shown while it
        lasts, hidden once requests are recorded again."""
        trouble = self._recording_trouble() if self._recording_trouble is not None else None
        if trouble == self._shown_trouble:
            return
        self._shown_trouble = trouble
        if not trouble:
            self.recording_banner.hide()
            self.recording_status.hide()
            return
        sentence = trouble[:1].upper() + trouble[1:]
        if not sentence.endswith("."):
            sentence += "."
        advice = (
            "Recording resumes by itself once the cause is gone; requests refused meanwhile "
            "were answered 503 so the provider will retry."
        )
        self.recording_label.setText(
            f"<b>Requests are not being recorded right now.</b> {escape(sentence)}<br>"
            f"{escape(advice)}"
        )
        self.recording_banner.show()
        self.recording_status.setText("Not recording: requests are answered 503")
        self.recording_status.setToolTip(plain_tooltip(f"{sentence}\n{advice}") or "")
        self.recording_status.show()

    def _check_busy(self) -> None:
        """While the writer is not keeping up, the status bar says that requests get 503."""
        if self._busy_problem is None or self._shown_problem is not None:
            return
        busy = self._busy_problem()
        if busy:
            sentence = busy[:1].upper() + busy[1:] + "."
            self.recording_status.setText("Busy: new requests are answered 503")
            self.recording_status.setToolTip(sentence)
            self.recording_status.show()
        elif not self.recording_status.isHidden():
            self.recording_status.hide()

    @Slot()
    def _update_empty_state(self) -> None:
        empty = self.model.rowCount() == 0
        if empty:
            if self._total == 0:
                self.empty_label.setText(first_run_html(self.url, self.public_url))
            elif self.filter_bar.last_valid.is_empty:
                self.empty_label.setText(
                    "<p style='font-size:13pt'>View cleared</p>"
                    "<p>New requests will appear here; the session still holds the others.</p>"
                )
            else:
                self.empty_label.setText(
                    "<p style='font-size:13pt'>No request matches the filter</p>"
                    "<p>Esc clears it.</p>"
                )
            self._place_empty_label()
        self.empty_label.setVisible(empty)
        self._update_stats()

    def _place_empty_label(self) -> None:
        self.empty_label.setGeometry(self.table.viewport().rect().adjusted(24, 24, -24, -24))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._place_empty_label()
        return super().eventFilter(watched, event)

    # -- filter and selection ------------------------------------------------------------

    @Slot(object)
    def _on_filter_changed(self, query: CompiledQuery) -> None:
        self.model.set_query(query)

    @Slot()
    def _remember_selection(self) -> None:
        self._restore_id = self.current_request_id()

    @Slot()
    def _restore_selection(self) -> None:
        rid, self._restore_id = self._restore_id, None
        if rid is None:
            self._show_detail(None)
            return
        row = self.model.row_of(rid)
        if row is None:
            self._show_detail(None)
            return
        self._select_row(row)

    def selected_request_ids(self) -> list[int]:
        """The selected rows' ids in arrival order (the current row if none is selected)."""
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        if not rows:
            current = self.table.currentIndex()
            rows = {current.row()} if current.isValid() else set()
        ids = [self.model.id_at(r) for r in rows]
        return sorted(i for i in ids if i is not None)

    def current_request_id(self) -> int | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        return self.model.id_at(index.row())

    @Slot(int)
    def select_request(self, request_id: int) -> bool:
        """Select a request by id if it is in the view (used by the detail pane's timeline).

        The user asked for that row: Follow newest turns off unless it is the newest."""
        row = self.model.row_of(request_id)
        if row is None:
            self.statusBar().showMessage(
                f"Request #{request_id} is not in the view (filtered or removed)", 4000
            )
            return False
        self._select_row(row)
        self._on_user_navigated()
        return True

    def _select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index,
            _Select.ClearAndSelect | _Select.Rows,
        )
        self.table.scrollTo(index)

    @Slot(QModelIndex, QModelIndex)
    def _on_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_detail(self.model.id_at(current.row()) if current.isValid() else None)

    def _show_detail(self, request_id: int | None) -> None:
        show = getattr(self.detail, "show_request", None)
        if show is not None:
            show(request_id)

    # -- actions -------------------------------------------------------------------------

    def move_selection(self, step: int) -> None:
        rows = self.model.rowCount()
        if rows == 0:
            return
        current = self.table.currentIndex()
        row = current.row() + step if current.isValid() else (0 if step > 0 else rows - 1)
        self._select_row(max(0, min(rows - 1, row)))
        self._on_user_navigated()

    @Slot()
    def focus_filter(self) -> None:
        self.filter_bar.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_bar.edit.selectAll()

    @Slot()
    def clear_filter(self) -> None:
        popup = self.filter_bar.edit.completer_popup.popup()
        if popup is not None and popup.isVisible():
            popup.hide()
            return
        self.filter_bar.clear()

    @Slot()
    def copy_body(self) -> None:
        rid = self.current_request_id()
        if rid is None:
            self.statusBar().showMessage("Select a request to copy its body", 3000)
            return
        req = self.model.request(rid)
        if req is None:
            return
        QGuiApplication.clipboard().setText(req.body.decode("utf-8", "replace"))
        self.statusBar().showMessage(
            f"Copied the body of request #{rid} ({len(req.body):,} bytes)", 3000
        )

    @Slot()
    def copy_url(self) -> None:
        QGuiApplication.clipboard().setText(self.url)
        self.statusBar().showMessage(f"Copied {self.url}", 3000)

    @Slot()
    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        if not rows:
            current = self.table.currentIndex()
            rows = [current.row()] if current.isValid() else []
        if not rows:
            return
        next_row = rows[0]
        ids = self.model.hide_rows(rows)
        if self.model.rowCount():
            self._select_row(min(next_row, self.model.rowCount() - 1))
        else:
            self._show_detail(None)
        if not ids:
            return
        n = len(ids)
        what = f"{n} request{'s' if n != 1 else ''}"
        self._push_undo(f"remove {what}", lambda: self._unhide(ids))
        self.statusBar().showMessage(f"Removed {what} from the view \u2014 Ctrl+Z to undo", 8000)

    def _unhide(self, ids: list[int]) -> None:
        self.model.unhide(ids)
        n = len(ids)
        self.statusBar().showMessage(
            f"Put {n} request{'s' if n != 1 else ''} back in the view", 4000
        )
        row = self.model.row_of(min(ids))
        if row is not None:
            self._select_row(row)
            self._on_user_navigated()

    @Slot()
    def clear_view(self) -> None:
        shown = self.model.rowCount()
        floor = self.model.clear_view()
        if not shown:
            return
        what = f"{shown:,} request{'s' if shown != 1 else ''}"
        self._push_undo("clear view", lambda: self._restore_view(floor, shown))
        self.statusBar().showMessage(f"Cleared {what} from the view \u2014 Ctrl+Z to undo", 8000)

    def _restore_view(self, floor: int, shown: int) -> None:
        self.model.restore_floor(floor)
        self.statusBar().showMessage(
            f"Put {shown:,} request{'s' if shown != 1 else ''} back in the view", 4000
        )
        if self.follow_action.isChecked():
            self._scroll_to_newest()

    def _push_undo(self, text: str, undo: Callable[[], None]) -> None:
        self._undo.append((text, undo))
        del self._undo[:-UNDO_DEPTH]
        self._update_undo_action()

    def _update_undo_action(self) -> None:
        self.action_undo.setText(f"&Undo {self._undo[-1][0]}" if self._undo else "&Undo")
        self.action_undo.setEnabled(bool(self._undo))

    @Slot()
    def undo(self) -> None:
        """Take back the last Delete or Clear view (the session never lost those requests)."""
        if not self._undo:
            self.statusBar().showMessage("Nothing to undo", 3000)
            return
        _text, step = self._undo.pop()
        self._update_undo_action()
        step()

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        if self.pause_action.isChecked() != paused:
            self.pause_action.setChecked(paused)
            return
        self._paused = paused
        self.pause_action.setIcon(icon("play" if paused else "pause"))
        self.pause_action.setText("Resume" if paused else "Pause")
        if not paused and self._paused_max_id > self.model.max_id:
            self.model.catch_up(self._paused_max_id)
        self._update_stats()

    @Slot(bool)
    def _on_follow_toggled(self, on: bool) -> None:
        if on:
            self._scroll_to_newest()

    @Slot(str)
    def _on_public_url_changed(self, url: str) -> None:
        self.public_url = url
        self.public_url_label.setText(f"Public: <b>{escape(url)}</b>" if url else "")
        self.public_url_label.setToolTip(
            "The ngrok tunnel forwards this public URL to the listening URL" if url else ""
        )
        self._public_url_action.setVisible(bool(url))
        self._update_empty_state()

    @Slot()
    def send_target(self) -> str:
        """Where test events go by default: the app forwarding points at, else the listener."""
        relay = self.send.relay
        return (relay.target if relay is not None else None) or self.url

    def show_send_dialog(self) -> SendTestEventDialog:
        """The Send Test Event dialog, aimed at the forward URL or the listener; sent from
        the engine's loop."""
        if self._send_dialog is None:
            run = self._engine.call if self._engine is not None else None
            self._send_dialog = SendTestEventDialog(self.send_target(), run, self)
        self._send_dialog.show()
        self._send_dialog.raise_()
        return self._send_dialog

    def show_help(self) -> None:
        if self._help is None:
            self._help = HelpDialog(self)
        self._help.show()
        self._help.raise_()

    # -- closing -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Detach from the store and stop helpers; safe to call twice."""
        self.bridge.detach()
        self.send.shutdown()
        self.filter_bar.blockSignals(True)
        self._rate_timer.stop()
        self.rules_panel.shutdown()
        if self._send_dialog is not None:
            self._send_dialog.close()
        self.tunnel.shutdown()
        close = getattr(self.detail, "close_store", None)
        if close is not None:
            close()
        self.model.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        # No ngrok agent (nor a pyngrok thread) may outlive the window, whoever closes it.
        self.tunnel.shutdown()
        super().closeEvent(event)
