"""Quote to order, complete: after the sales order, the billing schedule (a Xero RepeatingInvoice from
the subscription lines), tax-ready invoice lines (TaxType from Xero's TaxRates), the entitlement and
the onboarding data event in Intercom; an invoice never before its order."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from opsconsole.engine import provisioning, records
from opsconsole.engine.workflows.quote_to_order import cached_tax_rates
from opsconsole.store.tables import exceptions, golden_fields, runs, steps
from tests.engine.conftest import wait_for

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
INTERCOM = {"Authorization": "Bearer sandbox-intercom-token"}


def _q(engine, stmt):
    with engine.read_engine.connect() as c:
        return c.execute(stmt).all()


def _ordinary(sb) -> list[str]:
    ids = sb.hubspot.scenario_ids()
    special = {str(ids["missing_tax"]), *map(str, ids["duplicate_pair"])}
    return [q for q in sb.quote_ids() if q not in special]


def _line_ids(sb, quote_id: str) -> list[str]:
    return sb.hubspot.store.associated("quotes", quote_id, "line_items")


def _company_of(sb, quote_id: str) -> str:
    return sb.hubspot.store.associated("quotes", quote_id, "companies")[0]


def _patch(sb, object_type: str, object_id: str, **properties) -> None:
    sb.http.patch(f"{sb.hubspot_url}/crm/v3/objects/{object_type}/{object_id}", json={"properties": properties},
                  headers=AUTH).raise_for_status()


def _steps(engine, quote_id: str) -> dict[str, tuple[str, int]]:
    rows = _q(engine, select(steps.c.name, steps.c.status, steps.c.attempts).join(runs, runs.c.id == steps.c.run_id)
              .where(runs.c.business_key == f"hubspot:quote:{quote_id}"))
    return {name: (status, attempts) for name, status, attempts in rows}


def _run_status(engine, quote_id: str) -> str | None:
    rows = _q(engine, select(runs.c.status).where(runs.c.business_key == f"hubspot:quote:{quote_id}"))
    return rows[0][0] if rows else None


async def _done(engine, *quote_ids: str) -> None:
    await wait_for(lambda: all(_run_status(engine, q) == "succeeded" for q in quote_ids))


async def test_subscription_lines_get_a_repeating_invoice_with_schedule_and_tax_types(engine, sandboxes):
    sb = sandboxes
    export, domestic = _ordinary(sb)[:2]
    _patch(sb, "companies", _company_of(sb, domestic), country="New Zealand")  # the org's own country
    subs = {q: [i for i in _line_ids(sb, q) if sb.hubspot.store.objects["line_items"][i]["properties"]
                .get("recurringbillingfrequency")] for q in (export, domestic)}
    assert all(subs.values())
    sb.approve(export)
    sb.approve(domestic)
    await _done(engine, export, domestic)

    repeating = sb.xero_records("RepeatingInvoices")
    invoices = sb.xero_records("Invoices")
    orders = {o["QuoteNumber"]: o for o in sb.xero_records("Quotes")}
    assert len(repeating) == 2 and len(invoices) == 2
    by_ref = {r["Reference"]: r for r in repeating}
    assert set(by_ref) == set(orders)  # each schedule names its order
    expected_tax = {}
    for q in (export, domestic):
        resp = dict(_q(engine, select(steps.c.name, steps.c.response).join(runs, runs.c.id == steps.c.run_id)
                       .where(runs.c.business_key == f"hubspot:quote:{q}")))
        order = resp["create_sales_order"]
        schedule = by_ref[order["QuoteNumber"]]
        assert schedule["Schedule"]["Period"] == 12 and schedule["Schedule"]["Unit"] == "MONTHLY"  # annually
        assert schedule["Schedule"]["DueDateType"] == "DAYSAFTERBILLDATE"
        assert schedule["Type"] == "ACCREC" and schedule["Status"] == "AUTHORISED"
        assert schedule["Contact"]["ContactID"] == order["Contact"]["ContactID"]
        # only the subscription lines recur
        names = {sb.hubspot.store.objects["line_items"][i]["properties"]["name"] for i in subs[q]}
        assert {line["Description"] for line in schedule["LineItems"]} == names
        tax = "OUTPUT" if q == domestic else "EXEMPTOUTPUT"
        expected_tax[order["QuoteNumber"]] = tax
        assert {line["TaxType"] for line in schedule["LineItems"]} == {tax}
        assert {line["TaxType"] for line in order["LineItems"]} == {tax}
    for inv in invoices:
        tax = expected_tax[inv["Reference"]]
        assert {line["TaxType"] for line in inv["LineItems"]} == {tax}
        assert (float(inv["TotalTax"]) > 0) == (tax == "OUTPUT")


async def test_a_quote_without_subscription_lines_gets_no_repeating_invoice(engine, sandboxes):
    sb = sandboxes
    quote = _ordinary(sb)[0]
    for line in _line_ids(sb, quote):
        _patch(sb, "line_items", line, recurringbillingfrequency="", hs_recurring_billing_period="")
    sb.approve(quote)
    await _done(engine, quote)
    assert sb.xero_records("RepeatingInvoices") == []
    assert len(sb.xero_records("Invoices")) == 1
    done = _steps(engine, quote)
    assert done["create_billing_schedule"][0] == "skipped" and done["create_invoice"][0] == "succeeded"


async def test_an_invoice_is_never_created_before_its_order(engine, sandboxes):
    sb = sandboxes
    xero = engine.env.client("xero")
    await cached_tax_rates(xero, "")  # read once per engine, before the outage
    original = xero.create_quote

    async def outage_from_the_order(*args, **kwargs):  # the ERP starts failing at the order write
        await asyncio.to_thread(sb.xero_faults, profile="flaky5xx", error_rate=1.0)
        return await original(*args, **kwargs)

    xero.create_quote = outage_from_the_order
    quote = _ordinary(sb)[0]
    sb.approve(quote)
    await wait_for(lambda: _run_status(engine, quote) == "failed")
    done = _steps(engine, quote)
    assert done["upsert_contact"][0] == "succeeded" and done["create_sales_order"][0] == "failed"
    assert "create_invoice" not in done or done["create_invoice"][0] not in ("succeeded", "skipped")
    sb.xero_faults(profile="demo")
    assert sb.xero_records("Invoices") == [] and sb.xero_records("RepeatingInvoices") == []

    # a replay from a later step cannot jump the order: the runner runs the failed order step first
    from opsconsole.services import Services

    services = Services(engine.settings, operator="alice", audit=engine.audit, engine_mode="engine")
    try:
        [(run_id,)] = _q(engine, select(runs.c.id).where(runs.c.business_key == f"hubspot:quote:{quote}"))
        receipt = services.replay(run_id, "create_invoice", "original")
        await wait_for(lambda: services.command(receipt.command_id).status == "done")
        await wait_for(lambda: _run_status(engine, quote) == "failed" and _steps(engine, quote)["create_sales_order"][1] > 0)
        assert sb.xero_records("Invoices") == []
        assert all("/Invoices" not in w["path"] for w in sb.xero_writes())

        xero.create_quote = original  # the ERP is back
        sb.xero_faults(profile="demo")
        receipt = services.replay(run_id, "create_sales_order", "original")
        await wait_for(lambda: services.command(receipt.command_id).status == "done")
        await _done(engine, quote)
    finally:
        services.close()
        xero.create_quote = original
    paths = [w["path"] for w in sb.xero_writes()]
    order_at = max(i for i, p in enumerate(paths) if "/Quotes" in p)
    invoice_at = [i for i, p in enumerate(paths) if p.endswith("/Invoices")]
    assert len(invoice_at) == 1 and invoice_at[0] > order_at
    assert len(sb.xero_records("Invoices")) == 1 and len(sb.xero_records("Quotes")) == 1
    assert {s for (s,) in _q(engine, select(exceptions.c.state).where(exceptions.c.run_id == run_id))} == {"closed"}


async def test_the_entitlement_is_recorded_once_and_the_onboarding_event_sent_once(engine, sandboxes):
    sb = sandboxes
    quote = _ordinary(sb)[0]
    sb.approve(quote)
    await _done(engine, quote)
    # the customer is not in Intercom yet: nothing sent there
    assert _steps(engine, quote)["notify_onboarding"][0] == "skipped"
    assert sb.intercom_records("events") == []
    key = f"hubspot:quote:{quote}"
    first = _q(engine, select(golden_fields.c.field, golden_fields.c.set_at, golden_fields.c.event_id)
               .where(golden_fields.c.entity == "entitlement"))
    assert {f for f, _, _ in first} >= {"customer_id", "order_id", "lines", "status"}
    with engine.read_engine.connect() as c:
        entitlement = provisioning.load_entitlement(c, key)
    [order] = sb.xero_records("Quotes")
    assert entitlement["order_id"] == order["QuoteID"] and entitlement["status"] == "pending"  # until finance approves
    assert len(entitlement["lines"]) == len(_line_ids(sb, quote))

    # the customer's contact is now in Intercom
    [(customer_id,)] = _q(engine, select(runs.c.account_key).where(runs.c.business_key == key))
    r = sb.http.post(f"{sb.intercom_url}/contacts", headers=INTERCOM,
                     json={"role": "user", "external_id": "con_onboard", "email": "ops@customer.example"})
    r.raise_for_status()
    person = r.json()["id"]

    def link(c):
        records.put_xref(c, records.EMAIL_KEY, records.CONTACT, f"{customer_id}/ops@customer.example", "con_onboard")
        records.put_xref(c, "intercom", records.CONTACT, person, "con_onboard")
    await engine.writer.run(link)

    # Intercom fails once: the step is retried, the event arrives once; the entitlement is not re-recorded
    sb.http.post(f"{sb.intercom_url}/_sandbox/faults", json={"profile": "flaky5xx", "error_rate": 1.0, "count": 1}
                 ).raise_for_status()
    from opsconsole.services import Services

    services = Services(engine.settings, operator="alice", audit=engine.audit, engine_mode="engine")
    try:
        [(run_id,)] = _q(engine, select(runs.c.id).where(runs.c.business_key == key))
        receipt = services.replay(run_id, "accept_sales_order", "original")
        await wait_for(lambda: services.command(receipt.command_id).status == "done")
        await wait_for(lambda: _run_status(engine, quote) == "succeeded"
                       and _steps(engine, quote)["notify_onboarding"][0] == "succeeded")
    finally:
        services.close()
    assert _steps(engine, quote)["notify_onboarding"][1] == 2  # one 5xx, then accepted
    events = sb.intercom_records("events")
    assert len(events) == 1
    assert events[0]["event_name"] == "order-provisioned" and events[0]["id"] == person
    assert events[0]["metadata"]["order_number"] == order["QuoteNumber"]
    again = _q(engine, select(golden_fields.c.field, golden_fields.c.set_at, golden_fields.c.event_id)
               .where(golden_fields.c.entity == "entitlement"))
    assert sorted(again) == sorted(first)
    # and the ERP has still one of each
    assert len(sb.xero_records("Invoices")) == 1 and len(sb.xero_records("RepeatingInvoices")) == 1
