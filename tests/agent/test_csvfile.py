import codecs

import pytest

from agent.contacts.csvfile import FIELDS, MAX_BYTES, MAX_ROWS, CsvRefused, ParsedCsv, parse_csv, row_input
from agent.contacts.normalize import ContactInput, normalize_contact


def refused(data, **kwargs) -> CsvRefused:
    with pytest.raises(CsvRefused) as info:
        parse_csv(data, **kwargs)
    return info.value


def values_of(parsed: ParsedCsv) -> list[list[str]]:
    return [values for _, values in parsed.rows]


# --- encodings and delimiters -------------------------------------------------


def test_utf8_bom_file_is_read_without_the_bom_in_the_header():
    parsed = parse_csv("\ufeffFirst Name,Email\nZoë,zoe@example.com\n".encode("utf-8"))
    assert parsed.encoding == "utf-8-sig"
    assert parsed.header == ["First Name", "Email"]
    assert parsed.mapping["First Name"] == "first_name"
    assert values_of(parsed) == [["Zoë", "zoe@example.com"]]


def test_plain_utf8_file_keeps_accents():
    parsed = parse_csv("name,email\nJosé Ñúñez,jose@example.com\nFrançois Çelik,f@example.com\n".encode("utf-8"))
    assert parsed.encoding == "utf-8"
    assert [v[0] for v in values_of(parsed)] == ["José Ñúñez", "François Çelik"]


def test_semicolon_latin1_file_is_read():
    data = "Vorname;Nachname;Name;E-Mail\nJürgen;Müller;x;jm@example.de\n".encode("cp1252")
    parsed = parse_csv(data)
    assert parsed.delimiter == ";"
    assert parsed.encoding == "cp1252"
    assert values_of(parsed) == [["Jürgen", "Müller", "x", "jm@example.de"]]
    assert parsed.mapping["E-Mail"] == "email" and parsed.mapping["Name"] == "name"


def test_bytes_undefined_in_cp1252_fall_back_to_latin1():
    data = b"name,email,note\nM\xfcller,m@example.com,a\x81b\n"
    parsed = parse_csv(data)
    assert parsed.encoding == "latin-1"
    assert values_of(parsed) == [["Müller", "m@example.com", "a\x81b"]]


def test_tab_delimited_file_is_read():
    parsed = parse_csv(b"first name\tlast name\tphone\nAda\tLovelace\t(415) 555-2671\n")
    assert parsed.delimiter == "\t"
    assert values_of(parsed) == [["Ada", "Lovelace", "(415) 555-2671"]]


def test_delimiters_inside_quoted_header_cells_are_not_counted():
    parsed = parse_csv(b'name;email;"notes, misc, etc"\nAda;ada@example.com;x\n')
    assert parsed.delimiter == ";"
    assert parsed.header == ["name", "email", "notes, misc, etc"]


def test_delimiter_tie_falls_back_to_comma():
    parsed = parse_csv(b"a;b,name,phone,c;d;e\n1,Ada,2,3\n")
    assert parsed.delimiter == ","
    assert parsed.header == ["a;b", "name", "phone", "c;d;e"]


# --- records ----------------------------------------------------------------------


def test_quoted_newline_is_kept_inside_one_value():
    parsed = parse_csv(b'name,email,notes\r\nAda,ada@example.com,"line1\nline2"\r\n')
    assert values_of(parsed) == [["Ada", "ada@example.com", "line1\nline2"]]


def test_record_numbers_stay_right_after_an_earlier_quoted_newline():
    data = b'name,email,notes\nAda,ada@example.com,"one\ntwo\nthree"\nBob,bob@example.com,x\nCy,cy@example.com,y\n'
    parsed = parse_csv(data)
    assert [(n, v[0]) for n, v in parsed.rows] == [(2, "Ada"), (3, "Bob"), (4, "Cy")]


def test_blank_trailing_lines_are_not_rows():
    parsed = parse_csv(b"name,email\nAda,ada@example.com\n\n\r\n   \n,\n")
    assert parsed.rows == [(2, ["Ada", "ada@example.com"])]


def test_blank_line_between_rows_is_skipped_but_keeps_spreadsheet_numbering():
    parsed = parse_csv(b"name,email\nAda,ada@example.com\n\nBob,bob@example.com\n")
    assert [n for n, _ in parsed.rows] == [2, 4]


def test_short_rows_are_padded_and_extra_cells_ignored():
    parsed = parse_csv(b"name,email,phone\nAda\nBob,bob@example.com,1,extra,more\n")
    assert values_of(parsed) == [["Ada", "", ""], ["Bob", "bob@example.com", "1"]]


# --- header -------------------------------------------------------------------------


def test_empty_file_is_refused_for_lack_of_a_header():
    assert refused(b"").code == "csv_no_header"


def test_file_of_blank_lines_is_refused_for_lack_of_a_header():
    assert refused(b"\n\r\n  \n").code == "csv_no_header"


def test_data_in_the_first_row_is_refused_as_no_header():
    exc = refused(b"Ada,Lovelace,ada@example.com,(415) 555-2671\nBob,Smith,bob@example.com,415 555 0000\n")
    assert exc.code == "csv_no_header" and exc.status == 422
    assert [e["loc"] for e in exc.errors] == [["header", 2], ["header", 3]]


def test_header_with_a_short_number_is_still_a_header():
    parsed = parse_csv(b"name,email,2024\nAda,ada@example.com,x\n")
    assert parsed.mapping["2024"] == "properties.2024"


def test_duplicate_header_names_are_refused():
    exc = refused(b"name,Email,phone, email \nAda,a@example.com,1,b@example.com\n")
    assert exc.code == "csv_unmappable_columns"
    assert [e["loc"] for e in exc.errors] == [["header", 3]]


def test_unnamed_columns_are_ignored_not_duplicates():
    parsed = parse_csv(b"name,email,,\nAda,ada@example.com,,\n")
    assert parsed.mapping == {"name": "name", "email": "email"}


# --- mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, field",
    [
        ("First Name", "first_name"), ("firstname", "first_name"), ("Given-Name", "first_name"), ("FORENAME", "first_name"),
        ("Surname", "last_name"), ("family_name", "last_name"), ("Last", "last_name"),
        ("Full Name", "name"), ("Contact", "name"),
        ("E-mail", "email"), ("Email Address", "email"), ("mail", "email"),
        ("Phone Number", "phone"), ("phone_number", "phone"), ("Mobile", "phone"), ("Cell", "phone"), ("Tel.", "phone"),
        ("Time Zone", "timezone"), ("TZ", "timezone"),
    ],
)
def test_common_header_spellings_are_recognised(header, field):
    other = "email" if field != "email" else "name"
    parsed = parse_csv(f"{header},{other},last name\nx,y,z\n".encode())
    assert parsed.mapping[header] == field


def test_other_columns_become_properties_with_slug_keys():
    parsed = parse_csv(b"name,email,Company Name!,  Deal Size ($) \nAda,a@example.com,AE,10\n")
    assert parsed.mapping["Company Name!"] == "properties.company_name"
    assert parsed.mapping["Deal Size ($)"] == "properties.deal_size"


def test_second_column_for_the_same_field_becomes_a_property():
    parsed = parse_csv(b"name,Phone,Mobile\nAda,1,2\n")
    assert parsed.mapping == {"name": "name", "Phone": "phone", "Mobile": "properties.mobile"}


def test_columns_with_the_same_property_key_do_not_overwrite_each_other():
    parsed = parse_csv(b"name,email,Company,company!\nAda,a@example.com,A,B\n")
    assert parsed.mapping["Company"] == "properties.company"
    assert parsed.mapping["company!"] == "properties.company_2"


def test_explicit_mapping_wins_and_other_columns_are_auto_mapped():
    data = b"Who,Reach,email,Notes\nAda Lovelace,+1 415 555 2671,ada@example.com,hi\n"
    parsed = parse_csv(data, mapping={"Who": "name", "Reach": "phone", "email": "properties.old_email"})
    assert parsed.mapping == {"Who": "name", "Reach": "phone", "email": "properties.old_email", "Notes": "properties.notes"}


def test_explicit_mapping_with_an_unknown_column_is_refused():
    exc = refused(b"name,email\nAda,a@example.com\n", mapping={"Nope": "phone"})
    assert exc.code == "csv_unmappable_columns"
    assert exc.errors[0]["loc"] == ["mapping", "Nope"] and "Nope" in exc.errors[0]["message"]


def test_explicit_mapping_with_unknown_fields_collects_every_error():
    exc = refused(b"name,email,x,y\nAda,a@example.com,1,2\n", mapping={"x": "favourite_colour", "y": "properties.", "z": "email"})
    assert exc.code == "csv_unmappable_columns"
    assert [e["loc"] for e in exc.errors] == [["mapping", "x"], ["mapping", "y"], ["mapping", "z"]]


def test_explicit_mapping_of_one_field_from_two_columns_is_refused():
    exc = refused(b"a,b,name\n1,2,Ada\n", mapping={"a": "email", "b": "email"})
    assert exc.errors == [{"loc": ["mapping", "b"], "message": exc.errors[0]["message"]}]


def test_file_without_a_name_column_is_refused():
    exc = refused(b"email,company\na@example.com,AE\n")
    assert exc.code == "csv_unmappable_columns"
    assert "name" in exc.message and exc.errors[0]["loc"] == ["mapping"]


def test_file_without_a_contact_column_is_refused():
    exc = refused(b"first name,company\nAda,AE\n")
    assert exc.code == "csv_unmappable_columns"
    assert "email or phone" in exc.message and "name" not in exc.message.replace("first_name", "")


def test_file_without_name_nor_contact_names_both():
    exc = refused(b"company,city\nAE,London\n")
    assert "a name" in exc.message and "a contact point" in exc.message


# --- limits -----------------------------------------------------------------------------------


def _rows(n: int) -> bytes:
    return b"name,email\n" + b"".join(b"P%d,p%d@example.com\n" % (i, i) for i in range(n))


def test_exactly_the_row_limit_is_accepted():
    parsed = parse_csv(_rows(MAX_ROWS))
    assert len(parsed.rows) == MAX_ROWS == 10_000
    assert parsed.rows[-1][0] == MAX_ROWS + 1


def test_one_row_over_the_limit_is_refused():
    exc = refused(_rows(MAX_ROWS + 1))
    assert exc.code == "csv_too_many_rows" and exc.status == 422
    assert "10001" in exc.message and "10000" in exc.message


def test_file_over_5_mb_is_refused_with_413():
    exc = refused(b"\xff" * (MAX_BYTES + 1))
    assert (exc.code, exc.status) == ("csv_too_large", 413)


def test_file_exactly_at_the_byte_limit_is_not_too_large():
    data = b"name,email\nAda,a@example.com\n"
    assert parse_csv(data, max_bytes=len(data)).rows
    assert refused(data, max_bytes=len(data) - 1).code == "csv_too_large"


# --- row_input ---------------------------------------------------------------------------------


def test_row_input_builds_a_contact_input_from_the_mapping():
    parsed = parse_csv(b"Full Name,E-mail,Mobile,Company,tz\nAda Lovelace,ada@example.com,(415) 555-2671,AE,UTC\n")
    record, values = parsed.rows[0]
    assert row_input(parsed, values) == ContactInput(
        name="Ada Lovelace", email="ada@example.com", phone="(415) 555-2671", timezone="UTC", properties={"company": "AE"}
    )


def test_row_input_tolerates_a_short_values_list():
    parsed = parse_csv(b"name,email,phone\nAda,a@example.com,1\n")
    assert row_input(parsed, ["Ada"]) == ContactInput(name="Ada")


def test_parsed_rows_normalise_with_their_record_numbers():
    data = b'name,phone,notes\nAda Lovelace,(415) 555-2671,"a\nb"\nNobody,12,\n'
    parsed = parse_csv(data)
    results = [normalize_contact(row_input(parsed, v), region="US", row=n) for n, v in parsed.rows]
    assert results[0][0].phone == "+14155552671" and results[0][0].last_name == "Lovelace"
    assert results[1][0] is None and results[1][1][0].row == 3


def test_fields_constant_lists_the_standard_fields():
    assert FIELDS == ("first_name", "last_name", "name", "email", "phone", "timezone", "tags", "priority")


def test_utf16_files_with_a_bom_are_read():
    text = "First Name,Email\nZoë,zoe@example.com\n"
    for encoded in (text.encode("utf-16"), codecs.BOM_UTF16_BE + text.encode("utf-16-be")):
        parsed = parse_csv(encoded)
        assert parsed.encoding == "utf-16"
        assert parsed.header == ["First Name", "Email"]
        assert values_of(parsed) == [["Zoë", "zoe@example.com"]]
