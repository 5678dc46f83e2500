"""Intercom's X-Hub-Signature (sha1 HMAC of the raw body): accepted, rejected, rotated."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from connectors.webhooks import SignatureError, sign_intercom, verify_intercom

BODY = b'{"type":"notification_event","id":"notif_1","topic":"company.updated"}'


def test_signature_is_sha1_hex_of_the_raw_body():
    expected = "sha1=" + hmac.new(b"secret", BODY, hashlib.sha1).hexdigest()
    assert sign_intercom("secret", BODY) == expected
    verify_intercom(["secret"], BODY, expected)


@pytest.mark.parametrize("signature,reason", [
    (None, "missing header"),
    ("", "missing header"),
    ("sha256=abc", "bad signature"),
    (sign_intercom("other", BODY), "bad signature"),
])
def test_rejections_say_why(signature, reason):
    with pytest.raises(SignatureError) as err:
        verify_intercom(["secret"], BODY, signature)
    assert err.value.reason == reason


def test_an_altered_body_is_rejected():
    with pytest.raises(SignatureError, match="bad signature"):
        verify_intercom(["secret"], BODY + b" ", sign_intercom("secret", BODY))


def test_the_previous_secret_is_accepted_during_a_rotation():
    verify_intercom(["new", "old"], BODY, sign_intercom("old", BODY))
    with pytest.raises(SignatureError):
        verify_intercom(["new"], BODY, sign_intercom("old", BODY))
