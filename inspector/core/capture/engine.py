"""The engine thread: one asyncio loop that owns the listener (and, later, tunnel and replay).

The GUI and the CLI only talk to it through thread-safe calls, so nothing they do
can stall a request, and nothing a request does can stall them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestHandler

from inspector.core.capture.answers import DEFAULT_CONFIG, AnswerConfig, build_policies
from inspector.core.capture.descriptors import (
    ExhaustionLog,
    connection_cap,
    is_exhaustion,
    open_descriptors,
    raise_descriptor_limit,
)
from inspector.core.capture.inspection import InspectionConfig, check_config
from inspector.core.capture.limits import (
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_MAX_INFLIGHT_REQUESTS,
)
from inspector.core.capture.listener import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BODY,
    CaptureListener,
    ClientAddressFn,
    Overload,
    Relay,
)
from inspector.core.capture.writer import ProcessCommitter, WriterError
from inspector.core.session.listening import forget_listening, record_listening
from inspector.core.session.store import SessionStore
from inspector.core.sizes import human_size

T = TypeVar("T")
log = logging.getLogger(__name__)

#: aiohttp refuses requests past its default parser limits (128 headers, 8 KiB fields)
#: before any handler runs; ours must see them all. Their total is bounded apart, by
#: :class:`_HeadLimit` (``max_header_bytes``).
_MAX_HEADERS = 10_000
_MAX_FIELD = 1 << 20
#: How much of a refused head is kept to record what is known (request line, headers).
_HEAD_KEPT = 64 << 10
#: Idle keep-alive connections close after 75 s (aiohttp's default is an hour), so a
#: public URL cannot be used to pile up idle sockets.
_KEEPALIVE = 75.0


class HeaderFlood(BadHttpMessage):
    """A request's header lines passed ``max_header_bytes`` before they ended."""

    def __init__(self, limit: int, received: int, head: bytes) -> None:
        super().__init__(f"request headers passed the {human_size(limit)} limit")
        self.limit = limit
        self.received = received
        self.head = head


class _HeadLimit:
    """Wraps a connection's HTTP parser and bounds the bytes of each request's head.

    aiohttp bounds each header line and the number of headers, but not their total:
    10,000 headers of 1 MiB each were accepted and cost gigabytes. The head is counted
    before the parser sees it (from the end of the previous message's body to the blank
    line that ends the head), so the parser never holds more than the limit.
    """

    def __init__(self, parser: Any, limit: int) -> None:
        self._parser = parser
        self._limit = limit
        self._size = 0
        self._kept = bytearray()
        self._last = b""  # the end of the previous chunk: a blank line may straddle two
        self._body: Any = None  # the payload of the message being received
        self._flooded = False

    def feed_data(self, data: bytes) -> Any:
        if self._flooded:
            return [], False, b""  # the connection is being closed; drop the rest
        if self._body is None or self._body.is_eof():
            window = self._last + data
            end = window.find(b"\r\n\r\n")
            size = len(data) if end < 0 else max(0, end + 4 - len(self._last))
            self._size += size
            if len(self._kept) < _HEAD_KEPT:
                self._kept += data[: _HEAD_KEPT - len(self._kept)]
            if self._size > self._limit:
                self._flooded = True
                raise HeaderFlood(self._limit, self._size, bytes(self._kept))
            if end < 0:
                self._last = window[-3:]
            else:
                self._size, self._kept, self._last = 0, bytearray(), b""
        result = self._parser.feed_data(data)
        if result[0]:
            self._body = result[0][-1][1]
            self._size, self._kept, self._last = 0, bytearray(), b""
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


class _RecordingRequestHandler(RequestHandler):
    """aiohttp's connection handler, except that requests its parser refuses are recorded
    (with the reason) instead of being logged as a traceback and forgotten."""

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        listener: CaptureListener | None = getattr(manager, "capture_listener", None)
        if listener is not None:
            # Duck-typed: the wrapper forwards everything but feed_data to the parser.
            self._parser = _HeadLimit(self._parser, listener.max_header_bytes)  # type: ignore[assignment]

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        listener: CaptureListener | None = getattr(self._manager, "capture_listener", None)
        if listener is None:
            return super().handle_error(request, status, exc, message)
        if isinstance(exc, HeaderFlood):
            body = listener.record_header_flood(request, exc.limit, exc.received, exc.head)
            log.info("refused a request from %s: headers over the limit", request.remote)
            resp = web.Response(status=431, body=body, content_type="application/json")
            resp.force_close()
            return resp
        problem = message or (str(exc) if exc is not None else "") or f"HTTP {status}"
        problem = " ".join(problem.split())
        listener.record_refused(request, status, problem)
        log.info("refused a malformed request from %s: %s", request.remote, problem)
        resp = web.Response(status=status, text=f"{status}: {problem}\n")
        resp.force_close()
        return resp


class _CaptureServer(web.Server):
    """web.Server whose connections use :class:`_RecordingRequestHandler`, and at most
    ``max_connections`` of them at once: a connection past it is closed as soon as it is
    accepted, so descriptors stay for the writer and for the connections being served."""

    capture_listener: CaptureListener | None = None
    max_connections = 1 << 30
    exhaustion: ExhaustionLog | None = None

    def __call__(self) -> RequestHandler:
        return _RecordingRequestHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self._connections) > self.max_connections:
            if self.exhaustion is not None:
                self.exhaustion.note(f"{self.max_connections:,} connections are open")
            # After the handler's task has started (it expects its manager until then).
            self._loop.call_soon(transport.abort)


class ListenError(Exception):
    """The listener could not start; the message is for the user."""


def format_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


class CaptureEngine:
    def __init__(
        self,
        store: SessionStore,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body: int = DEFAULT_MAX_BODY,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        client_address: ClientAddressFn | None = None,
        shutdown_timeout: float = 5.0,
        print_lines: bool = False,
        answers: AnswerConfig | None = DEFAULT_CONFIG,
        inspection: InspectionConfig | None = None,
        max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES,
        max_inflight_requests: int = DEFAULT_MAX_INFLIGHT_REQUESTS,
        tunnel_credential: Callable[[str], bool] | None = None,
        relay: Relay | None = None,
    ) -> None:
        """``print_lines``: the writer prints a line per request on stdout (the CLI), once
        :meth:`start_printing` is called; append listeners then get no summaries.
        ``answers``: how answers are chosen after decoding (see :mod:`.answers`); the
        default echoes the provider's URL verification challenge. ``inspection``:
        authenticity checks and composed templates (see :mod:`.inspection`). ``relay``:
        forwarding to the user's app (``inspector.core.send.relay.Relay``), run on this
        loop."""
        build_policies(answers)  # a bad configuration fails here, in the caller's thread
        check_config(inspection)
        self._answers = answers
        self._inspection = inspection
        self.store = store
        self.host = host
        self.port = port
        self.max_body = max_body
        self.max_header_bytes = max_header_bytes
        self.body_timeout = body_timeout
        self._client_address = client_address
        self._shutdown_timeout = shutdown_timeout
        self._print_lines = print_lines
        self.max_inflight_bytes = max_inflight_bytes
        self.max_inflight_requests = max_inflight_requests
        self._tunnel_credential = tunnel_credential
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.ServerRunner | None = None
        self._committer: ProcessCommitter | None = None
        self.listener: CaptureListener | None = None
        self._fd_limit = 0
        self._exhaustion = ExhaustionLog(0)
        self.relay = relay
        self._relay_started = False

    @property
    def url(self) -> str:
        return format_url(self.host, self.port)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("engine is not running")
        return self._loop

    def start(self, timeout: float = 15.0) -> None:
        """Start listening; returns once the port is bound, raises ListenError if it cannot be."""
        if self._thread is not None:
            raise RuntimeError("engine already started")
        self._fd_limit = raise_descriptor_limit()
        self._exhaustion = ExhaustionLog(self._fd_limit)
        self._thread = threading.Thread(target=self._run, name="capture-engine", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ListenError(f"listener did not start within {timeout:g} s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            err = self._error
            if isinstance(err, ListenError):
                raise err
            raise ListenError(f"listener could not start: {err}") from err

    def update_answers(self, parts: AnswerConfig) -> None:
        """Replace some features' parts of the answer settings (``{"rules": ...}``,
        ``{"verification": ...}``), keeping the others: the window's rules panel and its
        provider settings each own their part. Callable from any thread."""
        merged = {**(self._answers or {}), **parts}
        self.set_answers(merged)

    def set_answers(self, answers: AnswerConfig | None) -> None:
        """Change how answers are chosen, from the next request on; callable from any
        thread. Raises ValueError (in the caller's thread) for a configuration the
        policies refuse."""
        build_policies(answers)
        self._answers = answers
        committer = self._committer
        if committer is not None:
            self.loop.call_soon_threadsafe(committer.set_answers, answers)

    def rule_hits(self) -> dict[str, int]:
        """Answers given so far by each response rule (by name); callable from any thread."""
        committer = self._committer
        return committer.rule_hits() if committer is not None else {}

    def reset_rule_hits(self) -> None:
        """Start every rule's hit count and sequence over; callable from any thread."""
        committer = self._committer
        if committer is not None:
            self.loop.call_soon_threadsafe(committer.reset_rule_hits)

    def set_inspection(self, inspection: InspectionConfig | None) -> None:
        """Change the authenticity checks and composed templates, from the next request on;
        callable from any thread. Raises ValueError (in the caller's thread) for settings
        that cannot be used."""
        check_config(inspection)
        self._inspection = inspection
        committer = self._committer
        if committer is not None:
            self.loop.call_soon_threadsafe(committer.set_inspection, inspection)

    @property
    def recording_problem(self) -> str | None:
        """Why requests are no longer being recorded (the writer kept dying), else None.

        Safe to read from any thread: the GUI polls it to warn the user."""
        committer = self._committer
        return committer.problem if committer is not None else None

    @property
    def recording_trouble(self) -> str | None:
        """Why requests are refused right now, lasting or not (a full disk, a writer
        restart being retried...), else None; clears itself once recording resumes.

        Safe to read from any thread."""
        committer = self._committer
        return committer.trouble if committer is not None else None

    @property
    def overload(self) -> Overload:
        """Back-pressure: whether new requests are refused because the writer is not
        keeping up (see :class:`CaptureListener`). Safe to read from any thread."""
        listener = self.listener
        return listener.overload if listener is not None else Overload(None, 0, 0)

    def start_printing(self) -> None:
        """Let the per-request lines flow (after the caller's own first lines)."""
        committer = self._committer
        if committer is not None:
            self.loop.call_soon_threadsafe(committer.start_lines)

    def call(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the engine loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish and commit, then end the thread."""
        thread = self._thread
        if thread is None:
            return
        loop = self._loop
        if loop is not None and thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                fut.result(self._shutdown_timeout + 30)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None

    # -- engine thread -------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._on_loop_error)
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                self._error = exc
                self._ready.set()
                loop.run_until_complete(self._shutdown())
                return
            self._ready.set()
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None

    async def _startup(self) -> None:
        committer = ProcessCommitter(
            self.store,
            lines=self._print_lines,
            summaries=not self._print_lines,
            answers=self._answers,
            inspection=self._inspection,
        )
        try:
            await committer.start()
        except WriterError as exc:
            raise ListenError(f"cannot record into {self.store.path}: {exc}") from exc
        self._committer = committer
        self.listener = CaptureListener(
            self.store,
            self._committer,
            max_body=self.max_body,
            max_header_bytes=self.max_header_bytes,
            body_timeout=self.body_timeout,
            client_address=self._client_address,
            max_inflight_bytes=self.max_inflight_bytes,
            max_inflight_requests=self.max_inflight_requests,
            tunnel_credential=self._tunnel_credential,
        )
        server = _CaptureServer(
            self.listener.handle,
            auto_decompress=False,
            access_log=None,
            max_headers=_MAX_HEADERS,
            max_field_size=_MAX_FIELD,
            max_line_size=_MAX_FIELD,
            keepalive_timeout=_KEEPALIVE,
        )
        server.capture_listener = self.listener
        server.max_connections = connection_cap(self._fd_limit, open_descriptors())
        server.exhaustion = self._exhaustion
        self._runner = web.ServerRunner(server, shutdown_timeout=self._shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(self._bind_message(exc)) from exc
        self.port = int(self._runner.addresses[0][1])
        record_listening(self.url)  # so that `webhook-inspector send` finds this listener
        if self.relay is not None:
            self.listener.relay = self.relay
            await self.relay.start(self.url, self._committer)
            self._relay_started = True

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Descriptors running out on accept (asyncio retries every second, and would log a
        traceback each time) is said once; anything else goes to asyncio's own handler."""
        if is_exhaustion(context):
            self._exhaustion.note("a new connection could not be accepted")
            return
        if isinstance(context.get("exception"), ValueError) and "_start_serving" in repr(
            context.get("handle")
        ):
            # asyncio's accept retry, due a second after running out, found the listening
            # socket already closed by a shutdown: nothing is wrong.
            return
        loop.default_exception_handler(context)

    def _bind_message(self, exc: OSError) -> str:
        where = f"{self.host}:{self.port}"
        if exc.errno == errno.EADDRINUSE:
            return (
                f"port {self.port} on {self.host} is already in use; choose another with "
                "--port, or --port 0 for any free port"
            )
        if exc.errno == errno.EACCES:
            return f"no permission to listen on {where} (ports below 1024 need privileges)"
        if exc.errno in (errno.EADDRNOTAVAIL, -2, -3, -5, -9):
            return f"cannot listen on {where}: {self.host} is not an address of this machine"
        return f"cannot listen on {where}: {exc.strerror or exc}"

    async def _shutdown(self) -> None:
        """Stop accepting, finish in-flight requests, then let the writer commit and exit."""
        if self.listener is not None:
            self.listener.release()  # delayed answers go out now, held connections close
            forget_listening(self.url)
        if self._runner is not None:
            await self._runner.cleanup()
        if self.relay is not None and self._relay_started:
            self._relay_started = False
            await self.relay.stop()
        if self._committer is not None:
            await self._committer.stop()
            self._committer = None
