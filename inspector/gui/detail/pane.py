"""The detail pane: everything about the request selected in the main table.

It reads the session through its own SQLite connection (readers never block the
capture writer) and builds each tab from one fetch of the stored request.  The body
is parsed once (about 0.3 s for 25 MB); everything after that is lazy: the JSON tree
builds items as they are expanded, search walks the data in slices between events,
and the Raw tab lays out only the first megabyte until asked for more.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QFontDatabase,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.provider.decoder import (
    JSON_MAX_ITEMS,
    body_text,
    count_json_items,
    header_value,
    inflate,
)
from inspector.core.provider.lenient_json import ParseResult, parse_lenient
from inspector.core.provider.warning_limits import bound_warnings
from inspector.core.session.store import SessionStore, StoredRequest, get_request
from inspector.gui.detail.event_card import EventCard
from inspector.gui.detail.headers_view import HeadersView
from inspector.gui.detail.json_model import (
    KEY_COLUMN,
    TYPE_COLUMN,
    VALUE_COLUMN,
    JsonSearch,
    JsonTreeModel,
)
from inspector.gui.detail.raw_view import RawView, is_binary
from inspector.gui.detail.timeline import TimelineView
from inspector.gui.plain_text import plain_label

#: Keyboard shortcuts inside the pane, for the main window's help dialog.
SHORTCUTS: list[tuple[str, str]] = [
    ("Ctrl+F", "JSON tab: search keys and values (only while the JSON tab has focus)"),
    ("Enter / F3", "JSON tab search: next match"),
    ("Esc", "JSON tab search: clear the search (again: back to the tree)"),
    ("Ctrl+E", "JSON tab: expand all"),
    ("Ctrl+Shift+E", "JSON tab: collapse all"),
    ("Ctrl+C", "JSON tab: copy the selected value"),
    ("Ctrl+Shift+C", "JSON tab: copy the selected node's JSON path"),
    ("Ctrl+C", "Raw tab: copy the selected text as received (nothing selected: the body)"),
    ("Enter / double-click", "Timeline tab: open that request"),
]

#: Containers opened by "Expand all" before it stops (each opens with its first chunk).
EXPAND_LIMIT = 2000
#: Nodes visited per search slice; small enough to keep the window responsive.
SEARCH_SLICE = 20_000

EMPTY_TEXT = "Select a request to see it here"
EMPTY_DETAIL = (
    "Its decoded event, JSON tree, raw body, headers and every other request "
    "about the same message appear in tabs."
)

TAB_EVENT, TAB_JSON, TAB_RAW, TAB_HEADERS, TAB_TIMELINE = range(5)
#: What the provider got from us and what the user's app answered (forwards, replays).
TAB_RESPONSE = 5


def parse_body(request: StoredRequest) -> tuple[Any, ParseResult | None, str]:
    """The body's data for the tree, its parse result, and a note for the JSON tab.

    Form bodies and query-string-only deliveries become a flat object; anything else
    JSON-like goes through the lenient parser, which names what it had to repair.
    """
    inflated = inflate(request.body, header_value(request.headers, "Content-Encoding"))
    if inflated.truncated:
        return None, None, f"{inflated.problem}. The Raw tab shows the part inflated."
    content = inflated.data
    ctype = request.content_type.split(";", 1)[0].strip().lower()
    stripped = content.strip()
    if not stripped:
        if request.query:
            fields = dict(parse_qsl(request.query, keep_blank_values=True))
            return fields, ParseResult(fields, True), "Empty body: showing the query string fields."
        return None, None, "This request has an empty body."
    decoded, note = body_text(stripped)
    if decoded is None or (note is None and is_binary(stripped)) or "\x00" in decoded:
        return None, None, "The body is binary, not JSON; the Raw tab shows it as a hex dump."
    text = decoded.strip()
    if not text:
        return None, None, "This request has an empty body."
    if len(text) > 1 << 20 and (items := count_json_items(text)) > JSON_MAX_ITEMS:
        return (
            None,
            None,
            f"This JSON has up to {items:,} arrays, objects and values, more than the "
            f"{JSON_MAX_ITEMS:,} shown as a tree. The Raw tab shows it as received.",
        )
    # A JSON object or array is JSON whatever the Content-Type says (curl -d sends form).
    result = parse_lenient(text) if text[0] in "{[" else None
    if result is not None and result.ok:
        notes = list(result.warnings)
        if note:
            notes.insert(0, note)
        if ctype and "json" not in ctype:
            notes.append(f"body is JSON but its Content-Type is {ctype}; shown as JSON")
        return result.value, result, "; ".join(notes)
    if ctype == "application/x-www-form-urlencoded" or (
        text[0] not in "{[" and "=" in text and "json" not in ctype
    ):
        pairs = parse_qsl(text, keep_blank_values=True)
        if pairs:
            fields = dict(pairs)
            return fields, ParseResult(fields, True), "Form body: showing its fields."
    if text[0] not in "{[" and "json" not in ctype:
        return None, None, "The body is text, not JSON; the Raw tab shows it."
    if result is None:
        result = parse_lenient(text)
    if not result.ok:
        if any("nested too deeply" in w for w in result.warnings):
            return (
                None,
                result,
                "This JSON is nested too deeply to show as a tree (Python's JSON reader "
                "stops at about 1,000 levels). The Raw tab shows it as received.",
            )
        warnings = "; ".join(bound_warnings(result.warnings, count=10))
        return None, result, warnings + ". The Raw tab shows it as received."
    return result.value, result, "; ".join(bound_warnings(result.warnings, count=10))


class LocalKeys(QObject):
    """Key bindings that work only while focus is in the watched widgets, and win there.

    A ``QShortcut`` with ``WidgetWithChildrenShortcut`` context is not enough: when the
    main window binds the same keys (its Ctrl+F filter), Qt sees two active shortcuts
    and fires neither ("ambiguous").  Accepting the ``ShortcutOverride`` event for our
    keys while focus is here turns them into plain key presses for the focused widget,
    which this filter then handles; with focus elsewhere the window's shortcut runs.
    """

    def __init__(
        self, bindings: list[tuple[str, Callable[[], None]]], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._bindings = [(QKeySequence(keys), slot) for keys, slot in bindings]

    def watch(self, *widgets: QWidget) -> None:
        for widget in widgets:
            widget.installEventFilter(self)

    def _slot_for(self, event: QKeyEvent) -> Callable[[], None] | None:
        pressed = QKeySequence(event.keyCombination())
        for keys, slot in self._bindings:
            if keys.matches(pressed) == QKeySequence.SequenceMatch.ExactMatch:
                return slot
        return None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            assert isinstance(event, QKeyEvent)
            slot = self._slot_for(event)
            if slot is not None:
                event.accept()
                if kind == QEvent.Type.KeyPress:
                    slot()
                return True
        return False


class JsonTab(QWidget):
    """Lazy JSON tree with search, expand/collapse all and copy value / copy path."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = JsonTreeModel(self)
        self._search: JsonSearch | None = None
        self._wrapped = False
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(0)
        self._search_timer.timeout.connect(self._on_search_slice)

        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search keys and values (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setAccessibleName("Search in JSON")
        self.search_box.returnPressed.connect(self.find_next)
        self.search_box.textChanged.connect(self._on_query_changed)
        self.search_status = plain_label(QLabel())
        self.search_status.setMinimumWidth(120)

        def button(text: str, tip: str, slot: Any) -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.clicked.connect(slot)
            return b

        bar = QHBoxLayout()
        bar.setSpacing(4)
        bar.addWidget(self.search_box, 1)
        bar.addWidget(button("Next", "Next match (Enter, F3)", self.find_next))
        bar.addWidget(self.search_status)
        bar.addSpacing(8)
        bar.addWidget(button("Expand all", "Expand all (Ctrl+E)", self.expand_all))
        bar.addWidget(button("Collapse all", "Collapse all (Ctrl+Shift+E)", self.collapse_all))
        bar.addWidget(button("Copy path", "Copy JSON path (Ctrl+Shift+C)", self.copy_path))
        bar.addWidget(button("Copy value", "Copy value (Ctrl+C)", self.copy_value))

        self.note = plain_label(QLabel())
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.setVisible(False)

        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setAccessibleName("JSON tree")
        self.tree.setUniformRowHeights(True)  # keeps huge arrays cheap to lay out
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(KEY_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(VALUE_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(TYPE_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(KEY_COLUMN, 240)
        header.resizeSection(TYPE_COLUMN, 80)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        # Keys are handled by ``LocalKeys`` below; the menu only names them.
        for text, slot in (
            ("Copy value\tCtrl+C", self.copy_value),
            ("Copy JSON path\tCtrl+Shift+C", self.copy_path),
            ("Copy key", self.copy_key),
            ("Expand all\tCtrl+E", self.expand_all),
            ("Collapse all\tCtrl+Shift+E", self.collapse_all),
        ):
            action = QAction(text, self.tree)
            action.triggered.connect(slot)
            self.tree.addAction(action)

        self.message = plain_label(QLabel())
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setMargin(24)
        self.message.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.tree)
        self.stack.addWidget(self.message)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.note)
        layout.addWidget(self.stack, 1)

        self.keys = LocalKeys(
            [
                ("Ctrl+F", self.focus_search),
                ("F3", self.find_next),
                ("Ctrl+E", self.expand_all),
                ("Ctrl+Shift+E", self.collapse_all),
                ("Ctrl+Shift+C", self.copy_path),
            ],
            self,
        )
        self.keys.watch(self.tree, self.search_box)
        # Esc in the search box is the search's own: it must not clear the table's filter.
        self.search_keys = LocalKeys([("Esc", self.leave_search)], self)
        self.search_keys.watch(self.search_box)
        self.tree_keys = LocalKeys([("Ctrl+C", self.copy_value)], self)
        self.tree_keys.watch(self.tree)

    # -- content ---------------------------------------------------------------------

    def set_document(self, value: Any, note: str) -> None:
        self._stop_search()
        self.model.set_document(value)
        self._set_note(note)
        self.stack.setCurrentWidget(self.tree)
        top = self.model.index(0, 0)
        if self.model.hasChildren(top):
            self.tree.expand(top)
        self.tree.setCurrentIndex(top)

    def show_message(self, text: str) -> None:
        self._stop_search()
        self.model.clear()
        self._set_note("")
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    def _set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    # -- actions ---------------------------------------------------------------------

    def current(self) -> QModelIndex:
        return self.tree.currentIndex()

    def focus_search(self) -> None:
        self.search_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_box.selectAll()

    def leave_search(self) -> None:
        """Esc in the search box: clear the search text, or (already empty) go to the tree."""
        if self.search_box.text():
            self.search_box.clear()
        else:
            self.tree.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def copy_path(self) -> None:
        index = self.current()
        if index.isValid():
            QGuiApplication.clipboard().setText(self.model.json_path(index))

    def copy_value(self) -> None:
        index = self.current()
        if index.isValid():
            QGuiApplication.clipboard().setText(self.model.copy_text(index))

    def copy_key(self) -> None:
        index = self.current()
        if index.isValid():
            QGuiApplication.clipboard().setText(JsonTreeModel.key_text(self.model.node(index)))

    def expand_all(self) -> None:
        """Open every container, first chunk each, up to ``EXPAND_LIMIT`` of them."""
        if not self.model.has_document():
            return
        opened = 0
        queue = [self.model.index(0, 0)]
        self.tree.setUpdatesEnabled(False)
        try:
            while queue and opened < EXPAND_LIMIT:
                index = queue.pop(0)
                if not self.model.hasChildren(index):
                    continue
                if self.model.rowCount(index) == 0 and self.model.canFetchMore(index):
                    self.model.fetchMore(index)
                self.tree.expand(index)
                opened += 1
                for row in range(self.model.rowCount(index)):
                    child = self.model.index(row, 0, index)
                    if self.model.hasChildren(child):
                        queue.append(child)
        finally:
            self.tree.setUpdatesEnabled(True)
        if queue:
            self.search_status.setText(f"Expanded the first {EXPAND_LIMIT} containers")
        else:
            self.search_status.clear()

    def collapse_all(self) -> None:
        self.tree.collapseAll()
        top = self.model.index(0, 0)
        if top.isValid():
            self.tree.expand(top)

    # -- search ----------------------------------------------------------------------

    def find_next(self) -> None:
        """Select the next node whose key or value contains the search text."""
        query = self.search_box.text()
        if not query or not self.model.has_document():
            return
        search = self._search
        if search is None or search.query != query or search.done:
            wrapped = search is not None and search.query == query and search.found > 0
            self._search = JsonSearch(self.model.document(), query)
            self._wrapped = wrapped
        else:
            self._wrapped = False
        self.search_status.setText("Searching\u2026")
        self._search_timer.start()

    def searching(self) -> bool:
        return self._search_timer.isActive()

    def _on_query_changed(self, _text: str) -> None:
        self._stop_search()
        self.search_status.clear()

    def _stop_search(self) -> None:
        self._search_timer.stop()
        self._search = None

    def _on_search_slice(self) -> None:
        search = self._search
        if search is None:
            return
        hit = search.step(SEARCH_SLICE)
        if hit is not None:
            index = self.model.index_for_rows(hit)
            self._reveal(index)
            wrapped = " (from the top)" if self._wrapped else ""
            self.search_status.setText(f"Match {search.found}{wrapped}")
            return
        if search.done:
            if search.found:
                self.search_status.setText(f"No more matches ({search.found}); Enter wraps")
            else:
                self.search_status.setText("No match")
            return
        self._search_timer.start()

    def _reveal(self, index: QModelIndex) -> None:
        chain: list[QModelIndex] = []
        parent = index.parent()
        while parent.isValid():
            chain.append(parent)
            parent = parent.parent()
        for ancestor in reversed(chain):
            self.tree.expand(ancestor)
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)


class _Reader(QObject):
    """Owns the pane's SQLite connection so it is closed even if the pane is just destroyed."""

    def __init__(self) -> None:
        super().__init__()
        self.conn: sqlite3.Connection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class DetailPane(QWidget):
    """Tabs for the selected request: Event, JSON, Raw, Headers, Timeline.

    ``set_store`` opens the pane's own reader; ``show_request(id)`` fills the tabs
    (``None`` shows the empty state); ``request_activated`` carries the id of a
    request the user opened from the Timeline tab.
    """

    request_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._reader = _Reader()
        reader = self._reader
        self.destroyed.connect(lambda *_: reader.close())
        self._request_id: int | None = None
        self._message_id = ""

        self.event_card = EventCard()
        self.json_tab = JsonTab()
        self.raw_view = RawView()
        self.headers_view = HeadersView()
        self.timeline = TimelineView()
        self.timeline.request_activated.connect(self.request_activated)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.event_card, "&Event")
        self.tabs.addTab(self.json_tab, "&JSON")
        self.tabs.addTab(self.raw_view, "&Raw")
        self.tabs.addTab(self.headers_view, "&Headers")
        self.tabs.addTab(self.timeline, "&Timeline")
        from inspector.gui.detail.response_tab import ResponseTab

        self.response_tab = ResponseTab()
        self.response_tab.request_activated.connect(self.request_activated)
        self.tabs.addTab(self.response_tab, "Res&ponse")

        self.empty_title = plain_label(QLabel(EMPTY_TEXT))
        font = self.empty_title.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.empty_title.setFont(font)
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_detail = plain_label(QLabel(EMPTY_DETAIL))
        self.empty_detail.setWordWrap(True)
        self.empty_detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_detail.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        empty_layout.addStretch(1)
        empty_layout.addWidget(self.empty_title)
        empty_layout.addWidget(self.empty_detail)
        empty_layout.addStretch(2)
        self.empty = empty

        self.stack = QStackedWidget()
        self.stack.addWidget(empty)
        self.stack.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    # -- session ---------------------------------------------------------------------

    def set_store(self, store: SessionStore) -> None:
        """Read from ``store`` through a connection of the pane's own."""
        self._reader.close()
        self._reader.conn = store.open_reader()
        self.show_request(None)

    def close_store(self) -> None:
        """Close the pane's connection (call before the session file is closed or moved)."""
        self._reader.close()
        self.show_request(None)

    def current_request_id(self) -> int | None:
        return self._request_id

    # -- showing ---------------------------------------------------------------------

    def show_request(self, request_id: int | None) -> None:
        """Fill every tab for ``request_id``; ``None`` shows the empty state."""
        conn = self._reader.conn
        if request_id is not None and request_id == self._request_id and conn is not None:
            self._load_timeline(conn)  # same request again: only its timeline can have grown
            self._refresh_response(conn)  # ...and the app's answers
            return
        if request_id is None or conn is None:
            self._show_empty(EMPTY_TEXT if conn is not None else "No session is open", EMPTY_DETAIL)
            return
        request = get_request(conn, request_id)
        if request is None:
            self._show_empty(
                f"Request {request_id} is not in this session",
                "It may belong to another session file.",
            )
            return
        self._request_id = request_id
        self._message_id = request.summary.message_id
        value, parsed, note = parse_body(request)
        self.event_card.set_request(request, value, parsed is not None and parsed.ok, conn)
        if parsed is not None and parsed.ok:
            self.json_tab.set_document(value, note)
        else:
            self.json_tab.show_message(note)
        self.raw_view.set_body(request.body, request.headers, parsed)
        line = f"{request.summary.method} {request.summary.path}"
        if request.summary.query:
            line += f"?{request.summary.query}"
        self.headers_view.set_request(
            f"{line} {request.http_version}".strip(),
            request.headers,
            request.summary.response_status,
            request.response_headers,
        )
        self.tabs.setTabText(TAB_HEADERS, f"&Headers ({len(request.headers)})")
        self._load_timeline(conn)
        self._load_response(conn, request)
        self.stack.setCurrentWidget(self.tabs)

    def refresh(self) -> None:
        """Re-read the shown request's timeline (new requests for its message may have come)."""
        if self._reader.conn is not None and self._request_id is not None:
            self._load_timeline(self._reader.conn)
            self._refresh_response(self._reader.conn)

    def refresh_response(self) -> None:
        """The app answered a forward or replay: reload the Response tab if it changed."""
        if self._reader.conn is not None and self._request_id is not None:
            self._refresh_response(self._reader.conn)

    def _load_response(self, conn: sqlite3.Connection, request: StoredRequest) -> None:
        self.response_tab.show_request(conn, request)
        f = self.response_tab.latest
        if f is None:
            self.tabs.setTabText(TAB_RESPONSE, "Res&ponse")
        else:
            a = f.answer
            what = str(a.status) if a.status is not None and not a.error else "failed"
            self.tabs.setTabText(TAB_RESPONSE, f"Res&ponse (app {what})")

    def _refresh_response(self, conn: sqlite3.Connection) -> None:
        """Reload the Response tab if the app answered again since it was filled."""
        assert self._request_id is not None
        if self.response_tab.is_stale(conn, self._request_id):
            request = get_request(conn, self._request_id)
            if request is not None:
                self._load_response(conn, request)

    def _load_timeline(self, conn: sqlite3.Connection) -> None:
        assert self._request_id is not None
        n = self.timeline.load(conn, self._message_id, self._request_id)
        self.tabs.setTabText(TAB_TIMELINE, f"&Timeline ({n})" if n else "&Timeline")

    def _show_empty(self, title: str, detail: str) -> None:
        self._request_id = None
        self._message_id = ""
        self.empty_title.setText(title)
        self.empty_detail.setText(detail)
        self.event_card.clear()
        self.json_tab.show_message("")
        self.raw_view.clear()
        self.headers_view.clear()
        self.timeline.clear()
        self.response_tab.clear()
        self.tabs.setTabText(TAB_RESPONSE, "Res&ponse")
        self.stack.setCurrentWidget(self.empty)
