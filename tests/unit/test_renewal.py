"""canonical.renewal: renewal readiness under data/renewal.toml, exact outcomes and properties."""

from __future__ import annotations

import copy
import tomllib
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canonical.money import Money
from canonical.renewal import STATUSES, RenewalInputs, RenewalRules, readiness
from canonical.rules import DEFAULT_DATA_DIR, load_toml

RULES = RenewalRules.load()
RAW = load_toml("renewal.toml")


def _inputs(health=82, recent=0, previous=0, overdue=None, days_late=0, late=0, stage="contractsent") -> RenewalInputs:
    money = Money(amount=overdue[0], currency=overdue[1]) if overdue else None
    return RenewalInputs(customer_id="cus_1", health_score=health, open_tickets_recent=recent,
                         open_tickets_previous=previous, overdue_amount=money, max_days_late=days_late,
                         late_payments=late, deal_stage=stage, renewal_on=None)


def _rules(**changes) -> RenewalRules:
    """The shipped rules with dotted keys changed ("weights.health": -1); None deletes the key."""
    data = copy.deepcopy(RAW)
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        table = data
        for key in path:
            table = table[key]
        if value is None:
            del table[last]
        else:
            table[last] = value
    return RenewalRules.from_dict(data)


def test_the_shipped_rules_load():
    assert RULES.weights == {"health": 40, "tickets": 20, "payment": 25, "deal": 15}
    assert (RULES.unknown_health, RULES.trend_window_days, RULES.per_open_ticket, RULES.per_ticket_increase) == (
        50, 30, 8, 6)
    assert RULES.per_late_payment == 5 and RULES.days_late_steps == ((1, 85), (15, 65), (31, 40), (61, 10))
    assert RULES.deal_stage == {"appointmentscheduled": 40, "qualifiedtobuy": 50, "presentationscheduled": 60,
                                "decisionmakerboughtin": 80, "contractsent": 90, "closedwon": 100, "closedlost": 0,
                                "*": 50, "none": 30}
    assert RULES.block_days_late == 45 and RULES.ready == 70 and RULES.lost_stages == {"closedlost"}
    assert RULES.block_overdue == {"USD": Decimal("10000"), "EUR": Decimal("9000"), "GBP": Decimal("8000"),
                                   "*": Decimal("10000")}


@pytest.mark.parametrize("inputs, status, score, reason", [
    (_inputs(), "ready", 91, "ready: health 82/100, payments on time, deal in contractsent"),
    (_inputs(health=38, recent=7, previous=3), "at_risk", 58, "at risk: open tickets up 3 -> 7, health 38/100"),
    (_inputs(health=90, overdue=("12400", "USD"), days_late=47, late=2), "blocked_by_payment", 77,
     "blocked by payment: 12,400.00 USD overdue, 47 days late"),
    # lateness in the past (nothing owed now) lowers the score but does not block
    (_inputs(health=95, days_late=45, late=1, stage="closedwon"), "ready", 82,
     "ready: health 95/100, 1 late payment, up to 45 days late, deal in closedwon"),
    # a small amount owed, but 45 days late: blocked
    (_inputs(health=95, overdue=("50", "USD"), days_late=45, late=1, stage="closedwon"), "blocked_by_payment", 82,
     "blocked by payment: 50.00 USD overdue, 45 days late"),
    (_inputs(health=95, days_late=44, late=1, stage="closedwon"), "ready", 82,
     "ready: health 95/100, 1 late payment, up to 44 days late, deal in closedwon"),
    # amount limits per currency, at the limit blocks, a cent below does not; "*" for the rest
    (_inputs(overdue=("8000", "GBP"), days_late=3, late=1), "blocked_by_payment", 86,
     "blocked by payment: 8,000.00 GBP overdue, 3 days late"),
    (_inputs(overdue=("7999.99", "GBP"), days_late=3, late=1), "ready", 86,
     "ready: health 82/100, 1 late payment, up to 3 days late, deal in contractsent"),
    (_inputs(overdue=("10000", "JPY"), days_late=1, late=1), "blocked_by_payment", 86,
     "blocked by payment: 10,000 JPY overdue, 1 day late"),
    (_inputs(overdue=("0", "USD")), "ready", 91, "ready: health 82/100, payments on time, deal in contractsent"),
    # a lost deal is at risk at best
    (_inputs(health=100, stage="closedlost"), "at_risk", 85, "at risk: renewal deal in closedlost, score 85/100"),
    (_inputs(health=100, stage="closedlost", overdue=("10", "EUR"), days_late=60), "blocked_by_payment", 70,
     "blocked by payment: 10.00 EUR overdue, 60 days late"),
    # unknown health and no renewal deal: the two weakest are named
    (_inputs(health=None, recent=1, previous=1, stage=None), "at_risk", 68,
     "at risk: no renewal deal, health unknown"),
    # the threshold: 70 is ready (69.6 rounds half up to 70), 69 at risk, naming only what is below 70
    (_inputs(health=25, stage="closedwon"), "ready", 70, "ready: health 25/100, payments on time, deal in closedwon"),
    (_inputs(health=24, stage="closedwon"), "ready", 70, "ready: health 24/100, payments on time, deal in closedwon"),
    (_inputs(health=23, stage="closedwon"), "at_risk", 69, "at risk: health 23/100"),
    (_inputs(health=60, recent=2, previous=5, days_late=20, late=3, stage="12345678"), "at_risk", 61,
     "at risk: 3 late payments, up to 20 days late, deal in 12345678"),
    (_inputs(health=70, days_late=90, late=6, overdue=("500", "EUR"), stage="qualifiedtobuy"), "blocked_by_payment",
     56, "blocked by payment: 500.00 EUR overdue, 90 days late"),
])
def test_readiness(inputs, status, score, reason):
    result = readiness(inputs, RULES)
    assert (result.status, result.score, result.reason) == (status, score, reason)
    assert set(result.components) == {"health", "tickets", "payment", "deal"}


def test_components():
    result = readiness(_inputs(health=38, recent=7, previous=3, days_late=20, late=2, stage=None), RULES)
    assert result.components == {"health": 38, "tickets": 20, "payment": 55, "deal": 30}
    assert readiness(_inputs(health=150, recent=40), RULES).components["health"] == 100
    assert readiness(_inputs(recent=40), RULES).components["tickets"] == 0
    assert readiness(_inputs(days_late=100, late=10), RULES).components["payment"] == 0
    assert readiness(_inputs(stage="somethingelse"), RULES).components["deal"] == 50


def test_a_long_reason_stays_one_line_of_120():
    result = readiness(_inputs(health=10, stage="a very\nlong custom stage " * 10), RULES)
    assert result.status == "at_risk" and len(result.reason) == 120 and result.reason.endswith("...")
    assert "\n" not in result.reason and result.reason.startswith("at risk: health 10/100, deal in a very long")


def test_weights_normalise_and_zero_weight_is_never_named():
    assert _rules(**{"weights.health": 0.4, "weights.tickets": 0.2, "weights.payment": 0.25,
                     "weights.deal": 0.15}).weights["health"] == Decimal("0.4")
    only_health = _rules(**{"weights.tickets": 0, "weights.payment": 0, "weights.deal": 0})
    result = readiness(_inputs(health=40, stage=None, recent=9), only_health)
    assert (result.status, result.score, result.reason) == ("at_risk", 40, "at risk: health 40/100")


@pytest.mark.parametrize("changes, message", [
    ({"weights.health": -1}, "renewal: weights.health is -1, not a number of 0 or more"),
    ({"weights.deal": "15"}, "renewal: weights.deal is '15', not a number of 0 or more"),
    ({"weights.deal": None}, "renewal: weights.deal is missing"),
    ({"weights.sentiment": 3}, "renewal: weights.sentiment is not a known key"),
    ({"weights.health": 0, "weights.tickets": 0, "weights.payment": 0, "weights.deal": 0},
     "renewal: weights are all 0"),
    ({"thresholds.great": 90}, "renewal: thresholds.great is an unknown status level"),
    ({"thresholds.ready": 101}, "renewal: thresholds.ready is 101, not a whole number 0..100"),
    ({"blocked_by_payment.overdue_amount.USD": "10,000"},
     "renewal: blocked_by_payment.overdue_amount.USD is '10,000', not a decimal amount"),
    ({"blocked_by_payment.overdue_amount.USD": 10000.5},
     "renewal: blocked_by_payment.overdue_amount.USD is 10000.5, not a decimal amount"),
    ({"blocked_by_payment.overdue_amount.USD": "NaN"}, "overdue_amount.USD is 'NaN', not a decimal amount"),
    ({"blocked_by_payment.overdue_amount.XYZ": "5"},
     "renewal: blocked_by_payment.overdue_amount.XYZ is not an ISO 4217 currency code"),
    ({"blocked_by_payment.days_late": 0}, "renewal: blocked_by_payment.days_late is 0, not a whole number 1 or more"),
    ({"payment.days_late.31": 90}, "renewal: payment.days_late.31 is 90, higher than 65 at 15 days"),
    ({"payment.days_late.soon": 50}, "renewal: payment.days_late.soon is not a whole number of days"),
    ({"deal_stage.*": None}, 'renewal: deal_stage."*" is missing'),
    ({"deal_stage.contractsent": True}, "renewal: deal_stage.contractsent is True, not a whole number 0..100"),
    ({"health.unknown_health": None}, "renewal: health.unknown_health is missing"),
    ({"tickets.per_ticket": 3}, "renewal: tickets.per_ticket is not a known key"),
    ({"tresholds": {"ready": 70}}, "renewal: tresholds is not a known key"),
    ({"lost_stages": "closedlost"}, "renewal: lost_stages is 'closedlost', not a list of deal stage names"),
])
def test_bad_rules_name_the_key(changes, message):
    with pytest.raises(ValueError) as caught:
        _rules(**changes)
    assert message in str(caught.value)


def test_load_from_a_data_dir(tmp_path):
    (tmp_path / "renewal.toml").write_text(
        (DEFAULT_DATA_DIR / "renewal.toml").read_text().replace("ready = 70", "ready = 95"))
    assert RenewalRules.load(tmp_path).ready == 95 and RenewalRules.load().ready == 70
    assert tomllib.loads((tmp_path / "renewal.toml").read_text())["thresholds"] == {"ready": 95}
    with pytest.raises(FileNotFoundError, match="renewal.toml"):
        RenewalRules.load(tmp_path / "nowhere")


STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
          "contractsent", "closedwon", "closedlost", "987654", None]
money = st.none() | st.builds(lambda cents, cur: Money(amount=Decimal(cents) / 100, currency=cur),
                              st.integers(min_value=0, max_value=5 * 10**6),
                              st.sampled_from(["USD", "EUR", "GBP", "JPY", "AUD"]))
inputs = st.builds(RenewalInputs, customer_id=st.just("c"), health_score=st.none() | st.integers(0, 100),
                   open_tickets_recent=st.integers(0, 30), open_tickets_previous=st.integers(0, 30),
                   overdue_amount=money, max_days_late=st.integers(0, 200), late_payments=st.integers(0, 20),
                   deal_stage=st.sampled_from(STAGES), renewal_on=st.none())


def _rank(result) -> tuple[int, int]:
    return STATUSES.index(result.status), result.score


@given(inputs, st.integers(0, 100), st.integers(0, 100))
def test_a_better_health_never_makes_readiness_worse(case, a, b):
    low, high = sorted((a, b))
    worse = readiness(replace(case, health_score=low), RULES)
    better = readiness(replace(case, health_score=high), RULES)
    assert STATUSES.index(better.status) >= STATUSES.index(worse.status) and better.score >= worse.score


@given(inputs, st.integers(0, 10), st.integers(0, 60), st.integers(0, 5))
def test_more_tickets_or_lateness_never_makes_readiness_better(case, tickets, days, late):
    before = readiness(case, RULES)
    for worse in (replace(case, open_tickets_recent=case.open_tickets_recent + tickets),
                  replace(case, max_days_late=case.max_days_late + days),
                  replace(case, late_payments=case.late_payments + late)):
        after = readiness(worse, RULES)
        assert STATUSES.index(after.status) <= STATUSES.index(before.status) and after.score <= before.score


@given(inputs, st.none() | st.integers(0, 100), st.sampled_from(STAGES), st.integers(0, 30))
def test_blocked_by_payment_stays_blocked_whatever_the_rest(case, health, stage, tickets):
    if readiness(case, RULES).status != "blocked_by_payment":
        return
    other = replace(case, health_score=health, deal_stage=stage, open_tickets_recent=tickets)
    result = readiness(other, RULES)
    assert result.status == "blocked_by_payment" and result.reason.startswith("blocked by payment: ")


@given(inputs, st.integers(1, 1000))
def test_outcome_shape_and_weight_scaling(case, factor):
    result = readiness(case, RULES)
    assert 0 <= result.score <= 100 and all(0 <= v <= 100 for v in result.components.values())
    assert len(result.reason) <= 120 and "\n" not in result.reason
    assert result.reason.startswith({"ready": "ready: ", "at_risk": "at risk: ",
                                     "blocked_by_payment": "blocked by payment: "}[result.status])
    if case.deal_stage == "closedlost":
        assert result.status != "ready"
    scaled = _rules(**{f"weights.{k}": int(v) * factor for k, v in RULES.weights.items()})
    assert readiness(case, scaled) == result
