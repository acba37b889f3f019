"""Column titles for the window's item models that show a fixed row of them."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt


def column_title(
    columns: Sequence[str], section: int, orientation: Qt.Orientation, role: int
) -> str | None:
    """``headerData`` for a model whose horizontal header is ``columns``."""
    if (
        orientation == Qt.Orientation.Horizontal
        and role == Qt.ItemDataRole.DisplayRole
        and 0 <= section < len(columns)
    ):
        return columns[section]
    return None
