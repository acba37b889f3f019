"""Pydantic models, one per payload family of the provider's catalogue.

Every field is optional and numbers are coerced to strings: the provider sends
``"from": 918919521234`` unquoted and leaves fields out, and the decoder's job is
to report such things as warnings, never to refuse the payload.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


class ProviderModel(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        coerce_numbers_to_str=True,
        populate_by_name=True,
        frozen=True,
    )

    #: Keys every example of this family carries; a missing one is worth a warning.
    expected: ClassVar[tuple[str, ...]] = ()


class SmsDeliveryReport(ProviderModel):
    """Flat SMS delivery report (DLR); also arrives as a GET query string."""

    id: str | None = None
    mobile: str | None = None
    status: str | None = None
    credits: str | None = None
    units: str | None = None
    deliv_time: str | None = None
    sent_time: str | None = None
    submit_time: str | None = None
    cid: str | None = None
    custom: str | None = None
    # Documented on the provider's SMS webhook page, not on its Events page (delivery.md, 4):
    # the three times again as unix seconds, more reference fields, and where the number is.
    deliv_at: str | None = None
    sent_at: str | None = None
    submit_at: str | None = None
    custom1: str | None = None
    custom2: str | None = None
    location: str | None = None
    region: str | None = None
    provider: str | None = None
    location_code: str | None = None
    region_code: str | None = None
    provider_code: str | None = None

    expected = ("id", "mobile", "status", "deliv_time", "sent_time", "submit_time")


class Unsubscription(ProviderModel):
    """Flat opt-out record, identical for SMS, WhatsApp, RCS, Voice and Viber."""

    id: str | None = None
    receiver: str | None = None
    type: str | None = None
    value: str | None = None
    created_at: str | None = None
    status: str | None = None

    expected = ("id", "receiver", "type", "value", "created_at", "status")


class VoiceCallRecord(ProviderModel):
    """Flat call detail record sent after a voice call."""

    bridge: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    source: str | None = None
    mid: str | None = None
    flow_id: str | None = None
    start_at: str | None = None
    end_at: str | None = None
    duration: str | None = None
    status: str | None = None
    recording_url: str | None = None

    expected = ("from", "to", "mid", "start_at", "end_at", "duration", "status")


class ContactSubscriber(ProviderModel):
    """Flat contact created/updated record."""

    id: str | None = None
    identity: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    gender: str | None = None
    birth_date: str | None = None
    company: str | None = None
    attributes: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    status: str | None = None

    expected = ("id", "identity", "created_at", "updated_at", "status")


class MessageStatus(ProviderModel):
    """Payload of ``whatsapp|rcs|viber:message:status``."""

    id: str | None = None
    channel: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    status: str | None = None
    delivered_at: str | None = None
    read_at: str | None = None
    processed_at: str | None = None
    timestamp: str | None = None
    foreign_id: str | None = None

    expected = ("id", "channel", "from", "to", "status", "timestamp")


class Channel(ProviderModel):
    name: str | None = None
    to: str | None = None


class Recipient(ProviderModel):
    from_: str | None = Field(default=None, alias="from")
    user: dict[str, Any] | None = None


class InboundContent(ProviderModel):
    type: str | None = None
    payload: dict[str, Any] | None = None


class InboundMessage(ProviderModel):
    """Payload of ``whatsapp|rcs|viber|vmn:message:in``."""

    id: str | None = None
    channels: list[Channel] | None = None
    recipient: Recipient | None = None
    message: InboundContent | None = None

    expected = ("id", "channels", "recipient", "message")
