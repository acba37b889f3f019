"""The Response tab: what the provider got from us, and what the user's app answered.

Side by side, each with the same views as the request (JSON tree, raw body, headers),
so a 500 from the app sits next to the 200 the provider was given. Every attempt to
send the request to the app (forwards with their retries, replays) is listed; the
newest is shown first. A replay says which request it replays, and an original lists
its replays, each a button that opens it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.session.forwards import (
    ForwardRecord,
    forwards_for,
    has_relay_tables,
    replay_of,
    replays_of,
)
from inspector.core.session.store import StoredRequest
from inspector.gui.detail.headers_view import HeadersModel, _table
from inspector.gui.detail.raw_view import RawView, format_size

#: Replays listed as buttons before the rest are summarised.
MAX_LINKS = 8


@dataclass(slots=True)
class _Body:
    """The part of a stored request ``parse_body`` reads, for an answer's body."""

    body: bytes
    headers: list[tuple[str, str]]
    query: str = ""
    content_type: str = field(default="")


def _content_type(headers: list[tuple[str, str]]) -> str:
    return next((v for k, v in headers if k.lower() == "content-type"), "")


class AnswerView(QWidget):
    """One side: a title, a status line, a note, then JSON / Raw / Headers of a body."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from inspector.gui.detail.pane import JsonTab

        self.title = QLabel(title)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.status_line = QLabel()
        self.status_line.setObjectName("answerStatus")
        self.status_line.setTextFormat(Qt.TextFormat.PlainText)
        self.status_line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_line.setWordWrap(True)
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.setVisible(False)
        self.json_tab = JsonTab()
        self.raw_view = RawView()
        # Their tool rows are wide; side by side they may be clipped rather than widen
        # the whole window (the pane shares it with the tunnel dock).
        for w in (self.json_tab, self.raw_view, self):
            w.setMinimumWidth(120)
        self.headers_model = HeadersModel(self)
        self.headers_table = _table(self.headers_model, f"{title} headers")
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.json_tab, "JSON")
        self.tabs.addTab(self.raw_view, "Raw")
        self.tabs.addTab(self.headers_table, "Headers")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.status_line)
        layout.addWidget(self.note)
        layout.addWidget(self.tabs, 1)

    def show_answer(
        self,
        status_text: str,
        headers: list[tuple[str, str]],
        body: bytes,
        note: str = "",
        *,
        bad: bool = False,
    ) -> None:
        from inspector.gui.detail.pane import parse_body

        self.status_line.setText(status_text)
        self.status_line.setProperty("bad", bad)
        colour = "#d64541" if bad else ""
        self.status_line.setStyleSheet(f"QLabel {{ color: {colour}; }}" if bad else "")
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self.tabs.setEnabled(True)
        fake = _Body(body, headers, content_type=_content_type(headers))
        value, parsed, why = parse_body(cast(StoredRequest, fake))
        if parsed is not None and parsed.ok:
            self.json_tab.set_document(value, why)
        else:
            self.json_tab.show_message(why)
            if body and self.tabs.currentIndex() == 0:
                self.tabs.setCurrentIndex(1)
        self.raw_view.set_body(body, headers, parsed)
        self.headers_model.set_headers(headers)
        self.tabs.setTabText(2, f"Headers ({len(headers)})")

    def show_nothing(self, text: str, note: str = "") -> None:
        self.status_line.setText(text)
        self.status_line.setStyleSheet("")
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self.json_tab.show_message("")
        self.raw_view.clear()
        self.headers_model.set_headers([])
        self.tabs.setTabText(2, "Headers")
        self.tabs.setEnabled(False)


def attempt_title(f: ForwardRecord) -> str:
    when = datetime.fromtimestamp(f.at_us / 1_000_000).strftime("%H:%M:%S")
    what = str(f.answer.status) if f.answer.status is not None and not f.answer.error else "failed"
    kind = "Replay" if f.kind == "replay" else f"Forward, attempt {f.attempt}"
    given = " (given to the provider)" if f.given else ""
    return f"{kind} \u00b7 {what} \u00b7 {f.answer.duration_ms:.0f} ms \u00b7 {when}{given}"


class ResponseTab(QWidget):
    """Fill with :meth:`show_request`; ``request_activated`` opens a linked request."""

    request_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._forwards: list[ForwardRecord] = []
        self._request: StoredRequest | None = None
        self._replays = 0

        self.links_label = QLabel()
        self.links_label.setTextFormat(Qt.TextFormat.PlainText)
        self._link_buttons: list[QWidget] = []
        self.links_row = QHBoxLayout()
        self.links_row.setSpacing(2)
        self.links_row.addWidget(self.links_label)
        self.links_row.addStretch(1)
        self.attempts = QComboBox()
        self.attempts.setObjectName("responseAttempts")
        self.attempts.setAccessibleName("Attempts to send this request to your app")
        self.attempts.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.attempts.currentIndexChanged.connect(self._on_attempt_changed)
        self.links_row.addWidget(self.attempts)

        self.provider_side = AnswerView("What the provider got from us")
        self.app_side = AnswerView("What your app answered")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.provider_side)
        self.splitter.addWidget(self.app_side)
        self.splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.setSpacing(2)
        layout.addLayout(self.links_row)
        layout.addWidget(self.splitter, 1)

    @property
    def attempt_count(self) -> int:
        return len(self._forwards)

    @property
    def latest(self) -> ForwardRecord | None:
        return self._forwards[-1] if self._forwards else None

    def is_stale(self, conn: sqlite3.Connection, request_id: int) -> bool:
        """New attempts or replays were recorded since this was filled."""
        if self._request is None or self._request.summary.id != request_id:
            return True
        if not has_relay_tables(conn):
            return False
        n = conn.execute("SELECT count(*) FROM forwards WHERE request_id = ?", (request_id,))
        r = conn.execute("SELECT count(*) FROM replays WHERE original = ?", (request_id,))
        return int(n.fetchone()[0]) != len(self._forwards) or int(r.fetchone()[0]) != self._replays

    def show_request(self, conn: sqlite3.Connection, request: StoredRequest) -> None:
        """Load ``request``'s answers: ours to the provider and every one from the app."""
        self._request = request
        rid = request.summary.id
        self._forwards = forwards_for(conn, rid)
        replays = replays_of(conn, rid)
        self._replays = len(replays)
        self._show_links(replay_of(conn, rid), replays)
        s = request.summary
        if s.response_status == 0:
            self.provider_side.show_nothing(
                "Nothing: this request was sent by Webhook Inspector (a replay)",
            )
        else:
            given = next((f for f in self._forwards if f.given), None)
            note = (
                "Pass-through: your app's answer, passed on"
                if given
                else "Answered by Webhook Inspector once the request was on disk"
            )
            self.provider_side.show_answer(
                f"{s.response_status} \u00b7 {format_size(len(request.response_body))}",
                request.response_headers,
                request.response_body,
                note,
                bad=s.response_status >= 400,
            )
        self.attempts.blockSignals(True)
        self.attempts.clear()
        for f in reversed(self._forwards):
            self.attempts.addItem(attempt_title(f))
        self.attempts.setVisible(bool(self._forwards))
        self.attempts.blockSignals(False)
        if self._forwards:
            self.attempts.setCurrentIndex(0)
            self._show_attempt(self._forwards[-1])
        else:
            self.app_side.show_nothing(
                "Not sent to your app",
                "Type your app's URL in the toolbar's Forward to field to send every new "
                "request on, or replay this one (Ctrl+R).",
            )

    def clear(self) -> None:
        self._request = None
        self._forwards = []
        self._show_links(None, [])
        self.attempts.clear()
        self.attempts.setVisible(False)
        self.provider_side.show_nothing("")
        self.app_side.show_nothing("")

    @Slot(int)
    def _on_attempt_changed(self, index: int) -> None:
        if 0 <= index < len(self._forwards):
            self._show_attempt(self._forwards[len(self._forwards) - 1 - index])

    def _show_attempt(self, f: ForwardRecord) -> None:
        a = f.answer
        notes = [f"Sent to {f.url}"]
        if a.body_cut:
            notes.append(
                f"The body was cut at {format_size(len(a.body))} (the size limit, or the app "
                "never finished it)."
            )
        if a.status is not None and 300 <= a.status < 400:
            where = next((v for k, v in a.headers if k.lower() == "location"), "")
            notes.append(f"A redirect{f' to {where}' if where else ''}; not followed.")
        if a.error and a.status is None:
            self.app_side.show_nothing(
                f"No answer: {a.error} \u00b7 {a.duration_ms:.0f} ms", "\n".join(notes)
            )
            self.app_side.status_line.setStyleSheet("QLabel { color: #d64541; }")
            return
        text = f"{a.status} \u00b7 {format_size(len(a.body))} \u00b7 {a.duration_ms:.0f} ms"
        if a.error:
            text += f" \u00b7 {a.error}"
        self.app_side.show_answer(text, a.headers, a.body, "\n".join(notes), bad=a.failed)

    def _show_links(self, original: int | None, replays: list[int]) -> None:
        for b in self._link_buttons:
            self.links_row.removeWidget(b)
            b.deleteLater()
        self._link_buttons = []
        parts: list[tuple[str, int]] = []
        if original is not None:
            self.links_label.setText("Replay of")
            parts.append((f"#{original}", original))
        elif replays:
            self.links_label.setText("Replays:")
            parts.extend((f"#{r}", r) for r in replays[:MAX_LINKS])
        else:
            self.links_label.setText("")
        for i, (text, rid) in enumerate(parts):
            b = QToolButton()
            b.setText(text)
            b.setAutoRaise(True)
            b.setToolTip(f"Open request {rid}")
            b.clicked.connect(lambda _=False, r=rid: self.request_activated.emit(r))
            self.links_row.insertWidget(1 + i, b)
            self._link_buttons.append(b)
        if len(replays) > MAX_LINKS and original is None:
            more = QLabel(f"and {len(replays) - MAX_LINKS} more")
            self.links_row.insertWidget(1 + len(parts), more)
            self._link_buttons.append(more)
