"""The HTTP side: accept anything, keep its exact bytes, answer only once it is on disk."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from aiohttp import web
from multidict import CIMultiDict

from inspector.core.capture.answers import Committed
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import SessionStore

DEFAULT_MAX_BODY = 25 * 1024 * 1024
DEFAULT_BODY_TIMEOUT = 60.0

ClientAddressFn = Callable[[Sequence[tuple[str, str]]], "str | None"]

_JSON = [("Content-Type", "application/json")]
_JSON_HEADERS = {"Content-Type": "application/json"}


def _header_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _human(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


class Committer(Protocol):
    """Takes a captured request; the future resolves once its row is committed, with the
    answer the writer chose for it, if any."""

    def submit(self, request: CapturedRequest) -> asyncio.Future[Committed]: ...


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
    """aiohttp request handler: records every request, whatever its method, path or body."""

    def __init__(
        self,
        store: SessionStore,
        committer: Committer,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        client_address: ClientAddressFn | None = None,
    ) -> None:
        self._store = store
        self._committer = committer
        self.max_body = max_body
        self.body_timeout = body_timeout
        self._client_address = client_address
        #: Forwarding to the user's app, when the front end plugged one in.
        self.relay: Relay | None = None

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        received_us = time.time_ns() // 1000
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
            if answer.delay > 0:
                await asyncio.sleep(answer.delay)
            return web.Response(
                status=answer.status, body=answer.body, headers=CIMultiDict(answer.headers)
            )
        return web.Response(status=status, body=rec.response_body, headers=_JSON_HEADERS)

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
        fut = self._committer.submit(rec)
        fut.add_done_callback(_ignore_outcome)

    async def _read_body(
        self, request: web.BaseRequest, rec: CapturedRequest
    ) -> tuple[int, dict[str, object]]:
        limit = self.max_body
        declared = rec.declared_size
        if declared is not None and declared > limit:
            rec.capture_warnings.append(
                f"body of {_human(declared)} is over the {_human(limit)} limit (--max-body); "
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
                            f"body passed the {_human(limit)} limit (--max-body) after "
                            f"{_human(total)} had arrived; answered 413, headers kept, body not stored"
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
                f"client sent only {_human(total)} of the body in {self.body_timeout:g} s; "
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
