"""Is this request really from my provider? The checks a user can configure, run at capture time.

- the webhook secret, which the provider sends as ``Authorization: Bearer <secret>``;
- the ``Signature`` header of WhatsApp, RCS and Viber callbacks: lowercase hex HMAC-SHA256
  of the exact body bytes, the way the provider's sender library (spatie's
  laravel-webhook-server: ``hash_hmac('sha256', $body, $key)``) computes it; the key is the
  webhook id or the secret, so every key given is tried and the one that matched is named;
- a generic HMAC header for other senders (GitHub's ``X-Hub-Signature-256`` and the like);
- Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

Each check gives ``ok``, ``wrong`` (a secret that is not the one configured),
``mismatch`` (a signature that does not match the body) or ``missing``, with a sentence that
helps. The settings are plain data (:data:`AuthConfig`) so they cross to the writer process;
they hold secrets, which never go into a row: a detail names a key by its label only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from inspector.core.provider.decoder import decode_content

#: Plain settings: ``secret``, ``signing_keys``, ``hmac``, ``standard_webhooks`` (see README).
AuthConfig = Mapping[str, Any]

OK, WRONG, MISMATCH, MISSING = "ok", "wrong", "mismatch", "missing"
#: The row-level verdicts the filter language knows (``auth:ok`` ...).
OVERALL = ("ok", "failed", "missing")

#: Products whose callbacks the provider signs with the ``Signature`` header.
SIGNED_PRODUCTS = frozenset({"whatsapp", "rcs", "viber"})
ALGORITHMS = ("sha1", "sha256", "sha512")
ENCODINGS = ("hex", "base64")
STANDARD_TOLERANCE = 300  # seconds, the Standard Webhooks recommendation


class AuthResult(NamedTuple):
    """One check on one request."""

    check: str
    result: str
    detail: str


def overall(results: Sequence[AuthResult] | Sequence[Sequence[str]]) -> str:
    """The row's verdict: ``failed`` if any check failed, else ``missing`` if any found
    nothing to check, else ``ok``; ``""`` when nothing was checked."""
    if not results:
        return ""
    kinds = {r[1] for r in results}
    if kinds & {WRONG, MISMATCH}:
        return "failed"
    if MISSING in kinds:
        return "missing"
    return "ok"


@dataclass(frozen=True, slots=True)
class _Key:
    label: str
    key: bytes


class _Sha256Hmac:
    """HMAC-SHA256 with one key, its padded inner and outer states hashed once: half the
    cost of ``hmac.digest`` per request, which every signed request pays."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, data: bytes) -> str:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


@dataclass(frozen=True, slots=True)
class _Hmac:
    header: str
    algorithm: str
    encoding: str
    prefix: str
    keys: tuple[_Key, ...]


def _text_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of text values")
    return [v for v in value if v]


def _standard_key(text: str) -> bytes:
    raw = text.strip()
    if raw.startswith("whsec_"):
        raw = raw[len("whsec_") :]
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(
            "a Standard Webhooks key is 'whsec_' followed by base64; this one does not decode"
        ) from exc
    if not key:
        raise ValueError("a Standard Webhooks key is empty")
    return key


class AuthChecks:
    """The configured checks, ready to run on requests (built once per configuration)."""

    def __init__(self, config: AuthConfig | None) -> None:
        """Raises ValueError with a message for the user when ``config`` is not usable."""
        config = config or {}
        unknown = set(config) - {"secret", "signing_keys", "hmac", "standard_webhooks"}
        if unknown:
            raise ValueError(f"unknown authenticity settings: {', '.join(sorted(unknown))}")
        secret = config.get("secret") or None
        if secret is not None and not isinstance(secret, str):
            raise ValueError("the webhook secret must be text")
        self._secret = secret.encode() if secret else None
        keys = [
            _Key(f"signing key {i}" if len(config.get("signing_keys") or ()) > 1 else "signing key",
                 k.encode())
            for i, k in enumerate(_text_list(config.get("signing_keys"), "signing keys"), 1)
        ]  # fmt: skip
        if self._secret is not None:
            keys.append(_Key("the webhook secret", self._secret))
        #: Keys for the ``Signature`` header; the secret is tried too (it may be the key).
        self._signing = tuple(keys)
        self._signers = tuple((k.label, _Sha256Hmac(k.key)) for k in keys)
        self._bearer_header = b"Bearer " + self._secret if self._secret else b""
        self._has_signing_keys = bool(config.get("signing_keys"))
        self._hmac = self._build_hmac(config.get("hmac"))
        self._standard, self._tolerance = self._build_standard(config.get("standard_webhooks"))
        #: The headers the checks read, lower case: the only ones :meth:`check` collects.
        names = {"authorization", "signature", "content-encoding"}
        if self._hmac is not None:
            names.add(self._hmac.header.lower())
        if self._standard:
            names |= {"webhook-id", "webhook-timestamp", "webhook-signature"}
        self._wanted = frozenset(names)

    @staticmethod
    def _build_hmac(settings: Any) -> _Hmac | None:
        if not settings:
            return None
        if not isinstance(settings, Mapping):
            raise ValueError("hmac settings must be a table of header, algorithm, keys...")
        header = str(settings.get("header") or "").strip()
        algorithm = str(settings.get("algorithm") or "sha256").lower()
        encoding = str(settings.get("encoding") or "hex").lower()
        keys = _text_list(settings.get("keys"), "hmac keys")
        if not header:
            raise ValueError("the HMAC check needs the name of the header that carries it")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"HMAC algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
        if encoding not in ENCODINGS:
            raise ValueError(f"HMAC encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
        if not keys:
            raise ValueError("the HMAC check needs at least one key")
        labelled = tuple(
            _Key(f"HMAC key {i}" if len(keys) > 1 else "HMAC key", k.encode())
            for i, k in enumerate(keys, 1)
        )
        return _Hmac(header, algorithm, encoding, str(settings.get("prefix") or ""), labelled)

    @staticmethod
    def _build_standard(settings: Any) -> tuple[tuple[_Key, ...], int]:
        if not settings:
            return (), STANDARD_TOLERANCE
        if isinstance(settings, (str, list, tuple)):
            settings = {"keys": settings}
        if not isinstance(settings, Mapping):
            raise ValueError("standard_webhooks settings must list keys")
        keys = _text_list(settings.get("keys"), "Standard Webhooks keys")
        tolerance = settings.get("tolerance", STANDARD_TOLERANCE)
        if not isinstance(tolerance, int) or tolerance <= 0:
            raise ValueError("the Standard Webhooks tolerance is a number of seconds above 0")
        labelled = tuple(
            _Key(f"whsec key {i}" if len(keys) > 1 else "whsec key", _standard_key(k))
            for i, k in enumerate(keys, 1)
        )
        return labelled, tolerance

    @property
    def configured(self) -> bool:
        return bool(
            self._secret or self._has_signing_keys or self._hmac is not None or self._standard
        )

    # -- running ----------------------------------------------------------------------

    def check(
        self,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        *,
        product: str = "",
        received_us: int = 0,
    ) -> list[AuthResult]:
        """Every configured check on one request, in a fixed order."""
        # One pass over the headers (the first of a repeated name counts, as everywhere).
        wanted = self._wanted
        found: dict[str, str] = {}
        for key, value in headers:
            name = key.lower()
            if name in wanted and name not in found:
                found[name] = value
        results: list[AuthResult] = []
        if self._secret is not None:
            results.append(self._bearer(found))
        if self._signing:
            result = self._signature(found, body, product)
            if result is not None:
                results.append(result)
        if self._hmac is not None:
            results.append(self._generic(self._hmac, found, body))
        if self._standard:
            results.append(self._standard_webhooks(found, body, received_us))
        return results

    def _bearer(self, headers: Mapping[str, str]) -> AuthResult:
        assert self._secret is not None
        value = headers.get("authorization")
        if value is None:
            return AuthResult(
                "bearer", MISSING, "No Authorization header: the webhook secret was not sent"
            )
        if hmac.compare_digest(value.encode(), self._bearer_header):
            return _BEARER_OK  # exactly as the provider sends it: the common case
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer":
            return AuthResult(
                "bearer",
                WRONG,
                f"Authorization is not a Bearer token (scheme {scheme[:20]!r}); "
                "the provider sends 'Bearer <secret>'",
            )
        if hmac.compare_digest(token.strip().encode(), self._secret):
            return _BEARER_OK
        return AuthResult(
            "bearer",
            WRONG,
            f"Bearer token ({len(token.strip())} characters) is not the configured webhook "
            "secret: another webhook's secret, or an old one",
        )

    def _bodies(self, headers: Mapping[str, str], body: bytes) -> list[bytes]:
        """The exact bytes, and the decompressed ones when a Content-Encoding was applied
        after signing."""
        bodies = [body]
        encoding = headers.get("content-encoding")
        if encoding:
            content, problem = decode_content(body, encoding)
            if problem is None and content != body:
                bodies.append(content)
        return bodies

    def _signature(
        self, headers: Mapping[str, str], body: bytes, product: str
    ) -> AuthResult | None:
        value = headers.get("signature")
        if value is None:
            if product in SIGNED_PRODUCTS and self._has_signing_keys:
                return AuthResult(
                    "signature",
                    MISSING,
                    "No Signature header: the provider signs WhatsApp, RCS and Viber callbacks "
                    "only when the webhook has signing enabled",
                )
            return None  # the provider does not sign this product's requests
        sent = value.strip()
        wanted = sent.lower()
        for candidate in self._bodies(headers, body):
            for label, signer in self._signers:
                if hmac.compare_digest(signer.hexdigest(candidate), wanted):
                    return _signature_ok(label, len(candidate), sent != wanted)
        tried = _either(k.label for k in self._signing)
        return AuthResult(
            "signature",
            MISMATCH,
            f"Signature does not match the body: computed with {tried} over {len(body)} bytes; "
            "a wrong key, or a proxy that re-encodes JSON, breaks it",
        )

    def _generic(self, spec: _Hmac, headers: Mapping[str, str], body: bytes) -> AuthResult:
        value = headers.get(spec.header.lower())
        if value is None:
            return AuthResult("hmac", MISSING, f"No {spec.header} header")
        sent = value.strip()
        if spec.prefix:
            if not sent.startswith(spec.prefix):
                return AuthResult(
                    "hmac",
                    MISMATCH,
                    f"{spec.header} does not start with {spec.prefix!r}",
                )
            sent = sent[len(spec.prefix) :]
        for key in spec.keys:
            digest = hmac.digest(key.key, body, spec.algorithm)
            if spec.encoding == "hex":
                match = hmac.compare_digest(digest.hex(), sent.lower())
            else:
                match = hmac.compare_digest(base64.b64encode(digest).decode(), sent)
            if match:
                return AuthResult(
                    "hmac",
                    OK,
                    f"{spec.header} matches the body: HMAC-{spec.algorithm.upper()} with "
                    f"{key.label} over {len(body)} bytes",
                )
        return AuthResult(
            "hmac",
            MISMATCH,
            f"{spec.header} does not match the body: HMAC-{spec.algorithm.upper()} "
            f"({spec.encoding}) over {len(body)} bytes with "
            f"{_either(k.label for k in spec.keys)}",
        )

    def _standard_webhooks(
        self, headers: Mapping[str, str], body: bytes, received_us: int
    ) -> AuthResult:
        msg_id = headers.get("webhook-id")
        stamp = headers.get("webhook-timestamp")
        signature = headers.get("webhook-signature")
        absent = [
            n
            for n, v in (
                ("webhook-id", msg_id),
                ("webhook-timestamp", stamp),
                ("webhook-signature", signature),
            )
            if v is None
        ]
        if absent:
            return AuthResult("standard-webhooks", MISSING, f"No {', '.join(absent)} header")
        assert msg_id is not None and stamp is not None and signature is not None
        try:
            seconds = int(stamp.strip())
        except ValueError:
            return AuthResult(
                "standard-webhooks", WRONG, "webhook-timestamp is not a number of seconds"
            )
        signed = f"{msg_id.strip()}.{seconds}.".encode() + body
        sent = [part.partition(",") for part in signature.split()]
        for key in self._standard:
            expected = base64.b64encode(hmac.digest(key.key, signed, "sha256"))
            for version, _, value in sent:
                if version == "v1" and hmac.compare_digest(value.encode(), expected):
                    off = abs(received_us / 1_000_000 - seconds) if received_us else 0.0
                    if off > self._tolerance:
                        return AuthResult(
                            "standard-webhooks",
                            WRONG,
                            f"signature matches ({key.label}) but webhook-timestamp is "
                            f"{_duration(off)} from when it arrived (tolerance "
                            f"{_duration(self._tolerance)}): a replay, or a clock that is off",
                        )
                    return AuthResult(
                        "standard-webhooks",
                        OK,
                        f"webhook-signature matches: {key.label} over id, timestamp and "
                        f"{len(body)} bytes",
                    )
        return AuthResult(
            "standard-webhooks",
            MISMATCH,
            "webhook-signature does not match id, timestamp and body with "
            f"{_either(k.label for k in self._standard)}",
        )


_BEARER_OK = AuthResult("bearer", OK, "Bearer token is the configured webhook secret")


@lru_cache(maxsize=1024)
def _signature_ok(label: str, size: int, upper: bool) -> AuthResult:
    """The result for a matching signature; cached, since every request of a steady stream
    gets one and bodies repeat their sizes."""
    note = " (sent in upper case)" if upper else ""
    return AuthResult(
        "signature",
        OK,
        f"Signature matches the body: computed with {label} over {size} bytes{note}",
    )


def _either(labels: Iterable[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``: the keys that were tried."""
    names = list(labels)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} days"


def describe_check(check: str) -> str:
    """The check's name as the window and the CLI show it."""
    return {
        "bearer": "Webhook secret",
        "signature": "Signature",
        "hmac": "HMAC header",
        "standard-webhooks": "Standard Webhooks",
    }.get(check, check)
