"""What the writer works out about each request besides its event: done once, at capture time.

The writer decodes every request; this is the part of its work that depends on what the user
configured, so it lives next to the answer chain and travels the same way (plain data over
the writer's socket, never on a command line, never in the session):

- composed webhooks: a request to a template's path is read by that template;
- the provider's URL verification, recorded as ``webhook:verification`` with its keys
  compared to the configured validation key (from the answer config's verification settings);
- the authenticity checks (see ``provider.authenticity``);
- the provider's judgement of the answer given (see ``provider.delivery_rules``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from inspector.core.capture.answers import Answer, AnswerConfig, verification_key
from inspector.core.provider.authenticity import AuthChecks
from inspector.core.provider.compose import (
    ComposedTemplate,
    decode_composed,
    find_template,
    parse_templates,
)
from inspector.core.provider.decoder import DecodedEvent, EventDecoder
from inspector.core.provider.delivery_rules import judge
from inspector.core.provider.verification import (
    VERIFICATION_EVENT,
    check_handshake,
    find_handshake,
    verification_record,
)
from inspector.core.session.record import CapturedRequest

#: Plain settings: ``{"auth": AuthConfig, "compose": [template text, ...]}``.
InspectionConfig = Mapping[str, Any]


def check_config(config: InspectionConfig | None) -> tuple[AuthChecks, list[ComposedTemplate]]:
    """The checks and templates of ``config``; ValueError with the user's message if unusable."""
    config = config or {}
    unknown = set(config) - {"auth", "compose"}
    if unknown:
        raise ValueError(f"unknown capture settings: {', '.join(sorted(unknown))}")
    checks = AuthChecks(config.get("auth"))
    templates: list[ComposedTemplate] = []
    compose = config.get("compose") or []
    if isinstance(compose, str):
        compose = [compose]
    for text in compose:
        if not isinstance(text, str):
            raise ValueError("composed templates must be text")
        templates.extend(parse_templates(text))
    return checks, templates


def decode_verification(
    request: CapturedRequest, configured_key: str | None
) -> DecodedEvent | None:
    """The request as the provider's URL verification, or None if it is not one."""
    if request.method != "POST":
        return None
    handshake = find_handshake(request.query, request.body)
    if handshake is None:
        return None
    matches, warnings = check_handshake(handshake, configured_key)
    key = handshake.validation_key or handshake.token or ""
    return DecodedEvent(
        event=VERIFICATION_EVENT,
        product="webhook",
        status_class="info",
        summary=f"URL verification, validation key {key}" if key else "URL verification",
        warnings=warnings,
        verification=verification_record(handshake, matches),
    )


class RequestInspection:
    """The writer's configured extras, applied to each request around the answer chain."""

    def __init__(self, config: InspectionConfig | None = None) -> None:
        self._checks, self._templates = check_config(config)
        self._key: str | None = None

    def configure(self, config: InspectionConfig | None) -> None:
        self._checks, self._templates = check_config(config)

    def set_answers(self, answers: AnswerConfig | None) -> None:
        """The answer config carries the validation key the user configured."""
        self._key = verification_key(answers)

    def decode(
        self,
        decoder: EventDecoder,
        r: CapturedRequest,
        plain: Callable[[EventDecoder, CapturedRequest], DecodedEvent] | None = None,
    ) -> DecodedEvent:
        """Decode one request: by a composed template, as a verification, or as usual
        (by ``plain``, e.g. the writer's time-bounded decode; else the decoder itself)."""
        template = find_template(self._templates, r.method, r.path) if self._templates else None
        if template is not None:
            decoded = decode_composed(template, r.query, r.headers, r.body)
        else:
            handshake = decode_verification(r, self._key)
            if handshake is not None:
                decoded = handshake
            elif plain is not None:
                decoded = plain(decoder, r)
            else:
                decoded = decoder.decode(r.method, r.path, r.query, r.headers, r.body)
        if self._checks.configured:
            decoded.auth = [
                (result.check, result.result, result.detail)
                for result in self._checks.check(
                    r.headers, r.body, product=decoded.product, received_us=r.received_us
                )
            ]
        return decoded

    @staticmethod
    def judge(r: CapturedRequest, decoded: DecodedEvent, answer: Answer | None) -> None:
        """Warn on a row whose answer the provider will count as a failed delivery."""
        verdict = judge(
            decoded.product, decoded.event, r.response_status, answer.delay if answer else 0.0
        )
        if verdict is not None and not verdict.delivered:
            decoded.warnings.append(verdict.sentence)
