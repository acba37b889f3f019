"""curl export: each command, run by bash against a running listener, sends the same bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.core.session.store import iter_requests, open_existing
from tests.conftest import CATALOGUE
from tests.core.httpraw import send
from tests.factories import running_engine

ODD = [
    ("PUT", "/bin?x=1", [("Content-Type", "application/octet-stream")],
     bytes(range(256)) + b"\x00\x00'\"\\%b%s\\0012\n\r\n$(id)`id`"),
    ("POST", "/form", [("Content-Type", "application/x-www-form-urlencoded")],
     b"mobile=918921269123&text=a+b%26c&empty="),
    ("POST", "/sms", [("Content-Type", "application/json"), ("Authorization", "Bearer s3cr3t"),
                      ("X-Latin", "caf\xe9"), ("X-Empty", ""), ("X-Quote", "it's \"q\" $HOME"),
                      ("X-Dup", "1"), ("X-Dup", "2")],
     '{"text": "héllo ✓ \U0001f600"}'.encode()),
    ("POST", "/empty", [], b""),
    ("GET", "/ack?message_id=a%20b&mobile_number=91987&status=[x]{y}", [("Accept", "*/*")], b""),
    ("DELETE", "/x/../y//z", [("User-Agent", "provider/2")], b"gone"),
]


def _curl_or_skip() -> None:
    if shutil.which("curl") and shutil.which("bash"):
        return
    if os.environ.get("CI"):
        pytest.fail("CI must replay the curl export: curl and bash are needed")
    pytest.skip("curl and bash are needed to replay the export")


def _wire(req) -> tuple:
    """What a request carried, less what depends on where it was sent."""
    headers = [(k, v) for k, v in req.headers if k.lower() != "host"]
    return req.method, req.path, req.query, headers, req.body


def test_curl_commands_replayed_arrive_byte_identical(tmp_path: Path) -> None:
    _curl_or_skip()
    original = tmp_path / "original.whsession"
    with running_engine(original) as eng:
        for f in sorted(CATALOGUE.glob("*.json")):
            send(eng.url, "POST", "/" + f.stem.split("_")[1],
                 [("Content-Type", "application/json")], f.read_bytes())
        for method, target, headers, body in ODD:
            send(eng.url, method, target, headers, body)
    script = tmp_path / "replay.sh"
    replayed = tmp_path / "replayed.whsession"
    with running_engine(replayed) as eng:
        res = subprocess.run(
            [sys.executable, "-m", "inspector", "export", str(original), "--format", "curl",
             "--base-url", eng.url, "-o", str(script)],
            capture_output=True, text=True, timeout=60,
        )
        assert res.returncode == 0, res.stderr
        run = subprocess.run(["bash", str(script)], capture_output=True, timeout=120)
        assert run.returncode == 0, run.stderr.decode(errors="replace")
    conn = open_existing(original)
    sent = [_wire(r) for r in iter_requests(conn)]
    conn.close()
    conn = open_existing(replayed)
    got = [_wire(r) for r in iter_requests(conn)]
    conn.close()
    assert len(got) == len(sent) == 25
    for a, b in zip(sent, got, strict=True):
        assert b == a


def test_curl_command_text_never_carries_raw_control_bytes(make_session, tmp_path: Path) -> None:
    """The script is printed to terminals: no ESC, BEL or other control byte is in it raw."""
    from tests.factories import captured_request

    session = make_session([
        captured_request("/x\x1b]0;pwned\x07", b"\x1b[2J\x1b]52;c;ZXZpbA==\x07", seq=0,
                         headers=[("X-Evil", "\x1b[31mred\x1b[0m")]),
    ])
    res = subprocess.run([sys.executable, "-m", "inspector", "export", str(session),
                          "--format", "curl"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    assert all(c == "\n" or 0x20 <= ord(c) < 0x7F for c in res.stdout), res.stdout
