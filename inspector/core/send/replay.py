"""Replay: send stored requests again, as they were or edited, and keep what came back.

A replay never overwrites anything (mitmproxy's client playback resets the original
flow's response, a long-standing complaint there): each one is committed as a new row
linked to its original (``replays`` table) *before* it is sent, then the app's answer is
recorded against that new row. A replay sent to our own listener is captured by it; the
listener links that row instead (a one-time mark header), so there is one row per replay.

A batch keeps the original order: requests start in order, at most ``concurrency`` at a
time (1 by default: strictly one after another), either as fast as the app answers or at
the original pace (the gaps between the originals' arrival times, divided by ``speed``).
It can be paused and cancelled from any thread; progress goes to a callback on the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

from inspector.core.provider.decoder import DecodedEvent
from inspector.core.send.app_client import AppClient, forward_headers, forward_url
from inspector.core.session.forwards import AnswerEntry, AppAnswer, record_answers
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import SessionStore, StoredRequest

SIGNATURE_HEADER = "Signature"
MARK_HEADER = "X-Inspector-Replay"
#: How long a replay to our own listener waits for the listener to commit its row.
_MARK_WAIT = 30.0


def sign(body: bytes, key: str | bytes) -> str:
    """The provider's signature: lowercase hex HMAC-SHA256 of the exact body."""
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, body, hashlib.sha256).hexdigest()


def with_signature(
    headers: Sequence[tuple[str, str]], body: bytes, key: str | bytes
) -> list[tuple[str, str]]:
    """``headers`` with a ``Signature`` valid for ``body`` (replacing any old one in place)."""
    value = sign(body, key)
    out: list[tuple[str, str]] = []
    placed = False
    for k, v in headers:
        if k.lower() == SIGNATURE_HEADER.lower():
            if not placed:
                out.append((k, value))
                placed = True
            continue
        out.append((k, v))
    if not placed:
        out.append((SIGNATURE_HEADER, value))
    return out


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One request to send: exactly these bytes to exactly this URL."""

    original_id: int | None
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    #: When the original arrived (µs), for ``pace``.
    received_us: int = 0
    #: The original's decoding, for an as-is replay (the same bytes mean the same event);
    #: None: decode what is sent (an edited request).
    decoded: DecodedEvent | None = None


def item_from_stored(req: StoredRequest, to: str, *, exact: bool = False) -> ReplayItem:
    """A stored request as-is to ``to`` (its path and query appended unless ``exact``):
    same method, headers (hop-by-hop ones dropped, ``Host`` rewritten) and exact body."""
    url = forward_url(to, req.path, req.query, exact=exact)
    headers = forward_headers(req.headers, target=url, remote="", forwarded=False)
    s = req.summary
    decoded = DecodedEvent(
        s.event, s.product, s.status, s.status_class, s.message_id, s.from_addr, s.to_addr,
        s.summary, list(req.warnings),
    )  # fmt: skip
    return ReplayItem(req.id, req.method, url, headers, req.body, req.received_us, decoded)


@dataclass(slots=True)
class ReplayResult:
    index: int
    item: ReplayItem
    row_id: int | None
    answer: AppAnswer


@dataclass(slots=True)
class ReplayProgress:
    """A snapshot for a progress panel (copied out; safe to hand to another thread)."""

    total: int
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    paused: bool = False
    cancelled: bool = False
    finished: bool = False
    last: ReplayResult | None = None
    results: list[ReplayResult] = field(default_factory=list)


#: Told a replay row's id once it is committed (None, and why, when it is not).
RowDone = Callable[[int | None, BaseException | None], None]
#: Told once the app's answer is stored (or why it is not).
Recorded = Callable[[BaseException | None], None]


class ReplaySink(Protocol):
    """Where replay rows and the app's answers are written (see :class:`StoreSink`).
    Both calls return at once and tell ``then`` on the loop: callbacks, not futures,
    since a replay's bookkeeping is otherwise most of what it costs this process."""

    def add_row(self, item: ReplayItem, then: RowDone) -> None:
        """Start committing the replay's row."""
        ...

    def record(
        self, row_id: int, item: ReplayItem, answer: AppAnswer, at_us: int, then: Recorded
    ) -> None:
        """Start committing the app's answer; ``then`` once it is on disk."""
        ...


class StoreSink:
    """Writes replay rows straight into the session, decoded like any request and
    committed with their link (the append listeners are told: the table shows them).
    For a session no writer process is recording into (see :class:`CommitterSink`).

    Group commit, as the capture writer does: rows and answers that arrive while a
    write is under way go together in the next one, on a worker thread, so a thousand
    replays cost a few dozen transactions and the loop never waits on SQLite.
    """

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._decoder: Any = None
        self._rows: list[tuple[ReplayItem, int, RowDone]] = []
        self._answers: list[tuple[tuple[int, str, str, AppAnswer, int, int], Recorded]] = []
        self._flushing = False

    def add_row(self, item: ReplayItem, then: RowDone) -> None:
        self._rows.append((item, self._store.take_seq(), then))
        self._kick()

    def record(
        self, row_id: int, item: ReplayItem, answer: AppAnswer, at_us: int, then: Recorded
    ) -> None:
        self._answers.append(((row_id, "replay", item.url, answer, 1, at_us), then))
        self._kick()

    def _kick(self) -> None:
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._rows or self._answers:
                await asyncio.sleep(0)  # let replays that are ready join this batch
                rows, self._rows = self._rows, []
                answers, self._answers = self._answers, []
                try:
                    ids = await loop.run_in_executor(
                        None, self._write, [(i, seq) for i, seq, _ in rows], [a for a, _ in answers]
                    )
                except Exception as exc:  # noqa: BLE001 - each waiting replay reports it
                    for _, _, then in rows:
                        then(None, exc)
                    for _, recorded in answers:
                        recorded(exc)
                    continue
                for (_, _, then), rid in zip(rows, ids, strict=True):
                    then(rid, None)
                for _, recorded in answers:
                    recorded(None)
        finally:
            self._flushing = False

    def _write(
        self,
        rows: list[tuple[ReplayItem, int]],
        answers: list[tuple[int, str, str, AppAnswer, int, int]],
    ) -> list[int]:
        ids: list[int] = []
        if rows:
            if self._decoder is None and any(i.decoded is None for i, _ in rows):
                from inspector.core.provider.decoder import EventDecoder

                self._decoder = EventDecoder()
            batch = []
            now = time.time_ns() // 1000
            for item, seq in rows:
                rec = _row_for(item, seq, now)
                decoded = item.decoded
                if decoded is None:
                    decoded = self._decoder.decode(
                        rec.method, rec.path, rec.query, rec.headers, rec.body
                    )
                batch.append((rec, decoded))
            ids = [s.id for s in self._store.append(batch)]
        if answers:
            conn = self._store.open_reader()
            try:
                record_answers(conn, answers)
            finally:
                conn.close()
        return ids


class RowCommitter(Protocol):
    """The capture engine's writer (``capture.writer.ProcessCommitter``), as replay sees it."""

    def submit(self, request: CapturedRequest) -> asyncio.Future[Any]: ...

    def record(self, entries: list[AnswerEntry]) -> asyncio.Future[None]: ...


class CommitterSink:
    """Replay rows and the app's answers through the session's writer process, the one
    path everything written while the engine runs takes: rows decoded and committed
    there (off this process's GIL), indexed in order with the captures around them,
    the window told as for any arrival; answers committed there too, so no second
    connection writes to the session and no thread of this process does SQLite work.

    Rows and answers linger :data:`LINGER` seconds and go on together, in one message
    each: one replay at a time otherwise made every row a message to the writer and
    every answer a transaction of its own, and that bookkeeping cost this process
    twice what sending the request did. No replay waits for it: a row is needed only
    once its answer is in, and the next replay has started by then.
    """

    #: How long rows and answers gather before they are handed on.
    LINGER = 0.02

    def __init__(self, committer: RowCommitter, store: SessionStore) -> None:
        self._committer = committer
        self._store = store
        self._rows: list[tuple[CapturedRequest, RowDone]] = []
        self._answers: list[AnswerEntry] = []
        self._recorded: list[Recorded] = []
        self._timer: asyncio.TimerHandle | None = None

    def add_row(self, item: ReplayItem, then: RowDone) -> None:
        rec = _row_for(item, self._store.take_seq(), time.time_ns() // 1000)
        rec.known = item.decoded  # as-is: the writer need not decode it again
        self._rows.append((rec, then))
        self._schedule()

    def record(
        self, row_id: int, item: ReplayItem, answer: AppAnswer, at_us: int, then: Recorded
    ) -> None:
        self._answers.append(AnswerEntry(row_id, "replay", item.url, answer, 1, at_us))
        self._recorded.append(then)
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.LINGER, self._hand_on)

    def _hand_on(self) -> None:
        """Everything gathered, in one turn of the loop: one message of rows, one of
        answers (the writer commits each in one transaction)."""
        self._timer = None
        rows, self._rows = self._rows, []
        for rec, then in rows:
            self._committer.submit(rec).add_done_callback(partial(_row_committed, then))
        if self._answers:
            answers, self._answers = self._answers, []
            waiting, self._recorded = self._recorded, []
            self._committer.record(answers).add_done_callback(partial(_all_recorded, waiting))


def _failure(fut: asyncio.Future[Any]) -> BaseException | None:
    if fut.cancelled():
        return RuntimeError("cancelled")
    return fut.exception()


def _row_committed(then: RowDone, fut: asyncio.Future[Any]) -> None:
    failure = _failure(fut)
    then(None, failure) if failure is not None else then(int(fut.result().row_id), None)


def _all_recorded(waiting: list[Recorded], fut: asyncio.Future[None]) -> None:
    failure = _failure(fut)
    for then in waiting:
        then(failure)


def _row_for(item: ReplayItem, seq: int, now_us: int) -> CapturedRequest:
    """The session row of a replay: what was sent, answered by nobody here (status 0)."""
    path, query = _split_url(item.url)
    return CapturedRequest(
        seq,
        now_us,
        item.method,
        path,
        query,
        "1.1",
        "",
        list(item.headers),
        item.body,
        len(item.body),
        0,
        [],
        b"",
        replay_of=item.original_id,
    )


def _split_url(url: str) -> tuple[str, str]:
    rest = url.partition("://")[2]
    _, slash, tail = rest.partition("/")
    tail = "/" + tail if slash else "/"
    path, _, query = tail.partition("?")
    return path.partition("#")[0], query.partition("#")[0]


class ReplayBatch:
    """Many replays, in their original order; pause, resume and cancel from any thread."""

    def __init__(
        self,
        items: Sequence[ReplayItem],
        *,
        concurrency: int = 1,
        speed: float | None = None,
        deadline: float = 10.0,
        on_progress: Callable[[ReplayProgress], None] | None = None,
    ) -> None:
        """``speed``: None sends as fast as the app answers; 1.0 keeps the originals'
        pace, 10.0 ten times faster."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if speed is not None and speed <= 0:
            raise ValueError("the pace must be positive")
        self.items = list(items)
        self.concurrency = concurrency
        self.speed = speed
        self.deadline = deadline
        self._on_progress = on_progress
        self.progress = ReplayProgress(total=len(self.items))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resume: asyncio.Event | None = None
        self._cancel: asyncio.Event | None = None
        #: The lanes, each sending one request after another.
        self._tasks: set[asyncio.Task[None]] = set()
        #: Lanes waiting for the app right now (cancel stops these sends).
        self._sending: set[asyncio.Task[Any]] = set()
        #: Answers not recorded yet (their row's commit, then theirs); set when none is.
        self._unfinished = 0
        self._all_finished: asyncio.Future[None] | None = None
        self._requested_pause = False
        self._requested_cancel = False

    # -- any thread ---------------------------------------------------------------

    def pause(self) -> None:
        self._requested_pause = True
        self._post(self._apply)

    def resume(self) -> None:
        self._requested_pause = False
        self._post(self._apply)

    def cancel(self) -> None:
        """Stop starting new replays and abandon the ones in flight (their rows stay,
        recorded as cancelled)."""
        self._requested_cancel = True
        self._post(self._apply)

    def _post(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn)

    # -- the loop -------------------------------------------------------------------

    def _apply(self) -> None:
        if self._resume is None or self._cancel is None:
            return
        if self._requested_cancel:
            self._cancel.set()
            self._resume.set()
            for task in list(self._sending):
                task.cancel()  # those already answered finish recording what they got
        elif self._requested_pause:
            self._resume.clear()
        else:
            self._resume.set()
        self.progress.paused = self._requested_pause and not self._requested_cancel
        self.progress.cancelled = self._requested_cancel
        self._report()

    def _report(self) -> None:
        if self._on_progress is not None:
            p = self.progress
            self._on_progress(replace(p, results=[]))

    async def run(
        self, client: AppClient, sink: ReplaySink, *, relay: object | None = None
    ) -> ReplayProgress:
        """Send every item; returns the final progress (with every result, in order).
        ``relay``: the engine's relay, needed to replay to our own listener.

        ``concurrency`` lanes take the items in order, each sending its next one as
        soon as the app has answered its last: no turn of the loop between an answer
        and the next request, as a bare client loop has none. What follows an answer
        (the row's commit, the answer's) finishes meanwhile, by callbacks."""
        self._loop = asyncio.get_running_loop()
        self._resume = asyncio.Event()
        self._cancel = asyncio.Event()
        self._apply()
        self._resume.set() if not self._requested_pause else None
        results: list[ReplayResult | None] = [None] * len(self.items)
        feed = iter(enumerate(self.items))
        started = time.monotonic()
        first_us = self.items[0].received_us if self.items else 0
        lanes = [
            self._loop.create_task(self._lane(feed, started, first_us, client, sink, relay, results))
            for _ in range(min(self.concurrency, len(self.items)))
        ]
        self._tasks.update(lanes)
        try:
            await asyncio.gather(*lanes, return_exceptions=True)
            if self._unfinished:
                self._all_finished = self._loop.create_future()
                await self._all_finished
        finally:
            for task in self._tasks:
                task.cancel()
        self.progress.finished = True
        self.progress.in_flight = 0
        self.progress.results = [r for r in results if r is not None]
        self._report()
        return self.progress

    async def _lane(
        self,
        feed: Iterator[tuple[int, ReplayItem]],
        started: float,
        first_us: int,
        client: AppClient,
        sink: ReplaySink,
        relay: object | None,
        results: list[ReplayResult | None],
    ) -> None:
        assert self._resume is not None and self._cancel is not None
        me = asyncio.current_task()
        assert me is not None
        while True:
            if not self._resume.is_set():
                await self._resume.wait()
            if self._cancel.is_set():
                return
            taken = next(feed, None)
            if taken is None:
                return
            index, item = taken
            if self.speed is not None and item.received_us and first_us:
                due = started + (item.received_us - first_us) / 1e6 / self.speed
                wait = due - time.monotonic()
                if wait > 0:
                    try:
                        async with asyncio.timeout(wait):
                            await self._cancel.wait()
                    except TimeoutError:
                        pass
                    if self._cancel.is_set():
                        return
            self.progress.in_flight += 1
            self._report()
            at_us = time.time_ns() // 1000
            to_listener = relay is not None and _is_listener(relay, item.url)
            pending = _Pending(self, index, item, at_us, sink, results)
            self._unfinished += 1
            # The row is committed while the request is on its way (the answer is
            # recorded only once both are done): the app never waits on SQLite.
            stop = False
            self._sending.add(me)
            try:
                if to_listener:
                    answer, row_id = await _to_listener(client, relay, item, self.deadline)
                    pending.row_done(row_id, None)
                else:
                    sink.add_row(item, pending.row_done)
                    answer = await client.send(
                        item.method, item.url, item.headers, item.body, deadline=self.deadline
                    )
            except asyncio.CancelledError:
                answer = AppAnswer(None, error="cancelled before the app answered")
                stop = True
                if to_listener:
                    pending.row_done(None, None)  # the listener's row, if any, is its own
            except Exception as exc:  # noqa: BLE001 - the session could not be written
                answer = AppAnswer(None, error=f"not recorded: {exc}")
                pending.row_done(None, None)
            finally:
                self._sending.discard(me)
                self.progress.in_flight -= 1
            pending.answered(answer)
            if stop:
                return

    def _done(self, pending: _Pending, row_id: int | None, outcome: AppAnswer) -> None:
        """One replay is over: its answer recorded against its row (or why not)."""
        result = ReplayResult(pending.index, pending.item, row_id, outcome)
        pending.results[pending.index] = result
        p = self.progress
        p.done += 1
        if outcome.failed:
            p.failed += 1
        p.last = result
        self._report()
        self._unfinished -= 1
        if not self._unfinished and self._all_finished is not None:
            if not self._all_finished.done():
                self._all_finished.set_result(None)


class _Pending:
    """One replay between its send and its stored answer: the row's commit and the
    app's answer arrive in either order; the answer is recorded once both are in."""

    __slots__ = ("batch", "index", "item", "at_us", "sink", "results", "row_id", "row_failure",
                 "row_in", "answer")  # fmt: skip

    def __init__(
        self, batch: ReplayBatch, index: int, item: ReplayItem, at_us: int, sink: ReplaySink,
        results: list[ReplayResult | None],
    ) -> None:  # fmt: skip
        self.batch = batch
        self.index = index
        self.item = item
        self.at_us = at_us
        self.sink = sink
        self.results = results
        self.row_id: int | None = None
        self.row_failure: BaseException | None = None
        self.row_in = False
        self.answer: AppAnswer | None = None

    def row_done(self, row_id: int | None, failure: BaseException | None) -> None:
        if self.row_in:
            return
        self.row_in = True
        self.row_id, self.row_failure = row_id, failure
        if self.answer is not None:
            self._record()

    def answered(self, answer: AppAnswer) -> None:
        self.answer = answer
        if self.row_in:
            self._record()

    def _record(self) -> None:
        assert self.answer is not None
        if self.row_failure is not None:
            self.batch._done(self, None, _not_recorded(self.row_failure))
        elif self.row_id is None:
            self.batch._done(self, None, self.answer)
        else:
            try:
                self.sink.record(self.row_id, self.item, self.answer, self.at_us, self.recorded)
            except Exception as exc:  # noqa: BLE001 - the session could not be written
                self.batch._done(self, self.row_id, _not_recorded(exc))

    def recorded(self, failure: BaseException | None) -> None:
        assert self.answer is not None
        outcome = self.answer if failure is None else _not_recorded(failure)
        self.batch._done(self, self.row_id, outcome)


def _not_recorded(failure: BaseException) -> AppAnswer:
    return AppAnswer(None, error=f"not recorded: {failure or type(failure).__name__}")


def _is_listener(relay: object, url: str) -> bool:
    base = getattr(relay, "listener_url", None)
    return bool(base) and url.startswith(str(base).rstrip("/"))


async def _to_listener(
    client: AppClient, relay: object, item: ReplayItem, deadline: float
) -> tuple[AppAnswer, int | None]:
    """Send to our own listener with a one-time mark, so its row is the replay's row."""
    marks: dict[str, tuple[int, asyncio.Future[int]]] = relay.replay_marks  # type: ignore[attr-defined]
    token = secrets.token_hex(8)
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    marks[token] = (item.original_id or 0, fut)
    headers = [*item.headers, (MARK_HEADER, token)]
    try:
        answer = await client.send(item.method, item.url, headers, item.body, deadline=deadline)
        try:
            async with asyncio.timeout(_MARK_WAIT if fut.done() or answer.answered else 0.5):
                row_id: int | None = await fut
        except TimeoutError:
            row_id = None
    finally:
        marks.pop(token, None)
    return answer, row_id
