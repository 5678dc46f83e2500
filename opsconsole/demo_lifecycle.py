"""The demo's lifecycle act (data/demo/scenario.toml ``[lifecycle]``): what happens after the orders,
played as finance, sales and customer success would, through the vendors' APIs only.

1. Sales opens renewal deals (HubSpot deals of type ``existingbusiness`` on the company) for a few
   ordered customers, one of them the customer whose invoice is about to be overdue.
2. Finance approves in Xero the orders' invoices awaiting approval (SUBMITTED -> AUTHORISED), all
   but ``awaiting_approval`` of them: the engine starts those customers' onboardings. One invoice is
   approved with its due date ``overdue_days`` in the past (the same POST that authorises it): its
   customer's financial risk is "high" in the CRM and customer success, and its renewal is
   blocked by payment.
3. A delayed implementation: a quote signed ``signed_days_ago`` days ago (the HubSpot sandbox's
   backdated approval, ``/_sandbox/quotes/{id}/approve?at=``) is ordered, finance approves its
   invoice, and its onboarding milestones (counted from the signature) are already late: the
   scheduled onboarding watch raises delivery risk on its CRM company.
4. Customer success scores the renewal customers' health in Intercom once their onboarding created
   the company, so the renewal batch shows ready and at risk as well as blocked.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import httpx

from connectors.hubspot.client import DEAL_TO_COMPANY
from opsconsole.sandboxes import HUBSPOT_TOKEN, INTERCOM_TOKEN, XERO_TENANT, XERO_TOKEN

if TYPE_CHECKING:
    from opsconsole.demo import DemoDriver

HUBSPOT = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
XERO = {"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT, "Accept": "application/json"}
INTERCOM = {"Authorization": f"Bearer {INTERCOM_TOKEN}", "Intercom-Version": "2.14", "Accept": "application/json"}


def _call(http: httpx.Client, method: str, url: str, tries: int = 4, **kwargs) -> httpx.Response:
    """One vendor call, tried again after a 429 or 5xx (as a person would click again)."""
    for attempt in range(tries):
        r = http.request(method, url, **kwargs)
        if r.status_code not in (429, 500, 502, 503, 504) or attempt == tries - 1:
            return r
        time.sleep(min(5.0, float(r.headers.get("Retry-After") or 1)))
    raise AssertionError("unreachable")


def _today() -> date:
    return datetime.now(timezone.utc).date()


class LifecycleAct:
    def __init__(self, driver: "DemoDriver", http: httpx.Client, plan: dict) -> None:
        self.driver, self.http, self.plan = driver, http, plan
        self.sb = driver.sb
        self.log = driver.log
        self.wait_s = float(plan.get("wait_s", 30))

    # --- the vendors' APIs ----------------------------------------------------------------------------
    def _invoices(self, statuses: tuple[str, ...] = ()) -> list[dict]:
        found, page = [], 1
        while True:
            params = {"page": page, **({"Statuses": ",".join(statuses)} if statuses else {})}
            body = _call(self.http, "GET", f"{self.sb.xero_api}/Invoices", params=params, headers=XERO).json()
            found += body.get("Invoices") or []
            if page >= int((body.get("pagination") or {}).get("pageCount") or 1):
                return sorted(found, key=lambda i: str(i.get("InvoiceNumber") or ""))
            page += 1

    def _authorise(self, invoice: dict, overdue_days: int = 0) -> None:
        """Finance approves the invoice in Xero; ``overdue_days``: with its due date that far back."""
        change = {"InvoiceID": invoice["InvoiceID"], "Status": "AUTHORISED"}
        if overdue_days:
            due = _today() - timedelta(days=overdue_days)
            change.update(DueDate=due.isoformat(), Date=(due - timedelta(days=30)).isoformat())
        r = _call(self.http, "POST", f"{self.sb.xero_api}/Invoices/{invoice['InvoiceID']}", json={"Invoices": [change]},
                  headers={**XERO, "Idempotency-Key": f"demo-approve-{invoice['InvoiceID']}"})
        r.raise_for_status()

    def _renewal_deal(self, company_id: str, name: str, stage: str, in_days: int) -> None:
        closes = (_today() + timedelta(days=in_days)).isoformat() + "T00:00:00Z"
        r = _call(self.http, "POST", f"{self.sb.hubspot_url}/crm/v3/objects/deals", headers=HUBSPOT, json={
            "properties": {"dealname": f"Renewal: {name}", "dealtype": "existingbusiness", "dealstage": stage,
                           "pipeline": "default", "closedate": closes},
            "associations": [{"to": {"id": company_id}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": DEAL_TO_COMPANY}]}]})
        r.raise_for_status()

    def _cs_company(self, customer_id: str) -> bool:
        r = _call(self.http, "GET", f"{self.sb.intercom_url}/companies", params={"company_id": customer_id},
                  headers=INTERCOM)
        body = r.json() if r.status_code == 200 else {}
        return body.get("type") == "company" or bool(body.get("data"))

    def _until(self, found, what: str):
        """Poll ``found()`` until it answers something true (None after ``wait_s`` or when stopped)."""
        deadline = time.monotonic() + self.wait_s
        while not self.driver.stop.is_set():
            value = found()
            if value:
                return value
            if time.monotonic() > deadline:
                self.log.append(f"lifecycle: gave up waiting for {what}")
                return None
            self.driver.stop.wait(0.5)
        return None

    # --- the act ----------------------------------------------------------------------------------------
    def play(self, ordered: list[str], delayed: str | None, avoid: list[str] = ()) -> None:
        """``ordered``: the quotes approved so far; ``delayed``: the quote kept back for the late
        implementation; ``avoid``: quotes whose customers play in another act (governance)."""
        plan, scenario = self.plan, self.sb.scenario
        missing_tax = str(scenario.get("missing_tax", ""))
        special = {missing_tax, *(str(q) for q in scenario.get("duplicate_pair", [])), *avoid}
        # the orders made so far, each with its invoice awaiting approval (the withheld approvals come
        # through the engine's HubSpot poll): finance starts once the ERP has them all
        expected = len([q for q in ordered if q != missing_tax])
        if self._until(lambda: len(self._invoices()) >= expected, f"{expected} invoices in Xero") is None \
                and self.driver.stop.is_set():
            return
        companies = {}  # the ordered customers' CRM companies, by name (an ERP contact's name)
        for quote in ordered:
            if quote not in special:  # (the special cases and the governance act's customers play no part)
                company = self.driver._company_of(self.http, quote)
                companies.setdefault(company["properties"]["name"], company["id"])
        submitted = self._invoices(("SUBMITTED",))
        keep = min(int(plan.get("awaiting_approval", 0)), len(submitted))
        approve = submitted[:len(submitted) - keep]
        # customers for the rest of the story: an ordered one with a CRM company of its own
        cast = [inv for inv in approve if (inv.get("Contact") or {}).get("Name") in companies
                and (inv.get("Contact") or {}).get("ContactNumber")]
        overdue_plan, renewals = plan.get("overdue") or {}, list(plan.get("renewal") or [])
        overdue = cast[0] if overdue_plan and cast else None
        others = [inv for inv in cast if inv is not overdue][:len(renewals)]

        # 1. sales opens the renewal deals
        deals = ([(overdue, overdue_plan)] if overdue else []) + list(zip(others, renewals))
        for inv, spec in deals:
            name = inv["Contact"]["Name"]
            self._renewal_deal(companies[name], name, spec.get("stage", "contractsent"), int(spec.get("renews_in_days", 60)))
        if deals:
            self.log.append(f"sales opened {len(deals)} renewal deals (" + ", ".join(i["Contact"]["Name"] for i, _ in deals) + ")")

        # 2. finance approves the invoices awaiting approval, but for the last few
        for inv in approve:
            self._authorise(inv, int(overdue_plan.get("overdue_days", 0)) if inv is overdue else 0)
        self.log.append(f"finance approved {len(approve)} invoices in Xero (onboardings start); "
                        f"{keep} orders await billing approval")
        if overdue:
            self.log.append(f"{overdue['Contact']['Name']}'s invoice {overdue['InvoiceNumber']} approved already "
                            f"{overdue_plan['overdue_days']} days overdue")

        # 3. a delayed implementation: signed weeks ago, its invoice approved only now
        spec = plan.get("delayed") or {}
        if delayed and spec and not self.driver.stop.is_set():
            days = int(spec.get("signed_days_ago", 40))
            at = int((time.time() - days * 86_400) * 1000)
            name = self.driver._company_of(self.http, delayed)["properties"]["name"]
            _call(self.http, "POST", f"{self.sb.hubspot_url}/_sandbox/quotes/{delayed}/approve",
                  params={"at": str(at)}).raise_for_status()
            self.log.append(f"{name}'s quote approved, signed {days} days ago")
            invoice = self._until(lambda: next((i for i in self._invoices(("SUBMITTED",))
                                                if (i.get("Contact") or {}).get("Name") == name), None),
                                  f"{name}'s invoice")
            if invoice:
                self._authorise(invoice)
                self.log.append(f"finance approved {name}'s invoice {invoice['InvoiceNumber']}: "
                                f"its implementation starts {days} days after signature, already late")

        # 4. customer success scores the health of the renewal customers once they are in Intercom
        for inv, spec in zip(others, renewals):
            if "health_score" not in spec or self.driver.stop.is_set():
                continue
            customer, name = inv["Contact"]["ContactNumber"], inv["Contact"]["Name"]
            if self._until(lambda c=customer: self._cs_company(c), f"{name} in Intercom"):
                _call(self.http, "POST", f"{self.sb.intercom_url}/companies", headers=INTERCOM, json={
                    "company_id": customer, "custom_attributes": {"health_score": int(spec["health_score"])}}
                      ).raise_for_status()
                self.log.append(f"customer success scored {name}'s health {spec['health_score']}/100")
