"""Turn one raw request into the provider event it carries.

Decoding runs once, at capture time, and its results are stored as columns next
to the untouched raw bytes.  It never raises on what it receives: whatever it
cannot make sense of becomes a warning, and the event name stays empty.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from inspector.core.provider.catalogue import EVENTS_BY_NAME, UNSUBSCRIPTION
from inspector.core.provider.lenient_json import parse_lenient
from inspector.core.provider.models import (
    ContactSubscriber,
    InboundMessage,
    MessageStatus,
    ProviderModel,
    SmsDeliveryReport,
    Unsubscription,
    VoiceCallRecord,
)
from inspector.core.provider.status_table import sms_status_classes

#: Path words that tell the five identical opt-out events apart.
_PATH_HINT = re.compile(r"(?<![a-z])(sms|whatsapp|rcs|voice|viber)(?![a-z])")

#: Every SMS delivery status the provider documents, by code (see ``status_table``).
_SMS_STATUS: dict[str, str] = sms_status_classes()

_MESSAGE_STATUS: dict[str, str] = {
    "sent": "pending",
    "delivered": "success",
    "read": "success",
    "failed": "failure",
    "deleted": "info",
}

_CALL_ANSWERED = {"ANSWER", "ANSWERED", "COMPLETED"}
_CALL_UNANSWERED = {
    "NOANSWER",
    "NO ANSWER",
    "NO-ANSWER",
    "BUSY",
    "CANCEL",
    "CANCELLED",
    "CONGESTION",
    "CHANUNAVAIL",
    "FAILED",
    "REJECTED",
    "UNREACHABLE",
}

#: Keys that identify each flat (unwrapped) payload family, strongest first.
_FLAT_SHAPES: tuple[tuple[str, type[ProviderModel], frozenset[str], int], ...] = (
    (
        "sms:message:status",
        SmsDeliveryReport,
        frozenset({"mobile", "deliv_time", "sent_time", "submit_time", "credits", "units", "cid"}),
        2,
    ),
    (
        "unsubscription",
        Unsubscription,
        frozenset({"receiver", "type", "value"}),
        2,
    ),
    (
        "voice:message:out",
        VoiceCallRecord,
        frozenset({"bridge", "mid", "flow_id", "start_at", "end_at", "duration", "recording_url"}),
        2,
    ),
    (
        "contacts:subscriber:subscription",
        ContactSubscriber,
        frozenset(
            {"identity", "first_name", "last_name", "birth_date", "updated_at", "attributes"}
        ),
        2,
    ),
)

_SUMMARY_LIMIT = 200


@dataclass(slots=True)
class DecodedEvent:
    event: str = ""
    product: str = ""
    status: str = ""
    status_class: str = "unknown"
    message_id: str = ""
    from_: str = ""
    to: str = ""
    summary: str = ""
    warnings: list[str] = field(default_factory=list)
    #: Authenticity checks' results, ``(check, result, detail)`` (see ``authenticity``).
    auth: list[tuple[str, str, str]] = field(default_factory=list)
    #: The URL verification handshake's record (see ``verification``), or None.
    verification: dict[str, Any] | None = None


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


def decode_content(body: bytes, encoding: str | None) -> tuple[bytes, str | None]:
    """Undo ``Content-Encoding`` for viewing; the stored bytes stay as sent."""
    if not encoding or not body:
        return body, None
    enc = encoding.strip().lower()
    try:
        if enc in ("gzip", "x-gzip"):
            return gzip.decompress(body), None
        if enc == "deflate":
            try:
                return zlib.decompress(body), None
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS), None
    except (OSError, EOFError, zlib.error) as exc:
        return body, f"body says Content-Encoding {enc} but does not decompress: {exc}"
    if enc == "identity":
        return body, None
    return body, f"Content-Encoding {enc} is not decoded; body shown as received"


@lru_cache(maxsize=256)
def _path_products(path: str) -> tuple[str, ...]:
    """Product words in ``path``, each once, in order; cached, since a webhook's path repeats."""
    return tuple(dict.fromkeys(_PATH_HINT.findall(path.lower())))


def product_hint(path: str) -> tuple[str, list[str]]:
    """Product word in the URL path (letters around it not allowed, digits and slashes are)."""
    found = _path_products(path)
    if len(found) == 1:
        return found[0], []
    if len(found) > 1:
        return "", [f"URL path names several products ({', '.join(found)}); product not assumed"]
    return "", []


def _s(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "\u2026"


class EventDecoder:
    """Decides event, product, status, class, parties and warnings for one request."""

    def decode(
        self,
        method: str,
        path: str,
        query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
    ) -> DecodedEvent:
        out = DecodedEvent()
        try:
            self._decode(out, method, path, query, headers, body)
        except Exception as exc:  # noqa: BLE001 - decoding must never lose a request
            out.warnings.append(f"decoder error ({type(exc).__name__}: {exc}); raw request kept")
        return out

    def _decode(
        self,
        out: DecodedEvent,
        method: str,
        path: str,
        query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
    ) -> None:
        content, problem = decode_content(body, header_value(headers, "Content-Encoding"))
        if problem:
            out.warnings.append(problem)
        data = self._parse(out, query, header_value(headers, "Content-Type") or "", content)
        if data is None:
            return
        # JSON and form data give plain dicts, so ``dict`` (not the slower Mapping ABC) is the test.
        if not isinstance(data, dict):
            out.warnings.append(
                f"body is a JSON {type(data).__name__}, not an object; no provider event has that shape"
            )
        elif isinstance(data.get("event"), str) and isinstance(data.get("payload"), dict):
            self._decode_wrapped(out, data)
        else:
            self._decode_flat(out, data, path)

    # -- parsing -----------------------------------------------------------------

    def _parse(self, out: DecodedEvent, query: str, ctype: str, content: bytes) -> Any:
        ctype = ctype.split(";", 1)[0].strip().lower()
        stripped = content.strip()
        if not stripped:
            if query:
                return dict(parse_qsl(query, keep_blank_values=True))
            return None
        try:
            text = stripped.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.warnings.append(
                f"body is not valid UTF-8 (byte 0x{stripped[exc.start]:02x} at offset "
                f"{exc.start}); shown as hex"
            )
            return None
        if "\x00" in text:
            out.warnings.append("body contains NUL bytes; treated as binary")
            return None
        if ctype == "application/x-www-form-urlencoded" or (
            text[0] not in "{[" and "=" in text and "json" not in ctype
        ):
            pairs = parse_qsl(text, keep_blank_values=True)
            if pairs:
                data = dict(pairs)
                if query:
                    for key, value in parse_qsl(query, keep_blank_values=True):
                        data.setdefault(key, value)
                return data
        if text[0] in "{[" or "json" in ctype:
            result = parse_lenient(text)
            out.warnings.extend(result.warnings)
            return result.value if result.ok else None
        out.warnings.append(
            f"body is not JSON or form data (Content-Type {ctype or 'missing'}); kept as text"
        )
        return None

    # -- wrapped payloads ------------------------------------------------------------

    def _decode_wrapped(self, out: DecodedEvent, data: dict[str, Any]) -> None:
        # The caller has checked the {event: str, payload: object} shape; nothing left to validate.
        name: str = data["event"]
        payload: dict[str, Any] = data["payload"]
        if len(data) > 2:
            extra = sorted(set(data) - {"event", "payload"})
            out.warnings.append(
                f"unexpected top-level field(s) next to the payload: {', '.join(extra)}"
            )
        info = EVENTS_BY_NAME.get(name)
        if info is None:
            out.warnings.append(f"unknown event name {name!r}; not in the provider's catalogue")
            out.product = _s(payload.get("channel"))
            return
        out.event = name
        out.product = info.product
        # Wrapped, every channel's status (sms:message:status too) has the message-status
        # shape; the SMS delivery-report shape arrives flat and is decoded by _decode_flat.
        if name.endswith(":message:status"):
            self._status_payload(out, payload)
        elif name.endswith(":message:in"):
            self._inbound_payload(out, payload)
        elif name.endswith(":unsubscription"):
            self._unsubscription(out, payload)
        elif name == "voice:message:out":
            self._voice(out, payload)
        elif name == "contacts:subscriber:subscription":
            self._contact(out, payload)

    def _status_payload(self, out: DecodedEvent, payload: dict[str, Any]) -> None:
        model = self._validate(out, MessageStatus, payload)
        if model is None:
            return
        out.message_id = _s(model.id)
        out.from_ = _s(model.from_)
        out.to = _s(model.to)
        out.status = _s(model.status)
        channel = _s(model.channel)
        if channel and out.product and channel != out.product:
            out.warnings.append(
                f"payload channel {channel!r} does not match the event's product {out.product!r}"
            )
        key = out.status.strip().lower()
        if key in _MESSAGE_STATUS:
            out.status_class = _MESSAGE_STATUS[key]
        elif not out.status:
            out.warnings.append("status field is missing")
        else:
            out.warnings.append(
                f"status {out.status!r} is not one of sent, delivered, read, failed, deleted"
            )

    def _inbound_payload(self, out: DecodedEvent, payload: dict[str, Any]) -> None:
        model = self._validate(out, InboundMessage, payload)
        if model is None:
            return
        out.status_class = "inbound"
        out.message_id = _s(model.id)
        if model.recipient is not None:
            out.from_ = _s(model.recipient.from_)
        if model.channels:
            out.to = _s(model.channels[0].to)
            channel = _s(model.channels[0].name)
            if channel and channel != out.product:
                out.warnings.append(
                    f"channel {channel!r} does not match the event's product {out.product!r}"
                )
        msg = model.message
        if msg is not None:
            content = msg.payload or {}
            kind = _s(msg.type)
            text = content.get("text")
            if text:
                out.summary = _clip(_s(text))
            else:
                caption = _s(content.get("caption"))
                url = _s(content.get("url"))
                out.summary = _clip(f"[{kind or 'message'}] {caption or url}".strip())

    # -- flat payloads ---------------------------------------------------------------

    def _decode_flat(self, out: DecodedEvent, data: dict[str, Any], path: str) -> None:
        keys = set(data)
        dlr_code = _s(data.get("status")).strip().upper() in _SMS_STATUS
        scored = []
        for name, model, sig, need in _FLAT_SHAPES:
            score = len(keys & sig)
            if name == "sms:message:status" and dlr_code:
                score += 1  # a DLR code in "status" is as telling as a DLR-only key
            if score >= need:
                scored.append((score, name, model))
        scored.sort(key=lambda t: -t[0])
        if not scored:
            out.warnings.append(
                "payload shape not recognised: neither wrapped in {event, payload} nor one of the "
                "flat shapes (SMS delivery report, opt-out, call record, contact)"
            )
            return
        if len(scored) > 1 and scored[0][0] == scored[1][0]:
            out.warnings.append(
                f"payload shape is ambiguous between {scored[0][1]} and {scored[1][1]}; "
                f"decoded as {scored[0][1]}"
            )
        name = scored[0][1]
        if name == "unsubscription":
            hint, hint_warnings = product_hint(path)
            out.warnings.extend(hint_warnings)
            if hint:
                out.event = f"{hint}:unsubscription"
                out.product = hint
            else:
                out.event = UNSUBSCRIPTION
                out.warnings.append(
                    "opt-out event with no product in the URL: the five *:unsubscription events "
                    "share one shape; point each product's webhook at a path naming it "
                    "(e.g. /sms, /whatsapp, /rcs, /voice, /viber) to tell them apart"
                )
            self._unsubscription(out, data)
            return
        out.event = name
        out.product = EVENTS_BY_NAME[name].product
        if name == "sms:message:status":
            self._sms_dlr(out, data)
        elif name == "voice:message:out":
            self._voice(out, data)
        else:
            self._contact(out, data)

    def _sms_dlr(self, out: DecodedEvent, data: dict[str, Any]) -> None:
        model = self._validate(out, SmsDeliveryReport, data)
        if model is None:
            return
        out.message_id = _s(model.id)
        out.to = _s(model.mobile)
        out.from_ = ""
        out.status = _s(model.status)
        key = out.status.strip().upper()
        if key in _SMS_STATUS:
            out.status_class = _SMS_STATUS[key]
        elif out.status:
            out.warnings.append(f"SMS status {out.status!r} is not a known delivery report code")

    def _unsubscription(self, out: DecodedEvent, data: dict[str, Any]) -> None:
        model = self._validate(out, Unsubscription, data)
        if model is None:
            return
        out.status_class = "opt_out"
        out.message_id = _s(model.id)
        out.from_ = _s(model.receiver)
        out.to = _s(model.value)
        out.status = _s(model.status)
        if model.type:
            out.summary = _clip(f"opt-out of {model.type} {_s(model.value)}")

    def _voice(self, out: DecodedEvent, data: dict[str, Any]) -> None:
        model = self._validate(out, VoiceCallRecord, data)
        if model is None:
            return
        out.message_id = _s(model.mid)
        out.from_ = _s(model.from_)
        out.to = _s(model.to)
        out.status = _s(model.status)
        key = out.status.strip().upper()
        if key in _CALL_ANSWERED:
            out.status_class = "success"
        elif key in _CALL_UNANSWERED:
            out.status_class = "failure"
        elif out.status:
            out.warnings.append(f"call status {out.status!r} is not a known call outcome")
        if model.duration:
            out.summary = _clip(f"{_s(model.source)} call, {model.duration} s".strip())

    def _contact(self, out: DecodedEvent, data: dict[str, Any]) -> None:
        model = self._validate(out, ContactSubscriber, data)
        if model is None:
            return
        out.status_class = "info"
        out.message_id = _s(model.id)
        out.from_ = _s(model.identity)
        out.status = _s(model.status)
        name = " ".join(_s(p) for p in (model.first_name, model.last_name) if p)
        out.summary = _clip(name)

    # -- helpers -----------------------------------------------------------------

    @staticmethod
    def _validate(out: DecodedEvent, model: type[ProviderModel], data: dict[str, Any]) -> Any:
        # The model's own validator: what model_validate calls, minus its Python-level wrapper.
        validate = model.__pydantic_validator__.validate_python
        try:
            parsed = validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
            )
            out.warnings.append(f"payload fields have unexpected types ({problems})")
            cleaned = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
            try:
                parsed = validate(cleaned)
            except ValidationError:
                return None
        missing = [k for k in model.expected if k not in data]
        if missing:
            out.warnings.append(f"missing field(s): {', '.join(missing)}")
        if parsed.model_extra:
            out.warnings.append(f"unexpected field(s): {', '.join(sorted(parsed.model_extra))}")
        return parsed
