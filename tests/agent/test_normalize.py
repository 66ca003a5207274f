from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from agent.contacts.normalize import ContactInput, NormalizedContact, RowProblem, normalize_contact


def norm(region="US", row=2, **kwargs):
    return normalize_contact(ContactInput(**kwargs), region=region, row=row)


def codes(problems):
    return [p.code for p in problems]


@pytest.mark.parametrize(
    "raw",
    [
        "(415) 555-2671",
        "415.555.2671",
        "415-555-2671",
        "4155552671",
        "+1 415 555 2671",
        "+1 (415) 555-2671",
        "1-415-555-2671",
        "011 1 415 555 2671",
        "tel:+1-415-555-2671",
        "  +14155552671  ",
    ],
)
def test_mixed_phone_formats_give_the_same_e164(raw):
    contact, errors, warnings = norm(first_name="Ada", phone=raw)
    assert errors == [] and warnings == []
    assert contact.phone == "+14155552671"


def test_number_without_prefix_uses_the_workspace_region():
    contact, _, _ = norm(region="GB", first_name="Ada", phone="020 7946 0958")
    assert contact.phone == "+442079460958"


def test_lowercase_region_is_accepted():
    contact, _, _ = norm(region="us", first_name="Ada", phone="(212) 555-0123")
    assert contact.phone == "+12125550123"


def test_invalid_phone_with_valid_email_is_only_a_warning():
    contact, errors, warnings = norm(first_name="Ada", phone="12", email="ada@example.com")
    assert errors == []
    assert contact is not None and contact.phone is None and contact.email == "ada@example.com"
    assert warnings == [RowProblem(2, "phone", "invalid_phone", warnings[0].message)]
    assert "'12'" in warnings[0].message


def test_invalid_email_with_valid_phone_is_only_a_warning():
    contact, errors, warnings = norm(first_name="Ada", phone="+1 415 555 2671", email="ada@")
    assert errors == []
    assert contact.email is None and contact.email_key is None and contact.phone == "+14155552671"
    assert [(w.field, w.code) for w in warnings] == [("email", "invalid_email")]


def test_row_with_neither_phone_nor_email_is_skipped():
    contact, errors, warnings = norm(first_name="Ada")
    assert contact is None
    assert codes(errors) == ["missing_phone_or_email"]
    assert errors[0].field is None and warnings == []


def test_row_with_only_invalid_contact_points_is_skipped_with_details_in_the_error():
    contact, errors, warnings = norm(first_name="Ada", phone="12", email="x@")
    assert contact is None
    assert codes(errors) == ["invalid_phone_or_email"]
    assert "phone '12' is not a valid number" in errors[0].message
    assert "email 'x@' is not a valid address" in errors[0].message
    assert warnings == []  # the error already says it


def test_unparseable_phone_alone_is_invalid_not_missing():
    contact, errors, _ = norm(first_name="Ada", phone="call me maybe")
    assert contact is None and codes(errors) == ["invalid_phone_or_email"]


def test_row_without_any_name_is_skipped():
    contact, errors, _ = norm(email="ada@example.com", name="   ")
    assert contact is None
    assert [(e.field, e.code) for e in errors] == [("name", "missing_name")]


def test_row_missing_name_and_contact_point_reports_both():
    contact, errors, _ = norm()
    assert contact is None
    assert codes(errors) == ["missing_name", "missing_phone_or_email"]


def test_full_name_is_split_into_first_and_rest():
    contact, _, _ = norm(name="  Ada   King  Lovelace ", email="ada@example.com")
    assert (contact.first_name, contact.last_name) == ("Ada", "King Lovelace")


def test_single_word_full_name_becomes_first_name():
    contact, _, _ = norm(name="Cher", email="cher@example.com")
    assert (contact.first_name, contact.last_name) == ("Cher", "")


def test_given_first_or_last_name_wins_over_full_name():
    contact, _, _ = norm(last_name=" Lovelace ", name="Someone Else", email="ada@example.com")
    assert (contact.first_name, contact.last_name) == ("", "Lovelace")


def test_email_is_normalised_and_the_key_casefolded():
    contact, _, _ = norm(first_name="Ada", email="  Ada.Lovelace@EXAMPLE.COM ")
    assert contact.email == "Ada.Lovelace@example.com"
    assert contact.email_key == "ada.lovelace@example.com"


@pytest.mark.parametrize(
    "phone, zone",
    [("+1 212 555 0123", "America/New_York"), ("+1 415 555 2671", "America/Los_Angeles"), ("+49 30 123456", "Europe/Berlin")],
)
def test_timezone_is_inferred_from_the_phone_number(phone, zone):
    contact, _, warnings = norm(first_name="Ada", phone=phone)
    assert contact.timezone == zone and warnings == []


def test_given_timezone_is_kept_over_inference():
    contact, _, warnings = norm(first_name="Ada", phone="+1 212 555 0123", timezone=" Europe/Paris ")
    assert contact.timezone == "Europe/Paris" and warnings == []


@pytest.mark.parametrize("tz", ["Mars/Olympus", "america/new_york", "America", "../etc/passwd", "localtime"])
def test_invalid_timezone_warns_and_falls_back_to_inference(tz):
    contact, errors, warnings = norm(first_name="Ada", phone="+1 415 555 2671", timezone=tz)
    assert errors == []
    assert [(w.field, w.code) for w in warnings] == [("timezone", "invalid_timezone")]
    assert contact.timezone == "America/Los_Angeles"


def test_invalid_timezone_without_phone_leaves_timezone_empty():
    contact, _, warnings = norm(first_name="Ada", email="ada@example.com", timezone="PST")
    assert contact.timezone is None and codes(warnings) == ["invalid_timezone"]


@pytest.mark.parametrize("phone", ["+1 800 555 0199", "+7 912 345 67 89", "+1 907 555 0100"])
def test_number_spanning_several_clocks_gets_no_timezone(phone):
    # phonenumbers lists many zones here; the first one ("America/Adak", "Asia/Almaty") would be a guess.
    contact, _, _ = norm(first_name="Ada", phone=phone)
    assert contact.phone is not None and contact.timezone is None


def test_number_whose_zones_share_one_clock_gets_a_timezone():
    contact, _, _ = norm(first_name="Ada", phone="+44 7911 123456")
    assert contact.timezone is not None
    for month in (1, 7):
        instant = datetime(2025, month, 15, 12, tzinfo=timezone.utc)
        assert instant.astimezone(ZoneInfo(contact.timezone)).utcoffset() == instant.astimezone(ZoneInfo("Europe/London")).utcoffset()


def test_properties_are_stripped_and_empty_keys_dropped():
    contact, _, _ = norm(first_name="Ada", email="ada@example.com", properties={" company ": " Analytical Engines ", "  ": "x"})
    assert contact.properties == {"company": "Analytical Engines"}


def test_row_number_is_carried_into_every_problem():
    _, errors, warnings = norm(row=17, first_name="Ada", email="nope", phone="+1 415 555 2671", timezone="Nowhere")
    assert errors == [] and {w.row for w in warnings} == {17} and len(warnings) == 2


def test_valid_row_gives_a_complete_contact():
    contact, errors, warnings = norm(first_name=" Ada ", last_name=" Lovelace ", email="ada@example.com", phone="(212) 555-0123")
    assert (errors, warnings) == ([], [])
    assert contact == NormalizedContact(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        email_key="ada@example.com",
        phone="+12125550123",
        timezone="America/New_York",
        properties={},
    )
