"""Field ownership and survivorship, as data (``data/ownership.toml``), and the golden record.

The golden record keeps, per field, the value and which system and which event set it, and when.
:func:`apply_change` takes one system's values from one event and says what changes, what is
ignored (and why) and what is an ownership conflict: a change in a system that does not own the
field never overwrites the owner's value. Applying the same change twice changes nothing.
:func:`survive` picks a value among several systems' (backfill, reconciliation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from canonical.rules import load_toml

Rule = Literal["source_priority", "most_recent_non_empty", "most_complete"]
ANY = "any"


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str = ANY
    rule: Rule = "most_recent_non_empty"
    priority: tuple[str, ...] | None = None
    billing_impacting: bool = False
    owner_may_clear: bool = False

    def describe(self) -> str:
        owner = "no single owner" if self.owner == ANY else f"owned by {self.owner}"
        billing = ", billing-impacting" if self.billing_impacting else ""
        return f"{owner}, {self.rule.replace('_', ' ')}{billing}"


class OwnershipRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    priority: tuple[str, ...]
    entities: dict[str, dict[str, FieldRule]] = Field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path | None = None) -> "OwnershipRules":
        raw = load_toml("ownership.toml", data_dir)
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict) -> "OwnershipRules":
        head = {k: raw[k] for k in ("version", "priority") if k in raw}
        entities = {k: v for k, v in raw.items() if k not in head}
        return cls.model_validate({**head, "entities": entities})

    def rule(self, entity: str, name: str) -> FieldRule:
        """The field's rule; a field the file does not name has no owner and the default rule."""
        return self.entities.get(entity, {}).get(name) or FieldRule()

    def priority_of(self, rule: FieldRule, system: str) -> int:
        order = rule.priority or self.priority
        return order.index(system) if system in order else len(order)

    def billing_impacting(self, entity: str) -> list[str]:
        return sorted(n for n, r in self.entities.get(entity, {}).items() if r.billing_impacting)


def empty(value: Any) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return True
    if isinstance(value, dict):
        return all(empty(v) for v in value.values())
    return False


def completeness(value: Any) -> int:
    """How many non-empty leaves a value has (an address with a postcode beats one without)."""
    if isinstance(value, dict):
        return sum(completeness(v) for v in value.values())
    if isinstance(value, list):
        return sum(completeness(v) for v in value)
    return 0 if empty(value) else 1


@dataclass(frozen=True)
class FieldState:
    """A field's value in the golden record, with its provenance."""

    value: Any
    system: str
    event_id: str
    set_at: datetime


@dataclass
class GoldenRecord:
    entity: str
    canonical_id: str
    fields: dict[str, FieldState] = field(default_factory=dict)
    applied: set[str] = field(default_factory=set)
    """Event ids already applied: a redelivered event changes nothing."""

    def values(self) -> dict[str, Any]:
        return {name: state.value for name, state in self.fields.items()}


@dataclass(frozen=True)
class Conflict:
    """An ownership conflict: a field changed in a system that does not own it."""

    entity: str
    canonical_id: str
    field: str
    owner: str
    rule: str
    values: dict[str, Any]
    """system -> value: the golden value under the system that set it, and the challenger's."""
    challenger: str
    proposed: str
    billing_impacting: bool
    event_id: str

    @property
    def key(self) -> str:
        """The same conflict raised twice (a redelivered event) has the same key."""
        return f"{self.entity}:{self.canonical_id}:{self.field}:{self.challenger}:{_fingerprint(self.values.get(self.challenger))}"


def _fingerprint(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_fingerprint(v)}" for k, v in sorted(value.items())) + "}"
    return repr(value)


@dataclass
class Outcome:
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """field -> (old value, new value)."""
    ignored: dict[str, str] = field(default_factory=dict)
    """field -> why it was not applied."""
    conflicts: list[Conflict] = field(default_factory=list)


def apply_change(golden: GoldenRecord, rules: OwnershipRules, system: str, values: dict[str, Any], *,
                 event_id: str, at: datetime) -> Outcome:
    """Apply one system's values (from one event, at ``at``) to the golden record, in place."""
    out = Outcome()
    if event_id in golden.applied:
        out.ignored = {name: "event already applied" for name in values}
        return out
    golden.applied.add(event_id)
    for name, value in values.items():
        rule = rules.rule(golden.entity, name)
        current = golden.fields.get(name)
        if current is not None and current.value == value:
            out.ignored[name] = "unchanged"
            continue
        if current is not None and at < current.set_at:
            out.ignored[name] = "older than the value it would replace"
            continue
        is_owner = rule.owner in (ANY, system)
        if empty(value):
            if current is None or empty(current.value) or not (is_owner and rule.owner_may_clear):
                out.ignored[name] = "an empty value never overwrites a filled one"
                continue
        elif current is not None and not empty(current.value) and rule.owner != ANY and rule.owner != system:
            out.conflicts.append(_conflict(golden, rule, name, current, system, value, event_id))
            continue
        elif current is not None and not empty(current.value) and rule.owner == ANY:
            if not _survives(rules, rule, current, FieldState(value, system, event_id, at)):
                out.ignored[name] = f"{rule.rule.replace('_', ' ')} keeps the {current.system} value"
                continue
        golden.fields[name] = FieldState(value, system, event_id, at)
        out.changed[name] = (current.value if current else None, value)
    return out


def _conflict(golden: GoldenRecord, rule: FieldRule, name: str, current: FieldState, system: str, value: Any,
              event_id: str) -> Conflict:
    # the value in force is named by the system that set it; when that is the challenger itself (it
    # filled the field before the owner ever held it), by "golden", so both values show
    held_by = current.system if current.system != system else "golden"
    kept = f"the {rule.owner} value" if current.system == rule.owner else f"the current value (from {current.system})"
    if rule.billing_impacting:
        proposed = f"keep {kept}, or raise a correction for finance to write the {system} value"
    else:
        proposed = f"keep {kept}, or take the {system} value"
    return Conflict(golden.entity, golden.canonical_id, name, rule.owner, rule.describe(),
                    {held_by: current.value, system: value}, system, proposed, rule.billing_impacting, event_id)


def _survives(rules: OwnershipRules, rule: FieldRule, current: FieldState, new: FieldState) -> bool:
    """Whether ``new`` replaces ``current`` under the field's survivorship rule."""
    return survive(rules, rule, [current, new]) is new


def survive(rules: OwnershipRules, rule: FieldRule, candidates: list[FieldState]) -> FieldState | None:
    """The surviving value among several systems' (empty values never survive a filled one)."""
    filled = [c for c in candidates if not empty(c.value)]
    if not filled:
        return None
    if rule.owner != ANY:
        owned = [c for c in filled if c.system == rule.owner]
        if owned:
            return max(owned, key=lambda c: c.set_at)
    if rule.rule == "source_priority":
        return min(filled, key=lambda c: (rules.priority_of(rule, c.system), -c.set_at.timestamp()))
    if rule.rule == "most_complete":
        return max(filled, key=lambda c: (completeness(c.value), c.set_at))
    return max(filled, key=lambda c: (c.set_at, -rules.priority_of(rule, c.system)))
