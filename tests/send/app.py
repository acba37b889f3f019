"""A real aiohttp app on loopback standing in for the user's app: it records what it
receives, in order, and answers as a test tells it to (status, delay, never, garbage)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    method: str
    path_qs: str
    headers: list[tuple[str, str]]
    body: bytes
    at: float


@dataclass
class TargetApp:
    """Runs on its own thread and loop, like a separate program would."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    #: Called for each request; returns the response (default: 200 {"ok": true}).
    answer: Callable[[web.Request, bytes], Awaitable[web.StreamResponse]] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [r.body for r in self.received]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.received.append(
                Received(
                    request.method,
                    request.path_qs,
                    [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
                    body,
                    time.monotonic(),
                )
            )
        if self.answer is not None:
            return await self.answer(request, body)
        return web.json_response({"ok": True})

    def start(self) -> TargetApp:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            app = web.Application(client_max_size=1 << 26)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            loop.run_until_complete(self._runner.setup())
            if self.port == 0:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    self.port = s.getsockname()[1]
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="target-app", daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None


@contextmanager
def target_app(**kwargs: object) -> Iterator[TargetApp]:
    app = TargetApp(**kwargs).start()  # type: ignore[arg-type]
    try:
        yield app
    finally:
        app.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
