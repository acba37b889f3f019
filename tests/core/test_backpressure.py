"""Back-pressure (issue 9, item 5): while the writer is stopped or stuck, the listener holds
a bounded number of requests and bytes; past that, new requests get 503 at once, the state
is shown once, and every request that was held is recorded once the writer goes on."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from tests.core.httpraw import RawResponse, send
from tests.core.test_cli import Capture
from tests.factories import running_engine


def writer_pid(parent: int) -> int:
    """The session writer: the child process of ``parent`` running the writer module."""
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"inspector.core.capture.writer" in cmdline:
                return int(child)
    raise AssertionError("no writer process")


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_past_the_request_bound_new_requests_get_503_at_once(session_path: Path) -> None:
    with (
        running_engine(session_path, max_inflight_requests=4) as eng,
        ThreadPoolExecutor(8) as pool,
    ):
        held: list[Future[RawResponse]] = []
        with stopped(writer_pid(os.getpid())):
            for n in range(4):
                held.append(pool.submit(send, eng.url, "POST", f"/held{n}", [], b"{}", timeout=30))
            wait_until(lambda: eng.listener is not None and eng.listener._held_requests == 4)
            assert eng.overload.problem is None
            t0 = time.monotonic()
            refused = [send(eng.url, "POST", "/refused", [], b"{}") for _ in range(3)]
            assert time.monotonic() - t0 < 2
            assert [r.status for r in refused] == [503, 503, 503]
            assert ("Retry-After", "1") in refused[0].headers
            state = eng.overload
            assert state.problem is not None and "not keeping up" in state.problem
            assert (state.episodes, state.refused) == (1, 3)
            assert not any(f.done() for f in held)
        # Every held request is recorded and acknowledged once the writer goes on.
        assert [f.result(timeout=30).status for f in held] == [200] * 4
        wait_until(lambda: eng.overload.problem is None)
        assert send(eng.url, "POST", "/after", [], b"{}").status == 200
        assert eng.overload.episodes == 1
        paths = sorted(eng.store.get(i).path for i in range(1, 6))  # type: ignore[union-attr]
        assert paths == ["/after", "/held0", "/held1", "/held2", "/held3"]
        assert eng.store.count() == 5


def test_past_the_byte_bound_new_requests_get_503(session_path: Path) -> None:
    body = b'{"x": "' + b"a" * 40_000 + b'"}'
    with (
        running_engine(session_path, max_inflight_bytes=64 << 10) as eng,
        ThreadPoolExecutor(4) as pool,
    ):
        with stopped(writer_pid(os.getpid())):
            first = pool.submit(send, eng.url, "POST", "/first", [], body, timeout=30)
            wait_until(lambda: eng.listener is not None and eng.listener._held_requests == 1)
            assert send(eng.url, "POST", "/second", [], body).status == 503
        assert first.result(timeout=30).status == 200
        # Alone in flight, a request larger than the bound is still taken.
        wait_until(lambda: eng.overload.problem is None)
        assert send(eng.url, "POST", "/big", [], body * 3).status == 200


def test_capture_says_so_once_and_when_it_recovers(tmp_path: Path) -> None:
    cap = Capture(tmp_path / "b.whsession", "--max-in-flight", "64K")
    body = b'{"x": "' + b"a" * 40_000 + b'"}'
    try:
        with ThreadPoolExecutor(4) as pool:
            with stopped(writer_pid(cap.proc.pid)):
                first = pool.submit(send, cap.url, "POST", "/first", [], body, timeout=30)
                time.sleep(0.5)
                statuses = [send(cap.url, "POST", "/more", [], body).status for _ in range(5)]
                assert statuses == [503] * 5
                time.sleep(0.6)  # capture polls the state four times a second
            assert first.result(timeout=30).status == 200
            time.sleep(0.6)
    finally:
        _, err = cap.stop()
    warnings = [line for line in err.splitlines() if "not keeping up" in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("warning: the session writer is not keeping up")
    recovered = [line for line in err.splitlines() if line.startswith("recording again")]
    assert recovered == [
        "recording again: the writer caught up; 5 request(s) were answered 503 meanwhile"
    ], err
    assert "Traceback" not in err


def test_a_delayed_rule_answer_no_longer_counts_in_flight(session_path: Path) -> None:
    """Back-pressure bounds what waits to be recorded: a committed request whose answer a
    response rule delays is not waiting for the writer, so it never causes a 503."""
    from inspector.core.capture.answers import DEFAULT_CONFIG
    from inspector.core.capture.rules import parse_rules, rules_config

    rules = parse_rules('[[rule]]\nname = "slow"\npath = "/slow"\nrespond = 202\ndelay = "1s"\n')
    answers = {**DEFAULT_CONFIG, "rules": rules_config(rules)}
    with (
        running_engine(session_path, max_inflight_requests=2, answers=answers) as eng,
        ThreadPoolExecutor(6) as pool,
    ):
        slow = []
        for n in range(1, 7):  # each sent once the one before is committed (its answer waits)
            slow.append(pool.submit(send, eng.url, "POST", "/slow", [], b"{}", timeout=30))
            wait_until(lambda n=n: eng.rule_hits().get("slow", 0) == n)
        assert [f.result().status for f in slow] == [202] * 6
        assert eng.overload.refused == 0
