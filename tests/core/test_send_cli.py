"""webhook-inspector send, run as a user would, against a real capture."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from inspector.core.provider.simulator import SAMPLES
from inspector.core.session.store import open_existing
from tests.core.test_cli import Capture, cli


def test_list_is_one_name_a_line_name_first() -> None:
    result = cli("send", "--list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(SAMPLES)
    for line, sample in zip(lines, SAMPLES.values(), strict=True):
        assert line.endswith(sample.description)


def test_send_finds_the_running_capture_by_itself(tmp_path: Path) -> None:
    env = {**os.environ, "WEBHOOK_INSPECTOR_DATA_DIR": str(tmp_path / "data")}
    session = tmp_path / "s.whsession"
    cap = subprocess.Popen(
        [sys.executable, "-m", "inspector", "capture", "--port", "0", "--session", str(session)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert cap.stdout is not None and cap.stdout.readline().startswith("Listening on")
        result = subprocess.run(
            [sys.executable, "-m", "inspector", "send", "story:whatsapp-read", "--speed", "100x",
             "--secret", "s3", "--signing-key", "k"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
    finally:
        cap.send_signal(2)
        cap.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all("-> 200 in" in line and "delivered" in line for line in lines)
    assert "(sent)" in lines[0] and "(read)" in lines[2]
    conn = open_existing(session)
    try:
        statuses = [r[0] for r in conn.execute("SELECT status FROM requests ORDER BY id")]
    finally:
        conn.close()
    assert statuses == ["sent", "delivered", "read"]
    assert not (tmp_path / "data" / "listening-url").exists()  # capture said it stopped


def test_send_with_set_count_and_to(tmp_path: Path) -> None:
    cap = Capture(tmp_path / "s.whsession")
    try:
        result = cli("send", "sms:message:status", "--to", cap.url + "dlr", "--count", "3",
                     "--set", "status=EXPIRED", "--rate", "100")  # fmt: skip
    finally:
        cap.stop()
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    conn = open_existing(tmp_path / "s.whsession")
    try:
        rows = conn.execute("SELECT path, status, status_class FROM requests").fetchall()
    finally:
        conn.close()
    assert rows == [("/dlr", "EXPIRED", "failure")] * 3


def test_nothing_listening_is_one_error_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = cli("send", "verification", "--to", f"http://127.0.0.1:{port}/")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: nothing is listening at http://127.0.0.1:{port}/")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_mistakes_are_one_error_line() -> None:
    for args, fragment in [
        (["send", "sms:nothing"], "unknown event or story 'sms:nothing'"),
        (["send", "verification", "--count", "0"], "--count must be"),
        (["send", "story:retry", "--speed", "fast"], "not a speed"),
        (["send", "verification", "--set", "nofield"], "--set needs FIELD=VALUE"),
        (["send", "verification", "--to", "ftp://x"], "--to must be an http"),
        (["send"], "send needs an EVENT"),
    ]:
        result = cli(*args)
        assert result.returncode == 1, args
        assert result.stderr.startswith("error: ") and fragment in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
