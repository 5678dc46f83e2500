"""Webhook signature helpers: HubSpot v3 sign/verify, in memory and over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.sandbox import serve_in_thread
from connectors.webhooks import (
    HUBSPOT_SIGNATURE_HEADER, HUBSPOT_TIMESTAMP_HEADER, SignatureError, hubspot_v3_uri, sign_hubspot_v3,
    verify_hubspot_v3,
)

SECRET = "app-client-secret"
URI = "https://hooks.example.com/webhooks/hubspot"
BODY = b'[{"eventId":1,"objectId":42,"propertyName":"hs_status","propertyValue":"APPROVED"}]'
NOW = 1_736_154_000_000


def test_signature_is_base64_hmac_sha256_of_method_uri_body_timestamp():
    expected = base64.b64encode(hmac.new(SECRET.encode(), b"POST" + URI.encode() + BODY + str(NOW).encode(),
                                         hashlib.sha256).digest()).decode()
    assert sign_hubspot_v3(SECRET, "POST", URI, BODY, NOW) == expected


def test_round_trip_verifies():
    sig = sign_hubspot_v3(SECRET, "POST", URI, BODY, NOW)
    assert verify_hubspot_v3([SECRET], "POST", URI, BODY, sig, str(NOW), now_ms=NOW + 1_000) is None


def test_tampered_body_is_rejected():
    sig = sign_hubspot_v3(SECRET, "POST", URI, BODY, NOW)
    with pytest.raises(SignatureError) as err:
        verify_hubspot_v3([SECRET], "POST", URI, BODY.replace(b"42", b"43"), sig, str(NOW), now_ms=NOW)
    assert err.value.reason == "bad signature"


def test_timestamp_older_than_five_minutes_is_rejected():
    sig = sign_hubspot_v3(SECRET, "POST", URI, BODY, NOW)
    verify_hubspot_v3([SECRET], "POST", URI, BODY, sig, str(NOW), now_ms=NOW + 299_000)
    with pytest.raises(SignatureError) as err:
        verify_hubspot_v3([SECRET], "POST", URI, BODY, sig, str(NOW), now_ms=NOW + 301_000)
    assert err.value.reason == "timestamp too old"


def test_timestamp_far_in_the_future_is_rejected():
    sig = sign_hubspot_v3(SECRET, "POST", URI, BODY, NOW)
    with pytest.raises(SignatureError) as err:
        verify_hubspot_v3([SECRET], "POST", URI, BODY, sig, str(NOW), now_ms=NOW - 600_000)
    assert err.value.reason == "timestamp in the future"


@pytest.mark.parametrize("sig, ts, reason", [
    (None, str(NOW), "missing header"), ("", str(NOW), "missing header"),
    ("abc", None, "missing header"), ("abc", "yesterday", "bad timestamp"),
])
def test_missing_or_malformed_headers(sig, ts, reason):
    with pytest.raises(SignatureError) as err:
        verify_hubspot_v3([SECRET], "POST", URI, BODY, sig, ts, now_ms=NOW)
    assert err.value.reason == reason


def test_rotated_secret_accepts_current_and_previous():
    old_sig = sign_hubspot_v3("old-secret", "POST", URI, BODY, NOW)
    new_sig = sign_hubspot_v3("new-secret", "POST", URI, BODY, NOW)
    for sig in (old_sig, new_sig):
        verify_hubspot_v3(["new-secret", "old-secret"], "POST", URI, BODY, sig, str(NOW), now_ms=NOW)
    with pytest.raises(SignatureError) as err:
        verify_hubspot_v3(["new-secret"], "POST", URI, BODY, old_sig, str(NOW), now_ms=NOW)
    assert err.value.reason == "bad signature"


def test_uri_decoding_follows_hubspots_table():
    assert hubspot_v3_uri("https://x.example/a%3Ab%2Fc%3Fd%40e%21%24%27%28%29%2A%2C%3B?q=%20%26") == \
        "https://x.example/a:b/c?d@e!$'()*,;?q=%20%26"
    encoded = "https://x.example/hook?portal=62515&since=2025-01-06T09%3A00%3A00Z"
    decoded = "https://x.example/hook?portal=62515&since=2025-01-06T09:00:00Z"
    sig = sign_hubspot_v3(SECRET, "POST", decoded, BODY, NOW)
    verify_hubspot_v3([SECRET], "POST", encoded, BODY, sig, NOW, now_ms=NOW)


def test_method_is_part_of_the_signature():
    sig = sign_hubspot_v3(SECRET, "POST", URI, BODY, NOW)
    with pytest.raises(SignatureError):
        verify_hubspot_v3([SECRET], "GET", URI, BODY, sig, str(NOW), now_ms=NOW)


# --- over real HTTP ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def receiver():
    seen: list[dict] = []

    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify_hubspot_v3(["current", "previous"], request.method, str(request.url), body,
                              request.headers.get(HUBSPOT_SIGNATURE_HEADER), request.headers.get(HUBSPOT_TIMESTAMP_HEADER))
        except SignatureError as exc:
            seen.append({"ok": False, "reason": exc.reason})
            return JSONResponse({"error": exc.reason}, status_code=401)
        seen.append({"ok": True, "body": body})
        return JSONResponse({"ok": True})

    server, thread, url = serve_in_thread(Starlette(routes=[Route("/hooks/hubspot", hook, methods=["POST"])]))
    yield url + "/hooks/hubspot?portal=62515", seen
    server.should_exit = True
    thread.join(timeout=10)


def _post(url: str, body: bytes, secret: str, ts: int, *, sign_body: bytes | None = None) -> httpx.Response:
    sig = sign_hubspot_v3(secret, "POST", url, sign_body if sign_body is not None else body, ts)
    return httpx.post(url, content=body, headers={HUBSPOT_SIGNATURE_HEADER: sig, HUBSPOT_TIMESTAMP_HEADER: str(ts),
                                                  "Content-Type": "application/json"})


def test_http_receiver_verifies_good_and_rejects_bad(receiver):
    url, seen = receiver
    now = int(time.time() * 1000)
    assert _post(url, BODY, "current", now).status_code == 200
    assert _post(url, BODY, "previous", now).status_code == 200  # rotation
    tampered = _post(url, BODY.replace(b"APPROVED", b"REJECTED"), "current", now, sign_body=BODY)
    assert (tampered.status_code, tampered.json()) == (401, {"error": "bad signature"})
    old = _post(url, BODY, "current", now - 6 * 60_000)
    assert (old.status_code, old.json()) == (401, {"error": "timestamp too old"})
    unsigned = httpx.post(url, content=BODY)
    assert (unsigned.status_code, unsigned.json()) == (401, {"error": "missing header"})
    assert [s["ok"] for s in seen[-5:]] == [True, True, False, False, False]
    assert seen[-5]["body"] == BODY
