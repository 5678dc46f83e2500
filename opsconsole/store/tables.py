"""Tables of the store (SQLAlchemy Core). Alembic migrations create them; change both together.

Times are stored as float UNIX seconds (UTC by definition): compact, indexable, and cheap to
compare in the hot path; view models turn them into aware datetimes.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text,
    UniqueConstraint,
)

metadata = MetaData()

inbox = Table(
    "inbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(32), nullable=False),
    Column("event_key", String(255), nullable=False),
    Column("event_type", String(64), nullable=False, default=""),
    Column("received_at", Float, nullable=False),
    Column("raw_body", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False, default=dict),
    # pending -> processed | duplicate | invalid (became a validation exception) | ignored
    Column("status", String(16), nullable=False, default="pending"),
    Column("business_key", String(128)),
    Column("run_id", Integer),
    Column("note", Text, default=""),
    UniqueConstraint("source", "event_key", name="uq_inbox_event"),
)
Index("ix_inbox_status", inbox.c.status, inbox.c.id)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("workflow", String(64), nullable=False),
    Column("business_key", String(128), nullable=False),
    Column("account_key", String(128)),
    Column("correlation_id", String(32), nullable=False),
    # pending -> running -> succeeded | failed (an exception is open) ; waiting (backoff)
    Column("status", String(16), nullable=False),
    Column("current_step", String(64), default=""),
    Column("mapping_version", String(32), nullable=False, default="1"),
    Column("inbox_id", Integer),
    Column("attempt", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("last_error", Text, default=""),
    Column("context", JSON, nullable=False, default=dict),
)
Index("ix_runs_updated", runs.c.updated_at)
Index("ix_runs_status", runs.c.status, runs.c.updated_at)
Index("ix_runs_key", runs.c.workflow, runs.c.business_key)
Index("ix_runs_corr", runs.c.correlation_id)
Index("ix_runs_last_finished", runs.c.workflow, runs.c.status, runs.c.finished_at)  # 0009: health's last success

steps = Table(
    "steps", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("target_system", String(32), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    # pending -> succeeded | skipped (already in the target) | waiting (backoff) | failed
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("request", JSON),
    Column("response", JSON),
    Column("error", Text, default=""),
    Column("error_category", String(32), default=""),
    Column("next_attempt_at", Float),
    Column("started_at", Float),
    Column("finished_at", Float),
    UniqueConstraint("run_id", "seq", name="uq_step_seq"),
)
Index("ix_steps_idem", steps.c.idempotency_key)
Index("ix_steps_waiting", steps.c.status, steps.c.next_attempt_at)
Index("ix_steps_finished", steps.c.finished_at)  # migration 0005: the dashboard's retries in the last hour

exceptions = Table(
    "exceptions", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer),
    Column("step_id", Integer),
    Column("inbox_id", Integer),
    Column("workflow", String(64), nullable=False),
    Column("business_key", String(128), default=""),
    Column("correlation_id", String(32), default=""),
    Column("category", String(32), nullable=False),
    Column("system", String(32), default=""),
    # open -> acknowledged -> resolved ; closed (a retry or replay succeeded)
    Column("state", String(16), nullable=False, default="open"),
    Column("title", String(128), default=""),
    Column("last_error", Text, nullable=False),
    Column("payload", JSON),
    Column("owner", String(64), default=""),
    Column("resolution", Text, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
Index("ix_exc_state", exceptions.c.state, exceptions.c.created_at)
Index("ix_exc_run", exceptions.c.run_id)
Index("ix_exc_created", exceptions.c.created_at)
# migration 0007: the exceptions filter's facets (category:, workflow:, owner:), each then by state
Index("ix_exc_category", exceptions.c.category, exceptions.c.state, exceptions.c.created_at)
Index("ix_exc_workflow", exceptions.c.workflow, exceptions.c.state, exceptions.c.created_at)
Index("ix_exc_owner", exceptions.c.owner, exceptions.c.state)

xrefs = Table(
    "xrefs", metadata,
    Column("id", Integer, primary_key=True),
    Column("system", String(32), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("external_id", String(128), nullable=False),
    Column("canonical_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    # migration 0002: a deletion in the source archives the row (never deletes it), saying why; a CRM
    # merge re-points the merged record's row (merged_into: the surviving external id) and keeps the
    # customer it pointed to before as an alias (previous_canonical_id)
    Column("archived_at", Float),
    Column("archived_reason", Text),
    Column("merged_into", String(128)),
    Column("previous_canonical_id", String(64)),
    UniqueConstraint("system", "object_type", "external_id", name="uq_xref_external"),
)
Index("ix_xref_canonical", xrefs.c.canonical_id, xrefs.c.system, xrefs.c.object_type)

customers = Table(
    "customers", metadata,
    Column("canonical_id", String(64), primary_key=True),
    Column("legal_name", String(255), nullable=False),
    Column("match_name", String(255), nullable=False),
    Column("tax_number", String(64)),
    Column("domain", String(255)),
    Column("created_at", Float, nullable=False),
)
Index("ix_customers_tax", customers.c.tax_number)
Index("ix_customers_match", customers.c.match_name)
Index("ix_customers_domain", customers.c.domain)  # migration 0003: duplicate matching by web domain

spans = Table(
    "spans", metadata,
    Column("id", Integer, primary_key=True),
    Column("correlation_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("parent_span_id", String(16), default=""),
    Column("run_id", Integer),
    Column("step_id", Integer),
    Column("system", String(32), nullable=False),
    Column("operation", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("http_status", Integer),
    Column("started_at", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("request", JSON),
    Column("response", JSON),
)
Index("ix_spans_corr", spans.c.correlation_id, spans.c.started_at)
Index("ix_spans_run", spans.c.run_id)
Index("ix_spans_system", spans.c.system, spans.c.started_at)  # migration 0006: the Connectors pane

lease = Table(
    "lease", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("fencing", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("info", JSON, nullable=False, default=dict),
)

commands = Table(
    "commands", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),  # retry | replay
    Column("target", String(64), nullable=False),  # e.g. exception:12, run:7
    Column("params", JSON, nullable=False, default=dict),
    Column("actor", String(64), nullable=False),
    # queued -> running -> done | failed
    Column("status", String(16), nullable=False, default="queued"),
    Column("result", Text, default=""),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
)
Index("ix_commands_status", commands.c.status, commands.c.id)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("detail", JSON, nullable=False, default=dict),
    Column("prev_mac", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)

rejected_webhooks = Table(
    "rejected_webhooks", metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(32), nullable=False),
    Column("reason", String(255), nullable=False),
    Column("remote", String(64), default=""),
    Column("at", Float, nullable=False),
)
Index("ix_rejected_at", rejected_webhooks.c.at)
Index("ix_rejected_source", rejected_webhooks.c.source, rejected_webhooks.c.at)  # migration 0006

# --- connectors (migration 0006): paused by an operator (a command), and the engine's view of each --------
connector_state = Table(
    "connector_state", metadata,
    Column("system", String(32), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("paused_by", String(64), nullable=False, default=""),
    Column("paused_at", Float),
    Column("reason", Text, nullable=False, default=""),
    Column("updated_at", Float, nullable=False),
)

connector_health = Table(
    "connector_health", metadata,
    Column("system", String(32), primary_key=True),
    Column("budget_left", Integer),  # the governor's budget left in the vendor's window (None: unknown)
    Column("budget_limit", Integer),
    Column("blocked_for_s", Float, nullable=False, default=0.0),  # a 429's wait still in force
    Column("throttled", Integer, nullable=False, default=0),  # 429s seen since the engine started
    Column("vendor_said_at", Float),  # when the vendor's rate-limit headers were last read
    Column("recorded_at", Float, nullable=False),  # when the engine wrote this row
    Column("holder", String(128), nullable=False, default=""),  # the engine (lease holder) that wrote it
)

# --- governance: the golden record, conflicts, corrections (data/ownership.toml decides) -------
golden_fields = Table(
    "golden_fields", metadata,
    Column("entity", String(32), primary_key=True),
    Column("canonical_id", String(64), primary_key=True),
    Column("field", String(64), primary_key=True),
    Column("value", JSON),
    Column("system", String(32), nullable=False),  # provenance: which system set it,
    Column("event_id", String(255), nullable=False),  # from which event,
    Column("set_at", Float, nullable=False),  # and when
)

conflicts = Table(
    "conflicts", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # ownership | duplicate
    Column("entity", String(32), nullable=False),
    Column("canonical_id", String(64), nullable=False),
    Column("field", String(64), nullable=False, default=""),
    Column("owner", String(32), nullable=False, default=""),
    Column("rule", Text, nullable=False, default=""),
    Column("values", JSON, nullable=False, default=dict),  # system -> value (or the candidate records)
    Column("challenger", String(32), nullable=False, default=""),
    Column("proposed", Text, nullable=False, default=""),
    Column("billing_impacting", Boolean, nullable=False, default=False),
    Column("score", Float),
    Column("event_id", String(255), nullable=False, default=""),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    # open -> resolved (kept | taken | correction | linked | separate)
    Column("state", String(16), nullable=False, default="open"),
    Column("resolution", String(32), nullable=False, default=""),
    Column("resolved_by", String(64), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("correction_id", Integer),
    Column("run_id", Integer),  # a run held until a person decides (a suspected duplicate)
    Column("created_at", Float, nullable=False),
    Column("resolved_at", Float),
)
Index("ix_conflicts_state", conflicts.c.state, conflicts.c.created_at)
Index("ix_conflicts_record", conflicts.c.entity, conflicts.c.canonical_id)

corrections = Table(
    "corrections", metadata,
    Column("id", Integer, primary_key=True),
    Column("conflict_id", Integer),
    Column("entity", String(32), nullable=False),
    Column("canonical_id", String(64), nullable=False),
    Column("field", String(64), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("target_system", String(32), nullable=False),
    Column("billing_impacting", Boolean, nullable=False, default=True),
    Column("requested_by", String(64), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    # pending -> approved -> applied | failed; pending -> rejected; approved -> refused (the engine's check failed)
    Column("state", String(16), nullable=False, default="pending"),
    Column("decided_by", String(64), nullable=False, default=""),
    Column("decision_reason", Text, nullable=False, default=""),
    Column("approval_audit_id", Integer),
    Column("run_id", Integer),
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float),
    Column("applied_at", Float),
)
Index("ix_corrections_state", corrections.c.state, corrections.c.created_at)

# --- the customer lifecycle's read models (migration 0004): what the milestone queries count ----
payment_positions = Table(
    "payment_positions", metadata,
    Column("invoice_id", String(64), primary_key=True),  # the Xero InvoiceID
    Column("customer_id", String(64), nullable=False, default=""),
    Column("invoice_number", String(64), nullable=False, default=""),
    Column("invoice_status", String(16), nullable=False, default=""),  # as the ERP holds it
    Column("status", String(24), nullable=False),  # canonical: unpaid | partially_paid | paid | overdue | voided | awaiting_approval
    Column("amount_due", String(32), nullable=False, default="0"),  # decimal string, never float
    Column("currency", String(3), nullable=False, default=""),
    Column("due_on", String(10)),  # ISO date: days overdue are recomputed from it as time passes
    Column("days_overdue", Integer, nullable=False, default=0),
    Column("aging_bucket", String(8), nullable=False, default="current"),
    Column("financial_risk", String(8), nullable=False, default="none"),
    Column("invoice_updated", Integer, nullable=False, default=0),  # the ERP's UpdatedDateUTC (ms) read
    Column("updated_at", Float, nullable=False),
)
Index("ix_payment_positions_due", payment_positions.c.status, payment_positions.c.due_on)
Index("ix_payment_positions_customer", payment_positions.c.customer_id)

onboardings = Table(
    "onboardings", metadata,
    Column("order_key", String(128), primary_key=True),  # the quote_to_order run's business key
    Column("customer_id", String(64), nullable=False),
    Column("order_number", String(64), nullable=False, default=""),
    Column("legal_name", String(255), nullable=False, default=""),
    # awaiting_approval (order accepted, financial approval not given) -> started -> live
    Column("state", String(24), nullable=False),
    Column("stage", String(24), nullable=False, default="not_started"),
    Column("plan", JSON, nullable=False, default=list),  # milestones: name, stage, due_on, done_on
    Column("next_due_on", String(10)),  # the earliest milestone not done (ISO date); NULL when none
    Column("delivery_risk", String(8), nullable=False, default="none"),  # none | at_risk
    Column("delivery_risk_reason", Text, nullable=False, default=""),
    Column("ordered_on", String(10)),
    Column("started_at", Float),
    Column("updated_at", Float, nullable=False),
)
Index("ix_onboardings_state", onboardings.c.state, onboardings.c.next_due_on)
Index("ix_onboardings_customer", onboardings.c.customer_id)

renewals = Table(
    "renewals", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("legal_name", String(255), nullable=False, default=""),
    Column("readiness", String(24), nullable=False),  # ready | at_risk | blocked_by_payment
    Column("score", Integer, nullable=False, default=0),
    Column("reason", Text, nullable=False, default=""),
    Column("deal_id", String(64), nullable=False, default=""),
    Column("deal_stage", String(64), nullable=False, default=""),
    Column("renewal_on", String(10)),
    Column("inputs", JSON, nullable=False, default=dict),
    Column("evaluated_at", Float, nullable=False),
)
Index("ix_renewals_readiness", renewals.c.readiness, renewals.c.renewal_on)

# --- alerting (migration 0009): one row per incident and its notices' delivery (engine/alerting.py) ----
incidents = Table(
    "incidents", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(128), nullable=False),  # sla:exception:12 | connector:xero | lease:engine
    Column("kind", String(16), nullable=False),  # sla | connector | lease
    Column("subject", String(128), nullable=False, default=""),
    Column("correlation_id", String(64), nullable=False, default=""),
    Column("summary", Text, nullable=False),
    Column("state", String(16), nullable=False, default="open"),  # open -> resolved
    Column("resolution", Text, nullable=False, default=""),
    Column("opened_at", Float, nullable=False),
    Column("resolved_at", Float),
    Column("alerted_at", Float),  # the alert reached every webhook
    Column("resolution_sent_at", Float),  # the resolution reached every webhook
    Column("delivery", String(16), nullable=False, default="pending"),  # pending | failed | sent (nothing owed)
    Column("delivered", JSON, nullable=False, default=list),  # webhooks that took the notice in flight
    Column("attempts", Integer, nullable=False, default=0),  # of the notice in flight
    Column("last_error", Text, nullable=False, default=""),
    Column("next_attempt_at", Float),
)
Index("ix_incidents_key", incidents.c.key, incidents.c.state)
Index("ix_incidents_state", incidents.c.state, incidents.c.kind)
Index("ix_incidents_delivery", incidents.c.delivery, incidents.c.next_attempt_at)
