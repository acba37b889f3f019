"""The Raw tab: the body exactly as received, as text or as a hex dump.

Stored bytes are never altered; what this tab may do for readability is undo a
``Content-Encoding`` (gzip/deflate) or pretty-print JSON, and it always says so.
Laying out tens of megabytes of text freezes a QPlainTextEdit, so only the first
``TEXT_PREVIEW_BYTES`` are shown until the user asks for all of it; and laying out one
long line costs time that grows with the square of its length (1 MiB without a line
break froze the tab for a minute), so lines are broken every ``LINE_CHUNK`` characters
for display only: copying a selection joins them again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QMimeData
from PySide6.QtGui import QFontDatabase, QKeyEvent, QKeySequence, QTextOption
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.provider.decoder import body_text, decode_content, header_value
from inspector.core.provider.lenient_json import ParseResult, parse_lenient
from inspector.core.provider.warning_limits import bound_warning, bound_warnings
from inspector.gui.plain_text import plain_label
from inspector.gui.sizes import format_size

#: Text shown before "Show all" is needed.
TEXT_PREVIEW_BYTES = 1 << 20
#: Binary bodies are dumped up to this many bytes.
HEX_LIMIT = 64 << 10
#: JSON bodies larger than this are not pretty-printed (the JSON tab is the way in).
PRETTY_LIMIT = 5 << 20
#: Longer lines are shown broken into pieces of this many characters (display only).
LINE_CHUNK = 4096
#: A note quotes at most this much of a header (``Content-Encoding``) or a warning.
NOTE_CHARS = 300


def hex_dump(data: bytes, limit: int = HEX_LIMIT) -> str:
    """Classic 16-bytes-a-line dump: offset, hex pairs in two groups of 8, printable ASCII."""
    lines: list[str] = []
    view = data[:limit]
    for offset in range(0, len(view), 16):
        chunk = view[offset : offset + 16]
        left = " ".join(f"{b:02x}" for b in chunk[:8])
        right = " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {left:<23}  {right:<23}  |{text}|")
    return "\n".join(lines)


def is_binary(data: bytes) -> bool:
    """Not UTF-8, or carrying NUL bytes: a text view would mislead."""
    if b"\x00" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def chunk_lines(text: str, width: int = LINE_CHUNK) -> tuple[str, set[int]]:
    """``text`` with every line longer than ``width`` broken into pieces, and the numbers of
    the display lines (blocks) that continue on the next one rather than end a line."""
    if len(text) <= width:
        return text, set()
    pieces: list[str] = []
    soft: set[int] = set()
    for line in text.split("\n"):
        if len(line) <= width:
            pieces.append(line)
            continue
        for start in range(0, len(line), width):
            if start + width < len(line):
                soft.add(len(pieces))
            pieces.append(line[start : start + width])
    if not soft:
        return text, soft
    return "\n".join(pieces), soft


def _utf16_slice(text: str, start: int, end: int) -> str:
    """``text[start:end]`` with positions counted as Qt counts them (UTF-16 code units)."""
    if text.isascii():
        return text[start:end]
    data = text.encode("utf-16-le", "surrogatepass")
    return data[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


class RawText(QPlainTextEdit):
    """Read-only text whose copy gives the selection as received: display-only line breaks
    (see :func:`chunk_lines`) are left out.  Ctrl+C with a selection copies it here, even
    though the window binds Ctrl+C to "copy the whole body" (which it still does when
    nothing is selected)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: Block numbers whose line goes on in the next block.
        self.soft_breaks: set[int] = set()

    def set_display_text(self, text: str) -> None:
        shown, self.soft_breaks = chunk_lines(text)
        self.setPlainText(shown)

    def selected_text(self) -> str:
        cursor = self.textCursor()
        if not cursor.hasSelection():
            return ""
        start, end = cursor.selectionStart(), cursor.selectionEnd()
        block = self.document().findBlock(start)
        parts: list[str] = []
        while block.isValid() and block.position() < end:
            pos = block.position()
            text = block.text()
            parts.append(_utf16_slice(text, max(start - pos, 0), min(end - pos, block.length())))
            if end >= pos + block.length() and block.blockNumber() not in self.soft_breaks:
                parts.append("\n")
            block = block.next()
        return "".join(parts)

    def createMimeDataFromSelection(self) -> QMimeData:
        data = QMimeData()
        data.setText(self.selected_text())
        return data

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride:
            assert isinstance(event, QKeyEvent)
            if event.matches(QKeySequence.StandardKey.Copy) and self.textCursor().hasSelection():
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            if self.textCursor().hasSelection():
                self.copy()
                event.accept()
                return
        super().keyPressEvent(event)


@dataclass(slots=True)
class RawContent:
    """What the Raw tab shows for one body, worked out without Qt (testable, fast)."""

    shown: bytes
    notes: list[str]
    binary: bool


def prepare_raw(body: bytes, headers: list[tuple[str, str]]) -> RawContent:
    """Undo Content-Encoding for display and decide between text and hex."""
    notes: list[str] = []
    encoding = header_value(headers, "Content-Encoding")
    shown, problem = decode_content(body, encoding)
    if problem:
        notes.append(bound_warning(problem, NOTE_CHARS))
    elif encoding and shown is not body:
        notes.append(
            f"Content-Encoding {bound_warning(encoding.strip(), NOTE_CHARS)}: shown decompressed "
            f"({format_size(len(body))} received, {format_size(len(shown))} decoded)"
        )
    if is_binary(shown):
        # UTF-16 and byte-order-marked text is text: shown converted, and said so.
        text, note = body_text(shown)
        if text is None or note is None or "\x00" in text:
            return RawContent(shown, notes, True)
        notes.append(note[:1].upper() + note[1:] + " for display.")
        shown = text.encode("utf-8")
    return RawContent(shown, notes, False)


class RawView(QWidget):
    """Body text or hex dump, with a wrap toggle, a pretty-print toggle and "Show all"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._content: RawContent | None = None
        self._parsed: ParseResult | None = None
        self._show_all = False
        self._text = ""

        self.note = plain_label(QLabel())
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        self.wrap_box = QCheckBox("&Wrap lines")
        self.wrap_box.setChecked(True)
        self.wrap_box.toggled.connect(self._apply_wrap)
        self.pretty_box = QCheckBox("&Pretty JSON")
        self.pretty_box.setToolTip(
            "Indent the JSON for reading (trailing commas and bare words repaired); "
            "the stored body is unchanged"
        )
        self.pretty_box.toggled.connect(self._render)
        self.show_all_button = QPushButton()
        self.show_all_button.setVisible(False)
        self.show_all_button.clicked.connect(self._on_show_all)
        self.size_label = QLabel()

        self.text = RawText()
        self.text.setReadOnly(True)
        self.text.setUndoRedoEnabled(False)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setAccessibleName("Raw body")

        bar = QHBoxLayout()
        bar.addWidget(self.wrap_box)
        bar.addWidget(self.pretty_box)
        bar.addStretch(1)
        bar.addWidget(self.size_label)
        bar.addWidget(self.show_all_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.note)
        layout.addWidget(self.text, 1)
        self._apply_wrap(True)

    def set_body(
        self, body: bytes, headers: list[tuple[str, str]], parsed: ParseResult | None = None
    ) -> None:
        """Show ``body``; pass the JSON already parsed from it to save a second parse."""
        self._content = prepare_raw(body, headers)
        self._parsed = parsed
        self._show_all = False
        self.size_label.setText(format_size(len(body)))
        can_pretty = (
            not self._content.binary
            and bool(self._content.shown.strip())
            and len(self._content.shown) <= PRETTY_LIMIT
            and self._content.shown.lstrip()[:1] in (b"{", b"[")
        )
        self.pretty_box.blockSignals(True)
        self.pretty_box.setEnabled(can_pretty)
        if not can_pretty:
            self.pretty_box.setChecked(False)
        self.pretty_box.blockSignals(False)
        self._render()

    def clear(self) -> None:
        self._content = None
        self._parsed = None
        self._text = ""
        self.text.clear()
        self.note.setVisible(False)
        self.show_all_button.setVisible(False)
        self.size_label.clear()

    def shown_text(self) -> str:
        """The text shown, as it was received (display-only line breaks left out)."""
        return self._text

    def _apply_wrap(self, on: bool) -> None:
        self.text.setLineWrapMode(
            QPlainTextEdit.LineWrapMode.WidgetWidth if on else QPlainTextEdit.LineWrapMode.NoWrap
        )
        self.text.setWordWrapMode(
            QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere if on else QTextOption.WrapMode.NoWrap
        )

    def _on_show_all(self) -> None:
        self._show_all = True
        self._render()

    def _render(self) -> None:
        content = self._content
        if content is None:
            return
        notes = list(content.notes)
        data = content.shown
        truncated = False
        if not data:
            text = ""
            notes.append("Empty body.")
        elif content.binary:
            text = hex_dump(data, HEX_LIMIT)
            if len(data) > HEX_LIMIT:
                notes.append(
                    f"Binary body ({format_size(len(data))}): hex dump of the first "
                    f"{format_size(HEX_LIMIT)}. Export the request to get every byte."
                )
            else:
                notes.append(f"Binary body ({format_size(len(data))}): shown as a hex dump.")
        elif self.pretty_box.isChecked():
            text, pretty_notes = self._pretty(data)
            notes.extend(pretty_notes)
        else:
            limit = len(data) if self._show_all else TEXT_PREVIEW_BYTES
            truncated = len(data) > limit
            text = data[:limit].decode("utf-8", errors="ignore")
            if truncated:
                notes.append(f"Showing the first {format_size(limit)} of {format_size(len(data))}.")
        self.show_all_button.setText(f"Show &all {format_size(len(data))}")
        self.show_all_button.setVisible(truncated)
        self._text = text
        self.text.set_display_text(text)
        if self.text.soft_breaks:
            notes.append(
                f"Lines longer than {LINE_CHUNK:,} characters are broken for display; "
                "copying keeps them whole."
            )
        self.note.setText("\n".join(notes))
        self.note.setVisible(bool(notes))

    def _pretty(self, data: bytes) -> tuple[str, list[str]]:
        result = self._parsed if self._parsed is not None else parse_lenient(data.decode("utf-8"))
        notes = bound_warnings(result.warnings, count=10)
        value = result.value
        if not result.ok:
            notes.append("Not JSON that can be indented; shown as received.")
            return data.decode("utf-8"), notes
        try:
            text = json.dumps(value, indent=2, ensure_ascii=False)
        except RecursionError:
            notes.append("JSON nested too deeply to indent; shown as received.")
            return data.decode("utf-8"), notes
        notes.append("Indented for reading; the stored body is unchanged.")
        return text, notes
