"""`opsconsole sandbox serve --state-dir`: a sandbox process stopped with SIGTERM and started again
keeps its records, its Idempotency-Key replays and its OAuth tokens; a corrupt file is moved aside."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlparse

import httpx

from connectors.xero.sandbox_identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from opsconsole.sandboxes import HUBSPOT_TOKEN, XERO_TENANT, XERO_TOKEN, start_process, stop_process

HEADERS = {"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT, "Accept": "application/json"}
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode(),
         "Content-Type": "application/x-www-form-urlencoded"}


def put_contact(api: str) -> httpx.Response:
    return httpx.put(f"{api}/Contacts", headers={**HEADERS, "Idempotency-Key": "e2e-contact-1"},
                     json={"Contacts": [{"Name": "Restart Resilient Ltd", "ContactNumber": "RR-1"}]}, timeout=10)


def test_xero_keeps_its_contact_and_replays_the_key_after_a_restart(tmp_path):
    state_dir = tmp_path / "state"
    proc, info = start_process(tmp_path, vendors=("xero",), state_dir=state_dir)
    try:
        first = put_contact(info.xero_api)
        assert first.status_code == 200, first.text
        contact_id = first.json()["Contacts"][0]["ContactID"]
        r = httpx.get(f"{info.xero_url}/identity-sandbox/authorize", params={
            "response_type": "code", "client_id": DEFAULT_CLIENT_ID, "redirect_uri": "http://localhost/cb"})
        code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
        tokens = httpx.post(f"{info.xero_url}/connect/token", headers=BASIC,
                            content=f"grant_type=authorization_code&code={code}&redirect_uri=http://localhost/cb").json()
    finally:
        stop_process(proc)  # SIGTERM: the last changes are saved on the way out
    assert proc.returncode == 0
    assert (state_dir / "xero.json").exists()

    proc, info = start_process(tmp_path, vendors=("xero",), state_dir=state_dir)
    try:
        contacts = httpx.get(f"{info.xero_api}/Contacts", headers=HEADERS).json()["Contacts"]
        assert [c["ContactID"] for c in contacts] == [contact_id]
        again = put_contact(info.xero_api)  # the engine retrying its write after the restart
        assert again.status_code == 200
        assert again.json()["Contacts"][0]["ContactID"] == contact_id
        assert len(httpx.get(f"{info.xero_api}/Contacts", headers=HEADERS).json()["Contacts"]) == 1
        state = httpx.get(f"{info.xero_url}/_sandbox/state").json()
        assert state["counts"]["contacts"] == 1 and state["replays"] == 1 and state["writes"] == 2
        writes = httpx.get(f"{info.xero_url}/_sandbox/writes").json()
        assert [(w["seq"], w["replayed"]) for w in writes] == [(1, False), (2, True)]
        # `opsconsole connect xero` survives the restart: its refresh token still rotates
        refreshed = httpx.post(f"{info.xero_url}/connect/token", headers=BASIC,
                               content=f"grant_type=refresh_token&refresh_token={tokens['refresh_token']}")
        assert refreshed.status_code == 200 and refreshed.json()["access_token"]
        assert "state:" in (tmp_path / "sandboxes.log").read_text() and "xero restored" in (tmp_path / "sandboxes.log").read_text()
    finally:
        stop_process(proc)


def test_a_corrupt_state_file_is_moved_aside_and_the_sandbox_seeds(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "hubspot.json").write_text('{"format": "opsconsole-sandbox-state", "vers')
    proc, info = start_process(tmp_path, companies=4, scenario=False, vendors=("hubspot",), state_dir=state_dir)
    try:
        page = httpx.get(f"{info.hubspot_url}/crm/v3/objects/companies", params={"limit": 100},
                         headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"}).json()
        assert len(page["results"]) == 4  # seeded, as without a file
        aside = list(state_dir.glob("hubspot.json.corrupt-*"))
        assert len(aside) == 1 and aside[0].read_text().endswith('"vers')
        # the fresh state is saved at once, in the current format
        assert json.loads((state_dir / "hubspot.json").read_text())["version"] == 1
        log = (tmp_path / "sandboxes.log").read_text()
        assert f"sandbox state {state_dir / 'hubspot.json'} is unusable" in log and str(aside[0]) in log
    finally:
        stop_process(proc)
