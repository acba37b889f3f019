"""What a request is answered, decided where its decoded fields are: in the writer.

The listener answers only after the row is committed, and the writer commits only after it
has decoded the request, so the writer is where an answer that depends on the event (the
provider's URL verification, a response rule on ``event:`` or ``status:``) can be chosen
without a second decode or a second round trip. The writer runs each request through the
configured :class:`AnswerPolicy` chain before committing it: the first policy that returns
an :class:`Answer` decides, the row records that answer, and the listener gives it. Without
one the listener's own answer stands.

The chain is built in the writer process from an :data:`AnswerConfig` (plain data, so it
crosses the process boundary and survives a writer restart); :func:`build_policies` turns
it into policies. A feature that decides answers registers a builder in :data:`BUILDERS`
under its own key of the config; :data:`CHAIN_ORDER` says which comes first.

The chain is: response rules (:mod:`.rules`), then the URL verification. A rule sees the
provider's verification handshake only when it says so (``verification = true``): the
challenge keeps being echoed unless a rule explicitly takes it over, so a catch-all
"answer 500" rule never breaks the console's first step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

import orjson

from inspector.core.provider.decoder import DecodedEvent
from inspector.core.provider.verification import (  # noqa: F401 - re-exported
    VerificationHandshake,
    find_handshake,
)
from inspector.core.session.record import CapturedRequest

JSON_HEADERS: list[tuple[str, str]] = [("Content-Type", "application/json")]

#: What the listener does instead of responding (see :attr:`Answer.action`).
RESPOND = ""
HOLD = "hold"
CLOSE = "close"
ACTIONS = (RESPOND, HOLD, CLOSE)


@dataclass(frozen=True, slots=True)
class Answer:
    """The response to give to one request, and who chose it."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    #: Seconds to wait, after the commit, before answering.
    delay: float = 0.0
    #: What decided it: ``"verification"``, ``"rule:NAME"``...
    source: str = ""
    #: :data:`RESPOND` (an HTTP response), :data:`HOLD` (none: keep the connection open
    #: until the client gives up) or :data:`CLOSE` (none: close the connection); after
    #: ``delay`` in every case. Without a response the row records status 0.
    action: str = RESPOND
    #: This answer as plain data, made once: a rule gives the same answer object to many
    #: requests, so a chunk's replies carry one tuple that pickle sends once.
    _wire: tuple[Any, ...] | None = field(default=None, compare=False, repr=False)

    def to_wire(self) -> tuple[Any, ...]:
        """Plain and hashable (see :meth:`from_wire`)."""
        wire = self._wire
        if wire is None:
            headers = tuple((k, v) for k, v in self.headers)
            wire = (self.status, headers, self.body, self.delay, self.source, self.action)
            object.__setattr__(self, "_wire", wire)
        return wire

    @classmethod
    def from_wire(cls, t: Sequence[Any]) -> Answer:
        return _from_wire(tuple(t))


@lru_cache(maxsize=512)
def _from_wire(t: tuple[Any, ...]) -> Answer:
    status, headers, body, delay, source, action = t
    return Answer(status, [(k, v) for k, v in headers], body, delay, source, action)


def describe_answer(status: int, source: str, delay_ms: int, action: str) -> str:
    """The answer a row records, in words: ``500 · rule wa-fails · after 4 s``."""
    if action == HOLD:
        parts = ["no answer, held until the client gave up"]
    elif action == CLOSE:
        parts = ["no answer, connection closed"]
    else:
        parts = [str(status)]
    if source == "verification":
        parts.append("URL verification: challenge echoed")
    elif source.startswith("rule:"):
        parts.append(f"rule {source[5:]}")
    if delay_ms:
        parts.append(f"after {delay_ms / 1000:g} s")
    return " \u00b7 ".join(parts)


class Committed(NamedTuple):
    """A request's row is on disk: its id, and the answer the writer chose (or None: the
    listener's own answer stands)."""

    row_id: int
    answer: Answer | None


class AnswerPolicy(Protocol):
    """Chooses the answer for a decoded request, or ``None`` to leave it to the next one."""

    def decide(self, request: CapturedRequest, decoded: DecodedEvent) -> Answer | None: ...


#: Plain data describing the chain, one key per feature (see :data:`BUILDERS`).
AnswerConfig = Mapping[str, Any]


class CountingPolicy(AnswerPolicy, Protocol):
    """A policy whose choices depend on how often it has answered (sequences, "the next N
    times"). Its counts move to the policy built from the next configuration, and the
    parent restores them into a new writer (see ``writer.ProcessCommitter``)."""

    def counts(self) -> dict[str, int]: ...

    def set_counts(self, counts: Mapping[str, int]) -> None: ...


#: Config key -> builder of that feature's policy (``None`` when the config turns it off).
BUILDERS: dict[str, Callable[[Any], AnswerPolicy | None]] = {}

#: The chain's order by config key; keys not named here come after, in registration order.
CHAIN_ORDER: tuple[str, ...] = ("rules", "verification")


def _chain_position(key: str) -> int:
    return CHAIN_ORDER.index(key) if key in CHAIN_ORDER else len(CHAIN_ORDER)


def build_policies(config: AnswerConfig | None) -> list[AnswerPolicy]:
    """The policies of ``config`` in :data:`CHAIN_ORDER` (rules, then verification)."""
    if not config:
        return []
    policies: list[AnswerPolicy] = []
    for key, builder in sorted(BUILDERS.items(), key=lambda kv: _chain_position(kv[0])):
        if key in config:
            policy = builder(config[key])
            if policy is not None:
                policies.append(policy)
    unknown = set(config) - set(BUILDERS)
    if unknown:
        raise ValueError(f"unknown answer settings: {', '.join(sorted(unknown))}")
    return policies


def decide(
    policies: Sequence[AnswerPolicy], request: CapturedRequest, decoded: DecodedEvent
) -> Answer | None:
    """Run the chain on one request; a policy's answer is written into the request so the
    row records the answer actually given."""
    if request.response_status != 200:
        return None  # refused by the listener (too large, too slow...): that answer stands
    for policy in policies:
        answer = policy.decide(request, decoded)
        if answer is not None:
            if answer.action == RESPOND:
                request.response_status = answer.status
                request.response_headers = list(answer.headers)
                request.response_body = answer.body
            else:  # no response at all: nothing was sent
                request.response_status = 0
                request.response_headers = []
                request.response_body = b""
            request.answer_source = answer.source
            request.answer_delay_ms = round(answer.delay * 1000)
            request.answer_action = answer.action
            return answer
    return None


# -- the provider's URL verification ---------------------------------------------------------


class VerificationAnswer:
    """Echoes the challenge, as the provider's console requires before it accepts a URL."""

    def decide(self, request: CapturedRequest, decoded: DecodedEvent) -> Answer | None:
        if request.method != "POST":
            return None
        if decoded.verification is not None:  # decoded as the handshake already
            challenge = decoded.verification["challenge"]
        else:
            handshake = find_handshake(request.query, request.body)
            if handshake is None:
                return None
            challenge = handshake.challenge
        body = orjson.dumps({"challenge": challenge})
        return Answer(200, JSON_HEADERS, body, source="verification")


def _verification(settings: Any) -> AnswerPolicy | None:
    """``{"enabled": bool, "key": str}``: ``key`` is the validation key the user typed into
    the console; a handshake with another key is flagged (see ``inspection``), still answered."""
    if isinstance(settings, Mapping):
        key = settings.get("key")
        if key is not None and not isinstance(key, str):
            raise ValueError("verification key must be text")
        enabled = settings.get("enabled", True)
    else:
        enabled = bool(settings)
    return VerificationAnswer() if enabled else None


def verification_key(config: AnswerConfig | None) -> str | None:
    """The validation key configured in an answer config's verification settings, if any."""
    settings = (config or {}).get("verification")
    if isinstance(settings, Mapping):
        key = settings.get("key")
        return key if isinstance(key, str) and key else None
    return None


BUILDERS["verification"] = _verification

#: What capture and the window use unless told otherwise.
DEFAULT_CONFIG: dict[str, Any] = {"verification": {"enabled": True}}
