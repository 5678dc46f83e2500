"""The operation table (connectors/operations.toml) has no gaps: every client method is listed,
every Xero and Intercom operation exists in the vendor's description with that method and path,
and every listed contract case exists."""

from __future__ import annotations

import ast
import inspect
import os
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

from connectors.http import ApiClient

ROOT = Path(__file__).resolve().parents[2]
TABLE = tomllib.loads((ROOT / "connectors/operations.toml").read_text())
SPECS = {"xero": "xero/xero_accounting.yaml", "intercom": "intercom/api.intercom.io.2.14.yaml"}
CLIENTS = {"hubspot": "connectors.hubspot.client:HubSpotClient", "xero": "connectors.xero.client:XeroClient",
           "intercom": "connectors.intercom.client:IntercomClient"}


def _client(vendor: str):
    module, _, name = CLIENTS[vendor].partition(":")
    try:
        mod = __import__(module, fromlist=[name])
    except ModuleNotFoundError:
        return None
    return getattr(mod, name)


def _operations(cls) -> set[str]:
    """The client's own public coroutine methods (hooks of ApiClient excluded)."""
    base = set(dir(ApiClient))
    return {n for n, f in inspect.getmembers(cls) if not n.startswith("_") and n not in base
            and (inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f))}


@cache
def _spec(vendor: str) -> dict:
    root = Path(os.environ.get("OPSCONSOLE_SPECS") or ROOT.parent / "shared/specs")
    path = root / SPECS[vendor]
    if not path.exists():
        pytest.fail(f"the {vendor} description is missing at {path} (set OPSCONSOLE_SPECS)")
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("vendor", [v for v in CLIENTS if _client(v) is not None])
def test_every_client_method_is_in_the_table(vendor):
    missing = _operations(_client(vendor)) - set(TABLE.get(vendor, {}))
    assert missing == set(), f"{vendor} client methods with no operation entry: {sorted(missing)}"


@pytest.mark.parametrize("vendor", [v for v in SPECS if v in TABLE])
def test_every_operation_is_in_the_vendors_description(vendor):
    by_id = {}
    for path, item in _spec(vendor)["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                by_id[op["operationId"]] = (method.upper(), path)
    wrong = {name: (e["operation"], by_id.get(e["operation"])) for name, e in TABLE[vendor].items()
             if by_id.get(e["operation"]) != (e["method"], e["path"])}
    assert wrong == {}, f"operations not in the {vendor} description as listed: {wrong}"


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_contract_case_exists():
    missing = []
    for vendor, ops in TABLE.items():
        for name, entry in ops.items():
            file, _, test = entry["case"].partition("::")
            if not (ROOT / file).exists() or test not in _test_names(ROOT / file):
                missing.append(f"{vendor}.{name}: {entry['case']}")
    assert missing == []
