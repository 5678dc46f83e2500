"""Every sandbox a test serves is a contract test: wrap its app with :func:`checked`.

``checked(app, vendor)`` puts :class:`connectors.contract.ContractMiddleware` (strict) in front of
the sandbox: every answer to a vendor route is validated against the vendor's description, and a
violating one becomes a 500 naming the violation. The autouse fixture in tests/conftest.py then fails
the test during which any wrapped sandbox recorded a violation (even one a retrying client swallowed).
A test that provokes violations on purpose takes them with ``middleware.take()``.

Subprocess sandboxes (tests/e2e/procs.py) are started with ``--validate-responses`` and checked
through ``GET /_sandbox/contract`` when they are closed.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from connectors.contract import ContractMiddleware, Violation

_wrapped: "weakref.WeakSet[ContractMiddleware]" = weakref.WeakSet()


def checked(app, vendor: str, *, strict: bool = True) -> ContractMiddleware:
    """``app`` behind a strict contract check whose violations fail the running test."""
    middleware = ContractMiddleware(app, vendor, strict=strict)
    _wrapped.add(middleware)
    return middleware


@contextmanager
def served(sandbox, vendor: str) -> Iterator:
    """``sandbox`` served on loopback behind :func:`checked`, its URL set as ``sandbox.url``."""
    sandbox.app = checked(sandbox.app, vendor)
    with sandbox.serving() as url:
        sandbox.url = url
        yield sandbox


def take_violations() -> list[Violation]:
    """Every violation recorded by a wrapped sandbox since the last call, clearing them."""
    out: list[Violation] = []
    for middleware in list(_wrapped):
        out += middleware.take()
    return out


def report(violations: list, limit: int = 10) -> str:
    lines = [f"{len(violations)} contract violation(s) by the sandboxes (connectors/contract):"]
    lines += [f"  - {v}" for v in violations[:limit]]
    if len(violations) > limit:
        lines.append(f"  ... and {len(violations) - limit} more")
    return "\n".join(lines)


__all__ = ["checked", "report", "take_violations"]
