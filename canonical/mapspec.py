"""What a mapping file says: one vendor <-> canonical mapping, at one version, as data.

A file ``data/mappings/<vendor>/<entity>.v<N>.toml`` holds a :class:`MappingSpec`. Field rules pair
a vendor path with a canonical path (see :mod:`canonical.paths`); reads go vendor -> canonical,
writes the other way with each transform's inverse. Values may also come from a constant
(``value``), the caller's context (``source = "$ctx.name"``), the whole source document
(``source = "$root.path"``) or, on writes, the first filled ``template``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from canonical import paths

Direction = Literal["both", "read", "write"]


def _check_path(value: str | None) -> str | None:
    if value is None:
        return None
    body = value
    for prefix in ("$ctx.", "$root."):
        if value.startswith(prefix):
            body = value[len(prefix):]
    paths.parse(body)
    return value


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("required")
    @classmethod
    def _required_ref(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not value.startswith("$ctx."):
            raise ValueError("required is true, false or a context reference like \"$ctx.billing\"")
        return value

    direction: Direction = "both"
    required: bool | str = False
    """True, or a context reference (``"$ctx.billing"``): required only when that value is truthy,
    so one mapping serves a sync that tolerates a gap and a workflow that bills and may not."""
    problem: str | None = None
    """The message when a required value is missing, after the record's subject:
    ``"has no tax number (vat_number)"``. ``{value}`` is the value found."""


class FieldRule(_Rule):
    """One field: ``vendor`` path <-> ``canonical`` path, with transforms."""

    vendor: str | None = None
    canonical: str | None = None
    source: str | None = None
    """Where the value comes from instead of the other side: ``$ctx.name`` or ``$root.path``."""
    value: Any = None
    """A constant."""
    template: list[str] | None = None
    """Writes: the first template whose ``{placeholders}`` (canonical paths or $ctx.) are all filled."""
    transforms: list[str] = Field(default_factory=list)
    default: Any = None
    """Used when the value is empty: a constant or ``$ctx.name``."""
    allowed: list[str] | None = None
    """Reads: the value must be one of these (a check; the rule may map nothing)."""
    omit_empty: bool = True
    """Writes: leave an empty vendor field out of the request rather than sending null."""
    unless: str | None = None
    """Writes: skip the field when this reference is filled (an update by id leaves the name alone)."""
    when: str | None = None
    """Writes: send the field only when this reference is filled (no address, no address lines)."""

    _check = field_validator("vendor", "canonical", "source", "unless", "when")(lambda cls, v: _check_path(v))

    @model_validator(mode="after")
    def _one_source(self) -> "FieldRule":
        if self.vendor is None and self.canonical is None:
            raise ValueError("a field rule needs a vendor path, a canonical path, or both")
        sources = sum(x is not None for x in (self.value, self.template, self.source))
        if sources > 1:
            raise ValueError("give at most one of value, template and source")
        return self


class EmbedRule(_Rule):
    """A nested record mapped by another mapping (the quote's customer, by the customer mapping)."""

    canonical: str
    mapping: str
    """``<vendor>/<entity>`` of the mapping applied (same version set)."""
    source: str | None = None
    """Reads: the sub-document (``$root.company``); writes: not used."""
    vendor: str | None = None
    """Writes: where the nested vendor record goes (omit to leave it out of writes)."""

    _check = field_validator("vendor", "canonical", "source")(lambda cls, v: _check_path(v))


class ListRule(_Rule):
    """A list of records (quote lines): each item mapped by ``fields``. Inside an item, paths are
    relative to the item; ``$root.`` reaches the whole document, ``$ctx.`` the context."""

    vendor: str | None = None
    canonical: str
    source: str | None = None
    """Reads: where the items are, when not at ``vendor`` (``$root.line_items``)."""
    fields: list[FieldRule] = Field(default_factory=list, alias="field")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    _check = field_validator("vendor", "canonical", "source")(lambda cls, v: _check_path(v))


class MappingSpec(BaseModel):
    """One mapping file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    vendor: str
    entity: str
    version: int = Field(ge=1)
    model: str
    """The canonical model (a class in canonical.models) the reads produce and the writes take."""
    object: str
    """The vendor object: a schema name in the vendor's description, or HubSpot's object type."""
    description: str = ""
    documents: dict[str, str] = Field(default_factory=dict)
    """When the source is a document of several vendor records (``{quote, company, line_items}``):
    its top-level key -> the vendor object each holds (``checked`` by ``mappings check``)."""
    directions: list[Literal["read", "write"]] = Field(default_factory=lambda: ["read", "write"])
    subject: str = ""
    """How problems name the record: ``"company {id} ({properties.name|unnamed})"``."""
    lookups: dict[str, dict[str, str]] = Field(default_factory=dict)
    fields: list[FieldRule] = Field(default_factory=list, alias="field")
    embeds: list[EmbedRule] = Field(default_factory=list, alias="embed")
    lists: list[ListRule] = Field(default_factory=list, alias="list")

    @property
    def key(self) -> str:
        return f"{self.vendor}/{self.entity}"
