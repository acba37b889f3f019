"""Turn one raw request into the provider event it carries.

Decoding runs once, at capture time, and its results are stored as columns next
to the untouched raw bytes.  It never raises on what it receives: whatever it
cannot make sense of becomes a warning, and the event name stays empty.
"""

from __future__ import annotations

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
from inspector.core.sizes import human_size

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

#: Most bytes a compressed body is inflated to, for decoding and for viewing.  A body that
#: inflates past it (a compression bomb: 1 MB of gzip can hold 1 GB) is decoded no
#: further; its raw bytes are kept as sent.  Twice the default --max-body.
INFLATE_LIMIT = 50 << 20
#: JSON bodies with more arrays, objects and separators than this are not parsed into
#: Python objects (an "array bomb": ``[[],[],...]`` costs about 70 bytes per 3 in memory);
#: they are recorded raw with a warning.  No webhook comes near it.
JSON_MAX_ITEMS = 2_000_000
#: Bodies below this size are never counted for :data:`JSON_MAX_ITEMS` (cannot reach it).
_COUNT_FROM = 1 << 20
#: Methods whose requests normally carry a body: an empty one is worth a warning.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig", "UTF-8 with a byte-order mark"),
    (b"\xff\xfe\x00\x00", "utf-32", "UTF-32 (little-endian, with a byte-order mark)"),
    (b"\x00\x00\xfe\xff", "utf-32", "UTF-32 (big-endian, with a byte-order mark)"),
    (b"\xff\xfe", "utf-16", "UTF-16 (little-endian, with a byte-order mark)"),
    (b"\xfe\xff", "utf-16", "UTF-16 (big-endian, with a byte-order mark)"),
)


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


@dataclass(slots=True)
class Inflated:
    """A body with its ``Content-Encoding`` undone (as far as the limit allows)."""

    data: bytes
    #: What went wrong or was left undone, for a warning; None when all went well.
    problem: str | None = None
    #: The body inflates past the limit: ``data`` holds only its first bytes.
    truncated: bool = False




def _inflate(body: bytes, wbits: int, limit: int) -> tuple[bytes, bool]:
    """Inflate ``body`` (every gzip member, for gzip) to at most ``limit`` bytes.

    Returns the bytes and whether there was more: never holds more than ``limit``
    (plus one zlib block) in memory, whatever the body would inflate to.
    """
    out: list[bytes] = []
    size = 0
    rest = body
    while rest:
        d = zlib.decompressobj(wbits)
        chunk = d.decompress(rest, limit - size + 1)
        size += len(chunk)
        out.append(chunk)
        if size > limit or d.unconsumed_tail:
            return b"".join(out)[:limit], True
        if not d.eof:
            raise zlib.error("compressed data is incomplete")
        rest = d.unused_data if wbits & 16 else b""
        # Trailing zero bytes after a gzip member are padding, not another member.
        if rest and not rest.strip(b"\x00"):
            break
    return b"".join(out), False


def inflate(body: bytes, encoding: str | None, limit: int = INFLATE_LIMIT) -> Inflated:
    """Undo ``Content-Encoding`` for decoding and viewing; the stored bytes stay as sent.

    Inflating stops at ``limit`` bytes (see :data:`INFLATE_LIMIT`), and says so.
    """
    if not encoding or not body:
        return Inflated(body)
    enc = encoding.strip().lower()
    if enc == "identity":
        return Inflated(body)
    if enc not in ("gzip", "x-gzip", "deflate"):
        return Inflated(body, f"Content-Encoding {enc} is not decoded; body shown as received")
    try:
        if enc == "deflate":
            try:
                data, more = _inflate(body, zlib.MAX_WBITS, limit)
            except zlib.error:
                data, more = _inflate(body, -zlib.MAX_WBITS, limit)
        else:
            data, more = _inflate(body, 16 + zlib.MAX_WBITS, limit)
    except (zlib.error, MemoryError) as exc:
        return Inflated(body, f"body says Content-Encoding {enc} but does not decompress: {exc}")
    if more:
        return Inflated(
            data,
            f"{enc} body of {human_size(len(body))} inflates past {human_size(limit)} (a compression "
            f"bomb?); decompressed only that far, not decoded; raw bytes kept as sent",
            truncated=True,
        )
    return Inflated(data)


def decode_content(
    body: bytes, encoding: str | None, limit: int = INFLATE_LIMIT
) -> tuple[bytes, str | None]:
    """Undo ``Content-Encoding`` for viewing (up to ``limit`` bytes); the stored bytes stay
    as sent.  Returns the bytes and a problem to show, if any (see :func:`inflate`)."""
    result = inflate(body, encoding, limit)
    return result.data, result.problem


def body_text(content: bytes) -> tuple[str | None, str | None]:
    """The body as text, and a note when it is not plain UTF-8 but another Unicode form.

    JSON is UTF-8 on the wire, but some senders prefix a byte-order mark or send UTF-16
    (Windows tools): those are recognised by their mark, or by the NUL bytes that ASCII
    takes in UTF-16 (RFC 4627 section 3), and decoded.  None when it is not text.
    """
    first = content[:1]
    if first in (b"\xef", b"\xff", b"\xfe", b"\x00"):
        for mark, codec, name in _BOMS:
            if content.startswith(mark):
                return _decode_as(content, codec, name)
    if len(content) >= 4 and len(content) % 2 == 0 and 0 in content[:4]:
        if content[0] == 0 and content[1] != 0 and content[2] == 0:
            return _decode_as(content, "utf-16-be", "UTF-16 (big-endian, no byte-order mark)")
        if content[0] != 0 and content[1] == 0 and content[3] == 0:
            return _decode_as(content, "utf-16-le", "UTF-16 (little-endian, no byte-order mark)")
    try:
        return content.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, None


def _decode_as(content: bytes, codec: str, name: str) -> tuple[str | None, str | None]:
    try:
        text = content.decode(codec)
    except UnicodeDecodeError:
        return None, None
    if codec == "utf-8-sig" or "\x00" not in text:
        how = "with the mark dropped" if codec == "utf-8-sig" else f"as {name.split(' (')[0]}"
        return text, f"body is {name}, not plain UTF-8 as JSON should be; decoded {how}"
    return None, None


def count_json_items(text: str) -> int:
    """Arrays, objects and separators in ``text`` (strings included: an upper bound)."""
    return text.count("[") + text.count("{") + text.count(",")


def _safe_text(value: str) -> str:
    """``value`` with lone surrogates written as ``\\udXXX`` escapes (SQLite and UTF-8
    refuse them; JSON's ``\\ud800`` escape produces one)."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


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


#: What :meth:`EventDecoder._parse_json` returns for a body that is not JSON (None is JSON's null).
_NOT_JSON: Any = object()

_FORM = "application/x-www-form-urlencoded"
_TEXT_FIELDS = ("event", "product", "status", "message_id", "from_", "to", "summary")


def _scrub(out: DecodedEvent) -> None:
    """Escape lone surrogates in what was decoded, so that storing it cannot fail.

    JSON's ``\\ud800`` escape (half a character) survives Python's JSON reader as a lone
    surrogate, which UTF-8, and so SQLite, refuses; one such request used to fail the
    commit of every request sent with it.  One ``encode`` of the joined fields is the
    check: cheap, and nothing more is done for the usual clean request.
    """
    joined = "".join(
        (out.event, out.product, out.status, out.message_id, out.from_, out.to, out.summary)
    )
    if joined.isascii() and (not out.warnings or all(w.isascii() for w in out.warnings)):
        return
    try:
        "".join((joined, *out.warnings)).encode("utf-8")
    except UnicodeEncodeError:
        for name in _TEXT_FIELDS:
            setattr(out, name, _safe_text(getattr(out, name)))
        out.warnings = [_safe_text(w) for w in out.warnings]
        if not any("surrogate" in w for w in out.warnings):
            out.warnings.append(
                "body has a lone surrogate escape (such as \\ud800, half a UTF-16 character, "
                "not valid Unicode); decoded fields show it escaped"
            )


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
        _scrub(out)
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
        content = body
        encoding = header_value(headers, "Content-Encoding")
        if encoding:
            inflated = inflate(body, encoding)
            if inflated.problem:
                out.warnings.append(inflated.problem)
            if inflated.truncated:
                return
            content = inflated.data
        if (not content or content.isspace()) and method.upper() in _BODY_METHODS:
            out.warnings.append(
                f"empty body: a {method.upper()} webhook normally carries its event in the body"
                + ("; decoded from the query string" if query else "")
            )
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
        text, note = body_text(stripped)
        if text is None:
            try:
                stripped.decode("utf-8")
            except UnicodeDecodeError as exc:
                out.warnings.append(
                    f"body is not valid UTF-8 (byte 0x{stripped[exc.start]:02x} at offset "
                    f"{exc.start}); shown as hex"
                )
            return None
        if note:
            out.warnings.append(note)
            text = text.strip()
            if not text:
                return None
        if "\x00" in text:
            out.warnings.append("body contains NUL bytes; treated as binary")
            return None
        looks_json = text[0] in "{["
        if looks_json:
            noted = len(out.warnings)
            data = self._parse_json(out, text)
            if data is not _NOT_JSON:
                if ctype and "json" not in ctype:
                    out.warnings.append(
                        f"body is JSON but its Content-Type is {ctype}"
                        + (" (what curl -d sends)" if ctype == _FORM else "")
                        + "; decoded as JSON"
                    )
                return data
            if ctype != _FORM or any("array bomb" in w for w in out.warnings[noted:]):
                return None
            del out.warnings[noted:]  # not JSON after all: form data that starts with a bracket
        if ctype == _FORM or (not looks_json and "=" in text and "json" not in ctype):
            pairs = parse_qsl(text, keep_blank_values=True)
            if pairs:
                data = dict(pairs)
                if query:
                    for key, value in parse_qsl(query, keep_blank_values=True):
                        data.setdefault(key, value)
                return data
        if "json" in ctype:
            data = self._parse_json(out, text)
            return None if data is _NOT_JSON else data
        out.warnings.append(
            f"body is not JSON or form data (Content-Type {ctype or 'missing'}); kept as text"
        )
        return None

    @staticmethod
    def _parse_json(out: DecodedEvent, text: str) -> Any:
        """The JSON value, or :data:`_NOT_JSON` (with one warning saying why)."""
        if len(text) >= _COUNT_FROM:
            items = count_json_items(text)
            if items > JSON_MAX_ITEMS:
                out.warnings.append(
                    f"body is JSON with up to {items:,} arrays, objects and values, over the "
                    f"{JSON_MAX_ITEMS:,} decoded (an array bomb?); not decoded, raw bytes kept"
                )
                return _NOT_JSON
        result = parse_lenient(text)
        out.warnings.extend(result.warnings)
        return result.value if result.ok else _NOT_JSON

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
