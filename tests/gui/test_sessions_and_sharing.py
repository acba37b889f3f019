"""The menus, the session commands, the export and share dialogs, on real windows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication, QKeySequence

from inspector.core.session.store import SessionStore
from inspector.gui.session_actions import SessionHost, crashed_session, recent_sessions
from tests.gui.conftest import append, catalogue_requests, post

pytestmark = pytest.mark.gui


def filled(path: Path, n: int = 1) -> Path:
    store = SessionStore(path)
    append(store, catalogue_requests() * n)
    store.close()
    return path


def _menu_texts(menu) -> list[str]:
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


def test_menu_bar_and_shortcuts(host: SessionHost, tmp_path: Path) -> None:
    window = host.open(filled(tmp_path / "a.whsession"))
    menus = window.menus_by_name
    assert [m.title().replace("&", "") for m in window.menuBar().findChildren(type(menus["File"]))
            if m.title() in ("&File", "&Edit", "&View", "&Help")] == ["File", "Edit", "View", "Help"]
    file_items = _menu_texts(menus["File"])
    assert file_items[:3] == ["New Session", "Open Session…", "Open Recent"]
    assert "Save a Copy As…" in file_items and file_items[-1] == "Quit"
    actions = window.actions_by_name
    assert actions["new_session"].shortcut() == QKeySequence(QKeySequence.StandardKey.New)
    assert actions["open_session"].shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert actions["save_copy"].shortcut() == QKeySequence("Ctrl+Shift+S")
    # Quit is the window's own action (Ctrl+Q and the platform's keys), bound once.
    assert window.action_quit in menus["File"].actions()
    assert QKeySequence("Ctrl+Q") in window.action_quit.shortcuts()
    assert window.pause_action in menus["View"].actions()
    assert window.help_action in menus["Help"].actions()
    assert window.windowTitle() == "a.whsession — Webhook Inspector"


def test_row_context_menu_acts_on_the_selection(host: SessionHost, tmp_path: Path, qtbot) -> None:
    window = host.open(filled(tmp_path / "a.whsession"))
    qtbot.waitUntil(lambda: window.model.rowCount() == 19)
    menu = window.row_menu
    texts = _menu_texts(menu)
    assert texts[:4] == ["Copy as curl", "Copy for Issue Tracker", "Export Selected…",
                         "Share Selected for Bug Report…"]
    assert [t.split("\t")[0] for t in texts[4:]] == ["Replay", "Edit and replay…", "Replay to…"]
    commands = [a for a in menu.actions() if not a.isSeparator()]
    assert not any(a.isEnabled() for a in commands)
    window.table.selectRow(10)  # the voice call record
    assert all(a.isEnabled() for a in commands)
    window.actions_by_name["copy_curl"].trigger()
    text = QGuiApplication.clipboard().text()
    assert text.count("curl -sS") == 1 and "/voice" in text and "918919521234" in text
    window.actions_by_name["copy_tracker"].trigger()
    md = QGuiApplication.clipboard().text()
    assert md.startswith("| # | Time (UTC) |") and "voice:message:out" in md
    assert "918919521234" not in md and "918867131234" not in md


def test_copies_of_too_many_requests_are_refused_in_a_line(
    host: SessionHost, tmp_path: Path, qtbot, monkeypatch
) -> None:
    """Copies are built on the window's thread: past the limit the window says what to do
    instead of freezing on a clipboard of megabytes."""
    import inspector.gui.share_dialog as share_dialog

    monkeypatch.setattr(share_dialog, "COPY_LIMIT", 2)
    window = host.open(filled(tmp_path / "a.whsession"))
    qtbot.waitUntil(lambda: window.model.rowCount() == 19)
    QGuiApplication.clipboard().setText("before")
    window.table.selectAll()
    for name in ("copy_curl", "copy_tracker"):
        window.actions_by_name[name].trigger()
        assert QGuiApplication.clipboard().text() == "before"
        assert host.last_message == (
            "19 requests are too many for the clipboard (at most 2): select fewer, or save "
            "them with Share for Bug Report or Export"
        )
    window.table.clearSelection()
    window.table.selectRow(3)
    window.table.selectRow(4)
    window.actions_by_name["copy_curl"].trigger()
    assert QGuiApplication.clipboard().text().count("curl -sS") == 1


def test_new_session_keeps_the_port_and_names_the_title(host: SessionHost, tmp_path: Path) -> None:
    first = host.open(tmp_path / "first.whsession")
    url = first.url
    assert host.new_session()
    second = host.current.window
    assert second is not first and second.url == url
    assert second.windowTitle().endswith(".whsession — Webhook Inspector")
    assert post(url, "/sms", b"{}") == 200
    assert recent_sessions(host.settings)[1] == tmp_path / "first.whsession"


def test_reopen_keeps_capturing_into_it_and_crash_marker(host: SessionHost, tmp_path: Path,
                                                         qtbot) -> None:
    path = filled(tmp_path / "y.whsession")
    window = host.open(path)
    assert crashed_session(host.settings) == path  # open: a crash now would offer it
    assert post(window.url, "/sms", b"{}") == 200
    qtbot.waitUntil(lambda: window.model.rowCount() == 20)
    host.shutdown()
    assert crashed_session(host.settings) is None


def test_foreign_session_is_shown_read_only_and_never_written(host: SessionHost, tmp_path: Path,
                                                             qtbot) -> None:
    path = filled(tmp_path / "theirs.whsession")
    os.chown(path, 4321, -1) if os.geteuid() == 0 else os.chmod(path, 0o444)
    before = path.read_bytes()
    window = host.open(path)
    assert host.current.read_only and host.current.engine is None
    assert window.windowTitle().endswith("(read-only) — Webhook Inspector")
    assert "never written" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.model.rowCount() == 19)
    host.shutdown()
    assert path.read_bytes() == before


def test_save_a_copy_while_capturing(host: SessionHost, tmp_path: Path, qtbot) -> None:
    window = host.open(tmp_path / "live.whsession")
    for _ in range(30):
        post(window.url, "/sms", b'{"id": "x"}')
    copy = tmp_path / "copy.whsession"
    with qtbot.waitSignal(host.copy_finished, timeout=20000) as done:
        assert host.save_copy(copy) is not None
    assert done.args == [True] and host.last_message == f"Saved a copy of the session to {copy}"
    assert host.save_copy(tmp_path / "live.whsession") is None
    store = SessionStore(copy)
    assert store.count() == 30
    store.close()


def test_export_dialog_selected_rows_to_har(host: SessionHost, tmp_path: Path, qtbot) -> None:
    window = host.open(filled(tmp_path / "e.whsession"))
    qtbot.waitUntil(lambda: window.model.rowCount() == 19)
    window.table.selectRow(0)
    window.table.selectionModel().select(
        window.model.index(2, 0), window.table.selectionModel().SelectionFlag.Select
        | window.table.selectionModel().SelectionFlag.Rows)
    dialog = host.export(selected_only=True)
    assert dialog is not None and dialog.scope_selected.isChecked()
    dialog.format.setCurrentIndex(dialog.format.findData("har"))
    out = tmp_path / "two.har"
    dialog.path.setText(str(out))
    with qtbot.waitSignal(dialog.exported, timeout=20000):
        dialog.export_button.click()
    entries = json.loads(out.read_text())["log"]["entries"]
    assert [e["_webhook"]["event"] for e in entries] == ["sms:message:status",
                                                         "whatsapp:message:status"]
    assert "Exported 2 request(s)" in host.last_message


def test_export_dialog_refuses_the_session_and_cancel_leaves_nothing(
    host: SessionHost, tmp_path: Path, qtbot
) -> None:
    path = filled(tmp_path / "big.whsession", 150)
    window = host.open(path)
    dialog = host.export(selected_only=False)
    dialog.scope_all.setChecked(True)
    dialog.path.setText(str(path))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=20000)
    assert "session" in dialog.message.text()
    out = tmp_path / "never.jsonl"
    dialog.path.setText(str(out))
    dialog.export_button.click()
    assert dialog.progress.isVisible() and dialog.worker is not None
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=20000)
    assert dialog.message.text() == "Cancelled; nothing was written."
    assert not out.exists() and not list(tmp_path.glob(".export-*"))
    assert window.model.rowCount() == 19 * 150


def preview_lines(dialog, row: int) -> list[list[str]]:  # noqa: ANN001 - the dialog
    """The cells of one request's changes in the share dialog's preview."""
    model = dialog.model
    top = model.index(row, 0)
    return [[model.index(i, c, top).data() for c in range(5)] for i in range(model.rowCount(top))]


def test_share_dialog_previews_every_change_and_writes_the_same_masks(
    host: SessionHost, tmp_path: Path, qtbot
) -> None:
    window = host.open(filled(tmp_path / "s.whsession"))
    qtbot.waitUntil(lambda: window.model.rowCount() == 19)
    dialog = host.share(selected_only=False)
    assert dialog.model.rowCount() == 19
    rows = preview_lines(dialog, 10)
    bridge = next(r for r in rows if r[1] == "body bridge")
    assert bridge[2] == "phone" and bridge[3] == "918068281234" and bridge[4].startswith("91XXXX")
    qtbot.waitUntil(lambda: dialog.full_summary is not None, timeout=20000)
    assert "phone numbers" in dialog.summary.text() and dialog.change_count() > 100
    out = tmp_path / "shared.har"
    with qtbot.waitSignal(dialog.exported, timeout=20000):
        dialog.save(out)
    text = out.read_text()
    assert "918068281234" not in text and bridge[4] in text
    entry = json.loads(text)["log"]["entries"][10]
    assert f'"bridge": "{bridge[4]}"' in entry["request"]["postData"]["text"]
    assert dialog.summary.text() in dialog.message.text()  # the file says what the count said


def test_share_dialog_user_keys_and_kept_values(host: SessionHost, tmp_path: Path, qtbot) -> None:
    window = host.open(filled(tmp_path / "k.whsession"))
    qtbot.waitUntil(lambda: window.model.rowCount() == 19)
    dialog = host.share(selected_only=False)
    dialog.keep_values.setText("918068281234")
    dialog.extra_keys.setText("flow_id, source")
    dialog.refresh()
    rows = preview_lines(dialog, 10)
    assert not any(r[3] == "918068281234" for r in rows)
    assert any(r[1] == "body source" and r[3] == "OBD" for r in rows)


def test_dropping_a_har_imports_it_into_a_new_session(host: SessionHost, tmp_path: Path,
                                                      qtbot) -> None:
    from tests.conftest import FIXTURES

    first = host.open(tmp_path / "start.whsession")
    host.dropped_paths([FIXTURES / "har" / "chrome.har"])
    qtbot.waitUntil(lambda: host.current is not None and host.current.window is not first,
                    timeout=20000)
    window = host.current.window
    qtbot.waitUntil(lambda: window.model.rowCount() == 2)
    assert "Imported 2 request(s) from chrome.har" in host.last_message
