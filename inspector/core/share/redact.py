"""Redaction for sharing: one row -> row transform applied before any export format.

What goes (``har.md`` lists what the other sanitizers miss):

- secret headers: Chrome's (``Cookie``, ``Set-Cookie``, ``Authorization``), Microsoft Dev
  Proxy's list, and signature headers (``Signature``, ``X-Hub-Signature-256``...); an
  ``Authorization`` value keeps its scheme (``Bearer <mask>``);
- secret query and form keys (``token``, ``validation_key``, ``access_token``...);
- the personal fields of the provider's payloads, by key (:data:`PERSONAL_KEYS`, and every
  value under a ``user``, ``user_info`` or ``attributes`` object), in JSON bodies, form
  bodies and query strings;
- anywhere else (other JSON values, free text, paths, header values, our decoded columns,
  warnings): phone numbers (``phonenumbers``, region IN), emails, JWTs, long hex or base64
  tokens, and every value already masked elsewhere in the same request.

The same original always becomes the same mask within one export (keyed BLAKE2b, a MAC, of
the value with a key drawn at random per export and never written anywhere), so a
message's timeline still lines up in the shared file.  Masks carry 64 bits of the digest:
two different values meeting the same mask is a chance below one in 10^7 even among a
million distinct values.  A JSON body keeps its layout (trailing commas included): only
the redacted values change, and a masked bare number becomes a string.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import phonenumbers

from inspector.core.provider.decoder import decode_content
from inspector.core.session.forwards import ForwardRecord
from inspector.core.session.store import StoredRequest
from inspector.core.share.rows import Change, ExportRow, without_tunnel_credentials

#: Chrome's sanitized HAR drops these three.
CHROME_HEADERS = frozenset({"cookie", "set-cookie", "authorization"})
#: Microsoft Dev Proxy's list of header values it replaces.
DEV_PROXY_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "from",
        "proxy-authenticate",
        "proxy-authorization",
        "set-cookie",
        "www-authenticate",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
        "x-forwarded-for",
        "x-real-ip",
        "x-session-token",
        "x-xsrf-token",
    }
)
SECRET_HEADERS = CHROME_HEADERS | DEV_PROXY_HEADERS | {"x-webhook-secret", "x-access-token"}
_SIGNATURE_HEADER = re.compile(r"signature|^x-.*-sig$|hmac", re.IGNORECASE)
_ADDRESS_HEADERS = frozenset({"x-forwarded-for", "x-real-ip", "forwarded", "cf-connecting-ip"})
_AUTH_SCHEME = re.compile(r"^(Bearer|Basic|Token|Digest|ApiKey)\s+", re.IGNORECASE)

#: Query-string and form keys whose values are secrets (the provider's verification, the
#: usual OAuth words, Cloudflare's list).
SECRET_KEYS = frozenset(
    {
        "token",
        "validation_key",
        "challenge",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "code",
        "state",
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
        "key",
        "signature",
        "sig",
        "auth",
        "authorization",
        "session",
    }
)

#: Personal fields of the provider's payloads (events.md, delivery.md), by key, with the
#: kind of mask each gets.  Per event: DLR ``mobile``, ``custom*`` and the number's
#: ``location``/``region``; opt-outs ``receiver``; message statuses ``from``/``to``;
#: inbound messages the channel's ``to``, ``recipient.from``, the whole ``recipient.user``,
#: the text, caption, media URL and file name; voice ``bridge``/``from``/``to`` and
#: ``recording_url``; contacts ``identity``, names, gender, birth date, company and
#: ``attributes``; the URL verification's ``validation_key`` and ``challenge``.
PERSONAL_KEYS: dict[str, str] = {
    "mobile": "phone",
    "mobile_number": "phone",
    "msisdn": "phone",
    "from": "phone",
    "to": "phone",
    "receiver": "phone",
    "bridge": "phone",
    "phone": "phone",
    "number": "phone",
    "first_name": "name",
    "middle_name": "name",
    "last_name": "name",
    "username": "name",
    "email": "email",
    "identity": "identity",
    "identifier_id": "identity",
    "subscriber_id": "identity",
    "text": "text",
    "caption": "text",
    "filename": "text",
    "url": "url",
    "recording_url": "url",
    "media_url": "url",
    "picture": "url",
    "gender": "personal",
    "birth_date": "personal",
    "company": "personal",
    "title": "personal",
    "custom": "personal",
    "custom1": "personal",
    "custom2": "personal",
    "location": "personal",
    "region": "personal",
    "location_code": "personal",
    "region_code": "personal",
    "validation_key": "secret",
    "challenge": "secret",
    "token": "secret",
}
#: Documented fields that are never personal (times, ids, counts): not scanned, so that a
#: unix time such as ``deliv_at`` "1617965871", a valid Indian number by its digits,
#: stays as it was.
SAFE_KEYS = frozenset(
    {
        "id", "mid", "message_id", "foreign_id", "event", "channel", "type", "status",
        "credits", "units", "duration", "flow_id", "source", "deliv_at", "sent_at",
        "submit_at", "deliv_time", "sent_time", "submit_time", "start_at", "end_at",
        "created_at", "updated_at", "delivered_at", "read_at", "processed_at", "timestamp",
    }
)
#: Every value anywhere under these keys is personal.
PERSONAL_SUBTREES = frozenset({"user", "user_info", "attributes"})

#: Worth asking ``phonenumbers`` about: 8 or more digits, not inside a word or an id
#: (a message id's "-000000012345" is not a phone number; its matcher costs 0.5 ms).
_PHONE_HINT = re.compile(r"(?<![\w-])\+?\(?\d[\d ().-]{6,}\d(?![\w-])")
_BARE_NUMBER = re.compile(r"^\+?\d{8,15}$")
_MASKED_NUMBER = re.compile(r"(?<![\w])\+?\d{5,}[xX]{2,}(?![\w])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
_B64 = re.compile(r"(?<![A-Za-z0-9+/=_-])(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[A-Za-z])[A-Za-z0-9+/_-]{40,}={0,2}")
_LOOKS_PHONE = re.compile(r"^\+?\d[\d xX-]{6,18}$")
#: One step of a JSON-ish text: 1 a string (quoted) or bare token (number, literal,
#: unquoted text), with 2 its colon when it is a member's key (a value's following comma
#: swallowed), 3 an opening and 4 a closing bracket (a following comma swallowed), 5 a
#: stray colon or comma.  Strings are matched as an unrolled loop, ``[^"\\]*(\\.[^"\\]*)*``:
#: a per-character alternation costs three times as much in ``re``.
_JSON_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_JSON_TOKEN = re.compile(
    rf'\s*(?:({_JSON_STRING}|[^\s{{}}\[\]:,"]+)\s*(?:(:)|,?)|([{{\[])|([}}\]])\s*,?|([:,]))\s*',
    re.DOTALL,
)
_LITERALS = frozenset({"true", "false", "null"})
_FORM_TYPES = ("application/x-www-form-urlencoded",)
_KNOWN_MIN = 4
#: A JSON value shorter than this holds no phone number (8 digits), email or token and
#: no known value worth finding inside it: it is not scanned.
_SCAN_MIN = 6
#: Masks and scans remembered per export: the values that repeat (statuses, sender
#: ids, a test number) are few. With 8,192 instead of 65,536, an export worker peaks
#: at 53 MB instead of 93 over 200,000 bench requests, at the same speed.
_CACHED = 8192
#: The decoder clips its summary to this many characters (``decoder._SUMMARY_LIMIT``).
_SUMMARY_LIMIT = 200


#: A JSON text's planned edits (see :meth:`Redactor._json_plan`): the text, its edits as
#: (start, end, value, where, the change when a key names it), where tokenizing stopped.
_Plan = tuple[str, list[tuple[int, int, str, str, Change | None]], int]


@dataclass
class RedactionOptions:
    #: More keys (JSON, query, form, header names) whose values are masked.
    extra_keys: frozenset[str] = frozenset()
    #: Values never masked (a test number the user shares on purpose, a sender id...).
    keep_values: frozenset[str] = frozenset()


@dataclass
class RedactionSummary:
    """Counts for the user ("redacted 412 phone numbers, 38 names, 19 secrets")."""

    by_kind: Counter[str] = field(default_factory=Counter)
    rows: int = 0
    dropped: int = 0

    _WORDS = {
        "phone": ("phone number", "phone numbers"),
        "name": ("name", "names"),
        "email": ("email", "emails"),
        "identity": ("identity", "identities"),
        "text": ("message text", "message texts"),
        "url": ("URL", "URLs"),
        "personal": ("other personal field", "other personal fields"),
        "secret": ("secret", "secrets"),
        "token": ("token", "tokens"),
        "address": ("address", "addresses"),
    }

    def add(self, row: ExportRow) -> None:
        self.rows += 1
        self.dropped += len(row.dropped)
        self.by_kind.update(change.kind for change in row.changes or ())

    def sentence(self) -> str:
        if not self.by_kind and not self.dropped:
            return f"nothing to redact in {self.rows} request(s)"
        parts = []
        for kind, n in self.by_kind.most_common():
            one, many = self._WORDS.get(kind, (kind, kind))
            parts.append(f"{n} {one if n == 1 else many}")
        if self.dropped:
            parts.append(f"{self.dropped} binary bod{'y' if self.dropped == 1 else 'ies'} removed")
        return f"redacted {', '.join(parts)} in {self.rows} request(s)"


def _phone_cc(value: str) -> str:
    digits = value.lstrip("+")
    return "91" if digits.startswith("91") and len(digits) >= 10 else ""


class Redactor:
    """Masks one export's rows; a new key (so new masks) for every instance."""

    def __init__(self, options: RedactionOptions | None = None, key: bytes | None = None) -> None:
        self.options = options or RedactionOptions()
        self._key = key if key is not None else secrets.token_bytes(32)
        self._keys = {k.lower(): "personal" for k in self.options.extra_keys}
        self._keep = self.options.keep_values
        self.summary = RedactionSummary()
        self._kinds: dict[str, str | None] = {}
        self._plan: _Plan | None = None
        self._mask_cached = lru_cache(maxsize=_CACHED)(self._mask_uncached)
        self._scan_cached = lru_cache(maxsize=_CACHED)(self._scan_uncached)

    @property
    def key(self) -> bytes:
        """The export's key: handed to the worker processes of the same export, never
        written anywhere."""
        return self._key

    # -- masks ------------------------------------------------------------------------

    def _kind_of(self, value: str, hint: str) -> str:
        """The value's own shape decides where it can (a number is a phone number
        wherever it is), so the same original always gets the same mask."""
        if (
            _LOOKS_PHONE.match(value)
            # digits and x: all that is left once the separators go
            and len(value) - value.count(" ") - value.count("-") - value.count("+") >= 10
        ):
            return "phone"
        if _EMAIL.fullmatch(value):
            return "email"
        return hint

    def _mask_uncached(self, value: str, hint: str) -> tuple[str, str]:
        kind = self._kind_of(value, hint)
        d = hashlib.blake2b(
            value.encode("utf-8", "surrogatepass"), key=self._key, digest_size=8
        ).hexdigest()
        if kind == "phone":
            return kind, f"{_phone_cc(value)}XXXX{d}"
        if kind == "email":
            return kind, f"user-{d}@redacted.invalid"
        if kind == "url":
            return kind, f"https://redacted.invalid/{d}"
        return kind, f"{kind}-{d}"

    def mask(self, value: str, hint: str) -> tuple[str, str]:
        """(kind, mask) for ``value``."""
        return self._mask_cached(value, hint)

    # -- free text --------------------------------------------------------------------

    def _scan_uncached(self, text: str) -> tuple[tuple[int, int, str], ...]:
        spans: list[tuple[int, int, str]] = []
        for rx, kind in ((_EMAIL, "email"), (_JWT, "token"), (_HEX, "token"), (_B64, "token")):
            spans.extend((m.start(), m.end(), kind) for m in rx.finditer(text))
        spans.extend((m.start(), m.end(), "phone") for m in _MASKED_NUMBER.finditer(text))
        if _BARE_NUMBER.match(text):
            # A value that is only a number: one parse answers (the matcher costs 0.3 ms).
            try:
                number = phonenumbers.parse(text, "IN")
            except phonenumbers.NumberParseException:
                return tuple(spans)
            if phonenumbers.is_valid_number(number):
                spans.append((0, len(text), "phone"))
            return tuple(spans)
        if _PHONE_HINT.search(text):
            for m in phonenumbers.PhoneNumberMatcher(text, "IN"):
                spans.append((m.start, m.end, "phone"))
        return tuple(spans)

    def scrub(
        self,
        text: str,
        where: str,
        changes: list[Change],
        known: dict[str, str] | None = None,
        *,
        short: bool = False,
    ) -> str:
        """``text`` with every detected or already-known value replaced by its mask."""
        if not text:
            return text
        if known and text in known and text not in self._keep:
            mask = known[text]
            changes.append(Change(where, self._kind_of(text, "personal"), text, mask))
            return mask
        spans = list(self._scan_cached(text)) if len(text) < 4096 else list(self._scan_uncached(text))
        if known:
            least = 2 if short else _KNOWN_MIN
            for original in known:
                if len(original) < least:
                    continue
                start = text.find(original)
                while start != -1:
                    spans.append((start, start + len(original), "known"))
                    start = text.find(original, start + 1)
        if not spans:
            return text
        spans.sort(key=lambda s: (s[0], -s[1]))
        out: list[str] = []
        pos = 0
        for start, end, kind in spans:
            if start < pos:
                continue
            original = text[start:end]
            if original in self._keep:
                continue
            if kind == "known" and known is not None:
                mask = known[original]
                found_kind = self._kind_of(original, "personal")
            else:
                found_kind, mask = self.mask(original, kind)
            out.append(text[pos:start])
            out.append(mask)
            changes.append(Change(where, found_kind, original, mask))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _value(
        self, value: str, hint: str, where: str, changes: list[Change], known: dict[str, str]
    ) -> str:
        """A value whose key says it is personal (or secret): masked whole."""
        if not value or value in self._keep:
            return value
        kind, mask = self.mask(value, hint)
        known[value] = mask
        changes.append(Change(where, kind, value, mask))
        return mask

    # -- structured parts -------------------------------------------------------------

    def _key_kind(self, key: str) -> str | None:
        try:
            return self._kinds[key]
        except KeyError:
            kind = self._kinds[key] = self._key_kind_uncached(key)
            if len(self._kinds) > 4096:
                self._kinds.clear()
            return kind

    def _key_kind_uncached(self, key: str) -> str | None:
        lk = key.lower()
        if lk in self._keys:
            return self._keys[lk]
        if lk in SECRET_KEYS:
            return "secret"
        return PERSONAL_KEYS.get(lk)

    def _form(
        self, text: str, where: str, changes: list[Change], known: dict[str, str], collect: bool
    ) -> str:
        """A query string or form body: changed pairs re-encoded, the others byte-exact."""
        parts = text.split("&")
        for i, part in enumerate(parts):
            raw_key, eq, raw_value = part.partition("=")
            if not eq:
                continue
            key, value = unquote_plus(raw_key), unquote_plus(raw_value)
            kind = self._key_kind(key)
            if kind is not None:
                if collect:
                    self._value(value, kind, f"{where} {key}", [], known)
                    continue
                new = self._value(value, kind, f"{where} {key}", changes, known)
            elif collect:
                continue
            else:
                new = self.scrub(value, f"{where} {key}", changes, known)
            if new != value:
                parts[i] = f"{raw_key}={quote_plus(new, safe='@:/')}"
        return "&".join(parts)

    def _json_plan(self, text: str, where: str, known: dict[str, str]) -> _Plan:
        """What to change in a JSON-ish text, in one walk of its tokens: each value a key
        names is masked whole now (and becomes known, so free text anywhere in the
        request loses it too); the other values worth scanning are listed for
        :meth:`_json` to scrub once every known value is in; and where tokenizing
        stopped (``len(text)`` when it did not: the rest is free text)."""
        edits: list[tuple[int, int, str, str, Change | None]] = []
        # frames: [key of the current member, personal]; a key is the string before ':'
        stack: list[list[Any]] = []
        top: list[Any] | None = None
        pos = 0
        subtrees = PERSONAL_SUBTREES
        key_kind = self._key_kind
        keep = self._keep
        for m in _JSON_TOKEN.finditer(text):
            if m.start() != pos:
                break  # something that is no JSON token: the rest is free text
            pos = m.end()
            tok = m.group(1)
            if tok is None:
                if m.group(3) is not None:  # { or [
                    if top is None:
                        top = [None, False]
                    else:
                        key = top[0]
                        top = [key, top[1] or (key is not None and key.lower() in subtrees)]
                    stack.append(top)
                elif m.group(4) is not None:  # } or ]
                    if stack:
                        stack.pop()
                    top = stack[-1] if stack else None
                continue  # (or a stray ':' or ',')
            if tok[0] == '"':
                value = tok[1:-1]
                if "\\" in value:
                    try:
                        value = json.loads(tok)
                    except ValueError:
                        pass
            elif m.group(2) is None and tok in _LITERALS:
                continue
            else:
                value = tok
            if m.group(2) is not None:  # a key (quoted, or bare as lenient JSON has)
                if top is not None:
                    top[0] = value
                continue
            if top is None:
                key, personal, kind = None, False, None
            else:
                key = top[0]
                personal = top[1] or (key is not None and key.lower() in subtrees)
                kind = key_kind(key) if key is not None else None
                if kind is None and personal:
                    kind = "personal"
            if kind is not None:
                if not value or value in keep:
                    continue
                label = f"{where} {key}"
                found, mask = self.mask(value, kind)
                known[value] = mask
                edits.append((*m.span(1), value, label, Change(label, found, value, mask)))
            elif len(value) >= _SCAN_MIN and (personal or key not in SAFE_KEYS):
                label = f"{where} {key}" if key is not None else where
                edits.append((*m.span(1), value, label, None))
        return text, edits, pos

    def _json(
        self, text: str, where: str, changes: list[Change], known: dict[str, str], collect: bool
    ) -> str:
        plan = self._plan
        if plan is None or plan[0] is not text:
            plan = self._plan = self._json_plan(text, where, known)
        if collect:
            return text
        self._plan = None
        _, edits, stop = plan
        out: list[str] = []
        at = 0
        for begin, end, value, label, change in edits:
            if change is not None:
                changes.append(change)
                new = f'"{change.mask}"'  # a mask needs no escaping
            else:
                scrubbed = self.scrub(value, label, changes, known)
                if scrubbed == value:
                    continue
                new = json.dumps(scrubbed, ensure_ascii=False)
            out.append(text[at:begin])
            out.append(new)
            at = end
        out.append(text[at:stop])
        if stop < len(text):
            out.append(self.scrub(text[stop:], where, changes, known))
        return "".join(out)

    def _body(
        self, text: str, ctype: str, where: str, changes: list[Change], known: dict[str, str],
        collect: bool,
    ) -> str:
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            return self._json(text, where, changes, known, collect)
        if ctype.split(";")[0].strip().lower() in _FORM_TYPES or (
            "=" in text and not any(ch.isspace() for ch in text.strip())
        ):
            return self._form(text, where, changes, known, collect)
        if collect:
            return text
        return self.scrub(text, where, changes, known)

    def _header(
        self, key: str, value: str, changes: list[Change], known: dict[str, str]
    ) -> str:
        lk = key.lower()
        where = f"header {key}"
        if lk in _ADDRESS_HEADERS:
            return self._value(value, "address", where, changes, known)
        if lk in SECRET_HEADERS or _SIGNATURE_HEADER.search(lk) or lk in self._keys:
            m = _AUTH_SCHEME.match(value)
            if m:
                return m.group() + self._value(value[m.end() :], "secret", where, changes, known)
            return self._value(value, "secret", where, changes, known)
        return self.scrub(value, where, changes, known)

    # -- a row ------------------------------------------------------------------------

    def redact(self, row: ExportRow) -> ExportRow:
        req = row.request
        changes: list[Change] = []
        known: dict[str, str] = {}
        dropped: list[str] = []
        s = req.summary

        body_text: str | None
        raw, problem = decode_content(req.body, _header_of(req.headers, "content-encoding"))
        decoded = problem is None and raw is not req.body
        try:
            body_text = raw.decode("utf-8")
        except UnicodeDecodeError:
            body_text = None
        # First pass: collect the values keys name, so free text elsewhere (the
        # summary, a header, the path) loses them too.
        if body_text is not None:
            self._body(body_text, req.content_type, "body", changes, known, True)
        self._form(s.query, "query", changes, known, True)

        headers: list[tuple[str, str]] = []
        for key, value in req.headers:
            lk = key.lower()
            if lk == "content-length" or (decoded and lk == "content-encoding"):
                continue
            headers.append((key, self._header(key, value, changes, known)))

        if body_text is not None:
            new_body = self._body(body_text, req.content_type, "body", changes, known, False)
            body = new_body.encode("utf-8")
            if decoded:
                dropped.append("Content-Encoding: the body is written decoded")
        else:
            body = b""
            if req.body:
                dropped.append(f"binary body of {len(req.body)} bytes removed")
        if any(k.lower() == "content-length" for k, _ in req.headers):
            headers.append(("Content-Length", str(len(body))))

        query = self._form(s.query, "query", changes, known, False)
        path = self.scrub(s.path, "path", changes, known)

        try:
            resp_text: str | None = req.response_body.decode("utf-8")
        except UnicodeDecodeError:
            resp_text = None
        if resp_text is not None:
            resp_ctype = _header_of(req.response_headers, "content-type") or ""
            response_body = self._body(
                resp_text, resp_ctype, "response body", changes, known, False
            ).encode("utf-8")
        else:
            response_body = b""
            if req.response_body:
                dropped.append(f"binary response body of {len(req.response_body)} bytes removed")
        response_headers = []
        for key, value in req.response_headers:
            if key.lower() == "content-length":
                value = str(len(response_body))
            else:
                value = self._header(key, value, changes, known)
            response_headers.append((key, value))

        def column(value: str, name: str, hint: str) -> str:
            """A decoded column: masked as the body's value was; a value the body kept
            (a sender id such as "Demo12") stays, unless it is a number or an email."""
            if not value or value in self._keep:
                return value
            if value in known:
                mask = known[value]
                changes.append(Change(name, self._kind_of(value, hint), value, mask))
                return mask
            if hint == "address" or self._kind_of(value, "") in ("phone", "email"):
                return self._value(value, hint, name, changes, known)
            return value

        summary = s._replace(
            path=path,
            query=query,
            from_addr=column(s.from_addr, "decoded from", "phone"),
            to_addr=column(s.to_addr, "decoded to", "phone"),
            summary=self._summary(s.summary, changes, known),
            body_size=len(body),
            client_addr=_address(s.client_addr, column),
            remote=_address(s.remote, column),
        )
        warnings = [self.scrub(w, "warning", changes, known) for w in req.warnings]
        verification = req.verification
        if verification:  # the console's handshake: its key and challenge are secrets
            verification = {
                k: self._value(v, "secret", f"verification {k}", changes, known)
                if k in ("token", "validation_key", "challenge") and isinstance(v, str)
                else v
                for k, v in verification.items()
            }
        new_req = dataclasses.replace(
            req,
            summary=summary,
            headers=headers,
            body=body,
            response_headers=response_headers,
            response_body=response_body,
            warnings=warnings,
            content_type=_header_of(headers, "content-type") or "",
            verification=verification,
        )
        forwards = tuple(self._forward(f, changes, known) for f in row.forwards)
        out = dataclasses.replace(
            row,
            request=new_req,
            changes=tuple(changes),
            dropped=tuple(dropped),
            forwards=forwards,
        )
        self.summary.add(out)
        return out

    def _forward(
        self, f: ForwardRecord, changes: list[Change], known: dict[str, str]
    ) -> ForwardRecord:
        """What the user's app answered, masked like the request: its headers, and its
        body as text (a binary answer body is left out)."""
        answer = f.answer
        try:
            text: str | None = answer.body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        ctype = _header_of(answer.headers, "content-type") or ""
        body = (
            self._body(text, ctype, "app answer body", changes, known, False).encode("utf-8")
            if text is not None
            else b""
        )
        headers = [(k, self._header(k, v, changes, known)) for k, v in answer.headers]
        return dataclasses.replace(
            f,
            url=self.scrub(f.url, "app url", changes, known),
            answer=dataclasses.replace(answer, headers=headers, body=body),
        )

    def _summary(self, original: str, changes: list[Change], known: dict[str, str]) -> str:
        """The summary quotes the message text whitespace-folded and clipped, names joined:
        every such form of a known value goes too."""
        return self.scrub(original, "decoded summary", changes, _text_known(known), short=True)

    def rows(self, rows: Iterable[ExportRow]) -> Iterator[ExportRow]:
        for row in rows:
            yield self.redact(row)


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", ""})


def _address(value: str, column: Callable[[str, str, str], str]) -> str:
    """A client address is personal, except this machine's own."""
    return value if value in _LOOPBACK else column(value, "client address", "address")


def _text_known(known: dict[str, str]) -> dict[str, str]:
    """Known values as the decoder's summary quotes them: whitespace-folded, and clipped
    to its length with an ellipsis."""
    out = dict(known)
    for original, mask in known.items():
        folded = " ".join(original.split())
        if folded != original:
            out[folded] = mask
        if len(folded) > _SUMMARY_LIMIT:
            out[folded[: _SUMMARY_LIMIT - 1]] = mask
    return out


def _header_of(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def redact_request(req: StoredRequest, redactor: Redactor | None = None) -> ExportRow:
    """One request redacted (a fresh key unless a redactor is given)."""
    return (redactor or Redactor()).redact(ExportRow(without_tunnel_credentials(req)))
