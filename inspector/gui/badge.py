"""Paints the status column as a pill coloured by status class.

The text is the provider's own status (``DELIVRD``, ``read``...) so nothing is
lost in translation; the colour says what it means (success green, pending blue,
failure red, inbound purple, opt-out amber, info grey, unknown outlined).  The
colours and the pill itself come from :mod:`inspector.gui.status_style`, shared
with the detail pane, so a badge looks the same in the table and in the card.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize
from PySide6.QtGui import QFontMetrics, QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from inspector.core.store import RowSummary
from inspector.gui.status_style import is_dark, paint_pill, pill_size, pill_text
from inspector.gui.table_model import ROLE_SUMMARY

_MARGIN_X = 4
_MARGIN_Y = 2


class BadgeDelegate(QStyledItemDelegate):
    """Draws the row's status pill over the normal cell background (selection included)."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        summary = index.data(ROLE_SUMMARY)
        if not isinstance(summary, RowSummary):
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        paint_pill(
            painter,
            opt.rect.adjusted(_MARGIN_X, _MARGIN_Y, -_MARGIN_X, -_MARGIN_Y),
            summary.status,
            summary.status_class,
            dark=is_dark(opt.palette),
            font=opt.font,
        )

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        base = super().sizeHint(option, index)
        summary = index.data(ROLE_SUMMARY)
        if not isinstance(summary, RowSummary):
            return base
        pill = pill_size(QFontMetrics(option.font), pill_text(summary.status, summary.status_class))
        return QSize(
            pill.width() + 2 * _MARGIN_X, max(base.height(), pill.height() + 2 * _MARGIN_Y)
        )
