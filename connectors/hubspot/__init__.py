"""HubSpot CRM v3 connector: client, sandbox (with signed webhooks) and seed data.

Imported through the ``opsconsole.connectors`` entry point as ``CONNECTOR``; the client and the
sandbox modules load only when asked for.
"""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from connectors.settings import HubSpotSettings


class HubSpotConnector(Connector):
    name = "hubspot"
    role = "crm"
    settings_model = HubSpotSettings

    def client(self, base_url: str, *, token: str, transport: str = "lean", **options: Any):
        """A :class:`connectors.hubspot.client.HubSpotClient` (options: timeout_s, max_connections,
        governor, clock: see :mod:`connectors.ratelimit`)."""
        from connectors.hubspot.client import HubSpotClient

        return HubSpotClient(base_url, token=token, transport=transport, **options)

    def sandbox(self, **options: Any):
        """A :class:`connectors.hubspot.sandbox.HubSpotSandbox` (options: token, webhook_secret,
        portal_id, app_id, profile); call its ``seed()`` to fill it."""
        from connectors.hubspot.sandbox import HubSpotSandbox

        return HubSpotSandbox(**options)


CONNECTOR = HubSpotConnector()

__all__ = ["CONNECTOR", "HubSpotConnector"]
