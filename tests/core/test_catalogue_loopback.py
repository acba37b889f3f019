"""Every example payload of the provider's catalogue, sent over loopback exactly as printed."""

from __future__ import annotations

import pytest

from inspector.core.provider.catalogue import EVENTS, EVENTS_BY_NAME
from tests.conftest import CATALOGUE, FIXTURES
from tests.core.httpraw import send

PLACEHOLDER = "sent|delivered|read|failed|deleted"
OPT_OUT_TEXT = "Unsubscriber created successfully"

# fixture file, URL path, event, status, status class, message id, from, to
CASES = [
    ("01_sms_message_status", "/sms", "sms:message:status", "DELIVRD", "success",
     "b34e35ad-fe34-4a8b-977c-b21cd76cd7d6:1", "", "918921269xxx"),
    ("02_sms_unsubscription", "/hooks/sms", "sms:unsubscription", OPT_OUT_TEXT, "opt_out",
     "d105a1ef-6728-4563-8b85-7f5356c8axxx", "917002088xxx", "Demo12"),
    ("03_whatsapp_message_status", "/whatsapp", "whatsapp:message:status", PLACEHOLDER, "unknown",
     "a418d672-9781-4d97-b517-a56f7d95ad8a", "919019120xxx", "9190199xxxxx"),
    ("04_whatsapp_message_in_text", "/whatsapp", "whatsapp:message:in", "", "inbound",
     "our-message-id", "91XXXXXX", "919019120xxx"),
    ("05_whatsapp_message_in_image", "/any", "whatsapp:message:in", "", "inbound",
     "our-message-id", "91XXXXXX", "919019120xxx"),
    ("06_whatsapp_unsubscription", "/whatsapp/optout", "whatsapp:unsubscription", OPT_OUT_TEXT,
     "opt_out", "436", "91700208xxxx", "WUC"),
    ("07_rcs_message_status", "/rcs", "rcs:message:status", PLACEHOLDER, "unknown",
     "a418d672-9781-4d97-b517-a56f7d95ad8a", "700969ca-0cb2-11ec-a2cxxxx", "9190199xxxxx"),
    ("08_rcs_message_in_text", "/rcs", "rcs:message:in", "", "inbound",
     "our-message-id", "91XXXXXX", "919019120xxx"),
    ("09_rcs_message_in_image", "/rcs", "rcs:message:in", "", "inbound",
     "our-message-id", "91XXXXXX", "919019120xxx"),
    ("10_rcs_unsubscription", "/cb/rcs/v2", "rcs:unsubscription", OPT_OUT_TEXT, "opt_out",
     "73", "917002088xxx", "*"),
    ("11_voice_message_out", "/voice", "voice:message:out", "ANSWER", "success",
     "1234-1333-XXXXX", "918919521234", "918867131234"),
    ("12_voice_unsubscription", "/voice", "voice:unsubscription", OPT_OUT_TEXT, "opt_out",
     "69ff18e3-4a34-4994-bb67-32c393f8exxx", "917002088xxx", "*"),
    ("13_viber_message_status", "/viber", "viber:message:status", PLACEHOLDER, "unknown",
     "a418d672-9781-4d97-b517-a56f7d95ad8a", "700969ca-0cb2-11ec-a2cxxxx", "9190199xxxxx"),
    ("14_viber_message_in_text", "/viber", "viber:message:in", "", "inbound",
     "our-message-id", "919019120xxx", "700969ca-0cb2-11ec-a2cxxxx"),
    ("15_viber_message_in_image", "/viber", "viber:message:in", "", "inbound",
     "our-message-id", "919019120xxx", "700969ca-0cb2-11ec-a2cxxxx"),
    ("16_viber_unsubscription", "/hooks/viber-optout", "viber:unsubscription", OPT_OUT_TEXT,
     "opt_out", "173", "917002088xxx", "*"),
    ("17_vmn_message_in", "/interact", "vmn:message:in", "", "inbound",
     "our-message-id", "918074XXXXXX", "919019XXXXXX"),
    ("18_contacts_subscriber_created", "/contacts", "contacts:subscriber:subscription",
     "Subscriber created successfully", "info", "86", "demo@gmail.com", ""),
    ("19_contacts_subscriber_updated", "/contacts", "contacts:subscriber:subscription",
     "Subscriber updated successfully", "info", "86", "demo@gmail.com", ""),
]


def test_cases_cover_all_fifteen_events() -> None:
    # The sixteenth is the console's URL verification, covered by tests/core/test_answers.py.
    assert {c[2] for c in CASES} == set(EVENTS_BY_NAME) - {"webhook:verification"}
    assert len(EVENTS) == 16


@pytest.mark.parametrize(
    ("name", "path", "event", "status", "klass", "mid", "frm", "to"), CASES, ids=[c[0] for c in CASES]
)
def test_catalogue_example_decodes(
    engine, name: str, path: str, event: str, status: str, klass: str, mid: str, frm: str, to: str
) -> None:
    body = (CATALOGUE / f"{name}.json").read_bytes()
    resp = send(engine.url, "POST", path, [("Content-Type", "application/json")], body)
    assert resp.status == 200
    assert resp.json()["ok"] is True
    stored = engine.store.get(1)
    assert stored is not None
    assert stored.body == body, "raw bytes must be kept exactly"
    assert (stored.event, stored.status, stored.status_class) == (event, status, klass)
    assert stored.product == EVENTS_BY_NAME[event].product
    assert (stored.message_id, stored.from_addr, stored.to_addr) == (mid, frm, to)


@pytest.mark.parametrize("name", ["01_sms_message_status", "11_voice_message_out", "15_viber_message_in_image"])
def test_trailing_comma_examples_warn_with_position(engine, name: str) -> None:
    body = (CATALOGUE / f"{name}.json").read_bytes()
    send(engine.url, "POST", "/x", [("Content-Type", "application/json")], body)
    stored = engine.store.get(1)
    assert stored is not None and stored.event
    assert any("not valid JSON" in w and "trailing comma at line" in w for w in stored.warnings)


def test_masked_voice_numbers_as_printed_still_decode(engine) -> None:
    body = (FIXTURES / "voice_message_out_masked_verbatim.json").read_bytes()
    send(engine.url, "POST", "/voice", [("Content-Type", "application/json")], body)
    stored = engine.store.get(1)
    assert stored is not None
    assert stored.event == "voice:message:out"
    assert stored.from_addr == "91891952XXXX"
    assert any("unquoted value 91806828XXXX at line 2 column 11" in w for w in stored.warnings)


def test_opt_out_without_product_hint_says_how_to_fix(engine) -> None:
    body = (CATALOGUE / "02_sms_unsubscription.json").read_bytes()
    send(engine.url, "POST", "/webhook", [("Content-Type", "application/json")], body)
    stored = engine.store.get(1)
    assert stored is not None
    assert stored.event == "unsubscription"
    assert stored.product == ""
    assert stored.status_class == "opt_out"
    assert any("/whatsapp" in w and "share one shape" in w for w in stored.warnings)
