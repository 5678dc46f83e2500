"""Static checks of a mapping file against the canonical model: every canonical path names a field
of the model (through nested models, lists and dicts), every transform and lookup exists, every
embedded mapping is known. Each problem names the key path in the file (``field.3.canonical``).
The vendor side is checked against the vendor's description by the connectors (``mappings check``).
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel

from canonical import models as canonical_models
from canonical import paths
from canonical.mapspec import FieldRule, MappingSpec
from canonical.transforms import build

_SCALARS = (str, int, float, bool)


def _unwrap(annotation: Any) -> Any:
    """The model or container inside Optional[...] / Annotated[...]."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def resolve_canonical(model: type[BaseModel], path: str) -> tuple[Any, str | None]:
    """The annotation at ``path`` in ``model``, or (None, why not)."""
    current: Any = model
    for seg in paths.parse(path):
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if origin is dict:  # free-form keys (source_ids.hubspot)
            current = typing.get_args(current)[1]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None, f"{seg.key!r}: the value before it is not a record"
        field = current.model_fields.get(seg.key)
        if field is None:
            known = ", ".join(current.model_fields)
            return None, f"{current.__name__} has no field {seg.key!r} (fields: {known})"
        current = field.annotation
        if seg.index is not None or seg.match is not None:
            current = _unwrap(current)
            if typing.get_origin(current) is not list:
                return None, f"{seg.key!r} is not a list"
            current = typing.get_args(current)[0]
    return current, None


def _item_model(model: type[BaseModel], path: str) -> type[BaseModel] | None:
    annotation, _ = resolve_canonical(model, path)
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is list:
        inner = _unwrap(typing.get_args(annotation)[0])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return None


def check_spec(spec: MappingSpec, known_mappings: set[str]) -> list[tuple[str, str]]:
    """(key path in the file, problem) for everything wrong with ``spec`` on the canonical side."""
    problems: list[tuple[str, str]] = []
    model = getattr(canonical_models, spec.model, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return [("model", f"{spec.model!r} is not a canonical model")]

    def field_rules(rules: list[FieldRule], within: type[BaseModel], prefix: str) -> None:
        for i, rule in enumerate(rules):
            where = f"{prefix}.{i}"
            if rule.canonical:
                _, why = resolve_canonical(within, rule.canonical)
                if why:
                    problems.append((f"{where}.canonical", why))
            for j, name in enumerate(rule.transforms):
                try:
                    build(name, spec.lookups)
                except ValueError as exc:
                    problems.append((f"{where}.transforms.{j}", str(exc)))
            for k, template in enumerate(rule.template or ()):
                for ref in _template_refs(template):
                    if not ref.startswith("$"):
                        _, why = resolve_canonical(within, ref)
                        if why:
                            problems.append((f"{where}.template.{k}", why))

    field_rules(spec.fields, model, "field")
    for i, embed in enumerate(spec.embeds):
        _, why = resolve_canonical(model, embed.canonical)
        if why:
            problems.append((f"embed.{i}.canonical", why))
        if embed.mapping not in known_mappings:
            problems.append((f"embed.{i}.mapping", f"no mapping {embed.mapping!r}"))
    for i, rule in enumerate(spec.lists):
        item = _item_model(model, rule.canonical)
        if item is None:
            problems.append((f"list.{i}.canonical", f"{rule.canonical!r} is not a list of records in {spec.model}"))
            continue
        field_rules(rule.fields, item, f"list.{i}.field")
    return problems


def _template_refs(template: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"\{([^{}|]+)(?:\|[^{}]*)?\}", template)]
