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
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from inspector.core.capture.answers import DEFAULT_CONFIG, AnswerConfig, build_policies
from inspector.core.capture.listener import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BODY,
    CaptureListener,
    ClientAddressFn,
    Relay,
)
from inspector.core.capture.writer import ProcessCommitter, WriterError
from inspector.core.session.store import SessionStore

T = TypeVar("T")
log = logging.getLogger(__name__)

#: aiohttp refuses requests past its default parser limits (128 headers, 8 KiB fields)
#: before any handler runs; ours must see them all.
_MAX_HEADERS = 10_000
_MAX_FIELD = 1 << 20
#: Idle keep-alive connections close after 75 s (aiohttp's default is an hour), so a
#: public URL cannot be used to pile up idle sockets.
_KEEPALIVE = 75.0


class _RecordingRequestHandler(RequestHandler):
    """aiohttp's connection handler, except that requests its parser refuses are recorded
    (with the reason) instead of being logged as a traceback and forgotten."""

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
        problem = message or (str(exc) if exc is not None else "") or f"HTTP {status}"
        problem = " ".join(problem.split())
        listener.record_refused(request, status, problem)
        log.info("refused a malformed request from %s: %s", request.remote, problem)
        resp = web.Response(status=status, text=f"{status}: {problem}\n")
        resp.force_close()
        return resp


class _CaptureServer(web.Server):
    """web.Server whose connections use :class:`_RecordingRequestHandler`."""

    capture_listener: CaptureListener | None = None

    def __call__(self) -> RequestHandler:
        return _RecordingRequestHandler(self, loop=self._loop, **self._kwargs)


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
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        client_address: ClientAddressFn | None = None,
        shutdown_timeout: float = 5.0,
        print_lines: bool = False,
        answers: AnswerConfig | None = DEFAULT_CONFIG,
        relay: Relay | None = None,
    ) -> None:
        """``print_lines``: the writer prints a line per request on stdout (the CLI), once
        :meth:`start_printing` is called; append listeners then get no summaries.
        ``answers``: how answers are chosen after decoding (see :mod:`.answers`); the
        default echoes the provider's URL verification challenge. ``relay``: forwarding
        to the user's app (``inspector.core.send.relay.Relay``), run on this loop."""
        build_policies(answers)  # a bad configuration fails here, in the caller's thread
        self._answers = answers
        self.store = store
        self.host = host
        self.port = port
        self.max_body = max_body
        self.body_timeout = body_timeout
        self._client_address = client_address
        self._shutdown_timeout = shutdown_timeout
        self._print_lines = print_lines
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.ServerRunner | None = None
        self._committer: ProcessCommitter | None = None
        self.listener: CaptureListener | None = None
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

    def set_answers(self, answers: AnswerConfig | None) -> None:
        """Change how answers are chosen, from the next request on; callable from any
        thread. Raises ValueError (in the caller's thread) for a configuration the
        policies refuse."""
        build_policies(answers)
        self._answers = answers
        committer = self._committer
        if committer is not None:
            self.loop.call_soon_threadsafe(committer.set_answers, answers)

    @property
    def recording_problem(self) -> str | None:
        """Why requests are no longer being recorded (the writer kept dying), else None.

        Safe to read from any thread: the GUI polls it to warn the user."""
        committer = self._committer
        return committer.problem if committer is not None else None

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
            body_timeout=self.body_timeout,
            client_address=self._client_address,
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
        self._runner = web.ServerRunner(server, shutdown_timeout=self._shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(self._bind_message(exc)) from exc
        self.port = int(self._runner.addresses[0][1])
        if self.relay is not None:
            self.listener.relay = self.relay
            await self.relay.start(self.url, self._committer)
            self._relay_started = True

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
        if self._runner is not None:
            await self._runner.cleanup()
        if self.relay is not None and self._relay_started:
            self._relay_started = False
            await self.relay.stop()
        if self._committer is not None:
            await self._committer.stop()
            self._committer = None
