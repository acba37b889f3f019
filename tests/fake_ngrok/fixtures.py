"""Fixtures shared by every test that runs the stand-in ngrok agent (tunnel and GUI).

Registered for the whole suite through ``pytest_plugins`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from inspector.core.capture.engine import CaptureEngine
from inspector.core.tunnel import tunnel_client_address
from tests.factories import running_engine
from tests.fake_ngrok import harness


@pytest.fixture(name="harness")
def harness_fixture() -> ModuleType:
    """The stand-in agent's helpers (install, state file, send through the public side)."""
    return harness


@dataclass
class FakeAgent:
    path: Path
    state_dir: Path

    def state(self) -> dict[str, Any] | None:
        return harness.read_state(self.state_dir)

    def public_port(self, public_url: str) -> int:
        return harness.public_port(self.state_dir, public_url)


@pytest.fixture
def fake_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAgent:
    """The stand-in agent installed as ``tmp_path/bin/ngrok``, in its normal mode."""
    state_dir = tmp_path / "agent-state"
    monkeypatch.setenv("FAKE_NGROK_STATE_DIR", str(state_dir))
    monkeypatch.delenv("FAKE_NGROK_MODE", raising=False)
    monkeypatch.delenv("FAKE_NGROK_DIE_AFTER", raising=False)
    return FakeAgent(harness.install_fake_agent(tmp_path / "bin"), state_dir)


@pytest.fixture
def tunnel_engine(session_path: Path) -> Iterator[CaptureEngine]:
    """The capture engine as the app builds it: it recognises requests from the tunnel."""
    with running_engine(session_path, client_address=tunnel_client_address) as eng:
        yield eng


@pytest.fixture
def archive_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback download server; tests put archives in the dict by path."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            data = files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="archive-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
