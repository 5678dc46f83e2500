"""Xero webhook signatures, the intent-to-receive probe and the sandbox's signed, retried deliveries."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.sandbox import serve_in_thread
from connectors.webhooks import (
    XERO_SIGNATURE_HEADER, SignatureError, sign_xero, verify_xero, xero_intent_payload, xero_intent_status,
)
from connectors.xero.client import XeroClient
from connectors.xero.sandbox import XeroSandbox
from tests.sandbox_contract import checked

KEY, OLD_KEY = "xero-webhook-key-2", "xero-webhook-key-1"
TOKEN, TENANT = "sandbox-xero-token", "sandbox-tenant"


# --- signatures -----------------------------------------------------------------------------
def test_sign_verify_round_trip():
    body = json.dumps(xero_intent_payload("ABCDEFGHIJKLMNOPQRST")).encode()
    verify_xero([KEY], body, sign_xero(KEY, body))


def test_altered_body_is_rejected():
    body = b'{"events":[],"firstEventSequence":1,"lastEventSequence":1,"entropy":"X"}'
    sig = sign_xero(KEY, body)
    with pytest.raises(SignatureError) as exc:
        verify_xero([KEY], body.replace(b"1", b"2"), sig)
    assert exc.value.reason == "bad signature"


def test_missing_header_and_rotation():
    body = b"{}"
    with pytest.raises(SignatureError) as exc:
        verify_xero([KEY], body, None)
    assert exc.value.reason == "missing header"
    verify_xero([KEY, OLD_KEY], body, sign_xero(OLD_KEY, body))  # previous key still accepted
    with pytest.raises(SignatureError):
        verify_xero([KEY], body, sign_xero(OLD_KEY, body))
    assert xero_intent_status([KEY], body, sign_xero(KEY, body)) == 200
    assert xero_intent_status([KEY], body, "bm9wZQ==") == 401


# --- a tiny receiver over real HTTP -------------------------------------------------------------
class Receiver:
    def __init__(self) -> None:
        self.fail_first = 0
        self.posts: list[dict] = []
        self.app = Starlette(routes=[Route("/hooks/xero", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify_xero([KEY, OLD_KEY], body, request.headers.get(XERO_SIGNATURE_HEADER))
        except SignatureError as exc:
            self.posts.append({"verified": False, "reason": exc.reason})
            return Response(status_code=401)
        self.posts.append({"verified": True, "raw": body, "payload": json.loads(body)})
        if len([p for p in self.posts if p["verified"]]) <= self.fail_first:
            return Response(status_code=500)
        return Response(status_code=200)


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    server, thread, url = serve_in_thread(r.app)
    r.url = url + "/hooks/xero"
    yield r
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def served():
    sandbox = XeroSandbox(token=TOKEN, tenant_id=TENANT)
    server, thread, url = serve_in_thread(checked(sandbox.app, "xero"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def url(served, receiver):
    sandbox, url = served
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    receiver.posts.clear()
    receiver.fail_first = 0
    r = httpx.post(f"{url}/_sandbox/webhooks", json={"target_url": receiver.url, "key": KEY,
                                                     "retry_delays": [0.05, 0.05, 0.05]})
    r.raise_for_status()
    assert KEY not in r.text  # the key is never echoed
    return url


async def _deliveries(url: str, until, timeout: float = 5.0) -> list[dict]:
    async with httpx.AsyncClient() as http:
        for _ in range(int(timeout / 0.02)):
            out = (await http.get(f"{url}/_sandbox/webhooks/deliveries")).json()
            if until(out):
                return out
            await asyncio.sleep(0.02)
    raise AssertionError(f"deliveries not settled: {out}")


def test_intent_to_receive_probe(url, receiver):
    result = httpx.post(f"{url}/_sandbox/webhooks/intent").json()
    assert result["valid_signature_status"] == 200
    assert result["invalid_signature_status"] == 401
    assert result["passed"] is True
    assert [p["verified"] for p in receiver.posts] == [True, False]
    probe = receiver.posts[0]["payload"]
    assert probe["events"] == [] and probe["firstEventSequence"] == probe["lastEventSequence"]
    assert len(probe["entropy"]) == 20


async def test_created_invoice_is_delivered_signed_and_retried(url, receiver):
    client = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id=TENANT, transport="httpx")
    try:
        contact = await client.upsert_contact({"Name": "Webhook Ltd"}, idempotency_key="wh-c1")
        await _deliveries(url, lambda ds: len(ds) == 1 and ds[0]["state"] == "delivered")
        receiver.fail_first = len(receiver.posts) + 1  # the invoice's first attempt gets a 500
        invoice = await client.create_invoice({
            "Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]}, "Date": "2024-05-01",
            "DueDate": "2024-05-31", "LineItems": [{"Description": "Licence", "Quantity": 1, "UnitAmount": 100}],
        }, idempotency_key="wh-i1")
    finally:
        await client.aclose()
    deliveries = await _deliveries(url, lambda ds: len(ds) == 2 and all(d["state"] != "pending" for d in ds))
    assert [d["state"] for d in deliveries] == ["delivered", "delivered"]
    contact_delivery, invoice_delivery = deliveries
    assert contact_delivery["payload"]["events"][0]["eventCategory"] == "CONTACT"
    assert [a["status"] for a in invoice_delivery["attempts"]] == [500, 200]  # retried once
    event = invoice_delivery["payload"]["events"][0]
    assert event["eventCategory"] == "INVOICE" and event["eventType"] == "CREATE"
    assert event["resourceId"] == invoice["InvoiceID"]
    assert event["resourceUrl"].endswith(f"/Invoices/{invoice['InvoiceID']}")
    assert event["tenantId"] == TENANT and event["tenantType"] == "ORGANISATION"
    assert set(event) == {"resourceUrl", "resourceId", "eventDateUtc", "eventType", "eventCategory",
                          "tenantId", "tenantType"}
    payload = invoice_delivery["payload"]
    assert payload["lastEventSequence"] >= payload["firstEventSequence"] > 0
    assert len(payload["entropy"]) == 20
    # the receiver verified every post, and got the invoice twice with the very same signed bytes
    assert all(p["verified"] for p in receiver.posts)
    invoice_posts = [p for p in receiver.posts if p["payload"]["events"][0]["eventCategory"] == "INVOICE"]
    assert len(invoice_posts) == 2 and invoice_posts[0]["raw"] == invoice_posts[1]["raw"]
    assert invoice_posts[0]["payload"] == payload


async def test_updated_contact_is_an_update_event(url, receiver):
    client = XeroClient(f"{url}/api.xro/2.0", token=TOKEN, tenant_id=TENANT, transport="httpx")
    try:
        contact = await client.upsert_contact({"Name": "Update Ltd"}, idempotency_key="wh-u1")
        await client.upsert_contact({"ContactID": contact["ContactID"], "Name": "Update Ltd",
                                     "EmailAddress": "ap@update.example"}, idempotency_key="wh-u2")
        await client.upsert_contact({"Name": "Update Ltd"}, idempotency_key="wh-u1")  # a replay: no event
    finally:
        await client.aclose()
    deliveries = await _deliveries(url, lambda ds: len(ds) == 2 and all(d["state"] == "delivered" for d in ds))
    assert [d["payload"]["events"][0]["eventType"] for d in deliveries] == ["CREATE", "UPDATE"]
