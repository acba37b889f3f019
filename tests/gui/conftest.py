"""Window fixtures: a real window on a real capture engine, settings in a temp file."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from inspector.core.decoder import EventDecoder
from inspector.core.record import CapturedRequest
from inspector.core.store import RowSummary, SessionStore

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
    decoder = EventDecoder()
    batch = []
    for path, body in items:
        req = CapturedRequest(
            seq=store.take_seq(),
            received_us=time.time_ns() // 1000,
            method=method,
            path=path,
            query="",
            http_version="1.1",
            remote="127.0.0.1",
            headers=[("Content-Type", "application/json")],
            body=body,
        )
        batch.append((req, decoder.decode(method, path, "", req.headers, body)))
    return store.append(batch)


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
def window(qtbot, engine, settings):  # noqa: ANN001, ANN201 - fixtures
    from inspector.gui.main_window import MainWindow

    w = MainWindow(engine.store, engine.url, host=engine.host, port=engine.port, settings=settings)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    try:
        yield w
    finally:
        w.shutdown()
