"""The lifecycle policy (data/lifecycle.toml): financial approval, the onboarding plan, delivery risk.

Pure functions of the policy and the facts the engine gathers (no I/O):

- :meth:`LifecyclePolicy.approved`: whether the ERP's order and first-invoice statuses amount to
  financial approval, after which onboarding starts and the entitlement is activated;
- :meth:`LifecyclePolicy.plan`: the milestones of a new onboarding, due from the order date;
- :func:`progress`: milestones done, given the ``onboarding_stage`` customer success has reached;
- :func:`delivery_risk`: "at_risk" with a one-line reason when a milestone is late, else "none".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from canonical.rules import load_toml

DeliveryRisk = Literal["none", "at_risk"]
INVOICE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED")


@dataclass(frozen=True)
class MilestoneRule:
    name: str
    stage: str
    due_days: int


@dataclass(frozen=True)
class LifecyclePolicy:
    new_invoice_status: str = "SUBMITTED"
    order_status: tuple[str, ...] = ("ACCEPTED",)
    first_invoice_status: tuple[str, ...] = ("AUTHORISED", "PAID")
    stages: tuple[str, ...] = ("kickoff", "implementation", "training", "live")
    milestones: tuple[MilestoneRule, ...] = field(default_factory=tuple)
    event_name: str = "onboarding-started"
    ticket_type_id: str = "1"
    ticket_title: str = "Implementation: {legal_name} (order {order_number})"
    grace_days: int = 0
    version: int = 1

    @classmethod
    def from_dict(cls, data: dict) -> "LifecyclePolicy":
        """Raises ValueError naming the key that is wrong."""
        billing, onboarding = data.get("billing") or {}, data.get("onboarding") or {}
        start = onboarding.get("start") or {}
        status = str(billing.get("new_invoice_status", "SUBMITTED")).upper()
        if status not in INVOICE_STATUSES:
            raise ValueError(f"lifecycle: billing.new_invoice_status is {status!r}, not one of "
                             f"{', '.join(INVOICE_STATUSES)}")
        stages = tuple(str(s) for s in onboarding.get("stages") or cls.stages)
        if len(set(stages)) != len(stages):
            raise ValueError("lifecycle: onboarding.stages names a stage twice")
        milestones = []
        for i, m in enumerate(onboarding.get("milestone") or []):
            where = f"onboarding.milestone[{i}]"
            if m.get("stage") not in stages:
                raise ValueError(f"lifecycle: {where}.stage is {m.get('stage')!r}, not one of {', '.join(stages)}")
            try:
                days = int(m["due_days"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"lifecycle: {where}.due_days must be a whole number of days") from None
            if days < 0 or not str(m.get("name") or "").strip():
                raise ValueError(f"lifecycle: {where} needs a name and due_days >= 0")
            milestones.append(MilestoneRule(str(m["name"]), str(m["stage"]), days))
        try:
            title = str(onboarding.get("ticket_title", cls.ticket_title))
            title.format(legal_name="", order_number="")
        except (KeyError, IndexError) as exc:
            raise ValueError(f"lifecycle: onboarding.ticket_title may use {{legal_name}} and {{order_number}}, "
                             f"not {exc}") from None
        return cls(
            new_invoice_status=status,
            order_status=tuple(str(s).upper() for s in start.get("order_status") or cls.order_status),
            first_invoice_status=tuple(str(s).upper() for s in start.get("first_invoice_status")
                                       or cls.first_invoice_status),
            stages=stages, milestones=tuple(milestones),
            event_name=str(onboarding.get("event_name", cls.event_name)),
            ticket_type_id=str(onboarding.get("ticket_type_id", cls.ticket_type_id)), ticket_title=title,
            grace_days=int((data.get("delivery_risk") or {}).get("grace_days", 0)),
            version=int(data.get("version", 1)))

    @classmethod
    def load(cls, data_dir: Path | None = None) -> "LifecyclePolicy":
        return cls.from_dict(load_toml("lifecycle.toml", data_dir))

    def approved(self, order_status: str, invoice_status: str) -> bool:
        """Financial approval: the ERP holds the order and its first invoice in approving statuses."""
        return (order_status.upper() in self.order_status
                and invoice_status.upper() in self.first_invoice_status)

    def plan(self, ordered_on: date) -> list[dict]:
        """The milestones of a new onboarding (JSON-ready: ISO dates)."""
        return [{"name": m.name, "stage": m.stage, "due_on": (ordered_on + timedelta(days=m.due_days)).isoformat(),
                 "done_on": None} for m in self.milestones]

    def ticket(self, legal_name: str, order_number: str) -> str:
        return self.ticket_title.format(legal_name=legal_name, order_number=order_number or "?")[:255]


def progress(policy: LifecyclePolicy, plan: list[dict], stage: str, today: date) -> list[dict]:
    """The plan with each milestone whose stage customer success has moved past marked done today
    (a milestone done stays done, with its first day). An unknown stage changes nothing."""
    if stage not in policy.stages:
        return plan
    reached = policy.stages.index(stage)
    last = len(policy.stages) - 1
    out = []
    for m in plan:
        m = dict(m)
        at = policy.stages.index(m["stage"]) if m["stage"] in policy.stages else last + 1
        if m.get("done_on") is None and (at < reached or reached == last):
            m["done_on"] = today.isoformat()
        out.append(m)
    return out


def next_due(plan: list[dict]) -> str | None:
    """The earliest due date of a milestone not done (ISO), or None."""
    due = [m["due_on"] for m in plan if m.get("done_on") is None]
    return min(due) if due else None


def delivery_risk(policy: LifecyclePolicy, plan: list[dict], today: date) -> tuple[DeliveryRisk, str]:
    """("at_risk", one line naming the latest milestone late and by how much) or ("none", "")."""
    late = []
    for m in plan:
        if m.get("done_on") is None:
            days = (today - date.fromisoformat(m["due_on"])).days
            if days > policy.grace_days:
                late.append((days, m))
    if not late:
        return "none", ""
    days, worst = max(late, key=lambda x: x[0])
    more = f" (+{len(late) - 1} more)" if len(late) > 1 else ""
    late_by = f"{days} day late" if days == 1 else f"{days} days late"
    return "at_risk", f"{worst['name']} was due {worst['due_on']}, {late_by}{more}"[:200]
