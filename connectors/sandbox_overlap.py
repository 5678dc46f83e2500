"""Deterministic overlap between the sandboxes: the ERP contacts and customer-success companies
that already exist for (some of) the CRM's seeded companies, as they would in a company that ran
the three systems before it ran opsconsole. ``opsconsole sync backfill`` links them.

:func:`seed_overlap` reads the HubSpot sandbox's seeded companies (after ``HubSpotSandbox.seed``)
and adds to the Xero and the Intercom sandbox, in the order the CRM seed created the companies:

* the scenario's "Acme Corporation" (and its CRM twin "ACME Corp."): a Xero contact with the same
  tax number written with spaces, and an Intercom company "Acme Corp" on ``www.acme.example``;
* "Northwind Traders": an Intercom company on its web domain (no ERP contact);
* the generated companies G1..G9 (the first nine after the scenario's), each in one :data:`ROLES`
  role, the rest only in the CRM;
* one ERP-only contact and one Intercom-only company.

What ``data/matching.toml`` makes of it (the backfill test asserts these numbers):

============  ================================================  ===============================
role          ERP / customer-success records                     outcome
============  ================================================  ===============================
tax_all       Xero: same name + tax number; Intercom: name+web    one customer in all three
tax           Xero: same name + tax number                        linked CRM + ERP
tax_renamed   Xero: another trading name, same tax number         linked CRM + ERP (tax number)
domain_all    Xero: same name + web site; Intercom: name+web      one customer in all three
name_only     Xero: same name, free-mail address only             suspected duplicate (CRM, ERP)
cs_name_only  Intercom: same name, no web site                    suspected duplicate (CRM, CS)
tax_differs   Xero: same name + web site, another tax number      two customers, no suspect
(crm_only)    nothing                                             CRM only
============  ================================================  ===============================

With ``HubSpotSandbox.seed(12, scenario=True)``: 26 account records (12 CRM, 8 ERP, 6 CS) make 17
customers, 6 of them in more than one system (3 in all three), and 3 suspected duplicates (the CRM's
two Acme companies, name_only, cs_name_only).
"""

from __future__ import annotations

from typing import Any

from connectors.hubspot.seed import SCENARIO

ROLES = ("tax_all", "tax", "tax_renamed", "domain_all", "name_only", "cs_name_only", "tax_differs")
"""What the first generated CRM companies get elsewhere, in seed order (see the module docstring)."""
ERP_ONLY = {"Name": "Harbour Lights Consulting", "EmailAddress": "ap@harbourlights.example",
            "TaxNumber": "GB 700 100 200", "ContactNumber": "ERP-ONLY-1"}
CS_ONLY = {"company_id": "cs-only-1", "name": "Lighthouse Studio", "website": "https://lighthouse-studio.example"}


def _spaced(tax: str) -> str:
    """A tax number as an ERP clerk might type it ("US941234567" -> "US 941 234 567")."""
    return " ".join(tax[i:i + 3] for i in range(0, len(tax), 3)) if len(tax) > 3 else tax


def _bumped(tax: str) -> str:
    """Another tax number of the same format (the last digit changed)."""
    for i in range(len(tax) - 1, -1, -1):
        if tax[i].isdigit():
            return tax[:i] + str((int(tax[i]) + 1) % 10) + tax[i + 1:]
    return tax + "9"


def overlap_records(companies: list[dict]) -> tuple[list[dict], list[dict]]:
    """The Xero contact payloads and the Intercom company payloads overlapping ``companies`` (HubSpot
    records, ``{"id", "properties"}``, in any order): ``(contacts, intercom_companies)``."""
    ordered = sorted(companies, key=lambda r: int(r["id"]))
    by_name = {(r["properties"].get("name") or ""): r["properties"] for r in ordered}
    contacts: list[dict] = []
    cs: list[dict] = []
    acme = by_name.get(SCENARIO["duplicate_pair"][0])
    if acme is not None:
        contacts.append({"Name": acme["name"], "TaxNumber": _spaced(acme.get("vat_number") or ""),
                         "EmailAddress": f"ap@{acme['domain']}", "ContactNumber": "ERP-ACME"})
        cs.append({"company_id": "cs-acme", "name": "Acme Corp", "website": f"https://www.{acme['domain']}"})
    northwind = by_name.get(SCENARIO["missing_tax"])
    if northwind is not None:
        cs.append({"company_id": "cs-northwind", "name": northwind["name"], "website": f"http://{northwind['domain']}/"})
    scenario = {SCENARIO["missing_tax"], *SCENARIO["duplicate_pair"]}
    generated = [r["properties"] for r in ordered if r["properties"].get("name") not in scenario]
    for n, (role, p) in enumerate(zip(ROLES, generated), 1):
        name, domain, tax = p["name"], p["domain"], p.get("vat_number") or ""
        stem = name.rsplit(" ", 1)[0]
        number = f"ERP-G{n}"
        if role in ("tax_all", "tax"):
            contacts.append({"Name": name, "TaxNumber": _spaced(tax), "EmailAddress": f"accounts@{domain}",
                             "ContactNumber": number})
        elif role == "tax_renamed":
            contacts.append({"Name": f"{stem} Holdings", "TaxNumber": tax,
                             "EmailAddress": f"accounts@{domain}", "ContactNumber": number})
        elif role == "domain_all":
            contacts.append({"Name": name, "Website": f"https://www.{domain}", "ContactNumber": number})
        elif role == "name_only":
            contacts.append({"Name": name, "EmailAddress": f"{stem.split()[0].lower()}.accounts@gmail.com",
                             "ContactNumber": number})
        elif role == "tax_differs":
            contacts.append({"Name": name, "TaxNumber": _bumped(tax), "Website": f"https://{domain}",
                             "ContactNumber": number})
        if role in ("tax_all", "domain_all"):
            cs.append({"company_id": f"cs-g{n}", "name": name, "website": f"https://www.{domain}"})
        elif role == "cs_name_only":
            cs.append({"company_id": f"cs-g{n}", "name": name})
    contacts.append(dict(ERP_ONLY))
    cs.append(dict(CS_ONLY))
    return contacts, cs


def seed_overlap(hubspot: Any, xero: Any = None, intercom: Any = None) -> dict[str, int]:
    """Add the overlapping records to the Xero sandbox and the Intercom sandbox (either may be None)
    from the HubSpot sandbox's companies. Idempotent: a contact whose ContactNumber, or a company
    whose company_id, is already there is left alone. Returns how many records each now holds."""
    contacts, cs = overlap_records(list(hubspot.store.objects["companies"].values()))
    if xero is not None:
        for item in contacts:
            if item["ContactNumber"] not in xero.contacts.by_number:
                xero.contacts.plan(item, {})()
    if intercom is not None:
        for item in cs:
            if item["company_id"] not in intercom.company_ids:
                status, body = intercom.upsert_company(item)
                if status != 200:
                    raise ValueError(f"Intercom sandbox refused {item['company_id']}: {body}")
    return {"xero": len(xero.contacts.records) if xero is not None else 0,
            "intercom": len(intercom.companies) if intercom is not None else 0}


__all__ = ["CS_ONLY", "ERP_ONLY", "ROLES", "overlap_records", "seed_overlap"]
