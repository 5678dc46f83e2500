"""View models: what the console and the CLI render. Plain data, no I/O, no SQLAlchemy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int
    offset: int
    limit: int
    exact: bool = True
    """False: ``total`` is a floor (the count stopped at a cap: "10000+")."""
    scope: str = ""
    """Not empty: the filter looked in this part of the store only ("newest 100k runs")."""


@dataclass(frozen=True)
class RunRow:
    id: int
    workflow: str
    business_key: str
    status: str
    current_step: str
    attempt: int
    mapping_version: str
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    age_s: float
    last_error: str
    retries: int = 0
    """Attempts beyond the first, over all its steps (a 429 storm shows here)."""


@dataclass(frozen=True)
class ExceptionRow:
    id: int
    run_id: int | None
    workflow: str
    business_key: str
    category: str
    system: str
    state: str
    title: str
    last_error: str
    owner: str
    correlation_id: str
    created_at: datetime
    age_s: float


@dataclass(frozen=True)
class StepView:
    seq: int
    name: str
    system: str
    operation: str
    status: str
    attempts: int
    idempotency_key: str
    duration_ms: float | None
    request: Any
    response: Any
    error: str
    error_category: str


@dataclass(frozen=True)
class SpanView:
    span_id: str
    system: str
    operation: str
    status: str
    http_status: int | None
    started_at: datetime
    duration_ms: float
    request: Any
    response: Any


@dataclass(frozen=True)
class RunDetail:
    run: RunRow
    steps: list[StepView]
    spans: list[SpanView]
    exceptions: list[ExceptionRow]
    inbox_event: dict | None = None
    masked: int = 0
    """Personal values masked out of the steps' and spans' payloads (the operator lacks the pii role)."""


@dataclass(frozen=True)
class ExceptionDetail:
    exception: ExceptionRow
    payload: Any
    suggested_action: str
    masked: int = 0
    """How many personal-data values were masked out of ``payload`` (the operator lacks the pii role)."""
    resolution: str = ""
    spans: list[SpanView] = field(default_factory=list)
    """The trace's spans (its correlation id), for the summary; empty for a malformed event."""
    why_not_yours: str = ""
    """Why the operator may not act on it ("" when they may: the support role, a writable console)."""


@dataclass(frozen=True)
class BulkPreview:
    """What a bulk action on marked exceptions would touch, counted in the store before confirming."""

    total: int
    by_category: dict[str, int]
    """Category -> exceptions, largest first."""
    by_state: dict[str, int]
    selection: dict
    """What the command carries: {"ids": [...]} or {"filter": text, "exclude": [...], "now": t, "max_id": n}."""
    without_run: int = 0
    """Malformed events among them: no run, so a retry or replay skips them."""


@dataclass(frozen=True)
class PlannedStep:
    name: str
    system: str
    operation: str
    idempotency_key: str
    payload: Any
    verdict: str
    """What a replay would do: "will be sent", "already in the ERP — will be skipped", ..."""
    previous: Any = None
    """The request last sent for this step, if any (for the diff)."""
    diff: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReplayPlan:
    run_id: int
    workflow: str
    business_key: str
    from_step: str
    mapping_version: str
    steps: list[PlannedStep]
    problems: list[str]
    """Why the replay would fail validation now (empty when it would pass)."""
    step_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CommandReceipt:
    command_id: int
    kind: str
    target: str
    message: str


@dataclass(frozen=True)
class CommandState:
    command_id: int
    kind: str
    target: str
    status: str
    result: str


@dataclass(frozen=True)
class EngineStatus:
    mode: str
    """"engine" (this process runs it), "attached" (watching another's), or "none"."""
    holder: str
    fencing: int | None
    alive: bool
    ingress: str
    expires_in_s: float
    released: bool = False
    """The holder gave the lease up on a clean shutdown (no engine runs until another takes it)."""


@dataclass(frozen=True)
class Counts:
    runs_by_status: dict[str, int]
    exceptions_open: int
    exceptions_by_category: dict[str, int]
    inbox_events: int
    rejected_webhooks: int
    last_rejected: str
    conflicts_open: int = 0
    corrections_pending: int = 0
    background: tuple["BackgroundCommand", ...] = ()
    """Bulk commands queued or running in the engine, whoever asked (every console shows them)."""


@dataclass(frozen=True)
class BackgroundCommand:
    """A bulk command the engine is working through: "replay by alice: 400 of 1200"."""

    id: int
    kind: str
    actor: str
    status: str
    result: str

    @property
    def verb(self) -> str:
        return self.kind.removeprefix("bulk_")


@dataclass(frozen=True)
class ConflictRow:
    """An ownership conflict or a suspected duplicate, as a person decides it."""

    id: int
    kind: str
    entity: str
    canonical_id: str
    field: str
    owner: str
    rule: str
    values: dict
    challenger: str
    proposed: str
    billing_impacting: bool
    score: float | None
    state: str
    resolution: str
    resolved_by: str
    correction_id: int | None
    run_id: int | None
    created_at: datetime
    age_s: float


@dataclass(frozen=True)
class CorrectionRow:
    """A proposed change to a billing-impacting field, waiting for (or past) finance approval."""

    id: int
    conflict_id: int | None
    entity: str
    canonical_id: str
    field: str
    before: Any
    after: Any
    target_system: str
    requested_by: str
    reason: str
    state: str
    decided_by: str
    decision_reason: str
    run_id: int | None
    created_at: datetime
    age_s: float
    why_not_yours: str = ""
    """Why the operator looking at it may not decide it ("" when they may)."""


@dataclass(frozen=True)
class ValueSource:
    """One system's value in an ownership conflict, and where it came from."""

    system: str
    value: Any
    owner: bool
    """This system is the field's system of record."""
    event_id: str
    """The event that brought the value ("" when not known)."""
    at: datetime | None
    held: bool
    """The golden record holds this value now."""


@dataclass(frozen=True)
class ConflictDetail:
    """A conflict with the provenance of each system's value (ownership conflicts)."""

    conflict: ConflictRow
    sources: list[ValueSource]
    event_id: str
    """The event that raised the conflict."""
    note: str
    golden_value: Any = None
    """What the golden record holds now (None when nothing is set)."""
    golden_system: str = ""


# --- the dashboard ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Throughput:
    """One workflow's runs over the dashboard's window (the last hour)."""

    workflow: str
    per_minute: list[int]
    """Runs finished (succeeded or failed) in each minute of the window, oldest first."""
    succeeded: int
    failed: int
    retries: int
    """Attempts beyond the first of the workflow's steps that finished in the window."""

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def failure_rate(self) -> float | None:
        """Failed runs as a percentage of the finished ones (None when none finished)."""
        return 100.0 * self.failed / self.finished if self.finished else None


@dataclass(frozen=True)
class ExceptionAges:
    """Open and acknowledged exceptions of one category, by age against the category's SLA."""

    category: str
    sla_s: float
    within: int
    """Younger than half the SLA."""
    nearing: int
    """Between half the SLA and the SLA."""
    breached: int
    """Older than the SLA."""

    @property
    def total(self) -> int:
        return self.within + self.nearing + self.breached


@dataclass(frozen=True)
class BusinessMilestones:
    """``opsconsole.milestones.Milestones`` as the console shows it."""

    as_of: date
    orders_awaiting_billing_approval: int
    invoices_overdue: dict[str, int]
    """Aging bucket ("1-30", "31-60", "61-90", "90+") -> overdue invoices."""
    overdue_amounts: dict[str, str]
    """Currency -> amount due of the overdue invoices (a decimal string, 2 places)."""
    onboardings_delayed: int
    renewals_blocked_by_payment: int

    @property
    def invoices_overdue_total(self) -> int:
        return sum(self.invoices_overdue.values())


@dataclass(frozen=True)
class Dashboard:
    as_of: datetime
    window_s: float
    throughput: list[Throughput]
    """Workflows with runs in the window, by name."""
    exceptions: list[ExceptionAges]
    """Categories with open or acknowledged exceptions, in DESIGN's order of categories."""
    milestones: BusinessMilestones


# --- the audit pane and the trace finder (audit_services.py) -------------------------------------
@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: Any


@dataclass(frozen=True)
class ChainStatus:
    """The audit chain's verification, for the audit pane's header line."""

    verified: bool
    """Whether a verification ran at all (False: the key is not available to this operator)."""
    ok: bool
    entries: int
    message: str
    """Why it is broken, or why it cannot be verified."""
    broken_at: int | None = None
    head: str = ""
    """"head matches", "no head file", ... (the head kept outside the store)."""
    seconds: float = 0.0


@dataclass(frozen=True)
class TraceMatch:
    run: RunRow
    via: str
    """How the query reached this run: "correlation id", "business key", "xero invoice …", "customer …"."""


@dataclass(frozen=True)
class TraceSearch:
    query: str
    matches: list[TraceMatch]
    """Newest run first, at most ``limit``."""
    searched: str
    """What was searched, for a "not found" message."""
    truncated: bool = False


@dataclass(frozen=True)
class ConnectorRow:
    """One connector on the Connectors pane (``opsconsole.connector_services``)."""

    id: str
    """The system: hubspot, xero, intercom."""
    paused: bool
    changed_by: str
    """Who paused it (or, when active, who last resumed it); empty if never paused."""
    changed_at: datetime | None
    changed_age_s: float | None
    reason: str
    waiting_steps: int
    """Steps waiting for this system (paused, or backing off before their next attempt)."""
    last_success_at: datetime | None
    """The newest call to this system that got an HTTP status below 400."""
    last_success_age_s: float | None
    calls_hour: int
    errors_hour: int
    budget_left: int | None
    """The engine's rate-limit governor: calls left in the vendor's window (None: not known yet)."""
    budget_limit: int | None
    blocked_for_s: float
    """A 429's wait in force when the engine recorded it."""
    throttled: int
    budget_age_s: float | None
    """How old the engine's record of the governor is (None: the engine never recorded one)."""
    rejected_24h: int
    """Webhooks from this system rejected (bad signature, ...) in the last 24 hours."""
    last_rejection: str
    last_rejection_age_s: float | None

    @property
    def error_rate(self) -> float | None:
        """Errors over all calls in the last hour, in %; None without calls."""
        return 100.0 * self.errors_hour / self.calls_hour if self.calls_hour else None
