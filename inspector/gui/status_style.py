"""Status badges: one colour per status class, in light and dark variants, painted as pills.

Shared by the request table's delegate, the detail pane's event card and its timeline,
so a "delivered" looks the same everywhere.  Colours are chosen at paint time from the
widget's palette, so badges follow the system when it switches between light and dark.

Usage from a delegate::

    paint_pill(painter, option.rect, text, status_class, dark=is_dark(option.palette))

The provider's own status text goes on the pill (``DELIVRD``, ``read``, ``ANSWER``...);
the class (see ``inspector.core.provider.catalogue.STATUS_CLASSES``) only picks the colour.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)


@dataclass(frozen=True, slots=True)
class PillColors:
    """What one pill is painted with; ``fill`` is None for the outlined (unknown) pill."""

    fill: QColor | None
    text: QColor
    border: QColor


#: Plain-words names of the status classes, for legends, tooltips and filter menus.
STATUS_CLASS_LABELS: dict[str, str] = {
    "success": "Success",
    "pending": "Pending",
    "failure": "Failure",
    "inbound": "Inbound",
    "opt_out": "Opt-out",
    "info": "Info",
    "unknown": "Unknown",
}

# (fill, text, border) as hex; tuned for WCAG AA contrast between text and fill.
_LIGHT: dict[str, tuple[str | None, str, str]] = {
    "success": ("#dcfce7", "#14532d", "#86efac"),
    "pending": ("#dbeafe", "#1e3a8a", "#93c5fd"),
    "failure": ("#fee2e2", "#7f1d1d", "#fca5a5"),
    "inbound": ("#f3e8ff", "#581c87", "#d8b4fe"),
    "opt_out": ("#fef3c7", "#78350f", "#fcd34d"),
    "info": ("#f1f5f9", "#334155", "#cbd5e1"),
    "unknown": (None, "#475569", "#94a3b8"),
}
_DARK: dict[str, tuple[str | None, str, str]] = {
    "success": ("#14532d", "#bbf7d0", "#166534"),
    "pending": ("#1e3a8a", "#bfdbfe", "#1e40af"),
    "failure": ("#7f1d1d", "#fecaca", "#991b1b"),
    "inbound": ("#581c87", "#e9d5ff", "#6b21a8"),
    "opt_out": ("#78350f", "#fde68a", "#92400e"),
    "info": ("#334155", "#e2e8f0", "#475569"),
    "unknown": (None, "#cbd5e1", "#64748b"),
}

_PAD_X = 8
_PAD_Y = 2


def is_dark(palette: QPalette) -> bool:
    """True when the palette's window is darker than its text (a dark system theme)."""
    return (
        palette.color(QPalette.ColorRole.Window).lightness()
        < palette.color(QPalette.ColorRole.WindowText).lightness()
    )


def status_colors(status_class: str, palette_or_dark: QPalette | bool) -> PillColors:
    """Colours for a status class; an unrecognised class gets the outlined "unknown" look."""
    dark = is_dark(palette_or_dark) if isinstance(palette_or_dark, QPalette) else palette_or_dark
    table = _DARK if dark else _LIGHT
    fill, text, border = table.get(status_class, table["unknown"])
    return PillColors(QColor(fill) if fill else None, QColor(text), QColor(border))


def pill_text(text: str, status_class: str) -> str:
    """What goes on the pill: the provider's status, or the class name when it sent none.

    A pill shows a few words; a status of megabytes is cut before it is measured."""
    text = " ".join(text[:200].split())
    if text:
        return text
    return STATUS_CLASS_LABELS.get(status_class, "Unknown").lower()


def pill_size(metrics: QFontMetrics, text: str) -> QSize:
    """Size a pill needs to show ``text`` whole."""
    height = metrics.height() + 2 * _PAD_Y
    return QSize(max(metrics.horizontalAdvance(text) + 2 * _PAD_X, height), height)


def paint_pill(
    painter: QPainter,
    rect: QRect,
    text: str,
    status_class: str,
    *,
    dark: bool,
    font: QFont | None = None,
    align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
) -> QRect:
    """Paint a rounded badge inside ``rect`` (vertically centred); return where it went.

    Text that does not fit is elided; the painter's state is restored afterwards.
    """
    painter.save()
    try:
        if font is not None:
            painter.setFont(font)
        metrics = painter.fontMetrics()
        colors = status_colors(status_class, dark)
        shown = pill_text(text, status_class)
        size = pill_size(metrics, shown)
        width = min(size.width(), max(rect.width() - 2, 0))
        height = min(size.height(), rect.height())
        if align & Qt.AlignmentFlag.AlignHCenter:
            x = rect.x() + (rect.width() - width) // 2
        elif align & Qt.AlignmentFlag.AlignRight:
            x = rect.right() - width
        else:
            x = rect.x() + 1
        y = rect.y() + (rect.height() - height) // 2
        pill = QRectF(x + 0.5, y + 0.5, width - 1, height - 1)
        radius = pill.height() / 2
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(colors.border, 1))
        painter.setBrush(colors.fill if colors.fill is not None else Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(pill, radius, radius)
        painter.setPen(colors.text)
        inner = pill.adjusted(_PAD_X - 1, 0, -(_PAD_X - 1), 0).toRect()
        elided = metrics.elidedText(shown, Qt.TextElideMode.ElideRight, inner.width())
        painter.drawText(inner, int(Qt.AlignmentFlag.AlignCenter), elided)
        return pill.toRect()
    finally:
        painter.restore()


class StatusPill(QWidget):
    """A standalone badge widget (for cards and headers) that follows the palette."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._status_class = "unknown"
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def set_status(self, text: str, status_class: str) -> None:
        self._text = text
        self._status_class = status_class
        label = STATUS_CLASS_LABELS.get(status_class, "Unknown")
        self.setToolTip(f"Status class: {label}")
        self.setAccessibleName(f"status {pill_text(text, status_class)}, {label}")
        self.updateGeometry()
        self.update()

    def text(self) -> str:
        return pill_text(self._text, self._status_class)

    def status_class(self) -> str:
        return self._status_class

    def sizeHint(self) -> QSize:
        return pill_size(self.fontMetrics(), self.text()) + QSize(2, 2)

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        try:
            paint_pill(
                painter, self.rect(), self._text, self._status_class, dark=is_dark(self.palette())
            )
        finally:
            painter.end()


class StatusPillDelegate(QStyledItemDelegate):
    """Item delegate drawing the cell's display text as a pill coloured by a class role.

    ``class_role`` is the item data role whose value is the status class string.
    """

    def __init__(self, class_role: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._class_role = class_role

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        status_class = index.data(self._class_role)
        if status_class == "":
            return  # nothing to show (the App column of a request never sent to the app)
        paint_pill(
            painter,
            opt.rect.adjusted(4, 1, -4, -1),
            text or "",
            str(status_class or "unknown"),
            dark=is_dark(opt.palette),
            font=opt.font,
        )

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        base = super().sizeHint(option, index)
        text = pill_text(str(index.data() or ""), str(index.data(self._class_role) or ""))
        pill = pill_size(QFontMetrics(option.font), text)
        return QSize(max(base.width(), pill.width() + 8), max(base.height(), pill.height() + 2))
