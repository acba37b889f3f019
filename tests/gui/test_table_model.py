"""EventTableModel and RowBridge: SQL-backed pages, batched inserts, bounded caches."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QStyleOptionViewItem, QTableView

from inspector.core.provider.catalogue import STATUS_CLASSES
from inspector.core.session.query import compile_query
from inspector.core.session.store import RowSummary, SessionStore
from inspector.gui import table_model as tm
from inspector.gui.bridge import RowBridge
from inspector.gui.status_style import StatusPillDelegate, status_colors
from inspector.gui.table_model import COLUMN_INDEX, ROLE_CLASS, ROLE_SUMMARY, EventTableModel

from .conftest import append, catalogue_requests


@pytest.fixture
def model(store: SessionStore, qtmodeltester) -> EventTableModel:  # noqa: ANN001
    m = EventTableModel(store)
    qtmodeltester.check(m)
    yield m
    m.close()


def _col(model: EventTableModel, key: str) -> list[str]:
    c = COLUMN_INDEX[key]
    return [model.index(r, c).data() for r in range(model.rowCount())]


def test_model_passes_the_model_tester_with_catalogue_rows(store, qtmodeltester) -> None:
    append(store, catalogue_requests())
    m = EventTableModel(store)
    try:
        qtmodeltester.check(m)
        assert m.rowCount() == 19
        assert _col(m, "event")[0] == "sms:message:status"
        assert _col(m, "product")[16] == "Interact"
        assert _col(m, "status")[1] == "Unsubscriber created successfully"
        assert _col(m, "status")[3] == "inbound"
        assert _col(m, "warning")[0] == "\u26a0"
        assert (
            m.index(0, COLUMN_INDEX["warning"])
            .data(Qt.ItemDataRole.ToolTipRole)
            .startswith("1 warning")
        )
        assert _col(m, "size")[0] == "287 B"
    finally:
        m.close()


def test_arrivals_are_one_insert_per_batch_at_the_end(store, model, qtbot) -> None:
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    rows = append(store, catalogue_requests()[:5])
    assert model.append_rows(rows) == 5
    rows = append(store, catalogue_requests()[5:12])
    model.append_rows(rows)
    assert inserted == [(0, 4), (5, 11)]
    assert model.rowCount() == 12
    assert model.append_rows(rows) == 0  # already counted: nothing twice


def test_arrivals_respect_the_filter(store, model) -> None:
    model.set_query(compile_query("product:rcs"))
    assert model.rowCount() == 0
    model.append_rows(append(store, catalogue_requests()))
    assert _col(model, "product") == ["RCS"] * 4


def test_newest_first_inserts_at_the_top(store, model) -> None:
    model.append_rows(append(store, catalogue_requests()[:3]))
    model.sort(0, Qt.SortOrder.DescendingOrder)
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    model.append_rows(append(store, catalogue_requests()[3:5]))
    assert inserted == [(0, 1)]
    ids = [model.id_at(r) for r in range(model.rowCount())]
    assert ids == sorted(ids, reverse=True)


def test_sorting_by_a_column_runs_in_sql_and_resorts_on_arrival(store, model, qtbot) -> None:
    model.append_rows(append(store, catalogue_requests()))
    model.sort(COLUMN_INDEX["event"], Qt.SortOrder.AscendingOrder)
    events = _col(model, "event")
    assert events == sorted(events)
    model.sort(COLUMN_INDEX["size"], Qt.SortOrder.DescendingOrder)
    sizes = [model.summary_at(r).body_size for r in range(model.rowCount())]
    assert sizes == sorted(sizes, reverse=True)
    with qtbot.waitSignal(model.modelReset, timeout=3000):
        model.append_rows(append(store, [("/x", b"x" * 5000)]))
    assert model.rowCount() == 20
    assert model.summary_at(0).body_size == 5000


def test_hide_rows_and_clear_view_keep_the_session(store, model) -> None:
    model.append_rows(append(store, catalogue_requests()))
    gone = {model.id_at(2), model.id_at(3), model.id_at(7)}
    model.hide_rows([2, 3, 7])
    assert model.rowCount() == 16
    assert gone.isdisjoint(model.id_at(r) for r in range(16))
    model.set_query(compile_query("product:whatsapp"))
    assert model.rowCount() == 2  # 3 whatsapp rows, one of them removed from the view
    model.set_query(compile_query(""))
    model.clear_view()
    assert model.rowCount() == 0
    assert store.count() == 19
    model.append_rows(append(store, catalogue_requests()[:2]))
    assert model.rowCount() == 2


def test_row_of_finds_a_request_under_filter_and_sort(store, model) -> None:
    model.append_rows(append(store, catalogue_requests()))
    model.sort(COLUMN_INDEX["event"], Qt.SortOrder.DescendingOrder)
    for row in range(model.rowCount()):
        assert model.row_of(model.id_at(row)) == row
    model.set_query(compile_query("class:inbound"))
    assert model.row_of(1) is None


def test_caches_stay_bounded_over_a_large_session(store, qtmodeltester, monkeypatch) -> None:
    monkeypatch.setattr(tm, "MAX_SUMMARIES", 300)
    monkeypatch.setattr(tm, "MAX_PAGES", 3)
    items = catalogue_requests()
    for _ in range(20):
        append(store, items * 10)
    m = EventTableModel(store)
    try:
        assert m.rowCount() == 19 * 200
        seen = set()
        for row in range(0, m.rowCount(), 7):
            seen.add(m.index(row, 0).data())
            pages, summaries = m.cache_sizes()
            assert pages <= 3 and summaries <= 300
        assert m.summary_at(m.rowCount() - 1).id == store.count()
    finally:
        m.close()


def test_stress_many_batches_through_the_bridge(store, qtbot, qtmodeltester) -> None:
    """A writer thread hammering the bridge: few, large inserts and every row accounted for."""
    model = EventTableModel(store)
    qtmodeltester.check(model)
    bridge = RowBridge(interval_ms=50)
    inserts: list[int] = []
    model.rowsInserted.connect(lambda _p, a, b: inserts.append(b - a + 1))
    bridge.rows_appended.connect(model.append_rows)
    bridge.attach(store)
    items = catalogue_requests()
    batches = 300

    def writer() -> None:
        for i in range(batches):
            append(store, [items[i % len(items)], items[(i + 3) % len(items)]])

    t = threading.Thread(target=writer, name="stress-writer")
    try:
        t.start()
        qtbot.waitUntil(lambda: not t.is_alive() and model.rowCount() == 2 * batches, timeout=30000)
        assert sum(inserts) == 2 * batches
        assert len(inserts) < batches / 2  # coalesced: not one insert per commit
        ids = [model.id_at(r) for r in range(model.rowCount())]
        assert ids == list(range(1, 2 * batches + 1))
    finally:
        t.join()
        bridge.detach()
        model.close()


def _paint_badge(summary_class: str, status: str, dark: bool) -> tuple[QImage, QRect]:
    from PySide6.QtCore import QAbstractListModel, QModelIndex

    summary = RowSummary(
        1,
        1,
        0,
        "POST",
        "/x",
        "",
        "e",
        "sms",
        status,
        summary_class,
        "",
        "",
        "",
        "",
        0,
        0,
        200,
        False,
        "",
        "",
    )

    class One(QAbstractListModel):
        def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008, ANN001
            return 1

        def data(self, index, role=Qt.ItemDataRole.DisplayRole):  # noqa: ANN001, ANN201
            if role == ROLE_SUMMARY:
                return summary
            if role == ROLE_CLASS:
                return summary.status_class
            return status if role == Qt.ItemDataRole.DisplayRole else None

    model = One()
    view = QTableView()
    palette = QPalette(QColor("#202326")) if dark else QPalette(QColor("#f3f4f6"))
    palette.setColor(QPalette.ColorRole.Base, QColor("#17191c") if dark else QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.Window, QColor("#202326") if dark else QColor("#f3f4f6"))
    palette.setColor(
        QPalette.ColorRole.WindowText, QColor("#e6e8eb") if dark else QColor("#1c1f23")
    )
    image = QImage(200, 28, QImage.Format.Format_ARGB32)
    image.fill(palette.color(QPalette.ColorRole.Base))
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, 200, 28)
    option.palette = palette
    option.widget = view
    painter = QPainter(image)
    StatusPillDelegate(ROLE_CLASS).paint(painter, option, model.index(0))
    painter.end()
    view.deleteLater()
    return image, QRect(0, 0, 200, 28)


@pytest.mark.parametrize("dark", [False, True])
@pytest.mark.parametrize("status_class", STATUS_CLASSES)
def test_badge_colour_per_status_class(qapp, status_class: str, dark: bool) -> None:
    image, rect = _paint_badge(status_class, "x", dark)
    expected = status_colors(status_class, dark)
    # inside the pill, left of the text: the class fill (or the background if outlined)
    sample = image.pixelColor(rect.x() + 4 + 6, rect.center().y())
    if expected.fill is not None:
        assert sample.name() == expected.fill.name()
    else:
        background = image.pixelColor(rect.width() - 2, rect.center().y())
        assert sample.name() == background.name()
        border = image.pixelColor(rect.x() + 5, rect.center().y())
        assert border.name() != background.name()


def test_tunnelled_rows_carry_a_marker_and_the_client_address(store, model) -> None:
    import time

    from inspector.core.provider.decoder import EventDecoder
    from inspector.core.session.record import CapturedRequest

    decoder = EventDecoder()
    batch = []
    for via, client in ((False, ""), (True, "203.0.113.9")):
        headers = [("Content-Type", "application/json")]
        if via:
            headers.append(("X-Forwarded-For", client))
        body = catalogue_requests()[0][1]
        req = CapturedRequest(
            seq=store.take_seq(),
            received_us=time.time_ns() // 1000,
            method="POST",
            path="/sms",
            query="",
            http_version="1.1",
            remote="127.0.0.1",
            headers=headers,
            body=body,
            via_tunnel=via,
            client_addr=client,
        )
        batch.append((req, decoder.decode("POST", "/sms", "", headers, body)))
    model.append_rows(store.append(batch))
    path, method = COLUMN_INDEX["path"], COLUMN_INDEX["method"]
    decoration = Qt.ItemDataRole.DecorationRole
    tooltip = Qt.ItemDataRole.ToolTipRole

    direct = model.index(0, path)
    assert direct.data() == "/sms" and direct.data(decoration) is None
    assert direct.data(tooltip) == "/sms"
    assert model.index(0, method).data(tooltip) == "POST"

    tunnelled = model.index(1, path)
    assert tunnelled.data() == "/sms"  # the text stays the path: sorting and copying see it
    marker = tunnelled.data(decoration)
    assert marker is not None and not marker.isNull()
    assert tunnelled.data(tooltip) == "/sms\nThrough the ngrok tunnel from 203.0.113.9"
    assert model.index(1, method).data(tooltip) == "Through the ngrok tunnel from 203.0.113.9"
    others = [c for c in range(model.columnCount()) if c != path]
    assert all(model.index(1, c).data(decoration) is None for c in others)


def test_hiding_separate_rows_keeps_the_view_consistent_between_removals(store, model) -> None:
    """Each removed range is gone from the view before the next is announced: with rows a
    millisecond apart (as on a slow machine) the model tester compares their times."""
    from tests.factories import append_decoded, captured_request

    base = 1_764_600_000_000_000
    requests = [
        captured_request(path, body, seq=store.take_seq(), received_us=base + n * 7_000)
        for n, (path, body) in enumerate(catalogue_requests())
    ]
    model.append_rows(append_decoded(store, requests))
    gone = [model.id_at(r) for r in (2, 3, 7, 12)]
    assert model.hide_rows([2, 3, 7, 12]) == gone
    assert model.rowCount() == 15
    assert set(gone).isdisjoint(model.id_at(r) for r in range(15))
