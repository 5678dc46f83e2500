"""Intercom 2.14 connector: the customer-success platform (companies, contacts, data events, tickets, tags).

Found through the ``opsconsole.connectors`` entry point ``intercom = connectors.intercom:CONNECTOR``; the
client and sandbox modules are imported only when asked for.
"""

from __future__ import annotations

from typing import Any

from connectors.base import Connector
from connectors.settings import IntercomSettings


class IntercomConnector(Connector):
    """Builds :class:`connectors.intercom.client.IntercomClient` and
    :class:`connectors.intercom.sandbox.IntercomSandbox`."""

    name = "intercom"
    role = "customer_success"
    settings_model = IntercomSettings

    def client(self, base_url: str, *, token: str, transport: str = "lean", **options: Any):
        """Build the client.

        Args:
            base_url: ``https://api.intercom.io`` (or a regional host) or the sandbox's ``http://127.0.0.1:PORT``.
            token: the access token (bearer).
            transport: ``lean``, ``aiohttp`` or ``httpx``.
            **options: ``timeout_s``, ``max_connections``, ``max_wait_s``, ``governor``, ``clock``
                (:mod:`connectors.ratelimit`).
        Returns:
            An :class:`~connectors.intercom.client.IntercomClient`.
        """
        from connectors.intercom.client import IntercomClient

        return IntercomClient(base_url, token=token, transport=transport, **options)

    def sandbox(self, **options: Any):
        """Build the sandbox (``token``, ``profile``)."""
        from connectors.intercom.sandbox import IntercomSandbox

        return IntercomSandbox(**options)


CONNECTOR = IntercomConnector()

__all__ = ["CONNECTOR", "IntercomConnector"]
