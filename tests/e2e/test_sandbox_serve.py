"""`opsconsole sandbox serve all`: every vendor sandbox answers its list endpoint in the vendor's shape
(with --validate-responses: checked against the vendor's description, nothing recorded)."""

from __future__ import annotations

import httpx

from opsconsole.sandboxes import HUBSPOT_TOKEN, INTERCOM_TOKEN, XERO_TENANT, XERO_TOKEN, start_process, stop_process


def test_serve_all_answers_every_vendors_list_endpoint(tmp_path):
    proc, info = start_process(tmp_path, companies=3, scenario=False, vendors=("all",), validate_responses=True)
    try:
        hubspot = httpx.get(f"{info.hubspot_url}/crm/v3/objects/companies", params={"limit": 2},
                            headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"}).json()
        assert len(hubspot["results"]) == 2 and hubspot["paging"]["next"]["after"]
        assert {"id", "properties", "createdAt", "updatedAt", "archived"} <= set(hubspot["results"][0])
        xero = httpx.get(f"{info.xero_api}/Contacts", headers={
            "Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT, "Accept": "application/json"}).json()
        assert xero["Status"] == "OK" and isinstance(xero["Contacts"], list)
        intercom = httpx.get(f"{info.intercom_url}/companies", headers={
            "Authorization": f"Bearer {INTERCOM_TOKEN}", "Intercom-Version": "2.14", "Accept": "application/json"}).json()
        assert intercom["type"] == "list" and "data" in intercom
        out = (tmp_path / "sandboxes.log").read_text()
        assert "HubSpot sandbox:" in out and "Xero sandbox:" in out and "Intercom sandbox:" in out
        for vendor, url in (("hubspot", info.hubspot_url), ("xero", info.xero_url), ("intercom", info.intercom_url)):
            record = httpx.get(f"{url}/_sandbox/contract").json()
            assert (record["vendor"], record["strict"], record["checked"], record["violations"]) == (vendor, True, 1, [])
    finally:
        stop_process(proc)
