"""The share dialog's preview over thousands of requests: lazy rows, the summary counted on
a thread while the window goes on, and the file's masks the preview showed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer

from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import open_existing
from inspector.core.share.selection import Selection
from inspector.gui.share_dialog import RedactionPreviewModel, ShareDialog
from tests.factories import captured_request
from tests.share.conftest import catalogue_requests

pytestmark = pytest.mark.gui

MakeSession = Callable[[list[CapturedRequest]], Path]
N = 5000


def many(n: int) -> list[CapturedRequest]:
    out: list[CapturedRequest] = []
    while len(out) < n:
        out.extend(catalogue_requests())
    return out[:n]


@pytest.fixture(scope="module")
def big_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5,000 catalogue requests, made once for this module's tests."""
    from inspector.core.session.store import SessionStore
    from tests.factories import append_decoded

    path = tmp_path_factory.mktemp("preview") / "big.whsession"
    store = SessionStore(path)
    requests = many(N)
    for i, r in enumerate(requests, 1):
        r.seq = i
    append_decoded(store, requests)
    store.close()
    return path


def changes(model: RedactionPreviewModel, row: int) -> list[list[str]]:
    top = model.index(row, 0)
    return [[model.index(i, c, top).data() for c in range(5)] for i in range(model.rowCount(top))]


def open_dialog(qtbot: Any, session: Path, selection: Selection | None = None) -> ShareDialog:
    dialog = ShareDialog(session, selection or Selection())
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_every_request_is_a_row_and_the_summary_counts_them_all(qtbot: Any, big_session: Path) -> None:
    seen: list[str] = []
    ticks = [0]
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    dialog = open_dialog(qtbot, big_session)
    timer.start()
    model = dialog.model
    assert model.rowCount() == N  # known at once
    assert dialog.counter is not None and dialog.counter.isRunning()
    assert dialog.save_button.isEnabled() and dialog.copy_button.isEnabled()
    dialog.counter.progressed.connect(lambda *_: seen.append(dialog.summary.text()))
    # The last request, expanded: its changes are there, redacted on demand.
    last = model.index(N - 1, 0)
    dialog.tree.expand(last)
    dialog.tree.scrollTo(model.index(0, 0, last))
    qtbot.wait(20)
    assert dialog.tree.isExpanded(last) and model.rowCount(last) > 0
    assert model.index(N - 1, 0).data() == f"#{N}"
    assert model.redacted < 200  # rows are made where looked at, not all of them
    with qtbot.waitSignal(dialog.counted, timeout=120000) as counted:
        pass
    ticks_at_end = ticks[0]
    timer.stop()
    summary = dialog.full_summary
    assert summary is not None and summary.rows == N
    assert dialog.summary.text() == summary.sentence() == counted.args[0]
    assert f"in {N} request(s)" in summary.sentence()
    assert any("counting" in t and f"of {N:,}" in t for t in seen)
    assert ticks_at_end >= 10  # the GUI thread went on while the count ran
    assert not dialog.count_progress.isVisible()
    dialog.close()


def test_the_preview_masks_are_the_files_far_apart(qtbot: Any, big_session: Path,
                                                  tmp_path: Path) -> None:
    dialog = open_dialog(qtbot, big_session)
    model = dialog.model
    shown = {row: changes(model, row) for row in (0, N // 2, N - 1)}
    out = tmp_path / "shared.har"
    with qtbot.waitSignal(dialog.exported, timeout=120000):
        dialog.save(out)  # while the count may still run
    entries = json.loads(out.read_text())["log"]["entries"]
    assert len(entries) == N
    for row, lines in shown.items():
        written = [[c["where"], c["kind"], c["mask"]] for c in entries[row]["_redacted"]["changes"]]
        assert written and [[w, k, m] for _r, w, k, _o, m in lines] == written
    assert dialog.full_summary is not None  # the file's own summary ended the count
    assert dialog.summary.text() in dialog.message.text()
    dialog.close()


def test_update_preview_restarts_with_new_masks_and_close_cancels(qtbot: Any,
                                                                  big_session: Path) -> None:
    dialog = open_dialog(qtbot, big_session)
    first_masks = [r[4] for r in changes(dialog.model, 3)]
    first_counter = dialog.counter
    dialog.keep_values.setText("918068281234")
    dialog.refresh()
    assert first_counter is not None and first_counter.isFinished()
    assert dialog.counter is not None and dialog.counter is not first_counter
    assert dialog.model.rowCount() == N
    again = [r[4] for r in changes(dialog.model, 3)]
    assert again and set(again).isdisjoint(first_masks)  # a new key
    counter = dialog.counter
    dialog.close()
    assert counter.isFinished() and dialog.counter is None


def test_scrolling_keeps_a_bounded_number_of_rows(qtbot: Any, big_session: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import inspector.gui.share_dialog as share_dialog

    monkeypatch.setattr(share_dialog, "MAX_HELD_LINES", 500)
    dialog = open_dialog(qtbot, big_session)
    model = dialog.model
    bar = dialog.tree.verticalScrollBar()
    for value in range(0, bar.maximum() + 1, max(1, bar.maximum() // 40)):
        bar.setValue(value)
        qtbot.wait(1)
    assert model.redacted > 500 and model.held_lines() <= 500 + 40
    first = changes(model, 0)  # dropped from the cache long ago: redacted again, same masks
    assert first == changes(model, 0) and first[0][4]
    dialog.close()


def test_the_model_passes_the_model_tester(qtmodeltester: Any, make_session: MakeSession) -> None:
    session = make_session(catalogue_requests())
    conn = open_existing(session)
    try:
        from inspector.core.share.redact import Redactor

        model = RedactionPreviewModel(conn, Selection(), Redactor())
        qtmodeltester.check(model)
        assert model.rowCount() == 19
    finally:
        conn.close()


def test_hostile_text_is_plain_in_cells_and_tooltips(qtbot: Any, make_session: MakeSession) -> None:
    hostile = "<img src=/dev/zero><b>bold</b> " + "x" * 300
    body = json.dumps({"event": "sms:message:in", "payload": {"text": hostile,
                                                              "from": "919845012345"}})
    session = make_session([captured_request("/sms", body.encode(), seq=0)])
    dialog = open_dialog(qtbot, session)
    model = dialog.model
    top = model.index(0, 0)
    rows = [i for i in range(model.rowCount(top))
            if model.index(i, 3, top).data().startswith("<img")]
    assert rows
    cell = model.index(rows[0], 3, top)
    assert len(cell.data()) <= 120
    tip = cell.data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("<p style='white-space:pre-wrap'>&lt;img src=/dev/zero&gt;&lt;b&gt;")
    assert dialog.summary.textFormat() == Qt.TextFormat.PlainText
    dialog.close()


def test_copy_for_issue_tracker_of_too_many_requests_says_so(
    qtbot: Any, big_session: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.clipboard().setText("before")
    dialog = open_dialog(qtbot, big_session)
    dialog.copy_button.click()  # 5,000 requests: more than the clipboard takes
    assert QGuiApplication.clipboard().text() == "before"
    assert dialog.message.text() == (
        "5,000 requests are too many for the clipboard (at most 1,000): select fewer, or "
        "save them with Save Redacted HAR"
    )
    dialog.close()
    few = open_dialog(qtbot, big_session, Selection.of_ids([1, 2]))
    few.copy_button.click()
    assert QGuiApplication.clipboard().text().startswith("| # | Time (UTC) |")
    few.close()
