"""Window fixtures: a real window on a real capture engine, settings in a temp file."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import QSettings

from inspector.core.session.store import RowSummary, SessionStore
from tests.factories import append_decoded, captured_request

if TYPE_CHECKING:
    from inspector.core.capture.engine import CaptureEngine
    from inspector.gui.main_window import MainWindow
    from inspector.gui.session_actions import SessionHost

CATALOGUE = Path(__file__).parent.parent / "fixtures" / "catalogue"


def catalogue_requests() -> list[tuple[str, bytes]]:
    """(path, body) for the 19 catalogue payloads, posted to their product's path."""
    return [(f"/{p.stem.split('_')[1]}", p.read_bytes()) for p in sorted(CATALOGUE.glob("*.json"))]


def status_body(event: str, status: str, msg_id: str = "m-1", to: str = "447700900001") -> bytes:
    payload = {"id": msg_id, "from": "919019120000", "to": to, "status": status}
    return json.dumps({"event": event, "payload": payload}).encode()


def post(url: str, path: str, body: bytes, method: str = "POST") -> int:
    req = urllib.request.Request(url.rstrip("/") + path, data=body or None, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def append(
    store: SessionStore, items: list[tuple[str, bytes]], method: str = "POST"
) -> list[RowSummary]:
    """Fill a store directly (no HTTP), through the real decoder."""
    return append_decoded(
        store,
        [captured_request(path, body, seq=store.take_seq(), method=method) for path, body in items],
    )


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def store(session_path: Path) -> Iterator[SessionStore]:
    s = SessionStore(session_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def pane(qtbot, store: SessionStore):  # noqa: ANN001, ANN201 - fixtures
    """The detail pane on the test's session, as the window builds it."""
    from inspector.gui.detail.pane import DetailPane

    p = DetailPane()
    qtbot.addWidget(p)
    p.resize(900, 650)
    p.set_store(store)
    yield p
    p.close_store()


def shown_window(
    qtbot: Any, engine: CaptureEngine, settings: QSettings, size: tuple[int, int] = (1200, 800)
) -> Iterator[MainWindow]:
    """The real window on ``engine``'s store, shown and exposed; shut down at the end."""
    from inspector.gui.main_window import MainWindow

    w = MainWindow(
        engine.store,
        engine.url,
        host=engine.host,
        port=engine.port,
        settings=settings,
        recording_problem=lambda: engine.recording_problem,
    )
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    try:
        yield w
    finally:
        w.shutdown()


@pytest.fixture
def window(qtbot, engine, settings):  # noqa: ANN001, ANN201 - fixtures
    yield from shown_window(qtbot, engine, settings)


@pytest.fixture
def host(qtbot: Any, tmp_path: Path) -> Iterator[SessionHost]:
    """A session host (the app's sessions and their windows) with its own settings file."""
    from inspector.gui.session_actions import SessionHost

    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    h = SessionHost(host="127.0.0.1", port=0, settings=settings)
    yield h
    h.shutdown()
