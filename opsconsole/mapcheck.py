"""``opsconsole mappings check``: every mapping file against the canonical model (canonical.mapcheck)
and against the vendor's own description: Xero and Intercom by their OpenAPI schemas, HubSpot by
the properties its objects define. Each problem is (file, key path in the file, message).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from canonical import paths
from canonical.mapcheck import check_spec
from canonical.mapper import DEFAULT_DIR, load_spec
from canonical.mapspec import FieldRule, MappingSpec

Problem = tuple[str, str, str]
_HUBSPOT_RECORD_KEYS = {"id", "properties", "createdAt", "updatedAt", "archived", "associations"}


class _Schemas:
    """Walks vendor paths through an OpenAPI document's component schemas."""

    def __init__(self, doc: dict) -> None:
        self.schemas = doc.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict) -> dict:
        seen = 0
        while "$ref" in schema and seen < 20:
            schema = self.schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
            seen += 1
        if "allOf" in schema:
            merged: dict[str, Any] = {"properties": {}}
            for part in schema["allOf"]:
                merged["properties"].update(self.resolve(part).get("properties", {}))
            return merged
        return schema

    def walk(self, object_name: str, path: str) -> tuple[dict | None, str | None]:
        """The schema at ``path`` inside ``object_name``, or (None, why not). A free-form object
        (no declared properties) accepts any path below it."""
        schema = self.schemas.get(object_name)
        if schema is None:
            return None, f"the description has no schema {object_name!r}"
        schema = self.resolve(schema)
        for seg in paths.parse(path):
            props = schema.get("properties")
            if not props:
                return {}, None
            if seg.key not in props:
                return None, f"{object_name} has no property {seg.key!r} at {path!r}"
            schema = self.resolve(props[seg.key])
            if seg.index is not None or seg.match is not None:
                if schema.get("type") != "array":
                    return None, f"{seg.key!r} is not an array in {object_name}"
                schema = self.resolve(schema.get("items", {}))
        return schema, None

    def items(self, object_name: str, path: str) -> dict | None:
        schema, why = self.walk(object_name, path)
        if why or schema is None or schema.get("type") != "array":
            return None
        return self.resolve(schema.get("items", {}))


def _vendor_ref(rule_path: str | None) -> str | None:
    if rule_path is None or rule_path.startswith("$ctx."):
        return None
    return rule_path.removeprefix("$root.")


def _hubspot_problems(spec: MappingSpec) -> list[tuple[str, str]]:
    from connectors.hubspot.store import CrmStore, OBJECT_TYPE_IDS

    store = CrmStore()
    out: list[tuple[str, str]] = []

    def check(where: str, path: str | None, object_type: str) -> None:
        if path is None:
            return
        segs = paths.parse(path)
        if spec.documents and segs[0].key in spec.documents:
            object_type, segs = spec.documents[segs[0].key], segs[1:]
        if object_type not in OBJECT_TYPE_IDS:
            out.append((where, f"HubSpot has no object type {object_type!r}"))
            return
        if not segs:
            return
        if segs[0].key not in _HUBSPOT_RECORD_KEYS:
            out.append((where, f"a HubSpot record has no {segs[0].key!r} (it has {', '.join(sorted(_HUBSPOT_RECORD_KEYS))})"))
        elif segs[0].key == "properties" and len(segs) > 1 and segs[1].key not in store.known_properties(object_type):
            out.append((where, f"HubSpot {object_type} have no property {segs[1].key!r}"))

    def rules(prefix: str, items: list[FieldRule], object_type: str) -> None:
        for i, rule in enumerate(items):
            check(f"{prefix}.{i}.vendor", rule.vendor, object_type)
            check(f"{prefix}.{i}.source", _vendor_ref(rule.source), object_type)

    if not spec.documents and spec.object not in OBJECT_TYPE_IDS:
        return [("object", f"HubSpot has no object type {spec.object!r}")]
    rules("field", spec.fields, spec.object)
    for i, rule in enumerate(spec.lists):
        where = _vendor_ref(rule.source) or rule.vendor or ""
        first = paths.parse(where)[0].key if where else ""
        rules(f"list.{i}.field", rule.fields, spec.documents.get(first, spec.object))
    return out


def _openapi_problems(spec: MappingSpec, doc: dict) -> list[tuple[str, str]]:
    schemas = _Schemas(doc)
    if spec.object not in schemas.schemas:
        return [("object", f"the {spec.vendor} description has no schema {spec.object!r}")]
    out: list[tuple[str, str]] = []

    def rules(prefix: str, items: list[FieldRule], walk) -> None:
        for i, rule in enumerate(items):
            for key, path in (("vendor", rule.vendor), ("source", _vendor_ref(rule.source))):
                if path is None:
                    continue
                _, why = walk(path)
                if why:
                    out.append((f"{prefix}.{i}.{key}", why))

    rules("field", spec.fields, lambda p: schemas.walk(spec.object, p))
    for i, rule in enumerate(spec.lists):
        if rule.vendor is None:
            continue
        item = schemas.items(spec.object, rule.vendor)
        if item is None:
            out.append((f"list.{i}.vendor", f"{rule.vendor!r} is not an array in {spec.object}"))
            continue
        name = f"{spec.object}.{rule.vendor}[]"
        schemas.schemas.setdefault(name, item)  # the items schema, walkable by name
        rules(f"list.{i}.field", rule.fields, lambda p, n=name: schemas.walk(n, p))
    return out


def vendor_problems(spec: MappingSpec, specs_root: Path | None = None) -> list[tuple[str, str]]:
    if spec.vendor == "hubspot":
        return _hubspot_problems(spec)
    from connectors.contract.specs import SpecError, document

    try:
        doc = document(spec.vendor, specs_root)
    except SpecError as exc:
        return [("vendor", f"cannot check against the {spec.vendor} description: {exc}")]
    # the shared document is read-only: walk a shallow copy whose schema table we may extend
    return _openapi_problems(spec, {"components": {"schemas": dict(doc.get("components", {}).get("schemas", {}))}})


def check_directory(directory: Path | None = None, specs_root: Path | None = None) -> tuple[list[Problem], list[str]]:
    """Every problem of every mapping file under ``directory``, and the files checked."""
    directory = Path(directory or DEFAULT_DIR)
    files = sorted(directory.rglob("*.toml"))
    problems: list[Problem] = []
    loaded: list[tuple[str, MappingSpec]] = []
    for path in files:
        try:
            loaded.append((str(path), load_spec(path)))
        except ValueError as exc:
            for line in str(exc).splitlines():
                file, _, rest = line.partition(": ")
                key, _, message = rest.partition(": ")
                problems.append((file, key, message))
    known = {spec.key for _, spec in loaded}
    seen: dict[tuple[str, int], str] = {}
    for file, spec in loaded:
        if (spec.key, spec.version) in seen:
            problems.append((file, "version", f"{spec.key} version {spec.version} is also defined in {seen[spec.key, spec.version]}"))
        seen[spec.key, spec.version] = file
        problems += [(file, key, message) for key, message in check_spec(spec, known)]
        problems += [(file, key, message) for key, message in vendor_problems(spec, specs_root)]
    return problems, [str(p) for p in files]
