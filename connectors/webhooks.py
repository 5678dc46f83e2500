"""Webhook signature helpers shared by the ingress and the sandboxes.

Every comparison is constant-time (``hmac.compare_digest``). A failed check raises
:class:`SignatureError` with a short ``reason`` that the ingress counts and shows
("bad signature", "timestamp too old", "missing header", ...); the body of such a request is
untrusted and never stored.

HubSpot v3 (``X-HubSpot-Signature-v3``), as HubSpot documents it:

1. reject the request if ``X-HubSpot-Request-Timestamp`` (epoch milliseconds) is older than 5 minutes;
2. concatenate ``method + uri + body + timestamp`` (UTF-8), where ``uri`` is the full request URL
   with the URL-encoded characters of HubSpot's table decoded (``%3A`` → ``:``, ``%2F`` → ``/``,
   ``%3F`` → ``?``, ``%40`` → ``@``, ``%21`` → ``!``, ``%24`` → ``$``, ``%27`` → ``'``, ``%28`` → ``(``,
   ``%29`` → ``)``, ``%2A`` → ``*``, ``%2C`` → ``,``, ``%3B`` → ``;``);
3. HMAC-SHA256 it with the app's client secret and base64-encode the digest;
4. compare with the header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Iterable

HUBSPOT_SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"

# The percent-encodings HubSpot decodes in the request URI before signing (v3).
_HUBSPOT_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")


class SignatureError(Exception):
    """A webhook failed verification. ``reason`` is short and safe to show and count."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def hmac_sha256_b64(secret: str | bytes, message: bytes) -> str:
    """Base64 of HMAC-SHA256(secret, message) (HubSpot v3, Xero, Intercom-style schemes)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def verify_hmac_b64(secrets: Iterable[str], message: bytes, signature: str | None) -> None:
    """Raise SignatureError unless ``signature`` is the base64 HMAC-SHA256 of ``message``
    under one of ``secrets`` (current and previous during a rotation)."""
    if not signature:
        raise SignatureError("missing header", "no signature")
    secrets = [s for s in secrets if s]
    if not secrets:
        raise SignatureError("no secret configured")
    matched = False
    for secret in secrets:  # check every secret: no early exit that leaks which one matched
        matched |= signatures_match(hmac_sha256_b64(secret, message), signature)
    if not matched:
        raise SignatureError("bad signature")


# --- HubSpot v3 -----------------------------------------------------------------------------
def hubspot_v3_uri(uri: str) -> str:
    """The request URI as HubSpot signs it: the characters of its table URL-decoded, others kept."""
    return _PCT.sub(lambda m: _HUBSPOT_DECODED.get(m.group(0).upper(), m.group(0)), uri)


def hubspot_v3_message(method: str, uri: str, body: bytes, timestamp: int | str) -> bytes:
    return method.upper().encode("utf-8") + hubspot_v3_uri(uri).encode("utf-8") + body + str(timestamp).encode("ascii")


def sign_hubspot_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    """The ``X-HubSpot-Signature-v3`` value for a request."""
    return hmac_sha256_b64(secret, hubspot_v3_message(method, uri, body, timestamp_ms))


def verify_hubspot_v3(
    secrets: list[str],
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | int | None,
    *,
    now_ms: int | None = None,
    tolerance_s: float = 300,
) -> None:
    """Verify a HubSpot v3 signature, or raise :class:`SignatureError`.

    Args:
        secrets: the app's client secret(s); any one may match (rotation).
        method, uri, body: the request as received (the full URL, the raw body bytes).
        signature: the ``X-HubSpot-Signature-v3`` header.
        timestamp: the ``X-HubSpot-Request-Timestamp`` header (epoch milliseconds).
        now_ms: the current time (tests); defaults to the wall clock.
        tolerance_s: the maximum age (HubSpot: 5 minutes); also the allowed clock skew ahead.
    Raises:
        SignatureError: reason "missing header", "bad timestamp", "timestamp too old",
            "timestamp in the future" or "bad signature".
    """
    if not signature:
        raise SignatureError("missing header", HUBSPOT_SIGNATURE_HEADER)
    if timestamp is None or timestamp == "":
        raise SignatureError("missing header", HUBSPOT_TIMESTAMP_HEADER)
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        raise SignatureError("bad timestamp", str(timestamp)[:40]) from None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now - ts > tolerance_s * 1000:
        raise SignatureError("timestamp too old", f"{(now - ts) / 1000:.0f}s old")
    if ts - now > tolerance_s * 1000:
        raise SignatureError("timestamp in the future", f"{(ts - now) / 1000:.0f}s ahead")
    verify_hmac_b64(secrets, hubspot_v3_message(method, uri, body, str(timestamp).strip()), signature)


# --- Xero (x-xero-signature) ------------------------------------------------------------------
XERO_SIGNATURE_HEADER = "x-xero-signature"


def sign_xero(secret: str, body: bytes) -> str:
    """The ``x-xero-signature`` value: base64 HMAC-SHA256 of the raw body under the webhook key."""
    return hmac_sha256_b64(secret, body)


def verify_xero(secrets: list[str], body: bytes, signature: str | None) -> None:
    """Verify an ``x-xero-signature`` header against the raw body, or raise :class:`SignatureError`.

    Any of ``secrets`` may match (current and previous webhook key during a rotation); every key is
    checked in constant time. Xero signs no timestamp, so there is no age check: the receiver
    dedupes events itself (resource id + category + type + event time).

    Raises:
        SignatureError: reason "missing header", "no secret configured" or "bad signature".
    """
    if not signature:
        raise SignatureError("missing header", XERO_SIGNATURE_HEADER)
    verify_hmac_b64(secrets, body, signature.strip())


def xero_intent_status(secrets: list[str], body: bytes, signature: str | None) -> int:
    """The status a receiver must answer Xero's intent-to-receive probe (and every delivery) with.

    When a webhook is subscribed, Xero sends probes whose payload is an empty event list
    (``{"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "..."}``), some
    correctly signed and some not. The endpoint passes only if it answers **200** (empty body) to
    a valid signature and **401** to an invalid one, within 5 seconds. The same rule applies to
    real deliveries, so a receiver can use this helper for both.
    """
    try:
        verify_xero(secrets, body, signature)
    except SignatureError:
        return 401
    return 200


def xero_intent_payload(entropy: str, sequence: int = 0) -> dict:
    """An intent-to-receive probe body: no events, first == last sequence."""
    return {"events": [], "firstEventSequence": sequence, "lastEventSequence": sequence, "entropy": entropy}


__all__ = [
    "HUBSPOT_SIGNATURE_HEADER", "HUBSPOT_TIMESTAMP_HEADER", "SignatureError", "hmac_sha256_b64",
    "hubspot_v3_uri", "sign_hubspot_v3", "signatures_match", "verify_hmac_b64", "verify_hubspot_v3",
    "XERO_SIGNATURE_HEADER", "sign_xero", "verify_xero", "xero_intent_payload", "xero_intent_status",
]


# --- Intercom ---------------------------------------------------------------------------------
# Intercom signs each webhook notification with the app's client secret: ``X-Hub-Signature:
# sha1=<hex HMAC-SHA1 of the raw body>``. There is no timestamp in the scheme; replays are caught
# by the inbox's event key (the notification's ``id``).

INTERCOM_SIGNATURE_HEADER = "X-Hub-Signature"


def sign_intercom(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value for ``body``."""
    return "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def verify_intercom(secrets: list[str], body: bytes, signature: str | None) -> None:
    """Raise SignatureError unless ``signature`` is ``sha1=<hex>`` for ``body`` under one of
    ``secrets`` (the current and, during a rotation, the previous client secret)."""
    if not signature:
        raise SignatureError("missing header", INTERCOM_SIGNATURE_HEADER)
    if not signature.startswith("sha1="):
        raise SignatureError("bad signature", "X-Hub-Signature must start with sha1=")
    if not secrets:
        raise SignatureError("no secret configured")
    if not any(signatures_match(sign_intercom(s, body), signature) for s in secrets if s):
        raise SignatureError("bad signature")
