"""The Raw tab: the body exactly as received, as text or as a hex dump.

Stored bytes are never altered; what this tab may do for readability is undo a
``Content-Encoding`` (gzip/deflate) or pretty-print JSON, and it always says so.
Laying out tens of megabytes of text freezes a QPlainTextEdit, so only the first
``TEXT_PREVIEW_BYTES`` are shown until the user asks for all of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from PySide6.QtGui import QFontDatabase, QTextOption
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

#: Text shown before "Show all" is needed.
TEXT_PREVIEW_BYTES = 1 << 20
#: Binary bodies are dumped up to this many bytes.
HEX_LIMIT = 64 << 10
#: JSON bodies larger than this are not pretty-printed (the JSON tab is the way in).
PRETTY_LIMIT = 5 << 20


def format_size(n: int) -> str:
    """``512 bytes``, ``1.5 KiB``, ``25.0 MiB``."""
    if n < 1024:
        return f"{n} byte{'s' if n != 1 else ''}"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


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
        notes.append(problem)
    elif encoding and shown is not body:
        notes.append(
            f"Content-Encoding {encoding.strip()}: shown decompressed "
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

        self.note = QLabel()
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

        self.text = QPlainTextEdit()
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
        self.text.clear()
        self.note.setVisible(False)
        self.show_all_button.setVisible(False)
        self.size_label.clear()

    def shown_text(self) -> str:
        return self.text.toPlainText()

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
        self.note.setText("\n".join(notes))
        self.note.setVisible(bool(notes))
        self.text.setPlainText(text)

    def _pretty(self, data: bytes) -> tuple[str, list[str]]:
        result = self._parsed if self._parsed is not None else parse_lenient(data.decode("utf-8"))
        notes = list(result.warnings)
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
