"""Engine tests run the real engine against the real sandboxes over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from connectors.hubspot.sandbox import HubSpotSandbox
from connectors.intercom.sandbox import IntercomSandbox
from connectors.sandbox import serve_in_thread
from connectors.xero.sandbox import XeroSandbox
from opsconsole.engine.app import Engine
from opsconsole.sandboxes import HUBSPOT_SECRET, HUBSPOT_TOKEN, INTERCOM_TOKEN, XERO_TENANT, XERO_TOKEN
from opsconsole.settings import HubSpotSettings, IntercomSettings, XeroSettings, RetrySettings, ScheduleSettings, load_settings
from tests.sandbox_contract import checked


XERO_WEBHOOK_KEY = "sandbox-xero-webhook-key"
INTERCOM_WEBHOOK_KEY = "sandbox-intercom-client-secret"
READS = ("/search", "/batch/read", "/_sandbox/")


class WriteLog:
    """An ASGI wrapper that records every vendor write a sandbox receives (method, path, JSON body):
    the exact write counts of sandboxes that keep no write log of their own (HubSpot, Intercom)."""

    def __init__(self, app) -> None:
        self.app = app
        self.writes: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] == "GET" or any(r in scope["path"] for r in READS):
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        self.writes.append({"method": scope["method"], "path": scope["path"],
                            "body": json.loads(body) if body.strip() else None})
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class Sandboxes:
    def __init__(self, companies: int = 12) -> None:
        self.hubspot = HubSpotSandbox(token=HUBSPOT_TOKEN, webhook_secret=HUBSPOT_SECRET)
        self.hubspot.seed(companies, scenario=True)
        self.xero = XeroSandbox(token=XERO_TOKEN, tenant_id=XERO_TENANT)
        self._servers = []
        # every answer checked against the vendor's description (tests/sandbox_contract.py)
        self.hubspot_log = WriteLog(checked(self.hubspot.app, "hubspot"))
        s1, _, self.hubspot_url = serve_in_thread(self.hubspot_log)
        s2, _, self.xero_url = serve_in_thread(checked(self.xero.app, "xero"))
        self.intercom = IntercomSandbox(token=INTERCOM_TOKEN, webhook_secret=INTERCOM_WEBHOOK_KEY)
        self.intercom_log = WriteLog(checked(self.intercom.app, "intercom"))
        s3, _, self.intercom_url = serve_in_thread(self.intercom_log)
        self._servers = [s1, s2, s3]
        self.http = httpx.Client(timeout=10)

    @property
    def xero_api(self) -> str:
        return f"{self.xero_url}/api.xro/2.0"

    def quote_ids(self) -> list[str]:
        return sorted(self.hubspot.store.objects["quotes"].keys(), key=int)

    def approve(self, quote_id: str, deliver: bool = True) -> None:
        r = self.http.post(f"{self.hubspot_url}/_sandbox/quotes/{quote_id}/approve", params={"deliver": str(deliver).lower()})
        r.raise_for_status()

    def xero_state(self) -> dict:
        return self.http.get(f"{self.xero_url}/_sandbox/state").json()

    def xero_records(self, collection: str) -> list[dict]:
        return self.http.get(f"{self.xero_url}/_sandbox/records/{collection}").json()[collection]

    def xero_writes(self) -> list[dict]:
        return self.http.get(f"{self.xero_url}/_sandbox/writes").json()

    def xero_faults(self, **body) -> None:
        self.http.post(f"{self.xero_url}/_sandbox/faults", json=body).raise_for_status()

    def intercom_records(self, collection: str) -> list[dict]:
        return self.http.get(f"{self.intercom_url}/_sandbox/records/{collection}").json()[collection]

    def close(self) -> None:
        for s in self._servers:
            s.should_exit = True
        self.http.close()


@pytest.fixture
def sandboxes():
    sb = Sandboxes()
    yield sb
    sb.close()


def make_settings(tmp_path: Path, sb: Sandboxes, **overrides):
    values = dict(
        demo=True, var_dir=tmp_path, store_url=f"sqlite:///{tmp_path / 'store.db'}",
        audit_key="test-audit-key", http_transport="lean",
        hubspot=HubSpotSettings(base_url=sb.hubspot_url, token=HUBSPOT_TOKEN, webhook_secret=HUBSPOT_SECRET),
        xero=XeroSettings(base_url=sb.xero_api, token=XERO_TOKEN, tenant_id=XERO_TENANT,
                               webhook_secret=XERO_WEBHOOK_KEY),
        intercom=IntercomSettings(base_url=sb.intercom_url, token=INTERCOM_TOKEN, webhook_secret=INTERCOM_WEBHOOK_KEY),
        retry=RetrySettings(max_attempts=4, base_delay_s=0.05, max_delay_s=0.5),
        schedule=ScheduleSettings(hubspot_poll_s=3600, retry_sweep_s=0.5),
        roles={"alice": ["support"], "sam": ["support"]},  # the tests' operators retry, replay, resolve conflicts
    )
    values.update(overrides)
    return load_settings(None, **values)


@pytest.fixture
def settings(tmp_path, sandboxes):
    return make_settings(tmp_path, sandboxes)


@pytest.fixture
async def engine(settings, sandboxes):
    eng = Engine(settings)
    assert await eng.start(wait_for_lease=False)
    sandboxes.hubspot.target_url = f"{eng.ingress_url}/webhooks/hubspot"
    yield eng
    await eng.stop(drain_s=2)


async def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def q(engine, stmt) -> list:
    """Rows of a read on the engine's store."""
    with engine.read_engine.connect() as c:
        return c.execute(stmt).all()


def run_statuses(engine, workflow: str) -> list[str]:
    """The statuses of a workflow's runs, oldest first."""
    from opsconsole.store.tables import runs

    return [r[0] for r in q(engine, select(runs.c.status).where(runs.c.workflow == workflow).order_by(runs.c.id))]


async def settled(engine) -> None:
    """Wait until no run is pending, running or waiting (after letting new ones open)."""
    from opsconsole.store.tables import runs

    await asyncio.sleep(0.6)
    await wait_for(lambda: not q(engine, select(runs.c.id).where(runs.c.status.in_(["pending", "running", "waiting"]))))
