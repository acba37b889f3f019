"""Renders the application icon's PNG sizes from its SVG with Qt's own SVG renderer.

The SVG (resources/icons/app.svg) is the one source: the window uses it, the desktop entry
installs it as the scalable icon, and menus that want bitmaps get these PNGs. Run after
changing the SVG, and commit the result:

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/linux/make_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "resources" / "icons" / "app.svg"
OUT = Path(__file__).resolve().parent / "icons" / "hicolor"
SIZES = (16, 24, 32, 48, 64, 128, 256)

sys.path.insert(0, str(ROOT))
from inspector import APP_ID  # noqa: E402


def render(size: int) -> QImage:
    renderer = QSvgRenderer(QByteArray(SOURCE.read_bytes()))
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for size in SIZES:
        path = OUT / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not render(size).save(str(path)):
            print(f"error: cannot write {path}", file=sys.stderr)
            return 1
        print(path.relative_to(ROOT))
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
