"""The connector contract (Harlequin style: a few small ABCs, found through entry points)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Connector(ABC):
    """One vendor: how to build its client and its sandbox.

    Registered under the ``opsconsole.connectors`` entry-point group and loaded lazily by name.
    """

    name: str
    """Short system name used in the store and on screen (``hubspot``, ``xero``)."""
    role: str
    """What the system is to the business: ``crm``, ``erp`` or ``customer_success``."""
    settings_model: type
    """The pydantic model of this connector's settings (a :class:`connectors.settings.ConnectorSettings`)."""

    @abstractmethod
    def client(self, base_url: str, *, token: str, transport: str, **options: Any):
        """Build the vendor client.

        Args:
            base_url: the vendor API's (or its sandbox's) base URL.
            token: the resolved credential.
            transport: httpx transport name (``lean``, ``aiohttp`` or ``httpx``).
        Returns:
            A :class:`connectors.http.ApiClient` subclass instance.
        """

    @abstractmethod
    def sandbox(self, **options: Any):
        """Build the sandbox: an object with ``.app`` (a Starlette app) and a ``seed`` method."""
