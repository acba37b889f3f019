"""``webhook-inspector capture --tunnel`` as a subprocess, against the stand-in agent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_ngrok.harness import AUTHTOKEN

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="stand-in agent is a sh wrapper")


def _capture(session: Path, ngrok_path: str | None, env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "inspector",
        "capture",
        "--port",
        "0",
        "--session",
        str(session),
        "--tunnel",
    ]
    if ngrok_path:
        cmd += ["--ngrok-path", ngrok_path]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def cli_env(fake_agent) -> dict[str, str]:
    env = dict(os.environ)
    env["NGROK_AUTHTOKEN"] = AUTHTOKEN
    return env


@pytest.fixture
def running(tmp_path: Path, cli_env, fake_agent) -> Iterator[subprocess.Popen[str]]:
    proc = _capture(tmp_path / "s.whsession", str(fake_agent.path), cli_env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_capture_tunnel_prints_public_url_second_and_records(
    harness, running: subprocess.Popen[str], fake_agent, tmp_path: Path
) -> None:
    assert running.stdout is not None
    first = running.stdout.readline()
    second = running.stdout.readline()
    assert first.startswith("Listening on http://127.0.0.1:")
    assert second.startswith("Public URL: https://") and second.strip().endswith(".ngrok-free.app")
    url = second.split(": ", 1)[1].strip()

    status, _ = harness.send(fake_agent.public_port(url), "/whatsapp", b'{"via": "tunnel"}')
    assert status == 200
    line = running.stdout.readline()
    assert "/whatsapp" in line
    agent_pid = fake_agent.state()["pid"]

    running.send_signal(signal.SIGTERM)
    _, err = running.communicate(timeout=20)
    assert running.returncode == 0, err
    harness.wait_for(lambda: not harness.pid_alive(agent_pid), what="the agent to stop")

    exported = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "export",
            str(tmp_path / "s.whsession"),
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    [row] = [json.loads(x) for x in exported.stdout.splitlines() if x.strip()]
    assert "/whatsapp" in json.dumps(row)
    assert "2abcFAKEtoken" not in exported.stdout


def test_capture_tunnel_bad_token_is_one_line_and_exit_3(
    tmp_path: Path, cli_env, fake_agent
) -> None:
    cli_env["FAKE_NGROK_MODE"] = "bad_authtoken"
    proc = _capture(tmp_path / "s.whsession", str(fake_agent.path), cli_env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    assert out.startswith("Listening on ") and "Public URL" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ngrok rejected the authtoken")
    assert "your-authtoken" in lines[0] and "Traceback" not in err


def test_capture_tunnel_missing_binary(tmp_path: Path, cli_env, fake_agent) -> None:
    cli_env["PYNGROK_NGROK_PATH"] = str(tmp_path / "no" / "ngrok")  # honoured without the flag
    proc = _capture(tmp_path / "s.whsession", None, cli_env)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    [line] = err.strip().splitlines()
    assert line.startswith("error: ngrok is not installed at ") and str(tmp_path / "no") in line
