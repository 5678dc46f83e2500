"""The mapping engine: paths, transforms, spec errors naming file and key, and round trips of the
shipped mapping files (hypothesis)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from canonical import paths
from canonical.mapper import Catalogue, MappingError, catalogue, load_spec
from canonical.mapping import company_problems, current_version, hubspot_customer, mapping, xero_contact
from canonical.models import Address, Customer
from canonical.transforms import TransformError, build


def test_paths_get_and_put_through_selectors():
    doc: dict = {}
    paths.put(doc, paths.parse("Addresses[AddressType=POBOX].City"), "Leeds")
    paths.put(doc, paths.parse("Addresses[AddressType=STREET].City"), "York")
    paths.put(doc, paths.parse("Addresses[AddressType=POBOX].Country"), "GB")
    assert doc == {"Addresses": [{"AddressType": "POBOX", "City": "Leeds", "Country": "GB"},
                                 {"AddressType": "STREET", "City": "York"}]}
    assert paths.get(doc, paths.parse("Addresses[AddressType=STREET].City")) == "York"
    assert paths.get(doc, paths.parse("Addresses[1].City")) == "York"
    assert paths.get(doc, paths.parse("Addresses[AddressType=DELIVERY].City")) is paths.MISSING
    assert paths.get({"a": None}, paths.parse("a.b")) is paths.MISSING


@pytest.mark.parametrize("bad", ["", " a", "a..b", "a[]", "a[x]", "a[=1]", "1a"])
def test_bad_paths_are_refused(bad):
    with pytest.raises(paths.PathError):
        paths.parse(bad)


def test_transforms_read_and_write_halves():
    lookups = {"cc": {"GB": "GBP", "UK": "GBP", "*": "USD"}}
    lookup = build("lookup:cc", lookups)
    assert lookup.read("UK") == "GBP" and lookup.read("Mars") == "USD"
    assert lookup.write("GBP") == "GB"  # the first key listed for a value is its written form
    with pytest.raises(TransformError, match="inverse"):
        lookup.write("EUR")
    assert build("decimal", {}).read(0.1) == Decimal("0.1")
    assert build("date", {}).read("1767225600000") == date(2026, 1, 1)
    assert build("date", {}).write(date(2026, 1, 1)) == "2026-01-01"
    assert build("truncate:3", {}).read("abcdef") == "abc"
    assert build("tax_number", {}).read(None) is None  # empties pass through untouched
    with pytest.raises(TransformError, match="ISO 4217"):
        build("currency", {}).read("XXX")
    for bad, message in [("nope", "unknown transform"), ("truncate:x", "positive length"),
                         ("lookup:missing", "no lookup table")]:
        with pytest.raises(ValueError, match=message):
            build(bad, lookups)


def test_a_bad_mapping_file_names_the_file_and_the_key_path(tmp_path: Path):
    bad = tmp_path / "bad.v1.toml"
    bad.write_text('vendor = "x"\nentity = "y"\nversion = 0\nmodel = "Customer"\nobject = "o"\n'
                   '[[field]]\nvendor = "a..b"\n[[field]]\nvalue = 1\n')
    with pytest.raises(ValueError) as exc:
        load_spec(bad)
    text = str(exc.value)
    assert f"{bad}: version:" in text
    assert f"{bad}: field.0.vendor:" in text and "bad segment" in text
    assert f"{bad}: field.1:" in text and "needs a vendor path" in text


def test_catalogue_versions_fall_back_to_the_newest_at_or_below(tmp_path: Path):
    base = 'vendor = "v"\nmodel = "Customer"\nobject = "o"\n'
    (tmp_path / "a.v1.toml").write_text(base + 'entity = "a"\nversion = 1\n')
    (tmp_path / "a.v3.toml").write_text(base + 'entity = "a"\nversion = 3\n')
    (tmp_path / "b.v1.toml").write_text(base + 'entity = "b"\nversion = 1\n')
    cat = Catalogue.load(tmp_path)
    assert cat.current_version == 3
    assert cat.get("v/a", 2).version == 1 and cat.get("v/a").version == 3 and cat.get("v/b", 3).version == 1
    with pytest.raises(KeyError, match="no mapping 'v/c'"):
        cat.get("v/c")
    (tmp_path / "dup.v1.toml").write_text(base + 'entity = "b"\nversion = 1\n')
    with pytest.raises(ValueError, match="also defined"):
        Catalogue.load(tmp_path)


def test_every_shipped_mapping_file_loads_and_names_a_canonical_model():
    cat = catalogue()
    assert {"hubspot/customer", "hubspot/quote", "xero/contact", "xero/sales_order", "xero/invoice"} <= set(cat.keys())
    assert current_version() == str(cat.current_version)
    with pytest.raises(KeyError, match="unknown mapping version"):
        mapping("99")


def test_problems_never_format_record_values():
    company = {"id": "1", "properties": {"name": "{weird} {value} Ltd", "country": "GB", "city": "X", "address": "Y"}}
    assert company_problems(company, billing=True) == ["company 1 ({weird} {value} Ltd) has no tax number (vat_number)"]


def test_a_customer_syncs_without_what_only_billing_needs():
    company = {"id": "1", "properties": {"name": "Nimbus"}}
    assert hubspot_customer(company, "c").tax_number == "" and company_problems(company) == []
    assert company_problems(company, billing=True) == [
        "company 1 (Nimbus) has no tax number (vat_number)", "company 1 (Nimbus) has no billing address address",
        "company 1 (Nimbus) has no billing address city", "company 1 (Nimbus) has no billing address country"]
    with pytest.raises(MappingError, match="has no name"):
        hubspot_customer({"id": "2", "properties": {}}, "c")


_text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x24F, blacklist_categories=("Cs",)),
                min_size=1, max_size=30).map(str.strip).filter(bool)
_tax = st.from_regex(r"[A-Z]{2}[0-9]{6,12}", fullmatch=True)
_country = st.sampled_from(["GB", "United Kingdom", "DE", "France", "US", "Narnia"])


@settings(max_examples=150, deadline=None)
@given(name=_text, tax=_tax, line1=_text, line2=st.one_of(st.just(""), _text), city=_text,
       zip_=st.one_of(st.just(""), _text), region=st.one_of(st.just(""), _text), country=_country,
       domain=st.sampled_from(["", "acme.example", "www.beta.example"]))
def test_hubspot_company_to_canonical_and_back_preserves_every_mapped_field(
        name, tax, line1, line2, city, zip_, region, country, domain):
    props = {"name": name, "vat_number": tax, "address": line1, "address2": line2, "city": city, "zip": zip_,
             "state": region, "country": country, "domain": domain}
    company = {"id": "9", "properties": props}
    customer = hubspot_customer(company, "cus_9")
    back = catalogue().get("hubspot/customer").write(customer)["properties"]
    expected = {k: v for k, v in props.items() if v}
    expected["domain"] = domain.removeprefix("www.") if domain else None
    assert {k: v for k, v in back.items()} == {k: v for k, v in expected.items() if v}
    again = hubspot_customer({"id": "9", "properties": back}, "cus_9")
    assert again == customer


@settings(max_examples=150, deadline=None)
@given(name=_text, tax=_tax, line1=_text, line2=st.one_of(st.just(""), _text), city=_text,
       currency=st.sampled_from(["GBP", "EUR", "USD", "JPY"]), email=st.sampled_from(["", "ap@acme.example"]))
def test_canonical_customer_to_xero_contact_and_back_preserves_every_mapped_field(
        name, tax, line1, line2, city, currency, email):
    customer = Customer(customer_id="cus_1", legal_name=name, tax_number=tax, currency=currency, email=email,
                        billing_address=Address(line1=line1, line2=line2, city=city, country="GB"))
    contact = xero_contact(customer)
    read = catalogue().get("xero/contact").read({**contact, "ContactID": "x-1"}, {"customer_id": "cus_1"})
    assert read.model_dump(exclude={"source_ids"}) == customer.model_dump(exclude={"source_ids"})
    assert read.source_ids == {"xero": "x-1"}
