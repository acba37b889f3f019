"""Fixtures for running the real TunnelManager (and real pyngrok) against the stand-in agent.

The agent itself (``fake_agent``, ``harness``, ``tunnel_engine``) comes from
``tests/fake_ngrok/fixtures.py``, shared with the GUI tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from inspector.core.tunnel import TunnelManager, TunnelOptions, TunnelState
from tests.fake_ngrok import harness
from tests.fake_ngrok.fixtures import FakeAgent


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
        *, authtoken: str | None = harness.AUTHTOKEN, **kwargs: Any
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
