"""Real pyngrok against the stand-in agent: start, forward, stop, restart, and every failure."""

from __future__ import annotations

import logging
import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

from inspector.core.capture.engine import CaptureEngine
from inspector.core.tunnel import TunnelError, TunnelState
from tests.fake_ngrok.harness import AUTHTOKEN as TOKEN

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="stand-in agent is a sh wrapper")


def test_start_forwards_through_public_url_and_stop_kills_agent(
    harness, make_manager, fake_agent, tunnel_engine: CaptureEngine, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_NGROK_CLIENT_IP", "203.0.113.9")
    manager, states = make_manager()

    url = manager.start(tunnel_engine.port)

    assert url.startswith("https://") and url.endswith(".ngrok-free.app")
    assert manager.state is TunnelState.ONLINE and manager.public_url == url
    assert states.states == [TunnelState.STARTING, TunnelState.ONLINE]
    status, _ = harness.send(fake_agent.public_port(url), "/whatsapp", b'{"hello": 1}')
    assert status == 200
    harness.wait_for(lambda: tunnel_engine.store.count() == 1, what="the request to be stored")
    stored = tunnel_engine.store.get(1)
    assert stored is not None and stored.body == b'{"hello": 1}'
    assert stored.path == "/whatsapp"
    assert stored.via_tunnel is True and stored.client_addr == "203.0.113.9"
    headers = {k.lower(): v for k, v in stored.headers}
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-host"] == url.removeprefix("https://")

    pid = fake_agent.state()["pid"]
    manager.stop()
    assert manager.state is TunnelState.OFF and manager.public_url is None
    assert states.states[-1] is TunnelState.OFF
    harness.wait_for(lambda: not harness.pid_alive(pid), what="the agent to exit")


def test_token_is_kept_off_the_command_line_in_a_private_config(
    make_manager, fake_agent, monkeypatch
) -> None:
    # NGROK_AUTHTOKEN is what pyngrok would copy onto the agent's command line.
    monkeypatch.setenv("NGROK_AUTHTOKEN", "2envTOKEN_should_not_be_used_here")
    manager, _ = make_manager()
    manager.start(9)

    state = fake_agent.state()
    assert state is not None
    assert not state["authtoken_on_argv"]
    assert not any(TOKEN in arg or "2envTOKEN" in arg for arg in state["argv"])
    [config] = state["config_paths"]
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(config)).st_mode) == 0o700
    assert TOKEN in Path(config).read_text()
    manager.stop()
    assert not os.path.exists(config), "the private config must go with the tunnel"


def test_token_from_env_then_user_ngrok_config(
    make_manager, fake_agent, monkeypatch, tmp_path: Path
) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "ngrok").mkdir(parents=True)
    (xdg / "ngrok" / "ngrok.yml").write_text('version: "3"\nagent:\n  authtoken: 2fromUSERconfig\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.setenv("HOME", str(tmp_path))

    manager, _ = make_manager(authtoken=None)
    manager.start(9)
    [config] = fake_agent.state()["config_paths"]
    assert "2fromUSERconfig" in Path(config).read_text()
    manager.stop()

    monkeypatch.setenv("NGROK_AUTHTOKEN", "2fromENV")
    manager, _ = make_manager(authtoken=None)
    manager.start(9)
    [config] = fake_agent.state()["config_paths"]
    assert "2fromENV" in Path(config).read_text()


def test_supervisor_restarts_a_killed_agent(
    harness, make_manager, fake_agent, tunnel_engine: CaptureEngine
) -> None:
    manager, states = make_manager()
    url = manager.start(tunnel_engine.port)
    first_pid = fake_agent.state()["pid"]

    os.kill(first_pid, signal.SIGKILL)

    reconnecting = states.wait_for(TunnelState.RECONNECTING)
    assert "restarting" in (states.events[reconnecting][2] or "")
    online = states.wait_for(TunnelState.ONLINE, after=reconnecting)
    new_url = states.events[online][1]
    assert new_url and new_url.startswith("https://")
    second_pid = fake_agent.state()["pid"]
    assert second_pid != first_pid and manager.agent_pid == second_pid
    status, _ = harness.send(fake_agent.public_port(new_url), "/sms")
    assert status == 200
    harness.wait_for(lambda: tunnel_engine.store.count() == 1, what="the request to be stored")
    assert url  # the first URL was real too; the stand-in hands out a new one per agent


def test_supervisor_reopens_an_endpoint_that_disappeared(make_manager, fake_agent) -> None:
    import urllib.request

    manager, states = make_manager()
    manager.start(9)
    state = fake_agent.state()
    [name] = state["endpoints"]
    req = urllib.request.Request(
        f"http://{state['api_addr']}/api/endpoints/{name}", method="DELETE"
    )
    urllib.request.urlopen(req, timeout=5).close()

    reconnecting = states.wait_for(TunnelState.RECONNECTING)
    assert "disappeared" in (states.events[reconnecting][2] or "")
    states.wait_for(TunnelState.ONLINE, after=reconnecting)
    assert fake_agent.state()["pid"] == state["pid"], "the agent itself was fine"


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_network_loss_is_reported_and_recovers(make_manager, fake_agent) -> None:
    manager, states = make_manager()
    manager.start(9)
    pid = fake_agent.state()["pid"]

    os.kill(pid, signal.SIGUSR1)
    lost = states.wait_for(TunnelState.RECONNECTING)
    assert "network" in (states.events[lost][2] or "").lower()
    os.kill(pid, signal.SIGUSR2)
    states.wait_for(TunnelState.ONLINE, after=lost)
    assert fake_agent.state()["pid"] == pid, "the agent reconnected by itself, no restart"


def test_basic_auth_keeps_strangers_out(
    harness, make_manager, fake_agent, tunnel_engine: CaptureEngine
) -> None:
    import base64

    manager, _ = make_manager(basic_auth="hooks:s3cret-pass")
    url = manager.start(tunnel_engine.port)
    port = fake_agent.public_port(url)

    assert harness.send(port, "/x")[0] == 401
    good = base64.b64encode(b"hooks:s3cret-pass").decode()
    assert harness.send(port, "/x", headers={"Authorization": f"Basic {good}"})[0] == 200
    harness.wait_for(lambda: tunnel_engine.store.count() == 1, what="the allowed request")


def test_reserved_domain_is_requested(make_manager, fake_agent) -> None:
    manager, _ = make_manager(domain="hooks.example.ngrok.app")
    assert manager.start(9) == "https://hooks.example.ngrok.app"


def test_secrets_never_reach_the_logs(
    make_manager, fake_agent, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    manager, _ = make_manager(basic_auth="hooks:pw-0123456789")
    manager.start(9)
    manager.stop()
    monkeypatch.setenv("FAKE_NGROK_MODE", "bad_authtoken")  # ngrok echoes the token back
    manager, _ = make_manager(basic_auth="hooks:pw-0123456789")
    with pytest.raises(TunnelError):
        manager.start(9)

    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "authentication failed" in text, "the agent's own lines were captured"
    assert TOKEN not in text
    assert "pw-0123456789" not in text


# ----------------------------------------------------------------------------- failures


def test_bad_authtoken(make_manager, fake_agent, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NGROK_MODE", "bad_authtoken")
    manager, states = make_manager()
    with pytest.raises(TunnelError) as info:
        manager.start(9)
    err = info.value
    assert err.kind == "bad_authtoken" and err.ngrok_code == "ERR_NGROK_105"
    assert "https://dashboard.ngrok.com/get-started/your-authtoken" in err.message
    assert TOKEN not in err.message
    assert states.states == [TunnelState.STARTING, TunnelState.ERROR]
    assert manager.last_error is err and manager.message == err.message


def test_no_authtoken_anywhere(make_manager, fake_agent, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ngrok2 or ~/.config/ngrok either
    manager, _ = make_manager(authtoken=None)
    with pytest.raises(TunnelError) as info:
        manager.start(9)
    assert info.value.kind == "no_authtoken"
    assert "your-authtoken" in info.value.message
    assert fake_agent.state() is None, "no agent is started without a token"


def test_account_limit(make_manager, fake_agent, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NGROK_MODE", "account_limit")
    manager, _ = make_manager()
    with pytest.raises(TunnelError) as info:
        manager.start(9)
    assert info.value.kind == "account_limit"
    assert "1 simultaneous ngrok agent sessions" in info.value.message
    assert "dashboard.ngrok.com/agents" in info.value.message


def test_missing_binary(make_manager, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ngrok"
    manager, _ = make_manager(ngrok_path=str(missing))
    with pytest.raises(TunnelError) as info:
        manager.start(9)
    assert info.value.kind == "missing_binary"
    assert str(missing) in info.value.message and "Install ngrok" in info.value.message
    assert not missing.exists(), "pyngrok must not have tried to download it"


def test_agent_exiting_at_start(make_manager, fake_agent, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NGROK_MODE", "exit_at_start")
    manager, _ = make_manager()
    with pytest.raises(TunnelError) as info:
        manager.start(9)
    assert info.value.kind == "agent_exited"
    assert "stopped while starting" in info.value.message


def test_silent_agent_times_out_on_our_deadline(make_manager, fake_agent, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NGROK_MODE", "hang")
    manager, states = make_manager(start_timeout=1.0)
    began = time.monotonic()
    with pytest.raises(TunnelError) as info:
        manager.start(9)
    assert info.value.kind == "timeout"
    assert time.monotonic() - began < 8, "pyngrok alone would have waited forever"
    assert states.states[-1] is TunnelState.ERROR


def test_unreachable_servers_are_a_network_error(make_manager, fake_agent, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NGROK_MODE", "network")
    manager, _ = make_manager(start_timeout=1.0)
    with pytest.raises(TunnelError) as info:
        manager.start(9)
    assert info.value.kind == "network"
    assert "internet connection" in info.value.message


def test_restart_gives_up_after_bounded_attempts(make_manager, fake_agent, monkeypatch) -> None:
    manager, states = make_manager(max_restarts=2)
    manager.start(9)
    monkeypatch.setenv("FAKE_NGROK_MODE", "exit_at_start")  # every restart now fails
    os.kill(fake_agent.state()["pid"], signal.SIGKILL)

    states.wait_for(TunnelState.ERROR)
    assert "could not be restarted after 2 attempts" in (manager.message or "")
    restarts = [m for s, _, m in states.events if s is TunnelState.RECONNECTING]
    assert len(restarts) == 2


def test_stop_cancels_a_start_in_progress(harness, make_manager, fake_agent, monkeypatch) -> None:
    import threading

    monkeypatch.setenv("FAKE_NGROK_MODE", "hang")
    manager, states = make_manager(start_timeout=30.0)
    errors: list[TunnelError] = []

    def run() -> None:
        try:
            manager.start(9)
        except TunnelError as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    states.wait_for(TunnelState.STARTING)
    harness.wait_for(fake_agent.path.exists)
    time.sleep(0.2)  # let the agent process actually spawn
    began = time.monotonic()
    manager.stop()
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - began < 8
    assert errors and errors[0].kind == "cancelled"
    assert manager.state is TunnelState.OFF
