"""The live request table: row ids and a bounded cache, never the requests themselves.

Which requests match and in what order is asked of SQLite one page at a time
(:mod:`inspector.core.session.query`), so the model's memory does not grow with the
session and a filter keystroke is one ``count`` and one page query.  Every query
is bounded by ``_max_id``, the newest id the model has been told about, so the
rows the view sees and the rows SQLite counts always agree even while the writer
thread commits more.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QIcon

from inspector.core.provider.catalogue import PRODUCT_LABELS
from inspector.core.provider.status_table import status_meaning
from inspector.core.session.findings import AUTH_TOOLTIPS
from inspector.core.session.forwards import app_outcomes
from inspector.core.session.query import (
    MATCH_ALL,
    CompiledQuery,
    count_matching,
    fetch_ids,
    fetch_summaries,
    position_of,
    register_functions,
)
from inspector.core.session.store import RowSummary, SessionStore, StoredRequest, get_request
from inspector.gui.plain_text import cell_text, plain_tooltip
from inspector.gui.sizes import format_size
from inspector.gui.status_style import pill_text
from inspector.gui.theme import icon

PAGE_SIZE = 256
MAX_PAGES = 32
MAX_SUMMARIES = 4096
#: A table sorted by something other than arrival re-sorts at most this often as rows arrive.
RESORT_INTERVAL_MS = 1000

ROLE_SUMMARY = Qt.ItemDataRole.UserRole + 1
ROLE_ID = Qt.ItemDataRole.UserRole + 2
#: The row's status class, for the status pill delegate.
ROLE_CLASS = Qt.ItemDataRole.UserRole + 3
#: The pill class of what the user's app answered (App column), for the same delegate.
ROLE_APP_CLASS = Qt.ItemDataRole.UserRole + 4

AnyIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    sort_column: str
    width: int


#: Default widths add up to 1,240 px, so a 1280 px window shows every column whole;
#: the last column stretches over whatever the window has beyond that.
COLUMNS: tuple[Column, ...] = (
    Column("time", "Time", "id", 96),
    Column("method", "Method", "method", 64),
    Column("path", "Path", "path", 94),
    Column("event", "Event", "event", 176),
    Column("product", "Product", "product", 80),
    Column("status", "Status", "status", 148),
    Column("attempt", "Retry", "attempt", 56),
    Column("auth", "Auth", "auth_result", 40),
    Column("from", "From", "from_addr", 104),
    Column("to", "To", "to_addr", 104),
    Column("message_id", "Message ID", "message_id", 118),
    Column("size", "Size", "body_size", 64),
    Column("warning", "\u26a0", "warning_count", 40),
    Column("app", "App", "id", 56),
)
COLUMN_INDEX: dict[str, int] = {c.key: i for i, c in enumerate(COLUMNS)}
_ARRIVAL = ("id", "seq", "received_us")


def human_size(n: int) -> str:
    """The Size column: the window's one size format (binary units, as the detail pane)."""
    return format_size(n)


def _time_text(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000).strftime("%H:%M:%S.%f")[:-3]


def display_text(s: RowSummary, key: str) -> str:
    if key == "time":
        return _time_text(s.received_us)
    if key == "method":
        return s.method
    if key == "path":
        return s.path + (f"?{s.query}" if s.query else "")
    if key == "event":
        return s.event or "\u2014"
    if key == "product":
        return PRODUCT_LABELS.get(s.product, s.product)
    if key == "status":
        return status_text(s)
    if key == "from":
        return s.from_addr
    if key == "to":
        return s.to_addr
    if key == "message_id":
        return s.message_id
    if key == "size":
        return human_size(s.body_size)
    if key == "warning":
        return "\u26a0" if s.warning_count or s.response_status >= 400 else ""
    if key == "attempt":
        return f"retry {s.attempt}" if s.attempt > 1 else ""
    if key == "auth":
        return ""  # a shield badge (DecorationRole); its words are in the tooltip
    raise KeyError(key)


#: The authenticity badge per row verdict: icon and colour (readable on light and dark).
AUTH_BADGES: dict[str, tuple[str, str]] = {
    "ok": ("shield-check", "#2e9d4a"),
    "failed": ("shield-x", "#d64545"),
    "missing": ("shield-alert", "#c7870a"),
}


#: The column whose cell carries the "came through the tunnel" marker.
TUNNEL_MARKER_COLUMN = "path"
#: The marker's colour: the tunnel control's "online" green, readable on light and dark.
TUNNEL_MARKER_COLOUR = "#2e9d4a"


AppOutcome = tuple[int | None, bool] | None


def app_text(outcome: AppOutcome) -> str:
    """The App badge: the app's status, "failed" when it gave none, empty if never sent."""
    if outcome is None:
        return ""
    status, _failed = outcome
    return str(status) if status is not None else "failed"


def app_class(outcome: AppOutcome) -> str:
    """Pill colour for the App badge, borrowing the status classes' palette; "" (no badge)
    for a request never sent to the app."""
    if outcome is None:
        return ""
    status, failed = outcome
    if failed:
        return "failure"
    if status is not None and 300 <= status < 400:
        return "pending"
    return "success"


def tunnel_note(s: RowSummary) -> str | None:
    """Says a request came through the ngrok tunnel, and from whom; ``None`` for direct ones."""
    if not s.via_tunnel:
        return None
    return f"Through the ngrok tunnel from {s.client_addr or 'an unknown client'}"


def status_text(s: RowSummary) -> str:
    """The provider's status text, or the class when the event carries none (inbound, opt-out)."""
    return pill_text(s.status, s.status_class)


class EventTableModel(QAbstractTableModel):
    """One row per request that matches the filter, in the chosen order."""

    #: Emitted after a batch of arrivals was inserted, with the number of rows inserted.
    rows_arrived = Signal(int)

    def __init__(self, store: SessionStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._conn: sqlite3.Connection = store.open_reader()
        register_functions(self._conn)
        self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS hidden (id INTEGER PRIMARY KEY)")
        self._user_query: CompiledQuery = MATCH_ALL
        self._query: CompiledQuery = MATCH_ALL
        self._floor_id = 0
        self._hidden_count = 0
        self._sort_column = "id"
        self._descending = False
        self._pages: OrderedDict[int, list[int]] = OrderedDict()
        self._summaries: OrderedDict[int, RowSummary] = OrderedDict()
        #: What the user's app answered each row (None: never sent), read per page.
        self._app: dict[int, AppOutcome] = {}
        row = self._conn.execute("SELECT max(id) FROM requests").fetchone()
        self._max_id: int = row[0] or 0
        self._count = count_matching(self._conn, self._query, self._max_id)
        self._resort_timer = QTimer(self)
        self._resort_timer.setSingleShot(True)
        self._resort_timer.setInterval(RESORT_INTERVAL_MS)
        self._resort_timer.timeout.connect(self.refresh)
        self._closed = False
        self._tunnel_icon: QIcon | None = None
        self._auth_icons: dict[str, QIcon] = {}

    def close(self) -> None:
        """Release the reader; the model shows nothing more afterwards."""
        self._resort_timer.stop()
        self._closed = True
        self._conn.close()

    # -- Qt model API ------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section].key == "warning":
            return "Warnings (decoding problems, refused or incomplete bodies)"
        if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section].key == "auth":
            return "Authenticity: the configured webhook secret and signature checks"
        if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section].key == "attempt":
            return "Re-deliveries: the provider sent the same body to the same path again"
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= self._count or index.column() >= len(COLUMNS):
            return None
        key = COLUMNS[index.column()].key
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if key in ("size", "warning"):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
            Qt.ItemDataRole.DecorationRole,
            ROLE_SUMMARY,
            ROLE_ID,
            ROLE_CLASS,
            ROLE_APP_CLASS,
        ):
            return None
        if role == Qt.ItemDataRole.DecorationRole and key not in (TUNNEL_MARKER_COLUMN, "auth"):
            return None
        summary = self.summary_at(index.row())
        if summary is None:
            return None
        if role == Qt.ItemDataRole.DecorationRole and key == "auth":
            return self._auth_badge(summary.auth_result)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._tunnel_marker() if summary.via_tunnel else None
        if role == ROLE_SUMMARY:
            return summary
        if role == ROLE_ID:
            return summary.id
        if role == ROLE_CLASS:
            return summary.status_class
        if key == "app" or role == ROLE_APP_CLASS:
            outcome = self.app_outcome(index.row())
            if role == ROLE_APP_CLASS:
                return app_class(outcome)
            if role == Qt.ItemDataRole.ToolTipRole:
                return _app_tooltip(outcome)
            return app_text(outcome)
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(self._tooltip(summary, key))
        return cell_text(display_text(summary, key))

    def app_outcome(self, row: int) -> AppOutcome:
        """What the user's app last answered the request on ``row`` (cached per page)."""
        rid = self.id_at(row)
        if rid is None:
            return None
        if rid in self._app:
            return self._app[rid]
        if len(self._app) > MAX_SUMMARIES:
            self._app.clear()
        page = [i for i in self._pages.get(row // PAGE_SIZE, [rid]) if i not in self._app]
        found = app_outcomes(self._conn, page)
        for i in page:
            self._app[i] = found.get(i)
        return self._app.get(rid)

    def app_outcomes_changed(self) -> None:
        """Forwards or replays were answered: re-read the App column when next painted."""
        if self._closed:
            return
        self._app.clear()
        if self._count:
            col = COLUMN_INDEX["app"]
            self.dataChanged.emit(self.index(0, col), self.index(self._count - 1, col))

    def _tooltip(self, s: RowSummary, key: str) -> str | None:
        if key == "warning":
            if not (s.warning_count or s.response_status >= 400):
                return None
            parts = []
            if s.warning_count:
                parts.append(f"{s.warning_count} warning{'s' if s.warning_count > 1 else ''}")
            if s.response_status >= 400:
                parts.append(f"answered {s.response_status}")
            return "; ".join(parts) + " (see the detail pane)"
        if key == "status":
            meaning = status_meaning(s.product, s.event, s.status)
            text = f"{status_text(s)} ({s.status_class.replace('_', '-')})"
            return f"{text}: {meaning}" if meaning else text
        if key == "auth":
            return AUTH_TOOLTIPS.get(s.auth_result) or None
        if key == "attempt":
            if s.attempt < 2:
                return None
            return f"Attempt {s.attempt}: the provider re-sent an earlier request's body"
        if key == "event" and s.summary:
            return s.summary
        text = display_text(s, key)
        note = tunnel_note(s) if key in ("method", TUNNEL_MARKER_COLUMN) else None
        if note:
            return f"{text}\n{note}" if key == TUNNEL_MARKER_COLUMN else note
        return text or None

    def _auth_badge(self, result: str) -> QIcon | None:
        """The shield for a row's authenticity verdict (each made once, on first use)."""
        badge = AUTH_BADGES.get(result)
        if badge is None:
            return None
        found = self._auth_icons.get(result)
        if found is None:
            found = self._auth_icons[result] = icon(badge[0], QColor(badge[1]))
        return found

    def _tunnel_marker(self) -> QIcon:
        """The link icon drawn before the path of a tunnelled request (made once, on first use)."""
        if self._tunnel_icon is None:
            self._tunnel_icon = icon("link", QColor(TUNNEL_MARKER_COLOUR))
        return self._tunnel_icon

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        sort_column = COLUMNS[column].sort_column
        descending = order == Qt.SortOrder.DescendingOrder
        if (sort_column, descending) == (self._sort_column, self._descending):
            return
        self._sort_column = sort_column
        self._descending = descending
        self.refresh()

    # -- what the window uses -------------------------------------------------------------

    @property
    def sort_key(self) -> tuple[str, bool]:
        return self._sort_column, self._descending

    @property
    def arrival_order(self) -> bool:
        return self._sort_column in _ARRIVAL

    @property
    def max_id(self) -> int:
        return self._max_id

    @property
    def query(self) -> CompiledQuery:
        return self._user_query

    def set_query(self, query: CompiledQuery) -> None:
        """Show only the requests matching ``query`` (one count and one page query)."""
        self._user_query = query
        self._rebuild_query()
        self.refresh()

    def refresh(self) -> None:
        """Recount and drop cached pages (summaries stay: a request never changes)."""
        self._resort_timer.stop()
        if self._closed:
            return
        self.beginResetModel()
        self._pages.clear()
        self._count = count_matching(self._conn, self._query, self._max_id)
        self.endResetModel()

    def id_at(self, row: int) -> int | None:
        if not 0 <= row < self._count:
            return None
        page_no, offset = divmod(row, PAGE_SIZE)
        page = self._page(page_no)
        return page[offset] if offset < len(page) else None

    def summary_at(self, row: int) -> RowSummary | None:
        rid = self.id_at(row)
        if rid is None:
            return None
        found = self._summaries.get(rid)
        if found is not None:
            self._summaries.move_to_end(rid)
            return found
        page = self._pages.get(row // PAGE_SIZE, [rid])
        missing = [i for i in page if i not in self._summaries]
        for s in fetch_summaries(self._conn, missing).values():
            self._remember(s)
        return self._summaries.get(rid)

    def row_of(self, request_id: int) -> int | None:
        """Row where ``request_id`` is shown now, or ``None`` if it is filtered out."""
        return position_of(
            self._conn,
            self._query,
            request_id,
            sort_column=self._sort_column,
            descending=self._descending,
            max_id=self._max_id,
        )

    def append_rows(self, rows: list[RowSummary]) -> int:
        """New requests were committed: cache their summaries and insert those that match."""
        if self._closed or not rows:
            return 0
        for r in rows:
            self._remember(r)
        return self.catch_up(max(r.id for r in rows), rows)

    def catch_up(self, new_max: int, rows: list[RowSummary] | None = None) -> int:
        """Account for every request up to ``new_max``: one insert at the end (or top).

        Returns how many rows were inserted.  Under a sort other than arrival the new
        rows belong all over the table, so a re-sort is scheduled instead.
        """
        old_max = self._max_id
        if new_max <= old_max:
            return 0
        if rows is not None and self._query.is_empty:
            n = sum(1 for r in rows if old_max < r.id <= new_max)
        else:
            n = count_matching(self._conn, self._query, new_max, min_id=old_max)
        if not self.arrival_order:
            self._max_id = new_max
            if n and not self._resort_timer.isActive():
                self._resort_timer.start()
            return 0
        if n == 0:
            self._max_id = new_max
            return 0
        first = 0 if self._descending else self._count
        self.beginInsertRows(QModelIndex(), first, first + n - 1)
        self._max_id = new_max
        self._count += n
        if self._descending:
            self._pages.clear()
        else:
            self._pages.pop(first // PAGE_SIZE, None)
        self.endInsertRows()
        self.rows_arrived.emit(n)
        return n

    def request(self, request_id: int) -> StoredRequest | None:
        """The full stored request (body included), read on this model's connection."""
        return get_request(self._conn, request_id)

    def hide_rows(self, rows: list[int]) -> list[int]:
        """Remove rows from the view (the session keeps them); returns their request ids."""
        ranges = [
            (start, end, [i for i in (self.id_at(r) for r in range(start, end + 1)) if i is not None])
            for start, end in _ranges_descending(rows)
        ]
        ids = [rid for _s, _e, part in reversed(ranges) for rid in part]
        if not ids:
            return []
        # One range at a time, the view's rows changing with each: a view between two
        # removals must already lack the first range and still have the others.
        for start, end, part in ranges:
            self.beginRemoveRows(QModelIndex(), start, end)
            self._conn.executemany(
                "INSERT OR IGNORE INTO hidden(id) VALUES (?)", [(i,) for i in part]
            )
            self._hidden_count = self._count_hidden()
            self._rebuild_query()
            self._count -= end - start + 1
            self._pages.clear()
            self.endRemoveRows()
        return ids

    def unhide(self, ids: list[int]) -> None:
        """Show again requests that :meth:`hide_rows` removed from the view."""
        self._conn.executemany("DELETE FROM temp.hidden WHERE id = ?", [(i,) for i in ids])
        self._hidden_count = self._count_hidden()
        self._rebuild_query()
        self.refresh()

    def _count_hidden(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM temp.hidden").fetchone()[0])

    def clear_view(self) -> int:
        """Hide everything received so far; new requests keep appearing.

        Returns the floor that was in force before, for :meth:`restore_floor`."""
        before = self._floor_id
        self._floor_id = self._max_id
        self._rebuild_query()
        self.refresh()
        return before

    def restore_floor(self, floor: int) -> None:
        """Undo a :meth:`clear_view`: show again what arrived after ``floor``."""
        self._floor_id = floor
        self._rebuild_query()
        self.refresh()

    # -- internals -----------------------------------------------------------------------

    def _rebuild_query(self) -> None:
        """The user's filter plus what the user removed from the view."""
        user = self._user_query
        extra: list[str] = []
        params: list[object] = []
        if self._floor_id:
            extra.append("id > ?")
            params.append(self._floor_id)
        if self._hidden_count:
            extra.append("id NOT IN (SELECT id FROM temp.hidden)")
        if not extra:
            self._query = user
            return
        where = " AND ".join([*extra, f"({user.where})"])
        self._query = CompiledQuery(
            user.text, where, (*params, *user.params), user.uses_regexp, user.lookups
        )

    def _page(self, page_no: int) -> list[int]:
        page = self._pages.get(page_no)
        if page is not None:
            self._pages.move_to_end(page_no)
            return page
        start = page_no * PAGE_SIZE
        if start <= self._count // 2:
            page = fetch_ids(
                self._conn,
                self._query,
                sort_column=self._sort_column,
                descending=self._descending,
                offset=start,
                limit=PAGE_SIZE,
                max_id=self._max_id,
            )
        else:
            # OFFSET walks every row it skips: read the far half from its own end, so
            # the newest page (where arrivals land) costs a few rows, not a million.
            end = min(start + PAGE_SIZE, self._count)
            page = fetch_ids(
                self._conn,
                self._query,
                sort_column=self._sort_column,
                descending=not self._descending,
                offset=self._count - end,
                limit=end - start,
                max_id=self._max_id,
            )[::-1]
        self._pages[page_no] = page
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

    def _remember(self, s: RowSummary) -> None:
        self._summaries[s.id] = s
        self._summaries.move_to_end(s.id)
        while len(self._summaries) > MAX_SUMMARIES:
            self._summaries.popitem(last=False)

    def cache_sizes(self) -> tuple[int, int]:
        """(cached pages, cached summaries): bounded whatever the session size."""
        return len(self._pages), len(self._summaries)


def _app_tooltip(outcome: AppOutcome) -> str | None:
    if outcome is None:
        return "Not sent to your app"
    status, failed = outcome
    if status is None:
        return "Your app gave no answer (see the Response tab)"
    return f"Your app answered {status}" + (" (a failure)" if failed else "")


def _ranges_descending(rows: list[int]) -> list[tuple[int, int]]:
    """Contiguous ``(start, end)`` runs, last first, so earlier removals do not shift later ones."""
    out: list[tuple[int, int]] = []
    for r in sorted(set(rows)):
        if out and r == out[-1][1] + 1:
            out[-1] = (out[-1][0], r)
        else:
            out.append((r, r))
    return out[::-1]
