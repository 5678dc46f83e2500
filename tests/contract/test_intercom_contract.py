"""The Intercom sandbox's responses and IntercomClient's requests, validated against Intercom's own
OpenAPI description (2.14).

The checking is connectors.contract's (openapi-core's core validators, not its Starlette
integration): the same validator the sandboxes' ContractMiddleware runs on every answer under test.
The description's defects are tolerated by JSON pointer in connectors/contract/specs.py, each with
its reason, and nothing broader: a pointer that no longer holds its defect fails the load.
"""

from __future__ import annotations

import httpx
import pytest

from tests.contract import openapi_support as support
from tests.sandbox_contract import checked

from connectors.contract import specs as contract_specs
from connectors.intercom.client import IntercomClient
from connectors.intercom.sandbox import IntercomSandbox
from connectors.sandbox import serve_in_thread

TOKEN = "sandbox-intercom-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"}
SPEC_HOST = contract_specs.SPEC_HOSTS["intercom"]


def openapi():
    """Intercom's 2.14 description, its known defects patched by pointer, checked and loaded once."""
    return support.description("intercom")


def SpecRequest(method: str, url: str, headers: dict[str, str], body: bytes | None):
    return support.spec_request("intercom", method, url, headers, body)


def validate(response: httpx.Response) -> None:
    support.validate_exchange("intercom", response)


@pytest.fixture(scope="module")
def spec():
    return openapi()


@pytest.fixture
async def api(spec):
    sandbox = IntercomSandbox(token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked(sandbox.app, "intercom")),
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
    r = await api.post("/events", json={"event_name": "invoice-paid", "created_at": 1717000000, "user_id": "u-9",
                                        "metadata": {"amount": 1200, "paid": True,  # Intercom's metadata types
                                                     "price": {"amount": 34999, "currency": "eur"}}})
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
    with pytest.raises(support.ContractViolation) as caught:
        validate(bad)
    assert ("RetrieveACompanyById", "/size") in {(v.operation, v.pointer) for v in caught.value.violations}
    # a request the description forbids, accepted by the sandbox, is a violation too
    request = httpx.Request("POST", "http://sandbox/events", headers=HEADERS, json={"event_name": "no-user"})
    accepted = httpx.Response(202, request=request)
    with pytest.raises(support.ContractViolation) as caught:
        validate(accepted)
    assert {v.where for v in caught.value.violations} == {"request"}
    # and openapi-core itself, on the same patched description, agrees
    with pytest.raises(OpenAPIError):
        spec.validate_request(SpecRequest("POST", str(request.url), dict(request.headers), request.content))


@pytest.fixture(scope="module")
def recorded():
    """A served sandbox whose ASGI wrapper records every request the client sends."""
    sandbox = IntercomSandbox(token=TOKEN)
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    app = checked(sandbox.app, "intercom")

    async def recorder(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
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

        await app(scope, replay, send)

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


async def test_companies_scroll(api, spec):
    """GET /companies/scroll (scrollOverAllCompanies): the sandbox's pages and the client's requests."""
    for i in range(5):
        await api.post("/companies", json={"company_id": f"SC-{i}", "name": f"Scrolled {i}"})
    r = await api.get("/companies/scroll")
    validate(r)
    first = r.json()
    assert first["type"] == "list" and len(first["data"]) == 5 and first["scroll_param"]
    assert first["pages"] is None and first["total_count"] is None
    assert (await api.get("/companies/scroll")).status_code == 400  # one open scroll per app
    r = await api.get("/companies/scroll", params={"scroll_param": first["scroll_param"]})
    validate(r)
    assert r.json()["data"] == []  # the end: the scroll expires
    assert (await api.get("/companies/scroll", params={"scroll_param": first["scroll_param"]})).status_code == 400

    from connectors.http import call_recorder

    sandbox = IntercomSandbox(token=TOKEN)
    for i in range(3):
        sandbox.upsert_company({"company_id": f"SC-{i}", "name": f"Scrolled {i}"})
    server, thread, url = serve_in_thread(checked(sandbox.app, "intercom"))
    client = IntercomClient(url, token=TOKEN)
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        assert [c["company_id"] async for c in client.iter_scroll_companies()] == ["SC-0", "SC-1", "SC-2"]
    finally:
        call_recorder.reset(token)
        await client.aclose()
        server.should_exit = True
        thread.join(timeout=5)
    assert len(recorded) == 2
    for call in recorded:
        full_url = SPEC_HOST + call.url[len(url):]
        spec.validate_request(SpecRequest(call.method, full_url,
                                          {**call.request_headers, "Authorization": f"Bearer {TOKEN}"}, None))
        assert call.request_headers["Intercom-Version"] == "2.14"


async def test_contacts_show_update_and_attach_to_a_company(spec):
    """GET/PUT /contacts/{id} (ShowContact, UpdateContact) and POST /contacts/{id}/companies
    (attachContactToACompany): the sandbox's answers (checked) and the client's requests."""
    from connectors.http import call_recorder

    sandbox = IntercomSandbox(token=TOKEN)
    server, thread, url = serve_in_thread(checked(sandbox.app, "intercom"))
    client = IntercomClient(url, token=TOKEN)
    recorded: list = []
    token = call_recorder.set(recorded)
    try:
        company = await client.upsert_company({"company_id": "A-1", "name": "Attached"})
        contact = await client.create_contact({"email": "ada@attached.example", "external_id": "con_1", "name": "Ada"})
        assert (await client.get_contact(contact["id"]))["email"] == "ada@attached.example"
        updated = await client.update_contact(contact["id"], {"name": "Ada Lovelace", "phone": "+44 20 7946 0000"})
        assert (updated["name"], updated["phone"], updated["email"]) == ("Ada Lovelace", "+44 20 7946 0000",
                                                                       "ada@attached.example")
        assert [c["id"] for c in await client.search_contacts("con_1", field="external_id")] == [contact["id"]]
        for _ in range(2):  # attaching again changes nothing
            attached = await client.attach_contact_to_company(contact["id"], company["id"])
        assert attached["id"] == company["id"] and attached["user_count"] == 1
        assert [c["id"] for c in (await client.get_contact(contact["id"]))["companies"]["data"]] == [company["id"]]
        from connectors.errors import NotFoundError

        with pytest.raises(NotFoundError):
            await client.get_contact("6762f0cd1bb69f9f2193bb7c")
        with pytest.raises(NotFoundError):
            await client.attach_contact_to_company(contact["id"], "6762f09a1bb69f9f2193bb34")
    finally:
        call_recorder.reset(token)
        await client.aclose()
        server.should_exit = True
        thread.join(timeout=5)
    import orjson

    assert len(recorded) == 10
    for call in [c for c in recorded if c.status is not None and c.status < 400]:
        body = call.request_body
        if body is not None and not isinstance(body, bytes):
            body = orjson.dumps(body)
        spec.validate_request(SpecRequest(call.method, SPEC_HOST + call.url[len(url):],
                                          {**call.request_headers, "Authorization": f"Bearer {TOKEN}",
                                           "Content-Type": "application/json"}, body))
        assert call.request_headers["Intercom-Version"] == "2.14"
