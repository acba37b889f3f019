"""A one-line label that elides its text in the middle and gives the whole text as tooltip.

The status bar names the session file for the life of the window; a long path must not
push the status bar's messages away, and its two ends (folder and file name) are the
parts worth seeing, hence the middle elision.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from inspector.gui.plain_text import plain_tooltip

#: The label never asks for more than this (it shrinks below when the window is narrow).
MAX_WIDTH = 520
#: Nor less than this, so something of the path stays visible.
MIN_WIDTH = 120


class ElidedLabel(QWidget):
    """Plain text, painted on one line, elided in the middle to fit."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setContentsMargins(6, 0, 6, 0)
        self.setText(text)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, on purpose
        self._text = text
        self.setToolTip(plain_tooltip(text) or "")
        self.setAccessibleName(text)
        self.updateGeometry()
        self.update()

    def shown_text(self) -> str:
        """The text as painted now (elided to the current width)."""
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideMiddle, width)

    def sizeHint(self) -> QSize:
        m = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._text) + m.left() + m.right() + 2
        return QSize(min(width, MAX_WIDTH), self.fontMetrics().height() + 2)

    def minimumSizeHint(self) -> QSize:
        hint = self.sizeHint()
        return QSize(min(hint.width(), MIN_WIDTH), hint.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().windowText().color())
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.contentsRect(), int(align), self.shown_text())
