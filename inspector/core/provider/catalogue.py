"""The provider's event catalogue: the 15 event names of its Events page, and its console's
URL verification."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EventInfo:
    name: str
    product: str
    description: str


PRODUCTS: tuple[str, ...] = (
    "sms",
    "whatsapp",
    "rcs",
    "voice",
    "viber",
    "vmn",
    "contacts",
    "webhook",
)

PRODUCT_LABELS: dict[str, str] = {
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "rcs": "RCS",
    "voice": "Voice",
    "viber": "Viber",
    "vmn": "Interact",
    "contacts": "Contacts",
    "webhook": "Webhook",
}

_OPT_OUT = "Acknowledgment of opting out from any number."

EVENTS: tuple[EventInfo, ...] = (
    EventInfo("sms:message:status", "sms", "Acknowledgment of message delivery or undelivery."),
    EventInfo("sms:unsubscription", "sms", _OPT_OUT),
    EventInfo(
        "whatsapp:message:in",
        "whatsapp",
        "For receiving updates when user send message to Whatsapp number",
    ),
    EventInfo(
        "whatsapp:message:status",
        "whatsapp",
        "For receiving DLR Status from Whatsapp number to user",
    ),
    EventInfo("whatsapp:unsubscription", "whatsapp", _OPT_OUT),
    EventInfo("rcs:message:in", "rcs", "For receiving Rcs message event"),
    EventInfo("rcs:message:status", "rcs", "For receiving Rcs delivery updates"),
    EventInfo("rcs:unsubscription", "rcs", _OPT_OUT),
    EventInfo("voice:message:out", "voice", "To receive acknowledgments after CDR events."),
    EventInfo("voice:unsubscription", "voice", _OPT_OUT),
    EventInfo("viber:message:status", "viber", "For receiving Viber delivery updates"),
    EventInfo(
        "viber:message:in",
        "viber",
        "For receiving updates when user send message to Viber number",
    ),
    EventInfo("viber:unsubscription", "viber", _OPT_OUT),
    EventInfo(
        "vmn:message:in",
        "vmn",
        "Once we receive the acknowledgment, we will send the same to the webhook.",
    ),
    EventInfo(
        "contacts:subscriber:subscription",
        "contacts",
        "For receiving Contacts creation and updation Event payload.",
    ),
    # Not on the provider's Events page: its console's check of a new webhook URL (the
    # handshake on its webhook pages), answered with the challenge it carries.
    EventInfo(
        "webhook:verification",
        "webhook",
        "URL verification: the console checks a new webhook URL and expects its challenge back.",
    ),
)

EVENTS_BY_NAME: dict[str, EventInfo] = {e.name: e for e in EVENTS}

#: The ambiguous name used when an opt-out arrives with no product hint in its URL path.
UNSUBSCRIPTION = "unsubscription"

STATUS_CLASSES: tuple[str, ...] = (
    "success",
    "pending",
    "failure",
    "inbound",
    "opt_out",
    "info",
    "unknown",
)


def describe(event: str) -> str:
    """Catalogue description of an event name, or a sentence for the ambiguous opt-out."""
    info = EVENTS_BY_NAME.get(event)
    if info is not None:
        return info.description
    if event == UNSUBSCRIPTION:
        return _OPT_OUT + " (product unknown: no product word in the URL path)"
    return ""
