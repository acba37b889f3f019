"""The provider's SMS delivery statuses: each code's status class and its meaning in plain words.

A delivery report carries the operator's word for what happened (``MOB-OFF``, ``DNDNUMB``...);
the user needs to know what that means for their message, and the filter needs its class.
The table is the provider's SMPP status list (see ``delivery.md``, section 5), plus the
generic SMPP states some operators send instead. A status that is not here keeps its raw text
and the class ``unknown``.
"""

from __future__ import annotations

from typing import NamedTuple


class StatusInfo(NamedTuple):
    """One delivery status: its class and what it means to the sender."""

    status_class: str
    meaning: str
    #: The provider's numeric code, where it documents one.
    code: str = ""


_F = "failure"

#: SMS delivery-report statuses, upper case. Order is the provider's own (success first).
SMS_STATUSES: dict[str, StatusInfo] = {
    "DELIVRD": StatusInfo("success", "delivered to the handset", "000"),
    "AWAITING-DLR": StatusInfo("pending", "submitted; the operator's delivery report is awaited"),
    "INVALID-SUB": StatusInfo(_F, "the number is not a valid subscriber"),
    "ABSENT-SUB": StatusInfo(_F, "the subscriber is absent from the network (out of coverage)"),
    "HANDSET-ERR": StatusInfo(_F, "the handset could not take the message (handset error)"),
    "BARRED": StatusInfo(_F, "the number is barred from receiving messages"),
    "NET-ERR": StatusInfo(_F, "a network error on the operator's side"),
    "MEMEXEC": StatusInfo(_F, "the handset's message memory is full"),
    "FAILED": StatusInfo(_F, "delivery failed"),
    "MOB-OFF": StatusInfo(_F, "the handset is switched off"),
    "HANDSET-BUSY": StatusInfo(_F, "the handset was busy"),
    "SERIES-BLK": StatusInfo(_F, "the number's series is blocked"),
    "SERIES-BLOCK": StatusInfo(_F, "the number's series is blocked"),
    "EXPIRED": StatusInfo(_F, "not delivered before the message's validity ran out"),
    "UNDELIV": StatusInfo(_F, "the operator could not deliver it"),
    "NO-CREDITS": StatusInfo(_F, "the account has no credits left"),
    "NO-ACCOUNT": StatusInfo(_F, "no account for this sender"),
    "SERVER-ERR": StatusInfo(_F, "an error on the provider's server"),
    "INV-NUMBER": StatusInfo(_F, "the number is invalid"),
    "SPAM": StatusInfo(_F, "rejected as spam"),
    "DNDNUMB": StatusInfo(_F, "the number is on the do-not-disturb register"),
    "BLACKLST": StatusInfo(_F, "the number is blacklisted"),
    "SNDR-BLOCK": StatusInfo(_F, "the sender id is blocked"),
    "TEMPLATE-NOT-FOUND": StatusInfo(_F, "no approved template matches the message"),
    "INV-TEMPLATE": StatusInfo(_F, "the template is invalid"),
    "INV-SENDER": StatusInfo(_F, "the sender id is invalid"),
    "NOT-OPTIN": StatusInfo(_F, "the recipient has not opted in"),
    "OPTOUT-REJ": StatusInfo(_F, "rejected: the recipient has opted out"),
    "PROMO-TMOUT": StatusInfo(_F, "promotional message outside the allowed hours"),
    "REJECTED": StatusInfo(_F, "rejected by the operator"),
    "NOTALLOWED": StatusInfo(_F, "this kind of message is not allowed for the account"),
    "DUPLICATE": StatusInfo(_F, "rejected as a duplicate of a message just sent"),
    "THROTTLED": StatusInfo(_F, "rejected: sending too fast (throttled)"),
    "REJ-MULTIPART": StatusInfo(_F, "a multipart (long) message was rejected"),
    "DLT-REJECTED": StatusInfo(_F, "DLT: invalid sender id or template", "777"),
    "DLT-INV-TMID": StatusInfo(_F, "DLT: the telemarketer id is invalid", "780"),
    "DLT-INV-ENTITY": StatusInfo(_F, "DLT: the entity (principal entity id) is invalid"),
    "DLT-INV-TM-ID": StatusInfo(_F, "DLT: the telemarketer id is invalid"),
    "DLT-TM-VAR-EXECEED": StatusInfo(_F, "DLT: a template variable is longer than allowed"),
    "DLT-ENTITY-NOT-FOUND": StatusInfo(_F, "DLT: the entity is not registered"),
    "DLT-TM-BLACKLST": StatusInfo(_F, "DLT: the template is blacklisted"),
    "DLT-ENTITY-BLACKLST": StatusInfo(_F, "DLT: the entity is blacklisted"),
    "DLT-HEADER-INACTIVE": StatusInfo(_F, "DLT: the sender id (header) is inactive"),
    "DLT-TM-INACTIVE": StatusInfo(_F, "DLT: the template is inactive"),
    "DLT-SENDER-NOT-REG-TM": StatusInfo(
        _F, "DLT: the sender id is not registered for this template"
    ),
    "INV-PROVISION": StatusInfo(_F, "the account is not provisioned for this route"),
    "INV-SERVICE": StatusInfo(_F, "the service is invalid for this message"),
    "INV-SCHEDULE": StatusInfo(_F, "the schedule time is invalid"),
    # Generic SMPP message states some operators pass through unchanged.
    "DELIVERED": StatusInfo("success", "delivered to the handset"),
    "ACCEPTD": StatusInfo("pending", "accepted by the operator, not delivered yet"),
    "ACCEPTED": StatusInfo("pending", "accepted by the operator, not delivered yet"),
    "ENROUTE": StatusInfo("pending", "on its way to the handset"),
    "SUBMITTED": StatusInfo("pending", "submitted to the operator"),
    "SUBMITD": StatusInfo("pending", "submitted to the operator"),
    "PENDING": StatusInfo("pending", "waiting to be delivered"),
    "BUFFERED": StatusInfo("pending", "held by the operator for a later delivery attempt"),
    "SENT": StatusInfo("pending", "sent; no delivery report yet"),
    "UNDELIVERED": StatusInfo(_F, "the operator could not deliver it"),
    "REJECTD": StatusInfo(_F, "rejected by the operator"),
    "DELETED": StatusInfo(_F, "deleted before delivery"),
    "NCPR": StatusInfo(_F, "the number is on the do-not-call register (NCPR)"),
    "DND": StatusInfo(_F, "the number is on the do-not-disturb register"),
    "UNKNOWN": StatusInfo("unknown", "the operator does not know what became of it"),
}

#: Statuses of WhatsApp, RCS and Viber message-status events.
MESSAGE_STATUSES: dict[str, StatusInfo] = {
    "sent": StatusInfo("pending", "sent; not delivered yet"),
    "delivered": StatusInfo("success", "delivered to the recipient's device"),
    "read": StatusInfo("success", "read by the recipient"),
    "failed": StatusInfo(_F, "could not be delivered"),
    "deleted": StatusInfo("info", "deleted by the sender or the recipient"),
}


def sms_status(status: str) -> StatusInfo | None:
    """The table entry for an SMS delivery status (case and surrounding spaces ignored)."""
    return SMS_STATUSES.get(status.strip().upper())


def status_meaning(product: str, event: str, status: str) -> str:
    """The plain-word meaning of a row's status, or ``""`` when the table has none."""
    if not status:
        return ""
    if event == "sms:message:status" or (product == "sms" and event == ""):
        info = sms_status(status)
    elif event.endswith(":message:status"):
        info = MESSAGE_STATUSES.get(status.strip().lower())
    else:
        info = None
    return info.meaning if info is not None else ""


def sms_status_classes() -> dict[str, str]:
    """Status code -> class, what the decoder needs."""
    return {code: info.status_class for code, info in SMS_STATUSES.items()}
