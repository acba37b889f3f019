"""Showing text that came in a request: always as plain text, and never all of a huge one.

Qt guesses: a tooltip, or a label left at ``Qt.AutoText``, whose text looks like HTML
(``Qt.mightBeRichText``) is rendered as rich text, so a header ``<img src=/dev/zero>``
would load a local file (and fill the memory) as soon as its tooltip or label is shown.
Every tooltip built from request data goes through :func:`plain_tooltip`, every label
that can hold request data through :func:`plain_label`.
"""

from __future__ import annotations

from html import escape

from PySide6.QtGui import Qt
from PySide6.QtWidgets import QLabel

#: A tooltip shows at most this many characters (a 25 MB value would freeze the tip).
TOOLTIP_CHARS = 2000
#: And at most this many lines.
TOOLTIP_LINES = 40
#: A table cell or a one-line value shows at most this many characters: Qt measures the
#: whole text to elide it, on every repaint (two 1 MiB headers cost 1.3 s a repaint).
CELL_CHARS = 1000


def clip(text: str, limit: int, *, lines: int | None = None) -> str:
    """``text`` cut to ``limit`` characters (and ``lines`` lines), saying how much was left."""
    cut = text
    if lines is not None and cut.count("\n") >= lines:
        cut = "\n".join(cut.split("\n", lines)[:lines])
    if len(cut) > limit:
        cut = cut[:limit]
    if len(cut) == len(text):
        return text
    return f"{cut}\u2026 ({len(text) - len(cut):,} more characters)"


def cell_text(text: str, limit: int = CELL_CHARS) -> str:
    """``text`` for a cell or a value label: cut to ``limit`` characters, marked with "…"."""
    return text if len(text) <= limit else text[:limit] + "\u2026"


def plain_tooltip(text: str | None) -> str | None:
    """A tooltip that shows ``text`` literally: escaped, in a paragraph that keeps its
    spaces and line breaks, bounded in length. ``None`` or "" means no tooltip."""
    if not text:
        return None
    shown = clip(text, TOOLTIP_CHARS, lines=TOOLTIP_LINES)
    if not Qt.mightBeRichText(shown):  # the test QToolTip itself makes: shown as it is
        return shown
    return f"<p style='white-space:pre-wrap'>{escape(shown, quote=False)}</p>"


def plain_label(label: QLabel) -> QLabel:
    """Make ``label`` show its text as typed, never as rich text; returns it for chaining."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label
