"""The sandboxes' ``malformed`` and ``commit_then_timeout`` fault profiles against the real clients over
loopback HTTP, and fault profiles chosen in the settings file."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from connectors.errors import MalformedResponseError, NotFoundError, TimeoutError
from connectors.hubspot import CONNECTOR as HUBSPOT
from connectors.hubspot.sandbox import HubSpotSandbox
from connectors.intercom import CONNECTOR as INTERCOM
from connectors.intercom.sandbox import IntercomSandbox
from connectors.sandbox import Faults, serve_in_thread
from connectors.xero import CONNECTOR as XERO
from connectors.xero.sandbox import XeroSandbox
from opsconsole.sandboxes import (
    HUBSPOT_TOKEN, INTERCOM_TOKEN, XERO_TENANT, XERO_TOKEN, build_sandboxes, fault_config, profile_label,
)
from opsconsole.settings import load_settings, settings_problems
from tests.sandbox_contract import checked

CLIENT_TIMEOUT = 0.2
HELD = 0.5  # longer than the client's timeout, short enough for a unit test
EXAMPLE = Path(__file__).resolve().parents[2] / "opsconsole.example.toml"


@pytest.fixture(scope="module")
def xero():
    sandbox = XeroSandbox(token=XERO_TOKEN, tenant_id=XERO_TENANT)
    server, thread, url = serve_in_thread(checked(sandbox.app, "xero"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def hubspot():
    sandbox = HubSpotSandbox(token=HUBSPOT_TOKEN)
    sandbox.seed(3, scenario=False)
    sandbox.app = checked(sandbox.app, "hubspot")
    with sandbox.serving() as url:
        yield sandbox, url


@pytest.fixture(scope="module")
def intercom():
    sandbox = IntercomSandbox(token=INTERCOM_TOKEN)
    server, thread, url = serve_in_thread(checked(sandbox.app, "intercom"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


def faults(url: str, **body) -> dict:
    r = httpx.post(f"{url}/_sandbox/faults", json=body)
    r.raise_for_status()
    return r.json()


@pytest.fixture
async def xero_client(xero):
    sandbox, url = xero
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    client = XERO.client(f"{url}/api.xro/2.0", token=XERO_TOKEN, tenant_id=XERO_TENANT, timeout_s=CLIENT_TIMEOUT)
    yield client
    await client.aclose()
    faults(url, profile="demo")


@pytest.fixture
async def hubspot_client(hubspot):
    client = HUBSPOT.client(hubspot[1], token=HUBSPOT_TOKEN, timeout_s=CLIENT_TIMEOUT)
    yield client
    await client.aclose()
    faults(hubspot[1], profile="demo")


@pytest.fixture
async def intercom_client(intercom):
    httpx.post(f"{intercom[1]}/_sandbox/reset").raise_for_status()
    client = INTERCOM.client(intercom[1], token=INTERCOM_TOKEN, timeout_s=CLIENT_TIMEOUT)
    yield client
    await client.aclose()
    faults(intercom[1], profile="demo")


# --- commit_then_timeout: the write happened, the answer came too late, the retry leaves one record ----

async def test_xero_write_committed_then_timed_out_is_retried_with_its_key_into_one_contact(xero, xero_client):
    sandbox, url = xero
    before = sandbox.faults.counts["injected_timeout"]
    faults(url, profile="commit_then_timeout", delay=HELD, count=1)
    contact = {"Name": "Late Answer Ltd", "EmailAddress": "ap@late.example"}
    with pytest.raises(TimeoutError) as caught:
        await xero_client.upsert_contact(contact, idempotency_key="q-1:upsert_contact")
    assert (caught.value.category, caught.value.retriable, caught.value.system) == ("timeout", True, "xero")
    committed = httpx.get(f"{url}/_sandbox/records/Contacts").json()["Contacts"]
    assert [c["Name"] for c in committed] == ["Late Answer Ltd"]  # the sandbox had committed it

    again = await xero_client.upsert_contact(contact, idempotency_key="q-1:upsert_contact")
    assert again["ContactID"] == committed[0]["ContactID"]
    assert len(httpx.get(f"{url}/_sandbox/records/Contacts").json()["Contacts"]) == 1
    state = httpx.get(f"{url}/_sandbox/state").json()
    assert (state["writes"], state["replays"]) == (2, 1)  # the retry was an idempotent replay
    assert [w["replayed"] for w in httpx.get(f"{url}/_sandbox/writes").json()] == [False, True]
    assert sandbox.faults.counts["injected_timeout"] == before + 1 and sandbox.faults.count == 0


async def test_hubspot_upsert_committed_then_timed_out_is_retried_by_its_id_property_into_one_company(
        hubspot, hubspot_client):
    sandbox, url = hubspot
    faults(url, profile="commit_then_timeout", delay=HELD, count=1)
    inputs = [{"id": "CUST-LATE-1", "properties": {"name": "Late Answer Ltd"}}]
    with pytest.raises(TimeoutError) as caught:
        await hubspot_client.batch_upsert("companies", inputs, id_property="external_id")
    assert (caught.value.category, caught.value.retriable) == ("timeout", True)

    def matching() -> list[dict]:
        return [r for r in sandbox.store.objects["companies"].values()
                if r["properties"].get("external_id") == "CUST-LATE-1"]

    assert len(matching()) == 1  # committed before the answer was held
    again = await hubspot_client.batch_upsert("companies", inputs, id_property="external_id")
    assert again["status"] == "COMPLETE"
    assert again["results"][0]["new"] is False and again["results"][0]["id"] == matching()[0]["id"]
    assert len(matching()) == 1
    assert sandbox.faults.describe()["count"] == 0


async def test_intercom_company_upsert_committed_then_timed_out_is_retried_by_company_id_into_one_company(
        intercom, intercom_client):
    sandbox, url = intercom
    faults(url, profile="commit_then_timeout", delay=HELD, count=1)
    company = {"company_id": "CUST-LATE-1", "name": "Late Answer Ltd", "plan": "Growth"}
    with pytest.raises(TimeoutError) as caught:
        await intercom_client.upsert_company(company)
    assert (caught.value.category, caught.value.retriable) == ("timeout", True)
    committed = httpx.get(f"{url}/_sandbox/records/companies").json()["companies"]
    assert [c["company_id"] for c in committed] == ["CUST-LATE-1"]

    again = await intercom_client.upsert_company(company)
    assert again["id"] == committed[0]["id"]
    assert len(httpx.get(f"{url}/_sandbox/records/companies").json()["companies"]) == 1
    assert httpx.get(f"{url}/_sandbox/state").json()["faults"]["injected_timeout"] >= 1


async def test_commit_then_timeout_holds_only_writes_and_the_answer_does_come(xero, xero_client):
    _sandbox, url = xero
    faults(url, profile="commit_then_timeout", delay=HELD)
    patient = XERO.client(f"{url}/api.xro/2.0", token=XERO_TOKEN, tenant_id=XERO_TENANT, timeout_s=5)
    try:
        started = time.monotonic()
        assert await patient.get_tax_rates()  # a read is never held
        assert time.monotonic() - started < HELD
        started = time.monotonic()
        contact = await patient.upsert_contact({"Name": "Patient Ltd"}, idempotency_key="patient-1")
        assert time.monotonic() - started >= HELD and contact["Name"] == "Patient Ltd"
    finally:
        await patient.aclose()
    # control routes are never faulted
    assert httpx.post(f"{url}/_sandbox/faults", json={"profile": "commit_then_timeout"}).elapsed.total_seconds() < HELD


# --- malformed: a 2xx answer cut short is a retriable "malformed response" ------------------------------

async def test_xero_malformed_answer_is_a_retriable_malformed_response_and_the_retry_replays(xero, xero_client):
    sandbox, url = xero
    described = faults(url, profile="malformed", count=1)
    assert (described["error_rate"], described["count"]) == (1.0, 1)
    raw = httpx.get(f"{url}/api.xro/2.0/TaxRates",
                    headers={"Authorization": f"Bearer {XERO_TOKEN}", "xero-tenant-id": XERO_TENANT})
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("application/json")
    assert raw.headers["X-MinLimit-Remaining"]  # the vendor's own headers, over half a document
    assert raw.headers["X-Sandbox-Fault"] == "malformed"
    with pytest.raises(ValueError):
        raw.json()

    faults(url, profile="malformed", count=1)
    with pytest.raises(MalformedResponseError) as caught:
        await xero_client.upsert_contact({"Name": "Garbled Ltd"}, idempotency_key="garbled-1")
    err = caught.value
    assert (err.category, err.retriable, err.title, err.status) == ("downstream_5xx", True, "Malformed response", 200)
    assert str(err).startswith("xero HTTP 200: malformed response: its JSON body (")
    assert "does not parse" in str(err) and isinstance(err.body, str) and err.call.status == 200
    again = await xero_client.upsert_contact({"Name": "Garbled Ltd"}, idempotency_key="garbled-1")
    assert again["Name"] == "Garbled Ltd"
    assert len(httpx.get(f"{url}/_sandbox/records/Contacts").json()["Contacts"]) == 1
    assert httpx.get(f"{url}/_sandbox/state").json()["replays"] == 1
    assert sandbox.faults.counts["injected_malformed"] >= 2


async def test_hubspot_and_intercom_malformed_answers_raise_malformed_response(
        hubspot, hubspot_client, intercom, intercom_client):
    quote_id = next(iter(hubspot[0].store.objects["quotes"]))
    faults(hubspot[1], profile="malformed")
    with pytest.raises(MalformedResponseError, match="^hubspot HTTP 200: malformed response"):
        await hubspot_client.get_quote(quote_id)
    faults(intercom[1], profile="malformed", count=1)
    with pytest.raises(MalformedResponseError, match="^intercom HTTP 200: malformed response"):
        await intercom_client.upsert_company({"company_id": "CUST-GARBLED", "name": "Garbled"})
    assert (await intercom_client.upsert_company({"company_id": "CUST-GARBLED"}))["company_id"] == "CUST-GARBLED"
    assert len(intercom[0].companies) == 1


async def test_malformed_never_cuts_errors_and_error_rate_zero_cuts_nothing(xero, xero_client):
    faults(xero[1], profile="malformed", error_rate=0)
    assert await xero_client.get_tax_rates()
    faults(xero[1], profile="malformed")
    with pytest.raises(NotFoundError):  # a 404 stays a 404 (Xero's text body), never cut short
        await xero_client.get_contact("00000000-0000-0000-0000-000000000000")
    assert xero[0].faults.count is None and xero[0].faults.error_rate == 1.0


def test_faults_configure_defaults_validation_and_round_trip():
    f = Faults()
    assert f.configure({"profile": "commit_then_timeout"})["delay"] == 15.0
    assert f.configure({"profile": "malformed"})["error_rate"] == 1.0
    assert f.configure({"profile": "slow"})["delay"] == 2.0
    f.configure({"profile": "flaky5xx", "error_rate": 0.5, "count": 2, "retry_after": 3})
    copy = Faults()
    copy.configure(f.describe())
    assert copy.describe() == f.describe()
    with pytest.raises(ValueError, match="unknown profile 'bogus'"):
        f.configure({"profile": "bogus"})
    with pytest.raises(ValueError, match="error_rate"):
        f.configure({"profile": "malformed", "error_rate": 2})
    assert f.profile == "flaky5xx"  # a refused change changes nothing


# --- the settings file chooses each sandbox's faults ---------------------------------------------------

def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "opsconsole.toml"
    path.write_text(text)
    return path


def test_settings_file_sets_each_sandboxs_fault_profile_and_the_command_line_wins(tmp_path):
    settings = load_settings(_write(tmp_path, """
[xero.sandbox]
profile = "storm429"
storm = 3
retry_after = 0.5

[intercom.sandbox]
profile = "commit_then_timeout"
delay = 0.4
count = 1
"""))
    built = build_sandboxes(("hubspot", "xero", "intercom"), settings=settings)
    assert built["hubspot"].faults.profile == "demo"
    xero = built["xero"].faults.describe()
    assert (xero["profile"], xero["storm"], xero["retry_after"]) == ("storm429", 3, 0.5)
    intercom = built["intercom"].faults.describe()
    assert (intercom["profile"], intercom["delay"], intercom["count"]) == ("commit_then_timeout", 0.4, 1)
    assert profile_label(built) == "hubspot=demo xero=storm429 intercom=commit_then_timeout"

    forced = build_sandboxes(("hubspot", "xero"), profile="malformed", settings=settings)
    assert {name: sb.faults.describe()["profile"] for name, sb in forced.items()} == {
        "hubspot": "malformed", "xero": "malformed"}
    assert forced["xero"].faults.storm_remaining == 0 and profile_label(forced) == "malformed"
    assert fault_config("xero") == {"profile": "demo"}


def test_an_unknown_profile_in_the_settings_file_is_an_error_naming_the_key(tmp_path, monkeypatch):
    path = _write(tmp_path, '[xero.sandbox]\nprofile = "bogus"\n')
    with pytest.raises(ValidationError) as caught:
        load_settings(path)
    message = settings_problems(caught.value)
    assert message.startswith("xero.sandbox.profile: ")
    assert "unknown fault profile 'bogus'; one of demo, unthrottled" in message

    from opsconsole.cli import main

    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(path))
    result = CliRunner().invoke(main, ["sandbox", "serve", "xero"])
    assert result.exit_code == 1
    assert f"settings file {path}: xero.sandbox.profile: " in result.output and "'bogus'" in result.output


def test_example_settings_file_has_a_sandbox_table():
    s = load_settings(EXAMPLE)
    assert s.xero.sandbox.profile == "demo" and s.xero.sandbox.faults() == {"profile": "demo"}
    assert s.hubspot.sandbox.profile == "demo"
