"""Light and dark palettes and tinted SVG icons (badge colours live in ``status_style``).

The window follows the system colour scheme; ``WEBHOOK_INSPECTOR_THEME=light|dark``
forces one (screenshots, and platforms that do not report a scheme).  Icons are
monochrome SVGs from ``resources/icons`` (shipped as ``inspector.resources``) so they load
the same from a checkout and from an installed wheel; they are tinted with the
palette's text colour and rendered at every device-pixel ratio Qt asks for.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

THEME_ENV = "WEBHOOK_INSPECTOR_THEME"


def wanted_scheme() -> str:
    """``"light"`` or ``"dark"``: the env override, else what the system says."""
    forced = os.environ.get(THEME_ENV, "").strip().lower()
    if forced in ("light", "dark"):
        return forced
    hints = QGuiApplication.styleHints()
    return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"


_ROLE = QPalette.ColorRole

#: The two palettes, role by role.  Dark also greys out disabled text (``_DARK_DISABLED``).
_COLOURS: dict[str, dict[QPalette.ColorRole, str]] = {
    "light": {
        _ROLE.Window: "#f3f4f6",
        _ROLE.WindowText: "#1c1f23",
        _ROLE.Base: "#ffffff",
        _ROLE.AlternateBase: "#f7f8fa",
        _ROLE.ToolTipBase: "#ffffe8",
        _ROLE.ToolTipText: "#1c1f23",
        _ROLE.PlaceholderText: "#80868d",
        _ROLE.Text: "#1c1f23",
        _ROLE.Button: "#e9ebee",
        _ROLE.ButtonText: "#1c1f23",
        _ROLE.BrightText: "#c62828",
        _ROLE.Link: "#1a5fd0",
        _ROLE.Highlight: "#cfe0fb",
        _ROLE.HighlightedText: "#0d1b33",
        _ROLE.Light: "#ffffff",
        _ROLE.Midlight: "#e3e5e8",
        _ROLE.Mid: "#c4c8cd",
        _ROLE.Dark: "#9aa0a6",
        _ROLE.Shadow: "#5f6368",
    },
    "dark": {
        _ROLE.Window: "#202326",
        _ROLE.WindowText: "#e6e8eb",
        _ROLE.Base: "#17191c",
        _ROLE.AlternateBase: "#1e2124",
        _ROLE.ToolTipBase: "#2b2f33",
        _ROLE.ToolTipText: "#e6e8eb",
        _ROLE.PlaceholderText: "#7b8087",
        _ROLE.Text: "#e6e8eb",
        _ROLE.Button: "#2b2f33",
        _ROLE.ButtonText: "#e6e8eb",
        _ROLE.BrightText: "#ff6b6b",
        _ROLE.Link: "#6ea8ff",
        _ROLE.Highlight: "#2f5fa8",
        _ROLE.HighlightedText: "#ffffff",
        _ROLE.Light: "#3a3f44",
        _ROLE.Midlight: "#30353a",
        _ROLE.Mid: "#3f454b",
        _ROLE.Dark: "#111315",
        _ROLE.Shadow: "#000000",
    },
}
_DARK_DISABLED = "#7b8087"


def palette(scheme: str) -> QPalette:
    """The window's palette for ``"light"`` or ``"dark"``."""
    p = QPalette()
    for role, colour in _COLOURS[scheme].items():
        p.setColor(role, QColor(colour))
    if scheme == "dark":
        for role in (_ROLE.Text, _ROLE.ButtonText, _ROLE.WindowText):
            p.setColor(QPalette.ColorGroup.Disabled, role, QColor(_DARK_DISABLED))
    return p


def apply_theme(app: QApplication) -> str:
    """Set the Fusion style and the palette for the wanted scheme; returns the scheme."""
    app.setStyle("Fusion")
    scheme = wanted_scheme()
    app.setPalette(palette(scheme))
    return scheme


@cache
def _icons_dir() -> Traversable:
    try:
        return resources.files("inspector.resources").joinpath("icons")
    except ModuleNotFoundError:  # a source checkout on sys.path shadows the installed mapping
        return Path(__file__).resolve().parents[2] / "resources" / "icons"


@cache
def _svg_source(name: str) -> bytes:
    return _icons_dir().joinpath(f"{name}.svg").read_bytes()


def icon_names() -> list[str]:
    folder = _icons_dir()
    return sorted(p.name.removesuffix(".svg") for p in folder.iterdir() if p.name.endswith(".svg"))


def icon(name: str, color: QColor | None = None) -> QIcon:
    """A crisp icon at 1x-3x: the SVG's black strokes tinted ``color`` (default: palette text)."""
    if color is None:
        color = QGuiApplication.palette().color(QPalette.ColorRole.WindowText)
    src = _svg_source(name)
    if name != "app":
        src = src.replace(b"#000000", color.name().encode())
    renderer = QSvgRenderer(QByteArray(src))
    result = QIcon()
    # The app's own icon also serves task bars and switchers, which ask for large sizes.
    sizes = (16, 24, 32, 48, 64, 128, 256) if name == "app" else (16, 20, 24, 32)
    for size in sizes:
        for ratio in (1.0, 2.0, 3.0) if size <= 32 else (1.0,):
            px = QPixmap(QSize(int(size * ratio), int(size * ratio)))
            px.fill(Qt.GlobalColor.transparent)
            painter = QPainter(px)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            renderer.render(painter, QRectF(0, 0, px.width(), px.height()))
            painter.end()
            px.setDevicePixelRatio(ratio)
            result.addPixmap(px)
    return result
