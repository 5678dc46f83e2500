"""Connectors found through the ``opsconsole.connectors`` entry-point group, loaded lazily by name."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from connectors.base import Connector

GROUP = "opsconsole.connectors"


def available() -> list[str]:
    """Names of the installed connectors (nothing is imported)."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


@cache
def load(name: str) -> Connector:
    """The connector registered as ``name``.

    Raises:
        KeyError: no connector of that name is installed.
    """
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()
    raise KeyError(f"no connector named {name!r} (installed: {', '.join(available()) or 'none'})")
