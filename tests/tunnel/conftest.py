"""Fixtures for running the real TunnelManager (and real pyngrok) against the stand-in agent."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from inspector.core.tunnel import TunnelManager, TunnelOptions, TunnelState


def _load_harness() -> ModuleType:
    """Load tests/fake_ngrok/harness.py by path: tests/ is not a package."""
    name = "fake_ngrok_harness"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "fake_ngrok" / "harness.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


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
    state_dir = tmp_path / "agent-state"
    monkeypatch.setenv("FAKE_NGROK_STATE_DIR", str(state_dir))
    monkeypatch.delenv("FAKE_NGROK_MODE", raising=False)
    monkeypatch.delenv("FAKE_NGROK_DIE_AFTER", raising=False)
    return FakeAgent(harness.install_fake_agent(tmp_path / "bin"), state_dir)


@dataclass
class StateLog:
    """Records every on_state call; tests wait on it instead of sleeping."""

    events: list[tuple[TunnelState, str | None, str | None]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, state: TunnelState, url: str | None, message: str | None) -> None:
        with self.cond:
            self.events.append((state, url, message))
            self.cond.notify_all()

    @property
    def states(self) -> list[TunnelState]:
        with self.cond:
            return [e[0] for e in self.events]

    def wait_for(self, state: TunnelState, after: int = 0, timeout: float = 15.0) -> int:
        """Index of the first ``state`` at or after position ``after``."""
        with self.cond:
            ok = self.cond.wait_for(
                lambda: any(e[0] is state for e in self.events[after:]), timeout
            )
            assert ok, f"never reached {state}; saw {[e[0].value for e in self.events]}"
            return next(i for i, e in enumerate(self.events) if i >= after and e[0] is state)


@pytest.fixture
def make_manager(fake_agent: FakeAgent) -> Iterator[Any]:
    """Build managers pointed at the stand-in with fast supervision; all stopped at teardown."""
    made: list[TunnelManager] = []

    def factory(
        *, authtoken: str | None = "2abcFAKEtoken_0123456789", **kwargs: Any
    ) -> tuple[TunnelManager, StateLog]:
        option_keys = {"region", "domain", "basic_auth", "ngrok_path", "start_timeout"}
        opts = {k: kwargs.pop(k) for k in list(kwargs) if k in option_keys}
        opts.setdefault("ngrok_path", str(fake_agent.path))
        opts.setdefault("start_timeout", 10.0)
        states = StateLog()
        kwargs.setdefault("check_interval", 0.2)
        kwargs.setdefault("backoff_initial", 0.1)
        manager = TunnelManager(TunnelOptions(authtoken=authtoken, **opts), states, **kwargs)
        made.append(manager)
        return manager, states

    yield factory
    for manager in made:
        manager.stop()
