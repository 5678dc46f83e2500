"""A suspected duplicate never creates a second customer (so never a second ERP contact): whatever
two CRM companies look like, resolving the second either finds the first's customer, holds the run
(a suspected duplicate: nothing created), or creates a new one only when the score says "new"."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from canonical.matching import Identity, match
from opsconsole.engine import records
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import customers, xrefs


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('dup') / 's.db'}"
    upgrade(url)
    eng = make_engine(url, write=True)
    yield eng
    eng.dispose()


_names = st.sampled_from(["Acme Corporation", "ACME Corp.", "Acme", "Zenith Ltd", "Zenith", "Nimbus GmbH"])
_tax = st.sampled_from(["", "GB123456789", "gb 123 456 789", "GB987654321"])
_domain = st.sampled_from(["", "acme.example", "www.acme.example", "zenith.example"])
_company = st.fixed_dictionaries({"legal_name": _names, "tax_number": _tax, "domain": _domain})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=_company, second=_company)
def test_a_suspected_duplicate_never_creates_a_second_customer(store, first, second):
    with store.begin() as c:
        c.execute(xrefs.delete())
        c.execute(customers.delete())
        cid, _ = records.resolve_customer(c, system="hubspot", object_type="company", external_id="1", **first)
    expected = match(Identity.of("hubspot", "2", name=second["legal_name"], domain=second["domain"],
                                 tax_number=second["tax_number"]),
                     Identity("customer", cid, *_stored(store, cid), frozenset(), cid), records.matching_rules())
    try:
        with store.begin() as c:
            found, _ = records.resolve_customer(c, system="hubspot", object_type="company", external_id="2", **second)
    except records.SuspectedDuplicate:
        assert expected.decision == "suspect"
        found = None
    with store.connect() as c:
        n_customers = c.scalar(select(func.count()).select_from(customers))
        n_xrefs = c.scalar(select(func.count()).select_from(xrefs))
    if expected.decision == "suspect":
        assert (found, n_customers, n_xrefs) == (None, 1, 1)  # held: nothing created
    elif expected.decision == "link":
        assert (found, n_customers, n_xrefs) == (cid, 1, 2)
    else:
        assert found != cid and (n_customers, n_xrefs) == (2, 2)


def _stored(store, cid):
    with store.connect() as c:
        row = c.execute(select(customers.c.match_name, customers.c.domain, customers.c.tax_number)
                        .where(customers.c.canonical_id == cid)).one()
    return row.match_name, row.domain or "", row.tax_number or ""
