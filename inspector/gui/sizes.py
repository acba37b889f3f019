"""Byte counts as the window shows them: binary units (KiB, MiB, GiB), from the core's one
formatter, so the table and the detail pane never disagree ("KB" against "KiB")."""

from __future__ import annotations

from inspector.core.sizes import format_size

__all__ = ["format_size"]
