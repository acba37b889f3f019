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


def _dark_palette() -> QPalette:
    p = QPalette()
    window = QColor("#202326")
    base = QColor("#17191c")
    text = QColor("#e6e8eb")
    disabled = QColor("#7b8087")
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor("#1e2124"),
        QPalette.ColorRole.ToolTipBase: QColor("#2b2f33"),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: disabled,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#2b2f33"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor("#ff6b6b"),
        QPalette.ColorRole.Link: QColor("#6ea8ff"),
        QPalette.ColorRole.Highlight: QColor("#2f5fa8"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Light: QColor("#3a3f44"),
        QPalette.ColorRole.Midlight: QColor("#30353a"),
        QPalette.ColorRole.Mid: QColor("#3f454b"),
        QPalette.ColorRole.Dark: QColor("#111315"),
        QPalette.ColorRole.Shadow: QColor("#000000"),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def _light_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: QColor("#f3f4f6"),
        QPalette.ColorRole.WindowText: QColor("#1c1f23"),
        QPalette.ColorRole.Base: QColor("#ffffff"),
        QPalette.ColorRole.AlternateBase: QColor("#f7f8fa"),
        QPalette.ColorRole.ToolTipBase: QColor("#ffffe8"),
        QPalette.ColorRole.ToolTipText: QColor("#1c1f23"),
        QPalette.ColorRole.PlaceholderText: QColor("#80868d"),
        QPalette.ColorRole.Text: QColor("#1c1f23"),
        QPalette.ColorRole.Button: QColor("#e9ebee"),
        QPalette.ColorRole.ButtonText: QColor("#1c1f23"),
        QPalette.ColorRole.BrightText: QColor("#c62828"),
        QPalette.ColorRole.Link: QColor("#1a5fd0"),
        QPalette.ColorRole.Highlight: QColor("#cfe0fb"),
        QPalette.ColorRole.HighlightedText: QColor("#0d1b33"),
        QPalette.ColorRole.Light: QColor("#ffffff"),
        QPalette.ColorRole.Midlight: QColor("#e3e5e8"),
        QPalette.ColorRole.Mid: QColor("#c4c8cd"),
        QPalette.ColorRole.Dark: QColor("#9aa0a6"),
        QPalette.ColorRole.Shadow: QColor("#5f6368"),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    return p


def apply_theme(app: QApplication) -> str:
    """Set the Fusion style and the palette for the wanted scheme; returns the scheme."""
    app.setStyle("Fusion")
    scheme = wanted_scheme()
    app.setPalette(_dark_palette() if scheme == "dark" else _light_palette())
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
    for size in (16, 20, 24, 32):
        for ratio in (1.0, 2.0, 3.0):
            px = QPixmap(QSize(int(size * ratio), int(size * ratio)))
            px.fill(Qt.GlobalColor.transparent)
            painter = QPainter(px)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            renderer.render(painter, QRectF(0, 0, px.width(), px.height()))
            painter.end()
            px.setDevicePixelRatio(ratio)
            result.addPixmap(px)
    return result
