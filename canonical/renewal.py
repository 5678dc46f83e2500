"""Renewal readiness: ready, at risk, or blocked by payment, under the rules in data/renewal.toml.

Pure functions, no I/O beyond reading the rule file:

- :class:`RenewalInputs` is what the engine gathers for one customer: the Intercom health score, the
  open-ticket trend, the Xero payment history and the HubSpot renewal deal.
- :func:`readiness` scores the four components 0..100, takes their weighted average and decides:
  ``blocked_by_payment`` (overdue amount or days late at a limit) before ``at_risk`` for a lost deal
  before the ``ready`` threshold on the score. The :class:`Readiness` carries a one-line reason
  naming the deciding facts, with numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from canonical.money import ISO_4217, Money
from canonical.rules import load_toml

Status = Literal["ready", "at_risk", "blocked_by_payment"]
STATUSES: tuple[Status, ...] = ("blocked_by_payment", "at_risk", "ready")  # worst first
COMPONENTS = ("health", "tickets", "payment", "deal")
REASON_MAX = 120
_TOP = {"version", "lost_stages", "weights", "health", "tickets", "payment", "deal_stage", "blocked_by_payment",
        "thresholds"}


@dataclass(frozen=True)
class RenewalInputs:
    customer_id: str
    health_score: int | None  # Intercom health_score 0..100 (clamped), None = unknown
    open_tickets_recent: int  # open tickets created in the last trend_window_days
    open_tickets_previous: int  # open tickets created in the window before that
    overdue_amount: Money | None  # sum still due on overdue Xero invoices; None or 0 = none
    max_days_late: int  # most days any invoice is overdue now or was paid late; 0 = never
    late_payments: int  # invoices paid late or overdue now, in the history window
    deal_stage: str | None  # the renewal deal's dealstage (internal name); None = no renewal deal
    renewal_on: date | None  # the renewal deal's closedate; not scored, for the caller


@dataclass(frozen=True)
class Readiness:
    status: Status
    score: int  # the weighted score 0..100, also when blocked
    reason: str  # one line, at most 120 characters
    components: dict[str, int]  # health, tickets, payment, deal: 0..100 each


def _err(where: str, message: str) -> ValueError:
    return ValueError(f"renewal: {where} {message}")


def _table(data: dict, key: str, where: str, known: set[str] | None = None) -> dict:
    if key not in data:
        raise _err(f"{where}{key}", "is missing")
    value = data[key]
    if not isinstance(value, dict):
        raise _err(f"{where}{key}", f"is {value!r}, not a table")
    for extra in sorted(set(value) - known) if known is not None else ():
        raise _err(f"{where}{key}.{extra}", "is not a known key")
    return value


def _int(table: dict, key: str, where: str, low: int = 0, high: int | None = None) -> int:
    if key not in table:
        raise _err(f"{where}{key}", "is missing")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f"{low} or more"
        raise _err(f"{where}{key}", f"is {value!r}, not a whole number {span}")
    return value


def _weight(value: Any, where: str) -> Decimal:
    number = Decimal(repr(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or not number.is_finite() or number < 0:
        raise _err(where, f"is {value!r}, not a number of 0 or more")
    return number


def _amount(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise _err(where, f"is {value!r}, not a decimal amount of 0 or more (write it as a string, e.g. \"10000\")")
    return amount


@dataclass(frozen=True)
class RenewalRules:
    """data/renewal.toml: component weights and constants, payment blocks, the ready threshold."""

    weights: dict[str, Decimal]
    unknown_health: int
    trend_window_days: int
    per_open_ticket: int
    per_ticket_increase: int
    per_late_payment: int
    days_late_steps: tuple[tuple[int, int], ...]  # (days, score), days ascending, scores not rising
    deal_stage: dict[str, int]  # includes "*" and "none"
    block_days_late: int
    block_overdue: dict[str, Decimal]  # ISO 4217 code or "*"
    ready: int
    lost_stages: frozenset[str] = field(default_factory=lambda: frozenset({"closedlost"}))
    version: int = 1

    @classmethod
    def from_dict(cls, data: dict) -> "RenewalRules":
        for extra in sorted(set(data) - _TOP):
            raise _err(extra, "is not a known key")
        weights_t = _table(data, "weights", "", set(COMPONENTS))
        weights = {}
        for name in COMPONENTS:
            if name not in weights_t:
                raise _err(f"weights.{name}", "is missing")
            weights[name] = _weight(weights_t[name], f"weights.{name}")
        if not any(weights.values()):
            raise _err("weights", "are all 0: at least one must be more than 0")
        health = _table(data, "health", "", {"unknown_health"})
        tickets = _table(data, "tickets", "", {"trend_window_days", "per_open_ticket", "per_ticket_increase"})
        payment = _table(data, "payment", "", {"per_late_payment", "days_late"})
        steps_t = _table(payment, "days_late", "payment.")
        steps: list[tuple[int, int]] = []
        for key in steps_t:
            if not str(key).isdigit() or int(key) < 1:
                raise _err(f"payment.days_late.{key}", "is not a whole number of days of 1 or more")
            steps.append((int(key), _int(steps_t, key, "payment.days_late.", 0, 100)))
        steps.sort()
        for (d1, s1), (d2, s2) in zip(steps, steps[1:]):
            if s2 > s1:
                raise _err(f"payment.days_late.{d2}", f"is {s2}, higher than {s1} at {d1} days: scores must not rise")
        stages_t = _table(data, "deal_stage", "")
        stages = {str(k): _int(stages_t, k, "deal_stage.", 0, 100) for k in stages_t}
        for key in ("*", "none"):
            if key not in stages:
                raise _err(f'deal_stage."{key}"', "is missing")
        block = _table(data, "blocked_by_payment", "", {"days_late", "overdue_amount"})
        overdue: dict[str, Decimal] = {}
        for code, value in _table(block, "overdue_amount", "blocked_by_payment.").items():
            where = f"blocked_by_payment.overdue_amount.{code}"
            if code != "*" and str(code).upper() not in ISO_4217:
                raise _err(where, "is not an ISO 4217 currency code (or \"*\")")
            overdue["*" if code == "*" else str(code).upper()] = _amount(value, where)
        thresholds = _table(data, "thresholds", "")
        for key in thresholds:
            if key != "ready":
                raise _err(f"thresholds.{key}", "is an unknown status level: only \"ready\" has a threshold "
                           "(below it is \"at_risk\"; blocking is [blocked_by_payment])")
        lost = data.get("lost_stages", ["closedlost"])
        if not isinstance(lost, list) or not all(isinstance(s, str) for s in lost):
            raise _err("lost_stages", f"is {lost!r}, not a list of deal stage names")
        return cls(weights=weights, unknown_health=_int(health, "unknown_health", "health.", 0, 100),
                   trend_window_days=_int(tickets, "trend_window_days", "tickets.", 1),
                   per_open_ticket=_int(tickets, "per_open_ticket", "tickets.", 0, 100),
                   per_ticket_increase=_int(tickets, "per_ticket_increase", "tickets.", 0, 100),
                   per_late_payment=_int(payment, "per_late_payment", "payment.", 0, 100),
                   days_late_steps=tuple(steps), deal_stage=stages,
                   block_days_late=_int(block, "days_late", "blocked_by_payment.", 1),
                   block_overdue=overdue, ready=_int(thresholds, "ready", "thresholds.", 0, 100),
                   lost_stages=frozenset(lost), version=_int(data, "version", "", 1) if "version" in data else 1)

    @classmethod
    def load(cls, data_dir: Path | None = None) -> "RenewalRules":
        """``data_dir/renewal.toml`` when a directory is given, else the shipped data/renewal.toml."""
        return cls.from_dict(load_toml("renewal.toml", data_dir))


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _money(money: Money) -> str:
    return f"{money.quantize().amount:,} {money.currency}"


def _components(i: RenewalInputs, rules: RenewalRules) -> dict[str, int]:
    health = rules.unknown_health if i.health_score is None else min(100, max(0, i.health_score))
    recent, previous = max(0, i.open_tickets_recent), max(0, i.open_tickets_previous)
    tickets = 100 - rules.per_open_ticket * recent - rules.per_ticket_increase * max(0, recent - previous)
    payment = 100
    for days, score in rules.days_late_steps:
        if i.max_days_late >= days:
            payment = score
    payment -= rules.per_late_payment * max(0, i.late_payments)
    stage = (i.deal_stage or "").strip()
    deal = rules.deal_stage.get(stage, rules.deal_stage["*"]) if stage else rules.deal_stage["none"]
    return {"health": health, "tickets": max(0, tickets), "payment": max(0, payment), "deal": deal}


def _fact(name: str, i: RenewalInputs, components: dict[str, int]) -> str:
    """The raw facts behind one component, in words."""
    if name == "health":
        return "health unknown" if i.health_score is None else f"health {components['health']}/100"
    if name == "tickets":
        recent, previous = max(0, i.open_tickets_recent), max(0, i.open_tickets_previous)
        if recent != previous:
            return f"open tickets {'up' if recent > previous else 'down'} {previous} -> {recent}"
        return "no open tickets" if recent == 0 else _plural(recent, "open ticket")
    if name == "payment":
        if i.max_days_late <= 0 and i.late_payments <= 0:
            return "payments on time"
        late = f"up to {_plural(i.max_days_late, 'day')} late"
        return f"{_plural(i.late_payments, 'late payment')}, {late}" if i.late_payments > 0 else late
    stage = " ".join((i.deal_stage or "").split())
    return f"deal in {stage}" if stage else "no renewal deal"


def _line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 3] + "..."


def readiness(inputs: RenewalInputs, rules: RenewalRules) -> Readiness:
    """Score a customer's renewal and decide: blocked by payment > lost deal > the ready threshold."""
    comps = _components(inputs, rules)
    total = sum(rules.weights.values())
    weighted = sum(rules.weights[n] * comps[n] for n in COMPONENTS) / total
    score = max(0, min(100, int(weighted.quantize(Decimal(1), rounding=ROUND_HALF_UP))))

    overdue = inputs.overdue_amount
    has_overdue = overdue is not None and overdue.amount > 0
    limit = rules.block_overdue.get(overdue.currency, rules.block_overdue.get("*")) if has_overdue else None
    by_amount = has_overdue and limit is not None and overdue.amount >= limit
    # only what is owed now blocks; lateness in the past (all paid) lowers the payment score instead
    by_days = has_overdue and inputs.max_days_late >= rules.block_days_late
    if by_amount or by_days:
        facts = [f"{_money(overdue)} overdue"] if has_overdue else []
        facts += [f"{_plural(inputs.max_days_late, 'day')} late"] if inputs.max_days_late > 0 else []
        return Readiness("blocked_by_payment", score, _line("blocked by payment: " + ", ".join(facts)), comps)

    stage = (inputs.deal_stage or "").strip()
    if stage and stage in rules.lost_stages:
        reason = f"at risk: renewal deal in {' '.join(stage.split())}, score {score}/100"
        return Readiness("at_risk", score, _line(reason), comps)

    if score >= rules.ready:
        facts = [_fact(n, inputs, comps) for n in ("health", "payment", "deal")]
        return Readiness("ready", score, _line("ready: " + ", ".join(facts)), comps)
    order = {n: k for k, n in enumerate(COMPONENTS)}
    weakest = sorted((n for n in COMPONENTS if rules.weights[n] > 0),
                     key=lambda n: (comps[n], -rules.weights[n], order[n]))
    named = weakest[:1] + [n for n in weakest[1:2] if comps[n] < rules.ready]
    return Readiness("at_risk", score, _line("at risk: " + ", ".join(_fact(n, inputs, comps) for n in named)), comps)
