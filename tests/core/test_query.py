"""The filter language against a real session store filled through the real decoder."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.core.provider.decoder import EventDecoder
from inspector.core.session import query as query_module
from inspector.core.session.query import (
    QueryError,
    bind,
    compile_query,
    count_matching,
    fetch_ids,
    fetch_summaries,
    parse,
    position_of,
    register_functions,
)
from inspector.core.session.store import SessionStore, commit_batch
from tests.factories import append_decoded, captured_request

CATALOGUE = Path(__file__).parent.parent / "fixtures" / "catalogue"


def _status(event: str, status: str, msg_id: str, to: str) -> bytes:
    product = event.split(":")[0]
    payload = {
        "id": msg_id,
        "channel": product,
        "from": "919019120000",
        "to": to,
        "status": status,
        "timestamp": "2021-06-18T14:48:06.886358Z",
    }
    return json.dumps({"event": event, "payload": payload}).encode()


def _fill(store: SessionStore, indexed: str = "all") -> dict[str, int]:
    """The 19 catalogue payloads plus status variants; returns name -> id.

    ``indexed``: how many rows the lookup tables and the text index cover yet
    ("all", "half", "none"), as the writer process leaves them between its index runs.
    """
    items: list[tuple[str, str, str, bytes]] = []
    for p in sorted(CATALOGUE.glob("*.json")):
        product = p.stem.split("_")[1]
        items.append((p.stem, "POST", f"/{product}", p.read_bytes()))
    items += [
        (
            "wa_delivered",
            "POST",
            "/hooks",
            _status("whatsapp:message:status", "delivered", "m-1", "447700900001"),
        ),
        (
            "wa_failed",
            "POST",
            "/hooks",
            _status("whatsapp:message:status", "failed", "m-2", "447700900002"),
        ),
        (
            "rcs_sent",
            "POST",
            "/hooks",
            _status("rcs:message:status", "sent", "x-3", "919000000003"),
        ),
        ("get_ping", "GET", "/health", b""),
        ("plain", "PUT", "/sms/dlr", b"hello world, special_token and 100% pure"),
    ]
    requests = [
        captured_request(path, body, seq=seq, method=method)
        for seq, (_, method, path, body) in enumerate(items, start=1)
    ]
    split = {"all": len(requests), "half": len(requests) // 2, "none": 0}[indexed]
    summaries = append_decoded(store, requests[:split]) if split else []
    decoder = EventDecoder()
    summaries += commit_batch(
        store._conn,
        [
            (r, decoder.decode(r.method, r.path, r.query, r.headers, r.body))
            for r in requests[split:]
        ],
    )[0]
    return {name: s.id for (name, *_), s in zip(items, summaries, strict=True)}


@pytest.fixture(
    params=[(i, lookups) for i in ("all", "half", "none") for lookups in (True, False)],
    ids=lambda p: f"indexed-{p[0]}-{'lookups' if p[1] else 'scans'}",
)
def db(
    session_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[sqlite3.Connection, dict[str, int]]]:
    """Every filter must give the same answer however far the writer's indexing has got,
    whether its terms are answered by the lookup tables or by scanning the rows."""
    indexed, lookups = request.param
    monkeypatch.setattr(query_module, "_lookup_cache", {})
    if not lookups:
        monkeypatch.setattr(query_module, "_LOOKUP_MIN_ROWS", 0)
        monkeypatch.setattr(query_module, "LOOKUP_SHARE", 0.0)
    store = SessionStore(session_path)
    names = _fill(store, indexed)
    conn = store.open_reader()
    register_functions(conn)
    try:
        yield conn, names
    finally:
        conn.close()
        store.close()


def _names(db: tuple[sqlite3.Connection, dict[str, int]], text: str) -> set[str]:
    conn, names = db
    ids = set(fetch_ids(conn, compile_query(text), limit=1000))
    assert count_matching(conn, compile_query(text)) == len(ids)
    return {n for n, i in names.items() if i in ids}


def _all(db: tuple[sqlite3.Connection, dict[str, int]]) -> set[str]:
    return set(db[1])


def test_empty_filter_matches_everything(db) -> None:
    assert _names(db, "") == _all(db)
    assert _names(db, "   ") == _all(db)
    assert compile_query("").is_empty


def test_free_text_is_a_prefix_search_over_bodies(db) -> None:
    assert _names(db, "special_token") == {"plain"}
    assert _names(db, "speci") == {"plain"}
    assert _names(db, "HELLO") == {"plain"}
    assert _names(db, "caption") == {"05_whatsapp_message_in_image", "09_rcs_message_in_image"}
    assert _names(db, "nomatchanywhere") == set()


def test_several_words_must_all_match(db) -> None:
    assert _names(db, "hello pure") == {"plain"}
    assert _names(db, "hello caption") == set()


def test_quoted_phrase_is_exact_and_ordered(db) -> None:
    assert _names(db, '"hello world"') == {"plain"}
    assert _names(db, '"world hello"') == set()
    assert _names(db, '"hell"') == set()  # a phrase is not a prefix search


def test_regex_runs_over_the_body_text(db) -> None:
    assert _names(db, r"/100% pure/") == {"plain"}
    assert _names(db, r"/HELLO w/") == set()
    assert _names(db, r"/HELLO w/i") == {"plain"}
    assert _names(db, r"/deliv_time.*16:27:51/") == {"01_sms_message_status"}


def test_text_with_quotes_cannot_inject(db) -> None:
    assert _names(db, '"a\\" OR b"') == set()
    assert _names(db, 'from:"x\' OR 1=1 --"') == set()


def test_event_field_full_name_and_parts(db) -> None:
    assert _names(db, "event:whatsapp:message:status") == {
        "03_whatsapp_message_status",
        "wa_delivered",
        "wa_failed",
    }
    assert _names(db, "event:viber") == {
        "13_viber_message_status",
        "14_viber_message_in_text",
        "15_viber_message_in_image",
        "16_viber_unsubscription",
    }
    assert len(_names(db, "event:unsubscription")) == 5
    assert _names(db, "event:message:in") >= {"17_vmn_message_in", "04_whatsapp_message_in_text"}
    assert _names(db, "event:none") == {"get_ping", "plain"}


def test_product_status_class_method_fields(db) -> None:
    assert _names(db, "product:rcs") == {
        "07_rcs_message_status",
        "08_rcs_message_in_text",
        "09_rcs_message_in_image",
        "10_rcs_unsubscription",
        "rcs_sent",
    }
    assert _names(db, "product:Interact") == {"17_vmn_message_in"}
    assert _names(db, "status:FAILED") == {"wa_failed"}
    assert _names(db, "status:delivrd") == {"01_sms_message_status"}
    assert _names(db, 'status:"Subscriber updated successfully"') == {
        "19_contacts_subscriber_updated"
    }
    assert _names(db, "class:failure") == {"wa_failed"}
    assert _names(db, "class:pending") == {"rcs_sent"}
    assert _names(db, "class:opt-out") == _names(db, "class:opt_out")
    assert len(_names(db, "class:opt_out")) == 5
    assert _names(db, "method:get") == {"get_ping"}
    assert _names(db, "method:PUT") == {"plain"}


def test_address_and_id_fields_are_prefix_or_star_substring(db) -> None:
    assert _names(db, "to:4477009") == {"wa_delivered", "wa_failed"}
    assert _names(db, "to:77009") == set()
    assert _names(db, "to:*77009") == {"wa_delivered", "wa_failed"}
    assert _names(db, "from:demo@") == {
        "18_contacts_subscriber_created",
        "19_contacts_subscriber_updated",
    }
    assert _names(db, "id:m-") == {"wa_delivered", "wa_failed"}
    assert _names(db, "id:*-2") == {"wa_failed"}
    assert _names(db, "to:*100%") == set()  # % is literal, not a wildcard


def test_path_is_a_prefix(db) -> None:
    assert _names(db, "path:/sms") == {"01_sms_message_status", "02_sms_unsubscription", "plain"}
    assert _names(db, "path:/health") == {"get_ping"}


def test_has_fields(db) -> None:
    warned = _names(db, "has:warning")
    assert "01_sms_message_status" in warned and "wa_failed" not in warned
    assert _names(db, "has:tunnel") == set()
    assert _names(db, "-has:body") == {"get_ping"}
    assert _names(db, "has:event") == _all(db) - {"get_ping", "plain"}


def test_negation_with_minus_and_not(db) -> None:
    rcs = _names(db, "product:rcs")
    assert _names(db, "-product:rcs") == _all(db) - rcs
    assert _names(db, "not product:rcs") == _all(db) - rcs
    assert _names(db, "NOT product:rcs") == _all(db) - rcs
    assert _names(db, "product:rcs -class:opt_out") == rcs - {"10_rcs_unsubscription"}
    assert _names(db, "-hello") == _all(db) - {"plain"}


def test_or_and_parentheses(db) -> None:
    assert _names(db, "class:failure OR class:pending") == {"wa_failed", "rcs_sent"}
    assert _names(db, "class:failure | class:pending") == {"wa_failed", "rcs_sent"}
    assert _names(db, "product:sms (method:PUT OR class:success)") == {"01_sms_message_status"}
    assert _names(db, "path:/sms (method:PUT OR class:success)") == {
        "plain",
        "01_sms_message_status",
    }
    # AND binds tighter than OR
    assert _names(db, "class:failure OR product:rcs class:pending") == {"wa_failed", "rcs_sent"}
    assert _names(db, "product:rcs AND class:pending") == {"rcs_sent"}


def test_a_quoted_keyword_is_a_word() -> None:
    node = parse('"or"')
    assert node is not None and type(node).__name__ == "Text"


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("a OR", 2, "OR needs a term"),
        ("OR a", 0, "OR needs a term"),
        ("(a", 0, "never closed"),
        ("a (", 2, "never closed"),
        ("a)", 1, "unexpected ')'"),
        ("()", 0, "empty parentheses"),
        ('"abc', 0, "unterminated quote"),
        ("/abc", 0, "unterminated /regex/"),
        ("/a(/", 2, "invalid regex"),
        ("/a/x", 3, "unknown regex flag"),
        ("foo:bar", 0, "unknown field 'foo:'"),
        ("x event:", 2, "event: needs a value"),
        ("event:zzz", 0, "no event matches"),
        ("product:telegram", 0, "unknown product"),
        ("class:nope", 0, "unknown status class"),
        ("has:money", 0, "has:money is not known"),
        ("a -", 2, "'-' must be followed"),
        ("not", 0, "NOT needs a term"),
        ("!!!", 0, "no letters or digits"),
        ("to:*", 0, "needs text after the *"),
    ],
)
def test_errors_say_where_and_what(text: str, position: int, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(text)
    assert info.value.position == position
    assert fragment in info.value.message
    assert str(info.value).startswith(f"column {position + 1}:")


def test_sorting_pages_and_positions(db) -> None:
    conn, names = db
    q = compile_query("")
    asc = fetch_ids(conn, q, limit=1000)
    assert asc == sorted(asc)
    assert fetch_ids(conn, q, descending=True, limit=1000) == asc[::-1]
    page = fetch_ids(conn, q, offset=5, limit=3)
    assert page == asc[5:8]
    by_event = fetch_ids(conn, q, sort_column="event", limit=1000)
    summaries = fetch_summaries(conn, by_event)
    keys = [(summaries[i].event, i) for i in by_event]
    assert keys == sorted(keys)
    for row, rid in enumerate(by_event):
        assert position_of(conn, q, rid, sort_column="event") == row
    desc_size = fetch_ids(conn, q, sort_column="body_size", descending=True, limit=1000)
    for row, rid in enumerate(desc_size):
        assert position_of(conn, q, rid, sort_column="body_size", descending=True) == row
    assert position_of(conn, compile_query("product:rcs"), names["plain"]) is None
    assert fetch_ids(conn, q, max_id=3, limit=1000) == [1, 2, 3]
    assert fetch_ids(conn, q, min_id=22, limit=1000) == [i for i in asc if i > 22]
    with pytest.raises(ValueError):
        fetch_ids(conn, q, sort_column="body; DROP TABLE requests")


def test_fetch_summaries_returns_decoded_columns(db) -> None:
    conn, names = db
    got = fetch_summaries(conn, [names["wa_failed"], 99999])
    assert list(got) == [names["wa_failed"]]
    s = got[names["wa_failed"]]
    assert (s.event, s.status, s.status_class, s.to_addr) == (
        "whatsapp:message:status",
        "failed",
        "failure",
        "447700900002",
    )


@pytest.mark.parametrize(
    ("text", "phrase", "expected"),
    [
        ("deliv", 0, True),
        ("deliv", 1, False),
        ("delivered", 1, True),
        ("simple text", 1, True),
        ("simple tex", 0, True),
        ("text simple", 1, False),
        ("CAFÉ", 0, True),
        ("nothing", 0, False),
    ],
)
def test_rows_not_yet_indexed_match_like_the_full_text_index(
    tmp_path, text: str, phrase: int, expected: bool
) -> None:
    """The writer indexes text after acknowledging; a search must not miss those rows."""
    from inspector.core.provider.decoder import DecodedEvent
    from inspector.core.session.record import CapturedRequest
    from inspector.core.session.store import SessionStore, commit_batch

    store = SessionStore(tmp_path / "unindexed.whsession")
    body = '{"status": "delivered", "text": "A simple text from the café"}'.encode()
    req = CapturedRequest(1, 1, "POST", "/x", "", "1.1", "127.0.0.1", [], body)
    commit_batch(store._conn, [(req, DecodedEvent())])  # committed, text not indexed
    conn = store.open_reader()
    register_functions(conn)
    term = f'"{text}"' if phrase else text
    q = compile_query(term)
    assert count_matching(conn, q) == (1 if expected else 0)
    conn.close()
    store.close()


def test_required_terms_use_a_lookup_only_when_few_rows_match(db) -> None:
    conn, _names = db
    query = compile_query("class:failure method:POST")
    sql = f"EXPLAIN QUERY PLAN SELECT id FROM requests WHERE {bind(conn, query)}"
    plan = " ".join(str(r) for r in conn.execute(sql, query.params))
    # Few rows of the session match... unless scans were forced for this run.
    assert ("by_class" in plan) == (query_module.LOOKUP_SHARE > 0)
    # Under OR and NOT a term never uses its lookup table: every row is read anyway.
    for text in ("class:failure OR method:GET", "-class:failure", "-(event:sms id:m)"):
        assert compile_query(text).lookups == ()
        assert "by_" not in bind(conn, compile_query(text))


def test_a_lookup_is_left_out_when_most_rows_match(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "many.whsession")
    body = b'{"event": "whatsapp:message:status", "payload": {"id": "x", "status": "read"}}'
    append_decoded(store, [captured_request("/wa", body, seq=n) for n in range(1, 3001)])
    conn = store.open_reader()
    try:
        query = compile_query("event:whatsapp:message:status")
        assert len(query.lookups) == 1
        # 3,000 of 3,000 rows match: collecting them from the lookup table would cost
        # more than checking each row's column.
        assert "by_event" not in bind(conn, query)
        assert count_matching(conn, query) == 3000
        assert "by_event" in bind(conn, compile_query("event:sms"))
    finally:
        conn.close()
        store.close()


def test_quotes_in_looked_up_values_cannot_inject(db) -> None:
    conn, _names = db
    for text in ("id:'", 'id:"x\' OR 1=1 --"', "id:a'b"):
        assert count_matching(conn, compile_query(text)) == 0
