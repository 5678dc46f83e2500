"""The Intercom sandbox's responses and IntercomClient's requests, validated against Intercom's own
OpenAPI description (2.14).

openapi-core's core validators (not its Starlette integration), the spec loaded once per module. Spec
defects are tolerated by JSON pointer, one pointer at a time, and nothing broader: each listed pointer
must exist and hold what the defect says, or the test fails (so a fixed spec drops the entry).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import httpx
import pytest

from tests.contract import openapi_support as support

from connectors.intercom.client import IntercomClient
from connectors.intercom.sandbox import IntercomSandbox
from connectors.sandbox import serve_in_thread

TOKEN = "sandbox-intercom-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"}
SPEC_HOST = "https://api.intercom.io"
SPEC_FILE = "api.intercom.io.2.14.yaml"

# Defect: custom data attributes are declared ``additionalProperties: {type: string}`` while the same
# schema's example (and Intercom's API) carry numbers and booleans (health_score, financial_risk).
# Relaxed to "any value" at exactly these pointers.
CUSTOM_ATTRIBUTES_AS_STRINGS = (
    "/components/schemas/create_or_update_company_request/properties/custom_attributes/additionalProperties",
    "/components/schemas/company/properties/custom_attributes/additionalProperties",
)
# SOURCE.txt: "an unresolved job_identifier path parameter": two path templates name {job_identifier}
# but their operations declare it ``in: query``, so the spec does not load. Declared ``in: path`` at
# exactly these pointers (both operations are outside our subset).
JOB_IDENTIFIER_IN = (
    "/paths/~1export~1reporting_data~1{job_identifier}/get/parameters/3/in",
    "/paths/~1download~1reporting_data~1{job_identifier}/get/parameters/3/in",
)
# Defect: POST /tags declares its body as ``oneOf`` create-or-update / tag companies / untag companies /
# tag users, but the alternatives do not exclude each other (no required discriminating field, extra
# properties allowed), so a valid "tag companies" body matches three of them and fails ``oneOf``.
# Read as ``anyOf`` at exactly this pointer.
TAGS_BODY_ONE_OF = "/paths/~1tags/post/requestBody/content/application~1json/schema/oneOf"


def spec_dir() -> Path:
    return support.spec_dir("intercom", SPEC_FILE)


_resolve = support.resolve


@cache
def openapi():
    """Intercom's 2.14 spec, its known defects patched by pointer, loaded once."""
    import yaml
    from openapi_core import OpenAPI

    path = spec_dir() / SPEC_FILE
    if not path.exists():
        pytest.skip(f"Intercom spec not found at {path} (set OPSCONSOLE_SPECS)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as fh:
        doc = yaml.load(fh, Loader=loader)
    for pointer in CUSTOM_ATTRIBUTES_AS_STRINGS:
        parent, key = _resolve(doc, pointer)
        assert parent.get(key) == {"type": "string"}, f"known defect at {pointer} is gone: drop it from the list"
        parent[key] = {}
    for pointer in JOB_IDENTIFIER_IN:
        parent, key = _resolve(doc, pointer)
        assert parent.get("name") == "job_identifier" and parent.get(key) == "query", \
            f"known defect at {pointer} is gone: drop it from the list"
        parent[key] = "path"
    parent, key = _resolve(doc, TAGS_BODY_ONE_OF)
    assert isinstance(parent.get(key), list), f"known defect at {TAGS_BODY_ONE_OF} is gone: drop it"
    parent["anyOf"] = parent.pop(key)
    return OpenAPI.from_dict(doc)


def SpecRequest(method: str, url: str, headers: dict[str, str], body: bytes | None) -> support.SpecRequest:
    return support.SpecRequest(method, url, headers, body, host_url=SPEC_HOST)


def validate(response: httpx.Response) -> None:
    support.validate_exchange(openapi(), response, SPEC_HOST)


@pytest.fixture(scope="module")
def spec():
    return openapi()


@pytest.fixture
async def api(spec):
    sandbox = IntercomSandbox(token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app),
                                 base_url="http://sandbox", headers=HEADERS) as c:
        yield c


HEALTH = {"health_score": 71, "renewal_date": 1767225600, "financial_risk": False, "onboarding_stage": "kickoff"}


async def test_companies_upsert_get_find_list(api):
    r = await api.post("/companies", json={"company_id": "C-1", "name": "Contract Co", "plan": "Growth",
                                           "size": 40, "custom_attributes": HEALTH})
    validate(r)
    company = r.json()
    r = await api.post("/companies", json={"company_id": "C-1", "custom_attributes": {"health_score": 20}})
    validate(r)
    assert r.json()["id"] == company["id"]
    r = await api.get(f"/companies/{company['id']}")
    validate(r)
    r = await api.get("/companies", params={"company_id": "C-1"})
    validate(r)
    assert r.json()["data"][0]["id"] == company["id"]
    for i in range(4):
        await api.post("/companies", json={"company_id": f"L-{i}", "name": f"Listed {i}"})
    r = await api.get("/companies", params={"per_page": 2})
    validate(r)
    r = await api.get("/companies", params={"per_page": 2, "starting_after": r.json()["pages"]["next"]["starting_after"]})
    validate(r)
    assert r.json()["pages"]["page"] == 2


async def test_company_errors(api):
    r = await api.post("/companies", json={"test": "invalid"})
    assert r.status_code == 400
    validate(r)
    assert r.json()["errors"][0] == {"code": "bad_request", "message": "bad 'test' parameter"}
    r = await api.get("/companies", params={"company_id": "missing"})
    assert r.status_code == 404
    validate(r)
    r = await api.get("/companies/6762f0761bb69f9f2193bae2")
    assert r.status_code == 404
    validate(r)
    r = await api.post("/companies", json={"company_id": "x"}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    validate(r)
    assert r.json()["errors"] == [{"code": "unauthorized", "message": "Access Token Invalid"}]


async def test_contacts_search_events_tickets_tags(api):
    r = await api.post("/contacts", json={"email": "spec@contract.example", "external_id": "u-9", "name": "Spec"})
    validate(r)
    contact = r.json()
    r = await api.post("/contacts/search", json={"query": {"field": "email", "operator": "=",
                                                          "value": "spec@contract.example"},
                                                "pagination": {"per_page": 5}})
    validate(r)
    assert r.json()["total_count"] == 1
    r = await api.post("/events", json={"event_name": "invoice-paid", "created_at": 1717000000, "user_id": "u-9",
                                        "metadata": {"invoice": "INV-1"}})
    assert r.status_code == 202
    validate(r)
    r = await api.post("/companies", json={"company_id": "T-1", "name": "Ticketed"})
    company = r.json()
    r = await api.post("/tickets", json={"ticket_type_id": "1", "contacts": [{"id": contact["id"]}],
                                         "company_id": company["id"],
                                         "ticket_attributes": {"_default_title_": "Kickoff"}})
    validate(r)
    r = await api.post("/tags", json={"name": "At risk"})
    validate(r)
    r = await api.post("/tags", json={"name": "At risk", "companies": [{"id": company["id"]}]})
    validate(r)


async def test_undocumented_statuses_keep_intercoms_shapes(api):
    """429, 409 and 5xx are not in the spec for these operations: check Intercom's shapes and headers."""
    r = await api.get("/companies")
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(r.headers)
    await api.post("http://sandbox/_sandbox/faults", json={"profile": "storm429", "storm": 1, "retry_after": 7})
    r = await api.get("/companies")
    assert r.status_code == 429 and "retry-after" not in r.headers and r.headers["x-ratelimit-remaining"] == "0"
    body = r.json()
    assert body["type"] == "error.list" and body["errors"][0]["code"] == "rate_limit_exceeded"
    await api.post("http://sandbox/_sandbox/faults", json={"profile": "flaky5xx", "error_rate": 1})
    r = await api.get("/companies")
    assert r.status_code == 503 and r.json()["type"] == "error.list"


def test_the_validator_has_teeth(spec):
    from openapi_core.exceptions import OpenAPIError

    request = httpx.Request("GET", "http://sandbox/companies/6762f0761bb69f9f2193bae2", headers=HEADERS)
    bad = httpx.Response(200, json={"type": "company", "size": "large"}, request=request)
    with pytest.raises(OpenAPIError):
        validate(bad)
    request = httpx.Request("POST", "http://sandbox/events", headers=HEADERS, json={"event_name": "no-user"})
    with pytest.raises(OpenAPIError):
        spec.validate_request(SpecRequest("POST", str(request.url), dict(request.headers), request.content))


@pytest.fixture(scope="module")
def recorded():
    """A served sandbox whose ASGI wrapper records every request the client sends."""
    sandbox = IntercomSandbox(token=TOKEN)
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    async def recorder(scope, receive, send):
        if scope["type"] != "http":
            return await sandbox.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        query = scope["query_string"].decode()
        url = f"{SPEC_HOST}{scope['path']}" + (f"?{query}" if query else "")
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen.append((scope["method"], url, headers, body))
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await sandbox.app(scope, replay, send)

    server, thread, url = serve_in_thread(recorder)
    yield url, seen
    server.should_exit = True
    thread.join(timeout=5)


async def test_client_requests_match_the_spec(spec, recorded):
    url, seen = recorded
    client = IntercomClient(url, token=TOKEN)
    try:
        company = await client.upsert_company({"company_id": "S-1", "name": "Spec Client", "custom_attributes": HEALTH},
                                              traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
        await client.get_company(company["id"])
        await client.find_company("S-1")
        await client.upsert_company({"company_id": "S-2", "name": "Second"})
        page = await client.list_companies(per_page=1)
        await client.list_companies(per_page=1, starting_after=page["pages"]["next"]["starting_after"])
        contact = await client.create_contact({"email": "spec@client.example", "external_id": "u-1"})
        await client.search_contacts("spec@client.example")
        await client.create_data_event("renewal-ready", 1717000000, user_id="u-1", metadata={"quote": "Q-1"})
        await client.create_data_event("renewal-ready", 1717000000, email="spec@client.example")
        await client.create_ticket("2", [{"id": contact["id"]}], title="Renewal risk", company_id=company["id"])
        await client.create_tag("At risk")
        await client.tag_companies("At risk", [company["id"]])
    finally:
        await client.aclose()
    assert len(seen) == 13
    for method, full_url, headers, body in seen:
        spec.validate_request(SpecRequest(method, full_url, headers, body))
        assert headers["authorization"] == f"Bearer {TOKEN}" and headers["intercom-version"] == "2.14"
