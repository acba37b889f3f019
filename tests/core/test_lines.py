"""capture's printed lines: payload text never reaches the terminal as control codes (issue 9,
item 7), and the columns line up whatever the event name (item 21)."""

from __future__ import annotations

import json
import logging
import unicodedata

import pytest

from inspector.core.capture.lines import format_line
from inspector.core.capture.terminal import terminal_safe
from inspector.core.session.store import RowSummary
from tests.conftest import CATALOGUE
from tests.factories import append_decoded, captured_request

#: A clear screen, a fake line after a carriage return, a window title, an OSC 52 clipboard
#: write, C1 controls, DEL, and the bidi and zero-width characters that spoof text.
HOSTILE = (
    "hi\x1b[2J\x1b[H\rall clear\n\x1b]0;pwned\x07\x1b]52;c;SGVsbG8=\x07"
    "\x9b31m\x85\x7f\u202etxt.exe\u2066\u200b\u2028\ufeff\x00end"
)


def assert_inert(text: str) -> None:
    for ch in text:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Cs"), (ch, text)


def summary(**fields: object) -> RowSummary:
    base: dict[str, object] = dict(
        id=1, seq=1, received_us=1_700_000_000_000_000, method="POST", path="/whatsapp",
        query="", event="whatsapp:message:in", product="whatsapp", status="inbound",
        status_class="inbound", message_id="m", from_addr="919", to_addr="918",
        summary="hello", body_size=10, warning_count=0, response_status=200,
        via_tunnel=False, client_addr="", remote="127.0.0.1",
    )  # fmt: skip
    base.update(fields)
    return RowSummary(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field", ["summary", "path", "query", "method", "event", "status", "from_addr", "to_addr"]
)
@pytest.mark.parametrize("value", [HOSTILE, "\x1b]0;x\x07"], ids=["long", "short"])
def test_every_printed_field_is_inert(field: str, value: str) -> None:
    extra: dict[str, object] = {"method": "GET", "path": "/"} if field == "query" else {}
    if field == "to_addr":
        extra["status_class"] = "success"
    line = format_line(summary(**{field: value, **extra}))
    assert_inert(line)
    if len(value) < 10 and field != "method":  # short enough to be printed whole
        assert "\\x1b]0;x\\x07" in line, line


def test_escapes_are_visible_not_dropped() -> None:
    assert terminal_safe("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert terminal_safe("x\u202ey") == "x\\u202ey"
    assert terminal_safe("line\r\nfake") == "line\\r\\nfake"
    plain = "Hello, wörld: नमस्ते 你好 🎉"
    assert terminal_safe(plain) is plain


def test_a_hostile_message_text_is_printed_inert(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from inspector.core.session.store import SessionStore

    body = json.loads((CATALOGUE / "04_whatsapp_message_in_text.json").read_bytes())
    body["payload"]["message"]["payload"]["text"] = HOSTILE
    store = SessionStore(tmp_path / "s.whsession")
    try:
        (row,) = append_decoded(
            store, [captured_request("/whatsapp", json.dumps(body).encode(), seq=1)]
        )
    finally:
        store.close()
    assert "\x1b" in row.summary  # the decoder keeps the text as sent
    line = format_line(row)
    assert_inert(line)
    assert "\\x1b[2J" in line


def test_log_lines_on_stderr_are_inert() -> None:
    from inspector.core.capture.terminal import TerminalSafeFormatter

    rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad request %s", (HOSTILE,), None)
    assert_inert(TerminalSafeFormatter("%(message)s").format(rec))


def test_columns_line_up_whatever_the_event_name() -> None:
    rows = [
        summary(event="sms:message:status", status="DELIVRD", status_class="success"),
        summary(event="contacts:subscriber:subscription", status="", status_class="info"),
        summary(event="x" * 60, path="/" + "p" * 40, status="", status_class="unknown"),
        summary(event="", path="/", method="DELETE", status="ENROUTE", status_class="pending"),
        summary(event="whatsapp:message:in", summary="hi there", status_class="inbound"),
        summary(
            path="/注文/通知", event="sms:message:status", status_class="success", to_addr="電話"
        ),
        summary(path="/" + "長" * 20, status_class="success", to_addr="e\u0301\u0301x"),
    ]
    lines = [format_line(r) for r in rows]
    # Every column starts at the same offset on every line.
    for token_index, starts in enumerate(
        zip(*[_column_starts(line) for line in lines], strict=True)
    ):
        assert len(set(starts)) == 1, (token_index, lines)


def _column_starts(line: str) -> list[int]:
    """Terminal-cell offsets of the time, method, path, event, status and party columns."""
    starts = [0]
    i = 0
    while len(starts) < 6:
        i = line.index("  ", i)
        while line[i] == " ":
            i += 1
        starts.append(_cells(line[:i]))
    return starts


def _cells(text: str) -> int:
    return sum(
        0
        if unicodedata.combining(ch)
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in text
    )
