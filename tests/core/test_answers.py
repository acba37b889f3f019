"""Answers chosen by the writer after decoding: the provider's URL verification first."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from inspector.core.capture.answers import find_handshake
from inspector.core.capture.engine import CaptureEngine
from inspector.core.provider.decoder import header_value
from inspector.core.session.store import SessionStore
from tests.core.httpraw import send
from tests.factories import last_stored, running_engine

# The provider's documented handshake, trailing comma included (delivery.md, section 1).
HANDSHAKE = b"""{
    "validation_key": "vk-4f1c2a",
    "challenge": "c8a1f9e0-3b7d-4c55-9a2e-1d6f0b7c9e42",
}"""
CHALLENGE = "c8a1f9e0-3b7d-4c55-9a2e-1d6f0b7c9e42"
JSON = [("Content-Type", "application/json")]


def test_the_documented_handshake_gets_its_challenge_back(engine: CaptureEngine) -> None:
    resp = send(engine.url, "POST", "/sms?token=vk-4f1c2a", JSON, HANDSHAKE)
    assert resp.status == 200
    assert json.loads(resp.body) == {"challenge": CHALLENGE}
    assert header_value(resp.headers, "Content-Type") == "application/json"
    # The row records the answer actually given, not the listener's default.
    stored = last_stored(engine)
    status, headers, body = stored.response_status, stored.response_headers, stored.response_body
    assert status == 200 and json.loads(body) == {"challenge": CHALLENGE}
    assert header_value(headers, "Content-Type") == "application/json"


def test_a_challenge_without_the_token_parameter_is_an_ordinary_request(
    engine: CaptureEngine,
) -> None:
    resp = send(engine.url, "POST", "/sms", JSON, HANDSHAKE)
    assert resp.status == 200
    assert "challenge" not in resp.json()
    assert resp.json()["ok"] is True


def test_ordinary_requests_keep_the_listener_answer(engine: CaptureEngine) -> None:
    resp = send(engine.url, "POST", "/whatsapp?token=x", JSON, b'{"event": "x"}')
    assert resp.json() == {"ok": True, "seq": resp.json()["seq"]}


def test_verification_answer_can_be_turned_off(session_path: Path) -> None:
    with running_engine(session_path, answers={"verification": {"enabled": False}}) as eng:
        resp = send(eng.url, "POST", "/sms?token=vk-4f1c2a", JSON, HANDSHAKE)
        assert resp.status == 200 and "challenge" not in resp.json()


def test_answers_change_while_running(engine: CaptureEngine) -> None:
    engine.set_answers(None)
    deadline = time.monotonic() + 5
    while True:  # the writer takes the new settings before the next request it reads
        resp = send(engine.url, "POST", "/sms?token=vk-4f1c2a", JSON, HANDSHAKE)
        if "challenge" not in resp.json() or time.monotonic() > deadline:
            break
    assert "challenge" not in resp.json()
    engine.set_answers({"verification": {}})
    resp = send(engine.url, "POST", "/sms?token=vk-4f1c2a", JSON, HANDSHAKE)
    assert resp.json() == {"challenge": CHALLENGE}


def test_a_restarted_writer_keeps_answering_the_handshake(engine: CaptureEngine) -> None:
    committer = engine._committer
    assert committer is not None and committer._proc is not None
    first = committer._proc.pid
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        resp = send(engine.url, "POST", "/sms?token=vk-4f1c2a", JSON, HANDSHAKE)
        if resp.status == 200:
            break
        time.sleep(0.05)
    assert committer._proc.pid != first
    assert resp.json() == {"challenge": CHALLENGE}


def test_unknown_answer_settings_are_refused_before_start(session_path: Path) -> None:
    store = SessionStore(session_path)
    try:
        with pytest.raises(ValueError, match="unknown answer settings: bogus"):
            CaptureEngine(store, answers={"bogus": 1})
    finally:
        store.close()


@pytest.mark.parametrize(
    ("query", "body", "found"),
    [
        ("token=a", b'{"challenge": "z"}', True),
        ("x=1&token=", b'{"validation_key": "k", "challenge": "z",}', True),
        ("token=a", b'{"challenge": 5}', False),  # not a string
        ("token=a", b'["challenge": "z"]', False),  # not an object
        ("token=a", b'{"challenge": "\xff"}', False),  # not UTF-8
        ("token=a", b'{"other": "challenge"}', False),
        ("token=a", b'{"challenge": "z"' + b" " * (70 * 1024) + b"}", False),  # far too big
    ],
)
def test_find_handshake(query: str, body: bytes, found: bool) -> None:
    assert (find_handshake(query, body) is not None) is found

