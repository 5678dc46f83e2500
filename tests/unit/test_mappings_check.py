"""`opsconsole mappings check`: each problem named by file and key path, against the canonical model
and the vendor's description; the shipped files are clean."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from canonical.mapper import DEFAULT_DIR
from opsconsole.cli import main


def _check(*args):
    return CliRunner().invoke(main, ["mappings", "check", *args])


def test_the_shipped_mappings_are_valid():
    result = _check("--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["problems"] == [] and len(report["files"]) >= 6


def test_every_kind_of_mistake_is_named_with_its_file_and_key(tmp_path):
    shutil.copytree(DEFAULT_DIR, tmp_path / "m")
    contact = tmp_path / "m/xero/contact.v1.toml"
    contact.write_text(contact.read_text()
                       .replace('vendor = "TaxNumber"\ncanonical = "tax_number"', 'vendor = "TaxNumbr"\ncanonical = "tax_numbr"')
                       .replace('"truncate:50"', '"truncate:fifty"'))
    customer = tmp_path / "m/hubspot/customer.v1.toml"
    customer.write_text(customer.read_text().replace('vendor = "properties.zip"', 'vendor = "properties.postcode"'))
    order = tmp_path / "m/xero/sales_order.v1.toml"
    order.write_text(order.read_text().replace('vendor = "UnitAmount"', 'vendor = "UnitAmt"'))
    (tmp_path / "m/xero/broken.v1.toml").write_text('vendor = "xero"\nentity = "x"\nversion = "one"\n')
    result = _check("--dir", str(tmp_path / "m"), "--json")
    assert result.exit_code == 1
    found = {(p["file"].split("/m/")[1], p["key"]): p["problem"] for p in json.loads(result.output)["problems"]}
    assert "Customer has no field 'tax_numbr'" in found["xero/contact.v1.toml", "field.2.canonical"]
    assert found["xero/contact.v1.toml", "field.2.vendor"] == "Contact has no property 'TaxNumbr' at 'TaxNumbr'"
    assert "positive length" in found["xero/contact.v1.toml", "field.0.transforms.0"]
    assert found["hubspot/customer.v1.toml", "field.8.vendor"] == "HubSpot companies have no property 'postcode'"
    assert "has no property 'UnitAmt'" in found["xero/sales_order.v1.toml", "list.0.field.2.vendor"]
    assert ("xero/broken.v1.toml", "version") in found and ("xero/broken.v1.toml", "model") in found
    text = _check("--dir", str(tmp_path / "m")).output
    assert f"{tmp_path}/m/xero/contact.v1.toml: field.2.canonical: Customer has no field 'tax_numbr'" in text
