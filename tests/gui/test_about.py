"""First run, Help > About and Help > Open log folder, and the app's desktop identity."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QLabel, QToolButton

from inspector import APP_ID, __version__
from inspector.gui import about
from inspector.gui.first_run import first_run_lines, sample_command
from inspector.gui.table_model import COLUMN_INDEX


def test_first_run_says_in_three_lines_where_to_send_how_to_tunnel_and_a_sample(window) -> None:
    label = window.empty_label
    assert label.isVisible()
    lines = first_run_lines(window.url)
    assert len(lines) == 3
    text = label.text()
    assert f"<b>{window.url}</b>" in text
    assert "<b>Tunnel</b>" in text
    assert (
        f"<code>{sample_command(window.url)}</code>".replace("'", "&#x27;").replace('"', "&quot;")
        in text
    )
    assert text.count("<br>") == 2


def test_first_run_sample_command_really_records_a_request(window, qtbot) -> None:
    """The sample line is true today: what it sends is recorded and decoded."""
    argv = shlex.split(sample_command(window.url))
    assert argv[0] == "curl" and argv[-1] == f"{window.url}sms"
    if shutil.which("curl"):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and '"ok":true' in done.stdout, done.stderr
    else:  # what curl would send: -H headers, -d body, POST
        import urllib.request

        opts = dict(zip(argv[1:-1:2], argv[2:-1:2], strict=True))
        name, value = opts["-H"].split(": ", 1)
        req = urllib.request.Request(argv[-1], data=opts["-d"].encode(), headers={name: value})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    assert not window.empty_label.isVisible()
    row = window.model.index(0, COLUMN_INDEX["event"])
    assert window.model.data(row) == "sms:message:status"
    assert window.model.data(window.model.index(0, COLUMN_INDEX["status"])) == "DELIVRD"


def test_first_run_names_the_public_url_once_the_tunnel_is_up() -> None:
    lines = first_run_lines("http://127.0.0.1:8765/", "https://abc.ngrok-free.app")
    assert lines[1] == "From the internet, through the tunnel: https://abc.ngrok-free.app"


def test_help_button_has_about_and_open_log_folder(window, qtbot) -> None:
    button = window.toolbar.widgetForAction(window.help_action)
    assert isinstance(button, QToolButton)
    assert button.popupMode() is QToolButton.ToolButtonPopupMode.MenuButtonPopup
    texts = [a.text() for a in button.menu().actions() if not a.isSeparator()]
    assert texts == [
        "Keyboard shortcuts and filter language\tF1",
        "About Webhook Inspector",
        "Open log folder",
    ]
    button.menu().actions()[0].trigger()
    qtbot.waitUntil(lambda: window._help is not None and window._help.isVisible())


def test_about_dialog_names_version_and_folders(window, qtbot) -> None:
    window.about_action.trigger()
    dialog = window.findChild(about.AboutDialog)
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    values = {k: v.text() for k, v in dialog.values.items()}
    session = Path(window.store.path)
    assert values == {
        "Version": __version__,
        "Session": str(session),
        "Session folder": str(session.parent),
        "Config folder": os.environ["WEBHOOK_INSPECTOR_CONFIG_DIR"],
        "Log file": str(Path(os.environ["WEBHOOK_INSPECTOR_LOG_DIR"]) / "webhook-inspector.log"),
    }
    for field in dialog.findChildren(QLabel):
        if field in dialog.values.values():
            assert field.textFormat() is Qt.TextFormat.PlainText
    window.about_action.trigger()  # a second time: the same dialog, not a new one
    assert len(window.findChildren(about.AboutDialog)) == 1
    dialog.close()


def test_open_log_folder_opens_the_log_dir_in_the_file_manager(window, monkeypatch) -> None:
    opened: list[QUrl] = []
    monkeypatch.setattr(about.QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    log_dir = Path(os.environ["WEBHOOK_INSPECTOR_LOG_DIR"])
    assert not log_dir.exists()
    window.open_log_action.trigger()
    assert [u.toLocalFile() for u in opened] == [str(log_dir)]
    assert log_dir.is_dir()


def test_the_running_app_carries_the_desktop_entry_identity(tmp_path: Path) -> None:
    """Task bars match the window to its entry by WM_CLASS (X11) or desktop file name."""
    code = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication(sys.argv[:1])\n"
        "def report():\n"
        "    w = [t for t in app.topLevelWidgets() if t.objectName() == 'mainWindow'][0]\n"
        "    sizes = sorted(s.width() for s in app.windowIcon().availableSizes())\n"
        "    print(app.applicationName(), app.applicationDisplayName(), app.desktopFileName(),\n"
        "          sizes[-1], w.windowIcon().isNull(), sep='|')\n"
        "    print(w.windowTitle())\n"
        "    app.quit()\n"
        "QTimer.singleShot(800, report)\n"
        "from inspector.cli import main\n"
        f"raise SystemExit(main(['--port', '0', '--session', {str(tmp_path / 'id.whsession')!r}]))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    facts, title = done.stdout.splitlines()[:2]
    assert facts == f"webhook-inspector|Webhook Inspector|{APP_ID}|256|False"
    assert title == "id.whsession \u2014 Webhook Inspector"


def test_snapshot_hook_saves_the_shown_window_and_quits(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "WEBHOOK_INSPECTOR_SNAPSHOT": str(shot)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "--port",
            "0",
            "--session",
            str(tmp_path / "s.whsession"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    from tests.test_desktop_files import png_size

    width, height = png_size(shot)
    assert width > 600 and height > 400
    assert not shot.with_name("shot.png.part").exists()
