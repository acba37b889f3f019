"""The HTTP side: accept anything, keep its exact bytes, answer only once it is on disk."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from multidict import CIMultiDict

from inspector.core.capture.answers import CLOSE, HOLD, RESPOND, Answer, Committed
from inspector.core.capture.limits import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_MAX_INFLIGHT_REQUESTS,
)
from inspector.core.session.forwards import AnswerEntry
from inspector.core.session.record import TUNNEL_CREDENTIALS_WARNING, CapturedRequest
from inspector.core.session.store import SessionStore
from inspector.core.sizes import human_size

DEFAULT_BODY_TIMEOUT = 60.0

ClientAddressFn = Callable[[Sequence[tuple[str, str]]], "str | None"]

#: A held connection (a rule's "no answer") is closed after this long if the client has not
#: given up by then, so that held requests cannot pile up without bound.
HOLD_LIMIT = 120.0
#: How often a held connection is checked for the client having gone.
_HOLD_POLL = 0.2

_JSON = [("Content-Type", "application/json")]
_JSON_HEADERS = {"Content-Type": "application/json"}
_BUSY = b'{"ok":false,"error":"busy: the session writer is not keeping up; retry"}'
_BUSY_HEADERS = {"Content-Type": "application/json", "Retry-After": "1"}
#: What a held request costs beyond its header and body bytes (the record, its future...).
_REQUEST_OVERHEAD = 1024


def _header_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class Committer(Protocol):
    """Takes a captured request; the future resolves once its row is committed, with the
    answer the writer chose for it, if any."""

    def submit(self, request: CapturedRequest) -> asyncio.Future[Committed]: ...

    def record(self, entries: list[AnswerEntry]) -> asyncio.Future[None]:
        """Store the user's app's answers (replays'); resolves once committed."""
        ...


@dataclass(frozen=True, slots=True)
class Overload:
    """Back-pressure as the front ends show it: ``problem`` is a sentence while new
    requests are refused (None once the writer has caught up); ``episodes`` and
    ``refused`` only grow, so a poller that missed a short episode still sees it."""

    problem: str | None
    episodes: int
    refused: int


ProviderAnswer = tuple[int, list[tuple[str, str]], bytes]

#: Header a replay sent to our own listener carries, so its row is linked to its original.
REPLAY_MARK_HEADER = "x-inspector-replay"


class Relay(Protocol):
    """Forwarding to the user's app (``inspector.core.send.relay``), as the listener sees it."""

    replay_marks: dict[str, tuple[int, asyncio.Future[int]]]

    @property
    def outbox_active(self) -> bool: ...

    @property
    def pass_through_active(self) -> bool: ...

    def committed(self, row_id: int, request: CapturedRequest | None = None) -> None: ...

    async def pass_through(
        self, request: CapturedRequest, row_id: int, *, give: bool = True
    ) -> ProviderAnswer: ...

    async def start(self, listener_url: str, committer: Committer | None = None) -> None: ...

    async def stop(self) -> None: ...


class CaptureListener:
    """aiohttp request handler: records every request, whatever its method, path or body.

    Back-pressure: the bytes and requests handed over but not yet committed are counted;
    past ``max_inflight_bytes`` or ``max_inflight_requests`` new requests are answered 503
    at once (the provider retries) instead of piling up in memory while the writer is
    stopped or stuck, until what is held falls to half of both bounds. A request that is
    alone in flight is always taken, however large (up to ``max_body``).
    """

    def __init__(
        self,
        store: SessionStore,
        committer: Committer,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        client_address: ClientAddressFn | None = None,
        max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES,
        max_inflight_requests: int = DEFAULT_MAX_INFLIGHT_REQUESTS,
        tunnel_credential: Callable[[str], bool] | None = None,
    ) -> None:
        """``tunnel_credential``: whether an ``Authorization`` value of a request that came
        through the tunnel is the tunnel's own basic auth (the request is then marked)."""
        self._store = store
        self._committer = committer
        self.max_body = max_body
        self.max_header_bytes = max_header_bytes
        self.body_timeout = body_timeout
        self._client_address = client_address
        #: Set when the engine stops: delayed answers are given at once, held connections closed.
        self._released = asyncio.Event()
        self._tunnel_credential = tunnel_credential
        self.max_inflight_bytes = max_inflight_bytes
        self.max_inflight_requests = max_inflight_requests
        self._held_bytes = 0
        self._held_requests = 0
        self._overloaded = False
        self._episodes = 0
        self._refused = 0
        #: Forwarding to the user's app, when the front end plugged one in.
        self.relay: Relay | None = None

    def release(self) -> None:
        """The engine is stopping: end every delay and hold now (called on the engine loop)."""
        self._released.set()

    # -- back-pressure -------------------------------------------------------------

    @property
    def overload(self) -> Overload:
        """Safe to read from any thread (one tuple, replaced whole)."""
        return self._overload_view

    _overload_view = Overload(None, 0, 0)

    def _hold(self, cost: int, *, answered_503: bool = True) -> bool:
        """Count a request in flight, or say no (and enter the overloaded state).
        ``answered_503``: a refusal counts in ``refused`` (not so for a request that
        is answered its own error and only goes unrecorded)."""
        if self._held_requests and (
            self._overloaded
            or self._held_requests >= self.max_inflight_requests
            or self._held_bytes + cost > self.max_inflight_bytes
        ):
            self._refused += answered_503
            if not self._overloaded:
                self._overloaded = True
                self._episodes += 1
            self._overload_view = Overload(
                f"the session writer is not keeping up: {self._held_requests:,} request(s) "
                f"({human_size(self._held_bytes)}) wait to be recorded, so new requests are "
                "answered 503 until it catches up (the provider retries them)",
                self._episodes,
                self._refused,
            )
            return False
        self._held_requests += 1
        self._held_bytes += cost
        return True

    def _release(self, cost: int) -> None:
        self._held_requests -= 1
        self._held_bytes -= cost
        if (
            self._overloaded
            and self._held_requests <= self.max_inflight_requests // 2
            and self._held_bytes <= self.max_inflight_bytes // 2
        ):
            self._overloaded = False
            self._overload_view = Overload(None, self._episodes, self._refused)

    # -- requests ------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        received_us = time.time_ns() // 1000
        raw_headers = request.raw_headers
        cost = _REQUEST_OVERHEAD + sum(len(k) + len(v) for k, v in raw_headers)
        declared = request.content_length
        if declared is not None and declared <= self.max_body:
            cost += declared
        if not self._hold(cost):
            return web.Response(status=503, body=_BUSY, headers=_BUSY_HEADERS)
        held = [cost]
        try:
            return await self._handle(request, received_us, held)
        finally:
            if held[0] >= 0:
                self._release(held[0])

    async def _handle(
        self, request: web.BaseRequest, received_us: int, held: list[int]
    ) -> web.StreamResponse:
        """``held``: what this request counts in flight, grown once its body is read (a
        chunked body declares no size); -1 once released: a committed request no longer
        counts, even while a response rule delays or holds its answer."""
        seq = self._store.take_seq()
        path, _, query = request.raw_path.partition("?")
        try:  # HTTP says ISO-8859-1, but UTF-8 values are common; all-ASCII is the fast path
            headers = [(k.decode("ascii"), v.decode("ascii")) for k, v in request.raw_headers]
        except UnicodeDecodeError:
            headers = [(_header_text(k), _header_text(v)) for k, v in request.raw_headers]
        version = request.version
        rec = CapturedRequest(
            seq,
            received_us,
            request.method,
            path,
            query,
            f"{version.major}.{version.minor}",
            request.remote or "",
            headers,
            b"",
            request.content_length,
        )
        if self._client_address is not None:
            client = self._client_address(headers)
            if client:
                rec.via_tunnel = True
                rec.client_addr = client
                if self._tunnel_credential is not None and any(
                    k.lower() == "authorization" and self._tunnel_credential(v) for k, v in headers
                ):
                    rec.capture_warnings.append(TUNNEL_CREDENTIALS_WARNING)
        content = request.content
        if content.is_eof() and getattr(content, "total_bytes", 0) <= self.max_body:
            # The whole body is already buffered (the usual webhook): no deadline needed.
            rec.body = content.read_nowait(-1)
            status = 200
            rec.response_body = b'{"ok":true,"seq":%d}' % seq
        else:
            status, reply = await self._read_body(request, rec)
            rec.response_body = json.dumps(reply, separators=(",", ":")).encode()
        rec.response_status = status
        rec.response_headers = _JSON
        counted = rec.declared_size
        unannounced = len(rec.body) - (
            counted if counted is not None and counted <= self.max_body else 0
        )
        if unannounced > 0:
            self._held_bytes += unannounced
            held[0] += unannounced
        relay = self.relay
        mark = None
        if relay is not None:
            mark = _take_mark(relay, headers)
            if mark is not None and mark[0]:
                rec.replay_of = mark[0]
            # Only whole requests are forwarded (a 413's body was not kept).
            rec.forward = status == 200 and relay.outbox_active
        try:
            committed = await self._committer.submit(rec)
        except Exception as exc:  # noqa: BLE001 - the store failed: do not acknowledge
            body = json.dumps({"ok": False, "error": f"not recorded: {exc}"}).encode()
            return web.Response(status=503, body=body, headers=_JSON_HEADERS)
        self._release(held[0])
        held[0] = -1
        answer = committed.answer
        if relay is not None:
            if mark is not None and not mark[1].done():
                mark[1].set_result(committed.row_id)
            if rec.forward:
                relay.committed(committed.row_id, rec)
            elif status == 200 and relay.pass_through_active:
                if answer is None:  # the app's answer is the provider's
                    given = await relay.pass_through(rec, committed.row_id)
                    return web.Response(status=given[0], body=given[2], headers=CIMultiDict(given[1]))
                # a response rule or the verification echo decides; the app still sees it
                task = asyncio.get_running_loop().create_task(
                    relay.pass_through(rec, committed.row_id, give=False)
                )
                _background.add(task)
                task.add_done_callback(_background.discard)
        if answer is not None:
            if answer.delay <= 0 and answer.action == RESPOND:
                return web.Response(
                    status=answer.status, body=answer.body, headers=CIMultiDict(answer.headers)
                )
            return await self._give(request, answer)
        return web.Response(status=status, body=rec.response_body, headers=_JSON_HEADERS)

    async def _give(self, request: web.BaseRequest, answer: Answer) -> web.StreamResponse:
        """The answer the writer chose, once its row is committed: after its delay, a
        response, or none (the connection held until the client gives up, or closed)."""
        if answer.delay > 0:
            await self._wait(request, answer.delay, until_gone=answer.action == HOLD)
        if answer.action == HOLD:
            await self._wait(request, HOLD_LIMIT, until_gone=True)
            return _closed(request)
        if answer.action == CLOSE:
            return _closed(request)
        return web.Response(
            status=answer.status, body=answer.body, headers=CIMultiDict(answer.headers)
        )

    async def _wait(self, request: web.BaseRequest, seconds: float, *, until_gone: bool) -> None:
        """Wait ``seconds``, or less: the engine stops, or (``until_gone``) the client hangs up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._released.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            if until_gone:
                transport = request.transport
                if transport is None or transport.is_closing():
                    return
            step = min(remaining, _HOLD_POLL) if until_gone else remaining
            try:
                await asyncio.wait_for(self._released.wait(), step)
            except TimeoutError:
                pass
    def _submit_unawaited(self, rec: CapturedRequest, cost: int) -> None:
        """Record a refused request (nobody waits for its row), within the same bounds:
        while the writer is not keeping up it is answered but not recorded."""
        if not self._hold(cost, answered_503=False):
            return
        fut = self._committer.submit(rec)

        def done(f: asyncio.Future[Committed]) -> None:
            self._release(cost)
            _ignore_outcome(f)

        fut.add_done_callback(done)

    def record_refused(self, request: web.BaseRequest, status: int, problem: str) -> None:
        """Record a request aiohttp refused before our handler ran (no Host header, a
        malformed request line...): what little is known, and why it was refused."""
        rec = CapturedRequest(
            self._store.take_seq(),
            time.time_ns() // 1000,
            "",
            "",
            "",
            "",
            request.remote or "",
            [],
            b"",
            None,
            status,
            [],
            b"",
            [f"malformed HTTP request, refused with {status} before it could be read: {problem}"],
        )
        self._submit_unawaited(rec, _REQUEST_OVERHEAD + len(problem))

    def record_header_flood(
        self, request: web.BaseRequest, limit: int, received: int, head: bytes
    ) -> bytes:
        """Record a request whose headers passed ``limit``: its request line and the
        header lines that arrived whole within ``head`` (the first bytes kept), and why.
        Returns the body of the 431 answer (recorded with it)."""
        lines = head.split(b"\r\n")
        complete = lines[:-1]  # the last one was cut off
        method = path = query = version = ""
        if complete:
            parts = complete[0].decode("latin-1").split(" ")
            if len(parts) == 3:
                method, (path, _, query), version = parts[0], parts[1].partition("?"), parts[2]
                version = version.removeprefix("HTTP/")
        headers: list[tuple[str, str]] = []
        for line in complete[1:]:
            name, sep, value = line.partition(b":")
            if sep:
                headers.append((_header_text(name), _header_text(value.strip(b" \t"))))
        declared: int | None = None
        for key, text in headers:
            if key.lower() == "content-length" and text.isdigit():
                declared = int(text)
        rec = CapturedRequest(
            self._store.take_seq(), time.time_ns() // 1000, method, path, query, version,
            request.remote or "", headers, b"", declared, 431, _JSON, b"",
            [
                f"request headers passed the {human_size(limit)} limit on their total size "
                f"after {human_size(received)} had arrived; answered 431, body not read, "
                f"{len(headers)} header(s) from the first {human_size(len(head))} kept"
            ],
        )  # fmt: skip
        rec.response_body = json.dumps(
            {"ok": False, "seq": rec.seq, "error": "request headers too large", "limit": limit},
            separators=(",", ":"),
        ).encode()
        self._submit_unawaited(rec, _REQUEST_OVERHEAD + len(head))
        return rec.response_body

    async def _read_body(
        self, request: web.BaseRequest, rec: CapturedRequest
    ) -> tuple[int, dict[str, object]]:
        limit = self.max_body
        declared = rec.declared_size
        if declared is not None and declared > limit:
            rec.capture_warnings.append(
                f"body of {human_size(declared)} is over the {human_size(limit)} limit (--max-body); "
                "answered 413, headers kept, body not stored"
            )
            return 413, {"ok": False, "seq": rec.seq, "error": "body too large", "limit": limit}
        chunks: list[bytes] = []
        total = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                async for chunk in request.content.iter_any():
                    total += len(chunk)
                    if total > limit:
                        rec.capture_warnings.append(
                            f"body passed the {human_size(limit)} limit (--max-body) after "
                            f"{human_size(total)} had arrived; answered 413, headers kept, body not stored"
                        )
                        return 413, {
                            "ok": False,
                            "seq": rec.seq,
                            "error": "body too large",
                            "limit": limit,
                        }
                    chunks.append(chunk)
        except TimeoutError:
            rec.body = b"".join(chunks)
            rec.capture_warnings.append(
                f"client sent only {human_size(total)} of the body in {self.body_timeout:g} s; "
                "answered 408, partial body kept"
            )
            return 408, {"ok": False, "seq": rec.seq, "error": "body not received in time"}
        except (ConnectionError, asyncio.IncompleteReadError, web.HTTPException) as exc:
            rec.body = b"".join(chunks)
            rec.capture_warnings.append(
                f"client broke off while sending the body ({type(exc).__name__}); partial body kept"
            )
            return 400, {"ok": False, "seq": rec.seq, "error": "incomplete body"}
        except Exception as exc:  # noqa: BLE001 - malformed chunked encoding and the like
            rec.body = b"".join(chunks)
            rec.capture_warnings.append(f"body could not be read: {exc}; partial body kept")
            return 400, {"ok": False, "seq": rec.seq, "error": "unreadable body"}
        rec.body = b"".join(chunks)
        if declared is not None and declared != len(rec.body):
            rec.capture_warnings.append(
                f"Content-Length said {declared} bytes but {len(rec.body)} arrived"
            )
        return 200, {"ok": True, "seq": rec.seq}


def _closed(request: web.BaseRequest) -> web.StreamResponse:
    """Close the connection without a response; aiohttp is handed a response it cannot
    send and drops it quietly (its writer sees the closed transport)."""
    transport = request.transport
    if transport is not None:
        transport.close()
    resp = web.Response(status=200)
    resp.force_close()
    return resp


#: Pass-through forwards whose answer is not given (a rule answered): kept until done.
_background: set[asyncio.Task[ProviderAnswer]] = set()


def _take_mark(
    relay: Relay, headers: list[tuple[str, str]]
) -> tuple[int, asyncio.Future[int]] | None:
    """The replay this request is, if it carries a mark one of our replays set."""
    if not relay.replay_marks:
        return None
    for key, value in headers:
        if key.lower() == REPLAY_MARK_HEADER:
            return relay.replay_marks.pop(value, None)
    return None


def _ignore_outcome(fut: asyncio.Future[Committed]) -> None:
    """Nobody awaits a refused request's row; read its outcome so asyncio does not warn."""
    if not fut.cancelled():
        fut.exception()
