"""connectors.contract: the middleware every served sandbox runs under test, its rules, and its reach.

Fake vendor apps answer exactly what a case needs, so each rule is seen to bite (and to stay quiet
where it should); the last tests check that every vendor route each real sandbox serves is in the
vendor's description, and that the product never needs openapi-core unless asked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connectors.contract import ContractMiddleware, DefectGone
from connectors.contract import specs as contract_specs
from connectors.contract.specs import Defect, apply_defects
from tests.contract import openapi_support as support
from tests.sandbox_contract import checked, take_violations

pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")

ROOT = Path(__file__).resolve().parents[2]
XERO = {"Authorization": "Bearer t", "xero-tenant-id": "t"}
CONTACT_ID = "6a65f055-b0e0-471a-a933-d1ffdd89393f"


def xero_app(body=None, *, status: int = 200, text: str | None = None, headers: dict | None = None,
             raises: bool = False) -> Starlette:
    """A stand-in Xero answering every route the same way (and the control/identity routes plainly)."""

    async def answer(request: Request) -> Response:
        if raises:
            raise RuntimeError("handler blew up")
        if text is not None:
            return PlainTextResponse(text, status_code=status, headers=headers)
        return JSONResponse(body if body is not None else {"Contacts": []}, status_code=status, headers=headers)

    async def plain(request: Request) -> Response:
        return JSONResponse({"anything": ["goes"]})

    return Starlette(routes=[Route("/_sandbox/state", plain), Route("/connections", plain),
                             Route("/api.xro/2.0/{rest:path}", answer, methods=["GET", "PUT", "POST", "DELETE"])])


async def call(app, method: str, path: str, **kw) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://sandbox", headers=XERO) as c:
        return await c.request(method, path, **kw)


# --- strict and lenient -----------------------------------------------------------------------------
async def test_strict_mode_replaces_a_violating_answer_with_a_500_that_names_it():
    mw = ContractMiddleware(xero_app({"Contacts": [{"ContactID": "not-a-uuid", "IsCustomer": "yes"}]}), "xero")
    r = await call(mw, "GET", f"/api.xro/2.0/Contacts/{CONTACT_ID}")
    assert r.status_code == 500 and r.headers["x-contract-violation"] == "2"
    body = r.json()["contract_violation"]
    assert (body["vendor"], body["operation"], body["method"], body["status"]) == ("xero", "getContact", "GET", 200)
    found = {(v["where"], v["pointer"]) for v in body["violations"]}
    assert found == {("response", "/Contacts/0/ContactID"), ("response", "/Contacts/0/IsCustomer")}
    assert all(v["message"] and v["schema"] for v in body["violations"])
    assert r.json()["message"].startswith("contract violation: xero getContact")
    # the record, through the control route the middleware serves itself
    record = (await call(mw, "GET", "/_sandbox/contract")).json()
    assert (record["vendor"], record["strict"], record["checked"], len(record["violations"])) == ("xero", True, 1, 2)
    assert (await call(mw, "DELETE", "/_sandbox/contract")).json()["violations"] == record["violations"]
    assert (await call(mw, "GET", "/_sandbox/contract")).json()["violations"] == []


async def test_lenient_mode_passes_the_answer_and_records():
    mw = ContractMiddleware(xero_app({"Contacts": [{"ContactID": "nope"}]}), "xero", strict=False)
    r = await call(mw, "GET", f"/api.xro/2.0/Contacts/{CONTACT_ID}")
    assert r.status_code == 200 and r.json() == {"Contacts": [{"ContactID": "nope"}]}
    (violation,) = mw.take()
    assert (violation.operation, violation.pointer) == ("getContact", "/Contacts/0/ContactID")
    assert "getContact" in str(violation) and mw.take() == []


async def test_a_conforming_answer_passes_untouched():
    mw = ContractMiddleware(xero_app({"Contacts": [{"ContactID": CONTACT_ID, "Name": "Fine Co"}]}), "xero")
    r = await call(mw, "GET", f"/api.xro/2.0/Contacts/{CONTACT_ID}")
    assert r.status_code == 200 and r.json()["Contacts"][0]["Name"] == "Fine Co"
    assert mw.checked == 1 and mw.violations == []


# --- scope -------------------------------------------------------------------------------------------
async def test_control_routes_and_xeros_identity_routes_are_not_checked():
    mw = ContractMiddleware(xero_app(), "xero")
    assert (await call(mw, "GET", "/_sandbox/state")).status_code == 200
    assert (await call(mw, "GET", "/connections")).status_code == 200  # identity.xero.com: no description
    assert mw.checked == 0 and mw.violations == []


async def test_a_route_the_description_lacks_is_a_violation_unless_turned_away():
    mw = ContractMiddleware(xero_app({"Widgets": []}), "xero")
    assert (await call(mw, "GET", "/api.xro/2.0/Widgets")).status_code == 500
    (violation,) = mw.take()
    assert violation.message == "no operation in the description for this method and path"
    turned_away = ContractMiddleware(xero_app(status=404, text="The resource you're looking for cannot be found"), "xero")
    assert (await call(turned_away, "GET", "/api.xro/2.0/Widgets")).status_code == 404
    assert turned_away.take() == []


# --- requests ----------------------------------------------------------------------------------------
async def test_a_forbidden_request_is_a_violation_only_when_the_sandbox_accepts_it():
    bad = {"Contacts": [{"Name": "X", "ContactStatus": "SOMETIMES"}]}
    accepting = ContractMiddleware(xero_app({"Contacts": [{"ContactID": CONTACT_ID}]}), "xero", strict=False)
    await call(accepting, "PUT", "/api.xro/2.0/Contacts", json=bad)
    (violation,) = accepting.take()
    assert (violation.where, violation.pointer) == ("request", "/Contacts/0/ContactStatus")
    refusing = ContractMiddleware(xero_app({"ErrorNumber": 10, "Type": "ValidationException", "Message": "no"},
                                           status=400), "xero", strict=False)
    await call(refusing, "PUT", "/api.xro/2.0/Contacts", json=bad)
    assert refusing.take() == []  # a probed error path: the 400 itself is what is checked


# --- statuses the description does not list ----------------------------------------------------------
@pytest.mark.parametrize("case, app, expect", [
    ("404 must be plain text", dict(status=404, body={"error": "gone"}), "response header Content-Type"),
    ("429 names its limit", dict(status=429, text="slow down", headers={"Retry-After": "3"}),
     "response header X-Rate-Limit-Problem"),
    ("429 names a known limit", dict(status=429, text="slow", headers={"Retry-After": "3", "X-Rate-Limit-Problem": "hour"}),
     "response header X-Rate-Limit-Problem"),
    ("401 is a problem body", dict(status=401, body={"oops": True}), "response"),
    ("an undocumented success", dict(status=201, body={"Contacts": []}), "response"),
    ("418 is nothing Xero documents", dict(status=418, text="teapot"), "response"),
])
async def test_undocumented_statuses_are_held_to_xeros_documented_error_shapes(case, app, expect):
    mw = ContractMiddleware(xero_app(app.get("body"), status=app["status"], text=app.get("text"),
                                     headers=app.get("headers")), "xero", strict=False)
    await call(mw, "GET", "/api.xro/2.0/Contacts")
    assert expect in {v.where for v in mw.take()}, case


@pytest.mark.parametrize("app", [
    dict(status=404, text="The resource you're looking for cannot be found"),
    dict(status=429, text="oauth_problem=rate_limit_exceeded", headers={"Retry-After": "2", "X-Rate-Limit-Problem": "minute"}),
    dict(status=401, body={"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"}),
    dict(status=503, text="The Xero API is currently unavailable."),
])
async def test_xeros_documented_error_shapes_pass(app):
    mw = ContractMiddleware(xero_app(app.get("body"), status=app["status"], text=app.get("text"),
                                     headers=app.get("headers")), "xero", strict=False)
    await call(mw, "GET", "/api.xro/2.0/Contacts")
    assert mw.take() == []


async def test_a_sandbox_that_raises_is_recorded():
    mw = ContractMiddleware(xero_app(raises=True), "xero", strict=False)
    r = await call(mw, "GET", f"/api.xro/2.0/Contacts/{CONTACT_ID}")
    assert r.status_code == 500
    assert any(v.where == "sandbox" and "RuntimeError" in v.message for v in mw.take())


# --- the pytest guard --------------------------------------------------------------------------------
async def test_the_guard_collects_what_any_checked_sandbox_recorded():
    app = checked(xero_app({"Contacts": [{"ContactID": 7}]}), "xero")
    assert (await call(app, "GET", f"/api.xro/2.0/Contacts/{CONTACT_ID}")).status_code == 500
    taken = take_violations()  # what the autouse fixture would have failed this test with
    assert [(v.vendor, v.pointer) for v in taken] == [("xero", "/Contacts/0/ContactID")]


# --- descriptions and their defects ------------------------------------------------------------------
def test_a_defect_that_is_gone_fails_the_load():
    defect = Defect("/components/schemas/A/properties/b/default", "a string default",
                    lambda parent, key: isinstance(parent.get(key), str), lambda parent, key: None)
    with pytest.raises(DefectGone, match="/components/schemas/A/properties/b/default"):
        apply_defects({"components": {"schemas": {"A": {"properties": {"b": {"default": False}}}}}}, (defect,))
    with pytest.raises(DefectGone):
        apply_defects({"components": {}}, (defect,))


@pytest.mark.parametrize("vendor", ["xero", "intercom"])
def test_every_defect_pointer_still_holds_its_defect_upstream(vendor):
    """Each tolerated pointer, each with its reason, still holds what it says in the raw description."""
    import yaml

    path = contract_specs.spec_path(vendor)
    if not path.exists():
        pytest.skip(f"{vendor} description not found at {path}")
    raw = yaml.load(path.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for defect in contract_specs.DEFECTS[vendor]:
        assert defect.why and defect.pointer.startswith("/")
        parent, key = contract_specs.resolve(raw, defect.pointer)
        assert defect.holds(parent, key), defect.pointer
    support.description(vendor)  # and, patched, the description is valid OpenAPI (checked in full)


def test_hubspots_description_is_valid_openapi():
    support.description("hubspot")


def test_spec_root_explicit_then_env_then_beside_the_repo(monkeypatch, tmp_path):
    monkeypatch.delenv("OPSCONSOLE_SPECS", raising=False)
    assert contract_specs.spec_root() == ROOT.parent / "shared" / "specs"
    monkeypatch.setenv("OPSCONSOLE_SPECS", str(tmp_path))
    assert contract_specs.spec_root() == tmp_path
    assert contract_specs.spec_root(tmp_path / "x") == tmp_path / "x"
    (tmp_path / "xero_accounting.yaml").write_text("{}")  # the vendor's own folder is accepted too
    assert contract_specs.spec_path("xero") == tmp_path / "xero_accounting.yaml"


# --- reach: every route each sandbox serves is described --------------------------------------------
def _served_vendor_routes(app) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                out.append((method, path.replace("{", "").replace("}", "").replace(":path", "")))
    return out


@pytest.mark.parametrize("vendor", ["hubspot", "xero", "intercom"])
def test_every_vendor_route_a_sandbox_serves_is_in_the_description(vendor):
    from connectors.registry import load

    validator = support.validator(vendor)
    sandbox = load(vendor).sandbox()
    routes = [(m, p) for m, p in _served_vendor_routes(sandbox.app) if validator.covers(p)]
    assert routes
    missing = [(m, p) for m, p in routes if validator.operation(m, p) is None]
    assert missing == [], f"{vendor} sandbox routes with no operation in the description: {missing}"


# --- the product runs without the test extra ---------------------------------------------------------
def test_importing_the_package_loads_neither_openapi_core_nor_yaml():
    code = ("import sys, connectors.contract, opsconsole.sandboxes; "
            "bad = [m for m in ('openapi_core', 'yaml', 'jsonschema') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_product_never_validates_unless_asked():
    import inspect

    from opsconsole.sandboxes import serve, start_process

    assert inspect.signature(serve).parameters["validate_responses"].default is False
    assert inspect.signature(start_process).parameters["validate_responses"].default is False
    assert "validate_responses" not in (ROOT / "benchmarks" / "run.py").read_text()
