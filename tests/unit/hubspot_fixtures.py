"""The HubSpot sandbox the client tests share: served once per module behind the contract check,
reseeded (and its fault profile set) for every test."""

from __future__ import annotations

import httpx
import pytest

from connectors.hubspot.sandbox import HubSpotSandbox
from tests.sandbox_contract import served

TOKEN = "sandbox-hubspot-token"


def hubspot_fixtures(companies: int, *, scenario: bool = True, seed: int = 7, profile: str = "demo"):
    """``sandbox, fresh = hubspot_fixtures(...)`` at a test module's top: ``sandbox`` is the served
    sandbox (one per module), ``fresh`` the same reseeded with ``companies`` under ``profile``; the
    profile goes back to ``demo`` after each test."""

    @pytest.fixture(scope="module", name="sandbox")
    def sandbox_fixture():
        with served(HubSpotSandbox(), "hubspot") as sb:
            yield sb

    @pytest.fixture(name="fresh")
    def fresh_fixture(sandbox):
        sandbox.seed(companies, scenario=scenario, seed=seed)
        httpx.post(sandbox.url + "/_sandbox/faults", json={"profile": profile})
        yield sandbox
        httpx.post(sandbox.url + "/_sandbox/faults", json={"profile": "demo"})

    return sandbox_fixture, fresh_fixture
