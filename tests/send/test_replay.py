"""Replay over loopback against a real aiohttp app: as-is, edited, re-signed, many at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiohttp import web

from inspector.core.send.replay import (
    ReplayBatch,
    ReplayItem,
    ReplayProgress,
    StoreSink,
    item_from_stored,
    sign,
    with_signature,
)
from inspector.core.session.forwards import forwards_for, replay_of, replays_of
from inspector.core.session.store import get_request
from tests.send.app import target_app, wait_for
from tests.send.test_forward import post, relaying


def _run(eng, items, **kwargs) -> ReplayProgress:  # type: ignore[no-untyped-def]
    batch = ReplayBatch(items, **kwargs)
    relay = eng.relay
    return eng.call(batch.run(relay.client, eng.relay.replay_sink, relay=relay)).result(60)


def _stored(eng, rid):  # type: ignore[no-untyped-def]
    conn = eng.store.open_reader()
    try:
        return get_request(conn, rid)
    finally:
        conn.close()


def test_replay_as_is_is_a_new_linked_row(session_path: Path) -> None:
    with target_app() as app, relaying(session_path, None) as eng:
        post(eng.url, b'{"n":1}', "/whatsapp?x=1", {"Signature": "orig"})
        original = _stored(eng, 1)
        final = _run(eng, [item_from_stored(original, app.url)])
        assert final.done == 1 and final.failed == 0
        (got,) = app.received
        assert got.body == b'{"n":1}' and got.path_qs == "/whatsapp?x=1"
        assert dict((k.lower(), v) for k, v in got.headers)["signature"] == "orig"
        (result,) = final.results
        assert result.row_id == 2 and result.answer.status == 200
        conn = eng.store.open_reader()
        assert replay_of(conn, 2) == 1 and replays_of(conn, 1) == [2]
        (fwd,) = forwards_for(conn, 2)
        assert fwd.kind == "replay" and fwd.answer.body == b'{"ok": true}'
        assert forwards_for(conn, 1) == []  # the original is untouched
        assert get_request(conn, 1).body == b'{"n":1}'  # type: ignore[union-attr]
        assert get_request(conn, 2).path == "/whatsapp"  # type: ignore[union-attr]
        conn.close()


def test_replay_rows_are_decoded_like_their_bytes(session_path: Path) -> None:
    status = b'{"event":"sms:message:status","payload":{"id":"m1","status":"DELIVRD","to":"91"}}'
    with target_app() as app, relaying(session_path, None) as eng:
        post(eng.url, status, "/sms")
        original = _stored(eng, 1)
        assert original.event == "sms:message:status"
        edited = status.replace(b"DELIVRD", b"UNDELIV")
        _run(
            eng,
            [
                item_from_stored(original, app.url),
                ReplayItem(1, "POST", app.url + "/sms", [], edited),
            ],
        )
        assert _stored(eng, 2).status == "DELIVRD"  # as-is: the original's decoding
        assert _stored(eng, 3).status == "UNDELIV"  # edited: decoded afresh


def test_an_as_is_replay_keeps_its_originals_decoding_through_the_writer(
    session_path: Path,
) -> None:
    """The writer takes an as-is replay's decoding from its original instead of decoding
    the same bytes again (a fifth of its work per replay row): a decoding made under
    other settings (a composed template then) stays the replay's too."""
    status = b'{"event":"sms:message:status","payload":{"id":"m1","status":"DELIVRD","to":"91"}}'
    with target_app() as app, relaying(session_path, None) as eng:
        post(eng.url, status, "/sms")
        conn = eng.store.open_reader()
        conn.execute("UPDATE requests SET status = 'ACCEPTD' WHERE id = 1")
        conn.close()
        _run(eng, [item_from_stored(_stored(eng, 1), app.url),
                   ReplayItem(1, "POST", app.url + "/sms", [], status)])
        assert _stored(eng, 2).status == "ACCEPTD"  # as-is: the original's decoding
        assert _stored(eng, 3).status == "DELIVRD"  # given as new bytes: decoded by the writer


def test_replay_to_the_listener_itself_is_one_linked_row(session_path: Path) -> None:
    with relaying(session_path, None) as eng:
        post(eng.url, b'{"n":1}', "/sms")
        final = _run(eng, [item_from_stored(_stored(eng, 1), eng.url)])
        (result,) = final.results
        assert result.answer.status == 200 and result.row_id == 2
        assert eng.store.count() == 2  # the listener's row is the replay's row
        conn = eng.store.open_reader()
        assert replay_of(conn, 2) == 1
        assert forwards_for(conn, 2)[0].answer.status == 200
        conn.close()


def test_edited_replay_sends_exactly_the_edited_bytes(session_path: Path) -> None:
    with target_app() as app, relaying(session_path, None) as eng:
        post(eng.url, b'{"n":1}')
        body = b'{\n  "n": 2,\n  "caf\xc3\xa9": true\n}'
        item = ReplayItem(
            1,
            "PUT",
            app.url + "/edited?q=%20x",
            [("X-Edit", "yes"), ("Content-Type", "text/plain")],
            body,
        )
        final = _run(eng, [item])
        (got,) = app.received
        assert (got.method, got.path_qs, got.body) == ("PUT", "/edited?q=%20x", body)
        h = dict((k.lower(), v) for k, v in got.headers)
        assert h["x-edit"] == "yes" and h["content-type"] == "text/plain"
        assert final.results[0].row_id == 2
        row = _stored(eng, 2)
        assert row.method == "PUT" and row.body == body and row.query == "q=%20x"


def test_resigned_replay_carries_a_valid_signature(session_path: Path) -> None:
    with target_app() as app, relaying(session_path, None) as eng:
        post(eng.url, b'{"n":1}', headers={"Signature": "stale"})
        item = item_from_stored(_stored(eng, 1), app.url)
        edited = b'{"n":99}'
        headers = with_signature(item.headers, edited, "s3cret")
        _run(eng, [ReplayItem(1, item.method, item.url, headers, edited)])
        (got,) = app.received
        sigs = [v for k, v in got.headers if k.lower() == "signature"]
        assert sigs == [sign(edited, "s3cret")]
        assert "stale" not in [v for _, v in got.headers]


def test_signature_is_lowercase_hex_hmac_sha256() -> None:
    import hashlib
    import hmac

    assert sign(b"body", "key") == hmac.new(b"key", b"body", hashlib.sha256).hexdigest()
    assert sign(b"body", "key").islower()


def test_many_at_once_at_concurrency_n_keep_original_order_of_starts(session_path: Path) -> None:
    active = 0
    peak = 0
    order: list[bytes] = []

    async def answer(request: web.Request, body: bytes) -> web.StreamResponse:
        nonlocal active, peak
        order.append(body)
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        return web.Response(text="ok")

    with target_app(answer=answer) as app, relaying(session_path, None) as eng:
        items = [ReplayItem(None, "POST", app.url, [], b"%d" % i) for i in range(20)]
        final = _run(eng, items, concurrency=4)
        assert final.done == 20 and final.failed == 0
        assert peak == 4
        assert [r.item.body for r in final.results] == [b"%d" % i for i in range(20)]
        peak = 0
        order.clear()
        _run(eng, items[:6], concurrency=1)
        assert peak == 1 and order == [b"%d" % i for i in range(6)]


def test_original_pace_scaled(session_path: Path) -> None:
    with target_app() as app, relaying(session_path, None) as eng:
        base = 1_700_000_000_000_000
        # originals 0 s, 1 s and 3 s apart; at 10x: 0, 0.1, 0.3 s
        items = [
            ReplayItem(None, "POST", app.url, [], b"%d" % i, base + d)
            for i, d in enumerate((0, 1_000_000, 3_000_000))
        ]
        _run(eng, items, speed=10.0)
        t = [r.at for r in app.received]
        gaps = [t[1] - t[0], t[2] - t[0]]
        assert 0.08 <= gaps[0] <= 0.25 and 0.27 <= gaps[1] <= 0.5, gaps
        app.received.clear()
        start = time.monotonic()
        _run(eng, items)  # as fast as possible
        assert time.monotonic() - start < 0.25


def test_pause_and_cancel(session_path: Path) -> None:
    async def slow(request: web.Request, body: bytes) -> web.StreamResponse:
        await asyncio.sleep(0.02)
        return web.Response(text="ok")

    with target_app(answer=slow) as app, relaying(session_path, None) as eng:
        items = [ReplayItem(None, "POST", app.url, [], b"%d" % i) for i in range(50)]
        seen: list[ReplayProgress] = []
        batch = ReplayBatch(items, on_progress=seen.append)
        relay = eng.relay
        batch.pause()
        fut = eng.call(batch.run(relay.client, eng.relay.replay_sink, relay=relay))
        time.sleep(0.3)
        assert app.received == [] and seen and seen[-1].paused
        batch.resume()
        wait_for(lambda: len(app.received) >= 3)
        batch.cancel()
        final = fut.result(20)
        assert final.cancelled and final.finished
        assert final.done < 50
        assert final.results[0].answer.status == 200  # answered before the cancel: kept
        cancelled = [r for r in final.results if r.answer.error]
        assert len(cancelled) <= 1  # one at a time: only the one in flight
        assert len(app.received) in (final.done, final.done - 1)


@pytest.mark.slow
def test_engine_loop_keeps_answering_with_1000_replays_queued_at_a_silent_app(
    session_path: Path,
) -> None:
    async def never(request: web.Request, body: bytes) -> web.StreamResponse:
        await asyncio.sleep(3600)
        raise AssertionError

    with target_app(answer=never) as app, relaying(session_path, None) as eng:
        items = [ReplayItem(None, "POST", app.url, [], b"%d" % i) for i in range(1000)]
        batch = ReplayBatch(items, concurrency=50, deadline=30.0)
        relay = eng.relay
        fut = eng.call(batch.run(relay.client, eng.relay.replay_sink, relay=relay))
        wait_for(lambda: len(app.received) >= 50)
        worst = 0.0
        for i in range(40):
            started = time.monotonic()
            status, _, _ = post(eng.url, b'{"ping":%d}' % i)
            worst = max(worst, time.monotonic() - started)
            assert status == 200
        # and a plain coroutine on the loop returns at once
        started = time.monotonic()
        eng.call(asyncio.sleep(0)).result(5)
        loop_turn = time.monotonic() - started
        batch.cancel()
        final = fut.result(30)
        assert final.cancelled and not fut.exception()
        assert worst < 1.0, worst
        assert loop_turn < 0.5, loop_turn


@pytest.mark.parametrize("sink", ["engine"])
def test_replay_rows_keep_the_captures_around_them_searchable(
    session_path: Path, sink: str
) -> None:
    """Replay rows go through the writer: an in-process commit that indexed them at once
    moved the index mark past captures the writer had not indexed yet, and a body search
    no longer found those."""
    from inspector.core.session.query import compile_query, fetch_ids

    with target_app() as app, relaying(session_path, None) as eng:
        for i in range(5):
            post(eng.url, b'{"word": "alpha", "n": %d}' % i)
        replay_sink = eng.relay.replay_sink if sink == "engine" else StoreSink(eng.store)
        item = item_from_stored(_stored(eng, 1), app.url)
        batch = ReplayBatch([item])
        eng.call(batch.run(eng.relay.client, replay_sink, relay=eng.relay)).result(20)
        time.sleep(0.3)  # the writer indexes in a quiet moment
        conn = eng.store.open_reader()
        try:
            from inspector.core.session.query import register_functions

            register_functions(conn)
            assert fetch_ids(conn, compile_query("alpha")) == [1, 2, 3, 4, 5, 6]
        finally:
            conn.close()
