"""Xero Accounting connector: the ERP (contacts, quotes, invoices).

Found through the ``opsconsole.connectors`` entry point ``xero = connectors.xero:CONNECTOR``; the client
and sandbox modules are imported only when asked for.
"""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from connectors.settings import XeroSettings


class XeroConnector(Connector):
    """Builds :class:`connectors.xero.client.XeroClient` and :class:`connectors.xero.sandbox.XeroSandbox`."""

    name = "xero"
    role = "erp"
    settings_model = XeroSettings

    def client(self, base_url: str, *, token: str, transport: str = "lean", **options: Any):
        """Build the client.

        Args:
            base_url: e.g. ``https://api.xero.com/api.xro/2.0`` or the sandbox's ``http://127.0.0.1:PORT/api.xro/2.0``.
            token: the OAuth2 access token.
            transport: ``lean``, ``aiohttp`` or ``httpx``.
            **options: ``tenant_id`` (required), ``timeout_s``, ``max_connections``, ``respect_concurrency``,
                ``governor``, ``clock`` (:mod:`connectors.ratelimit`).
        Returns:
            A :class:`~connectors.xero.client.XeroClient`.
        Raises:
            TypeError: ``tenant_id`` is missing.
        """
        from connectors.xero.client import XeroClient

        return XeroClient(base_url, token=token, transport=transport, **options)

    def sandbox(self, **options: Any):
        """Build the sandbox (``token``, ``tenant_id``, ``profile``, ``base_currency``)."""
        from connectors.xero.sandbox import XeroSandbox

        return XeroSandbox(**options)


CONNECTOR = XeroConnector()

__all__ = ["CONNECTOR", "XeroConnector"]
