"""The demo: a fresh store under ./var, the sandboxes on loopback, the engine in-process, and a
driver that plays a day of a B2B SaaS company's quotes through the real ingress.

The story the console shows (every run from a real signed webhook, every record real in the Xero
sandbox): quotes approved in waves; one whose company lacks a tax number (a validation exception:
fix it with `opsconsole sandbox crm set`, then replay); a burst of ERP 429s (retries, all succeed);
two CRM companies that are one customer (one ERP contact); two approvals whose webhook never came
(the HubSpot poll finds them); one forged webhook (401, counted) and one signed but malformed
delivery (a validation exception). Then the lifecycle (opsconsole/demo_lifecycle.py): finance approves
the orders' invoices in Xero (onboardings start in Intercom), one already overdue (financial risk,
a renewal blocked by payment), a late implementation (delivery risk in the CRM), renewal deals
scored ready or at risk.
"""

from __future__ import annotations

import shutil
import threading
import time
import tomllib
from importlib import resources
from pathlib import Path

from typing import Any, Callable

import httpx

from opsconsole.sandboxes import (HUBSPOT_SECRET, HUBSPOT_TOKEN, INTERCOM_SECRET, INTERCOM_TOKEN, XERO_TENANT,
                                  XERO_TOKEN, XERO_WEBHOOK_KEY, SandboxInfo)
from opsconsole.settings import (os_account, HubSpotSettings, IntercomSettings, XeroSettings, ScheduleSettings, Settings,
                                 WorkflowSettings, load_settings)

DEMO_DB = "demo.db"
SANDBOX_STATE = "sandboxes"
"""Under the var dir: the sandboxes' saved state (``<vendor>.json``), kept with the demo store."""
RESUME_NEEDS = ("hubspot", "xero")
"""The saved sandboxes a resumed demo needs. Not Intercom: a demo saved before the demo ran Intercom
still resumes (the Intercom sandbox then starts from its seed)."""
DEMO_WORKFLOWS = {"delivery_risk": WorkflowSettings(trigger="scheduled", every_s=15),
                  "renewal_readiness": WorkflowSettings(trigger="scheduled", every_s=30)}
"""The demo's schedule: the onboarding watch (delivery risk) and the renewal batch run often, so the
lifecycle act's story shows within a minute or two."""


def load_scenario() -> dict:
    """The demo's timeline from data/demo/scenario.toml (shipped inside the package)."""
    return tomllib.loads(resources.files("opsconsole.data").joinpath("demo/scenario.toml").read_text())


def demo_settings(var_dir: Path, sandboxes: SandboxInfo, **overrides) -> Settings:
    return load_settings(
        None, demo=True, var_dir=var_dir, store_url=f"sqlite:///{(var_dir / DEMO_DB).resolve()}",
        audit_key=f"file:{(var_dir / 'audit.key').resolve()}", log_file=str(var_dir / "opsconsole.log"),
        hubspot=HubSpotSettings(base_url=sandboxes.hubspot_url, token=HUBSPOT_TOKEN, webhook_secret=HUBSPOT_SECRET),
        xero=XeroSettings(base_url=sandboxes.xero_api, token=XERO_TOKEN, tenant_id=XERO_TENANT,
                          webhook_secret=XERO_WEBHOOK_KEY),
        # (no Intercom URL, e.g. a sandboxes.json from before the demo ran Intercom: no Intercom connection)
        intercom=IntercomSettings(base_url=sandboxes.intercom_url, token=INTERCOM_TOKEN, webhook_secret=INTERCOM_SECRET),
        schedule=ScheduleSettings(hubspot_poll_s=10.0, retry_sweep_s=2.0, receivables_s=60.0),
        # the person at the demo is support and finance; "sam" (support) is the demo's other colleague,
        # whose correction they can approve (maker-checker: never one's own)
        **{"roles": {os_account(): ["support", "finance"], "sam": ["support"]}, "workflows": dict(DEMO_WORKFLOWS),
           **overrides},
    )


def sandbox_state_dir(var_dir: Path) -> Path:
    return var_dir / SANDBOX_STATE


def fresh_store(var_dir: Path) -> None:
    """Forget the demo: its store, audit head and the sandboxes' saved state (the sandboxes then
    start from their seed, so their records and the store's cross-references start together)."""
    for name in (DEMO_DB, DEMO_DB + "-wal", DEMO_DB + "-shm", "audit.head"):
        (var_dir / name).unlink(missing_ok=True)
    shutil.rmtree(sandbox_state_dir(var_dir), ignore_errors=True)


def can_resume(var_dir: Path) -> bool:
    """A demo store and the sandboxes' state saved with it are both here (``opsconsole console``
    carries on with them; without either, the two would not match, so the demo starts afresh)."""
    state = sandbox_state_dir(var_dir)
    return (var_dir / DEMO_DB).exists() and all((state / f"{name}.json").exists() for name in RESUME_NEEDS)


class DemoDriver:
    """Approves quotes in the HubSpot sandbox over time, as sales people would."""

    def __init__(self, sandboxes: SandboxInfo, ingress_url: str, scenario: dict | None = None, *,
                 resume: bool = False, services: Callable[[str], Any] | None = None) -> None:
        self.sb = sandboxes
        self.ingress_url = ingress_url
        self.plan = scenario or load_scenario()
        self.resume = resume
        """Carrying on a demo restored from its saved store and sandboxes: point the CRM's webhooks at
        this ingress and approve only the quotes not approved yet, at the steady pace."""
        self.services = services
        """Opens the console's services as an operator (the demo's colleague raises a correction)."""
        self.stop = threading.Event()
        self.log: list[str] = []
        self._thread = threading.Thread(target=self._main, name="demo-driver", daemon=True)

    def start(self) -> "DemoDriver":
        self._thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self._thread.join(5)

    def _quotes(self, http: httpx.Client) -> list[dict]:
        quotes, after = [], None
        while True:
            params = {"limit": 100, **({"after": after} if after else {})}
            page = http.get(f"{self.sb.hubspot_url}/crm/v3/objects/quotes", params=params,
                            headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"}).json()
            quotes += page.get("results", [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return quotes

    def _quote_ids(self, http: httpx.Client) -> list[str]:
        return [q["id"] for q in self._quotes(http)]

    def _approve(self, http: httpx.Client, ids: list[str], deliver: bool = True) -> None:
        for qid in ids:
            http.post(f"{self.sb.hubspot_url}/_sandbox/quotes/{qid}/approve", params={"deliver": str(deliver).lower()})
        self.log.append(f"approved {len(ids)} quotes" + ("" if deliver else " (webhook withheld)"))

    def _forged_and_malformed(self, http: httpx.Client, *, forged: bool, malformed: bool) -> None:
        from connectors.webhooks import sign_hubspot_v3

        url = f"{self.ingress_url}/webhooks/hubspot"
        ts = int(time.time() * 1000)
        if forged:
            body = b'[{"eventId": 1, "subscriptionType": "object.propertyChange", "objectId": 1}]'
            http.post(url, content=body, headers={"X-HubSpot-Signature-v3": "forged",
                                                  "X-HubSpot-Request-Timestamp": str(ts), "Content-Type": "application/json"})
        if malformed:
            bad = b'[{"subscriptionType": "object.propertyChange", "objectTypeId": "0-14", "propertyName": "hs_status"}]'
            sig = sign_hubspot_v3(HUBSPOT_SECRET, "POST", url, bad, ts)
            http.post(url, content=bad, headers={"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": str(ts),
                                                 "Content-Type": "application/json"})

    def _company_of(self, http: httpx.Client, quote_id: str) -> dict:
        auth = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
        quote = http.get(f"{self.sb.hubspot_url}/crm/v3/objects/quotes/{quote_id}",
                         params={"associations": "companies"}, headers=auth).json()
        company_id = quote["associations"]["companies"]["results"][0]["id"]
        return http.get(f"{self.sb.hubspot_url}/crm/v3/objects/companies/{company_id}",
                        params={"properties": "name,vat_number,city,country,address"}, headers=auth).json()

    def _governance(self, http: httpx.Client, plan: dict, ordered: list[str]) -> None:
        """The governed-sync act: an ownership conflict from a CRM edit, a colleague's correction
        waiting for finance, and a suspected duplicate, all through the real CRM API and commands."""
        auth = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
        if len(ordered) < 2:
            return
        if plan.get("tax_edit"):
            company = self._company_of(http, ordered[0])
            http.patch(f"{self.sb.hubspot_url}/crm/v3/objects/companies/{company['id']}",
                       json={"properties": {"vat_number": plan["tax_edit"]}}, headers=auth)
            self.log.append(f"CRM edit of {company['properties']['name']}'s tax number")
            if plan.get("correction_by") and self.services is not None:
                self._raise_correction(plan["correction_by"])
        if plan.get("twin"):
            company = self._company_of(http, ordered[1])
            props = company["properties"]
            twin = {"name": props["name"], "city": props.get("city") or "", "country": props.get("country") or "",
                    "address": props.get("address") or "", "external_id": f"demo-twin-{company['id']}"}
            r = http.post(f"{self.sb.hubspot_url}/crm/v3/objects/companies/batch/upsert", headers=auth,
                          json={"inputs": [{"idProperty": "external_id", "id": twin["external_id"], "properties": twin}]})
            twin_id = r.json()["results"][0]["id"]
            # a rep adds the postcode: the change event brings the twin to the engine
            http.patch(f"{self.sb.hubspot_url}/crm/v3/objects/companies/{twin_id}",
                       json={"properties": {"zip": "00000"}}, headers=auth)
            self.log.append(f"a second CRM company named {props['name']}")

    def _raise_correction(self, colleague: str) -> None:
        services = self.services(colleague)
        try:
            deadline = time.monotonic() + 20
            while not self.stop.wait(0.5) and time.monotonic() < deadline:
                found = [c for c in services.conflicts(kind="ownership").rows if c.field == "tax_number"]
                if found:
                    services.resolve_conflict(found[0].id, "correction", "the customer sent a new VAT certificate")
                    self.log.append(f"{colleague} raised conflict {found[0].id} as a correction for finance")
                    return
        finally:
            services.close()

    def _main(self) -> None:
        with httpx.Client(timeout=10) as http:
            try:
                self._play(http)
            except httpx.HTTPError as exc:  # the demo is over (sandboxes stopped) or broken
                self.log.append(f"demo driver stopped: {exc}")

    def _point_webhooks(self, http: httpx.Client) -> None:
        """Every sandbox's webhooks to this ingress (a sandbox the demo does not run is left out)."""
        targets = [(self.sb.hubspot_url, {}, "hubspot"), (self.sb.xero_url, {"key": XERO_WEBHOOK_KEY}, "xero"),
                   (self.sb.intercom_url, {}, "intercom")]
        for url, extra, vendor in targets:
            if url:
                http.post(f"{url}/_sandbox/webhooks",
                          json={"target_url": f"{self.ingress_url}/webhooks/{vendor}", **extra}).raise_for_status()

    def _play(self, http: httpx.Client) -> None:
        self._point_webhooks(http)
        if self.resume:  # the story so far is in the saved store and sandboxes: only what is left
            left = [q["id"] for q in self._quotes(http) if (q.get("properties") or {}).get("hs_status") != "APPROVED"]
            self.log.append(f"resumed: {len(left)} quotes still to approve")
            steady = self.plan["steady"]
            while left and not self.stop.wait(steady["every_s"]):
                batch, left = left[:steady["batch"]], left[steady["batch"]:]
                self._approve(http, batch)
            return
        scenario = self.sb.scenario
        special = [str(scenario.get("missing_tax", ""))] + [str(q) for q in scenario.get("duplicate_pair", [])]
        special = [q for q in special if q]
        rest = [q for q in self._quote_ids(http) if q not in special]
        lifecycle = self.plan.get("lifecycle")
        # the lifecycle act's late implementation: a quote kept back, to be approved as signed weeks ago
        delayed = rest.pop() if lifecycle and lifecycle.get("delayed") and rest else None
        opening, storm, steady = self.plan["opening"], self.plan["storm"], self.plan["steady"]
        first, rest = rest[:opening["ordinary"]], rest[opening["ordinary"]:]
        self._approve(http, special + first)
        self._forged_and_malformed(http, forged=opening["forged_webhook"], malformed=opening["malformed_webhook"])
        if self.stop.wait(storm["after_s"]):
            return
        # a burst of ERP 429s while the next wave arrives: retries, then all succeed; then back to the
        # faults the sandbox started with (the settings file's [xero.sandbox], demo without one)
        started_with = http.get(f"{self.sb.xero_url}/_sandbox/faults").json()
        http.post(f"{self.sb.xero_url}/_sandbox/faults",
                  json={"profile": "storm429", "storm": storm["requests"], "retry_after": storm["retry_after_s"]})
        wave, rest = rest[:storm["wave"]], rest[storm["wave"]:]
        self._approve(http, wave)
        withheld, rest = rest[:storm["withheld"]], rest[storm["withheld"]:]
        self._approve(http, withheld, deliver=False)
        if self.stop.wait(storm["lasts_s"]):
            return
        http.post(f"{self.sb.xero_url}/_sandbox/faults", json=started_with)
        governance = self.plan.get("governance")
        if governance and not self.stop.wait(governance["after_s"]):
            self._governance(http, governance, first)
        ordered = special + first + wave + withheld
        while rest and not self.stop.wait(steady["every_s"]):
            batch, rest = rest[:steady["batch"]], rest[steady["batch"]:]
            self._approve(http, batch)
            ordered += batch
        # the lifecycle act, once every quote but the delayed one is approved
        if lifecycle and not rest and not self.stop.wait(lifecycle.get("after_s", 0)):
            from opsconsole.demo_lifecycle import LifecycleAct

            LifecycleAct(self, http, lifecycle).play(ordered, delayed, avoid=first[:2] if governance else [])

