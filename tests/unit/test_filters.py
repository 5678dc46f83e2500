"""The exceptions filter: free text and `key:value` facets, with errors that say what to type."""

from __future__ import annotations

import pytest

from opsconsole.filters import AGE_HELP, DEFAULT_STATES, STATES, ExceptionFilter, FilterError, check, parse


def test_empty_text_is_the_default_filter():
    f = parse("")
    assert f == ExceptionFilter() and f.is_default
    assert f.states == DEFAULT_STATES == ("open", "acknowledged")
    assert f.text == () and f.older_than_s is None and f.younger_than_s is None


def test_facets_and_free_text_combine():
    f = parse('workflow:quote_to_order category:validation,rate_limit system:xero Q-1002 "account code"')
    assert f.workflows == ("quote_to_order",)
    assert f.categories == ("validation", "rate_limit")
    assert f.systems == ("xero",)
    assert f.text == ("Q-1002", "account code")
    assert f.states == DEFAULT_STATES
    assert f.facets == {"workflow": "workflow:quote_to_order", "category": "category:validation,rate_limit",
                        "system": "system:xero"}


def test_a_repeated_key_means_any_of():
    assert parse("category:auth category:timeout category:auth").categories == ("auth", "timeout")


def test_states():
    assert parse("state:resolved").states == ("resolved",)
    assert parse("state:open,closed").states == ("open", "closed")
    assert parse("state:all").states == STATES
    assert parse("STATE:Acknowledged").states == ("acknowledged",)


def test_owner():
    assert parse("owner:me").owners == ("me",)
    assert parse("owner:none").owners == ("",)
    assert parse("owner:bob,none").owners == ("bob", "")


@pytest.mark.parametrize("token, older, younger", [
    ("age:>1h", 3600, None), ("age:<30m", None, 1800), ("age:>2d", 172800, None), ("age:<45s", None, 45),
    ("age:>1h age:<2d", 3600, 172800), ("age:>1h,<1d", 3600, 86400),
])
def test_age(token, older, younger):
    f = parse(token)
    assert (f.older_than_s, f.younger_than_s) == (older, younger)


@pytest.mark.parametrize("text, error", [
    ("age:1h", AGE_HELP), ("age:>1w", AGE_HELP), ("age:>", AGE_HELP), ("age:", "age: needs a value, e.g. age:>1h"),
    ("age:>2d age:<1h", "age: nothing is older than 2d and younger than 1h"),
    ("category:bogus", "category:bogus is not a category — one of validation, rate_limit, auth, downstream_5xx, "
                       "timeout, rejected_by_target, sequencing"),
    ("state:pending", "state:pending is not a state — one of open, acknowledged, resolved, closed, all"),
    ("colour:red", "unknown filter colour: — use workflow:, category:, system:, state:, owner:, age: or plain text"),
    ("owner:", "owner: needs a value, e.g. owner:me"),
])
def test_bad_tokens_say_what_to_type(text, error):
    with pytest.raises(FilterError) as info:
        parse(text)
    assert str(info.value) == error
    assert check(text) == error


def test_text_with_colons_that_are_not_facets_is_free_text():
    f = parse("Xero 422: http://x")
    assert f.text == ("Xero", "422:", "http://x")
    assert check("Xero 422:") is None


def test_an_unclosed_quote_takes_the_rest():
    assert parse('"rate limit').text == ("rate limit",)
