"""Holding the sandboxes (and the clients) to the vendors' own API descriptions.

- :mod:`.specs`: where the descriptions are, their known upstream defects (by JSON pointer, each with
  its reason), loading them once.
- :mod:`.hubspot_shapes`: HubSpot's, written from its developer documentation.
- :mod:`.vendor_errors`: the shapes a status the description does not list must have.
- :mod:`.validator`: one exchange checked against a description (openapi-core's core validators).
- :mod:`.middleware`: ``ContractMiddleware``, which checks every answer a sandbox gives.

Under test every served sandbox is wrapped (tests/sandbox_contract.py), so every test that touches a
sandbox is also a contract test. The product never wraps one unless asked
(``opsconsole sandbox serve --validate-responses``). openapi-core and PyYAML are test extras,
imported only when a description is loaded.
"""

from __future__ import annotations

from connectors.contract.middleware import CONTROL_PATH, ContractMiddleware
from connectors.contract.specs import DefectGone, SpecError
from connectors.contract.validator import ExchangeValidator, Violation

__all__ = ["CONTROL_PATH", "ContractMiddleware", "DefectGone", "ExchangeValidator", "SpecError", "Violation"]
