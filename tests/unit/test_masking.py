"""Personal data masked out of payloads (the detail view without the pii role); ids and amounts kept."""

from __future__ import annotations

from opsconsole.masking import MASK, mask_pii


def test_hubspot_contact_properties_are_masked():
    payload = {"id": "501", "properties": {"email": "jane@acme.example", "phone": "+44 20 7946 0000",
                                           "firstname": "Jane", "lastname": "Doe", "hs_object_id": "501",
                                           "company": "Acme Ltd", "amount": "1200.00"}}
    masked, n = mask_pii(payload)
    assert n == 4
    props = masked["properties"]
    assert props["email"] == props["phone"] == props["firstname"] == props["lastname"] == MASK
    assert (props["hs_object_id"], props["company"], props["amount"]) == ("501", "Acme Ltd", "1200.00")
    assert masked["id"] == "501"
    assert payload["properties"]["email"] == "jane@acme.example"  # the original is not changed


def test_xero_contact_person_and_address_lines():
    payload = {"Contacts": [{"ContactID": "c-1", "Name": "Jane Doe", "EmailAddress": "jane@acme.example",
                             "Addresses": [{"AddressType": "STREET", "AddressLine1": "1 High St",
                                            "AddressLine2": "Flat 2", "City": "London", "PostalCode": "N1"}],
                             "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "07700 900000"}],
                             "ContactPersons": [{"FirstName": "Jo", "LastName": "Bloggs"}]}],
               "Invoices": [{"InvoiceID": "inv-9", "Total": "588.00", "Reference": "Q-1002"}]}
    masked, n = mask_pii(payload)
    contact = masked["Contacts"][0]
    assert contact["ContactID"] == "c-1"
    assert contact["Name"] == MASK  # the name of a contact
    assert contact["EmailAddress"] == MASK
    address = contact["Addresses"][0]
    assert (address["AddressLine1"], address["AddressLine2"]) == (MASK, MASK)
    assert (address["AddressType"], address["City"], address["PostalCode"]) == ("STREET", "London", "N1")
    assert contact["Phones"][0] == {"PhoneType": "MOBILE", "PhoneNumber": MASK}
    assert contact["ContactPersons"][0] == {"FirstName": MASK, "LastName": MASK}
    assert masked["Invoices"] == payload["Invoices"]
    assert n == 7


def test_company_name_outside_a_contact_is_kept_and_emails_in_text_are_masked():
    payload = {"company": {"name": "Acme Ltd", "company_id": "acme"},
               "error": "contact jane@acme.example already exists", "amount": 12.5, "tags": ["a"]}
    masked, n = mask_pii(payload)
    assert masked["company"] == {"name": "Acme Ltd", "company_id": "acme"}
    assert masked["error"] == f"contact {MASK} already exists"
    assert masked["amount"] == 12.5 and masked["tags"] == ["a"]
    assert n == 1


def test_lists_of_emails_and_empty_values():
    masked, n = mask_pii({"emails": ["a@x.example", "b@x.example"], "phone": "", "email": None})
    assert masked == {"emails": [MASK, MASK], "phone": "", "email": None}
    assert n == 2


def test_scalars_pass_through():
    assert mask_pii(None) == (None, 0)
    assert mask_pii(42) == (42, 0)
