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


@dataclass(frozen=True)
class ExceptionDetail:
    exception: ExceptionRow
    payload: Any
    suggested_action: str


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
