"""Screenshots of the File menu, the Export dialog and the redaction preview (while the
summary is counted, and once it is), light and dark.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python tests/screenshots/share_shots.py [out_dir]``
(default ``docs/screenshots``) and look at them.  A throwaway session of the catalogue
payloads (5,700 requests, so the count takes long enough to be seen), in a temporary
folder with its own settings.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_TMP = tempfile.TemporaryDirectory()
os.environ["WEBHOOK_INSPECTOR_DATA_DIR"] = str(Path(_TMP.name) / "data")
os.environ["WEBHOOK_INSPECTOR_CONFIG_DIR"] = str(Path(_TMP.name) / "config")

from PySide6.QtCore import QPoint, QSettings  # noqa: E402
from PySide6.QtGui import QPainter, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from inspector.core.session.store import SessionStore  # noqa: E402
from inspector.gui.session_actions import SessionHost  # noqa: E402
from inspector.gui.theme import palette  # noqa: E402
from tests.factories import append_decoded, captured_request  # noqa: E402

CATALOGUE = ROOT / "tests" / "fixtures" / "catalogue"


def settle(app: QApplication, rounds: int = 20) -> None:
    for _ in range(rounds):
        app.processEvents()


def with_popup(window: QWidget, popup: QWidget) -> QPixmap:
    """The window with an open menu painted where it pops up (grab() leaves popups out)."""
    shot = window.grab()
    painter = QPainter(shot)
    at = window.mapFromGlobal(popup.pos())
    painter.drawPixmap(QPoint(max(0, at.x()), max(0, at.y())), popup.grab())
    painter.end()
    return shot


def main(out: Path) -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setStyle("Fusion")
    out.mkdir(parents=True, exist_ok=True)
    session = Path(_TMP.name) / "2026-12-01_093000.whsession"
    store = SessionStore(session)
    files = sorted(CATALOGUE.glob("*.json")) * 300
    reqs = [
        captured_request(f"/{p.stem.split('_')[1]}", p.read_bytes(), seq=i,
                         headers=[("Content-Type", "application/json"),
                                  ("Authorization", "Bearer whsec-live-5f4e3d2c1b0a")])
        for i, p in enumerate(files, 1)
    ]
    append_decoded(store, reqs)
    store.close()
    settings = QSettings(str(Path(_TMP.name) / "window.ini"), QSettings.Format.IniFormat)
    host = SessionHost(port=0, settings=settings)
    window = host.open(session)
    window.resize(1280, 800)
    settle(app)
    for scheme in ("light", "dark"):
        app.setPalette(palette(scheme))
        settle(app)
        window.table.selectRow(3)
        settle(app)
        menu = window.menus_by_name["File"]
        bar = window.menuBar()
        geo = bar.actionGeometry(menu.menuAction())
        menu.popup(bar.mapToGlobal(geo.bottomLeft()))
        settle(app)
        with_popup(window, menu).save(str(out / f"file-menu-{scheme}.png"))
        menu.hide()
        dialog = host.export(selected_only=False)
        assert dialog is not None
        dialog.format.setCurrentIndex(dialog.format.findData("har"))
        dialog.redact.setChecked(True)
        dialog.path.setText("/home/dev/hooks/2026-12-01_093000.har")
        settle(app)
        dialog.grab().save(str(out / f"export-dialog-{scheme}.png"))
        dialog.close()
        share = host.share(selected_only=False)
        assert share is not None
        model = share.model
        for row in (0, 3):
            share.tree.expand(model.index(row, 0))
        share.tree.setCurrentIndex(model.index(2, 0, model.index(3, 0)))
        # Mid-count: the progress bar and the count so far (a real count, caught running).
        while share.counter is not None and share.count_progress.value() < 500:
            app.processEvents()
        settle(app, 3)
        share.grab().save(str(out / f"redaction-counting-{scheme}.png"))
        while share.counter is not None:
            app.processEvents()
        settle(app)
        share.grab().save(str(out / f"redaction-preview-{scheme}.png"))
        share.close()
    host.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
