"""What the provider would send: each event of the catalogue, the URL verification, and
whole message stories, built the way the provider's sender builds them.

Payloads are the documented shapes (events.md; the DLR with the extra fields of the SMS
webhook page, delivery.md section 4) with realistic values: fresh ids and timestamps on
every call, Indian mobile numbers, statuses drawn from the provider's status table
(delivery.md section 5). Bodies are encoded as PHP's ``json_encode`` does (compact, ``/``
escaped as ``\\/``, non-ASCII as ``\\uXXXX``), and signed over those exact bytes, as
spatie/laravel-webhook-server's default signer does (delivery.md section 2).

Pure data, no I/O: :mod:`inspector.core.send.simulate` sends what this builds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

#: The provider's own timezone: its DLR times are local Indian time.
IST = timezone(timedelta(hours=5, minutes=30), "IST")

#: SMS delivery statuses of the provider's SMPP page (delivery.md section 5), with the
#: status class each one means.
SMS_STATUSES: dict[str, str] = {
    "DELIVRD": "success",
    "AWAITING-DLR": "pending",
    **{
        code: "failure"
        for code in (
            "INVALID-SUB", "ABSENT-SUB", "HANDSET-ERR", "BARRED", "NET-ERR", "MEMEXEC",
            "FAILED", "MOB-OFF", "HANDSET-BUSY", "SERIES-BLK", "SERIES-BLOCK", "EXPIRED",
            "UNDELIV", "NO-CREDITS", "NO-ACCOUNT", "SERVER-ERR", "INV-NUMBER", "SPAM",
            "DNDNUMB", "BLACKLST", "SNDR-BLOCK", "TEMPLATE-NOT-FOUND", "INV-TEMPLATE",
            "INV-SENDER", "NOT-OPTIN", "OPTOUT-REJ", "PROMO-TMOUT", "REJECTED", "NOTALLOWED",
            "DUPLICATE", "THROTTLED", "REJ-MULTIPART", "DLT-REJECTED", "DLT-INV-TMID",
            "DLT-INV-ENTITY", "DLT-INV-TM-ID", "DLT-TM-VAR-EXECEED", "DLT-ENTITY-NOT-FOUND",
            "DLT-TM-BLACKLST", "DLT-ENTITY-BLACKLST", "DLT-HEADER-INACTIVE", "DLT-TM-INACTIVE",
            "DLT-SENDER-NOT-REG-TM", "INV-PROVISION", "INV-SERVICE", "INV-SCHEDULE",
        )
    },
}  # fmt: skip
SMS_FAILURES: tuple[str, ...] = tuple(c for c, k in SMS_STATUSES.items() if k == "failure")

#: WhatsApp, RCS and Viber message statuses (events.md) and their classes.
MESSAGE_STATUSES: dict[str, str] = {
    "sent": "pending",
    "delivered": "success",
    "read": "success",
    "failed": "failure",
    "deleted": "info",
}

#: Call outcomes of a voice CDR and their classes.
CALL_STATUSES: dict[str, str] = {
    "ANSWER": "success",
    "NOANSWER": "failure",
    "BUSY": "failure",
    "CANCEL": "failure",
    "CONGESTION": "failure",
}

#: The DLR fields of the SMS webhook page beyond the Events page (delivery.md section 4).
DLR_EXTRA_FIELDS: tuple[str, ...] = (
    "deliv_at", "sent_at", "submit_at", "custom1", "custom2", "location", "region",
    "provider", "location_code", "region_code", "provider_code",
)  # fmt: skip

#: What the console's URL verification decodes as (the decoder names it; it is not one of
#: the catalogue's 15 events).
VERIFICATION_EVENT = "webhook:verification"

#: Products whose callbacks the provider can sign with a ``Signature`` header.
SIGNED_PRODUCTS: frozenset[str] = frozenset({"whatsapp", "rcs", "viber"})

#: The provider's retry schedules (delivery.md section 3): seconds after the first try.
RETRY_SCHEDULE: dict[str, tuple[float, ...]] = {
    "sms": (1800.0, 3600.0, 5400.0),  # 3 more times, 30 minutes apart
    "whatsapp": (10.0, 110.0),  # 2 more tries, after 10 s and then 100 s
}
#: WhatsApp, RCS and Viber count an answer slower than this as a failure.
MESSAGE_TIMEOUT = 3.0

_OPERATORS = (
    ("Bangalore", "KA", "Jio", "RJ"),
    ("Mumbai", "MH", "Airtel", "AT"),
    ("Delhi", "DL", "Vi", "VF"),
    ("Chennai", "TN", "BSNL", "CC"),
    ("Kolkata", "WB", "Airtel", "AT"),
    ("Hyderabad", "TS", "Jio", "RJ"),
)
_FIRST = ("Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya")
_LAST = ("Sharma", "Iyer", "Reddy", "Nair", "Gupta", "Menon", "Das", "Kulkarni")
_TEXTS = (
    "Hi, is my order on its way?",
    "Yes, please confirm the booking for Saturday",
    "What are your opening hours?",
    "Thanks, received it",
    "Can I change the delivery address?",
)


@dataclass(frozen=True, slots=True)
class Claim:
    """What a simulated request should decode as: the event and the status class."""

    event: str
    status_class: str


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One request as the provider would send it, and what it should decode as."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    claim: Claim
    #: Seconds to wait after the previous request of a story (at 1x speed).
    after: float = 0.0
    #: A word for the step of a story ("sent", "retry 2"...).
    label: str = ""
    #: The product, for the signature and the retry rules.
    product: str = ""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


@dataclass(slots=True)
class Context:
    """Where fresh values come from: a random source and a clock (fixed in tests)."""

    rng: random.Random = field(default_factory=random.Random)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: ``Authorization: Bearer`` value; ``Signature`` key (WhatsApp, RCS, Viber).
    secret: str = ""
    signing_key: str = ""
    #: Field overrides, ``--set FIELD=VALUE`` (dotted for nested fields).
    overrides: Mapping[str, str] = field(default_factory=dict)

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def mobile(self) -> str:
        return "91" + self.rng.choice("6789") + self.digits(9)


# -- encoding the way the provider's sender does ---------------------------------------------


def php_json(value: Any) -> bytes:
    """``json_encode`` with PHP's defaults: compact, ``\\/`` for ``/``, ASCII only."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    # "/" occurs only inside strings in JSON, so this escapes exactly what PHP escapes.
    return text.replace("/", "\\/").encode("ascii")


def sign(body: bytes, key: str) -> str:
    """spatie/laravel-webhook-server's default signature: HMAC-SHA256 of the body, hex."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _iso(dt: datetime) -> str:
    """Laravel's JSON dates: ``2021-06-18T14:48:06.886358Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso_seconds(dt: datetime) -> str:
    """Eloquent's ``created_at``: ``2023-07-08T12:52:54.000000Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _local(dt: datetime) -> str:
    """The DLR's local times: ``2021-04-09 16:27:51``."""
    return dt.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def _set_path(data: dict[str, Any], dotted: str, raw: str) -> None:
    """Apply one ``--set``: keep the type of the value it replaces (text stays text)."""
    keys = dotted.split(".")
    target: Any = data
    for key in keys[:-1]:
        nxt = target.get(key) if isinstance(target, dict) else None
        if not isinstance(nxt, dict):
            nxt = {}
            target[key] = nxt
        target = nxt
    old = target.get(keys[-1])
    value: Any = raw
    if isinstance(old, bool):
        value = raw.lower() in ("1", "true", "yes")
    elif isinstance(old, int):
        try:
            value = int(raw)
        except ValueError:
            value = raw
    elif old is None and raw == "null":
        value = None
    target[keys[-1]] = value


def _apply(data: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Apply ``--set`` overrides: to the payload's fields when the body is wrapped in
    ``{"event", "payload"}`` (``event=`` and ``payload.`` still reach the wrapper)."""
    wrapped = isinstance(data.get("payload"), dict) and "event" in data
    for key, raw in ctx.overrides.items():
        if wrapped and key != "event" and not key.startswith("payload."):
            _set_path(data["payload"], key, raw)
        else:
            _set_path(data, key, raw)
    return data


# -- payloads -------------------------------------------------------------------------------


def dlr_fields(ctx: Context, *, status: str = "DELIVRD", message_id: str = "") -> dict[str, Any]:
    """An SMS delivery report with every documented field (events.md, delivery.md §4)."""
    now = ctx.now()
    submit = now - timedelta(seconds=ctx.rng.uniform(3, 20))
    sent = submit + timedelta(seconds=ctx.rng.uniform(0.5, 2))
    deliv = now if status == "DELIVRD" else now
    region, region_code, provider, provider_code = ctx.rng.choice(_OPERATORS)
    units = ctx.rng.choice((1, 1, 1, 2))
    return {
        "id": message_id or f"{ctx.uuid()}:1",
        "mobile": ctx.mobile(),
        "status": status,
        "credits": f"{units:.4f}",
        "units": units,
        "deliv_time": _local(deliv),
        "sent_time": _local(sent),
        "submit_time": _local(submit),
        "cid": ctx.digits(11),
        "custom": f"ORD{ctx.digits(6)}",
        "deliv_at": str(int(deliv.timestamp())),
        "sent_at": str(int(sent.timestamp())),
        "submit_at": str(int(submit.timestamp())),
        "custom1": "",
        "custom2": "",
        "location": "India",
        "region": region,
        "provider": provider,
        "location_code": "in",
        "region_code": region_code,
        "provider_code": provider_code,
    }


def message_status_payload(
    ctx: Context,
    product: str,
    status: str,
    *,
    message_id: str = "",
    to: str = "",
    foreign_id: str = "",
    sent_at: datetime | None = None,
    delivered_at: datetime | None = None,
    sender: str = "",
) -> dict[str, Any]:
    """``{whatsapp,rcs,viber}:message:status``, with the times the status implies."""
    now = ctx.now()
    sender = sender or business_number(ctx, product)
    delivered = delivered_at or (now if status in ("delivered", "read") else None)
    return {
        "event": f"{product}:message:status",
        "payload": {
            "id": message_id or ctx.uuid(),
            "channel": product,
            "from": sender,
            "to": to or ctx.mobile(),
            "status": status,
            "delivered_at": _iso(delivered) if delivered else None,
            "read_at": _iso(now) if status == "read" else None,
            "processed_at": _iso(sent_at or now),
            "timestamp": _iso(now),
            "foreign_id": foreign_id or f"order-{ctx.digits(6)}",
        },
    }


def business_number(ctx: Context, product: str) -> str:
    """The business's own sender: a WhatsApp number, or an RCS/Viber agent id."""
    return "91" + "9019" + ctx.digits(6) if product in ("whatsapp", "vmn") else ctx.uuid()[:23]


def _user(ctx: Context, product: str, phone: str) -> dict[str, Any]:
    first, last = ctx.rng.choice(_FIRST), ctx.rng.choice(_LAST)
    if product in ("whatsapp", "rcs"):
        return {
            "id": ctx.uuid(),
            "username": f"{first.lower()}.{last.lower()}",
            "first_name": first,
            "last_name": last,
            "email": None,
            "phone": phone,
            "user_info": {
                "picture": f"https://pps.whatsapp.net/v/t61/{ctx.hex(16)}.jpg",
                "gender": None,
                "title": "Hey there! I am using WhatsApp.",
            },
        }
    return {
        "id": ctx.uuid(),
        "identifier_id": ctx.uuid(),
        "subscriber_id": ctx.uuid(),
        "identity": phone,
        "username": f"{first.lower()}.{last.lower()}",
        "first_name": first,
        "middle_name": "",
        "last_name": last,
        "email": f"{first.lower()}.{last.lower()}@example.com",
        "phone": phone,
        "attributes": "",
        "user_info": {"picture": "null", "gender": "", "title": "null"},
    }


def inbound_payload(
    ctx: Context,
    product: str,
    *,
    text: str = "",
    image: bool = False,
    sender: str = "",
    business: str = "",
) -> dict[str, Any]:
    """``{whatsapp,rcs,viber,vmn}:message:in``: a text, or an image with a caption."""
    phone = sender or ctx.mobile()
    business = business or business_number(ctx, product)
    if image:
        message = {
            "type": "image",
            "payload": {
                "url": f"https://media.example-cdn.com/{product}/{ctx.hex(24)}.jpg",
                "caption": "Photo of the parcel",
                "filename": "",
            },
        }
    else:
        message = {"type": "text", "payload": {"text": text or ctx.rng.choice(_TEXTS)}}
    return {
        "event": f"{product}:message:in",
        "payload": {
            "id": ctx.uuid(),
            "channels": [{"name": product, "to": business}],
            "recipient": {"from": phone, "user": _user(ctx, product, phone)},
            "message": message,
        },
    }


def unsubscription_payload(ctx: Context, product: str, receiver: str = "") -> dict[str, Any]:
    """The one opt-out shape all five ``*:unsubscription`` events share."""
    kind, value = ctx.rng.choice(
        (("all", "*"), ("sender", f"MOB{ctx.digits(3)}"), ("category", "PROMO"))
    )
    return {
        "id": ctx.rng.randint(100, 99999) if product != "sms" else ctx.uuid(),
        "receiver": receiver or ctx.mobile(),
        "type": kind,
        "value": value,
        "created_at": _iso_seconds(ctx.now()),
        "status": "Unsubscriber created successfully",
    }


def voice_payload(ctx: Context, status: str = "ANSWER", flow_id: int = 0) -> dict[str, Any]:
    """``voice:message:out``: the call record sent after the call (numbers unquoted, as the
    provider's example has them, but as valid JSON numbers)."""
    end = ctx.now()
    duration = ctx.rng.randint(12, 240) if status == "ANSWER" else 0
    ring = ctx.rng.randint(5, 30)
    start = end - timedelta(seconds=duration + ring)
    return {
        "bridge": int("9180" + ctx.digits(8)),
        "from": int("9180" + ctx.digits(8)),
        "to": int(ctx.mobile()),
        "source": "OBD",
        "mid": f"{ctx.digits(4)}-{ctx.digits(4)}-{ctx.hex(5).upper()}",
        "flow_id": flow_id or ctx.rng.randint(100, 999),
        "start_at": _local(start),
        "end_at": _local(end),
        "duration": str(duration),
        "status": status,
        "recording_url": (
            f"https://recordings.example-voice.com/{ctx.hex(20)}.mp3" if duration else ""
        ),
    }


def contact_payload(ctx: Context, updated: bool = False) -> dict[str, Any]:
    """``contacts:subscriber:subscription``: a contact created, or updated."""
    first, last = ctx.rng.choice(_FIRST), ctx.rng.choice(_LAST)
    updated_at = ctx.now()
    created = updated_at - timedelta(days=ctx.rng.randint(1, 30)) if updated else updated_at
    return {
        "id": ctx.rng.randint(10, 99999),
        "identity": f"{first.lower()}.{last.lower()}@example.com",
        "first_name": first,
        "middle_name": None,
        "last_name": last,
        "gender": ctx.rng.choice(("male", "female")),
        "birth_date": f"{ctx.rng.randint(1970, 2004)}-{ctx.rng.randint(1, 12):02d}-{ctx.rng.randint(1, 28):02d}",
        "company": None,
        "attributes": {
            "membership": ctx.rng.choice(("gold", "platinum", "silver")),
            "status": "vip",
            "customerNumber": ctx.digits(4),
        },
        "created_at": _iso_seconds(created),
        "updated_at": _iso_seconds(updated_at),
        "status": "Subscriber updated successfully"
        if updated
        else "Subscriber created successfully",
    }


# -- requests ---------------------------------------------------------------------------------

_PRODUCT_PATH = {
    "sms": "/sms",
    "whatsapp": "/whatsapp",
    "rcs": "/rcs",
    "voice": "/voice",
    "viber": "/viber",
    "vmn": "/vmn",
    "contacts": "/contacts",
}
_USER_AGENT = ("User-Agent", "GuzzleHttp/7")


def _auth_headers(ctx: Context, product: str, body: bytes) -> list[tuple[str, str]]:
    headers = []
    if ctx.secret:
        headers.append(("Authorization", f"Bearer {ctx.secret}"))
    if ctx.signing_key and product in SIGNED_PRODUCTS:
        headers.append(("Signature", sign(body, ctx.signing_key)))
    return headers


def json_request(
    ctx: Context, product: str, data: dict[str, Any], claim: Claim | str
) -> SimRequest:
    """A JSON POST of ``data`` (overrides applied); ``claim`` as a plain event name means
    "the class its status gives", worked out after the overrides."""
    _apply(data, ctx)
    if isinstance(claim, str):
        claim = _status_claim(product, data, claim)
    body = php_json(data)
    headers = [
        ("Content-Type", "application/json"),
        _USER_AGENT,
        *_auth_headers(ctx, product, body),
    ]
    return SimRequest(
        "POST", _PRODUCT_PATH[product], "", tuple(headers), body, claim, product=product
    )


def _status_claim(product: str, data: dict[str, Any], event: str) -> Claim:
    payload = data.get("payload", data)
    status = str(payload.get("status", ""))
    table = {"sms": SMS_STATUSES, "voice": CALL_STATUSES}.get(product, MESSAGE_STATUSES)
    key = status if product == "voice" else status.upper() if product == "sms" else status.lower()
    return Claim(event, table.get(key, "unknown"))


def dlr_request(ctx: Context, variant: str = "json", **fields: Any) -> SimRequest:
    """The SMS delivery report as JSON, as a form body, or as a GET query string (the
    composed-webhook variants of delivery.md section 6)."""
    data = _apply(dlr_fields(ctx, **fields), ctx)
    claim = _status_claim("sms", data, "sms:message:status")
    pairs = {k: "" if v is None else str(v) for k, v in data.items()}
    auth = _auth_headers(ctx, "sms", b"")
    if variant == "get":
        return SimRequest(
            "GET", "/sms", urlencode(pairs), (_USER_AGENT, *auth), b"", claim, product="sms"
        )
    if variant == "form":
        body = urlencode(pairs).encode("ascii")
        headers = (("Content-Type", "application/x-www-form-urlencoded"), _USER_AGENT, *auth)
        return SimRequest("POST", "/sms", "", headers, body, claim, product="sms")
    body = php_json(data)
    headers = (("Content-Type", "application/json"), _USER_AGENT, *auth)
    return SimRequest("POST", "/sms", "", headers, body, claim, product="sms")


def verification_request(ctx: Context, validation_key: str = "") -> SimRequest:
    """The console's URL verification (delivery.md section 1)."""
    key = ctx.overrides.get("validation_key") or validation_key or f"vk-{ctx.hex(12)}"
    data = {"validation_key": key, "challenge": ctx.overrides.get("challenge") or ctx.uuid()}
    body = php_json(data)
    headers = [("Content-Type", "application/json"), _USER_AGENT]
    if ctx.secret:
        headers.append(("Authorization", f"Bearer {ctx.secret}"))
    return SimRequest(
        "POST", "/", urlencode({"token": key}), tuple(headers), body,
        Claim(VERIFICATION_EVENT, "info"), product="",
    )  # fmt: skip


# -- the catalogue of what can be sent -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """A name ``send`` accepts, what it is, and how to build its requests."""

    name: str
    description: str
    build: Callable[[Context], list[SimRequest]]
    story: bool = False


def _one(fn: Callable[[Context], SimRequest]) -> Callable[[Context], list[SimRequest]]:
    return lambda ctx: [fn(ctx)]


def _status_event(product: str) -> Callable[[Context], SimRequest]:
    def build(ctx: Context) -> SimRequest:
        status = ctx.rng.choice(("sent", "delivered", "read"))
        data = message_status_payload(ctx, product, status)
        return json_request(ctx, product, data, f"{product}:message:status")

    return build


def _inbound_event(product: str, image: bool = False) -> Callable[[Context], SimRequest]:
    def build(ctx: Context) -> SimRequest:
        data = inbound_payload(ctx, product, image=image)
        return json_request(ctx, product, data, Claim(f"{product}:message:in", "inbound"))

    return build


def _unsub_event(product: str) -> Callable[[Context], SimRequest]:
    def build(ctx: Context) -> SimRequest:
        data = unsubscription_payload(ctx, product)
        return json_request(ctx, product, data, Claim(f"{product}:unsubscription", "opt_out"))

    return build


def _voice_event(ctx: Context) -> SimRequest:
    data = voice_payload(ctx, ctx.rng.choice(("ANSWER", "ANSWER", "NOANSWER", "BUSY")))
    return json_request(ctx, "voice", data, "voice:message:out")


def _contact_event(updated: bool) -> Callable[[Context], SimRequest]:
    def build(ctx: Context) -> SimRequest:
        data = contact_payload(ctx, updated)
        return json_request(
            ctx, "contacts", data, Claim("contacts:subscriber:subscription", "info")
        )

    return build


def _dlr_event(variant: str) -> Callable[[Context], SimRequest]:
    def build(ctx: Context) -> SimRequest:
        status = ctx.rng.choice(("DELIVRD", "DELIVRD", "DELIVRD", "UNDELIV", "EXPIRED"))
        return dlr_request(ctx, variant, status=status)

    return build


def _at(moment: datetime) -> Callable[[], datetime]:
    """A clock stopped at ``moment`` (a story's later steps happen later)."""
    return lambda: moment


# -- stories ------------------------------------------------------------------------------


def _story_whatsapp_read(ctx: Context) -> list[SimRequest]:
    """sent -> delivered -> read, one message id, gaps as a phone gives them."""
    mid, to, ref = ctx.uuid(), ctx.mobile(), f"order-{ctx.digits(6)}"
    business = business_number(ctx, "whatsapp")
    t0 = ctx.now()
    gaps = (0.0, ctx.rng.uniform(1.5, 4.0), ctx.rng.uniform(6.0, 15.0))
    out = []
    clock = t0
    for status, gap in zip(("sent", "delivered", "read"), gaps, strict=True):
        clock = clock + timedelta(seconds=gap)
        step = replace(ctx, now=_at(clock))
        data = message_status_payload(
            step, "whatsapp", status, message_id=mid, to=to, foreign_id=ref, sent_at=t0,
            delivered_at=t0 + timedelta(seconds=gaps[1]) if status != "sent" else None,
            sender=business,
        )  # fmt: skip
        req = json_request(step, "whatsapp", data, "whatsapp:message:status")
        out.append(replace(req, after=gap, label=status))
    return out


def _story_sms_failed(ctx: Context) -> list[SimRequest]:
    """A DLR carrying a failure code from the provider's table (``--set status=`` picks one)."""
    status = ctx.overrides.get("status") or ctx.rng.choice(SMS_FAILURES)
    return [replace(dlr_request(ctx, status=status), label=status)]


def _story_voice_call(ctx: Context) -> list[SimRequest]:
    """An outbound call not answered, then the retry a minute later answered: two CDRs."""
    flow = ctx.rng.randint(100, 999)
    first = voice_payload(ctx, "NOANSWER", flow)
    later = ctx.now() + timedelta(seconds=60)
    second = voice_payload(replace(ctx, now=_at(later)), "ANSWER", flow)
    second["to"] = first["to"]
    out = []
    for data, gap, label in ((first, 0.0, "no answer"), (second, 60.0, "answered")):
        req = json_request(ctx, "voice", data, "voice:message:out")
        out.append(replace(req, after=gap, label=label))
    return out


def _story_opt_out(ctx: Context) -> list[SimRequest]:
    """The user writes STOP on WhatsApp; the provider records the opt-out a moment later."""
    user = ctx.mobile()
    stop = inbound_payload(ctx, "whatsapp", text="STOP", sender=user)
    unsub = unsubscription_payload(ctx, "whatsapp", receiver=user)
    return [
        replace(
            json_request(ctx, "whatsapp", stop, Claim("whatsapp:message:in", "inbound")),
            label="STOP",
        ),
        replace(
            json_request(ctx, "whatsapp", unsub, Claim("whatsapp:unsubscription", "opt_out")),
            after=1.2,
            label="opted out",
        ),
    ]


def _story_inbound_reply(ctx: Context) -> list[SimRequest]:
    """The app's message is delivered and read, and the user writes back."""
    out = _story_whatsapp_read(ctx)
    first = json.loads(out[0].body)["payload"]
    reply = inbound_payload(
        ctx, "whatsapp", text=ctx.rng.choice(_TEXTS), sender=first["to"], business=first["from"]
    )
    req = json_request(ctx, "whatsapp", reply, Claim("whatsapp:message:in", "inbound"))
    return [*out, replace(req, after=ctx.rng.uniform(8.0, 30.0), label="reply")]


def _story_retry(ctx: Context) -> list[SimRequest]:
    """The same WhatsApp delivery re-sent on the provider's schedule (10 s, then 100 s
    more), sent again only while the answers count as failures (see ``send.simulate``)."""
    data = message_status_payload(ctx, "whatsapp", "delivered")
    first = json_request(ctx, "whatsapp", data, "whatsapp:message:status")
    out = [replace(first, label="first try")]
    previous = 0.0
    for n, at in enumerate(RETRY_SCHEDULE["whatsapp"], start=1):
        out.append(replace(first, after=at - previous, label=f"retry {n}"))
        previous = at
    return out


def _story_retry_sms(ctx: Context) -> list[SimRequest]:
    """The same SMS delivery report re-sent 3 more times, 30 minutes apart, while failing."""
    first = dlr_request(ctx, status="DELIVRD")
    out = [replace(first, label="first try")]
    previous = 0.0
    for n, at in enumerate(RETRY_SCHEDULE["sms"], start=1):
        out.append(replace(first, after=at - previous, label=f"retry {n}"))
        previous = at
    return out


_LABELS = {"sms": "SMS", "whatsapp": "WhatsApp", "rcs": "RCS", "voice": "Voice", "viber": "Viber"}


def _build_samples() -> dict[str, Sample]:
    samples: list[Sample] = [
        Sample("sms:message:status", "SMS delivery report (DLR), JSON", _one(_dlr_event("json"))),
        Sample(
            "sms:message:status:form",
            "SMS delivery report as a form body (composed webhook)",
            _one(_dlr_event("form")),
        ),
        Sample(
            "sms:message:status:get",
            "SMS delivery report as a GET query string (composed webhook)",
            _one(_dlr_event("get")),
        ),
    ]
    for product in ("whatsapp", "rcs", "viber"):
        label = _LABELS[product]
        samples += [
            Sample(
                f"{product}:message:status",
                f"{label} delivery status: sent, delivered or read",
                _one(_status_event(product)),
            ),
            Sample(
                f"{product}:message:in",
                f"{label} inbound text message",
                _one(_inbound_event(product)),
            ),
            Sample(
                f"{product}:message:in:image",
                f"{label} inbound image with a caption",
                _one(_inbound_event(product, image=True)),
            ),
        ]
    samples += [
        Sample("vmn:message:in", "Interact (VMN) inbound message", _one(_inbound_event("vmn"))),
        Sample("voice:message:out", "Voice call record (CDR) after a call", _one(_voice_event)),
        Sample(
            "contacts:subscriber:subscription",
            "Contact created",
            _one(_contact_event(False)),
        ),
        Sample(
            "contacts:subscriber:subscription:updated",
            "Contact updated",
            _one(_contact_event(True)),
        ),
    ]
    for product in ("sms", "whatsapp", "rcs", "voice", "viber"):
        samples.append(
            Sample(
                f"{product}:unsubscription",
                f"{_LABELS[product]} opt-out (sent to /{product}: the path tells the five apart)",
                _one(_unsub_event(product)),
            )
        )
    samples += [
        Sample(
            "verification",
            "The console's URL verification: POST ?token=KEY with a challenge to echo",
            _one(verification_request),
        ),
        Sample(
            "story:whatsapp-read",
            "WhatsApp message sent, delivered ~3 s later, read ~10 s after that",
            _story_whatsapp_read,
            story=True,
        ),
        Sample(
            "story:sms-failed",
            "SMS delivery report with a failure code from the provider's table",
            _story_sms_failed,
            story=True,
        ),
        Sample(
            "story:voice-call",
            "Outbound call not answered, then answered on the retry a minute later",
            _story_voice_call,
            story=True,
        ),
        Sample(
            "story:opt-out",
            "User writes STOP on WhatsApp, then the opt-out arrives",
            _story_opt_out,
            story=True,
        ),
        Sample(
            "story:inbound-reply",
            "WhatsApp message delivered and read, then the user replies",
            _story_inbound_reply,
            story=True,
        ),
        Sample(
            "story:retry",
            "WhatsApp status re-sent after 10 s and 100 s while your answer fails (non-2xx or over 3 s)",
            _story_retry,
            story=True,
        ),
        Sample(
            "story:retry-sms",
            "SMS delivery report re-sent 3 times, 30 min apart, while your answer is not 200/202",
            _story_retry_sms,
            story=True,
        ),
    ]
    return {s.name: s for s in samples}


SAMPLES: dict[str, Sample] = _build_samples()


def build(name: str, ctx: Context | None = None) -> list[SimRequest]:
    """The requests of ``name`` (an event, a variant, ``verification`` or a story), fresh."""
    sample = SAMPLES.get(name)
    if sample is None:
        raise KeyError(name)
    return sample.build(ctx or Context())


def new_context(
    *,
    secret: str = "",
    signing_key: str = "",
    overrides: Mapping[str, str] | None = None,
    seed: int | None = None,
) -> Context:
    """A context with fresh randomness (``seed`` for repeatable tests)."""
    rng = random.Random(seed if seed is not None else secrets.randbits(64))
    return Context(rng=rng, secret=secret, signing_key=signing_key, overrides=dict(overrides or {}))


def delivered(product: str, status: int, elapsed: float) -> bool:
    """Whether the provider would count this answer as delivered (delivery.md section 3)."""
    if product in ("sms", "voice"):
        return status in (200, 202)
    if product in SIGNED_PRODUCTS:
        return 200 <= status < 300 and elapsed <= MESSAGE_TIMEOUT
    return 200 <= status < 300
