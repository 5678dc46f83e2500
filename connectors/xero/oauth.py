"""Xero OAuth 2.0 (authorization-code flow with rotating refresh tokens), client side.

Usage::

    oauth = XeroOAuth(token_url, connections_url, client_id, client_secret, FileTokenStore(path))
    url = oauth.authorize_url(redirect_uri, ["offline_access", "accounting.transactions"], state)
    await oauth.exchange_code(code, redirect_uri)       # once, after the consent screen
    token = await oauth.access_token()                  # refreshed when within 60 s of expiry
    tenants = await oauth.tenants()                     # GET /connections

Xero's refresh tokens rotate: each refresh answers a NEW refresh token and invalidates the old one,
so the new one is saved to the store before the access token is handed out, and concurrent callers
share one refresh (a lock). Tokens never appear in logs, exceptions or ``repr``: see :func:`mask`.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Protocol
from urllib.parse import urlencode

import httpx

from connectors.errors import AuthError, DownstreamError, FatalError, TimeoutError

XERO_AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
XERO_TOKEN_URL = "https://identity.xero.com/connect/token"
XERO_CONNECTIONS_URL = "https://api.xero.com/connections"
REFRESH_MARGIN_S = 60.0
SYSTEM = "xero"


def mask(token: str | None) -> str:
    """A token as it may be shown: its last 4 characters only."""
    if not token:
        return "<none>"
    return f"…{token[-4:]}" if len(token) > 12 else "****"


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: float
    """Clock seconds (the injected clock's scale) at which the access token expires."""
    token_type: str = "Bearer"
    scope: str = ""

    def __repr__(self) -> str:  # never print a token
        return (f"TokenSet(access_token={mask(self.access_token)}, refresh_token={mask(self.refresh_token)}, "
                f"expires_at={self.expires_at:.0f}, scope={self.scope!r})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TokenSet":
        return cls(access_token=str(data["access_token"]), refresh_token=str(data["refresh_token"]),
                   expires_at=float(data["expires_at"]), token_type=str(data.get("token_type", "Bearer")),
                   scope=str(data.get("scope", "")))


class TokenStore(Protocol):
    """Where the token set lives between runs."""

    def load(self) -> TokenSet | None: ...

    def save(self, tokens: TokenSet) -> None: ...

    def clear(self) -> None: ...


class MemoryTokenStore:
    def __init__(self, tokens: TokenSet | None = None) -> None:
        self.tokens = tokens

    def load(self) -> TokenSet | None:
        return self.tokens

    def save(self, tokens: TokenSet) -> None:
        self.tokens = tokens

    def clear(self) -> None:
        self.tokens = None


class FileTokenStore:
    """A JSON file readable by its owner only (mode 0600), replaced atomically on every save."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def load(self) -> TokenSet | None:
        try:
            return TokenSet.from_dict(json.loads(self.path.read_text("utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            raise AuthError(f"token file {self.path} is unreadable; connect again", system=SYSTEM) from None

    def save(self, tokens: TokenSet) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".xero-token-", dir=self.path.parent)  # created 0600
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(tokens.to_dict(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class KeyringTokenStore:
    """The token set in the OS keyring (needs the optional ``keyring`` package)."""

    def __init__(self, service: str = "opsconsole-xero", username: str = "default") -> None:
        import keyring  # noqa: F401 - ImportError here tells the caller keyring is unavailable

        self.service = service
        self.username = username

    def load(self) -> TokenSet | None:
        import keyring

        raw = keyring.get_password(self.service, self.username)
        return TokenSet.from_dict(json.loads(raw)) if raw else None

    def save(self, tokens: TokenSet) -> None:
        import keyring

        keyring.set_password(self.service, self.username, json.dumps(tokens.to_dict()))

    def clear(self) -> None:
        import keyring

        try:
            keyring.delete_password(self.service, self.username)
        except keyring.errors.PasswordDeleteError:
            pass


def keyring_available() -> bool:
    try:
        import keyring  # noqa: F401
    except ImportError:
        return False
    return True


class XeroOAuth:
    """Obtains, stores and refreshes Xero access tokens for one app (client id/secret)."""

    def __init__(
        self,
        token_url: str,
        connections_url: str,
        client_id: str,
        client_secret: str,
        store: TokenStore,
        *,
        authorize_endpoint: str = XERO_AUTHORIZE_URL,
        clock: Callable[[], float] = time.time,
        refresh_margin_s: float = REFRESH_MARGIN_S,
        timeout_s: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.token_url = token_url
        self.connections_url = connections_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.store = store
        self.authorize_endpoint = authorize_endpoint
        self.clock = clock
        self.refresh_margin_s = refresh_margin_s
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), trust_env=False)
        self._owns_http = http is None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"XeroOAuth(client_id={self.client_id!r}, token_url={self.token_url!r})"

    # --- the consent screen ---------------------------------------------------------------------
    def authorize_url(self, redirect_uri: str, scopes: list[str] | str, state: str) -> str:
        """The URL to send the user to; Xero redirects back to ``redirect_uri?code=...&state=...``."""
        scope = scopes if isinstance(scopes, str) else " ".join(scopes)
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                           "scope": scope, "state": state})
        return f"{self.authorize_endpoint}?{query}"

    # --- token endpoint ---------------------------------------------------------------------------
    async def _token_request(self, form: dict[str, str]) -> TokenSet:
        try:
            resp = await self._http.post(self.token_url, data=form, auth=(self.client_id, self._client_secret),
                                         headers={"Accept": "application/json"})
        except httpx.TimeoutException:
            raise TimeoutError("token endpoint timed out", system=SYSTEM) from None
        except httpx.HTTPError as exc:
            raise DownstreamError(f"token endpoint unreachable ({type(exc).__name__})", system=SYSTEM) from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        error = body.get("error") if isinstance(body, dict) else None
        # never carry the response body into the error: a success-shaped body would hold tokens
        if resp.status_code >= 500:
            raise DownstreamError("token endpoint failed", system=SYSTEM, status=resp.status_code)
        if resp.status_code in (400, 401) and error in ("invalid_grant", "invalid_client", "unauthorized_client"):
            raise AuthError(f"{error} ({form.get('grant_type')}); connect again", system=SYSTEM,
                            status=resp.status_code, body={"error": error})
        if resp.status_code >= 400:
            raise FatalError(f"token request rejected: {error or 'unknown error'}", system=SYSTEM,
                             status=resp.status_code, body={"error": error})
        try:
            tokens = TokenSet(access_token=body["access_token"], refresh_token=body["refresh_token"],
                              expires_at=self.clock() + float(body.get("expires_in", 1800)),
                              token_type=body.get("token_type", "Bearer"), scope=body.get("scope", ""))
        except (KeyError, TypeError, ValueError):
            raise DownstreamError("token endpoint answered without access_token/refresh_token "
                                  "(is offline_access among the scopes?)", system=SYSTEM,
                                  status=resp.status_code) from None
        self.store.save(tokens)
        return tokens

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        """Trade the authorization code from the redirect for a token set, and save it."""
        return await self._token_request({"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": redirect_uri})

    async def refresh(self) -> TokenSet:
        """Use the stored refresh token once; the NEW refresh token it returns is saved (rotation)."""
        async with self._lock:
            return await self._refresh_locked()

    async def _refresh_locked(self) -> TokenSet:
        current = self.store.load()
        if current is None:
            raise AuthError("not connected to Xero: no stored tokens", system=SYSTEM)
        tokens = await self._token_request({"grant_type": "refresh_token", "refresh_token": current.refresh_token})
        self.refreshes += 1
        return tokens

    async def access_token(self) -> str:
        """A valid access token, refreshed first when it expires within ``refresh_margin_s``."""
        async with self._lock:
            tokens = self.store.load()
            if tokens is None:
                raise AuthError("not connected to Xero: no stored tokens", system=SYSTEM)
            if tokens.expires_at - self.clock() <= self.refresh_margin_s:
                tokens = await self._refresh_locked()
            return tokens.access_token

    async def tenants(self) -> list[dict]:
        """The organisations this token reaches (``GET /connections``)."""
        token = await self.access_token()
        try:
            resp = await self._http.get(self.connections_url, headers={"Authorization": f"Bearer {token}",
                                                                       "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise DownstreamError(f"connections endpoint unreachable ({type(exc).__name__})", system=SYSTEM) from None
        if resp.status_code in (401, 403):
            raise AuthError("connections: not authorised", system=SYSTEM, status=resp.status_code)
        if resp.status_code >= 400:
            cls = DownstreamError if resp.status_code >= 500 else FatalError
            raise cls("connections request failed", system=SYSTEM, status=resp.status_code)
        return resp.json()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()


__all__ = [
    "FileTokenStore", "KeyringTokenStore", "MemoryTokenStore", "REFRESH_MARGIN_S", "TokenSet", "TokenStore",
    "XERO_AUTHORIZE_URL", "XERO_CONNECTIONS_URL", "XERO_TOKEN_URL", "XeroOAuth", "keyring_available", "mask",
]
