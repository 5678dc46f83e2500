"""Each connector's own settings model (pydantic), found through its ``Connector.settings_model``.

The deployment settings (``opsconsole.settings.Settings``) hold one of these per connector; they
carry credential *references* (``env:NAME``, ``file:PATH``, ``keyring:SERVICE/NAME``), never values.
"""

from __future__ import annotations

from pydantic import BaseModel


class ConnectorSettings(BaseModel):
    """Where one vendor API lives and how to authenticate to it."""

    base_url: str = ""
    """Base URL of the vendor API (empty in demo mode: the sandbox's URL is filled in at start-up)."""
    token: str = "env:OPSCONSOLE_TOKEN_UNSET"
    """Credential reference: ``env:NAME``, ``keyring:SERVICE/NAME`` or, for sandboxes only, a literal."""
    webhook_secret: str = ""
    """Secret the vendor signs webhooks with (a credential reference like ``token``)."""
    timeout_s: float = 10.0
    """Per-request timeout; a timeout is retriable."""
    max_connections: int = 64
    """Connection pool size; connections are reused across requests."""


class HubSpotSettings(ConnectorSettings):
    """HubSpot CRM v3: a private-app token; webhooks signed with the app's client secret."""


class XeroSettings(ConnectorSettings):
    """Xero Accounting: an OAuth2 app, the organisation (tenant) written to."""

    tenant_id: str = ""
    """Xero only: the organisation (tenant) the engine writes to (``xero-tenant-id`` header)."""
    client_id: str = ""
    """OAuth2 app (Xero): the client id `opsconsole connect` authorises."""
    client_secret: str = ""
    """OAuth2 app (Xero): credential reference to the client secret."""
    identity_url: str = ""
    """OAuth2 identity server base URL (empty: the vendor's own; a sandbox's URL in demos and tests)."""
    connections_url: str = ""
    """Xero: where the authorised tenants are listed (empty: https://api.xero.com/connections)."""
    token_store: str = ""
    """Where rotating OAuth2 tokens live: ``keyring``, or a file path (owner-only; default var_dir)."""


class IntercomSettings(ConnectorSettings):
    """Intercom 2.14: an access token; webhooks signed with the app's client secret (X-Hub-Signature)."""
