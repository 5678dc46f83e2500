"""Xero OAuth2 against the sandbox's identity endpoints, over real HTTP."""

from __future__ import annotations

import stat
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from connectors.errors import AuthError
from connectors.sandbox import serve_in_thread
from connectors.xero.client import XeroClient
from connectors.xero.oauth import FileTokenStore, MemoryTokenStore, TokenSet, XeroOAuth, mask
from connectors.xero.sandbox import XeroSandbox
from connectors.xero.sandbox_identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.sandbox_contract import checked

TENANT = "sandbox-tenant"
REDIRECT = "http://localhost:8765/callback"
SCOPES = ["offline_access", "accounting.transactions", "accounting.contacts"]


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def served():
    sandbox = XeroSandbox(tenant_id=TENANT)
    server, thread, url = serve_in_thread(checked(sandbox.app, "xero"))
    yield sandbox, url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def url(served):
    return served[1]


@pytest.fixture
async def oauth(url, tmp_path):
    o = XeroOAuth(f"{url}/connect/token", f"{url}/connections", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
                  FileTokenStore(tmp_path / "xero-token.json"),
                  authorize_endpoint=f"{url}/identity-sandbox/authorize", clock=Clock())
    yield o
    await o.aclose()


def consent(oauth: XeroOAuth, state: str = "st-123") -> str:
    """Follow the authorize URL as a browser would, and read the code off the redirect."""
    r = httpx.get(oauth.authorize_url(REDIRECT, SCOPES, state), follow_redirects=False)
    assert r.status_code == 302
    location = r.headers["location"]
    assert location.startswith(REDIRECT)
    query = parse_qs(urlparse(location).query)
    assert query["state"] == [state]
    return query["code"][0]


async def test_code_exchange_gives_tokens_and_tenants(oauth, tmp_path):
    url = oauth.authorize_url(REDIRECT, SCOPES, "xyz")
    q = parse_qs(urlparse(url).query)
    assert q["response_type"] == ["code"] and q["scope"] == [" ".join(SCOPES)] and q["client_id"] == [DEFAULT_CLIENT_ID]
    tokens = await oauth.exchange_code(consent(oauth), REDIRECT)
    assert tokens.access_token and tokens.refresh_token and tokens.token_type == "Bearer"
    assert tokens.expires_at == oauth.clock() + 1800
    assert oauth.store.load() == tokens
    assert tokens.access_token not in repr(tokens) and tokens.refresh_token not in repr(tokens)
    tenants = await oauth.tenants()
    assert tenants[0]["tenantId"] == TENANT and tenants[0]["tenantType"] == "ORGANISATION"
    assert {"id", "tenantName"} <= set(tenants[0])


async def test_code_is_single_use_and_bound_to_redirect(oauth):
    code = consent(oauth)
    with pytest.raises(AuthError) as exc:
        await oauth.exchange_code(code, "http://elsewhere.example/cb")
    assert "invalid_grant" in str(exc.value)
    with pytest.raises(AuthError):  # used up by the failed attempt
        await oauth.exchange_code(code, REDIRECT)


async def test_token_endpoint_answer_shape_and_bad_client(url, oauth):
    code = consent(oauth)
    r = httpx.post(f"{url}/connect/token", data={"grant_type": "authorization_code", "code": code,
                                                  "redirect_uri": REDIRECT},
                   auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "refresh_token", "scope"}
    assert body["expires_in"] == 1800 and body["token_type"] == "Bearer"
    r = httpx.post(f"{url}/connect/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                   auth=(DEFAULT_CLIENT_ID, "wrong-secret"))
    assert r.status_code == 401 and r.json() == {"error": "invalid_client"}


async def test_refresh_rotates_and_old_refresh_token_is_rejected(url, oauth):
    first = await oauth.exchange_code(consent(oauth), REDIRECT)
    second = await oauth.refresh()
    assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
    assert oauth.store.load().refresh_token == second.refresh_token  # the NEW one is saved
    r = httpx.post(f"{url}/connect/token", data={"grant_type": "refresh_token", "refresh_token": first.refresh_token},
                   auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET))
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant"}
    # a client whose store still holds the used token gets an AuthError that does not leak it
    oauth.store.save(first)
    with pytest.raises(AuthError) as exc:
        await oauth.refresh()
    assert "invalid_grant" in str(exc.value)
    assert first.refresh_token not in str(exc.value) and first.refresh_token not in repr(exc.value.body)


async def test_access_token_refreshes_near_expiry_with_injected_clock(oauth):
    tokens = await oauth.exchange_code(consent(oauth), REDIRECT)
    assert await oauth.access_token() == tokens.access_token
    oauth.clock.now += 1800 - 61  # 61 s left: still fine
    assert await oauth.access_token() == tokens.access_token
    assert oauth.refreshes == 0
    oauth.clock.now += 2  # 59 s left: refresh first
    fresh = await oauth.access_token()
    assert fresh != tokens.access_token and oauth.refreshes == 1
    assert oauth.store.load().refresh_token != tokens.refresh_token
    assert await oauth.access_token() == fresh and oauth.refreshes == 1


async def test_accounting_api_accepts_issued_tokens_and_rejects_expired(url, oauth):
    tokens = await oauth.exchange_code(consent(oauth), REDIRECT)
    client = XeroClient(f"{url}/api.xro/2.0", token=tokens.access_token, tenant_id=TENANT, transport="httpx")
    try:
        assert isinstance(await client.list_contacts(), list)
        httpx.post(f"{url}/_sandbox/oauth", json={"expire_access_tokens": True}).raise_for_status()
        with pytest.raises(AuthError) as exc:
            await client.list_contacts()
        assert exc.value.status == 401 and "TokenExpired" in str(exc.value)
        bogus = XeroClient(f"{url}/api.xro/2.0", token="not-a-token", tenant_id=TENANT, transport="httpx")
        with pytest.raises(AuthError):
            await bogus.list_contacts()
        await bogus.aclose()
    finally:
        await client.aclose()


def test_file_token_store_is_0600_and_round_trips(tmp_path):
    store = FileTokenStore(tmp_path / "sub" / "token.json")
    assert store.load() is None
    tokens = TokenSet("a" * 40, "r" * 40, 123.0, scope="offline_access")
    store.save(tokens)
    assert stat.S_IMODE((tmp_path / "sub" / "token.json").stat().st_mode) == 0o600
    assert store.load() == tokens
    store.save(TokenSet("b" * 40, "s" * 40, 456.0))
    assert stat.S_IMODE((tmp_path / "sub" / "token.json").stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["token.json"]  # no temp files left
    store.clear()
    assert store.load() is None


async def test_not_connected_and_mask():
    o = XeroOAuth("http://127.0.0.1:9/connect/token", "http://127.0.0.1:9/connections", "id", "secret",
                  MemoryTokenStore())
    with pytest.raises(AuthError):
        await o.access_token()
    await o.aclose()
    assert mask("abcdefghijklmnopqrstuvwxyz") == "…wxyz" and mask("short") == "****" and mask(None) == "<none>"
