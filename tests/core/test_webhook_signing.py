"""Standard Webhooks signing and verification."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import httpx
import pytest

from dropkit.core.errors import WebhookError, WebhookVerificationError
from dropkit.core.webhooks.signing import (
    DEFAULT_TOLERANCE,
    generate_secret,
    sign,
    signature_headers,
    verify,
)

# The known-answer vector from the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def spec_headers(**overrides: str) -> dict[str, str]:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    headers.update(overrides)
    return headers


def verify_spec(headers: dict[str, str], body: bytes = SPEC_BODY) -> None:
    verify(SPEC_SECRET, headers, body, now=SPEC_TIMESTAMP)


def test_sign_matches_the_spec_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_secret_without_prefix_is_raw_base64() -> None:
    raw = SPEC_SECRET.removeprefix("whsec_")
    assert sign(raw, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_verify_accepts_the_spec_vector() -> None:
    verify_spec(spec_headers())


def test_generated_secret_is_prefixed_random_and_long_enough() -> None:
    first, second = generate_secret(), generate_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) >= 24


def test_round_trip_with_signature_headers() -> None:
    secret = generate_secret()
    body = b'{"event": "order.paid"}'
    headers = signature_headers(secret, "msg_1", body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_1"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    verify(secret, headers, body)


def test_signature_headers_with_explicit_timestamp() -> None:
    headers = signature_headers(SPEC_SECRET, SPEC_ID, SPEC_BODY, timestamp=SPEC_TIMESTAMP)
    assert headers == spec_headers()


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_abc", "whsec_", "", "whsec_ü"])
def test_malformed_secret_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(WebhookError, match="secret") as caught:
        sign(secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert not isinstance(caught.value, WebhookVerificationError)
    with pytest.raises(WebhookError, match="secret"):
        verify(secret, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)


def test_no_secrets_at_all_is_a_configuration_error() -> None:
    with pytest.raises(WebhookError, match="no webhook secret"):
        verify([], spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)


def test_tampered_body_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="no webhook signature matches"):
        verify_spec(spec_headers(), body=b'{"test": 2432232315}')


def test_tampered_id_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="no webhook signature matches"):
        verify_spec(spec_headers(**{"webhook-id": "msg_other"}))


def test_tampered_timestamp_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="no webhook signature matches"):
        verify_spec(spec_headers(**{"webhook-timestamp": str(SPEC_TIMESTAMP + 1)}))


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="no webhook signature matches"):
        verify(generate_secret(), spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)


def test_timestamp_at_the_edge_of_tolerance_is_accepted() -> None:
    edge = DEFAULT_TOLERANCE.total_seconds()
    verify(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP + edge)
    verify(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP - edge)


def test_stale_timestamp_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP + 301)


def test_future_timestamp_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="future"):
        verify(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP - 301)


def test_default_clock_rejects_an_old_delivery() -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(SPEC_SECRET, spec_headers(), SPEC_BODY)


def test_custom_tolerance() -> None:
    late = SPEC_TIMESTAMP + 3600
    verify(SPEC_SECRET, spec_headers(), SPEC_BODY, now=late, tolerance=timedelta(hours=1))
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(SPEC_SECRET, spec_headers(), SPEC_BODY, now=late, tolerance=timedelta(minutes=59))


def test_rotation_accepts_either_secret() -> None:
    new = generate_secret()
    verify([new, SPEC_SECRET], spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)
    verify((SPEC_SECRET, new), spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)
    with pytest.raises(WebhookVerificationError, match="no webhook signature matches"):
        verify([new, generate_secret()], spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)


def test_several_signatures_in_the_header_any_may_match() -> None:
    other = sign(generate_secret(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    verify_spec(spec_headers(**{"webhook-signature": f"{other} {SPEC_SIGNATURE}"}))
    verify_spec(spec_headers(**{"webhook-signature": f"v1a,abcd {SPEC_SIGNATURE}  v2,xyz"}))


def test_only_v1_signatures_count() -> None:
    digest = SPEC_SIGNATURE.removeprefix("v1,")
    with pytest.raises(WebhookVerificationError, match="no v1 signature"):
        verify_spec(spec_headers(**{"webhook-signature": f"v2,{digest} {digest}"}))


def test_header_names_are_case_insensitive() -> None:
    verify_spec({name.title(): value for name, value in spec_headers().items()})
    verify_spec({name.upper(): value for name, value in spec_headers().items()})
    verify_spec(dict(httpx.Headers(spec_headers())))


def test_svix_headers_are_accepted() -> None:
    verify_spec({name.replace("webhook-", "Svix-"): v for name, v in spec_headers().items()})


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_rejected(missing: str) -> None:
    headers = spec_headers()
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match=f"missing {missing} header"):
        verify_spec(headers)


@pytest.mark.parametrize(
    "timestamp", ["", "abc", "1614265330.5", "-1614265330", "+1614265330", " 1614265330", "١٢٣"]
)
def test_non_integer_timestamp_is_rejected(timestamp: str) -> None:
    with pytest.raises(WebhookVerificationError, match="webhook-timestamp"):
        verify_spec(spec_headers(**{"webhook-timestamp": timestamp}))


@pytest.mark.parametrize(
    "signature",
    [
        "garbage",
        "v1,",
        "v1,not-base64!!",
        "v1,ü€",
        ",,,,",
        "v1" + ",x" * 1000,
        SPEC_SIGNATURE.removeprefix("v1,"),
        SPEC_SIGNATURE.lower(),
        SPEC_SIGNATURE[:-2],
    ],
)
def test_garbage_signatures_are_rejected(signature: str) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_spec(spec_headers(**{"webhook-signature": signature}))


def test_verification_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no webhook signature matches"):
        verify_spec(spec_headers(), body=b"")
