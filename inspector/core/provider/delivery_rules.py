"""What the provider makes of our answer: its own rules of delivery, per product.

The provider counts an SMS delivery report or a voice callback as delivered only when it is
answered 200 or 202 (201 and 204 are failures), and retries it 3 more times, 30 minutes
apart; WhatsApp, RCS and Viber accept any 2xx but only within 3 seconds, and retry twice,
after 10 s and 100 s (``delivery.md``, section 3). An inspector that answers otherwise
provokes retries the user did not ask for; this says so, with the consequence.
"""

from __future__ import annotations

from typing import NamedTuple

_STRICT = frozenset({"sms", "voice"})
_TIMED = frozenset({"whatsapp", "rcs", "viber"})
#: WhatsApp, RCS and Viber give up waiting for an answer after this many seconds.
TIMEOUT_SECONDS = 3.0


class Verdict(NamedTuple):
    """Whether the provider counts the answer as a delivery, and the sentence saying so."""

    delivered: bool
    sentence: str


def judge(product: str, event: str, status: int, delay: float = 0.0) -> Verdict | None:
    """The provider's view of answering a ``product`` request with ``status`` after
    ``delay`` seconds; ``None`` where the provider documents no rule (verification, contacts,
    undecoded requests)."""
    if event == "webhook:verification" or not event:
        return None
    if product in _STRICT:
        if status in (200, 202):
            return Verdict(True, f"The provider counts this answer ({status}) as delivered.")
        return Verdict(
            False,
            f"The provider counts this answer ({status}) as a failure: only 200 or 202 "
            "deliver an SMS report or a voice callback; it will retry this in about 30 "
            "minutes, up to 3 times.",
        )
    if product in _TIMED:
        if not 200 <= status < 300:
            return Verdict(
                False,
                f"The provider counts this answer ({status}) as a failure: it will retry "
                "this after 10 s and again after 100 s.",
            )
        if delay > TIMEOUT_SECONDS:
            return Verdict(
                False,
                f"The provider counts this answer as a failure: it came after {delay:.1f} s, "
                f"past its {TIMEOUT_SECONDS:.0f} s limit; it will retry this after 10 s and "
                "again after 100 s.",
            )
        return Verdict(True, f"The provider counts this answer ({status}) as delivered.")
    return None
