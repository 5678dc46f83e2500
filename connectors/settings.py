"""Each connector's own settings model (pydantic), found through its ``Connector.settings_model``.

The deployment settings (``opsconsole.settings.Settings``) hold one of these per connector; they
carry credential *references* (``env:NAME``, ``file:PATH``, ``keyring:SERVICE/NAME``), never values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

FAULT_PROFILES = ("demo", "unthrottled", "vendor", "storm429", "flaky5xx", "slow", "malformed", "commit_then_timeout")
"""The sandboxes' fault profiles (``connectors.sandbox.Faults`` says what each one does)."""


class SandboxSettings(BaseModel):
    """How this vendor's sandbox starts (``opsconsole sandbox serve`` and the demo): its fault profile and
    the profile's parameters. Unset parameters take the profile's defaults; ``POST /_sandbox/faults``
    changes them while it runs, and ``--profile`` on the command line wins over this table."""

    profile: str = "demo"
    """``demo``, ``unthrottled``, ``vendor``, ``storm429``, ``flaky5xx``, ``slow``, ``malformed`` or
    ``commit_then_timeout``."""
    storm: int | None = Field(default=None, ge=0)
    """``storm429``: how many requests are answered 429 (default 10)."""
    retry_after: float | None = Field(default=None, ge=0)
    """Retry-After of an injected 429, in seconds (default 1)."""
    error_rate: float | None = Field(default=None, ge=0, le=1)
    """Share of answers faulted: 5xx under ``flaky5xx`` (default 0.3), cut short under ``malformed`` (default 1)."""
    delay: float | None = Field(default=None, ge=0)
    """Seconds: added before every answer under ``slow`` (default 2); how long ``commit_then_timeout`` holds
    a committed write's answer (default 15, longer than the connectors' 10 s timeout)."""
    count: int | None = Field(default=None, ge=0)
    """``flaky5xx``, ``malformed``, ``commit_then_timeout``: fault only this many answers, then let
    everything through (default: no limit)."""

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in FAULT_PROFILES:
            raise ValueError(f"unknown fault profile {value!r}; one of {', '.join(FAULT_PROFILES)}")
        return value

    def faults(self) -> dict[str, Any]:
        """The body ``Faults.configure`` (and ``POST /_sandbox/faults``) takes."""
        return self.model_dump(exclude_none=True)


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
    sandbox: SandboxSettings = SandboxSettings()
    """This vendor's sandbox (``[<vendor>.sandbox]``): the fault profile it starts with."""


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
