"""The contract tests' side of connectors.contract: a vendor's description (the test is skipped when
it is not there), and one httpx exchange checked by the same validator the sandboxes' middleware
uses (so an explicit ``validate(r)`` and the middleware can never disagree)."""

from __future__ import annotations

from functools import cache

import httpx
import pytest

from connectors.contract import specs
from connectors.contract.validator import ExchangeValidator, SpecRequest, SpecResponse, Violation


class ContractViolation(AssertionError):
    """An exchange departs from the vendor's description."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("\n".join(str(v) for v in violations))


def description(vendor: str):
    """openapi-core's ``OpenAPI`` for the vendor, the patched description itself checked against the
    OpenAPI schema (the middleware skips that check; it is done here once per process)."""
    if vendor != "hubspot" and not specs.spec_path(vendor).exists():
        pytest.skip(f"{vendor} description not found at {specs.spec_path(vendor)} (set OPSCONSOLE_SPECS)")
    return specs.openapi(vendor, check=True)


@cache
def validator(vendor: str) -> ExchangeValidator:
    description(vendor)
    return ExchangeValidator(vendor)


def spec_request(vendor: str, method: str, url: str, headers, body: bytes | None) -> SpecRequest:
    """openapi-core's Request protocol for a request as sent to the vendor's own host."""
    return SpecRequest.from_url(method, url, headers, body, host_url=specs.SPEC_HOSTS[vendor])


def violations(vendor: str, response: httpx.Response) -> list[Violation]:
    request = response.request
    url = request.url
    return validator(vendor).check(request.method, url.path, url.query.decode(), list(request.headers.multi_items()),
                                   request.content, response.status_code, list(response.headers.multi_items()),
                                   response.content)


def validate_exchange(vendor: str, response: httpx.Response) -> None:
    """Raise :class:`ContractViolation` if the request or its response departs from the description."""
    found = violations(vendor, response)
    if found:
        raise ContractViolation(found)


__all__ = ["ContractViolation", "SpecRequest", "SpecResponse", "description", "spec_request", "validate_exchange",
           "validator", "violations"]
