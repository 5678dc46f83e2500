"""The Xero sandbox's pure rules and the client's hooks, without a server (plus one concurrency check)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import pytest

from connectors.errors import RateLimitedError
from connectors.ratelimit import VirtualClock
from connectors.sandbox import serve_in_thread
from connectors.xero.client import XeroClient, XeroPages, format_modified_since
from connectors.xero.sandbox import XeroSandbox
from tests.sandbox_contract import checked
from connectors.xero.sandbox_documents import QUOTE_TRANSITIONS, QuoteBook
from connectors.xero.sandbox_models import (
    ContactBook, Invalid, parse_date, parse_modified_since, price_lines, render_date,
)


def test_line_pricing_is_decimal_exact():
    lines, totals = price_lines([{"Description": "a", "Quantity": 3, "UnitAmount": 0.1},
                                 {"Description": "b", "Quantity": 1, "UnitAmount": 0.2}], "EXCLUSIVE", required=True)
    assert [line["LineAmount"] for line in lines] == [0.3, 0.2]
    assert totals == {"SubTotal": 0.5, "TotalTax": 0.0, "Total": 0.5}


def test_tax_exclusive_inclusive_and_notax():
    line = [{"Description": "x", "Quantity": 1, "UnitAmount": "115.00", "TaxType": "OUTPUT"}]
    assert price_lines(line, "EXCLUSIVE", required=True)[1] == {"SubTotal": 115.0, "TotalTax": 17.25, "Total": 132.25}
    assert price_lines(line, "INCLUSIVE", required=True)[1] == {"SubTotal": 100.0, "TotalTax": 15.0, "Total": 115.0}
    assert price_lines(line, "NOTAX", required=True)[1] == {"SubTotal": 115.0, "TotalTax": 0.0, "Total": 115.0}


def test_line_items_are_validated():
    with pytest.raises(Invalid) as info:
        price_lines([{"Quantity": 1, "UnitAmount": 1}, {"Description": "x", "Quantity": "abc", "UnitAmount": 1},
                     {"Description": "y", "Quantity": 1, "UnitAmount": 1, "TaxType": "BOGUS"}], "EXCLUSIVE",
                    required=True)
    assert info.value.messages == [
        "Description is required for each line item.", "Quantity must be a number.",
        "The TaxType code 'BOGUS' does not exist or cannot be used for this type of transaction."]
    with pytest.raises(Invalid):
        price_lines([], "EXCLUSIVE", required=True)


def test_dates_in_and_out():
    assert parse_date("2024-05-01", "Date") == date(2024, 5, 1)
    assert parse_date("2024-05-01T13:00:00", "Date") == date(2024, 5, 1)
    assert parse_date("/Date(1714521600000+0000)/", "Date") == date(2024, 5, 1)
    assert render_date(date(2024, 5, 1), "Date") == {"Date": "/Date(1714521600000+0000)/",
                                                     "DateString": "2024-05-01T00:00:00"}
    with pytest.raises(Invalid):
        parse_date("01/05/2024", "Date")


def test_if_modified_since_round_trip():
    when = datetime(2024, 5, 1, 12, 30, 15, 250_000, tzinfo=UTC)
    text = format_modified_since(when)
    assert text == "2024-05-01T12:30:15.250Z"
    assert parse_modified_since(text) == int(when.timestamp() * 1000)
    assert parse_modified_since(format_modified_since(when.astimezone(timezone(timedelta(hours=13))))) == \
        int(when.timestamp() * 1000)
    assert parse_modified_since("Wed, 01 May 2024 12:30:15 GMT") == int(when.timestamp()) * 1000


def test_contact_names_are_unique_case_insensitively_among_active_contacts():
    book = ContactBook()
    first = book.plan({"Name": "Acme  Ltd"}, {})()
    with pytest.raises(Invalid) as info:
        book.plan({"Name": "acme ltd"}, {})
    assert "must be unique across all active contacts" in info.value.messages[0]
    book.plan({"ContactID": first["ContactID"], "ContactStatus": "ARCHIVED"}, {})()
    book.plan({"Name": "acme ltd"}, {})()  # an archived contact's name is free again
    assert len(book.records) == 2
    claims: dict = {}
    book.plan({"Name": "Batch"}, claims)
    with pytest.raises(Invalid):  # the same name twice in one request
        book.plan({"Name": "batch"}, claims)


def test_contact_number_matches_an_existing_contact():
    book = ContactBook()
    first = book.plan({"Name": "Numbered", "ContactNumber": "CRM-7"}, {})()
    again = book.plan({"Name": "Numbered Renamed", "ContactNumber": "CRM-7"}, {})()
    assert again["ContactID"] == first["ContactID"] and len(book.records) == 1


def test_quote_transitions_follow_xero():
    assert "ACCEPTED" in QUOTE_TRANSITIONS["SENT"] and "ACCEPTED" not in QUOTE_TRANSITIONS["DRAFT"]
    book = ContactBook()
    cid = book.plan({"Name": "Q"}, {})()["ContactID"]
    quotes = QuoteBook(book, "USD")
    quote = quotes.plan({"Contact": {"ContactID": cid}, "Date": "2024-05-01",
                         "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5}]}, {})()
    for status in ("SENT", "DECLINED", "SENT", "ACCEPTED", "INVOICED"):
        quotes.plan({"Contact": {"ContactID": cid}, "Date": "2024-05-01", "Status": status}, {},
                    quote["QuoteID"])()
    with pytest.raises(Invalid) as info:
        quotes.plan({"Contact": {"ContactID": cid}, "Date": "2024-05-01", "Status": "DRAFT"}, {}, quote["QuoteID"])
    assert info.value.messages == ["The quote status cannot be changed from INVOICED to DRAFT."]


def test_pages_stop_on_page_count_or_a_short_page():
    pages = XeroPages(modified_since=datetime(2024, 1, 1, tzinfo=UTC), where='Name=="A"')
    assert pages.params() == {"page": 1, "where": 'Name=="A"'}
    assert pages.headers() == {"If-Modified-Since": "2024-01-01T00:00:00.000Z"}
    pages.advance([{}] * 100, {"page": 1, "pageSize": 100, "pageCount": 2, "itemCount": 150})
    assert (pages.page, pages.done) == (2, False)
    pages.advance([{}] * 50, {"page": 2, "pageSize": 100, "pageCount": 2, "itemCount": 150})
    assert pages.done
    bare = XeroPages()
    bare.advance([{}] * 100, None)
    assert not bare.done
    bare.advance([{}] * 3, None)
    assert bare.done


def test_error_message_reads_xero_bodies():
    client = XeroClient("http://127.0.0.1:1/api.xro/2.0", token="t", tenant_id="x", transport="httpx")
    body = {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": [{"ValidationErrors": [{"Message": "Email address must be valid."}],
                          "LineItems": [{"ValidationErrors": [{"Message": "Quantity must be a number."}]}]},
                         {"ValidationErrors": [{"Message": "Email address must be valid."}]}]}
    assert client.error_message(400, body) == "Email address must be valid.; Quantity must be a number."
    assert client.error_message(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                      "Message": "Invalid Json data"}) == "Invalid Json data"
    assert client.error_message(403, {"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}) == \
        "Forbidden: AuthenticationUnsuccessful"
    assert client.error_message(404, "The resource you're looking for cannot be found") == \
        "The resource you're looking for cannot be found"
    assert client.auth_headers() == {"Authorization": "Bearer t", "xero-tenant-id": "x"}


def test_observe_keeps_rate_limit_headers():
    client = XeroClient("http://127.0.0.1:1/api.xro/2.0", token="t", tenant_id="x", transport="httpx")
    client.observe(httpx.Response(200, headers={"X-MinLimit-Remaining": "59", "X-DayLimit-Remaining": "4999",
                                                "X-AppMinLimit-Remaining": "9999"}))
    client.observe(httpx.Response(429, headers={"Retry-After": "2", "X-Rate-Limit-Problem": "day",
                                                "X-MinLimit-Remaining": "58"}))
    rl = client.rate_limit
    assert (rl.minute_remaining, rl.day_remaining, rl.app_minute_remaining) == (58, 4999, 9999)
    assert (rl.problem, rl.retry_after, rl.throttled) == ("day", 2.0, 1) and rl.blocked_until > 0


@pytest.fixture
def slow_vendor_sandbox():
    sandbox = XeroSandbox(profile="vendor")
    sandbox.faults.configure({"profile": "vendor", "delay": 0.5})
    server, thread, url = serve_in_thread(checked(sandbox.app, "xero"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


async def test_concurrency_cap_avoids_xeros_concurrent_limit(slow_vendor_sandbox):
    sandbox, url = slow_vendor_sandbox

    async def burst(respect: bool) -> list:
        client = XeroClient(f"{url}/api.xro/2.0", token=sandbox.token, tenant_id=sandbox.tenant_id,
                            respect_concurrency=respect, clock=VirtualClock())  # its own governor, no real waits
        try:
            return await asyncio.gather(*(client.request("GET", "/TaxRates") for _ in range(10)),
                                        return_exceptions=True)
        finally:
            await client.aclose()

    unthrottled = await burst(False)
    limited = [r for r in unthrottled if isinstance(r, RateLimitedError)]
    assert len(limited) == 5 and all(e.body and "rate" in e.body for e in limited)
    capped = await burst(True)
    assert all(r.status == 200 for r in capped)
