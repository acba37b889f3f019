"""Shared test set-up: no display, no real user folders, no leaked threads."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: The stand-in ngrok agent's fixtures (fake_agent, tunnel_engine...), for tunnel and GUI tests.
pytest_plugins = ["tests.fake_ngrok.fixtures"]

FIXTURES = Path(__file__).parent / "fixtures"
CATALOGUE = FIXTURES / "catalogue"


@pytest.fixture(autouse=True)
def _private_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test never touches the real user's data or settings folders."""
    root = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("WEBHOOK_INSPECTOR_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("WEBHOOK_INSPECTOR_CONFIG_DIR", str(root / "config"))
    monkeypatch.setenv("WEBHOOK_INSPECTOR_LOG_DIR", str(root / "log"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "xdg-data"))
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.delenv("PYNGROK_NGROK_PATH", raising=False)


@pytest.fixture(autouse=True)
def _no_leaked_log_file() -> Iterator[None]:
    """A test that starts a face in-process (cli.main) leaves no log handler behind."""
    import logging

    from inspector.core.logfile import close_logging

    level = logging.getLogger().level
    hooks = sys.excepthook, threading.excepthook
    yield
    close_logging()
    logging.getLogger().setLevel(level)
    sys.excepthook, threading.excepthook = hooks


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves one of its own threads running."""
    before = set(threading.enumerate())
    yield
    deadline = 5.0
    leaked: list[threading.Thread] = []
    for t in set(threading.enumerate()) - before:
        if t.daemon and t.name.startswith(("asyncio_", "ThreadPoolExecutor", "QThread", "Dummy")):
            continue
        t.join(deadline)
        if t.is_alive():
            leaked.append(t)
    assert not leaked, f"test left threads running: {[t.name for t in leaked]}"


@pytest.fixture
def session_path(tmp_path: Path) -> Path:
    return tmp_path / "test.whsession"


@pytest.fixture
def engine(session_path: Path) -> Iterator[object]:
    """A running capture engine on a free loopback port, recording into a fresh session."""
    from tests.factories import running_engine

    with running_engine(session_path) as eng:
        yield eng
