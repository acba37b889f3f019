"""Byte counts as the window shows them: one formatter, binary units (KiB, MiB, GiB).

The table said "KB" and the detail pane "KiB" for the same body; every size on screen
now comes from :func:`format_size`.
"""

from __future__ import annotations


def format_size(n: int) -> str:
    """``512 B``, ``1.5 KiB``, ``25.0 MiB``, ``2.0 GiB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
