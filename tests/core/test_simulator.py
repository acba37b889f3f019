"""The simulator: every event and story decodes, with our own decoder, as what it claims."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from inspector.core.capture.answers import DEFAULT_CONFIG
from inspector.core.capture.inspection import RequestInspection
from inspector.core.capture.rules import parse_rules, rules_config
from inspector.core.provider.catalogue import EVENTS
from inspector.core.provider.decoder import DecodedEvent, EventDecoder
from inspector.core.provider.simulator import (
    DLR_EXTRA_FIELDS,
    SAMPLES,
    SMS_STATUSES,
    VERIFICATION_EVENT,
    SimRequest,
    build,
    dlr_request,
    new_context,
    php_json,
    sign,
)
from inspector.core.send.client import target_url
from inspector.core.send.simulate import SendPlan, run_plan
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import get_request
from tests.factories import running_engine

DECODER = EventDecoder()
INSPECTION = RequestInspection()

def decode(req: SimRequest) -> DecodedEvent:
    """Decode as the writer does: the URL verification, then the provider's events."""
    captured = CapturedRequest(
        1, time.time_ns() // 1000, req.method, req.path, req.query, "1.1", "127.0.0.1",
        list(req.headers), req.body,
    )  # fmt: skip
    return INSPECTION.decode(DECODER, captured)


def claimed(req: SimRequest) -> tuple[str, str]:
    return req.claim.event, req.claim.status_class


@pytest.mark.parametrize("name", list(SAMPLES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_event_and_story_decodes_as_it_claims(name: str, seed: int) -> None:
    for req in build(name, new_context(seed=seed)):
        dec = decode(req)
        assert (dec.event, dec.status_class) == claimed(req), req.label
        assert dec.warnings == []


def test_every_catalogue_event_can_be_sent() -> None:
    claims = {r.claim.event for name in SAMPLES for r in build(name, new_context(seed=1))}
    assert {e.name for e in EVENTS} <= claims


@pytest.mark.parametrize("code", list(SMS_STATUSES))
def test_each_status_of_the_providers_table(code: str) -> None:
    req = dlr_request(new_context(seed=5), status=code)
    dec = decode(req)
    assert req.claim.status_class == SMS_STATUSES[code]
    assert dec.status == code
    assert (dec.event, dec.status_class) == claimed(req)
    assert dec.warnings == []


def test_ids_and_timestamps_are_fresh() -> None:
    a, b = (json.loads(build("whatsapp:message:status")[0].body) for _ in range(2))
    assert a["payload"]["id"] != b["payload"]["id"]
    before = time.time()
    (dlr,) = build("sms:message:status")
    fields = json.loads(dlr.body)
    assert abs(int(fields["deliv_at"]) - before) < 5
    assert set(DLR_EXTRA_FIELDS) <= set(fields)


def test_bodies_are_php_json_with_escaped_slashes() -> None:
    (req,) = build("whatsapp:message:in:image", new_context(seed=3))
    assert b"https:\\/\\/" in req.body and b"https://" not in req.body
    assert b": " not in req.body and b", " not in req.body  # compact, as json_encode
    assert json.loads(req.body)["payload"]["message"]["payload"]["url"].startswith("https://")
    assert php_json({"t": "caf\u00e9 / x"}) == b'{"t":"caf\\u00e9 \\/ x"}'


def test_dlr_get_and_form_variants() -> None:
    (get,) = build("sms:message:status:get", new_context(seed=1))
    assert get.method == "GET" and get.body == b"" and get.header("Content-Type") is None
    assert dict(parse_qsl(get.query))["status"] in SMS_STATUSES
    (form,) = build("sms:message:status:form", new_context(seed=1))
    assert form.header("Content-Type") == "application/x-www-form-urlencoded"
    assert "deliv_at" in dict(parse_qsl(form.body.decode()))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_headers_secret_and_signature(name: str) -> None:
    ctx = new_context(secret="s3cret", signing_key="wh-123", seed=2)
    for req in build(name, ctx):
        assert req.header("Authorization") == "Bearer s3cret"
        signature = req.header("Signature")
        if req.product in ("whatsapp", "rcs", "viber"):
            expected = hmac.new(b"wh-123", req.body, hashlib.sha256).hexdigest()
            assert signature == expected == sign(req.body, "wh-123")
            assert signature == signature.lower() and len(signature) == 64
        else:
            assert signature is None  # the provider signs only WhatsApp, RCS and Viber
    plain = build(name, new_context(seed=2))
    assert all(r.header("Authorization") is None and r.header("Signature") is None for r in plain)


def test_set_overrides_payload_fields_keeping_their_type() -> None:
    ctx = new_context(overrides={"status": "failed", "foreign_id": "ref-1"}, seed=1)
    (req,) = build("whatsapp:message:status", ctx)
    payload = json.loads(req.body)["payload"]
    assert (payload["status"], payload["foreign_id"]) == ("failed", "ref-1")
    assert req.claim.status_class == "failure" and decode(req).status_class == "failure"
    (dlr,) = build("sms:message:status", new_context(overrides={"units": "3"}, seed=1))
    assert json.loads(dlr.body)["units"] == 3
    (msg,) = build("whatsapp:message:in", new_context(overrides={"message.payload.text": "hi"}))
    assert json.loads(msg.body)["payload"]["message"]["payload"]["text"] == "hi"


def test_a_story_keeps_one_message_id_and_its_order() -> None:
    steps = build("story:whatsapp-read", new_context(seed=4))
    payloads = [json.loads(s.body)["payload"] for s in steps]
    assert [p["status"] for p in payloads] == ["sent", "delivered", "read"]
    assert len({p["id"] for p in payloads}) == 1
    assert [p["timestamp"] for p in payloads] == sorted(p["timestamp"] for p in payloads)
    assert steps[0].after == 0 and all(s.after > 0 for s in steps[1:])


def test_target_url_keeps_a_given_path() -> None:
    (req,) = build("verification", new_context(seed=1))
    assert target_url("http://127.0.0.1:1/", req).startswith("http://127.0.0.1:1/?token=vk-")
    (dlr,) = build("sms:message:status", new_context(seed=1))
    assert target_url("http://h:1/", dlr) == "http://h:1/sms"
    assert target_url("http://h:1/hooks/dlr?k=1", dlr) == "http://h:1/hooks/dlr?k=1"


# -- over loopback --------------------------------------------------------------------------


def test_every_sample_over_loopback_is_stored_as_it_claims(session_path: Path) -> None:
    with running_engine(session_path) as eng:
        sent = []
        for name in SAMPLES:
            plan = SendPlan(name, eng.url, speed=1000.0, signing_key="k")
            sent += asyncio.run(run_plan(plan))
        assert all(d.status == 200 and d.delivered for d in sent)
        conn = eng.store.open_reader()
        try:
            n = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
            assert n == len(sent)
            for i, d in enumerate(sent, start=1):
                row = get_request(conn, i)
                assert row is not None and row.body == d.request.body
                assert (row.event, row.status_class) == claimed(d.request)
                assert row.warnings == []
        finally:
            conn.close()
    # The verification was answered with its challenge by the listener.
    challenge = json.loads(sent[[d.request.claim.event for d in sent].index(VERIFICATION_EVENT)]
                           .request.body)["challenge"]  # fmt: skip
    assert challenge


def test_retry_story_follows_the_answers(session_path: Path) -> None:
    rules = parse_rules('[[rule]]\nname = "fails"\npath = "/whatsapp"\nrespond = [500, 500, 200]\n')
    config = {**DEFAULT_CONFIG, "rules": rules_config(rules)}
    with running_engine(session_path, answers=config) as eng:
        started = time.monotonic()
        got = asyncio.run(run_plan(SendPlan("story:retry", eng.url, speed=100.0)))
        elapsed = time.monotonic() - started
        assert [d.status for d in got] == [500, 500, 200]
        assert [d.request.label for d in got] == ["first try", "retry 1", "retry 2"]
        assert len({d.request.body for d in got}) == 1  # the same delivery, byte for byte
        assert 1.0 <= elapsed < 5  # 10 s and 100 s more at 100x
        # With the app answering 200, the provider does not retry.
        again = asyncio.run(run_plan(SendPlan("story:retry", eng.url, speed=100.0)))
        assert [d.status for d in again] == [200]


def test_slow_answer_counts_as_a_failure_for_whatsapp(session_path: Path) -> None:
    rules = parse_rules('[[rule]]\nname = "hang"\npath = "/whatsapp"\nrespond = "hold"\n')
    config = {**DEFAULT_CONFIG, "rules": rules_config(rules)}
    with running_engine(session_path, answers=config) as eng:
        (d,) = asyncio.run(run_plan(SendPlan("whatsapp:message:status", eng.url)))
        assert d.status == 0 and not d.delivered and "no answer within 3 s" in d.error


def test_count_and_rate(session_path: Path) -> None:
    with running_engine(session_path) as eng:
        started = time.monotonic()
        got = asyncio.run(run_plan(SendPlan("sms:message:status", eng.url, count=10, rate=50)))
        elapsed = time.monotonic() - started
        assert len(got) == 10 and all(d.status == 200 for d in got)
        assert len({d.request.body for d in got}) == 10  # fresh ids each time
        assert 9 / 50 <= elapsed < 3
