"""Connecting the real provider, over loopback: verification, authenticity, retries, the
status vocabulary, the documented DLR fields and composed webhooks (delivery.md)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from inspector.core.capture.engine import CaptureEngine
from inspector.core.provider.status_table import SMS_STATUSES
from inspector.core.session.query import compile_query, count_matching, register_functions
from inspector.core.session.retries import earlier_attempt
from inspector.core.session.store import (
    SCHEMA_VERSION,
    SessionStore,
    open_existing,
)
from inspector.core.share.export import export_jsonl
from tests.core.httpraw import RawResponse, send
from tests.factories import last_stored, running_engine, schema_2_session

JSON = [("Content-Type", "application/json")]
FORM = [("Content-Type", "application/x-www-form-urlencoded")]

# The console's handshake as documented, trailing comma included (delivery.md, section 1).
HANDSHAKE = b'{\n"validation_key": "vk-4f1c2a9d",\n"challenge": "c8a1f9e0-3b7d",\n}'

# The SMS webhook page's delivery report, every documented field (delivery.md, section 4).
FULL_DLR = b"""{
"id": "b34e35ad-fe34-4a8b-977c-b21cd76cd7d6:1",
"mobile": "918921269xxx",
"status": "DELIVRD",
"credits": "2.0000",
"units": 2,
"deliv_time": "2021-04-09 16:27:51",
"sent_time": "2021-04-09 16:27:35",
"submit_time": "2021-04-09 16:27:39",
"deliv_at": "1617965871",
"sent_at": "1617965855",
"submit_at": "1617965859",
"cid": "1234444XXXX",
"custom": "9882XXXX",
"custom1": "order-17",
"custom2": "batch-3",
"location": "India",
"region": "Bangalore",
"provider": "Jio",
"location_code": "in",
"region_code": "KA",
"provider_code": "RJ"
}"""

WA_STATUS = (
    b'{"event":"whatsapp:message:status","payload":{"id":"a418","channel":"whatsapp",'
    b'"from":"919019120xxx","to":"9190199xxxxx","status":"read",'
    b'"timestamp":"2021-06-18T14:48:06.886358Z","url":"https:\\/\\/x.example\\/r"}}'
)




def post(engine: CaptureEngine, target: str, body: bytes, headers: Any = None) -> RawResponse:
    return send(engine.url, "POST", target, headers if headers is not None else JSON, body)


# -- 1. URL verification --------------------------------------------------------------------


def test_the_documented_handshake_is_its_own_event(engine: CaptureEngine) -> None:
    resp = post(engine, "/sms?token=vk-4f1c2a9d", HANDSHAKE)
    assert resp.status == 200 and resp.json() == {"challenge": "c8a1f9e0-3b7d"}
    row = last_stored(engine)
    assert (row.event, row.product, row.status_class) == ("webhook:verification", "webhook", "info")
    assert "vk-4f1c2a9d" in row.summary.summary  # the validation key shown
    assert row.warnings == []
    assert row.verification == {
        "token": "vk-4f1c2a9d",
        "validation_key": "vk-4f1c2a9d",
        "challenge": "c8a1f9e0-3b7d",
        "key_matches": True,
    }


def test_a_configured_key_that_matches_gives_no_warning(session_path: Path) -> None:
    answers = {"verification": {"enabled": True, "key": "vk-4f1c2a9d"}}
    with running_engine(session_path, answers=answers) as eng:
        assert post(eng, "/sms?token=vk-4f1c2a9d", HANDSHAKE).json() == {"challenge": "c8a1f9e0-3b7d"}
        row = last_stored(eng)
    assert row.warnings == [] and row.verification is not None
    assert row.verification["key_matches"] is True


def test_a_configured_key_that_differs_is_answered_and_flagged(session_path: Path) -> None:
    answers = {"verification": {"enabled": True, "key": "other-key-77"}}
    with running_engine(session_path, answers=answers) as eng:
        resp = post(eng, "/sms?token=vk-4f1c2a9d", HANDSHAKE)
        row = last_stored(eng)
    assert resp.json() == {"challenge": "c8a1f9e0-3b7d"}  # the user wants the URL accepted
    assert row.verification is not None and row.verification["key_matches"] is False
    assert len(row.warnings) == 2  # token and validation_key both differ
    assert "'vk-4'\u2026" in row.warnings[0] and "'othe'\u2026" in row.warnings[0]
    assert "other-key-77" not in " ".join(row.warnings)


def test_without_the_answer_the_handshake_is_still_recorded(session_path: Path) -> None:
    with running_engine(session_path, answers={"verification": {"enabled": False}}) as eng:
        resp = post(eng, "/sms?token=vk-4f1c2a9d", HANDSHAKE)
        row = last_stored(eng)
    assert "challenge" not in resp.json()
    assert row.event == "webhook:verification"


# -- 2. authenticity ------------------------------------------------------------------------


def spatie(body: bytes, key: str) -> str:
    """The provider's sender library's default signer: ``hash_hmac('sha256', $body, $key)``."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


AUTH = {"auth": {"secret": "s3cret-value", "signing_keys": ["9a1f-webhook-id"]}}


@pytest.fixture
def checked(session_path: Path):
    with running_engine(session_path, inspection=AUTH) as eng:
        yield eng


@pytest.mark.parametrize(
    ("authorization", "result"),
    [("Bearer s3cret-value", "ok"), ("Bearer guessed", "wrong"), (None, "missing")],
)
def test_bearer_secret(checked: CaptureEngine, authorization: str | None, result: str) -> None:
    headers = list(JSON) + ([("Authorization", authorization)] if authorization else [])
    post(checked, "/sms", FULL_DLR, headers)
    row = last_stored(checked)
    assert [(c, r) for c, r, _ in row.auth] == [("bearer", result)]
    assert row.auth_result == {"ok": "ok", "wrong": "failed", "missing": "missing"}[result]


@pytest.mark.parametrize(
    ("signature", "result"),
    [(spatie(WA_STATUS, "9a1f-webhook-id"), "ok"), (spatie(WA_STATUS, "nope"), "mismatch"),
     (None, "missing")],
)  # fmt: skip
def test_signature_header(checked: CaptureEngine, signature: str | None, result: str) -> None:
    headers = list(JSON) + [("Authorization", "Bearer s3cret-value")]
    if signature:
        headers.append(("Signature", signature))
    post(checked, "/whatsapp", WA_STATUS, headers)
    row = last_stored(checked)
    assert row.auth[1][:2] == ("signature", result)
    if result == "ok":
        assert f"computed with signing key over {len(WA_STATUS)} bytes" in row.auth[1][2]
        assert row.auth_result == "ok"
    else:
        assert row.auth_result == ("failed" if result == "mismatch" else "missing")


def test_secrets_stay_out_of_the_session_and_the_export(checked: CaptureEngine) -> None:
    post(checked, "/whatsapp", WA_STATUS, list(JSON) + [("Signature", "00")])
    path = checked.store.path
    checked.stop()
    raw = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes()
                               if path.with_name(path.name + "-wal").exists() else b"")  # fmt: skip
    assert b"s3cret-value" not in raw and b"9a1f-webhook-id" not in raw
    conn = open_existing(path)
    out = io.StringIO()
    export_jsonl(conn, out)
    conn.close()
    line = json.loads(out.getvalue())
    assert "s3cret-value" not in out.getvalue() and "9a1f-webhook-id" not in out.getvalue()
    assert [a["result"] for a in line["auth"]] == ["missing", "mismatch"]


def test_auth_filter_terms(checked: CaptureEngine) -> None:
    good = list(JSON) + [("Authorization", "Bearer s3cret-value")]
    post(checked, "/sms", FULL_DLR, good)
    post(checked, "/sms", FULL_DLR.replace(b"order-17", b"order-18"), list(JSON))
    post(checked, "/sms", FULL_DLR.replace(b"order-17", b"order-19"),
         list(JSON) + [("Authorization", "Bearer x")])  # fmt: skip
    conn = checked.store.open_reader()
    register_functions(conn)
    try:
        counts = {t: count_matching(conn, compile_query(t)) for t in
                  ("auth:ok", "auth:failed", "auth:missing", "auth:none", "-auth:ok")}  # fmt: skip
    finally:
        conn.close()
    assert counts == {"auth:ok": 1, "auth:failed": 1, "auth:missing": 1, "auth:none": 0,
                      "-auth:ok": 2}  # fmt: skip


# -- 3. retries -----------------------------------------------------------------------------


def test_a_re_sent_body_is_attempt_2_then_3(engine: CaptureEngine) -> None:
    post(engine, "/sms", FULL_DLR)
    first = last_stored(engine)
    post(engine, "/sms", FULL_DLR.replace(b"DELIVRD", b"MOB-OFF"))  # another payload
    post(engine, "/other", FULL_DLR)  # same bytes, another path: not a re-delivery
    assert last_stored(engine).attempt == 1
    post(engine, "/sms", FULL_DLR)
    second = last_stored(engine)
    assert (second.attempt, second.first_id) == (2, first.id)
    post(engine, "/sms", FULL_DLR)
    third = last_stored(engine)
    assert (third.attempt, third.first_id) == (3, first.id)
    conn = engine.store.open_reader()
    register_functions(conn)
    try:
        assert count_matching(conn, compile_query("is:retry")) == 2
        before = earlier_attempt(conn, third.id)
        assert before is not None and before.id == second.id and before.attempt == 2
    finally:
        conn.close()


def test_retries_are_found_across_indexing_and_a_new_writer(session_path: Path) -> None:
    with running_engine(session_path) as eng:
        post(eng, "/sms", FULL_DLR)
        time.sleep(0.3)  # the writer indexes in a quiet moment: by_body answers from then on
        post(eng, "/sms", FULL_DLR)
        assert last_stored(eng).attempt == 2
    with running_engine(session_path) as eng:  # the session reopened: a new writer
        post(eng, "/sms", FULL_DLR)
        row = last_stored(eng)
    assert (row.attempt, row.first_id) == (3, 1)


# -- 4. the provider's judgement ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status", "delay", "sentence"),
    [
        ("/sms", FULL_DLR, 201, 0.0, "retry this in about 30 minutes, up to 3 times"),
        ("/sms", FULL_DLR, 202, 0.0, None),
        ("/whatsapp", WA_STATUS, 204, 0.0, None),
        ("/whatsapp", WA_STATUS, 200, 3.5, "came after 3.5 s, past its 3 s limit"),
        ("/whatsapp", WA_STATUS, 500, 0.0, "retry this after 10 s and again after 100 s"),
    ],
)
def test_answers_are_judged_by_the_providers_rules(
    path: str, body: bytes, status: int, delay: float, sentence: str | None
) -> None:
    from inspector.core.capture.answers import Answer
    from inspector.core.capture.inspection import RequestInspection
    from inspector.core.provider.decoder import EventDecoder
    from tests.factories import captured_request

    request = captured_request(path, body, seq=1)
    inspection = RequestInspection()
    decoded = inspection.decode(EventDecoder(), request)
    request.response_status = status
    inspection.judge(request, decoded, Answer(status, delay=delay))
    judged = [w for w in decoded.warnings if "The provider counts" in w]
    if sentence is None:
        assert judged == []
    else:
        assert len(judged) == 1 and sentence in judged[0]


# -- 5, 6. statuses and the documented fields -------------------------------------------------


def test_the_documented_dlr_with_all_its_fields_decodes_without_warning(
    engine: CaptureEngine,
) -> None:
    post(engine, "/sms", FULL_DLR)
    row = last_stored(engine)
    assert (row.event, row.status, row.status_class) == ("sms:message:status", "DELIVRD", "success")
    assert row.warnings == []


def test_every_status_of_the_table_maps_to_its_class(engine: CaptureEngine) -> None:
    for code, info in SMS_STATUSES.items():
        body = FULL_DLR.replace(b'"DELIVRD"', json.dumps(code).encode()).replace(
            b"order-17", code.encode()
        )
        post(engine, "/sms", body)
        row = last_stored(engine)
        assert (row.event, row.status, row.status_class) == (
            "sms:message:status", code, info.status_class
        ), code  # fmt: skip
        assert row.warnings == [], code
    assert SMS_STATUSES["AWAITING-DLR"].status_class == "pending"


def test_an_unknown_status_stays_raw_with_class_unknown(engine: CaptureEngine) -> None:
    post(engine, "/sms", FULL_DLR.replace(b'"DELIVRD"', b'"WEIRD-9"'))
    row = last_stored(engine)
    assert (row.status, row.status_class) == ("WEIRD-9", "unknown")


# -- 7. composed webhooks -------------------------------------------------------------------

COMPOSE = """\
# copied from the console
GET https://example.com/ack?message_id=@{{id}}&mobile_number=@{{mobile}}&message_status=@{{status}}
---
POST https://example.com/dlr/form
ref=@{{id}}&phone=@{{mobile}}&state=@{{status}}&charged=@{{credits}}
---
PUT https://example.com/dlr/json
{"msg": {"ref": "@{{id}}"}, "phone": "+@{{mobile}}", "state": "@{{status}}", "units": @{{units}}}
"""


@pytest.fixture
def composed(session_path: Path):
    with running_engine(session_path, inspection={"compose": [COMPOSE]}) as eng:
        yield eng


def test_a_composed_get_decodes_to_the_dlr_fields(composed: CaptureEngine) -> None:
    send(composed.url, "GET",
         "/ack?message_id=m-77&mobile_number=918921269123&message_status=DELIVRD")  # fmt: skip
    row = last_stored(composed)
    assert (row.event, row.product, row.message_id, row.to_addr, row.status, row.status_class) == (
        "sms:message:status", "sms", "m-77", "918921269123", "DELIVRD", "success"
    )  # fmt: skip
    assert row.warnings == []


def test_a_composed_form_post_decodes_to_the_dlr_fields(composed: CaptureEngine) -> None:
    post(composed, "/dlr/form", b"ref=m-78&phone=918921269124&state=MOB-OFF&charged=1.0", FORM)
    row = last_stored(composed)
    assert (row.event, row.message_id, row.to_addr, row.status, row.status_class) == (
        "sms:message:status", "m-78", "918921269124", "MOB-OFF", "failure"
    )  # fmt: skip
    assert row.warnings == []


def test_a_composed_json_put_decodes_and_names_what_is_missing(composed: CaptureEngine) -> None:
    send(composed.url, "PUT", "/dlr/json", JSON,
         b'{"msg": {"ref": "m-79"}, "phone": "+9189", "state": "DELIVRD", "units": 2}')  # fmt: skip
    row = last_stored(composed)
    assert (row.message_id, row.to_addr, row.status) == ("m-79", "9189", "DELIVRD")
    send(composed.url, "PUT", "/dlr/json", JSON, b'{"msg": {}, "state": "DELIVRD"}')
    row = last_stored(composed)
    assert row.status == "DELIVRD"
    assert row.warnings == [
        "composed template: request lacks msg.ref (for id), phone (for mobile), units (for units)"
    ]


# -- export and old sessions ----------------------------------------------------------------


def test_export_carries_the_new_keys(engine: CaptureEngine) -> None:
    post(engine, "/sms?token=vk-4f1c2a9d", HANDSHAKE)
    post(engine, "/sms", FULL_DLR)
    post(engine, "/sms", FULL_DLR)
    conn = engine.store.open_reader()
    out = io.StringIO()
    try:
        export_jsonl(conn, out)
    finally:
        conn.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["auth"], x["attempt"], x["first_id"]) for x in lines] == [
        ([], 1, None), ([], 1, None), ([], 2, 2)
    ]  # fmt: skip
    assert lines[0]["verification"]["challenge"] == "c8a1f9e0-3b7d"
    assert lines[1]["verification"] is None


def test_a_schema_2_session_opens_exports_and_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "v2.whsession"
    schema_2_session(path)
    conn = open_existing(path)  # read as it is, without upgrading (export does this)
    out = io.StringIO()
    export_jsonl(conn, out)
    conn.close()
    line = json.loads(out.getvalue())
    assert (line["auth"], line["attempt"], line["first_id"], line["verification"]) == (
        [], 1, None, None
    )  # fmt: skip
    store = SessionStore(path)
    try:
        stored = store.get(1)
        assert stored is not None and stored.attempt == 1 and stored.auth_result == ""
    finally:
        store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


def test_a_restarted_writer_keeps_checking(checked: CaptureEngine) -> None:
    import os
    import signal

    committer = checked._committer
    assert committer is not None and committer._proc is not None
    first = committer._proc.pid
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        resp = post(checked, "/sms", FULL_DLR, list(JSON) + [("Authorization", "Bearer nope")])
        if resp.status == 200:
            break
        time.sleep(0.05)
    assert committer._proc.pid != first
    assert last_stored(checked).auth[0][:2] == ("bearer", "wrong")


def test_the_verification_product_is_filterable(engine: CaptureEngine) -> None:
    post(engine, "/sms?token=vk-4f1c2a9d", HANDSHAKE)
    post(engine, "/sms", FULL_DLR)
    conn = engine.store.open_reader()
    register_functions(conn)
    try:
        assert count_matching(conn, compile_query("product:webhook")) == 1
        assert count_matching(conn, compile_query("event:webhook:verification")) == 1
    finally:
        conn.close()
