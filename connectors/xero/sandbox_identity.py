"""Xero's identity endpoints, emulated for the sandbox (OAuth 2.0 authorization-code flow).

- ``GET /identity-sandbox/authorize?response_type=code&client_id&redirect_uri&scope&state``: the
  consent screen, already consented: answers 302 to ``redirect_uri?code=...&state=...`` (and the same
  in a JSON body, for scripts).
- ``POST /connect/token`` (form body; client id/secret by HTTP Basic): ``grant_type=authorization_code``
  (``code`` + the same ``redirect_uri``; a code is single-use) or ``grant_type=refresh_token``.
  Answers ``{"access_token", "expires_in": 1800, "token_type": "Bearer", "refresh_token", "scope"}``.
  Refresh tokens rotate: using one invalidates it; reusing it answers 400 ``{"error": "invalid_grant"}``.
- ``GET /connections`` (bearer): the tenants the token may reach.

Access tokens are opaque here (Xero's are JWTs); the accounting routes accept them until they expire.
``clock`` is injectable and ``POST /_sandbox/oauth`` can expire every issued access token at once.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ACCESS_TTL_S = 1800
DEFAULT_CLIENT_ID = "sandbox-xero-client"
DEFAULT_CLIENT_SECRET = "sandbox-xero-client-secret"
DEFAULT_SCOPE = "offline_access accounting.transactions accounting.contacts"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str


@dataclass
class _Grant:
    client_id: str
    scope: str


class XeroIdentity:
    """Clients, authorization codes, access and (rotating) refresh tokens, and the tenant list."""

    def __init__(self, *, tenant_id: str, tenant_name: str = "Demo Company (US)",
                 clients: dict[str, str] | None = None, clock: Callable[[], float] = time.time,
                 access_ttl_s: int = ACCESS_TTL_S) -> None:
        self.tenant_id = tenant_id
        self.tenant_name = tenant_name
        self.clients = dict(clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
        self.clock = clock
        self.access_ttl_s = access_ttl_s
        self.connection_id = str(uuid.uuid4())
        self.auth_event_id = str(uuid.uuid4())
        self.created = time.strftime("%Y-%m-%dT%H:%M:%S.0000000", time.gmtime())
        self.codes: dict[str, _Code] = {}
        self.access: dict[str, float] = {}
        """access token -> expiry (clock seconds)."""
        self.refresh: dict[str, _Grant] = {}
        self.used_refresh: set[str] = set()
        self.counts = {"codes": 0, "exchanges": 0, "refreshes": 0, "invalid_grant": 0}

    def routes(self) -> list[Route]:
        return [
            Route("/identity-sandbox/authorize", self._authorize, methods=["GET"]),
            Route("/connect/token", self._token, methods=["POST"]),
            Route("/connections", self._connections, methods=["GET"]),
            Route("/_sandbox/oauth", self._control, methods=["GET", "POST"]),
        ]

    # --- checks used by the accounting routes ----------------------------------------------------
    def token_state(self, token: str) -> str:
        """``valid``, ``expired`` or ``unknown`` for a bearer token this identity server issued."""
        expiry = self.access.get(token)
        if expiry is None:
            return "unknown"
        return "valid" if self.clock() < expiry else "expired"

    # --- routes -----------------------------------------------------------------------------------
    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        if q.get("response_type", "code") != "code":
            return JSONResponse({"error": "unsupported_response_type"}, status_code=400)
        if client_id not in self.clients:
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if not redirect_uri:
            return JSONResponse({"error": "invalid_request", "error_description": "redirect_uri required"},
                                status_code=400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Code(client_id, redirect_uri, q.get("scope", DEFAULT_SCOPE))
        self.counts["codes"] += 1
        params = {"code": code, "scope": self.codes[code].scope}
        if q.get("state") is not None:
            params["state"] = q["state"]
        location = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params)
        return JSONResponse({**params, "redirect": location}, status_code=302, headers={"Location": location})

    def _client(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            client_id, _, secret = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        expected = self.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected.encode(), secret.encode()):
            return None
        return client_id

    def _issue(self, client_id: str, scope: str) -> dict:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        self.access[access] = self.clock() + self.access_ttl_s
        self.refresh[refresh] = _Grant(client_id, scope)
        return {"access_token": access, "expires_in": self.access_ttl_s, "token_type": "Bearer",
                "refresh_token": refresh, "scope": scope}

    def _invalid_grant(self) -> Response:
        self.counts["invalid_grant"] += 1
        return JSONResponse({"error": "invalid_grant"}, status_code=400)

    async def _token(self, request: Request) -> Response:
        client_id = self._client(request)
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        # application/x-www-form-urlencoded, parsed by hand (no python-multipart dependency)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = self.codes.pop(str(form.get("code", "")), None)  # single-use, even when it fails
            if code is None or code.client_id != client_id or code.redirect_uri != form.get("redirect_uri"):
                return self._invalid_grant()
            self.counts["exchanges"] += 1
            return JSONResponse(self._issue(client_id, code.scope))
        if grant_type == "refresh_token":
            token = str(form.get("refresh_token", ""))
            grant = self.refresh.pop(token, None)  # rotation: a refresh token works once
            if grant is None or grant.client_id != client_id:
                if grant is not None:
                    self.refresh[token] = grant
                return self._invalid_grant()
            self.used_refresh.add(token)
            self.counts["refreshes"] += 1
            return JSONResponse(self._issue(client_id, grant.scope))
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    async def _connections(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if self.token_state(token) != "valid":
            return JSONResponse({"Type": None, "Title": "Unauthorized", "Status": 401,
                                 "Detail": "TokenExpired" if self.token_state(token) == "expired"
                                 else "AuthenticationUnsuccessful"}, status_code=401)
        return JSONResponse([{
            "id": self.connection_id, "authEventId": self.auth_event_id, "tenantId": self.tenant_id,
            "tenantType": "ORGANISATION", "tenantName": self.tenant_name,
            "createdDateUtc": self.created, "updatedDateUtc": self.created,
        }])

    async def _control(self, request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            if "access_ttl" in body:
                self.access_ttl_s = int(body["access_ttl"])
            if body.get("expire_access_tokens"):
                now = self.clock()
                for token in self.access:
                    self.access[token] = now - 1
        return JSONResponse(self.describe())

    # --- kept across a restart (connectors.sandbox_state): `connect xero` survives it ------------
    def export_state(self) -> dict:
        return {"connection_id": self.connection_id, "auth_event_id": self.auth_event_id, "created": self.created,
                "access_ttl": self.access_ttl_s,
                "codes": {c: [g.client_id, g.redirect_uri, g.scope] for c, g in self.codes.items()},
                "access": dict(self.access),
                "refresh": {t: [g.client_id, g.scope] for t, g in self.refresh.items()},
                "used_refresh": sorted(self.used_refresh), "counts": dict(self.counts)}

    def import_state(self, state: dict) -> None:
        self.connection_id, self.auth_event_id = str(state["connection_id"]), str(state["auth_event_id"])
        self.created, self.access_ttl_s = str(state["created"]), int(state["access_ttl"])
        self.codes = {c: _Code(*v) for c, v in state["codes"].items()}
        self.access = {t: float(e) for t, e in state["access"].items()}
        self.refresh = {t: _Grant(*v) for t, v in state["refresh"].items()}
        self.used_refresh = set(state["used_refresh"])
        self.counts = {**self.counts, **{k: int(v) for k, v in state["counts"].items()}}

    def describe(self) -> dict:
        now = self.clock()
        return {"access_ttl": self.access_ttl_s, **self.counts,
                "live_access_tokens": sum(1 for e in self.access.values() if e > now),
                "live_refresh_tokens": len(self.refresh)}


__all__ = ["ACCESS_TTL_S", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_SCOPE", "XeroIdentity"]
