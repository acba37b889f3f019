"""Byte counts in words, binary units: one formatter for warnings, messages and the window.

Sits beside the wings (every layer may use it; it uses none of them).
"""

from __future__ import annotations


def format_size(n: int, *, byte_unit: str = "B") -> str:
    """``512 B``, ``1.5 KiB``, ``25.0 MiB``, ``2.0 GiB`` (``byte_unit="bytes"`` for sentences:
    ``1000 bytes``)."""
    if n < 1024:
        return f"{n} {byte_unit}"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def human_size(n: int) -> str:
    """How limits and sizes are written in warnings and messages: ``1000 bytes``, ``1.5 KiB``."""
    return format_size(n, byte_unit="bytes")
