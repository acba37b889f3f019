"""The status table, the delivery report's unix-time twins and carrier, composed templates."""

from __future__ import annotations

import pytest

from inspector.core.provider.compose import TemplateError, parse_template, parse_templates
from inspector.core.provider.delivery_rules import judge
from inspector.core.provider.dlr_fields import carrier_line, twin_lines, twin_problems, twin_times
from inspector.core.provider.status_table import SMS_STATUSES, status_meaning
from inspector.core.session.query import KNOWN_VALUES

TWINS = {
    "deliv_time": "2021-04-09 16:27:51",
    "sent_time": "2021-04-09 16:27:35",
    "deliv_at": "1617965871",  # 10:57:51 UTC = 16:27:51 at UTC+05:30
    "sent_at": "1617965855",
}


def test_every_documented_failure_is_a_failure_with_a_meaning() -> None:
    documented = (
        "INVALID-SUB ABSENT-SUB HANDSET-ERR BARRED NET-ERR MEMEXEC FAILED MOB-OFF HANDSET-BUSY "
        "SERIES-BLK SERIES-BLOCK EXPIRED UNDELIV NO-CREDITS NO-ACCOUNT SERVER-ERR INV-NUMBER SPAM "
        "DNDNUMB BLACKLST SNDR-BLOCK TEMPLATE-NOT-FOUND INV-TEMPLATE INV-SENDER NOT-OPTIN "
        "OPTOUT-REJ PROMO-TMOUT REJECTED NOTALLOWED DUPLICATE THROTTLED REJ-MULTIPART DLT-REJECTED "
        "DLT-INV-TMID DLT-INV-ENTITY DLT-INV-TM-ID DLT-TM-VAR-EXECEED DLT-ENTITY-NOT-FOUND "
        "DLT-TM-BLACKLST DLT-ENTITY-BLACKLST DLT-HEADER-INACTIVE DLT-TM-INACTIVE "
        "DLT-SENDER-NOT-REG-TM INV-PROVISION INV-SERVICE INV-SCHEDULE"
    ).split()
    for code in documented:
        assert SMS_STATUSES[code].status_class == "failure", code
        assert SMS_STATUSES[code].meaning, code
    assert SMS_STATUSES["DELIVRD"].status_class == "success"
    assert SMS_STATUSES["AWAITING-DLR"].status_class == "pending"
    assert status_meaning("sms", "sms:message:status", "mob-off") == "the handset is switched off"
    assert status_meaning("sms", "sms:message:status", "WEIRD") == ""
    assert {"MOB-OFF", "DNDNUMB", "AWAITING-DLR"} <= set(KNOWN_VALUES["status"])


def test_twins_that_agree_show_their_zone() -> None:
    twins = twin_times(TWINS)
    assert twin_problems(twins, TWINS) == []
    assert twin_lines(twins)[1] == (
        "delivered: deliv_at 1617965871 = 2021-04-09 10:57:51 UTC = 16:27:51 UTC+05:30"
    )


def test_a_twin_that_disagrees_is_a_warning() -> None:
    data = dict(TWINS, sent_at="1617965000")
    [problem] = twin_problems(twin_times(data), data)
    assert problem.startswith("sent_at (2021-04-09 10:43:20 UTC) disagrees with sent_time")


def test_twins_in_different_zones_are_a_warning() -> None:
    data = dict(TWINS, sent_at=str(1617965855 + 1800))
    [problem] = twin_problems(twin_times(data), data)
    assert "different zones" in problem


def test_carrier_line() -> None:
    data = {"provider": "Jio", "provider_code": "RJ", "region": "Bangalore", "region_code": "KA",
            "location": "India", "location_code": "in"}  # fmt: skip
    assert carrier_line(data) == "Jio (RJ) \u00b7 Bangalore (KA) \u00b7 India"
    assert carrier_line({"provider": "Jio"}) == "Jio"
    assert carrier_line({}) == ""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("DELETE https://x/a?m=@{{id}}", "is not GET, POST or PUT"),
        ("GET https://x/@{{id}}/a", "placeholders in the URL path"),
        ("POST https://x/a\n{\"a\": @{{id}", "does not parse"),
    ],
)
def test_template_errors(text: str, fragment: str) -> None:
    with pytest.raises(TemplateError, match=fragment):
        parse_template(text)


def test_templates_split_on_dashes_and_keep_methods() -> None:
    first, second = parse_templates("GET /a?x=@{{id}}\n---\n/b\nid=@{{id}}&s=@{{status}}")
    assert (first.method, first.path, first.body_kind) == ("GET", "/a", "")
    assert (second.method, second.path, second.body_kind) == ("POST", "/b", "form")
    assert second.variables == ("id", "status")


def test_delivery_rules_per_product() -> None:
    assert judge("sms", "sms:message:status", 204) is not None
    assert not judge("sms", "sms:message:status", 204).delivered  # type: ignore[union-attr]
    assert judge("voice", "voice:message:out", 202).delivered  # type: ignore[union-attr]
    assert judge("rcs", "rcs:message:status", 204).delivered  # type: ignore[union-attr]
    assert judge("webhook", "webhook:verification", 500) is None
    assert judge("contacts", "contacts:subscriber:subscription", 500) is None
