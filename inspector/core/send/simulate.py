"""Sending the simulator's events and stories: counts, rates, a story's gaps, retries.

The provider re-sends a delivery only while the answers it gets count as failures
(delivery.md section 3), so a retry story sends its next try only then: pair it with a
response rule (``respond = [500, 500, 200]``) to watch the provider's schedule, compressed
by ``speed`` (``60x`` turns 30 minutes into 30 seconds).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from inspector.core.provider.simulator import SAMPLES, Context, SimRequest, build, new_context
from inspector.core.send.client import Delivery, deliver

_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*x?\s*$", re.IGNORECASE)
MAX_COUNT = 100_000
MAX_RATE = 10_000.0


class SendError(ValueError):
    """A send the user asked for that cannot be done; the message is for the user."""


def parse_speed(text: str) -> float:
    """``"60x"``, ``"60"`` or ``"1.5x"``: how much faster than the provider's own gaps."""
    m = _SPEED.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise SendError(f"not a speed: {text!r} (e.g. 60x: a minute becomes a second)")
    return float(m.group(1))


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``FIELD=VALUE`` pairs (``--set``); dotted fields reach nested ones."""
    out: dict[str, str] = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            raise SendError(f"--set needs FIELD=VALUE, not {item!r} (e.g. --set status=failed)")
        out[field.strip()] = value
    return out


@dataclass(frozen=True, slots=True)
class SendPlan:
    """What to send: a name of :data:`SAMPLES`, how often, how fast, signed how."""

    name: str
    target: str
    count: int = 1
    rate: float | None = None
    speed: float = 1.0
    secret: str = ""
    signing_key: str = ""
    overrides: Mapping[str, str] | None = None

    def check(self) -> None:
        if self.name not in SAMPLES:
            raise SendError(f"unknown event or story {self.name!r}; see 'send --list'")
        if not 1 <= self.count <= MAX_COUNT:
            raise SendError(f"--count must be 1-{MAX_COUNT}, not {self.count}")
        if self.rate is not None and not 0 < self.rate <= MAX_RATE:
            raise SendError(f"--rate must be above 0 and at most {MAX_RATE:g} per second")
        if self.speed <= 0:
            raise SendError("--speed must be above 0")
        if not self.target.startswith(("http://", "https://")):
            raise SendError(f"--to must be an http:// or https:// URL, not {self.target!r}")

    def context(self) -> Context:
        return new_context(
            secret=self.secret, signing_key=self.signing_key, overrides=self.overrides
        )


OnDelivery = Callable[[Delivery], None]


async def run_plan(
    plan: SendPlan,
    on_delivery: OnDelivery | None = None,
    *,
    session: aiohttp.ClientSession | None = None,
) -> list[Delivery]:
    """Send ``plan``; each result goes to ``on_delivery`` as it comes. Stories run ``count``
    times one after the other; single events ``count`` times, paced at ``rate`` per second."""
    plan.check()
    own = session is None
    client = session or aiohttp.ClientSession(auto_decompress=False)
    results: list[Delivery] = []

    def done(d: Delivery) -> None:
        if d.unreachable and not results:
            raise SendError(
                f"nothing is listening at {plan.target} ({d.error}); start "
                "'webhook-inspector capture' or give another URL"
            )
        results.append(d)
        if on_delivery is not None:
            on_delivery(d)

    try:
        if SAMPLES[plan.name].story:
            for _ in range(plan.count):
                await _run_story(client, plan, build(plan.name, plan.context()), done)
        else:
            await _run_events(client, plan, done)
    finally:
        if own:
            await client.close()
    return results


async def _run_story(
    client: aiohttp.ClientSession, plan: SendPlan, steps: list[SimRequest], done: OnDelivery
) -> None:
    accepted = False
    for step in steps:
        retry = step.label.startswith("retry")
        if retry and accepted:
            return  # the provider retries only deliveries that failed
        if step.after:
            await asyncio.sleep(step.after / plan.speed)
        d = await deliver(client, plan.target, step)
        done(d)
        accepted = d.delivered


async def _run_events(client: aiohttp.ClientSession, plan: SendPlan, done: OnDelivery) -> None:
    if plan.rate is None:
        for _ in range(plan.count):
            for req in build(plan.name, plan.context()):
                done(await deliver(client, plan.target, req))
        return
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks: set[asyncio.Task[None]] = set()

    async def one(req: SimRequest) -> None:
        done(await deliver(client, plan.target, req))

    for i in range(plan.count):
        wait = start + i / plan.rate - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        for req in build(plan.name, plan.context()):
            task = asyncio.create_task(one(req))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
