"""Bodies built to hurt: slow repairs, compression and array bombs, odd encodings.

Each is decoded in bounded time and memory, flagged with a warning that says what was
wrong, and never stops the request from being recorded.
"""

from __future__ import annotations

import codecs
import gzip
import json
import time
import tracemalloc
import zlib

import pytest

from inspector.core.provider.decoder import (
    INFLATE_LIMIT,
    JSON_MAX_ITEMS,
    EventDecoder,
    body_text,
    decode_content,
    inflate,
)
from inspector.core.provider.lenient_json import parse_lenient

JSON = [("Content-Type", "application/json")]
FORM = [("Content-Type", "application/x-www-form-urlencoded")]
STATUS = {"event": "whatsapp:message:status", "payload": {"id": "m1", "status": "read"}}


def decode(body: bytes, headers: list[tuple[str, str]] | None = None, **kw: str):  # noqa: ANN201
    return EventDecoder().decode(
        kw.get("method", "POST"), kw.get("path", "/"), kw.get("query", ""), headers or JSON, body
    )


def _gzip_of_zeros(size: int) -> bytes:
    """A gzip member inflating to ``size`` zero bytes, built without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"0" * (1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    parts.append(packer.flush())
    return b"".join(parts)


# -- 2. a slow parse -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" + b"a," * 200_000 + b"a]",  # bare words: each used to cost a scan from the start
        b"[" + b"[1,],\n" * 70_000 + b"1]",  # trailing commas, many lines
    ],
    ids=["bare-words", "trailing-commas"],
)
def test_a_body_full_of_faults_is_repaired_in_linear_time(body: bytes) -> None:
    start = time.perf_counter()
    d = decode(body)
    took = time.perf_counter() - start
    # Quadratic, this 400 KB body took 10-30 s; linear, about 0.1 s.
    assert took < 2.0, f"{took:.1f} s"
    assert any("decoded leniently" in w and "more)" in w for w in d.warnings), d.warnings


def test_repair_gives_up_at_its_time_limit_and_says_so() -> None:
    text = "[" + "a," * 300_000 + "a]"
    start = time.perf_counter()
    r = parse_lenient(text, time_limit=0.01)
    assert time.perf_counter() - start < 1.0
    assert not r.ok and r.value is None
    assert len(r.warnings) == 1 and "given up" in r.warnings[0], r.warnings


# -- 3. compression and array bombs ----------------------------------------------------


def test_gzip_bomb_is_inflated_only_to_the_limit() -> None:
    bomb = _gzip_of_zeros(INFLATE_LIMIT * 5)  # about 250 KB that would inflate to 250 MiB
    tracemalloc.start()
    try:
        d = decode(bomb, [*JSON, ("Content-Encoding", "gzip")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * INFLATE_LIMIT, f"peak {peak >> 20} MiB"
    assert d.event == ""
    assert any("inflates past 50.0 MiB" in w and "raw bytes kept" in w for w in d.warnings)


def test_inflate_says_where_it_stopped_for_viewing_too() -> None:
    bomb = _gzip_of_zeros(4 << 20)
    shown, problem = decode_content(bomb, "gzip", limit=1 << 20)
    assert len(shown) == 1 << 20 and shown == b"0" * (1 << 20)
    assert problem is not None and "inflates past 1.0 MiB" in problem
    whole = inflate(bomb, "gzip", limit=8 << 20)
    assert not whole.truncated and whole.problem is None and len(whole.data) == 4 << 20


def test_gzip_with_two_members_and_deflate_both_ways_still_inflate() -> None:
    body = json.dumps(STATUS).encode()
    assert decode_content(gzip.compress(body[:10]) + gzip.compress(body[10:]), "gzip")[0] == body
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_deflate = raw.compress(body) + raw.flush()
    assert decode_content(raw_deflate, "deflate")[0] == body
    assert decode_content(zlib.compress(body), "deflate")[0] == body
    assert "does not decompress" in (decode_content(gzip.compress(body)[:-12], "gzip")[1] or "")


def test_json_array_bomb_is_not_built_in_memory() -> None:
    count = JSON_MAX_ITEMS + 10
    body = b"[" + b"[]," * count + b"[]]"
    tracemalloc.start()
    try:
        d = decode(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Built, [[],[],...] would take about 60 bytes per 3; the text alone is 6 MB.
    assert peak < 64 << 20, f"peak {peak >> 20} MiB"
    assert any("array bomb" in w and "raw bytes kept" in w for w in d.warnings), d.warnings


def test_big_but_ordinary_json_is_still_decoded() -> None:
    payload = dict(STATUS["payload"], text="x" * (4 << 20))
    d = decode(json.dumps({**STATUS, "payload": payload}).encode())
    assert d.event == "whatsapp:message:status"


# -- 9. text encodings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "name"),
    [
        (lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), "UTF-8 with a byte-order mark"),
        (lambda t: t.encode("utf-16"), "UTF-16 (little-endian, with a byte-order mark)"),
        (lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"), "UTF-16 (big-endian, with"),
        (lambda t: t.encode("utf-16-le"), "UTF-16 (little-endian, no byte-order mark)"),
        (lambda t: t.encode("utf-16-be"), "UTF-16 (big-endian, no byte-order mark)"),
        (lambda t: t.encode("utf-32"), "UTF-32"),
    ],
    ids=["utf8-bom", "utf16-bom", "utf16be-bom", "utf16le", "utf16be", "utf32-bom"],
)
def test_bom_and_utf16_json_is_decoded_with_a_warning_naming_it(encode, name: str) -> None:  # noqa: ANN001
    d = decode(encode(json.dumps(STATUS)))
    assert d.event == "whatsapp:message:status" and d.status_class == "success"
    assert any(name in w and "decoded" in w for w in d.warnings), d.warnings


def test_body_text_leaves_plain_utf8_and_binary_alone() -> None:
    assert body_text("caf\u00e9".encode()) == ("caf\u00e9", None)
    assert body_text(b"\x89PNG\r\n\x1a\n\x00\x00") == (None, None)


# -- 18. JSON sent as form data --------------------------------------------------------


def test_json_sent_as_form_data_decodes_as_json_naming_the_mismatch() -> None:
    d = decode(json.dumps(STATUS).encode(), FORM)  # what curl -d '{...}' sends
    assert d.event == "whatsapp:message:status" and d.message_id == "m1"
    assert any(
        "JSON but its Content-Type is application/x-www-form-urlencoded" in w for w in d.warnings
    ), d.warnings


def test_json_sent_as_text_plain_is_json_too() -> None:
    d = decode(json.dumps(STATUS).encode(), [("Content-Type", "text/plain")])
    assert d.event == "whatsapp:message:status"
    assert any("Content-Type is text/plain" in w for w in d.warnings)


def test_real_form_data_is_still_form_data() -> None:
    d = decode(b"id=m2&mobile=919000000000&status=DELIVRD&deliv_time=1", FORM, path="/sms")
    assert d.event == "sms:message:status" and d.message_id == "m2"
    assert not any("Content-Type" in w for w in d.warnings)


# -- 21. empty bodies ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_an_empty_body_is_flagged_where_a_body_belongs(method: str) -> None:
    d = decode(b"", method=method)
    assert any(f"empty body: a {method} webhook" in w for w in d.warnings), d.warnings
    assert any("empty body" in w for w in decode(b"  \r\n", method=method).warnings)


def test_a_get_without_a_body_is_not_flagged() -> None:
    assert decode(b"", method="GET").warnings == []
    d = decode(b"", method="GET", path="/sms", query="id=m&mobile=91&status=DELIVRD&deliv_time=1")
    assert d.event == "sms:message:status"
    assert not any("empty body" in w for w in d.warnings)


# -- 1. lone surrogates ----------------------------------------------------------------


def test_lone_surrogates_are_flagged_and_decoded_fields_stay_storable() -> None:
    body = b'{"id": "m\\ud800", "mobile": "91\\udfff", "status": "DELIVRD", "deliv_time": 1}'
    d = decode(body, path="/sms")
    assert d.event == "sms:message:status"
    for value in (d.message_id, d.to, *d.warnings):
        value.encode("utf-8")  # would raise on a lone surrogate (SQLite refuses them too)
    assert d.message_id == "m\\ud800"
    assert any("lone surrogate" in w for w in d.warnings), d.warnings


def test_an_array_bomb_sent_as_form_data_stays_flagged() -> None:
    d = decode(b"[" + b"[]," * (JSON_MAX_ITEMS + 10) + b"[]]", FORM)
    assert any("array bomb" in w for w in d.warnings), d.warnings
