"""The workflow contract: small hooks the runner calls (singer-sdk style), no request loops.

A workflow loads its source records, validates and maps them (``prepare``), then has a fixed list of
steps; for each step it builds the outbound request, says whether the target already has the
record (the idempotency check), and sends it. Retries, backoff, exceptions, spans and commits are
the runner's business.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from opsconsole.engine.runtime import EngineEnv


@dataclass(frozen=True)
class StepSpec:
    name: str
    system: str
    operation: str
    build_ahead: bool = False
    """Its ``build`` reads nothing the run's earlier steps commit (the run's state, and other
    records, it may): whether it has anything to send is known as soon as the step before it is
    confirmed, so when it has nothing, its skip is written in that step's commit (one commit less)."""


@dataclass
class RunState:
    """Everything a run knows while it executes (rebuilt from the store on resume)."""

    run_id: int
    workflow: str
    business_key: str
    correlation_id: str
    mapping_version: str
    context: dict
    results: dict[str, Any] = field(default_factory=dict)
    """Responses of the steps already done, by step name."""
    source: dict | None = None
    mapped: dict[str, Any] = field(default_factory=dict)
    """Canonical objects made by ``prepare`` (not stored; rebuilt from ``source``)."""
    account_key: str = ""
    dry_run: bool = False
    """A replay preview: read only, nothing written anywhere."""
    skipped_ahead: set[int] = field(default_factory=set)
    """Steps whose skip was written in the commit of the step before them (``StepSpec.build_ahead``)."""
    fresh: bool = False
    """Never executed before (just opened by its event): no step of it can have reached a target,
    so the idempotency check against cross-references is skipped, and it has no exception to close."""
    error_recorded: bool = False
    """This execution wrote an error on the run (a retry's wait, a paused target): finishing it
    clears ``last_error``."""
    customer_created: bool = False
    """Inside the matching commit: that commit created the customer, so no other system has a
    cross-reference to it and its golden record has no fields yet."""

    @property
    def clean(self) -> bool:
        """Fresh, and no error recorded since: finishing it has no exception to close and no
        ``last_error`` to clear (``StepWrite.run_fresh``)."""
        return self.fresh and not self.error_recorded


NEW_CUSTOMER = "<new customer>"


def known_contact(env: "EngineEnv", state: RunState) -> str | None:
    """The customer's Xero ContactID: prefetched in the matching commit, else read now."""
    from opsconsole.engine import records

    if "xero_contact" in state.mapped:
        return state.mapped["xero_contact"]
    if not state.account_key:
        return None
    return env.read(lambda c: records.find_xref(c, state.account_key, "xero", "contact"))


def prefetch_contact(conn, state: RunState) -> None:
    from opsconsole.engine import records

    state.mapped["xero_contact"] = None if state.customer_created else \
        records.find_xref(conn, state.account_key, "xero", "contact")


def company_identity(company: dict) -> dict:
    """What the customer of a HubSpot company is matched on (see records.resolve_customer)."""
    cp = company.get("properties") or {}
    return dict(system="hubspot", object_type="company", external_id=str(company["id"]),
                legal_name=cp.get("name") or "", tax_number=cp.get("vat_number") or "", domain=cp.get("domain") or "")


# the customer fields a CRM company carries, governed by data/ownership.toml
CRM_CUSTOMER_FIELDS = ("legal_name", "domain", "tax_number", "billing_address")


def govern_customer(conn, state: RunState, system: str, customer: Any, fields: tuple[str, ...], *,
                    event_id: str, at: datetime | None = None) -> dict:
    """Apply a source system's customer values to the golden record; a change to a field the
    system does not own becomes a conflict (never sent on). Returns {"changed", "conflicts"}.
    In a replay's dry run (``state.dry_run``) nothing is written: "changed" is what would change,
    and "would_conflict" names the fields whose change would open a conflict."""
    from opsconsole.engine import governance

    values = {}
    for name in fields:
        value = getattr(customer, name)
        values[name] = value.model_dump() if hasattr(value, "model_dump") else value
    rules, at = governance.ownership_rules(), at or datetime.now(timezone.utc)
    if state.dry_run:
        outcome = governance.preview_golden(conn, rules, "customer", state.account_key, system, values,
                                            event_id=event_id, at=at)
        return {"changed": sorted(outcome.changed), "would_conflict": sorted(c.field for c in outcome.conflicts)}
    outcome, opened = governance.apply_to_golden(conn, rules, "customer", state.account_key, system, values,
                                                 event_id=event_id, at=at, new=state.customer_created)
    return {"changed": sorted(outcome.changed), "conflicts": opened}


def erp_confirmed(conn, state: RunState, step: StepSpec, payload: Any) -> None:
    """The ERP confirmed a contact write: the fields it owns now have it as their source (so a later
    CRM change to them is a conflict with the ERP's value, shown as the ERP's)."""
    from opsconsole.engine import governance

    if step.name == "upsert_contact" and payload is not None and state.account_key:
        governance.confirm_owner(conn, "customer", state.account_key, "xero", CRM_CUSTOMER_FIELDS,
                                 event_id=f"run:{state.run_id}:{step.name}")


def changed_fields(state: RunState) -> list[str] | None:
    """The golden-record fields the validate step changed (None: a run from before governance)."""
    summary = state.results.get("validate") or {}
    return summary.get("changed")


@dataclass
class Prepared:
    """What ``prepare`` found: the account to serialise on and what to record for the validate step."""

    account_key: str
    summary: dict


@dataclass
class Sent:
    """A confirmed write: the target's record and the cross-references it establishes."""

    response: Any
    xrefs: list[tuple[str, str, str, str]] = field(default_factory=list)


class Workflow(ABC):
    name: str
    steps: tuple[StepSpec, ...]
    dedupe_by_business_key: bool = True
    """True: one run per business key (a second event for it is a duplicate)."""
    triggers: tuple[str, ...] = ("webhook", "scheduled")
    """The sync modes it supports (engine/triggers.py); the first is its default."""

    def record_key(self, business_key: str) -> str:
        """The record a run changes: a scheduled batch runs only the newest change per record.
        Per-change keys are ``<system>:<kind>:<id>:<when>``."""
        return business_key if self.dedupe_by_business_key else ":".join(business_key.split(":")[:3])

    @abstractmethod
    async def load(self, env: "EngineEnv", state: RunState) -> dict:
        """Read the source records (vendor records, unmapped) this run works from."""

    @abstractmethod
    def identity(self, state: RunState) -> dict | None:
        """What the run's customer is matched on (``records.resolve_customer`` arguments), or None
        when the source is too broken to say (``prepare`` then raises)."""

    UNMATCHED = "(unmatched)"
    """The customer id a premapped model carries until ``prepare`` binds the matched one."""

    def premap(self, env: "EngineEnv", state: RunState) -> None:
        """Map ``state.source`` before the commit that matches the customer, on the engine's loop
        rather than in the store's writer (which every run's commits queue behind), leaving
        ``prepare`` only the binding to the matched customer. Raises MappingError as ``prepare``
        does. Default: nothing (``prepare`` maps)."""

    def premapped(self, env: "EngineEnv", state: RunState, key: str) -> Any:
        """For ``prepare``: what ``premap`` left under ``state.mapped[key]``, taken out of it
        (mapped now when premap has not run, as for a run resumed past its first commit)."""
        if key not in state.mapped:
            self.premap(env, state)
        return state.mapped.pop(key)

    @abstractmethod
    def prepare(self, env: "EngineEnv", state: RunState, customer_id: str, matched_by: str) -> Prepared:
        """Validate and map ``state.source`` into ``state.mapped`` for the matched customer.
        No I/O: the runner calls it inside the commit that records the match, so a validation
        failure leaves no customer behind.

        Raises:
            canonical.mapping.MappingError: a mandatory field is missing or wrong (validation).
        """

    def prefetch(self, conn, state: RunState) -> None:
        """Inside the matching commit: read what later steps need from the store (into
        ``state.mapped``), saving them a read of their own."""

    previews_govern = False
    """``govern`` writes nothing in a replay's dry run (``state.dry_run``: it goes through
    :func:`govern_customer`), so the dry run can show what the replayed validate step would change
    and what the later steps would then send."""

    def govern(self, conn, state: RunState) -> dict:
        """Inside the matching commit, after ``prepare``: apply the source's values to the golden
        record under the ownership rules (data/ownership.toml). Returns what the validate step's
        summary records (fields changed, conflicts opened), which later steps build from."""
        return {}

    def confirmed(self, conn, env: "EngineEnv", state: RunState, step: StepSpec, payload: Any) -> None:
        """Inside the commit of a step the target confirmed: record what that means beyond the step
        (e.g. the system of record now holds the golden record's values)."""

    def finish(self, conn, env: "EngineEnv", state: RunState) -> None:
        """Inside the commit of the run's last step (the target confirmed it): record what the
        completed run means beyond its steps (e.g. a correction applied)."""

    @abstractmethod
    def build(self, step: StepSpec, env: "EngineEnv", state: RunState) -> Any:
        """The outbound request body of ``step`` (placeholders for ids not known yet in a dry run)."""

    def already_in_target(self, step: StepSpec, env: "EngineEnv", state: RunState) -> Any | None:
        """The target's record when a cross-reference shows the write already happened, else None."""
        return None

    @abstractmethod
    async def send(self, step: StepSpec, payload: Any, env: "EngineEnv", state: RunState,
                   idempotency_key: str, traceparent: str) -> Sent:
        """Perform the write; return once the target confirmed it."""

    def idempotency_key(self, step: StepSpec, state: RunState) -> str:
        """From the business key and the step, never the run (DESIGN: effectively once).

        A target may remember a rejected request (a 4xx) under its key and answer every repeat with
        the same rejection, so after a rejection the step's key carries a rejection count: nothing
        was created under the old key, so a new one cannot make a duplicate, while a crash-retry of
        an accepted request still repeats its key exactly."""
        key = f"{self.name}:{state.business_key}:{step.name}"
        rejected = (state.context.get("rejections") or {}).get(step.name, 0)
        return f"{key}:r{rejected}" if rejected else key
