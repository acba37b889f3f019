"""EventDecoder rules, one at a time, without the network."""

from __future__ import annotations

import json

import pytest

from inspector.core.provider.decoder import EventDecoder, decode_content, product_hint

JSON = [("Content-Type", "application/json")]


def decode(body: bytes | str | dict, path: str = "/", query: str = "", headers=JSON, method="POST"):
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return EventDecoder().decode(method, path, query, headers, body)


def wrapped(event: str, **payload) -> dict:
    return {"event": event, "payload": payload}


@pytest.mark.parametrize(
    ("status", "klass"),
    [("sent", "pending"), ("delivered", "success"), ("read", "success"), ("failed", "failure"),
     ("deleted", "info"), ("DELIVERED", "success")],
)
@pytest.mark.parametrize("product", ["whatsapp", "rcs", "viber", "sms"])
def test_message_status_classes(product: str, status: str, klass: str) -> None:
    d = decode(wrapped(f"{product}:message:status", id="m1", channel=product, status=status,
                       **{"from": "a", "to": "b"}, timestamp="t"))
    assert (d.event, d.product, d.status, d.status_class) == (
        f"{product}:message:status", product, status, klass)
    assert d.warnings == []


@pytest.mark.parametrize(
    ("code", "klass"),
    [("DELIVRD", "success"), ("UNDELIV", "failure"), ("EXPIRED", "failure"), ("REJECTD", "failure"),
     ("FAILED", "failure"), ("ACCEPTD", "pending"), ("ENROUTE", "pending"), ("UNKNOWN", "unknown")],
)
def test_sms_dlr_codes(code: str, klass: str) -> None:
    d = decode({"id": "x", "mobile": "9191", "status": code, "deliv_time": "t", "sent_time": "t",
                "submit_time": "t"})
    assert (d.event, d.status, d.status_class) == ("sms:message:status", code, klass)


def test_sms_dlr_as_get_query_string() -> None:
    d = decode(b"", method="GET", headers=[], query="id=abc&mobile=918921269000&status=UNDELIV")
    assert (d.event, d.status_class, d.message_id, d.to) == (
        "sms:message:status", "failure", "abc", "918921269000")


def test_sms_dlr_form_encoded_body() -> None:
    d = decode(b"id=abc&mobile=9191&status=DELIVRD&sent_time=2021-04-09+16%3A27%3A35",
               headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert (d.event, d.status_class) == ("sms:message:status", "success")


@pytest.mark.parametrize(
    ("status", "klass"),
    [("ANSWER", "success"), ("NOANSWER", "failure"), ("BUSY", "failure"), ("CANCEL", "failure"),
     ("CONGESTION", "failure"), ("CHANUNAVAIL", "failure")],
)
def test_call_status(status: str, klass: str) -> None:
    d = decode({"bridge": 1, "from": 918919521234, "to": 2, "mid": "m", "start_at": "a",
                "end_at": "b", "duration": "3", "status": status})
    assert (d.event, d.status_class) == ("voice:message:out", klass)


def test_unquoted_numbers_become_strings() -> None:
    d = decode('{"bridge": 1, "from": 918919521234, "to": 918867131234, "mid": 55, "start_at": "a",'
               ' "end_at": "b", "duration": 23, "status": "ANSWER"}')
    assert (d.from_, d.to, d.message_id) == ("918919521234", "918867131234", "55")


def test_missing_and_extra_fields_are_warnings_not_failures() -> None:
    d = decode(wrapped("whatsapp:message:status", id="m", status="read", shoe_size=44))
    assert d.event == "whatsapp:message:status" and d.status_class == "success"
    assert any(w.startswith("missing field(s): channel, from, to, timestamp") for w in d.warnings)
    assert any("unexpected field(s): shoe_size" in w for w in d.warnings)


def test_unknown_wrapped_event_is_kept_with_empty_event() -> None:
    d = decode(wrapped("telegram:message:in", id="m"))
    assert d.event == ""
    assert any("unknown event name 'telegram:message:in'" in w for w in d.warnings)


def test_unrecognised_shape() -> None:
    d = decode({"hello": "world"})
    assert (d.event, d.status_class) == ("", "unknown")
    assert any("not recognised" in w for w in d.warnings)


@pytest.mark.parametrize(
    ("path", "product"),
    [("/sms", "sms"), ("/hooks/WhatsApp/optout", "whatsapp"), ("/a/rcs", "rcs"), ("/voice2", "voice"),
     ("/viber-hook", "viber"), ("/invoice", ""), ("/smsdlr", "")],
)
def test_product_hint(path: str, product: str) -> None:
    assert product_hint(path)[0] == product


def test_two_product_words_are_not_guessed() -> None:
    d = decode({"id": 1, "receiver": "9", "type": "all", "value": "*", "status": "x"}, path="/sms/viber")
    assert d.event == "unsubscription"
    assert any("several products" in w for w in d.warnings)


def test_contact_created_and_updated() -> None:
    base = {"id": 86, "identity": "a@b.c", "first_name": "A", "last_name": "B",
            "created_at": "2023-07-16T11:45:34Z", "updated_at": "2023-07-16T11:45:34Z"}
    d = decode({**base, "status": "Subscriber updated successfully"})
    assert (d.event, d.status_class, d.status) == (
        "contacts:subscriber:subscription", "info", "Subscriber updated successfully")


def test_wrong_types_inside_payload_are_warnings() -> None:
    d = decode(wrapped("rcs:message:in", id="m", channels="not-a-list", message={"type": "text"}))
    assert d.event == "rcs:message:in"
    assert any("unexpected types" in w for w in d.warnings)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"\xff\xfe\x00binary", "not valid UTF-8"), (b"hello there", "not JSON or form data"),
     (b"{broken", "not valid JSON"), (b"[1, 2]", "not an object"), (b"caf\xc3", "not valid UTF-8")],
)
def test_bad_bodies_are_flagged(body: bytes, fragment: str) -> None:
    d = decode(body, headers=[("Content-Type", "text/plain")])
    assert d.event == ""
    assert any(fragment in w for w in d.warnings), d.warnings


def test_deep_nesting_is_flagged_not_crashing() -> None:
    d = decode(b"[" * 10_000 + b"]" * 10_000)
    assert any("nested too deeply" in w for w in d.warnings)


def test_gzip_and_deflate_are_decoded_for_decoding() -> None:
    import gzip
    import zlib

    body = json.dumps(wrapped("viber:message:status", id="m", status="read")).encode()
    for enc, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        d = decode(packed, headers=[*JSON, ("Content-Encoding", enc)])
        assert d.event == "viber:message:status", enc
        assert decode_content(packed, enc)[0] == body


def test_broken_gzip_is_a_warning() -> None:
    d = decode(b"not gzip at all", headers=[*JSON, ("Content-Encoding", "gzip")])
    assert any("does not decompress" in w for w in d.warnings)
