"""What the decoder's per-request fast path must keep: envelope warnings, and no cyclic garbage."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

import inspector.core as core
from inspector.core.provider.decoder import DecodedEvent, EventDecoder

CATALOGUE = Path(__file__).parent.parent / "fixtures" / "catalogue"
JSON = [("Content-Type", "application/json")]
CORE_DIR = str(Path(core.__file__).parent)


def decode(body: bytes, path: str = "/") -> DecodedEvent:
    return EventDecoder().decode("POST", path, "", JSON, body)


def test_envelope_extras_are_listed_sorted_and_the_payload_still_decodes() -> None:
    body = {
        "payload": {"id": "m", "channel": "rcs", "status": "read"},
        "zeta": 1,
        "event": "rcs:message:status",
        "alpha": 2,
    }
    d = decode(json.dumps(body).encode())
    assert (d.event, d.product, d.status_class) == ("rcs:message:status", "rcs", "success")
    assert d.warnings[0] == "unexpected top-level field(s) next to the payload: alpha, zeta"


def test_unknown_event_takes_its_product_from_the_payload_channel() -> None:
    d = decode(b'{"event": "rcs:message:typing", "payload": {"channel": "rcs"}}')
    assert (d.event, d.product) == ("", "rcs")
    assert d.warnings == [
        "unknown event name 'rcs:message:typing'; not in the provider's catalogue"
    ]


@contextmanager
def frames_left_in_cycles() -> Iterator[list[FrameType]]:
    """Frames of inspector.core functions that only the cycle collector would free."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: list[FrameType] = []
    try:
        yield found
        gc.collect()
        found.extend(
            o
            for o in gc.garbage
            if isinstance(o, FrameType) and o.f_code.co_filename.startswith(CORE_DIR)
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize(
    "body",
    [
        # three of the catalogue examples carry a trailing comma
        *(pytest.param(p.read_bytes(), id=p.stem) for p in sorted(CATALOGUE.glob("*.json"))),
        b'{"bridge": 91806828XXXX, "to": 1}',
        b'{"id": "x", "status": ',
        b"{broken",
        b'{"a": "x" junk}',
        b"[" * 10_000 + b"]" * 10_000,
        b'{"event": "rcs:message:in", "payload": {"channels": "not-a-list"}}',
    ],
)
def test_decoding_leaves_no_reference_cycles(body: bytes) -> None:
    # The session writer decodes every request; a kept exception (its traceback holds the
    # frame that holds it) would leave garbage for the collector on each one.
    with frames_left_in_cycles() as frames:
        decode(body, "/sms")
    assert frames == [], [f.f_code.co_name for f in frames]
