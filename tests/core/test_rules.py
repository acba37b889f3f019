"""Response rules: the TOML file, and every kind of answer over loopback, with the row
recording exactly what the client got."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inspector.core.capture.answers import DEFAULT_CONFIG
from inspector.core.capture.engine import CaptureEngine
from inspector.core.capture.rules import (
    Rule,
    RulesFileError,
    format_delay,
    parse_delay,
    parse_rules,
    rules_config,
)
from inspector.core.session.query import QueryError, compile_query, fetch_ids
from inspector.core.session.store import StoredRequest, get_request
from tests.conftest import CATALOGUE
from tests.core.httpraw import RawResponse, send
from tests.factories import running_engine

JSON = [("Content-Type", "application/json")]
WA_STATUS = (CATALOGUE / "03_whatsapp_message_status.json").read_bytes()
SMS_DLR = (CATALOGUE / "01_sms_message_status.json").read_bytes()
HANDSHAKE = b'{"validation_key": "vk-1", "challenge": "ch-42"}'

#: The issue's example, word for word.
ISSUE_EXAMPLE = """
[[rule]]
name = "wa-status-fails-twice"
match = "event:whatsapp:message:status"   # filter language, optional
path = "/whatsapp/*"                      # glob, optional
method = "POST"                           # optional
respond = [500, 500, 200]                 # one status, or a sequence whose last step repeats
delay = "4s"                              # optional
body = '{"error": "try again"}'           # optional
headers = { "Retry-After" = "10" }        # optional
"""


def wa(status: str) -> bytes:
    data = json.loads(WA_STATUS)
    data["payload"]["status"] = status
    return json.dumps(data).encode()


@pytest.fixture
def rules_engine(session_path: Path, request: pytest.FixtureRequest) -> Iterator[CaptureEngine]:
    rules = parse_rules(request.param)
    with running_engine(
        session_path, answers={**DEFAULT_CONFIG, "rules": rules_config(rules)}
    ) as eng:
        yield eng


def rows(engine: CaptureEngine) -> list[StoredRequest]:
    conn = engine.store.open_reader()
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM requests ORDER BY id")]
        out = [get_request(conn, i) for i in ids]
    finally:
        conn.close()
    return [r for r in out if r is not None]


def wait_rows(engine: CaptureEngine, n: int) -> list[StoredRequest]:
    deadline = time.monotonic() + 10
    while True:
        found = rows(engine)
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def assert_recorded_as_received(row: StoredRequest, resp: RawResponse) -> None:
    assert row.response_status == resp.status
    assert row.response_body == resp.body
    for k, v in row.response_headers:
        assert header(resp.headers, k) == v


# -- the file -------------------------------------------------------------------------------


def test_the_issue_example_loads_as_written() -> None:
    (rule,) = parse_rules(ISSUE_EXAMPLE)
    assert rule == Rule(
        name="wa-status-fails-twice",
        respond=(500, 500, 200),
        match="event:whatsapp:message:status",
        path="/whatsapp/*",
        method="POST",
        delay=4.0,
        body=b'{"error": "try again"}',
        headers=(("Retry-After", "10"),),
    )


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('[[rule]]\nname = "a"\nrespond = [500,\n', 3, "not valid TOML"),
        ('[[rule]]\nname = "a"\nrespond = 200 200\n', 3, "not valid TOML"),
        ('[[rule]]\nname = "a"\n\nrespnd = 200\n', 4, "respnd: unknown key"),
        ('[[rule]]\nname = "a"\nrespond = [500, 700]\n', 3, "status 700 is outside 100-599"),
        ('[[rule]]\nname = "a"\nrespond = 99\n', 3, "status 99 is outside 100-599"),
        ('[[rule]]\nname = "a"\ndelay = "121s"\n', 3, "over the 120 s limit"),
        ('[[rule]]\nname = "a"\ndelay = "soon"\n', 3, "is not a duration"),
        ('[[rule]]\nname = "a"\n[[rule]]\nname = "a"\n', 4, "two rules are named 'a'"),
        ("[[rule]]\nrespond = 200\n", 1, "every rule needs a name"),
        ('colour = "red"\n[[rule]]\nname = "a"\n', 1, "unknown key 'colour'"),
        ('[[rule]]\nname = "a"\nheaders = { "X" = "a\\nb" }\n', 3, "line break"),
        ('[[rule]]\nname = "a"\nrespond = "maybe"\n', 3, "is not a status"),
    ],
)
def test_a_mistake_is_refused_with_the_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(RulesFileError) as err:
        parse_rules(text, "rules.toml")
    message = str(err.value)
    assert message.startswith(f"rules.toml:{line}: "), message
    assert fragment in message


def test_a_bad_expression_is_refused_as_the_filter_bar_says_it() -> None:
    expr = "event:whatsapp:message:status evnt:x"
    text = f'[[rule]]\nname = "a"\nrespond = 500\nmatch = "{expr}"\n'
    with pytest.raises(QueryError) as bar:
        compile_query(expr)
    with pytest.raises(RulesFileError) as err:
        parse_rules(text, "r.toml")
    assert str(err.value) == f"r.toml:4: match: {bar.value}"


def test_body_file_is_read_relative_to_the_rules_file(tmp_path: Path) -> None:
    (tmp_path / "answer.json").write_bytes(b'{"queued": true}')
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text('[[rule]]\nname = "f"\nbody_file = "answer.json"\n')
    from inspector.core.capture.rules import load_rules

    (rule,) = load_rules(rules_file)
    assert rule.body == b'{"queued": true}'
    (tmp_path / "answer.json").unlink()
    with pytest.raises(RulesFileError, match=r"rules.toml:3: body_file: cannot read"):
        load_rules(rules_file)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("4s", 4.0), ("500ms", 0.5), ("1.5s", 1.5), (" 2 s ", 2.0), (3, 3.0), ("120s", 120.0)],
)
def test_delay_syntax(text: Any, seconds: float) -> None:
    assert parse_delay(text) == seconds


def test_delay_is_shown_the_way_it_is_written() -> None:
    assert [format_delay(s) for s in (4.0, 0.5, 1.5, 0.0)] == ["4s", "500ms", "1500ms", "0s"]


def test_settings_round_trip() -> None:
    (rule,) = parse_rules(ISSUE_EXAMPLE)
    assert Rule.from_settings(rule.to_settings()) == rule


# -- over loopback ------------------------------------------------------------------------------

STATUS_RULES = """
[[rule]]
name = "created"
path = "/sms*"
respond = 201
body = '{"queued": true}'
headers = { "X-App" = "billing", "Retry-After" = "10" }
"""


@pytest.mark.parametrize("rules_engine", [STATUS_RULES], indirect=True)
def test_status_headers_and_body(rules_engine: CaptureEngine) -> None:
    resp = send(rules_engine.url, "POST", "/sms/dlr", JSON, SMS_DLR)
    assert resp.status == 201
    assert resp.body == b'{"queued": true}'
    assert header(resp.headers, "X-App") == "billing"
    assert header(resp.headers, "Retry-After") == "10"
    assert header(resp.headers, "Content-Type") == "application/json"
    (row,) = wait_rows(rules_engine, 1)
    assert_recorded_as_received(row, resp)
    assert row.answer_source == "rule:created"
    assert row.answer_action == "" and row.answer_delay_ms == 0
    # A request the rule does not match keeps the listener's own answer.
    other = send(rules_engine.url, "POST", "/whatsapp", JSON, WA_STATUS)
    assert other.status == 200 and other.json()["ok"] is True
    assert wait_rows(rules_engine, 2)[1].answer_source == ""


SEQUENCE_RULES = """
[[rule]]
name = "wa-fails-twice"
match = "event:whatsapp:message:status"
respond = [500, 500, 200]
"""


@pytest.mark.parametrize("rules_engine", [SEQUENCE_RULES], indirect=True)
def test_a_sequence_gives_each_step_once_and_repeats_the_last(rules_engine: CaptureEngine) -> None:
    got = [send(rules_engine.url, "POST", "/whatsapp", JSON, WA_STATUS) for _ in range(5)]
    assert [r.status for r in got] == [500, 500, 200, 200, 200]
    stored = wait_rows(rules_engine, 5)
    for row, resp in zip(stored, got, strict=True):
        assert_recorded_as_received(row, resp)
    assert rules_engine.rule_hits() == {"wa-fails-twice": 5}
    # Reset: the sequence starts over.
    rules_engine.reset_rule_hits()
    deadline = time.monotonic() + 5
    while rules_engine.rule_hits() and time.monotonic() < deadline:
        time.sleep(0.01)
    again = [send(rules_engine.url, "POST", "/whatsapp", JSON, WA_STATUS).status for _ in range(3)]
    assert again == [500, 500, 200]
    assert rules_engine.rule_hits() == {"wa-fails-twice": 3}


COUNT_RULES = """
[[rule]]
name = "twice"
path = "/sms"
respond = 503
times = 2
"""


@pytest.mark.parametrize("rules_engine", [COUNT_RULES], indirect=True)
def test_the_next_n_times_then_through(rules_engine: CaptureEngine) -> None:
    got = [send(rules_engine.url, "POST", "/sms", JSON, SMS_DLR).status for _ in range(4)]
    assert got == [503, 503, 200, 200]
    assert [r.answer_source for r in wait_rows(rules_engine, 4)] == ["rule:twice"] * 2 + [""] * 2
    assert rules_engine.rule_hits() == {"twice": 2}


DELAY_RULES = """
[[rule]]
name = "slow"
respond = 202
delay = "400ms"
"""


@pytest.mark.parametrize("rules_engine", [DELAY_RULES], indirect=True)
def test_delay(rules_engine: CaptureEngine) -> None:
    started = time.monotonic()
    resp = send(rules_engine.url, "POST", "/sms", JSON, SMS_DLR)
    elapsed = time.monotonic() - started
    assert resp.status == 202
    assert 0.4 <= elapsed < 3
    (row,) = wait_rows(rules_engine, 1)
    assert_recorded_as_received(row, resp)
    assert row.answer_delay_ms == 400


def raw_request(url: str, target: str, body: bytes, *, wait: float) -> tuple[bytes, float]:
    """Send a request and read until the server closes or ``wait`` passes: what came back."""
    port = int(url.rsplit(":", 1)[1].rstrip("/"))
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(
            f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return data, time.monotonic() - started


NO_ANSWER_RULES = """
[[rule]]
name = "hang"
path = "/hold"
respond = "hold"

[[rule]]
name = "drop"
path = "/close"
respond = "close"
"""


@pytest.mark.parametrize("rules_engine", [NO_ANSWER_RULES], indirect=True)
def test_hold_until_the_client_gives_up(
    rules_engine: CaptureEngine, caplog: pytest.LogCaptureFixture
) -> None:
    data, elapsed = raw_request(rules_engine.url, "/hold", SMS_DLR, wait=1.0)
    assert data == b"" and elapsed >= 1.0
    (row,) = wait_rows(rules_engine, 1)
    assert (row.response_status, row.response_body, row.answer_action) == (0, b"", "hold")
    assert row.answer_source == "rule:hang"
    # The held handler notices the client left and ends: the engine stops at once.
    started = time.monotonic()
    rules_engine.stop()
    assert time.monotonic() - started < 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("rules_engine", [NO_ANSWER_RULES], indirect=True)
def test_a_held_connection_is_closed_when_the_engine_stops(rules_engine: CaptureEngine) -> None:
    port = rules_engine.port
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(b"POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        wait_rows(rules_engine, 1)
        started = time.monotonic()
        rules_engine.stop()
        assert time.monotonic() - started < 3
        assert sock.recv(100) == b""  # closed without a response
    finally:
        sock.close()


@pytest.mark.parametrize("rules_engine", [NO_ANSWER_RULES], indirect=True)
def test_close_without_a_response(
    rules_engine: CaptureEngine, caplog: pytest.LogCaptureFixture
) -> None:
    data, elapsed = raw_request(rules_engine.url, "/close", SMS_DLR, wait=5.0)
    assert data == b"" and elapsed < 5.0  # closed by the server, not timed out
    (row,) = wait_rows(rules_engine, 1)
    assert (row.response_status, row.answer_action, row.answer_source) == (0, "close", "rule:drop")
    # The listener keeps serving, and aiohttp logged no error about the closed connection.
    assert send(rules_engine.url, "POST", "/other", JSON, b"{}").status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


MATCH_RULES = """
[[rule]]
name = "read-fails"
match = "event:whatsapp:message:status status:read"
respond = 500

[[rule]]
name = "sms-201"
match = "product:sms class:success"
respond = 201

[[rule]]
name = "by-number"
match = "to:*0199 -status:failed"
respond = 409
"""


@pytest.mark.parametrize("rules_engine", [MATCH_RULES], indirect=True)
def test_filter_language_matches_decoded_fields(rules_engine: CaptureEngine) -> None:
    url = rules_engine.url
    assert send(url, "POST", "/whatsapp", JSON, wa("read")).status == 500
    assert send(url, "POST", "/whatsapp", JSON, wa("delivered")).status == 409  # to 9190199xxxxx
    assert send(url, "POST", "/whatsapp", JSON, wa("failed")).status == 200
    assert send(url, "POST", "/sms", JSON, SMS_DLR).status == 201  # DELIVRD: success
    undeliv = SMS_DLR.replace(b"DELIVRD", b"UNDELIV")
    assert send(url, "POST", "/sms", JSON, undeliv).status == 200
    stored = wait_rows(rules_engine, 5)
    assert [r.answer_source for r in stored] == [
        "rule:read-fails", "rule:by-number", "", "rule:sms-201", "",
    ]  # fmt: skip
    # The session finds each rule's answers with rule:NAME.
    conn = rules_engine.store.open_reader()
    try:
        ids = fetch_ids(conn, compile_query("rule:read-fails"))
        assert ids == [stored[0].id]
        assert fetch_ids(conn, compile_query("-rule:sms-201 product:sms")) == [stored[4].id]
    finally:
        conn.close()


VERIFICATION_RULES = """
[[rule]]
name = "everything-fails"
respond = 500
"""


@pytest.mark.parametrize("rules_engine", [VERIFICATION_RULES], indirect=True)
def test_the_verification_keeps_being_answered_by_a_catch_all_rule(
    rules_engine: CaptureEngine,
) -> None:
    resp = send(rules_engine.url, "POST", "/?token=vk-1", JSON, HANDSHAKE)
    assert resp.status == 200 and resp.json() == {"challenge": "ch-42"}
    assert send(rules_engine.url, "POST", "/sms", JSON, SMS_DLR).status == 500
    assert [r.answer_source for r in wait_rows(rules_engine, 2)] == [
        "verification",
        "rule:everything-fails",
    ]


TAKES_VERIFICATION = """
[[rule]]
name = "refuse-verification"
path = "/"
respond = 403
verification = true
"""


@pytest.mark.parametrize("rules_engine", [TAKES_VERIFICATION], indirect=True)
def test_a_rule_that_says_verification_wins(rules_engine: CaptureEngine) -> None:
    resp = send(rules_engine.url, "POST", "/?token=vk-1", JSON, HANDSHAKE)
    assert resp.status == 403
    (row,) = wait_rows(rules_engine, 1)
    assert_recorded_as_received(row, resp)
    assert row.answer_source == "rule:refuse-verification"


@pytest.mark.parametrize("rules_engine", [SEQUENCE_RULES], indirect=True)
def test_a_restarted_writer_carries_on_with_the_sequence(rules_engine: CaptureEngine) -> None:
    assert send(rules_engine.url, "POST", "/whatsapp", JSON, WA_STATUS).status == 500
    committer = rules_engine._committer
    assert committer is not None and committer._proc is not None
    first = committer._proc.pid
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    statuses: list[int] = []
    while time.monotonic() < deadline and len(statuses) < 3:
        resp = send(rules_engine.url, "POST", "/whatsapp", JSON, WA_STATUS)
        if resp.status == 503 and b"not recorded" in resp.body:
            time.sleep(0.05)  # the writer is being replaced; the provider would retry
            continue
        statuses.append(resp.status)
    assert committer._proc.pid != first
    assert statuses == [500, 200, 200]  # not 500, 500 again: the count survived
    assert rules_engine.rule_hits() == {"wa-fails-twice": 4}


def test_rules_change_live_and_keep_their_counts(session_path: Path) -> None:
    (rule,) = parse_rules(SEQUENCE_RULES)
    config = {**DEFAULT_CONFIG, "rules": rules_config([rule])}
    with running_engine(session_path, answers=config) as eng:
        assert send(eng.url, "POST", "/whatsapp", JSON, WA_STATUS).status == 500
        off = Rule.from_settings({**rule.to_settings(), "enabled": False})
        eng.set_answers({**DEFAULT_CONFIG, "rules": rules_config([off])})
        deadline = time.monotonic() + 5
        while send(eng.url, "POST", "/whatsapp", JSON, WA_STATUS).status != 200:
            assert time.monotonic() < deadline
        eng.set_answers(config)
        while True:
            status = send(eng.url, "POST", "/whatsapp", JSON, WA_STATUS).status
            if status != 200 or time.monotonic() > deadline:
                break
        assert status == 500  # the second step: the count was kept while the rule was off
        assert send(eng.url, "POST", "/whatsapp", JSON, WA_STATUS).status == 200


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("respond = 201", ["only 200 and 202"]),
        ('respond = [204, 200]\nmatch = "event:sms:message:status"', ["only 200 and 202"]),
        ('respond = 201\nmatch = "product:whatsapp"', []),
        ('respond = 200\ndelay = "4s"', ["over 3 s: WhatsApp retries in 10 s"]),
        ('respond = 200\ndelay = "4s"\npath = "/sms/*"', []),
        ('respond = "hold"\nmatch = "event:rcs"', ["over 3 s"]),
        ('respond = 202\ndelay = "3s"', []),
    ],
)
def test_provider_warnings(text: str, fragments: list[str]) -> None:
    from inspector.core.capture.rules import provider_warnings

    (rule,) = parse_rules(f'[[rule]]\nname = "w"\n{text}\n')
    warnings = provider_warnings(rule)
    assert len(warnings) == len(fragments)
    for warning, fragment in zip(warnings, fragments, strict=True):
        assert fragment in warning


def test_a_session_from_before_the_answer_columns_still_exports(tmp_path: Path) -> None:
    """``export`` opens a session read-only, so one written before this schema step is
    read as it is: its requests had no rule answers."""
    from inspector.cli import main as cli_main
    from inspector.core.session.store import SessionStore
    from tests.factories import schema_2_session

    path = tmp_path / "old.whsession"
    schema_2_session(path, SMS_DLR)
    out = tmp_path / "out.jsonl"
    assert cli_main(["export", str(path), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["status"] == "DELIVRD"
    # Opened for writing, it is upgraded and records answers again.
    store = SessionStore(path)
    reader = store.open_reader()
    assert get_request(reader, 1).answer_source == ""  # type: ignore[union-attr]
    reader.close()
    store.close()


@pytest.mark.parametrize(
    ("row", "text"),
    [
        ((500, "rule:wa-fails", 4000, ""), "500 · rule wa-fails · after 4 s"),
        ((0, "rule:hang", 0, "hold"), "no answer, held until the client gave up · rule hang"),
        ((0, "rule:drop", 500, "close"), "no answer, connection closed · rule drop · after 0.5 s"),
        ((200, "verification", 0, ""), "200 · URL verification: challenge echoed"),
        ((200, "", 0, ""), "200"),
    ],
)
def test_describe_answer(row: tuple[int, str, int, str], text: str) -> None:
    from inspector.core.capture.answers import describe_answer

    assert describe_answer(*row) == text
