"""Message timelines from the session, and timestamps/delays inside one payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from inspector.core.provider.decoder import EventDecoder
from inspector.core.provider.lenient_json import parse_lenient
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import SessionStore, commit_batch, index_rows
from inspector.core.session.timeline import (
    _SELECT_BY_MESSAGE,
    compute_delays,
    describe_delays,
    extract_timestamps,
    format_duration,
    parse_time,
    requests_for_message,
    timeline_around,
)

CATALOGUE = Path(__file__).parent.parent / "fixtures" / "catalogue"


def _catalogue(name: str) -> object:
    result = parse_lenient((CATALOGUE / name).read_text())
    assert result.ok
    return result.value


def _status(message_id: str, status: str) -> bytes:
    return json.dumps(
        {
            "event": "whatsapp:message:status",
            "payload": {"id": message_id, "channel": "whatsapp", "status": status},
        }
    ).encode()


def _append(store: SessionStore, bodies: list[bytes], received_us: int = 1_700_000_000_000_000):
    decoder = EventDecoder()
    batch = []
    for n, body in enumerate(bodies):
        req = CapturedRequest(
            seq=store.take_seq(),
            received_us=received_us + n * 1_000_000,
            method="POST",
            path="/whatsapp",
            query="",
            http_version="HTTP/1.1",
            remote="127.0.0.1",
            headers=[("Content-Type", "application/json")],
            body=body,
        )
        batch.append((req, decoder.decode(req.method, req.path, req.query, req.headers, body)))
    return store.append(batch)


def test_requests_for_message_groups_by_id_in_arrival_order(session_path: Path) -> None:
    store = SessionStore(session_path)
    try:
        _append(
            store,
            [
                _status("m-1", "sent"),
                _status("m-2", "sent"),
                _status("m-1", "delivered"),
                b"not json",
                _status("m-1", "read"),
            ],
        )
        conn = store.open_reader()
        try:
            rows = requests_for_message(conn, "m-1")
            assert [r.status for r in rows] == ["sent", "delivered", "read"]
            assert [r.seq for r in rows] == sorted(r.seq for r in rows)
            assert {r.message_id for r in rows} == {"m-1"}
            assert [r.status for r in requests_for_message(conn, "m-2")] == ["sent"]
            assert requests_for_message(conn, "m-1", limit=2)[-1].status == "delivered"
            # Undecoded requests share the empty id; they are not one message.
            assert requests_for_message(conn, "") == []
            plan = " ".join(
                str(r)
                for r in conn.execute(
                    f"EXPLAIN QUERY PLAN {_SELECT_BY_MESSAGE}", ("m-1", "m-1", 10)
                ).fetchall()
            )
            assert "by_message USING PRIMARY KEY" in plan
        finally:
            conn.close()
    finally:
        store.close()


def test_timeline_around_keeps_the_request_in_its_own_timeline(session_path: Path) -> None:
    """A message with more requests than are listed: the window is centred on the one shown."""
    store = SessionStore(session_path)
    try:
        summaries = _append(store, [_status("m-1", f"s{n}") for n in range(60)])
        _append(store, [_status("m-2", "sent")])
        conn = store.open_reader()
        try:
            late = summaries[55]
            found = timeline_around(conn, "m-1", late.id, limit=20)
            assert found.total == 60
            assert late.id in [r.id for r in found.rows]
            assert len(found.rows) == 20 and found.start == 40  # clamped at the end
            assert found.first_received_us == summaries[0].received_us
            middle = timeline_around(conn, "m-1", summaries[30].id, limit=20)
            assert middle.start == 20 and middle.rows[10].id == summaries[30].id
            early = timeline_around(conn, "m-1", summaries[2].id, limit=20)
            assert early.start == 0 and early.rows[0].id == summaries[0].id
            whole = timeline_around(conn, "m-1", summaries[2].id)
            assert (whole.total, whole.start, len(whole.rows)) == (60, 0, 60)
            assert timeline_around(conn, "", late.id).rows == []
            assert timeline_around(conn, "nope", late.id).total == 0
        finally:
            conn.close()
    finally:
        store.close()


def test_requests_for_message_finds_rows_not_indexed_yet(session_path: Path) -> None:
    store = SessionStore(session_path)
    try:
        _append(store, [_status("m-1", "sent")])
        # Committed the way the writer process does it: indexed only later.
        decoder = EventDecoder()
        body = _status("m-1", "delivered")
        req = CapturedRequest(
            store.take_seq(), 1_700_000_100_000_000, "POST", "/whatsapp", "", "HTTP/1.1",
            "127.0.0.1", [], body,
        )  # fmt: skip
        summaries, texts = commit_batch(
            store._conn, [(req, decoder.decode("POST", "/whatsapp", "", [], body))]
        )
        conn = store.open_reader()
        try:
            assert [r.status for r in requests_for_message(conn, "m-1")] == ["sent", "delivered"]
            index_rows(store._conn, summaries[-1].id, texts)
            assert [r.status for r in requests_for_message(conn, "m-1")] == ["sent", "delivered"]
        finally:
            conn.close()
    finally:
        store.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-04-09 16:27:51", datetime(2021, 4, 9, 16, 27, 51)),
        ("2021-06-18T14:48:06.886358Z", datetime(2021, 6, 18, 14, 48, 6, 886358, UTC)),
        ("2023-07-08T12:52:54.000000Z", datetime(2023, 7, 8, 12, 52, 54, tzinfo=UTC)),
        (
            "2021-06-18T14:48:06+05:30",
            datetime(2021, 6, 18, 14, 48, 6, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        (1_623_000_000, datetime.fromtimestamp(1_623_000_000, UTC)),
        ("1623000000123", datetime.fromtimestamp(1_623_000_000.123, UTC)),
        ("sent|delivered", None),
        ("2021-13-40 99:00:00", None),
        (True, None),
        (42, None),
    ],
)
def test_parse_time(text: object, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_sms_report_timestamps_and_delays() -> None:
    stamps = extract_timestamps(_catalogue("01_sms_message_status.json"))
    assert [(s.key, s.label) for s in stamps] == [
        ("sent_time", "sent"),
        ("submit_time", "submitted"),
        ("deliv_time", "delivered"),
    ]
    assert describe_delays(stamps) == [
        "submitted 4 s after sent",
        "delivered 12 s after submitted (16 s after sent)",
    ]
    delays = {(d.later.key, d.earlier.key): d.seconds for d in compute_delays(stamps)}
    assert delays[("deliv_time", "sent_time")] == 16


def test_wrapped_status_unwraps_payload_and_groups_equal_times() -> None:
    stamps = extract_timestamps(_catalogue("03_whatsapp_message_status.json"))
    assert [s.key for s in stamps] == ["processed_at", "timestamp", "delivered_at", "read_at"]
    assert describe_delays(stamps) == ["processed, timestamp, delivered and read at the same time"]


def test_call_and_contact_times() -> None:
    call = extract_timestamps(_catalogue("11_voice_message_out.json"))
    assert describe_delays(call) == ["call ended 16 s after call started"]
    contact = extract_timestamps(_catalogue("19_contacts_subscriber_updated.json"))
    assert describe_delays(contact) == ["updated 32 s after created"]


def test_naive_and_zoned_times_are_not_compared() -> None:
    stamps = extract_timestamps(
        {"sent_time": "2021-04-09 16:27:35", "read_at": "2021-04-09T16:27:40Z", "x": 1}
    )
    assert len(stamps) == 2
    assert describe_delays(stamps) == []
    assert compute_delays(stamps) == []


def test_unreadable_and_non_object_payloads() -> None:
    stamps = extract_timestamps({"timestamp": "yesterday", "created_at": None})
    assert [(s.key, s.when) for s in stamps] == [("timestamp", None)]
    assert extract_timestamps([1, 2]) == []
    assert extract_timestamps("text") == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250 ms"),
        (7.1e-05, "71 \u00b5s"),
        (0.012, "12 ms"),
        (0.9996, "1 s"),
        (1.5, "1.5 s"),
        (2.0, "2 s"),
        (9.97, "10 s"),
        (123, "2 min 3 s"),
        (-0.003, "-3 ms"),
        (0, "0 s"),
        (16, "16 s"),
        (59.6, "1 min"),
        (125, "2 min 5 s"),
        (3780, "1 h 3 min"),
        (7200, "2 h"),
        (187200, "2 d 4 h"),
        (-4, "-4 s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
