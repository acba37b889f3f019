"""Lenient JSON: mends what the provider's own examples get wrong, says where, alters nothing else."""

from __future__ import annotations

import json

import pytest

from inspector.core.provider.lenient_json import parse_lenient


def test_valid_json_has_no_warning() -> None:
    r = parse_lenient('{"a": [1, 2], "b": "x, }"}')
    assert r.ok and r.value == {"a": [1, 2], "b": "x, }"} and r.warnings == []


@pytest.mark.parametrize(
    ("text", "value", "where"),
    [
        (
            '{"a": 1,\n "b": [1,2,],}',
            {"a": 1, "b": [1, 2]},
            ["trailing comma at line 2 column 11", "trailing comma at line 2 column 13"],
        ),
        (
            '{"bridge": 91806828XXXX, "s": "x, }\\" y",}',
            {"bridge": "91806828XXXX", "s": 'x, }" y'},
            [
                "unquoted value 91806828XXXX at line 1 column 12",
                "trailing comma at line 1 column 41",
            ],
        ),
        (
            '{"s": "a,]", "n": [1 , ]}',
            {"s": "a,]", "n": [1]},
            ["trailing comma at line 1 column 22"],
        ),
    ],
)
def test_faults_are_mended_and_located(text: str, value: object, where: list[str]) -> None:
    r = parse_lenient(text)
    assert r.ok and r.value == value
    assert len(r.warnings) == 1
    for w in where:
        assert w in r.warnings[0]


def test_many_faults_fall_back_to_one_pass_and_are_counted() -> None:
    text = "[" + ",".join(f'{{"n": {i}X,}}' for i in range(30)) + ",]"
    r = parse_lenient(text)
    assert r.ok and len(r.value) == 30 and r.value[0] == {"n": "0X"}
    assert "(and 56 more)" in r.warnings[0]


@pytest.mark.parametrize("text", ['{"a": "x" junk}', "not json", '{"a": 1'])
def test_what_cannot_be_mended_reports_the_parser_error(text: str) -> None:
    r = parse_lenient(text)
    assert not r.ok and r.value is None
    assert (
        r.warnings[0].startswith("body is not valid JSON: ")
        and " at line 1 column " in r.warnings[0]
    )
    assert "decoded leniently" not in r.warnings[0]


def test_a_large_body_with_one_trailing_comma_is_mended() -> None:
    items = [{"id": i, "text": "x" * 100} for i in range(40_000)]
    text = json.dumps({"items": items})[:-1] + ",}"
    assert len(text) > 4_000_000
    r = parse_lenient(text)
    assert r.ok and len(r.value["items"]) == 40_000
    assert "trailing comma at line 1" in r.warnings[0]
