"""The filter language in Python (response rules) agrees with its SQL (the table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.core.provider.decoder import EventDecoder
from inspector.core.provider.simulator import SAMPLES, build, new_context
from inspector.core.session.query import (
    QueryError,
    compile_predicate,
    compile_query,
    fetch_ids,
    register_functions,
)
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import SessionStore
from tests.conftest import CATALOGUE
from tests.factories import captured_request

QUERIES = [
    "",
    "event:whatsapp:message:status",
    "event:whatsapp",
    "event:unsubscription",
    "event:none",
    "event:sms class:failure",
    "product:rcs",
    "product:interact",
    "-product:viber",
    "class:success",
    "class:opt-out",
    "class:inbound OR class:info",
    "status:read",
    "status:DELIVRD",
    "status:delivrd",
    "status:failed",
    "from:9190",
    "from:*XXXX",
    "from:*xxxx",
    "to:9190",
    "to:*0199",
    "id:a418",
    "id:*xxx",
    "method:POST",
    "method:get",
    "path:/sms",
    "path:/whatsapp",
    "has:warning",
    "-has:warning",
    "has:event",
    "has:body",
    "has:tunnel",
    "deliv",
    "delivered",
    '"simple text message"',
    '"text message from"',
    "caption",
    '/"units":\\s*[2-9]/',
    "/WHATSAPP/i",
    "/whatsapp/",
    "(product:whatsapp OR product:rcs) -status:read",
    "not class:pending and product:sms",
    "rule:x",
    "rule:verification",
]


def _requests() -> list[CapturedRequest]:
    reqs: list[CapturedRequest] = []
    seq = 0
    for path in sorted(CATALOGUE.glob("*.json")):
        seq += 1
        product = path.stem.split("_")[1]
        reqs.append(captured_request(f"/{product}", path.read_bytes(), seq=seq))
    ctx = new_context(seed=7)
    for name in SAMPLES:
        for sim in build(name, ctx):
            seq += 1
            reqs.append(
                captured_request(
                    sim.path,
                    sim.body,
                    seq=seq,
                    method=sim.method,
                    query=sim.query,
                    headers=list(sim.headers),
                )  # fmt: skip
            )
    seq += 1
    reqs.append(captured_request("/x", b"\xff\xfe not utf-8", seq=seq))
    seq += 1
    reqs.append(captured_request("/empty", b"", seq=seq, method="GET"))
    return reqs


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path: Path = tmp_path_factory.mktemp("pred") / "p.whsession"
    store = SessionStore(path)
    decoder = EventDecoder()
    pairs = [(r, decoder.decode(r.method, r.path, r.query, r.headers, r.body)) for r in _requests()]
    pairs[0][0].answer_source = "rule:x"
    pairs[1][0].answer_source = "verification"
    pairs[2][0].via_tunnel = True
    summaries = store.append(pairs)
    conn = store.open_reader()
    register_functions(conn)
    yield conn, [(s.id, r, d) for s, (r, d) in zip(summaries, pairs, strict=True)]
    conn.close()
    store.close()


@pytest.mark.parametrize("text", QUERIES)
def test_python_and_sql_agree(stored, text: str) -> None:  # type: ignore[no-untyped-def]
    conn, rows = stored
    sql = set(fetch_ids(conn, compile_query(text), limit=10_000))
    predicate = compile_predicate(text)
    python = {rid for rid, req, dec in rows if predicate(req, dec)}
    assert python == sql
    if text not in ("", "-has:warning", "has:body", "method:POST", "has:event", "-product:viber"):
        assert len(sql) < len(rows)  # the catalogue tells these queries' matches apart


@pytest.mark.parametrize("text", ["evnt:x", "event:nothing", "product:fax", "(a", "/[/"])
def test_python_refuses_what_sql_refuses_with_the_same_words(text: str) -> None:
    with pytest.raises(QueryError) as sql:
        compile_query(text)
    with pytest.raises(QueryError) as python:
        compile_predicate(text)
    assert str(python.value) == str(sql.value)


def test_auth_terms_match_the_checks_run_before_the_answer() -> None:
    from inspector.core.provider.decoder import DecodedEvent
    from inspector.core.session.query import compile_predicate
    from tests.factories import captured_request

    req = captured_request("/whatsapp", b"{}", seq=1)
    failed = DecodedEvent(auth=[("signature", "wrong", "does not match")])
    passed = DecodedEvent(auth=[("bearer", "ok", "")])
    unchecked = DecodedEvent()
    assert compile_predicate("auth:failed")(req, failed)
    assert not compile_predicate("auth:failed")(req, passed)
    assert compile_predicate("auth:ok")(req, passed)
    assert compile_predicate("auth:none")(req, unchecked)
    assert not compile_predicate("-auth:none")(req, unchecked)


@pytest.mark.parametrize("text", ["is:retry", "app:5xx", "product:sms app:none"])
def test_terms_known_only_after_the_answer_are_refused_with_a_reason(text: str) -> None:
    from inspector.core.session.query import QueryError, compile_predicate

    with pytest.raises(QueryError, match="a rule cannot match on it"):
        compile_predicate(text)
