"""Suite-wide rules: under CI=true a skipped test fails the run (a skip hides a missing part); every
test starts with no shared rate-limit governors; a test during which a sandbox answered against the
vendor's API description fails (tests/sandbox_contract.py)."""

from __future__ import annotations

import os

import pytest


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CI", "").lower() != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; a skipped test fails the run", red=True)
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _fresh_rate_limit_governors():
    """Rate-limit governors are shared per vendor and credential within a process: every test starts
    with none, so one test's 429 never holds back the next test's requests."""
    from connectors.ratelimit import clear_governors

    clear_governors()
    yield
    clear_governors()


@pytest.fixture(autouse=True)
def _sandbox_contract():
    """Every sandbox served through tests.sandbox_contract.checked validates its answers against the
    vendor's description; the test during which one recorded a violation fails here."""
    from tests.sandbox_contract import report, take_violations

    before = take_violations()
    if before:
        pytest.fail("while setting up fixtures: " + report(before), pytrace=False)
    yield
    violations = take_violations()
    if violations:
        pytest.fail(report(violations), pytrace=False)
