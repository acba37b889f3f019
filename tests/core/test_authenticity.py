"""Authenticity checks against published test vectors and the provider's own signer."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from inspector.core.provider.authenticity import AuthChecks, overall

# GitHub's published test values ("Validating webhook deliveries", Testing the webhook payload
# validation: https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries).
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# The Standard Webhooks specification's example, as its reference libraries test it
# (standard-webhooks/standard-webhooks, libraries/*: the "sign" test vector).
SW_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def github(**extra: object) -> AuthChecks:
    settings = {"header": "X-Hub-Signature-256", "prefix": "sha256=", "keys": [GITHUB_SECRET]}
    settings.update(extra)
    return AuthChecks({"hmac": settings})


def test_githubs_test_vector_matches() -> None:
    [result] = github().check([("X-Hub-Signature-256", GITHUB_SIGNATURE)], GITHUB_BODY)
    assert result.result == "ok"
    assert "HMAC-SHA256 with HMAC key over 13 bytes" in result.detail


def test_githubs_vector_with_one_byte_changed_is_a_mismatch() -> None:
    [result] = github().check([("X-Hub-Signature-256", GITHUB_SIGNATURE)], b"Hello, World?")
    assert result.result == "mismatch"


def test_generic_hmac_without_its_prefix_is_a_mismatch() -> None:
    bare = GITHUB_SIGNATURE.removeprefix("sha256=")
    [result] = github().check([("X-Hub-Signature-256", bare)], GITHUB_BODY)
    assert result.result == "mismatch" and "'sha256='" in result.detail


def test_generic_hmac_missing_header() -> None:
    [result] = github().check([], GITHUB_BODY)
    assert result == ("hmac", "missing", "No X-Hub-Signature-256 header")


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_generic_hmac_in_base64_for_each_algorithm(algorithm: str) -> None:
    checks = AuthChecks(
        {"hmac": {"header": "X-Sig", "algorithm": algorithm, "encoding": "base64", "keys": ["k"]}}
    )
    digest = base64.b64encode(hmac.new(b"k", b"body", algorithm).digest()).decode()
    assert checks.check([("X-Sig", digest)], b"body")[0].result == "ok"
    assert checks.check([("X-Sig", digest)], b"bodY")[0].result == "mismatch"


def standard(received: int) -> str:
    checks = AuthChecks({"standard_webhooks": {"keys": [SW_KEY]}})
    headers = [
        ("webhook-id", SW_ID),
        ("webhook-timestamp", str(SW_TIMESTAMP)),
        ("webhook-signature", f"v1,bm9wZQ== {SW_SIGNATURE}"),  # several signatures, one good
    ]
    [result] = checks.check(headers, SW_BODY, received_us=received * 1_000_000)
    return result.result


def test_standard_webhooks_example_verifies() -> None:
    assert standard(SW_TIMESTAMP + 10) == "ok"


def test_standard_webhooks_outside_five_minutes_is_wrong() -> None:
    assert standard(SW_TIMESTAMP + 299) == "ok"
    assert standard(SW_TIMESTAMP + 301) == "wrong"
    assert standard(SW_TIMESTAMP - 301) == "wrong"


def test_standard_webhooks_missing_headers_are_named() -> None:
    checks = AuthChecks({"standard_webhooks": [SW_KEY]})
    [result] = checks.check([("webhook-id", SW_ID)], SW_BODY)
    assert result.result == "missing"
    assert result.detail == "No webhook-timestamp, webhook-signature header"


def test_a_standard_webhooks_key_that_is_not_base64_is_refused() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        AuthChecks({"standard_webhooks": ["whsec_not base64!"]})


# -- the provider's own schemes ---------------------------------------------------------------

BODY = b'{"event":"whatsapp:message:status","payload":{"url":"https:\\/\\/x.example\\/a"}}'


def spatie(body: bytes, key: str) -> str:
    """The provider's sender library's default signer: PHP ``hash_hmac('sha256', $body, $key)``."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def test_signature_names_the_key_that_matched() -> None:
    checks = AuthChecks({"signing_keys": ["webhook-id-1", "webhook-id-2"], "secret": "s3cret"})
    for key, label in (
        ("webhook-id-1", "signing key 1"),
        ("webhook-id-2", "signing key 2"),
        ("s3cret", "the webhook secret"),
    ):
        results = checks.check(
            [("Authorization", "Bearer s3cret"), ("Signature", spatie(BODY, key))],
            BODY,
            product="whatsapp",
        )
        assert [r[:2] for r in results] == [("bearer", "ok"), ("signature", "ok")]
        assert f"computed with {label} over {len(BODY)} bytes" in results[1].detail


def test_a_re_encoded_body_does_not_match() -> None:
    checks = AuthChecks({"signing_keys": ["wid"]})
    signature = spatie(BODY, "wid")
    reencoded = BODY.replace(b"\\/", b"/")  # what json.dumps of the parsed body would send
    [result] = checks.check([("Signature", signature)], reencoded, product="rcs")
    assert result.result == "mismatch"
    assert "re-encodes JSON" in result.detail


def test_signature_missing_only_where_the_provider_signs() -> None:
    checks = AuthChecks({"signing_keys": ["wid"]})
    assert checks.check([], BODY, product="viber")[0].result == "missing"
    assert checks.check([], BODY, product="sms") == []


def test_secrets_never_appear_in_a_detail() -> None:
    checks = AuthChecks({"signing_keys": ["wid-SECRETKEY"], "secret": "TOPSECRET"})
    results = checks.check(
        [("Authorization", "Bearer nope"), ("Signature", "00")], BODY, product="whatsapp"
    )
    text = " ".join(r.detail for r in results)
    assert "SECRETKEY" not in text and "TOPSECRET" not in text


def test_overall() -> None:
    assert overall([]) == ""
    assert overall([("bearer", "ok", ""), ("signature", "ok", "")]) == "ok"
    assert overall([("bearer", "ok", ""), ("signature", "missing", "")]) == "missing"
    assert overall([("bearer", "wrong", ""), ("signature", "missing", "")]) == "failed"
    assert overall([("signature", "mismatch", "")]) == "failed"


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown authenticity settings: tokens"):
        AuthChecks({"tokens": "x"})
    with pytest.raises(ValueError, match="not one of sha1, sha256, sha512"):
        AuthChecks({"hmac": {"header": "X", "algorithm": "md5", "keys": ["k"]}})
