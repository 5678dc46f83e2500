"""The vendors' API descriptions: where they are, their known upstream defects, loading them once.

Xero and Intercom publish OpenAPI descriptions (kept in ``../shared/specs/<vendor>`` beside the repo,
or in the folder named by ``$OPSCONSOLE_SPECS``, or one passed explicitly). HubSpot publishes none we
hold: its description is written here from HubSpot's developer documentation
(:mod:`connectors.contract.hubspot_shapes`).

An upstream defect is tolerated only by JSON pointer, one pointer at a time, each with the reason.
Every pointer must exist and still hold what the defect says, or loading fails
(:class:`DefectGone`): a fixed description drops the entry instead of hiding behind it.

PyYAML and openapi-core are test extras (``pip install 'opsconsole[test]'``); they are imported
only when a description is loaded, so the product runs without them.
"""

from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

VENDORS = ("hubspot", "xero", "intercom")
SPEC_FILES = {"xero": "xero_accounting.yaml", "intercom": "api.intercom.io.2.14.yaml"}
SPEC_HOSTS = {"hubspot": "https://api.hubapi.com", "xero": "https://api.xero.com",
              "intercom": "https://api.intercom.io"}
"""The vendor's host, as the description's ``servers`` name it (requests are validated as if sent there)."""


class SpecError(RuntimeError):
    """A description cannot be found or loaded."""


class DefectGone(SpecError):
    """A known-defect pointer no longer holds the defect: drop it from the list."""


@dataclass(frozen=True)
class Defect:
    """One upstream defect at one JSON pointer.

    ``holds(parent, key)`` says whether the defect is still there; ``patch(parent, key)`` repairs it.
    """

    pointer: str
    why: str
    holds: Callable[[Any, str], bool]
    patch: Callable[[Any, str], None]


def _replace(value: Any) -> Callable[[Any, str], None]:
    def patch(parent: Any, key: str) -> None:
        parent[key] = copy.deepcopy(value)

    return patch


def _string_to_bool(parent: Any, key: str) -> None:
    parent[key] = parent[key] == "true"


def _rename(to: str) -> Callable[[Any, str], None]:
    def patch(parent: Any, key: str) -> None:
        parent[to] = parent.pop(key)

    return patch


# --- Xero ---------------------------------------------------------------------------------------
# SOURCE.txt: "some boolean fields carry string defaults ("false")". The schema says boolean and the
# API sends booleans; only ``default``/``example`` carry the strings "false"/"true", which make the
# description itself invalid. Read as booleans at exactly these pointers.
_XERO_BOOLEAN_STRING_FIELDS = {
    "Account": ["HasAttachments"], "BankTransaction": ["HasAttachments"],
    "BankTransfer": ["FromIsReconciled", "ToIsReconciled", "HasAttachments"],
    "Contact": ["HasAttachments", "HasValidationErrors"], "CreditNote": ["HasAttachments", "HasErrors"],
    "Invoice": ["HasAttachments", "HasErrors"], "ManualJournal": ["HasAttachments"],
    "Overpayment": ["HasAttachments"], "Payment": ["HasAccount", "HasValidationErrors"],
    "Prepayment": ["HasAttachments"], "PurchaseOrder": ["HasAttachments"], "Receipt": ["HasAttachments"],
    "RepeatingInvoice": ["HasAttachments", "ApprovedForSending", "SendCopy", "MarkAsSent", "IncludePDF"],
}
XERO_DEFECTS: tuple[Defect, ...] = tuple(
    Defect(f"/components/schemas/{schema}/properties/{prop}/{key}",
           f'boolean {schema}.{prop} carries the string {key} "false"/"true" (SOURCE.txt)',
           lambda parent, k: isinstance(parent.get(k), str), _string_to_bool)
    for schema, props in _XERO_BOOLEAN_STRING_FIELDS.items() for prop in props for key in ("default", "example")
)

# --- Intercom -----------------------------------------------------------------------------------
INTERCOM_DEFECTS: tuple[Defect, ...] = (
    # Custom data attributes are declared ``additionalProperties: {type: string}`` while the same
    # schema's example (and Intercom's API, "Data attributes": string, integer, float, boolean, date)
    # carry numbers and booleans (health_score, financial_risk). Relaxed to "any value" here.
    *(Defect(pointer, "custom data attributes are strings, numbers, booleans or dates, not only strings",
             lambda parent, k: parent.get(k) == {"type": "string"}, _replace({}))
      for pointer in (
          "/components/schemas/create_or_update_company_request/properties/custom_attributes/additionalProperties",
          "/components/schemas/company/properties/custom_attributes/additionalProperties")),
    # Data event metadata is declared ``additionalProperties: {type: string}``; Intercom's docs
    # ("Submit a data event", "Event metadata types") take strings, numbers, booleans, dates (UNIX
    # timestamps), rich links and monetary amounts (objects). Relaxed to "any value" here.
    Defect("/components/schemas/create_data_event_request/properties/metadata/additionalProperties",
           "event metadata values may be numbers, booleans, dates, links and monetary amounts",
           lambda parent, k: parent.get(k) == {"type": "string"}, _replace({})),
    # SOURCE.txt: "an unresolved job_identifier path parameter": two path templates name
    # {job_identifier} but their operations declare it ``in: query``, so the description does not
    # load. Declared ``in: path`` here (both operations are outside our subset).
    *(Defect(pointer, "the path template names {job_identifier}; the parameter says in: query",
             lambda parent, k: parent.get("name") == "job_identifier" and parent.get(k) == "query",
             _replace("path"))
      for pointer in ("/paths/~1export~1reporting_data~1{job_identifier}/get/parameters/3/in",
                      "/paths/~1download~1reporting_data~1{job_identifier}/get/parameters/3/in")),
    # POST /tags declares its body as ``oneOf`` create-or-update / tag companies / untag companies /
    # tag users, but the alternatives do not exclude each other (no required discriminating field,
    # extra properties allowed), so a valid "tag companies" body matches three of them and fails
    # ``oneOf``. Read as ``anyOf`` here.
    Defect("/paths/~1tags/post/requestBody/content/application~1json/schema/oneOf",
           "the alternatives overlap, so a valid body matches several and fails oneOf",
           lambda parent, k: isinstance(parent.get(k), list), _rename("anyOf")),
)

DEFECTS: dict[str, tuple[Defect, ...]] = {"hubspot": (), "xero": XERO_DEFECTS, "intercom": INTERCOM_DEFECTS}


def resolve(doc: Any, pointer: str) -> tuple[Any, str]:
    """The parent of the JSON pointer's target and the target's key (RFC 6901 escapes undone)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc, parts[-1]


def apply_defects(doc: dict, defects: tuple[Defect, ...]) -> dict:
    """Patch ``doc`` in place at each defect's pointer; raise :class:`DefectGone` if one is gone."""
    for defect in defects:
        try:
            parent, key = resolve(doc, defect.pointer)
            holds = defect.holds(parent, key)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            holds = False
        if not holds:
            raise DefectGone(f"known defect at {defect.pointer} is gone ({defect.why}): drop it from the list")
        defect.patch(parent, key)
    return doc


def spec_root(explicit: str | os.PathLike | None = None) -> Path:
    """The folder holding ``<vendor>/<file>``: ``explicit``, else ``$OPSCONSOLE_SPECS``, else
    ``../shared/specs`` beside the repository (read when called, never at import)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("OPSCONSOLE_SPECS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "specs"


def spec_path(vendor: str, root: str | os.PathLike | None = None) -> Path:
    """The vendor's description file; ``root`` may also be the vendor's own folder."""
    base = spec_root(root)
    name = SPEC_FILES[vendor]
    return base / name if (base / name).exists() else base / vendor / name


_lock = threading.Lock()
_documents: dict[tuple[str, str], dict] = {}
_apis: dict[tuple[str, str, bool], Any] = {}


def document(vendor: str, root: str | os.PathLike | None = None) -> dict:
    """The vendor's description as a dict, known defects patched; loaded once per process.

    Shared: treat it as read-only."""
    if vendor not in VENDORS:
        raise SpecError(f"no description for {vendor!r} (one of {', '.join(VENDORS)})")
    key = (vendor, "" if vendor == "hubspot" else str(spec_path(vendor, root)))
    with _lock:
        if key not in _documents:
            _documents[key] = _load(vendor, key[1])
        return _documents[key]


def _load(vendor: str, path: str) -> dict:
    if vendor == "hubspot":
        from connectors.contract.hubspot_shapes import description

        return description()
    if not Path(path).exists():
        raise SpecError(f"the {vendor} description is not at {path} (pass its folder, or set OPSCONSOLE_SPECS)")
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - the test extra is missing
        raise SpecError("loading a vendor description needs PyYAML: pip install 'opsconsole[test]'") from exc
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, "rb") as fh:
        doc = yaml.load(fh, Loader=loader)
    return apply_defects(doc, DEFECTS[vendor])


def openapi(vendor: str, root: str | os.PathLike | None = None, *, check: bool = False):
    """openapi-core's ``OpenAPI`` for the vendor's (patched) description, built once per process.

    ``check``: also validate the description itself against the OpenAPI schema (seconds for Xero's
    and Intercom's; tests/contract does it once, so serving a checked sandbox stays quick)."""
    key = (vendor, "" if vendor == "hubspot" else str(spec_path(vendor, root)), check)
    doc = document(vendor, root)
    with _lock:
        if key not in _apis:
            try:
                from openapi_core import Config, OpenAPI
            except ImportError as exc:  # pragma: no cover - the test extra is missing
                raise SpecError("validating against a description needs openapi-core: "
                                "pip install 'opsconsole[test]'") from exc
            from connectors.contract.validator import memo_path_finder

            config = Config(path_finder_cls=memo_path_finder(), **({} if check else {"spec_validator_cls": None}))
            _apis[key] = OpenAPI.from_dict(doc, config=config)
        return _apis[key]


__all__ = ["DEFECTS", "Defect", "DefectGone", "SPEC_FILES", "SPEC_HOSTS", "SpecError", "VENDORS",
           "apply_defects", "document", "openapi", "resolve", "spec_path", "spec_root"]
